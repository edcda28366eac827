"""Partition table reader: MBR (with extended/logical partitions) and GPT.

Pure Python and unprivileged: it reads bytes through a ``read_at(offset,
length)`` callable, so it works on image files, exported qcow2 images and
block devices alike, and can be fuzzed. Every defect of a table raises
``InvalidPartitionTable``; no other exception escapes for any input.

Numbering follows the kernel and sfdisk: MBR primaries are 1-4 (an extended
partition keeps its slot number), logical partitions count from 5 in chain
order; a GPT partition's number is its entry index plus one.
"""

import binascii
import dataclasses
import os
import struct
import uuid

from nova_lxc_contrail import exception

MBR_SIGNATURE = b'\x55\xaa'
GPT_SIGNATURE = b'EFI PART'
MBR_PROTECTIVE = 0xEE
MBR_EXTENDED = (0x05, 0x0F, 0x85)
SECTOR_SIZES = (512, 4096)

# A GPT entry array is normally 128 entries; anything beyond these bounds is
# a damaged or hostile header, not a disk layout.
GPT_MAX_ENTRIES = 16384
GPT_MAX_ENTRY_SIZE = 4096
# The Linux kernel stops at a few hundred logical partitions as well.
MBR_MAX_LOGICAL = 256

_MBR_ENTRY = struct.Struct('<B3sB3sII')
_GPT_HEADER = struct.Struct('<8sIIIIQQQQ16sQIII')
_GPT_ENTRY = struct.Struct('<16s16sQQQ72s')


@dataclasses.dataclass(frozen=True)
class Partition:
    number: int
    start: int          # bytes from the start of the disk
    size: int           # bytes
    type: str           # MBR: two hex digits ('83'); GPT: type GUID
    name: str = ''      # GPT partition name
    uuid: str = ''      # GPT unique partition GUID
    bootable: bool = False
    container: bool = False   # an MBR extended partition (holds logicals)

    @property
    def end(self):
        return self.start + self.size

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PartitionTable:
    label: str                  # 'dos' or 'gpt' (sfdisk's names)
    sector_size: int
    disk_size: int
    partitions: tuple
    disk_id: str = ''
    header: str = 'primary'     # GPT: 'primary' or 'backup' (damaged primary)

    def get(self, number):
        for part in self.partitions:
            if part.number == number:
                return part
        return None

    @classmethod
    def from_dict(cls, data):
        parts = tuple(Partition(**p) for p in data['partitions'])
        return cls(**dict(data, partitions=parts))

    def to_dict(self):
        return {'label': self.label, 'sector_size': self.sector_size,
                'disk_size': self.disk_size, 'disk_id': self.disk_id,
                'header': self.header,
                'partitions': [p.to_dict() for p in self.partitions]}


class _Reader:
    """Bounded reads that raise the project's error on a short image."""

    def __init__(self, read_at, disk_size, image):
        self._read_at = read_at
        self.disk_size = disk_size
        self.image = image

    def error(self, reason):
        return exception.InvalidPartitionTable(image=self.image,
                                               reason=reason)

    def read(self, offset, length):
        if offset < 0 or length < 0 or offset + length > self.disk_size:
            raise self.error('needs bytes %d-%d but the image ends at %d'
                             % (offset, offset + length, self.disk_size))
        data = self._read_at(offset, length)
        if len(data) != length:
            raise self.error('short read at byte %d' % offset)
        return data


def read_partition_table(read_at, disk_size, image='image',
                         sector_size=None):
    """Return the disk's PartitionTable, or None when it has none.

    :param read_at: callable(offset, length) -> bytes
    :param disk_size: size of the disk in bytes
    :param image: name used in error messages
    :param sector_size: logical sector size when known (block devices);
        otherwise a GPT is looked for at 512 and 4096-byte sectors and an
        MBR is read with 512-byte sectors.
    """
    reader = _Reader(read_at, disk_size, image)
    if disk_size < 512:
        return None
    mbr = reader.read(0, 512)
    if mbr[510:512] != MBR_SIGNATURE:
        return None
    entries = [_MBR_ENTRY.unpack_from(mbr, 446 + 16 * i) for i in range(4)]
    if any(e[0] not in (0, 0x80) for e in entries):
        # Boot indicators other than 0/0x80: a boot sector (e.g. a FAT
        # filesystem on the whole disk), not a partition table. The kernel
        # draws the same line.
        return None
    if not any(e[2] for e in entries):
        return None
    if any(e[2] == MBR_PROTECTIVE for e in entries):
        sizes = (sector_size,) if sector_size else SECTOR_SIZES
        return _read_gpt(reader, sizes)
    return _read_mbr(reader, mbr, entries, sector_size or 512)


# --- MBR --------------------------------------------------------------------

def _read_mbr(reader, mbr, entries, ss):
    disk_sectors = reader.disk_size // ss
    disk_id = '0x%08x' % struct.unpack_from('<I', mbr, 440)[0]
    primaries = []
    extended = None
    for index, (boot, _chs, ptype, _chs2, start, count) in enumerate(entries):
        if ptype == 0:
            continue
        number = index + 1
        _check_extent(reader, number, start, count, 1, disk_sectors,
                      'the image')
        part = Partition(number=number, start=start * ss, size=count * ss,
                         type='%x' % ptype, bootable=boot == 0x80,
                         container=ptype in MBR_EXTENDED)
        if part.container:
            if extended is not None:
                raise reader.error('more than one extended partition '
                                   '(%d and %d)' % (extended.number, number))
            extended = part
        primaries.append(part)
    _check_overlaps(reader, primaries)
    logicals = _read_logicals(reader, extended, ss) if extended else []
    _check_overlaps(reader, logicals)
    for part in logicals:
        if part.start < extended.start or part.end > extended.end:
            raise reader.error('logical partition %d lies outside extended '
                               'partition %d' % (part.number,
                                                 extended.number))
    return PartitionTable(label='dos', sector_size=ss,
                          disk_size=reader.disk_size,
                          partitions=tuple(primaries + logicals),
                          disk_id=disk_id)


def _read_logicals(reader, extended, ss):
    ext_start = extended.start // ss
    ext_end = extended.end // ss
    logicals = []
    seen = set()
    ebr = ext_start
    number = 5
    while True:
        if ebr in seen:
            raise reader.error('loop in the extended-partition chain (EBR at '
                               'sector %d is linked twice)' % ebr)
        if len(seen) >= MBR_MAX_LOGICAL:
            raise reader.error('more than %d logical partitions'
                               % MBR_MAX_LOGICAL)
        seen.add(ebr)
        if not ext_start <= ebr < ext_end:
            raise reader.error('extended-partition chain leaves extended '
                               'partition %d (EBR at sector %d)'
                               % (extended.number, ebr))
        data = reader.read(ebr * ss, 512)
        if data[510:512] != MBR_SIGNATURE:
            raise reader.error('extended boot record at sector %d has no '
                               'signature' % ebr)
        first = _MBR_ENTRY.unpack_from(data, 446)
        link = _MBR_ENTRY.unpack_from(data, 462)
        boot, _c, ptype, _c2, rel, count = first
        if ptype:
            start = ebr + rel
            _check_extent(reader, number, start, count, ebr + 1, ext_end,
                          'extended partition %d' % extended.number)
            logicals.append(Partition(number=number, start=start * ss,
                                      size=count * ss, type='%x' % ptype,
                                      bootable=boot == 0x80))
            number += 1
        if link[2] == 0:
            return logicals
        if link[2] not in MBR_EXTENDED:
            raise reader.error('extended boot record at sector %d links to '
                               'a partition of type %x' % (ebr, link[2]))
        ebr = ext_start + link[4]


def _check_extent(reader, number, start, count, first, limit, where):
    if count == 0:
        raise reader.error('partition %d has zero size' % number)
    if start < first:
        raise reader.error('partition %d starts at sector %d, inside the '
                           'partition table' % (number, start))
    if start + count > limit:
        raise reader.error('partition %d (sectors %d-%d) lies beyond the end '
                           'of %s (sector %d)'
                           % (number, start, start + count - 1, where,
                              limit - 1))


def _check_overlaps(reader, parts):
    ordered = sorted(parts, key=lambda p: p.start)
    for left, right in zip(ordered, ordered[1:]):
        if right.start < left.end:
            raise reader.error('partitions %d and %d overlap'
                               % (left.number, right.number))


# --- GPT --------------------------------------------------------------------

def _read_gpt(reader, sector_sizes):
    problems = []
    for ss in sector_sizes:
        if reader.disk_size < 3 * ss:
            continue
        last = reader.disk_size // ss - 1
        try:
            return _read_gpt_header(reader, ss, 1, 'primary')
        except exception.InvalidPartitionTable as exc:
            primary = exc.kwargs['reason']
        try:
            return _read_gpt_header(reader, ss, last, 'backup')
        except exception.InvalidPartitionTable as exc:
            backup = exc.kwargs['reason']
        if (reader.read(ss, 8) == GPT_SIGNATURE or
                reader.read(last * ss, 8) == GPT_SIGNATURE):
            raise reader.error('both GPT headers are damaged (%s; %s)'
                               % (primary, backup))
        problems.append(primary)
    raise reader.error('protective MBR but no GPT header (%s)'
                       % '; '.join(problems or ['image too small']))


def _read_gpt_header(reader, ss, lba, which):
    disk_sectors = reader.disk_size // ss
    raw = reader.read(lba * ss, ss)
    (signature, _rev, hsize, hcrc, _res, my_lba, _alt, first_usable,
     last_usable, disk_guid, entries_lba, count, esize,
     ecrc) = _GPT_HEADER.unpack_from(raw)
    what = '%s GPT header at sector %d' % (which, lba)
    if signature != GPT_SIGNATURE:
        raise reader.error('%s: no signature' % what)
    if not 92 <= hsize <= ss:
        raise reader.error('%s: header size %d' % (what, hsize))
    header = bytearray(raw[:hsize])
    header[16:20] = b'\0\0\0\0'
    if binascii.crc32(header) != hcrc:
        raise reader.error('%s: header CRC32 mismatch' % what)
    if my_lba != lba:
        raise reader.error('%s: says it lives at sector %d' % (what, my_lba))
    if count > GPT_MAX_ENTRIES:
        raise reader.error('%s announces %d partition entries (at most %d '
                           'supported)' % (what, count, GPT_MAX_ENTRIES))
    if esize < 128 or esize > GPT_MAX_ENTRY_SIZE or esize % 8:
        raise reader.error('%s: partition entry size %d' % (what, esize))
    if first_usable > last_usable + 1 or last_usable >= disk_sectors:
        raise reader.error('%s: usable sectors %d-%d do not fit the image '
                           '(%d sectors)' % (what, first_usable, last_usable,
                                             disk_sectors))
    array_size = count * esize
    array_end = entries_lba * ss + array_size
    if entries_lba < 2 or array_end > reader.disk_size:
        raise reader.error('%s: partition entries at sector %d lie outside '
                           'the image' % (what, entries_lba))
    array = reader.read(entries_lba * ss, array_size)
    if binascii.crc32(array) != ecrc:
        raise reader.error('%s: partition entry array CRC32 mismatch' % what)

    partitions = []
    for index in range(count):
        (ptype, puuid, first, last, attrs,
         name) = _GPT_ENTRY.unpack_from(array, index * esize)
        if ptype == b'\0' * 16:
            continue
        number = index + 1
        if last < first:
            raise reader.error('partition %d has zero size (sectors %d-%d)'
                               % (number, first, last))
        if first < first_usable or last > last_usable:
            raise reader.error('partition %d (sectors %d-%d) lies outside '
                               'the usable sectors %d-%d of the image'
                               % (number, first, last, first_usable,
                                  last_usable))
        partitions.append(Partition(
            number=number, start=first * ss, size=(last - first + 1) * ss,
            type=_guid(ptype), uuid=_guid(puuid), name=_utf16(name)))
    _check_overlaps(reader, partitions)
    return PartitionTable(label='gpt', sector_size=ss,
                          disk_size=reader.disk_size,
                          partitions=tuple(partitions),
                          disk_id=_guid(disk_guid), header=which)


def _guid(raw):
    return str(uuid.UUID(bytes_le=bytes(raw))).upper()


def _utf16(raw):
    return raw.decode('utf-16-le', errors='replace').split('\0', 1)[0]


# --- convenience ------------------------------------------------------------

def read_partition_table_from_path(path, image=None, sector_size=None):
    """Read the table of an image file or block device at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        return read_partition_table(
            lambda offset, length: os.pread(fd, length, offset), size,
            image=image or path, sector_size=sector_size)
    finally:
        os.close(fd)
