"""Run a command (a test worker) in its own network and mount namespaces.

Usage: python -m nova_lxc_contrail.tests.sandbox -m subunit.run discover ...

The root test suites (functional, e2e, nova_functional) run their workers
through this module, as stestr's ``$PYTHON``: every interface, bridge and
mount a test makes lives in namespaces that die with the worker, so a failed
test cannot touch the host's network or mount table. Tests still clean up
after themselves; loop devices and processes are not namespaced, and the
tests' own cleanups release them.
"""

import ctypes
import os
import runpy
import socket
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_void_p)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, '%s: %s' % (what, os.strerror(err)))


def _mount(source, target, fstype, flags=0):
    _check(_libc.mount(source and source.encode(), target.encode(),
                       fstype and fstype.encode(), flags, None),
           'mount %s' % target)


def _bring_up_loopback():
    import fcntl
    import struct
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = struct.pack('16sh', b'lo', 0)
        flags = struct.unpack('16sh', fcntl.ioctl(sock, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack('16sh', b'lo',
                                                    flags | IFF_UP))


def enter():
    """Move this (still single-threaded) process into new namespaces."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), 'unshare')
    # Mounts made from here on stay in this namespace.
    _mount(None, '/', None, MS_REC | MS_PRIVATE)
    _bring_up_loopback()
    os.environ['NOVA_LXC_CONTRAIL_SANDBOX'] = '1'


def main():
    if os.geteuid() != 0:
        sys.exit('nova_lxc_contrail.tests.sandbox: the root test suites '
                 'need root (they create namespaces, devices and mounts)')
    enter()
    argv = sys.argv[1:]
    if argv[:1] != ['-m'] or len(argv) < 2:
        sys.exit('usage: python -m nova_lxc_contrail.tests.sandbox '
                 '-m MODULE [ARGS...]')
    sys.argv = [argv[1]] + argv[2:]
    runpy.run_module(argv[1], run_name='__main__', alter_sys=True)


if __name__ == '__main__':
    main()
