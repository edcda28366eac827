"""Resize and cold migrate an LXC server on one host, confirm and revert.

``allow_resize_to_same_host = True``: the container runs again with the
new flavor's limits as libvirt-LXC applies them (the domain's memory and
vCPUs, the memory cgroup's limit), its ports the very same devices and
registrations; after confirm or revert nothing of the other flavor's
container is left (domain, rootfs, loop device, mount, resize dir).
"""

from nova_lxc_contrail.tests.nova_functional import actions_base  # noqa

import os  # noqa: I100,I202
import time
from xml.etree import ElementTree

MIB = 1024 * 1024


class TestResizeRaw(actions_base.ActionsTestBase):

    def setUp(self):
        super().setUp()
        self.flags(allow_resize_to_same_host=True)
        self.small = self.api.get_flavor(self.flavor_id)
        self.big = self.api.get_flavor(self._create_flavor(
            name='lxc.big', memory_mb=self.small['ram'] * 2,
            vcpu=self.small['vcpus'] + 1, disk=self.small['disk'],
            ephemeral=0))

    def _limits(self, server):
        """(memory MiB, vCPUs) of the domain; the memory cgroup's limit."""
        dom = self.domain(server)
        xml = ElementTree.fromstring(dom.XMLDesc(0))
        memory_kib = int(xml.findtext('memory'))
        vcpus = int(xml.findtext('vcpu'))
        return memory_kib // 1024, vcpus, self._cgroup_memory_mib(dom)

    def _cgroup_memory_mib(self, dom):
        pid = self.container_init_pid(dom)
        with open('/proc/%d/cgroup' % pid) as f:
            for line in f:
                _, controllers, path = line.rstrip('\n').split(':', 2)
                if 'memory' in controllers.split(','):
                    limit = '/sys/fs/cgroup/memory%s/memory.limit_in_bytes' \
                        % path
                    with open(limit) as lf:
                        return int(lf.read()) // MIB
        self.fail('container %d has no memory cgroup' % pid)

    def assert_flavor_applied(self, server, flavor):
        self.assertEqual(flavor['name'], server['flavor']['original_name'])
        self.assertEqual((flavor['ram'], flavor['vcpus'], flavor['ram']),
                         self._limits(server))

    def _boot(self, ports=1):
        ports = self.ports(ports)
        server = self.boot_with(self.marked_image('first'), ports)
        self.assert_running_from(server, ports, 'first')
        self.assert_flavor_applied(server, self.small)
        return server, ports

    def _kept(self, ports):
        self.agent.clear_requests()
        return self.ports_now(ports)

    def _timed(self, what, action, *args):
        started = time.monotonic()
        result = action(*args)
        self.timing(what, time.monotonic() - started)
        return result

    def assert_resize_dir_gone(self, server):
        instance_dir = os.path.join(self._instances_path, server['id'])
        self.assertFalse(os.path.exists(instance_dir + '_resize'))

    def test_resize_confirm(self):
        server, ports = self._boot(ports=2)
        kept = self._kept(ports)
        server = self._timed('resize', self._resize_server, server,
                             self.big['id'])
        self.assert_running_from(server, ports, 'first', boots=2)
        self.assert_flavor_applied(server, self.big)
        self.assert_ports_kept(ports, kept)
        self.assert_one_rootfs()

        server = self._timed('confirm resize', self._confirm_resize, server)
        self.assert_running_from(server, ports, 'first', boots=2)
        self.assert_flavor_applied(server, self.big)
        self.assert_ports_kept(ports, kept)
        self.assert_one_rootfs()
        self.assert_resize_dir_gone(server)
        self.delete_and_check(server, ports)

    def test_resize_revert(self):
        server, ports = self._boot()
        kept = self._kept(ports)
        server = self._timed('resize', self._resize_server, server,
                             self.big['id'])
        self.assert_flavor_applied(server, self.big)
        server = self._timed('revert resize', self._revert_resize, server)
        # The original disk again: its own first boot, and this one.
        self.assert_running_from(server, ports, 'first', boots=2)
        self.assert_flavor_applied(server, self.small)
        self.assert_ports_kept(ports, kept)
        self.assert_one_rootfs()
        self.assert_resize_dir_gone(server)
        self.delete_and_check(server, ports)

    def test_cold_migrate_same_host(self):
        server, ports = self._boot()
        kept = self._kept(ports)
        server = self._timed('cold migrate', self._migrate_server, server)
        self.assert_running_from(server, ports, 'first', boots=2)
        self.assert_flavor_applied(server, self.small)
        server = self._confirm_resize(server)
        self.assert_running_from(server, ports, 'first', boots=2)
        self.assert_ports_kept(ports, kept)
        self.assert_one_rootfs()
        self.assert_resize_dir_gone(server)
        self.delete_and_check(server, ports)


class TestResizeQcow2(TestResizeRaw):

    IMAGES_TYPE = 'qcow2'
    LAYOUT = 'gpt-cloud'
    FORMAT = 'qcow2'
