"""``nova-lxc-contrail image inspect`` on real images (root, sandbox)."""

import os
import shutil
import subprocess
import tempfile

import testtools

from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests.functional import cli_fixtures
from nova_lxc_contrail.tests.functional import rootfs_base
from nova_lxc_contrail.tests import host_state


class TestImageInspect(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix='nlc-cli-images-')
        cls.images = {
            name: images.build_image(os.path.join(cls.dir, name), layout,
                                     fmt)
            for name, layout, fmt in (
                ('gpt.qcow2', 'gpt', 'qcow2'),
                ('boot-first.raw', 'mbr-boot-first', 'raw'),
                ('no-root.raw', 'gpt-no-root', 'raw'),
                ('whole.raw', 'whole-disk', 'raw'))}
        cls.images['too-large.raw'] = _too_large_filesystem(
            os.path.join(cls.dir, 'too-large.raw'))
        cls.images['truncated.raw'] = _truncated_filesystem(
            os.path.join(cls.dir, 'truncated.raw'))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture())
        self.addCleanup(self.assert_released)

    def assert_released(self):
        # Loop devices are host-wide: only those reading this test's images
        # or the command's scratch files are this test's.
        for where in (self.dir, self.host.command_tmp):
            self.assertEqual({}, host_state.loops_below(where))
            self.assertEqual([], rootfs_base.qsd_processes(where))
        self.assertEqual([], os.listdir(self.host.command_tmp))

    def test_qcow2_gpt_root_is_partition_1(self):
        report = self.host.cli_json('image', 'inspect',
                                    self.images['gpt.qcow2'], stderr='')
        self.assertEqual('qcow2', report['format'])
        self.assertEqual('gpt', report['partition_table']['label'])
        self.assertEqual(1, report['root']['partition'])
        self.assertEqual('ext4', report['root']['filesystem'])
        self.assertTrue(report['init']['ok'])
        text = self.host.cli('image', 'inspect', self.images['gpt.qcow2'],
                             check=0, stderr='').stdout
        self.assertIn('root:        partition 1, ext4', text)
        self.assertIn('init:        ok: /sbin/init -> /bin/busybox', text)
        self.assertIn('verdict:     boots as an LXC container', text)

    def test_inspect_says_what_user_namespaces_need(self):
        report = self.host.cli_json('image', 'inspect',
                                    self.images['gpt.qcow2'])
        # A real idmapped clone of the read-only mount was tried.
        self.assertTrue(report['idmap']['idmapped_mount'])
        self.assertFalse(report['idmap']['user_namespace'])
        self.assertIn('uid_maps = 0:100000:65536', report['idmap']['remedy'])
        text = self.host.cli('image', 'inspect', self.images['gpt.qcow2'],
                             check=0).stdout
        self.assertIn('userns:      OFF: set [libvirt] uid_maps', text)
        self.assertIn('with uid_maps: idmapped mount: no file changes owner',
                      text)

    def test_boot_partition_first_is_skipped_with_the_reason(self):
        report = self.host.cli_json('image', 'inspect',
                                    self.images['boot-first.raw'])
        self.assertEqual(2, report['root']['partition'])
        self.assertEqual('partition 1', report['refused'][0]['label'])
        self.assertIn('/sbin/init', report['refused'][0]['reason'])

    def test_image_without_init_exits_1_and_says_why(self):
        result = self.host.cli('image', 'inspect',
                               self.images['no-root.raw'], check=1)
        self.assertIn('cannot boot as an LXC container', result.stdout)
        self.assertIn('error:', result.stdout)

    def test_whole_disk_and_forced_partition(self):
        report = self.host.cli_json('image', 'inspect',
                                    self.images['whole.raw'])
        self.assertIsNone(report['partition_table'])
        self.assertIsNone(report['root']['partition'])
        result = self.host.cli('image', 'inspect', self.images['gpt.qcow2'],
                               '--root-partition', '2', check=1)
        self.assertIn('partition 2', result.stdout)

    def test_filesystem_larger_than_its_partition_names_both_sizes(self):
        # Before: "mounting the ext4 filesystem at ... failed: Invalid
        # argument", and the reason only in the kernel log.
        result = self.host.cli('image', 'inspect',
                               self.images['too-large.raw'], check=1)
        text = result.stdout.replace('\n', ' ')
        self.assertIn('partition 1: the ext4 filesystem is larger than '
                      'partition 1: its superblock says 33554432 bytes '
                      '(32.0 MiB, 8192 blocks of 4096 bytes), partition 1 '
                      'holds 16777216 bytes (16.0 MiB); mounting it at ',
                      text)
        self.assertIn(' failed: Invalid argument. Grow the partition or '
                      'shrink the filesystem (resize2fs) to fit', text)
        self.assertIn('cannot boot as an LXC container', result.stdout)

    def test_truncated_whole_disk_filesystem_names_both_sizes(self):
        result = self.host.cli('image', 'inspect',
                               self.images['truncated.raw'], check=1)
        self.assertIn('whole disk: the ext4 filesystem is larger than the '
                      'whole disk: its superblock says 33554432 bytes '
                      '(32.0 MiB, 32768 blocks of 1024 bytes), the whole '
                      'disk holds 16777216 bytes (16.0 MiB)',
                      result.stdout.replace('\n', ' '))

    def test_missing_image_is_a_clear_error(self):
        result = self.host.cli('image', 'inspect', '/nonexistent/disk',
                               check=1)
        self.assertIn('/nonexistent/disk does not exist', result.stderr)


def _too_large_filesystem(path):
    """GPT image: partition 1 is 16 MiB, its ext4 filesystem 32 MiB."""
    with open(path, 'wb') as f:
        f.truncate(48 << 20)
    subprocess.run(['sfdisk', '-q', '--label', 'gpt', path],
                   input='start=2048, size=32768\n', text=True, check=True)
    subprocess.run(['mkfs.ext4', '-q', '-F', '-b', '4096',
                    '-E', 'offset=%d' % (1 << 20), path, '32M'], check=True)
    return path


def _truncated_filesystem(path):
    """A whole-disk ext4 filesystem of 32 MiB in a 16 MiB file."""
    with open(path, 'wb') as f:
        f.truncate(32 << 20)
    subprocess.run(['mkfs.ext4', '-q', '-F', '-b', '1024', path],
                   check=True)
    with open(path, 'r+b') as f:
        f.truncate(16 << 20)
    return path
