"""Loop devices through the kernel's ioctls (no losetup).

A loop device is bound to a byte range of its backing file (offset and size
limit), which is how a partition is attached on hosts without partition
device nodes. Devices are configured with autoclear: the kernel detaches one
by itself when its last user (the container's mount) goes away.
Needs CAP_SYS_ADMIN; callers run these functions in the privsep daemon.
"""

import dataclasses
import errno
import fcntl
import os
import struct

LOOP_CONTROL = '/dev/loop-control'
LOOP_CTL_GET_FREE = 0x4C82
LOOP_SET_FD = 0x4C00
LOOP_CLR_FD = 0x4C01
LOOP_SET_STATUS64 = 0x4C04
LOOP_CONFIGURE = 0x4C0A

LO_FLAGS_READ_ONLY = 1
LO_FLAGS_AUTOCLEAR = 4

# struct loop_info64: device, inode, rdevice, offset, sizelimit (u64),
# number, encrypt_type, encrypt_key_size, flags (u32), file_name[64],
# crypt_name[64], encrypt_key[32], init[2] (u64)
_LOOP_INFO64 = struct.Struct('=QQQQQIIII64s64s32s2Q')
# struct loop_config: fd, block_size (u32), loop_info64, reserved[8] (u64)
_LOOP_CONFIG = struct.Struct('=II%ds64x' % _LOOP_INFO64.size)

_ATTEMPTS = 16


@dataclasses.dataclass(frozen=True)
class LoopInfo:
    device: str
    backing_file: str
    offset: int
    sizelimit: int
    autoclear: bool


def _info64(path, offset, sizelimit, flags):
    return _LOOP_INFO64.pack(0, 0, 0, offset, sizelimit, 0, 0, 0, flags,
                             os.fsencode(path)[-63:], b'', b'', 0, 0)


class Loop:
    """A bound loop device, held open by this object.

    With autoclear, the device stays bound while it is held open or mounted:
    close it after mounting (the mount holds it from then on), or close it
    without mounting to release it.
    """

    def __init__(self, device, fd):
        self.device = device
        self.fd = fd

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def attach(path, offset=0, sizelimit=0, read_only=False, autoclear=True,
           block_size=0):
    """Bind a free loop device to ``path``'s byte range; return a Loop.

    ``sizelimit`` 0 means up to the end of the file; ``block_size`` 0 keeps
    the kernel's default logical sector size (512).
    """
    flags = (LO_FLAGS_AUTOCLEAR if autoclear else 0) | (
        LO_FLAGS_READ_ONLY if read_only else 0)
    mode = os.O_RDONLY if read_only else os.O_RDWR
    backing = os.open(path, mode | os.O_CLOEXEC)
    try:
        ctl = os.open(LOOP_CONTROL, os.O_RDWR | os.O_CLOEXEC)
        try:
            for _attempt in range(_ATTEMPTS):
                number = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
                device = '/dev/loop%d' % number
                try:
                    fd = _configure(device, backing, path, offset,
                                    sizelimit, flags, mode, block_size)
                except OSError as exc:
                    # Another process took the device between GET_FREE
                    # and our configure: ask for the next free one.
                    if exc.errno == errno.EBUSY:
                        continue
                    raise
                return Loop(device, fd)
        finally:
            os.close(ctl)
    finally:
        os.close(backing)
    raise OSError(errno.EBUSY, 'no free loop device after %d attempts'
                  % _ATTEMPTS)


def _configure(device, backing, path, offset, sizelimit, flags, mode,
               block_size=0):
    """Bind ``device``; return its open fd (which keeps autoclear away)."""
    fd = os.open(device, mode | os.O_CLOEXEC)
    try:
        config = _LOOP_CONFIG.pack(backing, block_size,
                                   _info64(path, offset, sizelimit, flags))
        try:
            fcntl.ioctl(fd, LOOP_CONFIGURE, config)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTTY) or block_size:
                raise
        # Kernels before 5.8 have no LOOP_CONFIGURE.
        fcntl.ioctl(fd, LOOP_SET_FD, backing)
        try:
            fcntl.ioctl(fd, LOOP_SET_STATUS64,
                        _info64(path, offset, sizelimit, flags))
        except OSError:
            fcntl.ioctl(fd, LOOP_CLR_FD)
            raise
        return fd
    except BaseException:
        os.close(fd)
        raise


def detach(device):
    """Detach ``device``; no-op when it is free.

    A device in use is detached when its last user closes it.
    """
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.ioctl(fd, LOOP_CLR_FD)
    except OSError as exc:
        if exc.errno != errno.ENXIO:     # not bound
            raise
    finally:
        os.close(fd)


def _sysfs(name, field):
    try:
        with open('/sys/block/%s/loop/%s' % (name, field)) as f:
            return f.read().rstrip('\n')
    except (FileNotFoundError, NotADirectoryError):
        return None


def info(device):
    """Return the LoopInfo of a bound loop device, or None."""
    name = os.path.basename(device)
    if not name.startswith('loop'):
        return None
    backing = _sysfs(name, 'backing_file')
    if backing is None:
        return None
    offset = _sysfs(name, 'offset')
    sizelimit = _sysfs(name, 'sizelimit')
    autoclear = _sysfs(name, 'autoclear')
    return LoopInfo('/dev/' + name, backing, int(offset or 0),
                    int(sizelimit or 0), autoclear == '1')


def bound_devices():
    """LoopInfo of every bound loop device on the host."""
    found = []
    try:
        names = os.listdir('/sys/block')
    except FileNotFoundError:
        return found
    for name in sorted(names):
        if name.startswith('loop'):
            loop = info(name)
            if loop is not None:
                found.append(loop)
    return found
