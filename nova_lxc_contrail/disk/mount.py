"""mount(2)/umount2(2) through libc, and the caller's mount table.

Needs CAP_SYS_ADMIN; callers run these functions in the privsep daemon.
"""

import ctypes
import errno
import os

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MNT_DETACH = 2

# Per-mount flags given among the options, as mount(8) takes them; the
# rest of the options go to the filesystem.
FLAG_OPTIONS = {'nosuid': MS_NOSUID, 'nodev': MS_NODEV}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def split_options(options):
    """(MS_* flags, filesystem data) of a mount(8)-style option string."""
    flags, data = 0, []
    for option in filter(None, (options or '').split(',')):
        if option in FLAG_OPTIONS:
            flags |= FLAG_OPTIONS[option]
        else:
            data.append(option)
    return flags, ','.join(data)


def mount(source, target, fstype, read_only=False, options=''):
    flags, data = split_options(options)
    if read_only:
        flags |= MS_RDONLY
    _mount(os.fsencode(source), target, fstype.encode(), flags,
           data.encode() if data else None)


def move(source, target):
    """Move the mount at ``source`` to ``target`` (MS_MOVE)."""
    _mount(os.fsencode(source), target, None, MS_MOVE, None)


def set_flags(target, flags):
    """Make the per-mount flags of the mount at ``target`` exactly these."""
    _mount(None, target, None, MS_REMOUNT | MS_BIND | flags, None)


def _mount(source, target, fstype, flags, data):
    if _libc.mount(source, os.fsencode(target), fstype, flags, data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def umount(target, lazy=False):
    """Unmount ``target``; return False when nothing was mounted there."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH if lazy else 0) != 0:
        err = ctypes.get_errno()
        if err == errno.EINVAL:        # not a mount point
            return False
        if err == errno.ENOENT:
            return False
        raise OSError(err, os.strerror(err))
    return True


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == '\\' and len(code) == 3 and code.isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return ''.join(out)


def mounts():
    """(mount point, source, fstype) of the caller's mount namespace."""
    found = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            sep = fields.index('-')
            found.append((_unescape(fields[4]), _unescape(fields[sep + 2]),
                          fields[sep + 1]))
    return found


def mounted_at(target):
    """(source, fstype) of the topmost mount at ``target``, or None."""
    target = os.path.realpath(target)
    result = None
    for point, source, fstype in mounts():
        if point == target:
            result = (source, fstype)
    return result
