"""Private network and mount namespaces for the demo and the root tests.

``enter()`` moves the calling process into new namespaces; everything it
creates afterwards (interfaces, bridges, mounts) is invisible to the host and
dies with the process. Loop devices and processes are not namespaced: their
owners release them.
"""

import ctypes
import fcntl
import os
import socket
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)

ENV_MARKER = 'NOVA_LXC_CONTRAIL_PRIVATE_NS'


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, '%s: %s' % (what, os.strerror(err)))


def mount(source, target, fstype, flags=0, data=None):
    _check(_libc.mount(source and source.encode(), target.encode(),
                       fstype and fstype.encode(), flags,
                       data and data.encode()),
           'mount %s on %s' % (fstype or source, target))


def umount(target, detach=False):
    _check(_libc.umount2(target.encode(), 2 if detach else 0),
           'umount %s' % target)


def _bring_up_loopback():
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = struct.pack('16sh', b'lo', 0)
        flags = struct.unpack('16sh', fcntl.ioctl(sock, siocgifflags, req))[1]
        fcntl.ioctl(sock, siocsifflags,
                    struct.pack('16sh', b'lo', flags | iff_up))


def in_private_namespaces():
    return os.environ.get(ENV_MARKER) == str(os.getpid())


def enter():
    """Move this process into new network and mount namespaces.

    Must run while the process is single-threaded (the kernel refuses a new
    mount namespace to a multi-threaded process).
    """
    if in_private_namespaces():
        return
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), 'unshare')
    # Mounts made from here on stay in this namespace.
    mount(None, '/', None, MS_REC | MS_PRIVATE)
    _bring_up_loopback()
    os.environ[ENV_MARKER] = str(os.getpid())
