"""Id maps and idmapped mounts of a container's root filesystem.

``parse_maps`` validates ``[libvirt] uid_maps``/``gid_maps``. The privileged
half (run in the disk privsep daemon) makes an idmapped mount: a detached
clone of a mounted filesystem (``open_tree``) whose ids are seen through a
user namespace holding the maps (``mount_setattr(MOUNT_ATTR_IDMAP)``),
attached where the container looks for its root (``move_mount``). Python has
no wrapper for these three syscalls (Linux >= 5.12); they are called by
their x86_64 numbers.

The user namespace comes from a short-lived child: it unshares a user
namespace, the parent writes the maps into its uid_map/gid_map (which needs
CAP_SETUID and CAP_SETGID), opens ``/proc/<child>/ns/user`` and reaps it.
The mount keeps the namespace alive, not the child. The daemon keeps one
such fd per set of maps (they come from nova.conf), so only its first
setup pays for the child.
"""

import collections
import ctypes
import errno
import os
import platform
import threading

IdMap = collections.namedtuple('IdMap', 'start target count')

# The kernel's limit for uid_map/gid_map lines is 340; nova takes 5.
MAX_MAPS = 5
MAX_ID = 2 ** 32 - 1        # (uid_t)-1 is never a valid id

SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442

AT_FDCWD = -100
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_IDMAP = 0x100000
CLONE_NEWUSER = 0x10000000

# Errors meaning "this kernel or this filesystem cannot idmap": old
# kernel (ENOSYS), a filesystem without FS_ALLOW_IDMAP (EINVAL).
UNSUPPORTED_ERRNOS = (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)


class MapError(ValueError):
    """An id map option is wrong; the message names what."""


class Unsupported(OSError):
    """Idmapped mounts are impossible here (kernel or filesystem)."""


def parse_maps(values, option):
    """[IdMap] from 'guest:host:count' strings; MapError names the fault.

    :param option: how errors name the option, e.g. '[libvirt] uid_maps'
    """
    maps = []
    if len(values) > MAX_MAPS:
        raise MapError('%s has %d entries; nova uses the first %d only, '
                       'so at most %d are allowed' % (option, len(values),
                                                      MAX_MAPS, MAX_MAPS))
    for value in values:
        parts = value.strip().split(':')
        try:
            if len(parts) != 3:
                raise ValueError
            start, target, count = (int(p, 10) for p in parts)
        except ValueError:
            raise MapError('%s entry %r is not guest-id:host-id:count '
                           '(three decimal numbers)' % (option, value))
        if count < 1:
            raise MapError('%s entry %r maps no ids (count must be >= 1)'
                           % (option, value))
        for name, first in (('guest', start), ('host', target)):
            if first < 0 or first + count - 1 >= MAX_ID:
                raise MapError('%s entry %r: the %s range %d-%d is outside '
                               '0-%d' % (option, value, name, first,
                                         first + count - 1, MAX_ID - 1))
        maps.append(IdMap(start, target, count))
    for field in ('start', 'target'):
        ranges = sorted((getattr(m, field), m) for m in maps)
        for (low, a), (high, b) in zip(ranges, ranges[1:]):
            if high < low + a.count:
                side = 'guest' if field == 'start' else 'host'
                raise MapError('%s entries %s and %s overlap in their %s '
                               'ids' % (option, format_map(a), format_map(b),
                                        side))
    return maps


def container_maps(uid_values, gid_values):
    """(uid maps, gid maps) of [libvirt] uid_maps/gid_maps, or None.

    None when neither is set (no user namespace). Both must be set, and
    each must map the container's root (guest id 0).
    :raises MapError: naming the option and what is wrong
    """
    if not uid_values and not gid_values:
        return None
    found = {}
    for name, values in (('uid_maps', uid_values), ('gid_maps', gid_values)):
        option = '[libvirt] %s' % name
        if not values:
            other = 'gid_maps' if name == 'uid_maps' else 'uid_maps'
            raise MapError('%s is empty but [libvirt] %s is set: a user '
                           'namespace needs both (e.g. 0:100000:65536)'
                           % (option, other))
        maps = parse_maps(values, option)
        if host_id(maps, 0) is None:
            raise MapError('%s maps no entry for the container\'s root '
                           '(guest id 0)' % option)
        found[name] = maps
    return found['uid_maps'], found['gid_maps']


def format_map(idmap):
    return '%d:%d:%d' % tuple(idmap)


def host_id(maps, guest_id):
    """The host id guest_id maps to, or None."""
    for m in maps:
        if m.start <= guest_id < m.start + m.count:
            return m.target + guest_id - m.start
    return None


# --- privileged (the disk privsep daemon) ------------------------------------

class _MountAttr(ctypes.Structure):
    _fields_ = [('attr_set', ctypes.c_uint64),
                ('attr_clr', ctypes.c_uint64),
                ('propagation', ctypes.c_uint64),
                ('userns_fd', ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.unshare.argtypes = (ctypes.c_int,)
# syscall(2) is variadic: every argument goes as a full long.
_L = ctypes.c_long


def _check(result, what):
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, '%s: %s' % (what, os.strerror(err)))
    return result


def syscalls_available():
    """False on a kernel or architecture without these syscalls."""
    return platform.machine() == 'x86_64'


def kernel_supports():
    """(True, '') when this kernel has idmapped mounts, else (False, why).

    Asks mount_setattr with a bad fd: a kernel that has it answers EBADF,
    one without ENOSYS. Needs no privilege and changes nothing.
    """
    if not syscalls_available():
        return False, ('the syscalls are called by their x86_64 numbers; '
                       'this is %s' % platform.machine())
    attr = _MountAttr(attr_set=MOUNT_ATTR_IDMAP, userns_fd=2 ** 32 - 1)
    if _libc.syscall(_L(SYS_MOUNT_SETATTR), _L(-1), b'', _L(AT_EMPTY_PATH),
                     ctypes.byref(attr), _L(ctypes.sizeof(attr))) == 0:
        return True, ''
    err = ctypes.get_errno()
    if err == errno.ENOSYS:
        return False, ('the kernel (%s) has no mount_setattr (Linux >= '
                       '5.12 has)' % platform.release())
    return True, ''


def _map_text(maps):
    return ''.join('%d %d %d\n' % tuple(m) for m in maps).encode()


_namespaces = {}
_namespaces_lock = threading.Lock()


def _userns_for(uid_maps, gid_maps):
    """The kept user namespace fd holding these maps (never close it)."""
    key = (tuple(map(tuple, uid_maps)), tuple(map(tuple, gid_maps)))
    with _namespaces_lock:
        if key not in _namespaces:
            _namespaces[key] = userns_fd(uid_maps, gid_maps)
        return _namespaces[key]


def userns_fd(uid_maps, gid_maps):
    """An fd of a new user namespace holding the maps (caller closes it)."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # child
        code = 0
        try:
            os.close(ready_r)
            os.close(hold_w)
            if _libc.unshare(CLONE_NEWUSER) != 0:
                code = ctypes.get_errno() or 1
            os.write(ready_w, bytes([code]))
            if code == 0:
                os.read(hold_r, 1)      # until the parent has the fd
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(hold_r)
    try:
        code = os.read(ready_r, 1)
        if code != b'\0':
            err = code[0] if code else errno.ECHILD
            raise OSError(err, 'unshare(CLONE_NEWUSER): %s'
                          % os.strerror(err))
        # setgroups stays allowed: a privileged writer may keep it.
        for name, maps in (('uid_map', uid_maps), ('gid_map', gid_maps)):
            with open('/proc/%d/%s' % (pid, name), 'wb', buffering=0) as f:
                f.write(_map_text(maps))
        return os.open('/proc/%d/ns/user' % pid,
                       os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(hold_w)                # the child exits now
        os.waitpid(pid, 0)


def idmapped_clone(source, target, uid_maps, gid_maps):
    """Attach at ``target`` an idmapped clone of the mount at ``source``.

    The clone keeps the source's flags except nosuid, which it drops: the
    container's own setuid programs work, seen through the maps.
    :raises Unsupported: the kernel or the filesystem cannot idmap
    :raises OSError: anything else
    """
    tree = _idmapped_tree(source, uid_maps, gid_maps)
    try:
        _check(_libc.syscall(_L(SYS_MOVE_MOUNT), _L(tree), b'', _L(AT_FDCWD),
                             os.fsencode(target),
                             _L(MOVE_MOUNT_F_EMPTY_PATH)),
               'move_mount to %s' % target)
    finally:
        os.close(tree)


def can_idmap(source):
    """(True, '') when the mount at ``source`` takes an id map.

    Else (False, why). The detached clone it tries is dropped: nothing
    changes.
    """
    try:
        os.close(_idmapped_tree(source, [IdMap(0, 100000, 1)],
                                [IdMap(0, 100000, 1)]))
    except Unsupported as exc:
        return False, str(exc)
    return True, ''


def _idmapped_tree(source, uid_maps, gid_maps):
    """A detached, idmapped clone of the mount at ``source``: its fd."""
    if not syscalls_available():
        raise Unsupported(errno.ENOSYS, 'idmapped mounts are called by '
                          'their x86_64 syscall numbers; this is %s'
                          % platform.machine())
    ns_fd = _userns_for(uid_maps, gid_maps)
    tree = _libc.syscall(_L(SYS_OPEN_TREE), _L(AT_FDCWD),
                         os.fsencode(source),
                         _L(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC))
    if tree < 0:
        err = ctypes.get_errno()
        if err == errno.ENOSYS:
            raise Unsupported(err, 'open_tree: %s' % os.strerror(err))
        raise OSError(err, 'open_tree(%s): %s' % (source,
                                                  os.strerror(err)))
    attr = _MountAttr(attr_set=MOUNT_ATTR_IDMAP,
                      attr_clr=MOUNT_ATTR_NOSUID, userns_fd=ns_fd)
    if _libc.syscall(_L(SYS_MOUNT_SETATTR), _L(tree), b'',
                     _L(AT_EMPTY_PATH), ctypes.byref(attr),
                     _L(ctypes.sizeof(attr))) < 0:
        err = ctypes.get_errno()
        os.close(tree)
        if err in UNSUPPORTED_ERRNOS:
            raise Unsupported(err, 'mount_setattr(MOUNT_ATTR_IDMAP): %s'
                              % os.strerror(err))
        raise OSError(err, 'mount_setattr(MOUNT_ATTR_IDMAP): %s'
                      % os.strerror(err))
    return tree
