"""Scenario 5: builds that must fail, with a fault naming the cause.

Each ends in ERROR with nothing left on the host: no domain, loop device,
mount, export, tap, bridge, veth, port file or agent entry.
"""

from nova_lxc_contrail.tests.nova_functional import base


class TestBuildFailures(base.ContrailNovaTestBase):

    def setUp(self):
        super().setUp()
        # One compute host: a failed build goes to ERROR with its own
        # fault instead of "Exceeded maximum number of retries".
        self.flags(max_attempts=1, group='scheduler')

    def _boot_fails(self, image, port):
        server, seconds = self.boot(image, networks=[{'port': port['id']}],
                                    expected_state='ERROR')
        self.timing('POST->ERROR', seconds)
        self.report('fault: %s' % server['fault']['message'])
        self.assert_nothing_left(server)
        self.assert_port_gone(port)
        return server

    def _assert_deleted(self, server):
        self.timing('DELETE->gone', self.delete(server))
        self.assert_nothing_left(server)

    def test_image_without_init(self):
        image = self.build_image('noinit.raw', init='none')
        port = self.create_vrouter_port()
        server = self._boot_fails(image, port)
        self.assertIn('no executable /sbin/init', server['fault']['message'])
        self._assert_deleted(server)

    def test_image_without_usable_partition(self):
        image = self.build_image('noroot.raw', layout='gpt-no-root')
        port = self.create_vrouter_port()
        server = self._boot_fails(image, port)
        message = server['fault']['message']
        self.assertIn('every partition', message)
        self.assertIn('partition 2: no filesystem', message)
        self._assert_deleted(server)

    def test_port_refused_by_the_agent(self):
        image = self.build_image('disk.raw')
        port = self.create_vrouter_port()
        self.agent.refuse(port['id'], 'no virtual network for this port')
        server = self._boot_fails(image, port)
        message = server['fault']['message']
        self.assertIn('refused', message)
        self.assertIn('no virtual network for this port', message)
        self._assert_deleted(server)
