"""nova's whole stack with [libvirt] uid_maps/gid_maps: every server runs
in a user namespace on an idmapped root filesystem.

test_lifecycle's scenarios run again with the maps set (soft and hard
reboot, stop/start, nova-compute restart with servers up and delete after
it), plus what the user namespace must show for raw and qcow2 images.

The network keeps its MTU (1450): the libvirt hook sets it on both veth ends
before the container starts, without entering the user namespace.
"""

import os
import subprocess

from nova_lxc_contrail.disk import state
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests.nova_functional import base
from nova_lxc_contrail.tests.nova_functional import test_lifecycle
from nova_lxc_contrail.tests import userns_fixtures as fx


class UsernsMixin(object):

    def _compute_flags(self):
        super()._compute_flags()
        # mkdtemp made the work dir 0700: the mapped root must search it.
        os.chmod(self._work_dir, 0o755)
        self.flags(uid_maps=fx.UID_MAPS, gid_maps=fx.GID_MAPS,
                   group='libvirt')

    def build_image(self, name, layout='gpt', fmt='raw', init=base.INITCTL):
        path = images.build_image(
            self.image_path(name), layout=layout, fmt=fmt, init=init,
            files={'etc/init.d/rcS': base.BOOT_RCS},
            tree_hook=fx.image_tree)
        return self.create_image(path, disk_format=fmt, name=name)


class TestUsernsRebootStopStart(UsernsMixin,
                                test_lifecycle.TestRebootStopStart):
    pass


class TestUsernsComputeRestart(UsernsMixin,
                               test_lifecycle.TestComputeRestart):
    pass


class UsernsServerChecks(UsernsMixin, base.ContrailNovaTestBase):

    def check_server(self, name, layout, fmt):
        port = self.create_vrouter_port()
        server, seconds = self.boot(
            self.build_image(name, layout=layout, fmt=fmt, init='script'),
            networks=[{'port': port['id']}])
        self.timing('POST->ACTIVE (user namespace, %s)' % name, seconds)
        dom = self.assert_server_running(server, [port])
        init = self.container_init_pid(dom)
        with open('/proc/%d/status' % init) as f:
            uid = [line.split()[1] for line in f if line.startswith('Uid:')]
        self.assertEqual([str(fx.MAPPED_ROOT)], uid)
        inside = subprocess.run(
            ['nsenter', '-t', str(init), '-a', '--', 'sh', '-c',
             'id -u; stat -c %u /bin/busybox; echo x > /root/written; '
             'stat -c %u /root/written'],
            check=True, capture_output=True, text=True).stdout.split()
        self.assertEqual(['0', '0', '0'], inside)
        su = subprocess.run(
            ['nsenter', '-t', str(init), '-a', '-S', '1000', '-G', '1000',
             '--', '/' + fx.SETUID_SH, 'su', '-c', 'id -u', 'root'],
            capture_output=True, text=True, stdin=subprocess.DEVNULL)
        self.assertEqual('0\n', su.stdout, su.stderr)
        rootfs = os.path.join(self._instances_path, server['id'], 'rootfs')
        self.assertEqual('idmapped', state.load(state.Paths(rootfs))['idmap'])
        self.assertEqual(fx.MAPPED_ROOT, os.lstat(
            os.path.join(rootfs, 'root/written')).st_uid)
        proc = fx.as_user(65534, ['cat', os.path.join(rootfs, 'etc/passwd')])
        self.assertIn('Permission denied', proc.stderr)
        with self.assertRaises(PermissionError):
            open(os.path.join(rootfs, fx.DEVICE), 'rb').close()
        self.timing('DELETE->gone', self.delete(server))
        self.assert_nothing_left(server)
        self.assert_port_gone(port)


class TestUsernsServerRaw(UsernsServerChecks):

    def test_raw_gpt(self):
        self.check_server('gpt.raw', 'gpt', 'raw')


class TestUsernsServerQcow2(UsernsServerChecks):

    IMAGES_TYPE = 'qcow2'       # nova's qcow2 backend: a FUSE export

    def test_qcow2_gpt_cloud_layout(self):
        self.check_server('gpt-cloud.qcow2', 'gpt-cloud', 'qcow2')

    def test_server_without_ports_gets_a_network_namespace(self):
        # libvirt-LXC with <idmap> cannot mount the container's sysfs in
        # the host's network namespace: the driver asks for <privnet/>.
        server, _seconds = self.boot(self.build_image('noport.raw',
                                                      init='script'))
        dom = self.assert_domain_running(server)
        self.assertIn('<privnet/>', dom.XMLDesc())
        init = self.container_init_pid(dom)
        self.assertNotEqual(os.readlink('/proc/self/ns/net'),
                            os.readlink('/proc/%d/ns/net' % init))
        self.delete(server)
        self.assert_nothing_left(server)
