"""Fuzz the partition reader: only the project's own error, on any input."""

import hypothesis
from hypothesis import strategies as st
import testtools

from nova_lxc_contrail.disk import partition
from nova_lxc_contrail import exception
from nova_lxc_contrail.tests.unit import partition_tables as pt

MIB = 1024 * 1024
SETTINGS = hypothesis.settings(max_examples=400, deadline=None,
                               suppress_health_check=list(
                                   hypothesis.HealthCheck))


def _check(disk):
    """Read the table; return it or None; fail on any foreign exception."""
    try:
        table = partition.read_partition_table(disk.read_at, disk.size,
                                               image='fuzz')
    except exception.InvalidPartitionTable:
        return None
    if table is None:
        return None
    # Whatever the reader accepts is internally consistent.
    numbers = [p.number for p in table.partitions]
    assert len(numbers) == len(set(numbers)), numbers
    for part in table.partitions:
        assert part.size > 0 and part.start > 0, part
        assert part.end <= disk.size, (part, disk.size)
    return table


def _mbr_disk():
    disk = pt.Disk(4 * MIB)
    pt.write_mbr(disk, [(0x83, 64, 1000, True), (0x05, 2048, 4000),
                        (0x83, 6144, 1000)])
    pt.write_ebr(disk, 2048, logical=(0x83, 32, 500), link=(1000, 900))
    pt.write_ebr(disk, 3048, logical=(0x83, 32, 500))
    return disk, [(0, 512), (2048 * 512, 512), (3048 * 512, 512)]


def _gpt_disk():
    disk = pt.Disk(MIB)
    layout = pt.write_gpt(disk, {0: (pt.LINUX, 100, 999, 'root'),
                                 13: (pt.BIOS_BOOT, 40, 99, 'bios')},
                          count=32)
    hot = [(0, 512), (512, 512), (1024, 32 * 128),
           (layout['backup'] * 512, 512),
           (layout['backup_array'] * 512, 32 * 128)]
    return disk, layout, hot


# (region index, offset in region, new byte) edits
_EDITS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 1 << 16),
                            st.integers(0, 255)), min_size=1, max_size=24)


class TestFuzz(testtools.TestCase):

    @SETTINGS
    @hypothesis.given(st.binary(max_size=8192))
    def test_arbitrary_bytes(self, data):
        disk = pt.Disk(len(data))
        disk.write(0, data)
        _check(disk)

    @SETTINGS
    @hypothesis.given(st.binary(min_size=446, max_size=446),
                      st.lists(st.tuples(st.integers(0, 255),
                                         st.sampled_from([0, 5, 0xf, 0x83,
                                                          0x85, 0xee]),
                                         st.integers(0, (1 << 32) - 1),
                                         st.integers(0, (1 << 32) - 1)),
                               min_size=1, max_size=4),
                      st.integers(512, 2 * MIB))
    def test_arbitrary_mbr_entries(self, code, entries, size):
        disk = pt.Disk(size)
        disk.write(0, code)
        for i, (boot, ptype, start, count) in enumerate(entries):
            disk.write(446 + 16 * i, pt.mbr_entry(ptype, start, count))
            disk.data[446 + 16 * i] = boot if boot in (0, 0x80) else 0
        disk.write(510, b'\x55\xaa')
        _check(disk)

    @SETTINGS
    @hypothesis.given(_EDITS)
    def test_mutated_mbr_chain(self, edits):
        disk, regions = _mbr_disk()
        for region, offset, value in edits:
            start, length = regions[region % len(regions)]
            disk.data[start + offset % length] = value
        _check(disk)

    @SETTINGS
    @hypothesis.given(_EDITS, st.booleans())
    def test_mutated_gpt(self, edits, fix_crcs):
        disk, layout, regions = _gpt_disk()
        for region, offset, value in edits:
            start, length = regions[region]
            disk.data[start + offset % length] = value
        if fix_crcs:
            # Valid CRCs over damaged fields reach the deeper checks.
            pt.refresh_gpt_crcs(disk, layout)
        _check(disk)

    @SETTINGS
    @hypothesis.given(st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1),
                      st.integers(0, 2 ** 64 - 1), st.integers(0, 2 ** 64 - 1))
    def test_hostile_gpt_header_fields(self, count, esize, array_lba, first):
        disk, layout, _regions = _gpt_disk()
        layout = dict(layout, first_usable=first % (1 << 64))
        pt.write_gpt_header(disk, layout, 1, layout['backup'], array_lba,
                            0, count=count, esize=esize)
        pt.write_gpt_header(disk, layout, layout['backup'], 1, array_lba,
                            0, count=count, esize=esize)
        _check(disk)

    def test_valid_tables_still_read(self):
        disk, _regions = _mbr_disk()
        self.assertEqual([1, 2, 3, 5, 6],
                         [p.number for p in _check(disk).partitions])
        disk, _layout, _regions = _gpt_disk()
        self.assertEqual([1, 14], [p.number for p in _check(disk).partitions])
