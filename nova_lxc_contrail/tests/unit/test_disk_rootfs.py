"""/sbin/init resolution inside an untrusted rootfs, and filesystem probing."""

import os
import shutil
import subprocess
import tempfile

import testtools

from nova_lxc_contrail.disk import fsprobe
from nova_lxc_contrail.disk import rootfs


class TestInitCheck(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)
        os.makedirs(os.path.join(self.root, 'bin'))
        os.makedirs(os.path.join(self.root, 'sbin'))
        self.busybox = os.path.join(self.root, 'bin/busybox')
        with open(self.busybox, 'w') as f:
            f.write('#!/bin/sh\n')
        os.chmod(self.busybox, 0o755)

    def link(self, path, target):
        os.symlink(target, os.path.join(self.root, path))

    def check(self):
        return rootfs.check_init(self.root)

    def test_regular_executable(self):
        os.rename(self.busybox, os.path.join(self.root, 'sbin/init'))
        result = self.check()
        self.assertTrue(result.ok)
        self.assertEqual('/sbin/init', result.resolved)
        self.assertEqual((), result.links)

    def test_absolute_link_resolves_inside_the_rootfs(self):
        self.link('sbin/init', '/bin/busybox')
        result = self.check()
        self.assertTrue(result.ok, result.reason)
        self.assertEqual('/bin/busybox', result.resolved)
        self.assertEqual(('/sbin/init -> /bin/busybox',), result.links)

    def test_relative_link(self):
        self.link('sbin/init', '../bin/busybox')
        self.assertEqual('/bin/busybox', self.check().resolved)

    def test_debian_style_chain(self):
        os.makedirs(os.path.join(self.root, 'lib/systemd'))
        self.link('lib/systemd/systemd', '../../bin/busybox')
        self.link('sbin/init', '/lib/systemd/systemd')
        result = self.check()
        self.assertTrue(result.ok)
        self.assertEqual(2, len(result.links))

    def test_dotdot_stops_at_the_rootfs(self):
        # On the host this would be /bin/busybox or /bin/sh; inside the
        # rootfs '..' above / stays at /.
        self.link('sbin/init', '../../../../../../bin/busybox')
        self.assertEqual('/bin/busybox', self.check().resolved)

    def test_link_to_a_host_only_file_is_missing(self):
        host_file = tempfile.NamedTemporaryFile(delete=False)
        self.addCleanup(os.unlink, host_file.name)
        os.chmod(host_file.name, 0o755)
        self.link('sbin/init', host_file.name)
        result = self.check()
        self.assertFalse(result.ok)
        self.assertIn('does not exist (dangling link: /sbin/init -> %s)'
                      % host_file.name, result.reason)

    def test_escaping_directory_link_is_confined(self):
        # /sbin is a link to the host's /usr/sbin: it must resolve to the
        # rootfs's own /usr/sbin, which does not exist.
        os.rmdir(os.path.join(self.root, 'sbin'))
        self.link('sbin', '/usr/sbin')
        result = self.check()
        self.assertFalse(result.ok)
        self.assertIn('/usr does not exist', result.reason)

    def test_missing(self):
        result = self.check()
        self.assertFalse(result.ok)
        self.assertEqual('/sbin/init does not exist', result.reason)

    def test_not_executable(self):
        os.chmod(self.busybox, 0o644)
        self.link('sbin/init', '/bin/busybox')
        result = self.check()
        self.assertFalse(result.ok)
        self.assertIn('/bin/busybox is not executable (mode 644)',
                      result.reason)

    def test_directory(self):
        os.mkdir(os.path.join(self.root, 'sbin/init'))
        self.assertIn('is not a regular file', self.check().reason)

    def test_symlink_loop(self):
        self.link('sbin/init', '/sbin/init2')
        self.link('sbin/init2', 'init')
        self.assertIn('too many levels of symbolic links',
                      self.check().reason)

    def test_link_to_the_root(self):
        self.link('sbin/init', '/')
        self.assertIn('resolves to the rootfs directory', self.check().reason)

    def test_component_is_a_file(self):
        self.link('sbin/init', '/bin/busybox/init')
        self.assertIn('/bin/busybox is not a directory', self.check().reason)


class TestFsProbe(testtools.TestCase):

    def _image(self, *mkfs):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        path = os.path.join(tmp, 'fs.img')
        with open(path, 'wb') as f:
            f.truncate(4 * 1024 * 1024 + 65536)
        subprocess.run(list(mkfs) + [path], check=True, capture_output=True)
        fd = os.open(path, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        return lambda offset, length: os.pread(fd, length, offset)

    def test_ext_flavours(self):
        for kind in ('ext2', 'ext3', 'ext4'):
            read_at = self._image('mke2fs', '-q', '-F', '-t', kind)
            self.assertEqual(kind, fsprobe.probe(read_at, 0, 4 << 20))

    def test_swap(self):
        read_at = self._image('mkswap')
        self.assertEqual('swap', fsprobe.probe(read_at, 0, 4 << 20))

    def test_nothing(self):
        self.assertIsNone(fsprobe.probe(lambda o, n: b'\0' * n, 0, 1 << 20))
        self.assertIsNone(fsprobe.probe(lambda o, n: b'', 0, 1 << 20))
        self.assertIsNone(fsprobe.probe(lambda o, n: b'\0' * n, 0, 100))
