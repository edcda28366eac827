"""``nova-lxc-contrail check`` against described hosts and this host.

A described host is a directory tree with the files the checks read
(/proc/self/mounts, /proc/cgroups, /proc/config.gz, /sys/module, ...);
device nodes in it are symlinks to this machine's real nodes, so the
device checks open real devices.
"""

import argparse
import gzip
import os

import fixtures
from oslo_config import cfg
import testtools

from nova_lxc_contrail.cmd import check
from nova_lxc_contrail.cmd import cli
from nova_lxc_contrail.cmd import hostview
from nova_lxc_contrail.virt import libvirt_hook

V1_MOUNTS = """\
sysfs /sys sysfs rw 0 0
tmpfs /sys/fs/cgroup tmpfs rw,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/devices cgroup rw,relatime,devices 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/blkio cgroup rw,relatime,blkio 0 0
"""
V2_MOUNTS = """\
sysfs /sys sysfs rw 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0
"""
CGROUPS = """\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t0\t1\t1
cpu\t0\t1\t1
cpuacct\t0\t1\t1
blkio\t0\t1\t1
memory\t0\t1\t%(memory)s
devices\t0\t1\t1
freezer\t0\t1\t1
pids\t0\t1\t1
"""
KERNEL_CONFIG = """\
CONFIG_NAMESPACES=y
CONFIG_VETH=%(veth)s
CONFIG_BRIDGE=m
CONFIG_TUN=y
CONFIG_BLK_DEV_LOOP=y
# CONFIG_BLK_DEV_NBD is not set
"""


class DescribedHost(object):
    """Builds a host tree under a temporary directory."""

    def __init__(self, test):
        self.root = test.useFixture(fixtures.TempDir()).path
        self.write('/proc/sys/kernel/osrelease', '6.1.0-test\n')
        for ns in ('mnt', 'uts', 'ipc', 'pid', 'net', 'user'):
            self.write('/proc/self/ns/' + ns, '')
        self.write('/proc/sys/user/max_user_namespaces', '1000\n')
        self.write('/proc/self/mounts', V1_MOUNTS)
        self.write('/proc/cgroups', CGROUPS % {'memory': 1})
        self.kernel_config(veth='y')
        self.write('/proc/filesystems', 'nodev\tsysfs\nnodev\tfuse\n')

    def path(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def write(self, path, text):
        os.makedirs(os.path.dirname(self.path(path)), exist_ok=True)
        with open(self.path(path), 'w') as f:
            f.write(text)

    def remove(self, path):
        os.unlink(self.path(path))

    def kernel_config(self, **values):
        os.makedirs(self.path('/proc'), exist_ok=True)
        with gzip.open(self.path('/proc/config.gz'), 'wt') as f:
            f.write(KERNEL_CONFIG % values)

    def link(self, path, target):
        os.makedirs(os.path.dirname(self.path(path)), exist_ok=True)
        os.symlink(target, self.path(path))

    def tool(self, name, script='#!/bin/sh\necho "%s version 1.0"\n'):
        path = '/usr/bin/' + name
        self.write(path, script % name if '%s' in script else script)
        os.chmod(self.path(path), 0o755)

    @property
    def view(self):
        return hostview.HostView(self.root)


def load_conf(test, text=''):
    tmp = test.useFixture(fixtures.TempDir()).path
    path = os.path.join(tmp, 'nova.conf')
    with open(path, 'w') as f:
        f.write(text)
    conf = cfg.ConfigOpts()
    cli.load_config(argparse.Namespace(config_file=[path], config_dir=None),
                    conf)
    return conf


def by_name(results):
    return {r.name: r for r in results}


class DescribedHostTestCase(testtools.TestCase):
    """Checks run against a host described as a directory tree."""

    def setUp(self):
        super().setUp()
        self.host = DescribedHost(self)
        self.conf = load_conf(self)

    def run_check(self, check_function):
        return by_name(check_function(self.host.view, self.conf))


class TestKernelChecks(DescribedHostTestCase):

    def test_complete_host_passes(self):
        for fn in (check.check_namespaces, check.check_cgroups,
                   check.check_cgroup_layout):
            for result in fn(self.host.view, self.conf):
                self.assertEqual(check.PASS, result.status, result)

    def test_missing_pid_namespace_fails(self):
        self.host.remove('/proc/self/ns/pid')
        result = self.run_check(check.check_namespaces)['namespaces']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('pid', result.detail)
        self.assertIn('CONFIG_', result.remedy)

    def test_no_user_namespaces_warns_unless_idmaps_are_set(self):
        self.host.write('/proc/sys/user/max_user_namespaces', '0\n')
        result = self.run_check(check.check_namespaces)['namespaces']
        self.assertEqual(check.WARN, result.status)
        self.conf = load_conf(self, '[libvirt]\nuid_maps = 0:1000:100\n')
        result = self.run_check(check.check_namespaces)['namespaces']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('uid_maps', result.detail)

    def test_missing_required_v1_controller_fails_with_mount_remedy(self):
        self.host.write('/proc/self/mounts', V1_MOUNTS.replace(
            'cgroup /sys/fs/cgroup/devices cgroup rw,relatime,devices 0 0\n',
            ''))
        result = self.run_check(check.check_cgroups)['cgroup controllers']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('missing (required by libvirt-LXC): devices',
                      result.detail)
        self.assertIn('mount -t cgroup', result.remedy)

    def test_controller_disabled_at_boot_names_the_boot_option(self):
        self.host.write('/proc/cgroups', CGROUPS % {'memory': 0})
        self.host.write('/proc/self/mounts', V1_MOUNTS.replace(
            'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n',
            ''))
        result = self.run_check(check.check_cgroups)['cgroup controllers']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('cgroup_enable=memory', result.remedy)

    def test_missing_recommended_controller_warns(self):
        self.host.write('/proc/self/mounts', V1_MOUNTS.replace(
            'cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0\n',
            ''))
        result = self.run_check(check.check_cgroups)['cgroup controllers']
        self.assertEqual(check.WARN, result.status)
        self.assertIn('freezer', result.detail)

    def test_cgroup_v2_needs_memory_in_subtree(self):
        self.host.write('/proc/self/mounts', V2_MOUNTS)
        self.host.write('/sys/fs/cgroup/cgroup.controllers',
                        'cpuset cpu io memory pids\n')
        result = self.run_check(check.check_cgroups)['cgroup controllers']
        self.assertEqual(check.PASS, result.status, result)
        self.assertTrue(result.detail.startswith('v2:'))
        self.host.write('/sys/fs/cgroup/cgroup.controllers', 'cpu io pids\n')
        result = self.run_check(check.check_cgroups)['cgroup controllers']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('subtree_control', result.remedy)

    def test_container_remedy_points_at_lxc_config(self):
        self.host.write('/run/systemd/container', 'lxc\n')
        self.host.write('/proc/self/mounts', '')
        result = self.run_check(check.check_cgroups)['cgroup controllers']
        self.assertIn('nova-lxc-contrail lxc-config', result.remedy)

    def test_hybrid_layout(self):
        self.host.write('/proc/self/mounts', V1_MOUNTS +
                        'cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n')
        result = self.run_check(check.check_cgroup_layout)['cgroup layout']
        self.assertEqual(check.WARN, result.status)  # no libvirtd running
        self.assertIn('/sys/fs/cgroup/unified', result.remedy)
        # libvirtd running and seeing the cgroup2 mount: domains fail.
        self.host.write('/run/libvirt/libvirtd.pid', '4242\n')
        self.host.write('/proc/4242/comm', 'libvirtd\n')
        self.host.write(
            '/proc/4242/root/sys/fs/cgroup/unified/cgroup.controllers', '')
        result = self.run_check(check.check_cgroup_layout)['cgroup layout']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('pid 4242', result.detail)
        # libvirtd in a namespace without it.
        self.host.remove(
            '/proc/4242/root/sys/fs/cgroup/unified/cgroup.controllers')
        result = self.run_check(check.check_cgroup_layout)['cgroup layout']
        self.assertEqual(check.PASS, result.status)
        # A pid file of a process that is not libvirtd is ignored.
        self.host.write('/proc/4242/comm', 'bash\n')
        result = self.run_check(check.check_cgroup_layout)['cgroup layout']
        self.assertEqual(check.WARN, result.status)

    def test_kernel_features_from_config_modules_and_sysfs(self):
        self.host.kernel_config(veth='n')
        results = self.run_check(check.check_kernel_features)
        self.assertEqual(check.FAIL, results['veth'].status)
        self.assertIn('CONFIG_VETH', results['veth'].remedy)
        # CONFIG_BRIDGE=m, module not shipped under /lib/modules.
        self.assertEqual(check.WARN, results['bridge'].status)
        self.assertIn('modprobe bridge', results['bridge'].remedy)
        self.assertEqual(check.PASS, results['tun/tap'].status)
        self.host.write('/lib/modules/6.1.0-test/modules.dep',
                        'kernel/net/bridge/bridge.ko: kernel/net/llc.ko\n')
        self.host.write('/sys/module/veth/refcnt', '0\n')
        results = self.run_check(check.check_kernel_features)
        self.assertEqual(check.PASS, results['bridge'].status)
        self.assertIn('loaded on demand', results['bridge'].detail)
        self.assertEqual(check.PASS, results['veth'].status)

    def test_unknown_kernel_config_warns(self):
        self.host.remove('/proc/config.gz')
        results = self.run_check(check.check_kernel_features)
        self.assertEqual(check.WARN, results['veth'].status)
        self.assertIn('cannot tell', results['veth'].detail)


class TestDeviceChecks(DescribedHostTestCase):

    def test_missing_tun_fails_with_mknod(self):
        result = self.run_check(check.check_tun)['/dev/net/tun']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('mknod /dev/net/tun c 10 200', result.remedy)
        self.assertNotIn('lxc-config', result.remedy)
        self.host.write('/run/systemd/container', 'lxc\n')
        result = self.run_check(check.check_tun)['/dev/net/tun']
        self.assertIn('lxc-config', result.remedy)

    def test_wrong_device_fails(self):
        self.host.link('/dev/net/tun', '/dev/null')
        result = self.run_check(check.check_tun)['/dev/net/tun']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('c 1:3, not c 10:200', result.detail)

    def test_real_tun_passes(self):
        self.host.link('/dev/net/tun', '/dev/net/tun')
        result = self.run_check(check.check_tun)['/dev/net/tun']
        self.assertEqual(check.PASS, result.status, result)

    def test_qcow2_attach_needs_fuse_or_nbd(self):
        result = self.run_check(check.check_qcow2_attach)['qcow2 attach']
        # use_cow_images defaults to True: qcow2 disks are needed.
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('/dev/fuse', result.detail)
        self.assertIn('qemu-storage-daemon', result.detail)
        self.conf = load_conf(self, '[DEFAULT]\nuse_cow_images = false\n')
        result = self.run_check(check.check_qcow2_attach)['qcow2 attach']
        self.assertEqual(check.WARN, result.status)
        self.host.link('/dev/fuse', '/dev/fuse')
        self.host.tool('qemu-storage-daemon')
        result = self.run_check(check.check_qcow2_attach)['qcow2 attach']
        self.assertEqual(check.PASS, result.status, result)
        self.assertEqual('FUSE export', result.detail)

    def test_qemu_img_missing_broken_and_present(self):
        result = self.run_check(check.check_qemu_img)['qemu-img']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('qemu-utils', result.remedy)
        self.host.tool('qemu-img', '#!/bin/sh\nexit 1\n')
        result = self.run_check(check.check_qemu_img)['qemu-img']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('does not run', result.detail)
        self.host.remove('/usr/bin/qemu-img')
        self.host.tool('qemu-img')
        result = self.run_check(check.check_qemu_img)['qemu-img']
        self.assertEqual(check.PASS, result.status)
        self.assertEqual('qemu-img version 1.0', result.detail)

    def test_libvirt_driver_missing(self):
        result = self.run_check(
            check.check_libvirt_driver)['libvirt LXC driver']
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('libvirt-daemon-driver-lxc', result.remedy)
        self.host.write('/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/'
                        'libvirt_driver_lxc.so', '')
        self.host.write('/usr/lib/libvirt/libvirt_lxc', '')
        result = self.run_check(
            check.check_libvirt_driver)['libvirt LXC driver']
        self.assertEqual(check.PASS, result.status)


class TestLibvirtHookCheck(DescribedHostTestCase):

    def setUp(self):
        super().setUp()
        self.program = libvirt_hook.installed_program()
        self.host.write(self.program, '#!/bin/sh\n')
        os.chmod(self.host.path(self.program), 0o755)

    def result(self):
        return self.run_check(check.check_libvirt_hook)['libvirt lxc hook']

    def assertRemedy(self, result):
        self.assertEqual(
            'ln -sfn %s %s, then systemctl reload libvirtd (or virtlxcd): '
            'libvirt reads which drivers have hooks at start and on SIGHUP'
            % (self.program, libvirt_hook.ENTRY), result.remedy)

    def test_missing_entry_fails_with_the_link_to_make(self):
        result = self.result()
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('no /etc/libvirt/hooks/lxc.d/nova-lxc-contrail: '
                      'containers start with MTU 1500', result.detail)
        self.assertRemedy(result)

    def test_entry_linking_to_this_installation_passes(self):
        self.host.link(libvirt_hook.ENTRY, self.host.path(self.program))
        result = self.result()
        self.assertEqual(check.PASS, result.status, result)
        self.assertEqual('%s -> %s' % (libvirt_hook.ENTRY, self.program),
                         result.detail)

    def test_dangling_or_not_executable_entry_fails(self):
        self.host.link(libvirt_hook.ENTRY, self.host.path('/gone'))
        result = self.result()
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('is not an executable program: libvirt does not run '
                      'it', result.detail)
        self.assertRemedy(result)
        self.host.remove(libvirt_hook.ENTRY)
        self.host.write(libvirt_hook.ENTRY, '#!/bin/sh\n')
        self.assertEqual(check.FAIL, self.result().status)

    def test_another_program_warns(self):
        self.host.tool('other-hook')
        self.host.link(libvirt_hook.ENTRY,
                       self.host.path('/usr/bin/other-hook'))
        result = self.result()
        self.assertEqual(check.WARN, result.status)
        self.assertIn("runs %s, not this installation's %s" % (
            self.host.path('/usr/bin/other-hook'), self.program),
            result.detail)
        self.assertRemedy(result)


class TestNovaConfChecks(testtools.TestCase):

    def run_checks(self, text):
        conf = load_conf(self, text)
        return by_name(check.run_checks(conf, hostview.HostView('/'),
                                        groups=('nova',)))

    def test_unconfigured_nova_fails_with_the_settings_to_write(self):
        results = self.run_checks('')
        self.assertEqual(check.FAIL, results['compute_driver'].status)
        self.assertIn('compute_driver = lxc_contrail.LxcContrailDriver',
                      results['compute_driver'].remedy)
        self.assertEqual(check.FAIL, results['[libvirt] virt_type'].status)
        self.assertIn('virt_type = lxc', results['[libvirt] virt_type'].remedy)

    def test_rbd_images_fail(self):
        results = self.run_checks('[libvirt]\nimages_type = rbd\n')
        self.assertEqual(check.FAIL, results['[libvirt] images_type'].status)

    def test_vif_driver_must_be_a_libvirt_vif_driver(self):
        results = self.run_checks(
            '[libvirt]\nvif_driver = nova.virt.libvirt.vif.'
            'LibvirtGenericVIFDriver\n')
        self.assertEqual(check.PASS, results['[libvirt] vif_driver'].status)
        results = self.run_checks(
            '[libvirt]\nvif_driver = collections.OrderedDict\n')
        self.assertEqual(check.FAIL, results['[libvirt] vif_driver'].status)
        self.assertIn('LibvirtGenericVIFDriver',
                      results['[libvirt] vif_driver'].detail)
        results = self.run_checks('[libvirt]\nvif_driver = no.such.Class\n')
        self.assertEqual(check.FAIL, results['[libvirt] vif_driver'].status)

    def test_virt_type_lxc_passes(self):
        results = self.run_checks('[libvirt]\nvirt_type = lxc\n')
        self.assertEqual(check.PASS, results['[libvirt] virt_type'].status)


class TestPortsDirCheck(testtools.TestCase):

    def test_missing_and_present(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        ports = os.path.join(tmp, 'ports')
        conf = load_conf(self, '[lxc_contrail]\nports_dir = %s\n' % ports)
        host = hostview.HostView('/')
        result = check.check_ports_dir(host, conf)[0]
        # The first plug creates it (its parent is writable here).
        self.assertEqual(check.WARN, result.status)
        self.assertIn('the first plug creates it', result.detail)
        self.assertIn('install -d', result.remedy)
        os.mkdir(ports, 0o755)
        with open(os.path.join(ports, 'x'), 'w'):
            pass
        result = check.check_ports_dir(host, conf)[0]
        self.assertEqual(check.PASS, result.status, result)
        self.assertIn('1 port files', result.detail)

    def test_writable_by(self):
        import pwd
        st = os.stat_result((0o40755, 0, 0, 0, 1000, 1000, 0, 0, 0, 0))
        owner = pwd.struct_passwd(('nova', 'x', 1000, 1000, '', '/', ''))
        other = pwd.struct_passwd(('other', 'x', 1001, 1001, '', '/', ''))
        root = pwd.struct_passwd(('root', 'x', 0, 0, '', '/', ''))
        self.assertTrue(check._writable_by(st, owner))
        self.assertFalse(check._writable_by(st, other))
        self.assertTrue(check._writable_by(st, root))


class TestRunAndRender(testtools.TestCase):

    def test_a_crashing_check_becomes_a_warning(self):
        def broken(host, conf):
            raise RuntimeError('boom')
        self.patch(check, 'CHECKS', (broken,))
        self.patch(check, 'CHECK_GROUPS', {broken: 'kernel'})
        results = check.run_checks(load_conf(self), hostview.HostView('/'))
        self.assertEqual([check.WARN], [r.status for r in results])
        self.assertIn('boom', results[0].detail)

    def test_render_shows_remedies_and_verdict(self):
        results = [
            check.Result('kernel', 'veth', check.PASS, 'built in', ''),
            check.Result('devices', '/dev/net/tun', check.FAIL, 'missing',
                         'mknod /dev/net/tun c 10 200'),
        ]
        text = check.render(results)
        self.assertIn('-> mknod /dev/net/tun c 10 200', text)
        self.assertIn('2 checks: 1 passed, 0 warnings, 1 failed: this host '
                      'cannot run LXC instances', text)

    def test_groups_are_filtered(self):
        results = check.run_checks(load_conf(self), hostview.HostView('/'),
                                   groups=('kernel',))
        self.assertEqual({'kernel'}, {r.group for r in results})


class TestAgentCheck(testtools.TestCase):

    def test_unreachable_agent_is_a_warning_with_the_reason(self):
        import socket
        # A port nobody listens on: bound, never listening, refuses.
        with socket.socket() as reserved:
            reserved.bind(('127.0.0.1', 0))
            url = 'http://127.0.0.1:%d' % reserved.getsockname()[1]
            conf = load_conf(self, '[lxc_contrail]\nagent_url = %s\n' % url)
            result = check.check_agent(hostview.HostView('/'), conf)[0]
        self.assertEqual(check.WARN, result.status)
        self.assertIn('Connection refused', result.detail)
        self.assertIn('replays', result.detail)

    def test_live_agent_passes(self):
        from nova_lxc_contrail.standin import agent as standin_agent
        tmp = self.useFixture(fixtures.TempDir()).path
        standin = standin_agent.AgentStandin(tmp)
        self.addCleanup(standin.stop)
        standin.start()
        conf = load_conf(self, '[lxc_contrail]\nagent_url = %s\n' %
                         standin.url)
        result = check.check_agent(hostview.HostView('/'), conf)[0]
        self.assertEqual(check.PASS, result.status, result)


class TestHostViewMounts(testtools.TestCase):

    def test_covered_mounts_are_not_seen(self):
        host = DescribedHost(self)
        host.write('/proc/self/mounts', V1_MOUNTS +
                   'cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n'
                   'sysfs /sys sysfs rw 0 0\n'
                   'cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n')
        targets = [m.target for m in host.view.mounts()]
        self.assertEqual(['/sys', '/sys/fs/cgroup/memory'], targets)
        conf = load_conf(self)
        result = check.check_cgroup_layout(host.view, conf)[0]
        self.assertEqual(check.PASS, result.status)
        self.assertEqual('v1', result.detail)
