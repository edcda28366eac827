"""The MBR/GPT reader on tables built byte by byte, good and hostile."""

import binascii
import os
import struct
import subprocess
import tempfile

import testtools

from nova_lxc_contrail.disk import partition
from nova_lxc_contrail import exception
from nova_lxc_contrail.tests.unit import partition_tables as pt

MIB = 1024 * 1024


def read(disk, **kwargs):
    return partition.read_partition_table(disk.read_at, disk.size,
                                          image='test.img', **kwargs)


class TestNoTable(testtools.TestCase):

    def test_tiny_and_empty_images_have_no_table(self):
        for size in (0, 100, 511, 512, 4096):
            self.assertIsNone(read(pt.Disk(size)))

    def test_boot_sector_without_valid_boot_flags_is_not_a_table(self):
        disk = pt.Disk(MIB)
        pt.write_mbr(disk, [(0x83, 2048, 100)])
        disk.data[446] = 0x29       # what a FAT boot sector has there
        self.assertIsNone(read(disk))

    def test_signature_without_entries_is_not_a_table(self):
        disk = pt.Disk(MIB)
        pt.write_mbr(disk, [])
        self.assertIsNone(read(disk))


class TestMBR(testtools.TestCase):

    def _disk(self):
        disk = pt.Disk(64 * MIB)
        # 1: boot 16M, 2: extended 32M holding 5 and 6, 3: 8M
        pt.write_mbr(disk, [(0x83, 2048, 32768, True),
                            (0x05, 34816, 65536),
                            (0x82, 100352, 16384)])
        pt.write_ebr(disk, 34816, logical=(0x83, 2048, 20480),
                     link=(24576, 30000))
        pt.write_ebr(disk, 34816 + 24576, logical=(0x8e, 2048, 20000))
        return disk

    def test_primaries_and_logicals(self):
        table = read(self._disk())
        self.assertEqual('dos', table.label)
        self.assertEqual('0x1234abcd', table.disk_id)
        got = [(p.number, p.start // 512, p.size // 512, p.type, p.bootable,
                p.container) for p in table.partitions]
        self.assertEqual([(1, 2048, 32768, '83', True, False),
                          (2, 34816, 65536, '5', False, True),
                          (3, 100352, 16384, '82', False, False),
                          (5, 36864, 20480, '83', False, False),
                          (6, 34816 + 24576 + 2048, 20000, '8e', False,
                           False)], got)

    def test_partition_beyond_the_end(self):
        disk = pt.Disk(8 * MIB)
        pt.write_mbr(disk, [(0x83, 2048, 20000)])
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('partition 1 (sectors 2048-22047) lies beyond the end '
                      'of the image', str(exc))
        self.assertIn('test.img', str(exc))

    def test_overlapping_partitions(self):
        disk = pt.Disk(8 * MIB)
        pt.write_mbr(disk, [(0x83, 2048, 4096), (0x83, 4096, 4096)])
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('partitions 1 and 2 overlap', str(exc))

    def test_zero_size_partition(self):
        disk = pt.Disk(8 * MIB)
        pt.write_mbr(disk, [(0x83, 2048, 4096), (0x83, 8192, 0)])
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('partition 2 has zero size', str(exc))

    def test_partition_over_the_table(self):
        disk = pt.Disk(8 * MIB)
        pt.write_mbr(disk, [(0x83, 0, 4096)])
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('inside the partition table', str(exc))

    def test_loop_in_extended_chain(self):
        disk = pt.Disk(16 * MIB)
        pt.write_mbr(disk, [(0x05, 2048, 20000)])
        pt.write_ebr(disk, 2048, logical=(0x83, 64, 100), link=(1000, 500))
        # the second EBR links back to the first
        pt.write_ebr(disk, 3048, logical=(0x83, 64, 100), link=(0, 500))
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('loop in the extended-partition chain', str(exc))

    def test_self_linked_ebr(self):
        disk = pt.Disk(16 * MIB)
        pt.write_mbr(disk, [(0x05, 2048, 20000)])
        pt.write_ebr(disk, 2048, logical=(0x83, 64, 100), link=(0, 500))
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('loop in the extended-partition chain', str(exc))

    def test_chain_leaving_the_extended_partition(self):
        disk = pt.Disk(16 * MIB)
        pt.write_mbr(disk, [(0x05, 2048, 20000)])
        pt.write_ebr(disk, 2048, logical=(0x83, 64, 100), link=(25000, 10))
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('leaves extended partition 1', str(exc))

    def test_logical_outside_its_extended_partition(self):
        disk = pt.Disk(16 * MIB)
        pt.write_mbr(disk, [(0x05, 2048, 4000)])
        pt.write_ebr(disk, 2048, logical=(0x83, 64, 8000))
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('beyond the end of extended partition 1', str(exc))

    def test_two_extended_partitions(self):
        disk = pt.Disk(16 * MIB)
        pt.write_mbr(disk, [(0x05, 2048, 4000), (0x0f, 8192, 4000)])
        pt.write_ebr(disk, 2048)
        pt.write_ebr(disk, 8192)
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('more than one extended partition', str(exc))

    def test_ebr_without_signature(self):
        disk = pt.Disk(16 * MIB)
        pt.write_mbr(disk, [(0x05, 2048, 4000)])
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('extended boot record at sector 2048 has no signature',
                      str(exc))


class TestGPT(testtools.TestCase):

    def _cloud(self, ss=512, size=32 * MIB):
        disk = pt.Disk(size)
        per_mib = MIB // ss
        layout = pt.write_gpt(disk, {
            13: (pt.BIOS_BOOT, 1 * per_mib, 2 * per_mib - 1, 'bios'),
            14: (pt.ESP, 2 * per_mib, 4 * per_mib - 1, 'esp'),
            0: (pt.LINUX, 4 * per_mib, 30 * per_mib - 1, 'cloudimg-rootfs'),
        }, ss=ss)
        return disk, layout

    def test_cloud_layout_numbers_by_entry_index(self):
        disk, _layout = self._cloud()
        table = read(disk)
        self.assertEqual('gpt', table.label)
        self.assertEqual('primary', table.header)
        self.assertEqual('11111111-2222-3333-4444-555555555555',
                         table.disk_id)
        self.assertEqual([1, 14, 15], [p.number for p in table.partitions])
        root = table.get(1)
        self.assertEqual((4 * MIB, 26 * MIB), (root.start, root.size))
        self.assertEqual('cloudimg-rootfs', root.name)
        self.assertEqual(pt.LINUX, root.type)
        self.assertLess(table.get(14).start, root.start)

    def test_4096_byte_sectors(self):
        disk, _layout = self._cloud(ss=4096)
        table = read(disk)
        self.assertEqual(4096, table.sector_size)
        self.assertEqual((4 * MIB, 26 * MIB),
                         (table.get(1).start, table.get(1).size))

    def test_known_sector_size_is_honoured(self):
        disk, _layout = self._cloud(ss=4096)
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk,
                                sector_size=512)
        self.assertIn('protective MBR but no GPT header', str(exc))

    def test_damaged_primary_header_uses_backup(self):
        disk, layout = self._cloud()
        disk.data[512 + 40] ^= 0xff          # first usable LBA: CRC breaks
        table = read(disk)
        self.assertEqual('backup', table.header)
        self.assertEqual([1, 14, 15], [p.number for p in table.partitions])

    def test_damaged_primary_entries_use_backup(self):
        disk, layout = self._cloud()
        disk.data[2 * 512 + 32] ^= 0x01      # entry 0's first LBA
        table = read(disk)
        self.assertEqual('backup', table.header)
        self.assertEqual(4 * MIB, table.get(1).start)

    def test_wiped_primary_uses_backup(self):
        disk, layout = self._cloud()
        disk.write(512, b'\0' * 512 * 33)
        self.assertEqual('backup', read(disk).header)

    def test_both_headers_damaged(self):
        disk, layout = self._cloud()
        disk.data[512 + 40] ^= 0xff
        disk.data[layout['backup'] * 512 + 40] ^= 0xff
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('both GPT headers are damaged', str(exc))
        self.assertIn('header CRC32 mismatch', str(exc))

    def test_protective_mbr_without_gpt(self):
        disk = pt.Disk(4 * MIB)
        pt.write_mbr(disk, [(0xEE, 1, 8191)])
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('protective MBR but no GPT header', str(exc))

    def test_absurd_entry_count(self):
        disk, layout = self._cloud()
        for lba, alt, arr in ((1, layout['backup'], 2),
                              (layout['backup'], 1, layout['backup_array'])):
            pt.write_gpt_header(disk, layout, lba, alt, arr, 0,
                                count=0xFFFFFFFF)
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('announces 4294967295 partition entries', str(exc))

    def test_absurd_entry_size(self):
        disk, layout = self._cloud()
        pt.write_gpt_header(disk, layout, 1, layout['backup'], 2, 0,
                            esize=12)
        self.assertEqual('backup', read(disk).header)

    def test_entry_array_beyond_image(self):
        disk, layout = self._cloud()
        pt.write_gpt_header(disk, layout, 1, layout['backup'], 10 ** 9, 0)
        pt.write_gpt_header(disk, layout, layout['backup'], 1, 10 ** 9, 0)
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('lie outside the image', str(exc))

    def _edit_entry(self, disk, layout, index, first, last):
        for key in ('primary_array', 'backup_array'):
            at = layout[key] * 512 + index * 128 + 32
            disk.write(at, struct.pack('<QQ', first, last))
        pt.refresh_gpt_crcs(disk, layout)

    def test_partition_beyond_the_end(self):
        disk, layout = self._cloud()
        self._edit_entry(disk, layout, 0, 8192, 10 ** 7)
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('partition 1 (sectors 8192-10000000) lies outside the '
                      'usable sectors', str(exc))

    def test_zero_size_partition(self):
        disk, layout = self._cloud()
        self._edit_entry(disk, layout, 0, 9000, 8999)
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('partition 1 has zero size', str(exc))

    def test_overlapping_partitions(self):
        disk, layout = self._cloud()
        self._edit_entry(disk, layout, 0, 3000, 20000)
        exc = self.assertRaises(exception.InvalidPartitionTable, read, disk)
        self.assertIn('partitions 14 and 1 overlap', str(exc))

    def test_truncated_image(self):
        disk, layout = self._cloud()
        short = pt.Disk(3 * 512)
        short.write(0, disk.read_at(0, 3 * 512))
        exc = self.assertRaises(exception.InvalidPartitionTable, read, short)
        self.assertIn('do not fit the image (3 sectors)', str(exc))

    def test_crc_is_checked_over_header_size(self):
        disk, layout = self._cloud()
        header = bytearray(disk.read_at(512, 92))
        struct.pack_into('<I', header, 16, 0)
        self.assertEqual(binascii.crc32(header),
                         struct.unpack_from('<I', disk.read_at(512, 92),
                                            16)[0])


class TestFromPath(testtools.TestCase):
    """The file front end, on an image that sfdisk wrote."""

    def test_reads_an_image_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'disk.img')
            with open(path, 'wb') as f:
                f.truncate(16 * MIB)
            subprocess.run(['sfdisk', '-q', path], check=True, text=True,
                           input='label: gpt\n,4M,L\n,,L\n')
            table = partition.read_partition_table_from_path(path)
        self.assertEqual([1, 2], [p.number for p in table.partitions])
        self.assertEqual(MIB, table.get(1).start)
        self.assertEqual(table.to_dict(),
                         partition.PartitionTable.from_dict(
                             table.to_dict()).to_dict())
