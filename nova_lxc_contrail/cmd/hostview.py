"""Read-only view of a host's kernel, devices and tools, for ``check``.

Everything is read through files under ``root`` (``/`` on a real host), so
the checks are plain Python and a test can point them at a directory tree
that describes a host lacking a feature.
"""

import collections
import gzip
import os
import stat

Mount = collections.namedtuple('Mount', 'source target fstype options')

# Directories where tools live besides $PATH (nova-compute's PATH may be
# short, e.g. under systemd).
TOOL_DIRS = ('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin',
             '/sbin', '/bin')


class HostView(object):

    def __init__(self, root='/'):
        self.root = root

    def path(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def read(self, path):
        """Text of ``path``, or None when it cannot be read."""
        try:
            with open(self.path(path), 'rb') as f:
                data = f.read()
        except OSError:
            return None
        if path.endswith('.gz'):
            data = gzip.decompress(data)
        return data.decode('utf-8', 'replace')

    def exists(self, path):
        return os.path.lexists(self.path(path))

    def isdir(self, path):
        return os.path.isdir(self.path(path))

    def listdir(self, path):
        try:
            return sorted(os.listdir(self.path(path)))
        except OSError:
            return []

    def device_numbers(self, path):
        """(kind, major, minor) of a device node, kind 'c' or 'b'; or None."""
        try:
            st = os.stat(self.path(path))
        except OSError:
            return None
        if stat.S_ISCHR(st.st_mode):
            kind = 'c'
        elif stat.S_ISBLK(st.st_mode):
            kind = 'b'
        else:
            return None
        return kind, os.major(st.st_rdev), os.minor(st.st_rdev)

    def open_error(self, path, flags=os.O_RDWR):
        """None when ``path`` opens with ``flags``, else the OSError.

        Opening /dev/net/tun, /dev/fuse or /dev/loop-control creates
        nothing: only ioctls on the open file would.
        """
        try:
            fd = os.open(self.path(path), flags | os.O_CLOEXEC)
        except OSError as e:
            return e
        os.close(fd)
        return None

    def which(self, name):
        dirs = os.environ.get('PATH', '').split(os.pathsep) + list(TOOL_DIRS)
        for directory in dirs:
            if not directory:
                continue
            candidate = self.path(os.path.join(directory, name))
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    # --- kernel -------------------------------------------------------------

    def kernel_release(self):
        release = self.read('/proc/sys/kernel/osrelease')
        return release.strip() if release else os.uname().release

    def kernel_config(self):
        """{'CONFIG_X': 'y'|'m'|value} of the running kernel, or None."""
        text = (self.read('/proc/config.gz') or
                self.read('/boot/config-%s' % self.kernel_release()))
        if text is None:
            return None
        config = {}
        for line in text.splitlines():
            if line.startswith('CONFIG_') and '=' in line:
                key, value = line.split('=', 1)
                config[key] = value.strip('"')
            elif line.startswith('# CONFIG_') and 'is not set' in line:
                config[line.split()[1]] = 'n'
        return config

    def module_loaded(self, module):
        # Built-in drivers with parameters show up here too.
        return self.exists('/sys/module/%s' % module)

    def module_shipped(self, module):
        """'builtin', 'module' or None from /lib/modules/<release>."""
        base = '/lib/modules/%s/' % self.kernel_release()
        wanted = '/%s.ko' % module
        for name, answer in (('modules.builtin', 'builtin'),
                             ('modules.dep', 'module')):
            text = self.read(base + name) or ''
            for line in text.splitlines():
                entry = line.split(':', 1)[0]
                if wanted in entry.replace('-', '_'):
                    return answer
        return None

    def filesystems(self):
        text = self.read('/proc/filesystems') or ''
        return {line.split()[-1] for line in text.splitlines() if line.split()}

    def mounts(self):
        """The mounts this process sees, in mount order.

        A mount covered by a later one on the same or a parent path is
        listed by the kernel but invisible: it is left out.
        """
        text = self.read('/proc/self/mounts') or ''
        mounts = []
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 4:
                mounts.append(Mount(fields[0], _unescape(fields[1]),
                                    fields[2], set(fields[3].split(','))))
        return [m for i, m in enumerate(mounts)
                if not any(_covers(later.target, m.target)
                           for later in mounts[i + 1:])]

    def cgroups_enabled(self):
        """{controller: enabled} from /proc/cgroups."""
        enabled = {}
        for line in (self.read('/proc/cgroups') or '').splitlines():
            fields = line.split()
            if len(fields) == 4 and not line.startswith('#'):
                enabled[fields[0]] = fields[3] == '1'
        return enabled

    def pid_of(self, pidfiles, names):
        """The live pid in one of ``pidfiles`` running one of ``names``."""
        for pidfile in pidfiles:
            text = (self.read(pidfile) or '').strip()
            if text.isdigit():
                comm = (self.read('/proc/%s/comm' % text) or '').strip()
                if comm in names:
                    return int(text)
        return None


def _covers(upper, lower):
    return lower == upper or lower.startswith(upper.rstrip('/') + '/')


def _unescape(path):
    # /proc/self/mounts escapes space, tab, newline and backslash in octal.
    for code, char in (('\\040', ' '), ('\\011', '\t'), ('\\012', '\n'),
                       ('\\134', '\\')):
        path = path.replace(code, char)
    return path
