"""Build MBR and GPT partition tables byte by byte, for the reader's tests.

The builders write what a well-behaved tool writes (CRCs included) and let a
test damage any part of it afterwards.
"""

import binascii
import struct
import uuid

LINUX = '0FC63DAF-8483-4772-8E79-3D69D8477DE4'
ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'
BIOS_BOOT = '21686148-6449-6E6F-744E-656564454649'


class Disk:
    """A disk image in memory."""

    def __init__(self, size):
        self.data = bytearray(size)

    @property
    def size(self):
        return len(self.data)

    def read_at(self, offset, length):
        return bytes(self.data[offset:offset + length])

    def write(self, offset, payload):
        self.data[offset:offset + len(payload)] = payload


def mbr_entry(ptype, start, count, boot=False):
    return struct.pack('<B3sB3sII', 0x80 if boot else 0, b'\0' * 3, ptype,
                       b'\0' * 3, start, count)


def write_mbr(disk, entries, disk_id=0x1234abcd, at=0):
    """entries: up to 4 (type, start, count[, boot]) tuples."""
    sector = bytearray(512)
    struct.pack_into('<I', sector, 440, disk_id)
    for i, entry in enumerate(entries):
        sector[446 + 16 * i:462 + 16 * i] = mbr_entry(*entry)
    sector[510:512] = b'\x55\xaa'
    disk.write(at, bytes(sector))


def write_ebr(disk, at_sector, logical=None, link=None, ss=512):
    """Write an extended boot record.

    logical: (type, start relative to this EBR, count);
    link: (start relative to the extended partition, count).
    """
    entries = []
    if logical:
        entries.append(logical)
    else:
        entries.append((0, 0, 0))
    if link:
        entries.append((0x05, link[0], link[1]))
    sector = bytearray(512)
    for i, entry in enumerate(entries):
        sector[446 + 16 * i:462 + 16 * i] = mbr_entry(*entry)
    sector[510:512] = b'\x55\xaa'
    disk.write(at_sector * ss, bytes(sector))


def gpt_entry(type_guid, first, last, name='', part_uuid=None, esize=128):
    entry = struct.pack('<16s16sQQQ72s',
                        uuid.UUID(type_guid).bytes_le,
                        uuid.UUID(part_uuid or str(uuid.uuid4())).bytes_le,
                        first, last, 0,
                        name.encode('utf-16-le')[:72])
    return entry + b'\0' * (esize - 128)


def write_gpt(disk, parts, ss=512, count=128, esize=128, protective=True,
              disk_guid='11111111-2222-3333-4444-555555555555'):
    """parts: {entry index: (type GUID, first LBA, last LBA[, name])}.

    Writes the protective MBR, both headers and both entry arrays.
    Returns the layout as a dict for tests that damage it.
    """
    sectors = disk.size // ss
    array_sectors = (count * esize + ss - 1) // ss
    first_usable = 2 + array_sectors
    last_usable = sectors - 2 - array_sectors
    array = bytearray(count * esize)
    for index, part in parts.items():
        array[index * esize:(index + 1) * esize] = gpt_entry(
            *part[:3], name=part[3] if len(part) > 3 else '', esize=esize)
    if protective:
        write_mbr(disk, [(0xEE, 1, min(sectors - 1, 0xFFFFFFFF))],
                  disk_id=0)
    layout = {'ss': ss, 'primary': 1, 'backup': sectors - 1,
              'primary_array': 2, 'backup_array': sectors - 1 - array_sectors,
              'first_usable': first_usable, 'last_usable': last_usable,
              'count': count, 'esize': esize, 'disk_guid': disk_guid}
    disk.write(2 * ss, bytes(array))
    disk.write(layout['backup_array'] * ss, bytes(array))
    for which, alternate, array_lba in (
            ('primary', sectors - 1, 2),
            ('backup', 1, layout['backup_array'])):
        write_gpt_header(disk, layout, layout[which], alternate, array_lba,
                         binascii.crc32(array))
    return layout


def write_gpt_header(disk, layout, lba, alternate, array_lba, array_crc,
                     count=None, esize=None, header_crc=None):
    ss = layout['ss']
    header = bytearray(struct.pack(
        '<8sIIIIQQQQ16sQIII', b'EFI PART', 0x00010000, 92, 0, 0, lba,
        alternate, layout['first_usable'], layout['last_usable'],
        uuid.UUID(layout['disk_guid']).bytes_le, array_lba,
        layout['count'] if count is None else count,
        layout['esize'] if esize is None else esize, array_crc))
    crc = binascii.crc32(header) if header_crc is None else header_crc
    struct.pack_into('<I', header, 16, crc)
    disk.write(lba * ss, bytes(header) + b'\0' * (ss - 92))


def refresh_gpt_crcs(disk, layout):
    """Recompute both headers' CRCs after a test edited the entries."""
    ss = layout['ss']
    size = layout['count'] * layout['esize']
    for which, alternate, array_key in (('primary', 'backup', 'primary_array'),
                                        ('backup', 'primary',
                                         'backup_array')):
        array = disk.read_at(layout[array_key] * ss, size)
        write_gpt_header(disk, layout, layout[which], layout[alternate],
                         layout[array_key], binascii.crc32(array))
