"""Shelve, shelve offload and unshelve an LXC server with vRouter ports.

Offloading leaves nothing on the host: no domain, rootfs, loop device,
mount or export, no tap or bridge, port file or agent registration.
Unshelving boots the shelved snapshot (what the container wrote is there),
plugs and registers the ports again.
"""

from nova_lxc_contrail.tests.nova_functional import actions_base  # noqa

import time  # noqa: I100,I202

WRITTEN = 'written-before-shelve'


class TestShelveRaw(actions_base.ActionsTestBase):

    def _boot(self, count):
        ports = self.ports(count)
        server = self.boot_with(self.marked_image('first'), ports)
        dom = self.assert_running_from(server, ports, 'first')
        with open(self.container_path(dom, WRITTEN), 'w') as f:
            f.write('kept\n')
        return server, ports

    def assert_offloaded(self, server, ports):
        self.assert_no_domain(server)
        self.assertEqual({'loops': [], 'mounts': [], 'exports': []},
                         self.host_state())
        for port in ports:
            self.assert_port_gone(port)
        self.assertEqual({}, self.agent.registrations)

    def _unshelve(self, server, ports):
        started = time.monotonic()
        server = self._unshelve_server(server)
        self.timing('unshelve', time.monotonic() - started)
        dom = self.assert_running_from(server, ports, 'first', boots=2)
        with open(self.container_path(dom, WRITTEN)) as f:
            self.assertEqual('kept\n', f.read())
        self.assert_one_rootfs()
        return server

    def test_shelve_offloads_and_unshelves(self):
        server, ports = self._boot(2)
        started = time.monotonic()
        server = self._shelve_server(server)
        self.timing('shelve (offloaded)', time.monotonic() - started)
        self.assert_offloaded(server, ports)
        server = self._unshelve(server, ports)
        self.delete_and_check(server, ports)

    def test_shelve_then_offload(self):
        self.flags(shelved_offload_time=-1)
        server, ports = self._boot(1)
        server = self._shelve_server(server, expected_state='SHELVED')
        # Shelved, not offloaded: the container is stopped, its ports stay.
        self.assert_no_domain_running(server)
        for port in ports:
            self.assert_port_plugged(server, port, running=False)
        self._shelve_offload_server(server)
        self.assert_offloaded(server, ports)
        server = self._unshelve(server, ports)
        self.delete_and_check(server, ports)

    def assert_no_domain_running(self, server):
        names = [d.name() for d in self.libvirt_conn().listAllDomains()
                 if d.isActive()]
        self.assertNotIn(self.domain_name(server), names)
        self.assertEqual({'loops': [], 'mounts': [], 'exports': []},
                         self.host_state())


class TestShelveQcow2(TestShelveRaw):

    IMAGES_TYPE = 'qcow2'
    LAYOUT = 'gpt-cloud'
    FORMAT = 'qcow2'
