"""LxcContrailDriver with [libvirt] uid_maps/gid_maps: containers in a user
namespace on an idmapped rootfs, through nova's code paths on a real
private libvirtd.

Every scenario of test_driver runs again with the maps set (spawn, stop and
start, soft reboots, a reboot from inside, hard reboot, nova-compute
restart and delete), plus what the user namespace must show.

The network MTU is test_driver's: the libvirt hook sets it on both veth ends
before the container starts, without entering the user namespace.
"""

import os
import subprocess

from nova.virt.image import model as imgmodel

from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests.e2e import test_driver
from nova_lxc_contrail.tests import userns_fixtures as fx

NOVA_CONF_USERNS = """
[libvirt]
uid_maps = {uid_maps}
gid_maps = {gid_maps}
"""


class TestUserNamespaces(test_driver.TestDriverFromNovaConf):

    @classmethod
    def configure(cls):
        # mkdtemp made the work dir 0700: the mapped root must search it.
        os.chmod(cls.work_dir, 0o755)
        super().configure()

    @classmethod
    def write_nova_conf(cls, vif_driver):
        super().write_nova_conf(vif_driver)
        with open(cls.nova_conf, 'a') as f:
            f.write(NOVA_CONF_USERNS.format(
                uid_maps=','.join(fx.UID_MAPS),
                gid_maps=','.join(fx.GID_MAPS)))
        test_driver.CONF(['--config-file', cls.nova_conf], project='nova',
                         default_config_files=[])

    def setUp(self):
        super().setUp()
        os.chmod(self.test_dir, 0o755)

    def cache_image(self, image_id, init='busybox', files=None):
        cache = os.path.join(self.instances, '_base')
        os.makedirs(cache, exist_ok=True)
        built = images.build_image(os.path.join(self.test_dir, 'disk.raw'),
                                   layout='gpt', fmt='raw', init=init,
                                   files=files, tree_hook=fx.image_tree)
        os.rename(built, os.path.join(cache, test_driver.hashlib.sha1(
            image_id.encode()).hexdigest()))

    def on_disk(self, instance, *paths):
        """(uid, gid, mode) of paths on the stopped instance's disk."""
        scratch = os.path.join(self.test_dir, 'inspect', 'rootfs')
        os.makedirs(scratch)
        disk = os.path.join(self.instances, instance.uuid, 'disk')
        device = disk_api.setup_container(
            imgmodel.LocalFileImage(disk, imgmodel.FORMAT_RAW), scratch)
        try:
            return [(st.st_uid, st.st_gid, st.st_mode & 0o7777)
                    for st in (os.lstat(os.path.join(scratch, p))
                               for p in paths)]
        finally:
            disk_api.teardown_container(scratch, device)
            os.rmdir(scratch)

    def test_container_runs_in_the_user_namespace(self):
        drv = self.load_driver()
        # An init that stops on SIGTERM (busybox init waits out the timeout).
        instance, vif = self.spawn(drv, init='script')
        container = self.container(drv, instance)
        self.assertEqual('init', container.wait_for_exec())
        # init: the mapped uid on the host, uid 0 inside.
        with open('/proc/%d/status' % container.init_pid) as f:
            uids = [line.split()[1:] for line in f
                    if line.startswith(('Uid:', 'Gid:'))]
        self.assertEqual([[str(fx.MAPPED_ROOT)] * 4] * 2, uids)
        self.assertEqual('0\n', container.run('id', '-u').stdout)
        self.assertEqual(['0', str(fx.MAPPED_ROOT), '65536'], container.run(
            'cat', '/proc/self/uid_map').stdout.split())
        # Inside, the image's owners.
        self.assertEqual('0 0\n', container.run(
            'stat', '-c', '%u %g', '/bin/busybox').stdout)
        self.assertEqual('1000\n', container.run(
            'stat', '-c', '%u', '/' + fx.USER_FILE).stdout)
        # A setuid program works inside: user 1000 becomes root by su.
        su = subprocess.run(
            ['nsenter', '-t', str(container.init_pid), '-a', '-S', '1000',
             '-G', '1000', '--', '/' + fx.SETUID_SH, 'su', '-c', 'id -u',
             'root'], capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL)
        self.assertEqual('0\n', su.stdout, su.stderr)
        plain = container.run('/bin/busybox', 'id', '-u')
        self.assertEqual('0\n', plain.stdout)
        container.run('sh', '-c', 'echo hi > /root/written')
        # The host's view: nobody cannot read it, device nodes do not open.
        rootfs = os.path.join(self.instances, instance.uuid, 'rootfs')
        proc = fx.as_user(65534, ['cat', os.path.join(rootfs, 'etc/passwd')])
        self.assertIn('Permission denied', proc.stderr)
        with self.assertRaises(PermissionError):
            open(os.path.join(rootfs, fx.DEVICE), 'rb').close()
        self.assertEqual(fx.MAPPED_ROOT, os.lstat(
            os.path.join(rootfs, fx.SETUID_SH)).st_uid)

        # On disk: nothing changed owner, the new file is root's.
        drv.power_off(instance, test_driver.SHUTDOWN_TIMEOUT,
                      test_driver.SHUTDOWN_RETRY_INTERVAL)
        self.assertEqual(
            [(0, 0, 0o755), (1000, 1000, 0o644), (0, 0, 0o4755),
             (0, 0, 0o644)],
            self.on_disk(instance, 'bin/busybox', fx.USER_FILE,
                         fx.SETUID_SH, 'root/written'))
        drv.destroy(self.context, instance, instance.info_cache.network_info)
        self.assertNothingLeft(vif['id'], self.instances, instance.name,
                               drv._host.get_connection())
