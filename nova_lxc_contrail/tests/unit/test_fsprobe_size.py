"""fsprobe.filesystem_size: what a superblock claims, on real mkfs output."""

import os
import subprocess
import tempfile

import testtools

from nova_lxc_contrail.disk import fsprobe

MIB = 1 << 20


def _size_of(path):
    with open(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size

        def read_at(offset, length):
            f.seek(offset)
            return f.read(length)

        return fsprobe.filesystem_size(read_at, 0, size)


class TestFilesystemSize(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def image(self, size):
        path = os.path.join(self.tmp.name, 'fs')
        with open(path, 'wb') as f:
            f.truncate(size)
        return path

    def test_ext4_block_sizes_and_64bit(self):
        for block_size, features in ((1024, '^64bit'), (4096, '64bit')):
            path = self.image(64 * MIB)
            # A filesystem smaller than its file: the superblock's size.
            subprocess.run(['mkfs.ext4', '-q', '-F', '-b', str(block_size),
                            '-O', features, path, '24M'], check=True)
            self.assertEqual(
                (24 * MIB, 24 * MIB // block_size, block_size),
                _size_of(path), features)

    def test_ext2(self):
        path = self.image(16 * MIB)
        subprocess.run(['mkfs.ext2', '-q', '-F', path], check=True)
        self.assertEqual(16 * MIB, _size_of(path)[0])

    def test_xfs(self):
        path = self.image(320 * MIB)
        subprocess.run(['mkfs.xfs', '-q', '-f', '-b', 'size=4096', path],
                       check=True)
        self.assertEqual((320 * MIB, 320 * MIB // 4096, 4096),
                         _size_of(path))

    def test_no_filesystem(self):
        self.assertIsNone(_size_of(self.image(MIB)))
        self.assertIsNone(fsprobe.filesystem_size(
            lambda offset, length: b'', 0, 0))
