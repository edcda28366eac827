"""The container rootfs in a user namespace, and the host's view of it.

Root, real kernel, the disk privsep daemon with its declared capabilities:
an idmapped mount (no owner changes on disk, the mapped owners seen through
it), nova's chown shift as the fallback, nodev and the directory
permissions that keep host users away, clear errors before any change.
"""

import errno
import os
import stat
import tempfile

import nova.privsep
from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context

from nova_lxc_contrail.disk import api
from nova_lxc_contrail.disk import idmap
from nova_lxc_contrail.disk import mount
from nova_lxc_contrail.disk import state
from nova_lxc_contrail import exception
from nova_lxc_contrail.tests.functional import rootfs_base
from nova_lxc_contrail.tests import userns_fixtures

MAPS = userns_fixtures.MAPS
SETUID_SH = userns_fixtures.SETUID_SH
DEVICE = userns_fixtures.DEVICE
USER_FILE = userns_fixtures.USER_FILE
as_user = userns_fixtures.as_user
image_tree = userns_fixtures.image_tree
# nova/privsep/__init__.py sys_admin_pctxt
NOVA_SYS_ADMIN_CAPS = [caps.CAP_CHOWN, caps.CAP_DAC_OVERRIDE,
                       caps.CAP_DAC_READ_SEARCH, caps.CAP_FOWNER,
                       caps.CAP_NET_ADMIN, caps.CAP_SYS_ADMIN]


class UsernsRootfsTestCase(rootfs_base.RootfsTestCase):

    IMAGES = {
        'gpt.raw': ('gpt', 'raw', 'ext4', 'busybox'),
        'gpt-cloud.qcow2': ('gpt-cloud', 'qcow2', 'ext4', 'busybox'),
        'whole.xfs.raw': ('whole-disk', 'raw', 'xfs', 'busybox'),
    }

    @classmethod
    def setUpClass(cls):
        # Like the base, with the special files of image_tree.
        cls.IMAGES = {}
        super().setUpClass()
        from nova_lxc_contrail.standin import images
        for name, (layout, fmt, fs, init) in \
                UsernsRootfsTestCase.IMAGES.items():
            images.build_image(os.path.join(cls.image_dir, name), layout,
                               fmt, fs, init,
                               tree_hook=image_tree if fs == 'ext4' else None)
        # The chown fallback runs nova's own shift in nova's own context,
        # with the capabilities nova declares for it (an earlier test's
        # config fixture may have reset that default).
        rootfs_base.CONF.set_default(
            'capabilities', NOVA_SYS_ADMIN_CAPS, group='nova_sys_admin')
        nova.privsep.sys_admin_pctxt.start(priv_context.Method.FORK)

    @classmethod
    def tearDownClass(cls):
        nova.privsep.sys_admin_pctxt.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        # mkdtemp makes 0700 dirs: the mapped root must search them.
        os.chmod(self.tmp, 0o755)

    def on_disk(self, model, path):
        """lstat of ``path`` as the disk holds it (setup without maps)."""
        device = api.setup_container(model, self.container_dir)
        try:
            return os.lstat(os.path.join(self.container_dir, path))
        finally:
            api.teardown_container(self.container_dir, device)


class TestIdmappedMount(UsernsRootfsTestCase):

    def check_idmapped(self, name):
        model = self.instance_disk(name)
        self.setup(model, id_maps=MAPS)
        opts = [line for line in open('/proc/self/mountinfo')
                if ' %s ' % self.container_dir in line]
        self.assertEqual(1, len(opts), opts)
        self.assertIn('idmapped', opts[0])
        self.assertIn('nodev', opts[0].split()[5])
        self.assertNotIn('nosuid', opts[0].split()[5])
        # The host sees the mapped owners.
        busybox = os.lstat(os.path.join(self.container_dir, 'bin/busybox'))
        self.assertEqual((100000, 100000), (busybox.st_uid, busybox.st_gid))
        user = os.lstat(os.path.join(self.container_dir, USER_FILE))
        self.assertEqual((101000, 101000), (user.st_uid, user.st_gid))
        suid = os.lstat(os.path.join(self.container_dir, SETUID_SH))
        self.assertEqual(0o4755, stat.S_IMODE(suid.st_mode))
        self.assertEqual(100000, suid.st_uid)
        # Only the idmapped view is mounted: the unmapped stage is gone.
        paths = state.Paths(self.container_dir)
        self.assertFalse(os.path.lexists(paths.stage))
        self.assertEqual('idmapped', state.load(paths)['idmap'])
        # The mapped root writes a file: it lands on disk as uid 0.
        proc = as_user(100000, ['touch', os.path.join(self.container_dir,
                                                      'root/written')])
        self.assertEqual(0, proc.returncode, proc.stderr)
        api.teardown_container(self.container_dir)
        self.assertIsNone(self.mounted())
        for path, owner in (('bin/busybox', 0), (USER_FILE, 1000),
                            ('root/written', 0)):
            self.assertEqual(owner, self.on_disk(model, path).st_uid, path)
        self.assertEqual(0o4755, stat.S_IMODE(
            self.on_disk(model, SETUID_SH).st_mode))

    def test_raw_gpt(self):
        self.check_idmapped('gpt.raw')

    def test_qcow2_gpt_cloud_layout(self):
        self.check_idmapped('gpt-cloud.qcow2')

    def test_xfs_whole_disk(self):
        model = self.instance_disk('whole.xfs.raw')
        self.setup(model, id_maps=MAPS)
        self.assertEqual(100000, os.lstat(os.path.join(
            self.container_dir, 'bin/busybox')).st_uid)
        self.assertEqual(0, self.on_disk_after_teardown(model).st_uid)

    def on_disk_after_teardown(self, model):
        api.teardown_container(self.container_dir)
        return self.on_disk(model, 'bin/busybox')

    def test_setup_again_after_teardown_and_twice(self):
        model = self.instance_disk('gpt.raw')
        self.setup(model, id_maps=MAPS)
        # A hard reboot sets up again over a leftover attachment.
        self.setup(model, id_maps=MAPS)
        self.assertEqual(100000, os.lstat(os.path.join(
            self.container_dir, 'bin/busybox')).st_uid)
        self.assertTrue(api.teardown_container(self.container_dir))
        self.assertTrue(api.teardown_container(self.container_dir))

    def test_filesystem_without_idmap_support_is_detected(self):
        # ramfs has no FS_ALLOW_IDMAP: the kernel answers EINVAL.
        src = tempfile.mkdtemp(dir=self.tmp)
        dst = tempfile.mkdtemp(dir=self.tmp)
        mount.mount('ramfs', src, 'ramfs')
        self.addCleanup(mount.umount, src)
        try:
            idmap.idmapped_clone(src, dst, *MAPS)
        except idmap.Unsupported as exc:
            self.assertEqual(errno.EINVAL, exc.errno)
        else:
            mount.umount(dst)
            self.fail('ramfs took an idmapped mount')
        self.assertIsNone(mount.mounted_at(dst))


class TestChownFallback(UsernsRootfsTestCase):

    def test_forced_chown_shifts_the_owners_on_disk(self):
        self.conf.config(rootfs_idmap='chown', group='lxc_contrail')
        model = self.instance_disk('gpt.raw')
        with self.assertLogs('nova_lxc_contrail.disk.api', 'INFO') as logs:
            self.setup(model, id_maps=MAPS)
        self.assertIn('owners shifted on the disk (chown)',
                      '\n'.join(logs.output))
        opts = mount.mounted_at(self.container_dir)
        self.assertIsNotNone(opts)
        line = [x for x in open('/proc/self/mountinfo')
                if ' %s ' % self.container_dir in x][0]
        self.assertNotIn('idmapped', line)
        self.assertIn('nodev', line.split()[5])
        self.assertNotIn('nosuid', line.split()[5])
        self.assertEqual('chown', state.load(
            state.Paths(self.container_dir))['idmap'])
        api.teardown_container(self.container_dir)
        # The disk now carries the shifted owners.
        self.assertEqual(100000, self.on_disk(model, 'bin/busybox').st_uid)
        self.assertEqual(101000, self.on_disk(model, USER_FILE).st_uid)
        # ...and chown cleared the setuid bit, as Linux does for root too.
        self.assertEqual(0o755, stat.S_IMODE(
            self.on_disk(model, SETUID_SH).st_mode))

    def test_mount_only_names_the_remedy_where_impossible(self):
        self.conf.config(rootfs_idmap='mount', group='lxc_contrail')
        model = self.instance_disk('gpt.raw')
        self.setup(model, id_maps=MAPS)     # ext4 here: it works
        self.assertEqual(100000, os.lstat(os.path.join(
            self.container_dir, 'bin/busybox')).st_uid)


class TestHostView(UsernsRootfsTestCase):

    def test_without_userns_only_root_and_owner_reach_the_files(self):
        self.setup(self.instance_disk('gpt.raw'))
        self.assertEqual(0o700, stat.S_IMODE(os.stat(
            self.instance_dir).st_mode))
        proc = as_user(65534, ['cat', os.path.join(self.container_dir,
                                                   'etc/passwd')])
        self.assertNotEqual(0, proc.returncode)
        self.assertIn('Permission denied', proc.stderr)
        # The container takes its root from this mount: suid, but nodev.
        line = [x for x in open('/proc/self/mountinfo')
                if ' %s ' % self.container_dir in x][0]
        self.assertIn('nodev', line.split()[5])
        self.assertNotIn('nosuid', line.split()[5])

    def test_userns_nobody_cannot_read_mapped_root_can_search(self):
        self.setup(self.instance_disk('gpt.raw'), id_maps=MAPS)
        target = os.path.join(self.container_dir, 'etc/passwd')
        proc = as_user(65534, ['cat', target])
        self.assertNotEqual(0, proc.returncode)
        self.assertIn('Permission denied', proc.stderr)
        proc = as_user(100000, ['cat', target])
        self.assertEqual(0, proc.returncode, proc.stderr)
        # ...but the mapped root may not list the instance dir.
        proc = as_user(100000, ['ls', self.instance_dir])
        self.assertNotEqual(0, proc.returncode)

    def test_device_node_cannot_be_opened_through_the_host_mount(self):
        for id_maps in (None, MAPS):
            self.setup(self.instance_disk('gpt.raw'), id_maps=id_maps)
            node = os.path.join(self.container_dir, DEVICE)
            self.assertTrue(stat.S_ISCHR(os.lstat(node).st_mode))
            with self.assertRaises(PermissionError):
                open(node, 'rb').close()
            api.teardown_container(self.container_dir)

    def test_untraversable_path_fails_before_anything(self):
        os.chmod(self.tmp, 0o700)
        self.addCleanup(os.chmod, self.tmp, 0o755)
        model = self.instance_disk('gpt.raw')
        err = self.assertRaises(exception.ConfigError, api.setup_container,
                                model, self.container_dir, id_maps=MAPS)
        self.assertIn(self.tmp + ' (mode 0700', str(err))
        self.assertIn('host uid 100000', str(err))
        self.assertIsNone(self.mounted())
        self.assertIsNone(state.load(state.Paths(self.container_dir)))
