"""Boot LXC servers with vRouter ports through the API, then delete them.

Scenario 1 (a raw image whose root filesystem is partition 1; a qcow2
image), 2 (two ports on one server) and 6 (DELETE leaves nothing).
"""

from nova_lxc_contrail.tests.nova_functional import base


class TestBootPartitionedRaw(base.ContrailNovaTestBase):
    """A raw GPT image whose root filesystem is partition 1."""

    LAYOUT = 'gpt'
    FORMAT = 'raw'

    def test_boot_and_delete(self):
        image = self.build_image('disk.' + self.FORMAT, layout=self.LAYOUT,
                                 fmt=self.FORMAT)
        port = self.create_vrouter_port()
        server, seconds = self.boot(image, networks=[{'port': port['id']}])
        self.timing('%s %s POST->ACTIVE' % (self.LAYOUT, self.FORMAT),
                    seconds)

        self.assertFlavorMatchesAllocation(
            self.api.get_flavor('1'), server['id'],
            self._get_provider_uuid_by_host(base.COMPUTE_HOST))
        self.assert_server_running(server, [port])
        self.assertEqual(1, len(self.host_state()['loops']))
        self.assert_export_running()

        self.timing('%s %s DELETE->gone' % (self.LAYOUT, self.FORMAT),
                    self.delete(server))
        self.assert_nothing_left(server)
        self.assert_port_gone(port)

    def assert_export_running(self):
        self.assertEqual([], self.export_daemons())


class TestBootQcow2(TestBootPartitionedRaw):
    """A qcow2 image laid out like a cloud image (GPT, partition 1 last).

    ``images_type = qcow2``: the instance disk is a qcow2 overlay, shown to
    the loop device through a qemu-storage-daemon FUSE export.
    """

    IMAGES_TYPE = 'qcow2'
    LAYOUT = 'gpt-cloud'
    FORMAT = 'qcow2'

    def assert_export_running(self):
        self.assertEqual(1, len(self.export_daemons()))


class TestTwoPorts(base.ContrailNovaTestBase):

    def test_two_ports(self):
        image = self.build_image('disk.raw')
        ports = [self.create_vrouter_port(), self.create_vrouter_port()]
        server, seconds = self.boot(
            image, networks=[{'port': p['id']} for p in ports])
        self.timing('two ports POST->ACTIVE', seconds)

        self.assert_server_running(server, ports)
        self.assertEqual(2, len(set(self.bridge_indexes(ports))))
        self.assertEqual(sorted(p['id'] for p in ports),
                         sorted(self.agent.registrations))

        self.timing('two ports DELETE->gone', self.delete(server))
        self.assert_nothing_left(server)
        for port in ports:
            self.assert_port_gone(port)
