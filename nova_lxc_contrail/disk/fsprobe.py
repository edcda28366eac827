"""Recognise the filesystem at a byte range by its superblock magic.

Pure Python: reads through ``read_at(offset, length)`` like the partition
reader, so the type is known before anything is mounted.
"""

import struct

# Filesystems a container root can live on, and the kernel driver that
# mounts them (ext4 mounts ext2 and ext3 as well).
MOUNTABLE = {'ext2': 'ext4', 'ext3': 'ext4', 'ext4': 'ext4',
             'xfs': 'xfs', 'btrfs': 'btrfs'}

_EXT_MAGIC = 0xEF53
_EXT_COMPAT_JOURNAL = 0x4
_EXT_INCOMPAT_64BIT = 0x80
_EXT_INCOMPAT_EXT4 = 0x40 | _EXT_INCOMPAT_64BIT | 0x200  # extents, flex_bg


def _read(read_at, offset, length, size):
    if length > size:
        return b''
    try:
        data = read_at(offset, length)
    except OSError:
        return b''
    return data if len(data) == length else b''


def probe(read_at, offset, size):
    """Return the filesystem type at ``offset`` (a name) or None."""
    head = _read(read_at, offset, 4096, size)
    if not head:
        return None
    if len(head) >= 1024 + 100:
        magic, = struct.unpack_from('<H', head, 1024 + 56)
        if magic == _EXT_MAGIC:
            compat, incompat = struct.unpack_from('<II', head, 1024 + 92)
            if incompat & _EXT_INCOMPAT_EXT4:
                return 'ext4'
            return 'ext3' if compat & _EXT_COMPAT_JOURNAL else 'ext2'
    if head[:4] == b'XFSB':
        return 'xfs'
    if head[4086:4096] in (b'SWAPSPACE2', b'SWAP-SPACE'):
        return 'swap'
    if head[510:512] == b'\x55\xaa' and (
            head[54:59] in (b'FAT12', b'FAT16') or head[82:87] == b'FAT32'):
        return 'vfat'
    if _read(read_at, offset + 0x10040, 8, size - 0x10040) == b'_BHRfS_M':
        return 'btrfs'
    return None


def filesystem_size(read_at, offset, size):
    """(bytes, blocks, block size) the superblock claims, or None.

    For ext2/3/4 and xfs: what the kernel compares with the device's size
    before it mounts (a filesystem larger than its partition is refused).
    """
    head = _read(read_at, offset, 2048, size)
    if not head:
        return None
    sb = head[1024:]
    magic, = struct.unpack_from('<H', sb, 56)
    if magic == _EXT_MAGIC:
        blocks, = struct.unpack_from('<I', sb, 4)
        log_block_size, = struct.unpack_from('<I', sb, 24)
        incompat, = struct.unpack_from('<I', sb, 96)
        if incompat & _EXT_INCOMPAT_64BIT:
            at = 1024 + 0x150   # s_blocks_count_hi
            high = _read(read_at, offset + at, 4, size - at)
            if high:
                blocks |= struct.unpack('<I', high)[0] << 32
        if log_block_size > 16:
            return None
        block_size = 1024 << log_block_size
        return blocks * block_size, blocks, block_size
    if head[:4] == b'XFSB':
        block_size, blocks = struct.unpack_from('>IQ', head, 4)
        return blocks * block_size, blocks, block_size
    return None
