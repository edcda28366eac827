"""A private libvirtd with the LXC driver, for the demo and the root tests.

It runs in the caller's private network and mount namespaces (see
``namespaces.enter``) with private runtime, state, config and log dirs
(tmpfs mounts that only this namespace sees), so ``lxc:///`` in this process
reaches it and nothing of it is visible on the host.

Two adjustments make libvirt-LXC work on hybrid cgroup hosts and in a
private network namespace:
- a fresh sysfs on /sys, so /sys/class/net lists this namespace's devices;
- the cgroup v1 hierarchies mounted again below it, without the cgroup2
  ``unified`` one (libvirt's LXC controller fails when it is present).
All of it is undone by ``stop()``, in reverse order.

As on a real host, this package's libvirt hook is installed
(``/etc/libvirt/hooks/lxc.d/`` links to the hook program of the running
installation) before libvirtd starts, so every container starts with its
network MTU (``virt/libvirt_hook.py``).
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from oslo_log import log as logging

from nova_lxc_contrail.standin import namespaces
from nova_lxc_contrail.virt import libvirt_hook

LOG = logging.getLogger(__name__)

LIBVIRTD = '/usr/sbin/libvirtd'
SOCKET = '/run/libvirt/libvirt-sock'
# Directories the daemon and its LXC driver use; each gets a private tmpfs.
PRIVATE_DIRS = ('/run/libvirt', '/var/lib/libvirt', '/var/log/libvirt',
                '/var/cache/libvirt', '/etc/libvirt')
# Programs libvirt starts that outlive it unless stopped.
LIBVIRT_PROGRAMS = ('libvirtd', 'libvirt_lxc', 'dnsmasq')
MACHINE_CGROUPS = '/sys/fs/cgroup/*/machine'

LIBVIRTD_CONF = """\
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_group = "root"
log_outputs = "3:file:{log}"
"""


class PrivateLibvirtd(object):
    """Start with ``start()``; ``uri`` is then ``lxc:///``."""

    uri = 'lxc:///'

    def __init__(self, work_dir=None):
        self._own_work_dir = work_dir is None
        self.work_dir = work_dir or tempfile.mkdtemp(prefix='libvirtd-')
        self.log_path = os.path.join(self.work_dir, 'libvirtd.log')
        self._mounts = []
        self._proc = None
        self._cgroups_before = set()

    # --- mounts -----------------------------------------------------------

    def _mount(self, source, target, fstype, data=None):
        os.makedirs(target, exist_ok=True)
        namespaces.mount(source, target, fstype, data=data)
        self._mounts.append(target)

    def _mount_sysfs_and_cgroups(self):
        controllers = sorted(_cgroup_v1_controllers())
        self._mount('sysfs', '/sys', 'sysfs')
        self._mount('cgroup', '/sys/fs/cgroup', 'tmpfs', data='mode=755')
        for options in controllers:
            # libvirt_lxc joins every hierarchy of /proc/self/cgroup, the
            # named systemd one included.
            named = options.startswith('name=')
            self._mount('cgroup',
                        '/sys/fs/cgroup/' + options.split('name=')[-1],
                        'cgroup', data='none,' + options if named else options)

    def _mount_private_dirs(self):
        for path in PRIVATE_DIRS:
            self._mount('tmpfs', path, 'tmpfs', data='mode=755')
        with open('/etc/libvirt/libvirtd.conf', 'w') as conf:
            conf.write(LIBVIRTD_CONF.format(log=self.log_path))
        for name in ('lxc.conf', 'libvirt.conf'):
            open(os.path.join('/etc/libvirt', name), 'w').close()
        install_hook()

    def _remove_machine_cgroups(self):
        # libvirt creates a 'machine' partition in every hierarchy and leaves
        # it behind; the hierarchies are the host's, so remove what we added.
        for top in set(glob.glob(MACHINE_CGROUPS)) - self._cgroups_before:
            for path, _dirs, _files in os.walk(top, topdown=False):
                try:
                    os.rmdir(path)
                except OSError as e:
                    # Busy: another private libvirtd's domains run there
                    # (tools/run-tests.sh removes what is left at the end).
                    LOG.debug('Keeping cgroup %s: %s', path, e)

    def _unmount_all(self):
        while self._mounts:
            target = self._mounts.pop()
            try:
                namespaces.umount(target)
            except OSError:
                namespaces.umount(target, detach=True)

    # --- lifecycle ----------------------------------------------------------

    def start(self, timeout=30):
        if not namespaces.in_private_namespaces():
            raise RuntimeError('PrivateLibvirtd must run in private '
                               'namespaces (namespaces.enter())')
        try:
            self._mount_sysfs_and_cgroups()
            self._mount_private_dirs()
            self._cgroups_before = set(glob.glob(MACHINE_CGROUPS))
            self._proc = subprocess.Popen(
                # Its default pid file, /run/libvirtd.pid, is the host's:
                # a second private libvirtd could not start.
                [LIBVIRTD, '-f', '/etc/libvirt/libvirtd.conf',
                 '-p', os.path.join(self.work_dir, 'libvirtd.pid')],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(self.work_dir, 'stderr'), 'wb'))
            self._wait_for_socket(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _wait_for_socket(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError('libvirtd exited with %s: %s' % (
                    self._proc.returncode, self.log_tail()))
            with socket.socket(socket.AF_UNIX) as sock:
                try:
                    sock.connect(SOCKET)
                    return
                except OSError:
                    time.sleep(0.05)
        raise RuntimeError('libvirtd did not open %s within %ss: %s' % (
            SOCKET, timeout, self.log_tail()))

    def log_tail(self, lines=20):
        for name in (self.log_path, os.path.join(self.work_dir, 'stderr')):
            try:
                with open(name) as f:
                    text = f.readlines()[-lines:]
                if text:
                    return ''.join(text)
            except OSError:
                pass
        return ''

    def stop(self):
        """Destroy every domain, stop libvirtd, undo the mounts. Idempotent."""
        if self._proc is not None and self._proc.poll() is None:
            _destroy_all_domains(self.uri)
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        _kill_leftover_programs()
        self._remove_machine_cgroups()
        self._unmount_all()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def install_hook(entry=libvirt_hook.ENTRY):
    """Link libvirt's lxc.d entry to this installation's hook program."""
    program = libvirt_hook.installed_program()
    if not os.access(program, os.X_OK):
        raise RuntimeError('%s is not an executable: install this package '
                           '(tools/bootstrap.sh) for the libvirt hook' %
                           program)
    os.makedirs(os.path.dirname(entry), exist_ok=True)
    os.symlink(program, entry)


def _cgroup_v1_controllers():
    """The cgroup v1 hierarchies to mount again (not unified, not systemd)."""
    controllers = set()
    with open('/proc/self/mountinfo') as mountinfo:
        for line in mountinfo:
            fields = line.split(' - ', 1)[1].split()
            if fields[0] != 'cgroup':
                continue
            options = [o for o in fields[2].split(',')
                       if o not in ('rw', 'ro')]
            if options:
                controllers.add(','.join(options))
    return controllers


def _destroy_all_domains(uri):
    import libvirt
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        return
    try:
        for dom in conn.listAllDomains():
            try:
                if dom.isActive():
                    dom.destroy()
                if dom.isPersistent():
                    dom.undefine()
            except libvirt.libvirtError as e:
                LOG.warning('Could not remove domain %s: %s', dom.name(), e)
    finally:
        conn.close()


def _kill_leftover_programs():
    """Kill libvirt programs started in this mount namespace.

    libvirt_lxc controllers and dnsmasq daemonise and outlive libvirtd; the
    host's own libvirt processes (another mount namespace) are left alone.
    """
    own_ns = os.readlink('/proc/self/ns/mnt')
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if os.readlink('/proc/%s/ns/mnt' % pid) != own_ns:
                continue
            with open('/proc/%s/comm' % pid) as f:
                comm = f.read().strip()
            if comm in LIBVIRT_PROGRAMS:
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue
