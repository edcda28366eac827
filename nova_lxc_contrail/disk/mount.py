"""mount(2)/umount2(2) through libc, and the caller's mount table.

Needs CAP_SYS_ADMIN; callers run these functions in the privsep daemon.
"""

import ctypes
import errno
import os

MS_RDONLY = 1
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def mount(source, target, fstype, read_only=False, options=''):
    flags = MS_RDONLY if read_only else 0
    if _libc.mount(os.fsencode(source), os.fsencode(target),
                   fstype.encode(), flags,
                   options.encode() if options else None) != 0:
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
