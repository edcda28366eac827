"""Show a qcow2 image as a raw disk that a loop device can bind.

Two exporters:
- FUSE (any host with /dev/fuse): a qemu-storage-daemon serves the image as
  a raw regular file at ``<container_dir>.export``, controlled through a QMP
  socket at ``<container_dir>.qmp``.
- NBD (hosts with the nbd module): qemu-nbd connects the image to a free
  /dev/nbdN. No partition nodes are needed: loop binds /dev/nbdN with an
  offset like any other backing file.

Both daemons outlive nova-compute (they daemonize), so a restarted
nova-compute finds them again from the container dir alone.
"""

import errno
import json
import os
import signal
import socket
import subprocess
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

QSD = 'qemu-storage-daemon'
QEMU_NBD = 'qemu-nbd'
START_TIMEOUT = 60
_POLL = 0.0005


class ExportError(Exception):
    """A daemon refused to start or stop; the message says why."""


def _run(argv, timeout=START_TIMEOUT):
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout,
                              close_fds=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExportError('%s: %s' % (argv[0], exc))
    if proc.returncode:
        message = proc.stderr.decode(errors='replace').strip()
        raise ExportError(message or '%s exited with %d'
                          % (argv[0], proc.returncode))


def _qemu_opt(value):
    # qemu's option syntax: ',' separates options and is escaped by doubling
    return value.replace(',', ',,')


# --- FUSE export (qemu-storage-daemon) --------------------------------------

def fuse_start(image, fmt, export_file, qmp_socket, pid_file,
               read_only=False):
    """Export ``image`` as a raw file at ``export_file``; return the pid."""
    blockdev_file = {'driver': 'file', 'node-name': 'file0',
                     'filename': image, 'read-only': read_only}
    blockdev_fmt = {'driver': fmt, 'node-name': 'disk0', 'file': 'file0',
                    'read-only': read_only}
    export = {'type': 'fuse', 'id': 'rootfs', 'node-name': 'disk0',
              'mountpoint': export_file, 'writable': not read_only,
              'growable': False}
    argv = [QSD,
            '--blockdev', json.dumps(blockdev_file),
            '--blockdev', json.dumps(blockdev_fmt),
            '--export', json.dumps(export),
            '--chardev', 'socket,id=qmp0,server=on,wait=off,path=%s'
            % _qemu_opt(qmp_socket),
            '--monitor', 'chardev=qmp0',
            '--pidfile', pid_file,
            '--daemonize']
    try:
        with open(export_file, 'a'):
            pass   # FUSE mounts an export over an existing regular file
        # --daemonize: the parent exits once the export is mounted.
        _run(argv)
        with open(pid_file) as f:
            return int(f.read().strip())
    except (ExportError, OSError, ValueError) as exc:
        _remove(export_file)
        if isinstance(exc, OSError) and exc.filename:
            raise ExportError('%s: %s' % (exc.filename, exc.strerror))
        raise ExportError(str(exc))


def fuse_stop(export_file, qmp_socket, pid_file, timeout=10.0):
    """Stop the export's daemon and remove its files. Idempotent.

    ``quit`` over QMP is the fast way: the daemon unexports, flushes the
    image and exits within milliseconds. (SIGTERM does too; what takes a
    second on some hosts is the init process reaping the daemonized zombie,
    so completion is judged by the process having exited, not reaped.)
    """
    pid = _read_pid(pid_file)
    if not _qmp_quit(qmp_socket) and pid and _is_ours(pid, export_file):
        LOG.debug('QMP socket %s is gone; stopping pid %d with SIGTERM',
                  qmp_socket, pid)
        _signal(pid, signal.SIGTERM)
    if pid and not _wait_exit(pid, timeout):
        LOG.warning('qemu-storage-daemon %d ignored quit for %.0f s; '
                    'killing it', pid, timeout)
        if _is_ours(pid, export_file):
            _signal(pid, signal.SIGKILL)
            _wait_exit(pid, timeout)
    # A daemon that died leaves its FUSE mount behind (ENOTCONN).
    _umount_lazy(export_file)
    for path in (export_file, qmp_socket, pid_file):
        _remove(path)


def _qmp_quit(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(path)
            stream = sock.makefile('rwb')
            stream.readline()                     # greeting
            for command in ('qmp_capabilities', 'quit'):
                stream.write(json.dumps({'execute': command}).encode() +
                             b'\n')
                stream.flush()
                while True:
                    reply = stream.readline()
                    if not reply:
                        return True               # closed while quitting
                    if b'"return"' in reply or b'"error"' in reply:
                        break
        return True
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED, None):
            LOG.debug('QMP %s: %s', path, exc)
        return False


def _read_pid(pid_file):
    try:
        with open(pid_file) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _is_ours(pid, marker):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return os.fsencode(marker) in f.read()
    except OSError:
        return False


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _exited(pid):
    """True once ``pid`` has exited, even if nobody reaped it yet."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    if state not in ('Z', 'X'):
        return False
    # A zombie leader may still have threads holding the image open.
    try:
        return len(os.listdir('/proc/%d/task' % pid)) <= 1
    except OSError:
        return True


def _wait_exit(pid, timeout):
    deadline = time.monotonic() + timeout
    while not _exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL)
    return True


def _umount_lazy(path):
    from nova_lxc_contrail.disk import mount
    try:
        mount.umount(path, lazy=True)
    except OSError as exc:
        LOG.warning('Cannot unmount stale export %s: %s', path, exc)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# --- NBD export (qemu-nbd) --------------------------------------------------

def nbd_available():
    return os.path.exists('/sys/block/nbd0')


def _nbd_free_devices():
    for name in sorted(os.listdir('/sys/block')):
        if name.startswith('nbd') and not os.path.exists(
                '/sys/block/%s/pid' % name):
            yield '/dev/' + name


def nbd_start(image, fmt, pid_file, read_only=False):
    """Connect ``image`` to a free /dev/nbdN; return the device path."""
    errors = []
    for device in _nbd_free_devices():
        argv = [QEMU_NBD, '--connect', device, '--format', fmt,
                '--fork', '--pid-file', pid_file]
        if read_only:
            argv.append('--read-only')
        try:
            _run(argv + [image])
            return device
        except ExportError as exc:
            errors.append('%s: %s' % (device, exc))
    raise ExportError('no usable nbd device (%s)'
                      % ('; '.join(errors) or 'all in use'))


def nbd_stop(device, pid_file, timeout=10.0):
    pid = _read_pid(pid_file)
    if os.path.exists('/sys/block/%s/pid' % os.path.basename(device)):
        _run([QEMU_NBD, '--disconnect', device])
    if pid:
        _wait_exit(pid, timeout)
    _remove(pid_file)
