"""Bad and hostile images: a clear error each, and nothing left attached.

Every test also runs the base class's check that no loop device, mount,
qemu-storage-daemon or state file of the instance remains.
"""

import binascii
import os
import struct
import subprocess

from nova.virt.image import model as imgmodel

from nova_lxc_contrail.disk import api
from nova_lxc_contrail.disk import state
from nova_lxc_contrail import exception
from nova_lxc_contrail.tests.functional import rootfs_base

MIB = 1024 * 1024


class TestBadImages(rootfs_base.RootfsTestCase):

    IMAGES = {
        'mbr.raw': ('mbr-boot-first', 'raw', 'ext4', 'busybox'),
        'gpt.raw': ('gpt-cloud', 'raw', 'ext4', 'busybox'),
        'logical.raw': ('mbr-logical', 'raw', 'ext4', 'busybox'),
        'gpt.qcow2': ('gpt', 'qcow2', 'ext4', 'busybox'),
    }

    def assert_refused(self, model, error, message, **kwargs):
        exc = self.assertRaises(error, api.setup_container, model,
                                self.container_dir, **kwargs)
        self.assertIn(message, str(exc))
        self.assertFalse(os.path.exists(
            state.Paths(self.container_dir).state))
        self.assertIsNone(self.mounted())
        return exc

    def raw(self, name):
        return self.instance_disk(name)

    def as_qcow2(self):
        """Turn this test's raw disk into a qcow2 one, damage included."""
        qcow2 = self.disk + '.qcow2'
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                        'qcow2', self.disk, qcow2], check=True)
        os.rename(qcow2, self.disk)
        return imgmodel.LocalFileImage(self.disk, imgmodel.FORMAT_QCOW2)

    def poke(self, offset, payload):
        with open(self.disk, 'r+b') as f:
            f.seek(offset)
            f.write(payload)

    def peek(self, offset, length):
        with open(self.disk, 'rb') as f:
            f.seek(offset)
            return f.read(length)

    def set_mbr_entry(self, index, ptype, start, count):
        self.poke(446 + 16 * index + 4, bytes([ptype]))
        self.poke(446 + 16 * index + 8, struct.pack('<II', start, count))

    def rewrite_gpt_header(self, lba, **fields):
        header = bytearray(self.peek(lba * 512, 92))
        layout = {'count': 80, 'esize': 84, 'first_usable': 40}
        for name, value in fields.items():
            fmt = '<Q' if name == 'first_usable' else '<I'
            struct.pack_into(fmt, header, layout[name], value)
        struct.pack_into('<I', header, 16, 0)
        struct.pack_into('<I', header, 16, binascii.crc32(header))
        self.poke(lba * 512, bytes(header))

    # --- not images -------------------------------------------------------

    def test_text_file(self):
        with open(self.disk, 'w') as f:
            f.write('this is not a disk image\n' * 100)
        self.assert_refused(
            imgmodel.LocalFileImage(self.disk, 'raw'), exception.RootfsError,
            'whole disk: no filesystem found and no partition table: this '
            'is not a disk image')

    def test_empty_file(self):
        open(self.disk, 'w').close()
        self.assert_refused(
            imgmodel.LocalFileImage(self.disk, 'raw'), exception.RootfsError,
            'this is not a disk image')

    def test_text_file_as_qcow2(self):
        with open(self.disk, 'w') as f:
            f.write('this is not a disk image\n' * 100)
        self.assert_refused(
            imgmodel.LocalFileImage(self.disk, 'qcow2'),
            exception.DiskAttachError,
            'fuse export failed: qemu-storage-daemon: --blockdev')

    def test_qcow2_given_as_raw(self):
        self.instance_disk('gpt.qcow2')
        self.assert_refused(
            imgmodel.LocalFileImage(self.disk, 'raw'), exception.ImageError,
            'this is a qcow2 image, but it was given as raw')

    def test_missing_file(self):
        self.assert_refused(
            imgmodel.LocalFileImage(self.disk, 'raw'), exception.ImageError,
            '%s does not exist' % self.disk)

    def test_rbd(self):
        exc = self.assert_refused(
            imgmodel.RBDImage('vol', 'pool', 'user', 'secret', ['mon']),
            exception.UnsupportedImage, 'Image rbd:pool/vol: RBD images '
            'cannot be mounted as a container root filesystem')
        self.assertNotIn('secret', str(exc))

    def test_ploop(self):
        self.raw('gpt.raw')
        self.assert_refused(imgmodel.LocalFileImage(self.disk, 'ploop'),
                            exception.UnsupportedImage,
                            'format ploop is not supported')

    # --- hostile partition tables ------------------------------------------

    def test_partition_beyond_the_end(self):
        self.raw('mbr.raw')
        os.truncate(self.disk, 20 * MIB)
        self.assert_refused(
            imgmodel.LocalFileImage(self.disk, 'raw'),
            exception.InvalidPartitionTable,
            'invalid partition table: partition 2 (sectors 34816-100351) '
            'lies beyond the end of the image')

    def test_partition_beyond_the_end_qcow2(self):
        self.raw('mbr.raw')
        os.truncate(self.disk, 20 * MIB)
        self.assert_refused(self.as_qcow2(), exception.InvalidPartitionTable,
                            'lies beyond the end of the image')

    def test_overlapping_partitions(self):
        model = self.raw('mbr.raw')
        self.set_mbr_entry(1, 0x83, 20000, 65536)
        self.assert_refused(model, exception.InvalidPartitionTable,
                            'partitions 1 and 2 overlap')

    def test_zero_size_partition(self):
        model = self.raw('mbr.raw')
        self.set_mbr_entry(2, 0x83, 200000, 0)
        self.assert_refused(model, exception.InvalidPartitionTable,
                            'partition 3 has zero size')

    def test_loop_in_the_extended_chain(self):
        model = self.raw('logical.raw')
        ext_start = struct.unpack('<I', self.peek(446 + 16 + 8, 4))[0]
        # the first EBR's link points back at itself
        self.poke(ext_start * 512 + 446 + 16,
                  struct.pack('<B3sB3sII', 0, b'\0' * 3, 5, b'\0' * 3, 0,
                              2048))
        self.assert_refused(model, exception.InvalidPartitionTable,
                            'loop in the extended-partition chain')

    def test_both_gpt_headers_damaged(self):
        model = self.raw('gpt.raw')
        last = os.path.getsize(self.disk) // 512 - 1
        self.poke(512 + 60, b'\xff')
        self.poke(last * 512 + 60, b'\xff')
        self.assert_refused(model, exception.InvalidPartitionTable,
                            'both GPT headers are damaged')

    def test_damaged_primary_gpt_header_falls_back_to_backup(self):
        model = self.raw('gpt.raw')
        self.poke(512 + 60, b'\xff')
        self.setup(model)
        self.assertEqual('ext4', self.mounted()[1])

    def test_absurd_entry_count(self):
        model = self.raw('gpt.raw')
        last = os.path.getsize(self.disk) // 512 - 1
        self.rewrite_gpt_header(1, count=0x7fffffff)
        self.rewrite_gpt_header(last, count=0x7fffffff)
        self.assert_refused(model, exception.InvalidPartitionTable,
                            'announces 2147483647 partition entries')

    def test_absurd_entry_count_qcow2(self):
        self.raw('gpt.raw')
        last = os.path.getsize(self.disk) // 512 - 1
        self.rewrite_gpt_header(1, count=0x7fffffff)
        self.rewrite_gpt_header(last, count=0x7fffffff)
        self.assert_refused(self.as_qcow2(), exception.InvalidPartitionTable,
                            'announces 2147483647 partition entries')

    def test_filesystem_damaged(self):
        model = self.raw('gpt.raw')
        # partition 1 starts at 15 MiB; wreck its superblock's block count
        self.poke(15 * MIB + 1024 + 4, b'\xff\xff\xff\x7f')
        self.assert_refused(model, exception.RootfsError,
                            'partition 1: mounting the ext4 filesystem at '
                            '%s failed' % self.container_dir)
