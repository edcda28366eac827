"""``nova-lxc-contrail check``: can this host run LXC instances?

Each check returns one or more ``Result`` rows: pass, warn (works, with a
caveat) or FAIL (an LXC instance cannot start or has no network), with the
remedy for anything that is not a pass. The command exits 1 on any FAIL.
Checks read the host through ``HostView``; only the libvirt and agent
checks talk to daemons.
"""

import collections
import errno
import glob
import importlib.metadata
import importlib.util
import os
import pwd
import subprocess

from oslo_log import log as logging

from nova_lxc_contrail.cmd import hostview
from nova_lxc_contrail.cmd import libvirt_ro
from nova_lxc_contrail.cmd import output
from nova_lxc_contrail.virt import libvirt_hook

LOG = logging.getLogger(__name__)

PASS, WARN, FAIL = 'pass', 'warn', 'FAIL'

Result = collections.namedtuple('Result', 'group name status detail remedy')

EXPECTED_COMPUTE_DRIVER = 'lxc_contrail.LxcContrailDriver'
OS_VIF_PLUGIN = 'lxc_contrail'
NOVA_USER = 'nova'
LXC_CONFIG_HINT = ('on the LXC host, add the keys printed by '
                   '`nova-lxc-contrail lxc-config` to this container\'s '
                   'config and restart it')

REQUIRED_NAMESPACES = ('mnt', 'uts', 'ipc', 'pid', 'net')
# libvirt's LXC driver: required and recommended controllers.
CGROUP_V1_REQUIRED = ('cpuacct', 'memory', 'devices')
CGROUP_V1_RECOMMENDED = ('cpu', 'freezer', 'blkio')
# On cgroup v2, devices are filtered by BPF and CPU accounting is in
# every group's cpu.stat: only memory must be delegated.
CGROUP_V2_REQUIRED = ('memory',)
CGROUP_V2_RECOMMENDED = ('cpu', 'io', 'pids')
CGROUP_ROOT = '/sys/fs/cgroup'

LIBVIRT_DRIVER_GLOBS = (
    '/usr/lib/*/libvirt/connection-driver/libvirt_driver_lxc.so',
    '/usr/lib64/libvirt/connection-driver/libvirt_driver_lxc.so',
    '/usr/lib/libvirt/connection-driver/libvirt_driver_lxc.so')
LIBVIRT_LXC_HELPERS = ('/usr/lib/libvirt/libvirt_lxc',
                       '/usr/libexec/libvirt_lxc')
LIBVIRTD_PIDFILES = ('/run/libvirt/libvirtd.pid', '/run/libvirtd.pid',
                     '/var/run/libvirtd.pid', '/run/virtlxcd.pid')
LIBVIRTD_NAMES = ('libvirtd', 'virtlxcd')
LIBVIRT_TIMEOUT = 10.0


def _ok(group, name, detail):
    return Result(group, name, PASS, detail, '')


def container_kind(host):
    """Name of the container technology this host runs in, or None."""
    kind = (host.read('/run/systemd/container') or '').strip()
    if kind:
        return kind
    environ = host.read('/proc/1/environ') or ''
    for item in environ.split('\0'):
        if item.startswith('container='):
            return item.split('=', 1)[1] or 'container'
    if host.exists('/.dockerenv'):
        return 'docker'
    return None


# --- kernel -----------------------------------------------------------------

def check_namespaces(host, conf):
    missing = [ns for ns in REQUIRED_NAMESPACES
               if not host.exists('/proc/self/ns/%s' % ns)]
    if missing:
        return [Result('kernel', 'namespaces', FAIL,
                       'missing: %s' % ' '.join(missing),
                       'use a kernel with CONFIG_NAMESPACES and '
                       'CONFIG_{MNT,UTS,IPC,PID,NET}_NS')]
    user_ns = (host.exists('/proc/self/ns/user') and
               (host.read('/proc/sys/user/max_user_namespaces') or
                '1').strip() != '0')
    detail = ' '.join(REQUIRED_NAMESPACES + (('user',) if user_ns else ()))
    if user_ns:
        return [_ok('kernel', 'namespaces', detail)]
    idmaps = conf.libvirt.uid_maps or conf.libvirt.gid_maps
    return [Result('kernel', 'namespaces', FAIL if idmaps else WARN,
                   detail + '; no user namespaces' +
                   (' but [libvirt] uid_maps/gid_maps are set' if idmaps
                    else ' (only needed for [libvirt] uid_maps)'),
                   'enable CONFIG_USER_NS and set '
                   'user.max_user_namespaces > 0 (sysctl)')]


def _cgroup_layout(host):
    """(v1 controllers, cgroup2 mounts) as mounted in this namespace."""
    known = set(host.cgroups_enabled())
    v1 = set()
    v2_mounts = []
    for mount in host.mounts():
        if mount.fstype == 'cgroup':
            v1 |= mount.options & known
        elif mount.fstype == 'cgroup2':
            v2_mounts.append(mount)
    return v1, v2_mounts


def check_cgroups(host, conf):
    enabled = host.cgroups_enabled()
    v1, v2_mounts = _cgroup_layout(host)
    unified = [m for m in v2_mounts if m.target == CGROUP_ROOT]
    if unified and not v1:
        text = host.read(CGROUP_ROOT + '/cgroup.controllers') or ''
        have = set(text.split())
        required, recommended = CGROUP_V2_REQUIRED, CGROUP_V2_RECOMMENDED
        layout = 'v2'
        remedy = ('enable them for child groups: echo "+memory +cpu +io '
                  '+pids" > /sys/fs/cgroup/cgroup.subtree_control')
    else:
        have = v1
        required, recommended = CGROUP_V1_REQUIRED, CGROUP_V1_RECOMMENDED
        layout = 'v1'
        remedy = ('mount each missing controller, e.g. mkdir '
                  '/sys/fs/cgroup/memory && mount -t cgroup -o memory '
                  'cgroup /sys/fs/cgroup/memory (systemd and cgconfig do '
                  'it at boot)')
    missing = [c for c in required if c not in have]
    absent = [c for c in recommended if c not in have]
    disabled = [c for c in missing + absent if enabled.get(c) is False]
    if disabled:
        remedy = ('boot with cgroup_enable=%s (disabled on the kernel '
                  'command line); then ' % ','.join(disabled) + remedy)
    if container_kind(host):
        remedy += '; in a container: ' + LXC_CONFIG_HINT
    detail = '%s: %s' % (layout, ' '.join(
        sorted(c for c in have if c in required + recommended)) or 'none')
    if missing:
        return [Result('kernel', 'cgroup controllers', FAIL,
                       '%s; missing (required by libvirt-LXC): %s' % (
                           detail, ' '.join(missing)), remedy)]
    if absent:
        return [Result('kernel', 'cgroup controllers', WARN,
                       '%s; missing (recommended): %s' % (
                           detail, ' '.join(absent)), remedy)]
    return [_ok('kernel', 'cgroup controllers', detail)]


def check_cgroup_layout(host, conf):
    """libvirt_lxc fails on hybrid hosts where libvirtd sees cgroup2."""
    v1, v2_mounts = _cgroup_layout(host)
    hybrid = [m.target for m in v2_mounts if m.target != CGROUP_ROOT]
    if not (v1 and hybrid):
        return [_ok('kernel', 'cgroup layout',
                    'v1' if v1 else 'v2 (unified)')]
    remedy = ('start libvirtd in a mount namespace where %s is unmounted, '
              'or boot with systemd.unified_cgroup_hierarchy=0 '
              'systemd.legacy_systemd_cgroup_controller=1' % hybrid[0])
    pid = host.pid_of(LIBVIRTD_PIDFILES, LIBVIRTD_NAMES)
    if pid is None:
        return [Result('kernel', 'cgroup layout', WARN,
                       'hybrid (v1 + cgroup2 at %s); libvirtd is not '
                       'running, cannot tell what it sees' % hybrid[0],
                       'libvirt_lxc fails to start domains when libvirtd '
                       'sees the cgroup2 mount: ' + remedy)]
    # /proc/PID/root resolves paths in libvirtd's own mount namespace.
    if host.exists('/proc/%d/root%s/cgroup.controllers' % (pid, hybrid[0])):
        return [Result('kernel', 'cgroup layout', FAIL,
                       'hybrid; libvirtd (pid %d) sees the cgroup2 mount '
                       'at %s: libvirt_lxc fails to start domains' % (
                           pid, hybrid[0]), remedy)]
    return [_ok('kernel', 'cgroup layout',
                'hybrid; libvirtd (pid %d) runs without the cgroup2 '
                'mount' % pid)]


def _kernel_feature(host, name, config_key, module):
    config = host.kernel_config()
    state = config.get(config_key) if config is not None else None
    if state == 'y':
        return _ok('kernel', name, 'built in (%s=y)' % config_key)
    if host.module_loaded(module):
        return _ok('kernel', name, 'module %s loaded' % module)
    shipped = host.module_shipped(module)
    if shipped == 'builtin':
        return _ok('kernel', name, 'built in')
    where = ('on the LXC host (a container cannot load modules)'
             if container_kind(host) else '')
    if shipped == 'module':
        return _ok('kernel', name, 'module %s, loaded on demand' % module)
    if state == 'm':
        return Result('kernel', name, WARN,
                      'module %s (%s=m) not loaded and not found under '
                      '/lib/modules/%s' % (module, config_key,
                                           host.kernel_release()),
                      ('modprobe %s %s' % (module, where)).strip())
    if config is not None:
        return Result('kernel', name, FAIL,
                      'kernel built without %s' % config_key,
                      'use a kernel with %s=y or =m' % config_key)
    return Result('kernel', name, WARN,
                  'cannot tell: no kernel config (/proc/config.gz) and '
                  'module %s not loaded' % module,
                  ('modprobe %s %s' % (module, where)).strip())


def check_kernel_features(host, conf):
    return [_kernel_feature(host, 'veth', 'CONFIG_VETH', 'veth'),
            _kernel_feature(host, 'bridge', 'CONFIG_BRIDGE', 'bridge'),
            _kernel_feature(host, 'tun/tap', 'CONFIG_TUN', 'tun')]


# --- devices ----------------------------------------------------------------

def _device(host, path, kind, major, minor, name):
    """None when ``path`` is the expected device and opens, else a Result."""
    numbers = host.device_numbers(path)
    expected = '%s %d:%d' % (kind, major, minor)
    in_container = container_kind(host)
    if numbers is None:
        remedy = 'mknod %s %s %d %d && chmod 0666 %s' % (
            path, kind, major, minor, path)
        if in_container:
            remedy += '; ' + LXC_CONFIG_HINT
        return Result('devices', name, FAIL, '%s missing' % path, remedy)
    if numbers != (kind, major, minor):
        return Result('devices', name, FAIL,
                      '%s is %s %d:%d, not %s' % ((path,) + numbers +
                                                  (expected,)),
                      'replace it: rm %s && mknod %s %s %d %d' % (
                          path, path, kind, major, minor))
    error = host.open_error(path)
    if error is None:
        return None
    if error.errno in (errno.EPERM, errno.EACCES) and in_container:
        remedy = 'allow %s rwm in the devices cgroup: %s' % (
            expected, LXC_CONFIG_HINT)
    elif error.errno in (errno.EPERM, errno.EACCES):
        remedy = ('run as root (nova-compute\'s privsep helpers open it as '
                  'root); check the devices cgroup allows %s' % expected)
    else:
        remedy = 'the driver behind %s is missing: load it' % expected
    return Result('devices', name, FAIL,
                  'cannot open %s: %s' % (path, error.strerror), remedy)


def check_tun(host, conf):
    failure = _device(host, '/dev/net/tun', 'c', 10, 200, '/dev/net/tun')
    return [failure or _ok('devices', '/dev/net/tun', 'c 10:200, opens')]


def check_loop(host, conf):
    failure = _device(host, '/dev/loop-control', 'c', 10, 237,
                      'loop devices')
    if failure:
        return [failure]
    loops = [d for d in host.listdir('/sys/block') if d.startswith('loop')]
    free = [d for d in loops
            if not host.exists('/sys/block/%s/loop/backing_file' % d)]
    nodes = [d for d in host.listdir('/dev')
             if d.startswith('loop') and d[4:].isdigit()]
    if not nodes:
        return [Result('devices', 'loop devices', WARN,
                       'loop-control opens but /dev has no loopN nodes',
                       'create them (mknod /dev/loopN b 7 N)' +
                       ('; ' + LXC_CONFIG_HINT if container_kind(host)
                        else ''))]
    return [_ok('devices', 'loop devices',
                'loop-control opens, %d loop devices, %d free' % (
                    len(loops), len(free)))]


def _qcow2_needed(conf):
    images_type = conf.libvirt.images_type
    if images_type == 'default':
        return conf.use_cow_images
    return images_type == 'qcow2'


def check_qcow2_attach(host, conf):
    """qcow2 images reach loop through a FUSE export or through nbd."""
    fuse_missing = []
    if 'fuse' not in host.filesystems():
        fuse_missing.append('fuse filesystem')
    if _device(host, '/dev/fuse', 'c', 10, 229, 'fuse'):
        fuse_missing.append('/dev/fuse')
    if not host.which('qemu-storage-daemon'):
        fuse_missing.append('qemu-storage-daemon')
    nbd_missing = []
    if not (host.module_loaded('nbd') or host.module_shipped('nbd') or
            (host.kernel_config() or {}).get('CONFIG_BLK_DEV_NBD') in
            ('y', 'm')):
        nbd_missing.append('nbd module')
    if not host.which('qemu-nbd'):
        nbd_missing.append('qemu-nbd')
    paths = [name for name, missing in (('FUSE export', fuse_missing),
                                        ('nbd', nbd_missing))
             if not missing]
    if paths:
        return [_ok('devices', 'qcow2 attach', ' and '.join(paths))]
    needed = _qcow2_needed(conf)
    return [Result('devices', 'qcow2 attach', FAIL if needed else WARN,
                   'no FUSE (missing %s) and no nbd (missing %s)%s' % (
                       ', '.join(fuse_missing), ', '.join(nbd_missing),
                       '' if needed else '; raw images still work'),
                   'install fuse3 and qemu-system-common '
                   '(qemu-storage-daemon) and make /dev/fuse (c 10:229) '
                   'usable' +
                   ('; ' + LXC_CONFIG_HINT if container_kind(host) else ''))]


# --- tools and libvirt ------------------------------------------------------

def check_qemu_img(host, conf):
    path = host.which('qemu-img')
    if not path:
        return [Result('tools', 'qemu-img', FAIL, 'not found',
                       'apt-get install qemu-utils (Debian, Ubuntu); '
                       'dnf install qemu-img (Fedora, RHEL)')]
    try:
        out = subprocess.run([path, '--version'], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return [Result('tools', 'qemu-img', FAIL,
                       '%s does not run: %s' % (path, e),
                       'reinstall qemu-utils')]
    return [_ok('tools', 'qemu-img', (out.splitlines() or [path])[0])]


def check_libvirt_driver(host, conf):
    drivers = [p for pattern in LIBVIRT_DRIVER_GLOBS
               for p in glob.glob(host.path(pattern))]
    helpers = [p for p in LIBVIRT_LXC_HELPERS if host.exists(p)]
    if drivers and helpers:
        return [_ok('libvirt', 'libvirt LXC driver', 'installed')]
    missing = ([] if drivers else ['libvirt_driver_lxc.so']) + (
        [] if helpers else ['libvirt_lxc'])
    return [Result('libvirt', 'libvirt LXC driver', FAIL,
                   'missing: %s' % ', '.join(missing),
                   'apt-get install libvirt-daemon-driver-lxc (Debian, '
                   'Ubuntu) or dnf install libvirt-daemon-driver-lxc; then '
                   'restart libvirtd')]


def _describe_connection(conn):
    version = conn.getLibVersion()
    return conn.getType(), '%d.%d.%d' % (
        version // 1000000, version // 1000 % 1000, version % 1000)


def check_libvirt_connection(host, conf):
    uri = libvirt_ro.uri_of(conf)
    try:
        kind, version = libvirt_ro.query(uri, _describe_connection,
                                         LIBVIRT_TIMEOUT)
    except libvirt_ro.LibvirtUnavailable as e:
        return [Result('libvirt', 'libvirt connection', FAIL, str(e),
                       'start libvirtd (systemctl start libvirtd) or '
                       'virtlxcd, and check [libvirt] connection_uri')]
    if kind != 'LXC':
        return [Result('libvirt', 'libvirt connection', FAIL,
                       '%s reaches the %s driver, not LXC' % (uri, kind),
                       'set [libvirt] connection_uri = lxc:/// or leave '
                       'it empty')]
    return [_ok('libvirt', 'libvirt connection',
                '%s (libvirt %s)' % (uri, version))]


def check_libvirt_hook(host, conf):
    """lxc.d holds this installation's hook, which sets the network MTU."""
    entry = libvirt_hook.ENTRY
    program = libvirt_hook.installed_program()
    name = 'libvirt lxc hook'
    remedy = ('ln -sfn %s %s, then systemctl reload libvirtd (or virtlxcd):'
              ' libvirt reads which drivers have hooks at start and on '
              'SIGHUP' % (program, entry))
    path = host.path(entry)
    if not os.path.lexists(path):
        return [Result('libvirt', name, FAIL,
                       'no %s: containers start with MTU 1500 on their '
                       'vRouter interfaces, not the network MTU' % entry,
                       remedy)]
    target = os.path.realpath(path)
    if not (os.path.isfile(target) and os.access(target, os.X_OK)):
        return [Result('libvirt', name, FAIL,
                       '%s -> %s is not an executable program: libvirt '
                       'does not run it' % (entry, target), remedy)]
    if target != os.path.realpath(host.path(program)):
        return [Result('libvirt', name, WARN,
                       '%s runs %s, not this installation\'s %s' % (
                           entry, target, program), remedy)]
    return [_ok('libvirt', name, '%s -> %s' % (entry, program))]


# --- vRouter agent and ports dir --------------------------------------------

def _writable_by(st, user):
    """Can ``user`` (a pwd entry) create files in a dir with stat ``st``?"""
    if user.pw_uid == 0:
        return True
    import grp
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall()
                              if user.pw_name in g.gr_mem}
    if st.st_uid == user.pw_uid:
        return st.st_mode & 0o300 == 0o300
    if st.st_gid in groups:
        return st.st_mode & 0o030 == 0o030
    return st.st_mode & 0o003 == 0o003


def check_ports_dir(host, conf):
    path = conf.lxc_contrail.ports_dir
    try:
        nova_user = pwd.getpwnam(NOVA_USER)
    except KeyError:
        nova_user = None
    owner = ('%s:%s' % (nova_user.pw_name, nova_user.pw_name)
             if nova_user else 'root:root')
    remedy = 'install -d -o %s -m 0755 %s' % (owner, path)
    users = [pwd.getpwuid(os.geteuid())]
    if nova_user and nova_user.pw_uid != os.geteuid():
        users.append(nova_user)
    if not host.isdir(path):
        # The first plug creates it when it can: find the nearest parent.
        parent = os.path.dirname(path.rstrip('/'))
        while parent != '/' and not host.isdir(parent):
            parent = os.path.dirname(parent)
        st = os.stat(host.path(parent))
        denied = [u.pw_name for u in users if not _writable_by(st, u)]
        if denied:
            return [Result('agent', 'ports dir', FAIL,
                           '%s missing, and %s cannot create it in %s' % (
                               path, ', '.join(denied), parent), remedy)]
        return [Result('agent', 'ports dir', WARN,
                       '%s missing; the first plug creates it' % path,
                       remedy + ' (so that the vRouter agent finds it too)')]
    st = os.stat(host.path(path))
    denied = [u.pw_name for u in users if not _writable_by(st, u)]
    detail = '%s (mode %04o, owner uid %d)' % (path, st.st_mode & 0o7777,
                                               st.st_uid)
    if denied:
        return [Result('agent', 'ports dir', FAIL,
                       '%s not writable by %s' % (detail, ', '.join(denied)),
                       remedy)]
    files = [n for n in host.listdir(path) if not n.startswith('.')]
    return [_ok('agent', 'ports dir', '%s, writable by %s, %d port files' % (
        detail, ', '.join(u.pw_name for u in users), len(files)))]


def check_agent(host, conf):
    from nova_lxc_contrail.cmd import inventory

    url = conf.lxc_contrail.agent_url
    error = inventory.agent_error(conf)
    if error is None:
        return [_ok('agent', 'vRouter agent', 'answers at %s' % url)]
    return [Result('agent', 'vRouter agent', WARN,
                   '%s: %s; plugs still write port files, which the agent '
                   'replays when it starts' % (url, error),
                   'start the vRouter agent (systemctl start '
                   'contrail-vrouter-agent) and check [lxc_contrail] '
                   'agent_url')]


# --- nova.conf --------------------------------------------------------------

def check_compute_driver(host, conf):
    driver = conf.compute_driver
    if driver != EXPECTED_COMPUTE_DRIVER:
        return [Result('nova', 'compute_driver', FAIL,
                       'compute_driver = %s' % driver if driver
                       else 'compute_driver is not set',
                       'set [DEFAULT] compute_driver = %s in nova.conf' %
                       EXPECTED_COMPUTE_DRIVER)]
    if importlib.util.find_spec('nova.virt.lxc_contrail') is None:
        return [Result('nova', 'compute_driver', FAIL,
                       '%s set, but nova.virt.lxc_contrail is not installed '
                       'in nova\'s tree' % driver,
                       'pip install nova-lxc-contrail (a regular install: an '
                       'editable one cannot place nova/virt/lxc_contrail)')]
    return [_ok('nova', 'compute_driver', driver)]


def check_virt_type(host, conf):
    if conf.libvirt.virt_type == 'lxc':
        return [_ok('nova', '[libvirt] virt_type', 'lxc')]
    return [Result('nova', '[libvirt] virt_type', FAIL,
                   'virt_type = %s' % conf.libvirt.virt_type,
                   'set [libvirt] virt_type = lxc in nova.conf')]


def check_vif_driver(host, conf):
    from oslo_utils import importutils

    path = conf.libvirt.vif_driver
    try:
        cls = importutils.import_class(path)
        from nova.virt.libvirt import vif as libvirt_vif
        if not issubclass(cls, libvirt_vif.LibvirtGenericVIFDriver):
            raise TypeError('not a subclass of nova\'s '
                            'LibvirtGenericVIFDriver')
    except (ImportError, AttributeError, ValueError, TypeError) as e:
        return [Result('nova', '[libvirt] vif_driver', FAIL,
                       '%s: %s' % (path, e),
                       'unset [libvirt] vif_driver (default '
                       'nova_lxc_contrail.virt.vif.LxcContrailVIFDriver)')]
    return [_ok('nova', '[libvirt] vif_driver', path)]


def check_os_vif_plugin(host, conf):
    entry_points = [ep for ep in importlib.metadata.entry_points(
        group='os_vif') if ep.name == OS_VIF_PLUGIN]
    try:
        if not entry_points:
            raise ImportError('entry point os_vif:%s not registered' %
                              OS_VIF_PLUGIN)
        entry_points[0].load()
    except Exception as e:
        return [Result('nova', 'os-vif plugin', FAIL,
                       '%s: %s' % (OS_VIF_PLUGIN, e),
                       'reinstall nova-lxc-contrail in nova-compute\'s '
                       'Python environment')]
    return [_ok('nova', 'os-vif plugin', '%s (%s)' % (
        OS_VIF_PLUGIN, entry_points[0].value))]


def check_images_type(host, conf):
    images_type = conf.libvirt.images_type
    if images_type in ('rbd', 'ploop'):
        return [Result('nova', '[libvirt] images_type', FAIL,
                       '%s is not supported for LXC root filesystems' %
                       images_type,
                       'set [libvirt] images_type = default, raw, qcow2 '
                       'or flat')]
    return [_ok('nova', '[libvirt] images_type', '%s (use_cow_images=%s)' % (
        images_type, conf.use_cow_images))]


# --- user namespaces -------------------------------------------------------

USERNS_REMEDY = ('set [libvirt] uid_maps = 0:100000:65536 and gid_maps = '
                 '0:100000:65536 in nova.conf (a range no host user or '
                 'group has, e.g. one of /etc/subuid), then restart '
                 'nova-compute; instances get it at their next start')


def check_user_namespaces(host, conf):
    """Whether instances run in user namespaces, with valid maps."""
    from nova_lxc_contrail.disk import idmap

    try:
        maps = idmap.container_maps(conf.libvirt.uid_maps,
                                    conf.libvirt.gid_maps)
    except idmap.MapError as e:
        return [Result('nova', 'user namespaces', FAIL, str(e),
                       'fix the option; ' + USERNS_REMEDY)]
    if maps is None:
        return [Result('nova', 'user namespaces', WARN,
                       'instances run without a user namespace: root in a '
                       'container is close to root on this host',
                       USERNS_REMEDY)]
    uid, gid = idmap.host_id(maps[0], 0), idmap.host_id(maps[1], 0)
    instances = conf.instances_path
    blocked = _first_unsearchable(host, instances, uid, gid)
    if blocked:
        return [Result('nova', 'user namespaces', FAIL,
                       'the containers\' root (host uid %d) cannot search '
                       '%s, on the way to %s: every start fails'
                       % (uid, blocked, instances),
                       'chmod o+x %s' % blocked)]
    return [_ok('nova', 'user namespaces',
                'container root is host uid %d, gid %d (uid_maps %s, '
                'gid_maps %s)' % (uid, gid,
                                  ','.join(map(idmap.format_map, maps[0])),
                                  ','.join(map(idmap.format_map, maps[1]))))]


def _first_unsearchable(host, path, uid, gid):
    """The first directory from / to path (itself included) uid can't search.

    nova makes each instance dir below path; the driver gives the mapped
    root search on it.
    """
    parts = [p for p in os.path.abspath(path).split('/') if p]
    current = '/'
    for part in [None] + parts:
        if part is not None:
            current = os.path.join(current, part)
        try:
            st = os.stat(host.path(current))
        except OSError:
            return None             # nova creates what is missing
        bit = (0o100 if st.st_uid == uid else
               0o010 if st.st_gid == gid else 0o001)
        if not st.st_mode & bit:
            return current
    return None


def check_idmapped_mounts(host, conf):
    """Whether this kernel can give containers an idmapped rootfs."""
    from nova_lxc_contrail.disk import idmap

    supported, why = idmap.kernel_supports()
    userns = bool(conf.libvirt.uid_maps or conf.libvirt.gid_maps)
    method = conf.lxc_contrail.rootfs_idmap
    if supported:
        return [_ok('kernel', 'idmapped mounts',
                    'supported (kernel %s); ext4, xfs and btrfs root '
                    'filesystems get an idmapped mount%s' % (
                        os.uname().release,
                        '' if method != 'chown' else
                        ', but [lxc_contrail] rootfs_idmap = chown'))]
    if not userns:
        return [Result('kernel', 'idmapped mounts', WARN, why,
                       'only needed with [libvirt] uid_maps: use Linux '
                       '>= 5.12')]
    if method == 'mount':
        return [Result('kernel', 'idmapped mounts', FAIL,
                       why + ' and [lxc_contrail] rootfs_idmap = mount: '
                       'every start fails',
                       'use Linux >= 5.12, or set [lxc_contrail] '
                       'rootfs_idmap = auto (chown every file instead)')]
    return [Result('kernel', 'idmapped mounts', WARN,
                   why + ': every instance disk gets its owners chowned '
                   '(cost grows with the image; snapshots carry the '
                   'shifted owners)', 'use Linux >= 5.12')]


CHECKS = (
    check_namespaces, check_cgroups, check_cgroup_layout,
    check_kernel_features,
    check_tun, check_loop, check_qcow2_attach,
    check_qemu_img, check_libvirt_driver, check_libvirt_connection,
    check_libvirt_hook, check_ports_dir, check_agent,
    check_compute_driver, check_virt_type, check_vif_driver,
    check_os_vif_plugin, check_images_type,
    check_user_namespaces, check_idmapped_mounts,
)
GROUPS = ('kernel', 'devices', 'tools', 'libvirt', 'agent', 'nova')
# The group of each check, so that skipped groups never run.
CHECK_GROUPS = {
    check_namespaces: 'kernel', check_cgroups: 'kernel',
    check_cgroup_layout: 'kernel', check_kernel_features: 'kernel',
    check_tun: 'devices', check_loop: 'devices',
    check_qcow2_attach: 'devices', check_qemu_img: 'tools',
    check_libvirt_driver: 'libvirt', check_libvirt_connection: 'libvirt',
    check_libvirt_hook: 'libvirt',
    check_ports_dir: 'agent', check_agent: 'agent',
    check_compute_driver: 'nova', check_virt_type: 'nova',
    check_vif_driver: 'nova', check_os_vif_plugin: 'nova',
    check_images_type: 'nova',
    check_user_namespaces: 'nova', check_idmapped_mounts: 'kernel',
}


def run_checks(conf, host=None, groups=GROUPS):
    """Every Result of the checks of ``groups``, in a stable order."""
    host = host or hostview.HostView()
    results = []
    for check in CHECKS:
        group = CHECK_GROUPS[check]
        if group not in groups:
            continue
        try:
            results.extend(check(host, conf))
        except Exception as e:
            LOG.debug('Check %s failed', check.__name__, exc_info=True)
            results.append(Result(group, check.__name__[6:], WARN,
                                  'could not check: %s' % e,
                                  'rerun with --debug and report it'))
    return results


def render(results):
    rows = []
    for r in results:
        rows.append((r.group, r.name, r.status, r.detail))
        if r.remedy:
            rows.append(('', '', '', '  -> ' + r.remedy))
    failed = [r for r in results if r.status == FAIL]
    warned = [r for r in results if r.status == WARN]
    summary = '%d checks: %d passed, %d warnings, %d failed' % (
        len(results), len(results) - len(failed) - len(warned),
        len(warned), len(failed))
    if failed:
        summary += ': this host cannot run LXC instances'
    return '%s\n\n%s' % (
        output.table(('GROUP', 'CHECK', 'RESULT', 'DETAIL'), rows), summary)


def run(args, conf):
    groups = [g for g in (args.only or GROUPS) if g not in args.skip]
    results = run_checks(conf, groups=groups)
    failed = any(r.status == FAIL for r in results)
    if args.json:
        output.print_json({'ok': not failed,
                           'checks': [r._asdict() for r in results]})
    else:
        print(render(results))
    return 1 if failed else 0


EPILOG = """\
exit status: 0 when the host can run LXC instances (warnings allowed),
1 when any check failed, 2 on a usage or configuration error.

examples:
  nova-lxc-contrail check
  nova-lxc-contrail --config-file /etc/nova/nova-cpu.conf check
  nova-lxc-contrail check --only kernel --only devices --only tools
  nova-lxc-contrail check --skip nova --json \\
      | jq '.checks[] | select(.status != "pass")'
"""


def add_parser(subparsers):
    import argparse

    parser = subparsers.add_parser(
        'check', help='host preflight: can this host run LXC instances?',
        description='Check the kernel, devices, tools, libvirt, the vRouter '
                    'agent and nova.conf of this compute host, with the '
                    'remedy for every failure.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--json', action='store_true',
                        help='print the results as JSON.')
    parser.add_argument('--only', action='append', choices=GROUPS,
                        metavar='GROUP',
                        help='run only this group of checks (repeatable): '
                             '%s.' % ', '.join(GROUPS))
    parser.add_argument('--skip', action='append', choices=GROUPS,
                        default=[], metavar='GROUP',
                        help='skip this group of checks (repeatable).')
    parser.set_defaults(func=run, needs_config=True)
    return parser
