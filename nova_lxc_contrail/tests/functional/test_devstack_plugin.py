"""The DevStack plugin (devstack/), run the way DevStack runs it.

DevStack cannot run here (it clones from the internet), so
``devstack/run-phases.sh`` next to this file sources ``devstack/plugin.sh``
as stack.sh, unstack.sh and clean.sh do, under errexit (and nounset), with
stand-ins for DevStack's helpers (``devstack/standins.sh``). It runs in a
private mount namespace with a fresh tmpfs on /dev, so the host check's
mknod and device opens happen for real and die with the namespace, a
private copy of /etc/modprobe.d, which the real modprobe reads, and one of
/etc/systemd/system for the iscsid drop-in (systemctl, journalctl and, when
a test asks, systemd-detect-virt are stand-ins on PATH).

nova is real: a throwaway venv imports the real nova through a tree laid
out like DevStack's editable nova checkout, so the plugin's link of
``nova/virt/lxc_contrail`` lands there and the test's own venv is never
modified; nova-compute's start is nova's own ``load_compute_driver``.
"""

import configparser
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig

import fixtures
import nova
from oslo_config import cfg
from oslo_privsep import priv_context
import testtools

from nova_lxc_contrail import conf as nlc_conf
from nova_lxc_contrail.conf import opts as conf_opts
from nova_lxc_contrail.conf import privsep as privsep_conf

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       'devstack')
RUN_PHASES = os.path.join(HARNESS, 'run-phases.sh')
SHELL_FILES = [os.path.join(TOP, 'devstack', name)
               for name in ('plugin.sh', 'settings', 'override-defaults')]
HARNESS_FILES = [os.path.join(HARNESS, name)
                 for name in ('run-phases.sh', 'standins.sh')]
# The DevStack-in-LXC harness (tools/devstack-in-lxc.sh and its helpers).
DEVSTACK_IN_LXC_FILES = [
    os.path.join(TOP, 'tools', name)
    for name in ('devstack-in-lxc.sh', 'devstack_in_lxc/exercise.sh',
                 'devstack_in_lxc/node.sh', 'devstack_in_lxc/tempest.sh',
                 'devstack_in_lxc/mount-cgroups.sh')]
BASHATE_FLAGS = ['-i', 'E006', '-e', 'E005,E042']
DRIVER = 'nova_lxc_contrail.virt.driver.LxcContrailDriver'
VIF_DRIVER = 'nova_lxc_contrail.virt.vif.LxcContrailVIFDriver'
SHIM = os.path.join(TOP, 'nova', 'virt', 'lxc_contrail')
AGENT_STANDIN = 'nova-lxc-contrail-agent-standin'
NBD_RULE = '/etc/modprobe.d/nova-lxc-contrail-nbd.conf'
ISCSID_DROPIN = '/etc/systemd/system/iscsid.service.d/nova-lxc-contrail.conf'
NETLINK_ISCSI = 8

USER_POST_CONFIG = """\
[lxc_contrail]
agent_url = http://192.0.2.10:9091
[DEFAULT]
debug = True
[lxc_contrail_cli_privileged]
helper_command = sudo privsep-helper
"""
FILTERS = os.path.join('etc', 'nova', 'rootwrap.d',
                       'nova-lxc-contrail.filters')

FULL_CYCLE = [
    'snapshot:start',
    'stack:pre-install', 'snapshot:pre-install', 'stack:pre-install',
    'snapshot:pre-install-again',
    'stack:install', 'snapshot:install', 'stack:install',
    'snapshot:install-again',
    'configure_nova',
    'stack:post-config', 'snapshot:post-config', 'stack:post-config',
    'snapshot:post-config-again',
    'merge_post_config', 'snapshot:merged',
    'start_nova_compute',
    'stack:extra', 'snapshot:extra', 'stack:extra', 'snapshot:extra-again',
    'stack:test-config', 'snapshot:test-config',
    'unstack', 'snapshot:unstack', 'unstack', 'snapshot:unstack-again',
    'clean', 'snapshot:clean', 'clean', 'snapshot:clean-again',
]


def _nbd_loadable():
    return os.path.isdir('/sys/module/nbd')


class DevstackTree(fixtures.Fixture):
    """A throwaway DevStack tree: DEST, nova's checkout and DevStack's venv."""

    def _setUp(self):
        self.work = self.useFixture(fixtures.TempDir()).path
        self.venv = self.useFixture(fixtures.TempDir()).path
        # nova's package laid out as DevStack's editable checkout: every
        # entry links to the real nova except virt/, a real directory.
        real_nova = os.path.dirname(nova.__file__)
        self.nova_src = os.path.join(self.work, 'nova-src')
        self.virt_dir = os.path.join(self.nova_src, 'nova', 'virt')
        os.makedirs(self.virt_dir)
        for name in os.listdir(real_nova):
            if name not in ('virt', '__pycache__'):
                os.symlink(os.path.join(real_nova, name),
                           os.path.join(self.nova_src, 'nova', name))
        for name in os.listdir(os.path.join(real_nova, 'virt')):
            if name not in ('lxc_contrail', '__pycache__'):
                os.symlink(os.path.join(real_nova, 'virt', name),
                           os.path.join(self.virt_dir, name))
        subprocess.run([sys._base_executable, '-m', 'venv', '--without-pip',
                        self.venv], check=True)
        site = subprocess.run(
            [os.path.join(self.venv, 'bin', 'python'), '-c',
             'import sysconfig; print(sysconfig.get_path("purelib"))'],
            check=True, capture_output=True, text=True).stdout.strip()
        # nova's editable install, then (after this package's, which the
        # setup_develop stand-in adds as 10-*.pth) the test venv's libraries.
        with open(os.path.join(site, '00-nova-checkout.pth'), 'w') as f:
            f.write(self.nova_src + '\n')
        with open(os.path.join(site, '99-libraries.pth'), 'w') as f:
            f.write(sysconfig.get_path('purelib') + '\n')
        self.out = os.path.join(self.work, 'out')

    def run(self, *steps, expect_success=True, env=None, preexec=None):
        environ = dict(os.environ, NLC_TOP=TOP, NLC_WORK=self.work,
                       NLC_VENV=self.venv)
        environ.update(env or {})
        proc = subprocess.run(
            ['unshare', '--mount', '--propagation', 'private', 'bash',
             RUN_PHASES] + list(steps),
            env=environ, capture_output=True, text=True, timeout=600,
            preexec_fn=preexec)
        output = proc.stdout + proc.stderr
        if expect_success and proc.returncode != 0:
            raise AssertionError('run-phases.sh failed (%d):\n%s' % (
                proc.returncode, output[-8000:]))
        if not expect_success and proc.returncode == 0:
            raise AssertionError('run-phases.sh succeeded unexpectedly:\n%s'
                                 % output[-8000:])
        return output

    def read(self, snapshot, name):
        path = os.path.join(self.out, snapshot, name)
        if not os.path.exists(path):
            return ''
        with open(path) as f:
            return f.read()

    def state(self, snapshot):
        """What a phase can leave: nova.conf, record, /dev, rules, tree."""
        return {name: self.read(snapshot, name)
                for name in ('nova.conf', 'created', 'dev', 'dev-numbers',
                             'modprobe.d', 'systemd', 'tree')}

    def calls(self):
        return self.read('', 'calls').splitlines()

    def agent_standin_call(self, ports_dir):
        return 'run_process %s %s --configure --ports-dir %s' % (
            AGENT_STANDIN, os.path.join(self.venv, 'bin', AGENT_STANDIN),
            ports_dir)

    def user_conf(self, text):
        path = os.path.join(self.work, 'local-post-config.conf')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def localrc(self, text):
        path = os.path.join(self.work, 'localrc')
        with open(path, 'w') as f:
            f.write(text)
        return path


def _ini(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def _without_devstack_files(tree):
    # nova.conf and nova-cpu.conf are DevStack's; clean.sh deletes them.
    return [line for line in tree.splitlines()
            if not line.startswith('./etc/nova/')]


def _bashate(files):
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'bashate')] +
        BASHATE_FLAGS + files, capture_output=True, text=True)


def _shellcheck(files):
    return subprocess.run(['shellcheck', '-x'] + files, capture_output=True,
                          text=True, cwd=TOP)


class TestLint(testtools.TestCase):

    def test_bashate_with_devstack_flags(self):
        proc = _bashate(SHELL_FILES + HARNESS_FILES)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)

    def test_shellcheck(self):
        proc = _shellcheck(SHELL_FILES + HARNESS_FILES)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)

    def test_bashate_devstack_in_lxc(self):
        proc = _bashate(DEVSTACK_IN_LXC_FILES)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)

    def test_shellcheck_devstack_in_lxc(self):
        proc = _shellcheck(DEVSTACK_IN_LXC_FILES)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)

    def test_define_plugin_is_literal(self):
        # Tools find the plugin's name with a regex: no variables.
        with open(os.path.join(TOP, 'devstack', 'settings')) as f:
            self.assertIn('\ndefine_plugin nova-lxc-contrail\n', f.read())


class TestFullCycle(testtools.TestCase):
    """Every phase in DevStack's order, each one twice."""

    def _run_cycle(self, nounset, agent_standin):
        tree = self.useFixture(DevstackTree())
        env = {'NLC_USER_CONF': tree.user_conf(USER_POST_CONFIG),
               # DevStack's own configure_nova runs 'sudo modprobe nbd'
               # unless NOVA_BACKEND=LVM; this kernel has no nbd, so the
               # pre-install check would (rightly) stop the default run:
               # TestHostCheck covers that.
               'NLC_LOCALRC': tree.localrc('NOVA_BACKEND=LVM\n')}
        ports_dir = os.path.join(tree.work, 'var', 'lib', 'contrail',
                                 'ports')
        with open(env['NLC_LOCALRC'], 'a') as f:
            f.write('NOVA_LXC_CONTRAIL_PORTS_DIR=%s\n' % ports_dir)
            if agent_standin:
                f.write('enable_service %s\n' % AGENT_STANDIN)
        if nounset:
            env['NLC_NOUNSET'] = '1'
        output = tree.run(*FULL_CYCLE, env=env)
        return tree, output, ports_dir

    def _check_cycle(self, tree, output, ports_dir, agent_standin):
        # Running a phase twice changes nothing.
        for phase in ('pre-install', 'install', 'post-config', 'extra',
                      'unstack', 'clean'):
            self.assertEqual(tree.state(phase),
                             tree.state(phase + '-again'), phase)
        self.assertEqual(tree.state('extra'), tree.state('test-config'))
        self.assertEqual(tree.state('test-config'), tree.state('unstack'))

        # pre-install made the device nodes, for real, and recorded them.
        created = tree.read('pre-install', 'created').splitlines()
        numbers = tree.read('pre-install', 'dev-numbers')
        for line, number in (('node /dev/net/tun c 10 200', './net/tun a:c8'),
                             ('node /dev/loop-control c 10 237',
                              './loop-control a:ed'),
                             ('node /dev/loop0 b 7 0', './loop0 7:0'),
                             ('node /dev/fuse c 10 229', './fuse a:e5')):
            self.assertIn(line, created)
            self.assertIn(number, numbers)
        self.assertIn('dir /dev/net', created)
        self.assertIn('host check: container:', output)

        # install: setup_develop of this checkout, the shim linked into
        # nova's tree (and recorded).
        calls = tree.calls()
        self.assertIn('setup_develop ' + TOP, calls)
        link = os.path.join(tree.virt_dir, 'lxc_contrail')
        self.assertIn('./nova-src/nova/virt/lxc_contrail l 777 ' + SHIM,
                      tree.read('install', 'tree').splitlines())
        self.assertIn('link %s %s' % (link, SHIM),
                      tree.read('install', 'created').splitlines())
        # The link is all that changed in nova's tree.
        nova_before, nova_after = (
            {line for line in tree.read(snapshot, 'tree').splitlines()
             if line.startswith('./nova-src/')}
            for snapshot in ('start', 'install'))
        self.assertEqual(set(), nova_before - nova_after)
        self.assertEqual({'./nova-src/nova/virt/lxc_contrail l 777 ' + SHIM},
                         nova_after - nova_before)

        # install: the libvirt hook linked into lxc.d (the tree's own
        # hooks dir), to the program in DevStack's venv, and libvirtd
        # reloaded so that it runs it.
        hooks = os.path.join(tree.work, 'etc', 'libvirt', 'hooks')
        entry = os.path.join(hooks, 'lxc.d', 'nova-lxc-contrail')
        program = os.path.join(tree.venv, 'bin',
                               'nova-lxc-contrail-libvirt-hook')
        self.assertIn('./etc/libvirt/hooks/lxc.d/nova-lxc-contrail l 777 ' +
                      program, tree.read('install', 'tree').splitlines())
        self.assertEqual(
            ['dir ' + os.path.join(tree.work, 'etc', 'libvirt'),
             'dir ' + hooks, 'dir ' + os.path.dirname(entry),
             'link %s %s' % (entry, program)],
            [line for line in tree.read('install', 'created').splitlines()
             if '/etc/libvirt' in line])
        self.assertEqual(2, calls.count('systemctl reload libvirtd'))
        self.assertIn('nova-lxc-contrail: reloaded libvirtd: it runs the '
                      'lxc hook from now on', output)

        # post-config: after configure_neutron_nova (async), our settings.
        conf = _ini(tree.read('post-config', 'nova.conf'))
        self.assertEqual('password', conf['neutron']['auth_type'])
        self.assertEqual('lxc_contrail.LxcContrailDriver',
                         conf['DEFAULT']['compute_driver'])
        self.assertEqual('lxc', conf['libvirt']['virt_type'])
        self.assertEqual(VIF_DRIVER, conf['libvirt']['vif_driver'])
        self.assertEqual('http://localhost:9091',
                         conf['lxc_contrail']['agent_url'])
        self.assertEqual(ports_dir, conf['lxc_contrail']['ports_dir'])
        self.assertIn('./var/lib/contrail/ports d 755 ',
                      tree.read('post-config', 'tree'))
        self.assertIn('dir ' + ports_dir,
                      tree.read('post-config', 'created').splitlines())

        # post-config started the agent stand-in as a DevStack service
        # (each time it ran) when it is enabled, on nova's ports dir;
        # unstack stopped it.
        started = [call for call in calls if call.startswith('run_process')]
        stopped = [call for call in calls if call.startswith('stop_process')]
        if agent_standin:
            self.assertEqual([tree.agent_standin_call(ports_dir)] * 2,
                             started)
            self.assertEqual(['stop_process ' + AGENT_STANDIN] * 2, stopped)
        else:
            self.assertEqual(([], []), (started, stopped))

        # post-config: each privsep daemon starts through nova's rootwrap,
        # with this package's filters next to nova's.
        conf_dir = os.path.join(tree.work, 'etc', 'nova')
        helper = ('sudo nova-rootwrap %s/rootwrap.conf privsep-helper '
                  '--config-file %s/nova-cpu.conf' % (conf_dir, conf_dir))
        self.assertEqual(
            {section: helper for section in privsep_conf.CONTEXTS},
            {section: conf[section]['helper_command']
             for section in conf.sections()
             if section.endswith('_privileged')})
        installed = os.path.join(tree.work, FILTERS)
        self.assertIn('./%s f 644 ' % FILTERS,
                      tree.read('post-config', 'tree').splitlines())
        self.assertIn('./etc/nova/rootwrap.d/compute.filters f 644 ',
                      tree.read('post-config', 'tree').splitlines())
        with open(os.path.join(TOP, FILTERS), 'rb') as f:
            shipped = f.read()
        self.assertIn('file %s %s' % (installed,
                                      hashlib.sha256(shipped).hexdigest()),
                      tree.read('post-config', 'created').splitlines())

        # The user's [[post-config|$NOVA_CONF]] wins.
        merged = _ini(tree.read('merged', 'nova.conf'))
        self.assertEqual('http://192.0.2.10:9091',
                         merged['lxc_contrail']['agent_url'])
        self.assertEqual('True', merged['DEFAULT']['debug'])
        self.assertEqual('lxc_contrail.LxcContrailDriver',
                         merged['DEFAULT']['compute_driver'])

        # The final nova.conf parses with oslo.config.
        opts = cfg.ConfigOpts()
        nlc_conf.register_opts(opts)
        opts.register_opt(cfg.StrOpt('compute_driver'))
        opts.register_opt(cfg.StrOpt('virt_type'), group='libvirt')
        nova_conf = os.path.join(tree.out, 'merged', 'nova.conf')
        opts(['--config-file', nova_conf], default_config_files=[])
        self.assertEqual('lxc_contrail.LxcContrailDriver',
                         opts.compute_driver)
        self.assertEqual('lxc', opts.libvirt.virt_type)
        self.assertEqual(VIF_DRIVER, opts.libvirt.vif_driver)
        self.assertEqual('http://192.0.2.10:9091',
                         opts.lxc_contrail.agent_url)
        self.assertTrue(opts.lxc_contrail.bridge_promiscuous)
        # iniset's unquoted echo kept the command as written.
        for section in privsep_conf.CONTEXTS:
            opts.register_opts(priv_context.OPTS, group=section)
        self.assertEqual('sudo privsep-helper',
                         opts.lxc_contrail_cli_privileged.helper_command)
        for section in set(privsep_conf.CONTEXTS) - {privsep_conf.CLI}:
            self.assertEqual(helper, opts[section].helper_command)

        # nova's own load_compute_driver built LxcContrailDriver from it,
        # through the linked shim.
        with open(os.path.join(tree.out, 'n-cpu.json')) as f:
            loaded = json.load(f)
        self.assertEqual(DRIVER, loaded['class'])
        self.assertTrue(loaded['is_compute_driver'])
        self.assertEqual(os.path.join(link, '__init__.py'),
                         loaded['module_file'])
        self.assertEqual(VIF_DRIVER, loaded['vif_driver'])
        self.assertEqual('http://192.0.2.10:9091',
                         loaded['lxc_contrail']['agent_url'])
        # stack extra checked both the config and the running service.
        self.assertIn('nova loads the driver from', output)
        self.assertIn('"class": "%s"' % DRIVER, output)
        self.assertIn('is running with lxc_contrail.LxcContrailDriver '
                      '(init_host done: Final resource view: )', output)

        # clean asked the package to drop the ports no instance owns ...
        self.assertIn('nova-lxc-contrail --config-file %s cleanup' %
                      os.path.join(tree.work, 'etc', 'nova',
                                   'nova-cpu.conf'), calls)
        # ... and removed everything the plugin made: no trace.
        start, clean = tree.state('start'), tree.state('clean')
        self.assertEqual(start['dev'], clean['dev'])
        self.assertEqual(start['systemd'], clean['systemd'])
        self.assertEqual(_without_devstack_files(start['tree']),
                         _without_devstack_files(clean['tree']))
        self.assertEqual('', clean['created'])
        self.assertFalse(os.path.lexists(link))
        # unstack keeps the rootwrap filters for the next stack.sh; clean
        # removes them and only them.
        self.assertIn('./%s f 644 ' % FILTERS,
                      tree.read('unstack', 'tree').splitlines())
        self.assertFalse(os.path.lexists(installed))
        self.assertIn('./etc/nova/rootwrap.d/compute.filters f 644 ',
                      clean['tree'].splitlines())
        # unstack keeps the hook too; clean removes it, and its dirs.
        self.assertIn('./etc/libvirt/hooks/lxc.d/nova-lxc-contrail l 777 ' +
                      program, tree.read('unstack', 'tree').splitlines())
        self.assertFalse(os.path.lexists(os.path.join(tree.work, 'etc',
                                                      'libvirt')))

    def test_errexit(self):
        self._check_cycle(*self._run_cycle(nounset=False,
                                           agent_standin=False),
                          agent_standin=False)

    def test_errexit_and_nounset_with_the_agent_standin(self):
        self._check_cycle(*self._run_cycle(nounset=True, agent_standin=True),
                          agent_standin=True)


def _tun_denied(test):
    """A container whose device cgroup does not allow /dev/net/tun.

    Returns the preexec_fn that puts run-phases.sh in it.
    """
    cgroup = '/sys/fs/cgroup/devices/nlc-devstack-%d' % os.getpid()
    test.assertTrue(os.path.isdir(os.path.dirname(cgroup)),
                    'this test needs the cgroup v1 devices controller')
    os.mkdir(cgroup)
    test.addCleanup(os.rmdir, cgroup)
    with open(os.path.join(cgroup, 'devices.deny'), 'w') as f:
        f.write('c 10:200 rwm')

    def enter_cgroup():
        with open(os.path.join(cgroup, 'cgroup.procs'), 'w') as f:
            f.write(str(os.getpid()))
    return enter_cgroup


class TestDevstackNbd(testtools.TestCase):
    """DevStack's own 'sudo modprobe nbd' (configure_nova, LIBVIRT_TYPE=lxc).

    pre-install runs it first, with the real modprobe against the run's
    private /etc/modprobe.d and, unless nbd is loaded already, an empty
    /lib/modules (so no module reaches the host's kernel): where it fails,
    the plugin's rule makes it a no-op, or the run stops with the remedy.
    """

    def setUp(self):
        super().setUp()
        self.assertIsNotNone(
            shutil.which('modprobe', path='/usr/sbin:/sbin:/usr/bin:/bin'),
            "these tests run the real modprobe: install kmod (bindep.txt)")
        self.tree = self.useFixture(DevstackTree())
        self.env = {}
        if not _nbd_loadable():
            self.env['NLC_NO_MODULES'] = '1'

    def run_phases(self, localrc, *steps, expect_success=True):
        env = dict(self.env, NLC_LOCALRC=self.tree.localrc(localrc))
        return self.tree.run(*steps, expect_success=expect_success, env=env)

    def assert_nothing_recorded_or_made(self):
        """The run left no record and /dev as it found it."""
        self.assertEqual('', self.tree.read('exit', 'created'))
        self.assertEqual(self.tree.read('start', 'dev'),
                         self.tree.read('exit', 'dev'))

    def rule(self, snapshot):
        """The rule file as the snapshot saw it: (mode, lines), or None."""
        lines = self.tree.read(snapshot, 'modprobe.d').splitlines()
        header = [i for i, line in enumerate(lines)
                  if line.startswith(NBD_RULE + ' ')]
        if not header:
            return None
        i = header[0]
        body = []
        for line in lines[i + 1:]:
            if not line.startswith('    '):
                break
            body.append(line[4:])
        return lines[i].split()[1], body

    def modprobe(self):
        status, _, output = self.tree.read('', 'modprobe-nbd').partition('\n')
        return int(status), output.strip()

    def test_nbd_loadable_host_needs_no_rule(self):
        if not _nbd_loadable():
            # This host is the other case: the rule tests below run.
            self.assertFalse(os.path.isdir('/sys/module/nbd'))
            return
        output = self.run_phases('', 'snapshot:start', 'stack:pre-install',
                                 'snapshot:pre-install', 'clean')
        self.assertIsNone(self.rule('pre-install'))
        self.assertNotIn(NBD_RULE, self.tree.read('pre-install', 'created'))
        self.assertNotIn('no nbd here', output)

    def test_rule_makes_devstacks_modprobe_a_noop(self):
        if _nbd_loadable():
            return self.test_nbd_loadable_host_needs_no_rule()
        output = self.run_phases(
            '', 'snapshot:start', 'stack:pre-install', 'snapshot:pre-install',
            'modprobe:nbd', 'stack:pre-install', 'snapshot:pre-install-again')
        self.assertIsNone(self.rule('start'))
        mode, lines = self.rule('pre-install')
        self.assertEqual('644', mode)
        self.assertEqual(['install nbd /bin/true'],
                         [line for line in lines if not line.startswith('#')])
        self.assertIn('(image_export = auto)', '\n'.join(lines))
        digest = hashlib.sha256(
            ''.join(line + '\n' for line in lines).encode()).hexdigest()
        self.assertIn('file %s %s' % (NBD_RULE, digest),
                      self.tree.read('pre-install', 'created').splitlines())
        self.assertIn('no nbd here', output)
        self.assertIn("makes DevStack's 'modprobe nbd' a no-op", output)
        # DevStack's 'sudo modprobe nbd' now succeeds.
        self.assertEqual((0, ''), self.modprobe())
        # pre-install again: nothing new, the rule recorded once.
        self.assertEqual(self.tree.state('pre-install'),
                         self.tree.state('pre-install-again'))
        self.assertEqual(1, self.tree.read(
            'pre-install', 'created').count(NBD_RULE))

    def test_modprobe_fails_without_the_rule(self):
        if _nbd_loadable():
            return self.test_nbd_loadable_host_needs_no_rule()
        self.run_phases('', 'modprobe:nbd')
        status, output = self.modprobe()
        self.assertNotEqual(0, status)
        self.assertIn('nbd', output)

    def test_clean_removes_the_rule_and_again_changes_nothing(self):
        if _nbd_loadable():
            return self.test_nbd_loadable_host_needs_no_rule()
        self.run_phases('', 'snapshot:start', 'stack:pre-install',
                        'snapshot:pre-install', 'clean', 'snapshot:clean',
                        'modprobe:nbd', 'clean', 'snapshot:clean-again')
        self.assertIsNotNone(self.rule('pre-install'))
        start, clean = self.tree.state('start'), self.tree.state('clean')
        self.assertIsNone(self.rule('clean'))
        self.assertEqual(start['modprobe.d'], clean['modprobe.d'])
        self.assertEqual('', clean['created'])
        self.assertEqual(start['dev'], clean['dev'])
        self.assertEqual(clean, self.tree.state('clean-again'))
        # DevStack's step fails again, as before the plugin ran.
        self.assertNotEqual(0, self.modprobe()[0])

    def test_clean_keeps_a_rule_changed_since(self):
        if _nbd_loadable():
            return self.test_nbd_loadable_host_needs_no_rule()
        edit = os.path.join(self.tree.work, 'edit-rule.sh')
        with open(edit, 'w') as f:
            f.write('echo "# the operator was here" >> %s\n' % NBD_RULE)
        output = self.run_phases('', 'stack:pre-install', 'exec:' + edit,
                                 'clean', 'snapshot:clean')
        self.assertIn('keeping %s: it changed since the plugin made it'
                      % NBD_RULE, output)
        mode, lines = self.rule('clean')
        self.assertEqual(['install nbd /bin/true',
                          '# the operator was here'], lines[-2:])
        self.assertEqual('', self.tree.read('clean', 'created'))

    def test_failed_host_check_leaves_no_rule(self):
        # The check stops on /dev/net/tun after deciding on the rule: it
        # rolls back what it made, the rule included.
        if _nbd_loadable():
            return self.test_nbd_loadable_host_needs_no_rule()
        # In an LXC container, the iscsid drop-in too.
        self.assertFalse(_netlink_iscsi_opens())
        env = dict(self.env, NLC_LOCALRC=self.tree.localrc(''),
                   NLC_VIRT='lxc')
        output = self.tree.run('snapshot:start', 'stack:pre-install',
                               expect_success=False, env=env,
                               preexec=_tun_denied(self))
        self.assertIn('/dev/net/tun is missing and cannot be created', output)
        # Both were written (their warnings follow the writes) ...
        self.assertIn("makes DevStack's 'modprobe nbd' a no-op", output)
        self.assertIn('%s skips it' % ISCSID_DROPIN, output)
        # ... and rolled back.
        self.assertIsNone(self.rule('exit'))
        self.assertEqual(self.tree.read('start', 'systemd'),
                         self.tree.read('exit', 'systemd'))
        self.assertNotIn('nova-lxc-contrail',
                         self.tree.read('exit', 'systemd'))
        self.assert_nothing_recorded_or_made()

    def test_prepare_host_false_fails_naming_the_rule_and_leaves_nothing(self):
        if _nbd_loadable():
            return self.test_nbd_loadable_host_needs_no_rule()
        output = self.run_phases(
            'NOVA_LXC_CONTRAIL_PREPARE_HOST=False\n', 'snapshot:start',
            'stack:pre-install', expect_success=False)
        self.assertIn("DevStack's configure_nova will run 'sudo modprobe nbd' "
                      "and stop", output)
        self.assertIn('with NOVA_LXC_CONTRAIL_PREPARE_HOST=True the plugin '
                      'makes that', output)
        self.assertIn('(%s: install nbd /bin/true)' % NBD_RULE,
                      ' '.join(output.split()))
        self.assertIsNone(self.rule('exit'))
        self.assertEqual(self.tree.state('start')['modprobe.d'],
                         self.tree.state('exit')['modprobe.d'])
        self.assert_nothing_recorded_or_made()

    def test_image_export_nbd_fails_with_the_nbd_remedy(self):
        if _nbd_loadable():
            return self.test_nbd_loadable_host_needs_no_rule()
        output = self.run_phases(
            'NOVA_LXC_CONTRAIL_IMAGE_EXPORT=nbd\n', 'snapshot:start',
            'stack:pre-install', expect_success=False)
        flat = ' '.join(output.split())
        self.assertIn("[lxc_contrail] image_export = nbd needs the nbd "
                      "module, and 'sudo modprobe nbd' fails here", flat)
        self.assertIn('linux-image-%s' % os.uname().release, flat)
        self.assertIn('lxc.mount.entry = /lib/modules lib/modules', flat)
        self.assertIn('or leave image_export at auto', flat)
        self.assertIsNone(self.rule('exit'))
        self.assert_nothing_recorded_or_made()


def _netlink_iscsi_opens():
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW,
                      NETLINK_ISCSI).close()
    except OSError:
        return False
    return True


class TestDevstackIscsid(testtools.TestCase):
    """DevStack's own 'restart_service iscsid' (configure_nova).

    In a container iscsid cannot open NETLINK_ISCSI, which only the host's
    first network namespace has; nor can it in the sandbox's network
    namespace, where the plugin's real probe runs. systemd-detect-virt
    answers what the test asks (NLC_VIRT); the drop-in lands in the run's
    private /etc/systemd/system.
    """

    def setUp(self):
        super().setUp()
        # The plugin's probe must fail here as in a container, or these
        # tests would prove nothing.
        self.assertFalse(_netlink_iscsi_opens(),
                         'NETLINK_ISCSI opens in this network namespace')
        self.tree = self.useFixture(DevstackTree())

    def run_phases(self, localrc, *steps, virt='lxc', expect_success=True,
                   preexec=None):
        env = {'NLC_VIRT': virt,
               'NLC_LOCALRC': self.tree.localrc('NOVA_BACKEND=LVM\n' +
                                                localrc)}
        return self.tree.run(*steps, expect_success=expect_success, env=env,
                             preexec=preexec)

    def dropin(self, snapshot):
        """The drop-in as the snapshot saw it: (mode, lines), or None."""
        lines = self.tree.read(snapshot, 'systemd').splitlines()
        name = '.' + ISCSID_DROPIN[len('/etc/systemd/system'):]
        header = [i for i, line in enumerate(lines)
                  if line.startswith(name + ' ')]
        if not header:
            return None
        body = []
        for line in lines[header[0] + 1:]:
            if not line.startswith('    '):
                break
            body.append(line[4:])
        return lines[header[0]].split()[1], body

    def reloads(self):
        return self.tree.calls().count('systemctl daemon-reload')

    def test_container_gets_the_dropin_once_and_clean_removes_it(self):
        output = self.run_phases(
            '', 'snapshot:start', 'stack:pre-install', 'snapshot:pre-install',
            'stack:pre-install', 'snapshot:pre-install-again', 'clean',
            'snapshot:clean', 'clean', 'snapshot:clean-again')
        self.assertIn('host check: container: lxc', output)
        self.assertIsNone(self.dropin('start'))
        mode, lines = self.dropin('pre-install')
        self.assertEqual('644', mode)
        self.assertEqual(['[Unit]', 'ConditionVirtualization=!container'],
                         [line for line in lines if not line.startswith('#')])
        digest = hashlib.sha256(
            ''.join(line + '\n' for line in lines).encode()).hexdigest()
        created = self.tree.read('pre-install', 'created').splitlines()
        self.assertIn('file %s %s' % (ISCSID_DROPIN, digest), created)
        self.assertIn('dir ' + os.path.dirname(ISCSID_DROPIN), created)
        self.assertIn('nova-lxc-contrail: WARNING: iscsid cannot run in this '
                      'lxc container (no NETLINK_ISCSI): %s skips it'
                      % ISCSID_DROPIN, output)
        # pre-install again: the same drop-in, recorded once.
        self.assertEqual(self.tree.state('pre-install'),
                         self.tree.state('pre-install-again'))
        self.assertEqual(1, self.tree.read(
            'pre-install', 'created').count(ISCSID_DROPIN))
        # clean removed it and its directory; systemd re-read its units
        # after each change (the write, the removal); clean again: nothing.
        start, clean = self.tree.state('start'), self.tree.state('clean')
        self.assertIsNone(self.dropin('clean'))
        self.assertEqual(start['systemd'], clean['systemd'])
        self.assertEqual('', clean['created'])
        self.assertEqual(clean, self.tree.state('clean-again'))
        self.assertEqual(2, self.reloads())
        # All of it happened in the run's own /etc/systemd/system.
        self.assertFalse(os.path.lexists(os.path.dirname(ISCSID_DROPIN)))

    def test_failed_host_check_leaves_no_dropin(self):
        # The check stops on /dev/net/tun after writing the drop-in: it
        # rolls it back, and systemd re-reads its units.
        output = self.run_phases('', 'snapshot:start', 'stack:pre-install',
                                 expect_success=False,
                                 preexec=_tun_denied(self))
        self.assertIn('/dev/net/tun is missing and cannot be created', output)
        self.assertIsNone(self.dropin('exit'))
        self.assertEqual(self.tree.read('start', 'systemd'),
                         self.tree.read('exit', 'systemd'))
        self.assertEqual('', self.tree.read('exit', 'created'))
        self.assertEqual(2, self.reloads())

    def test_prepare_host_false_fails_naming_the_dropin(self):
        output = self.run_phases('NOVA_LXC_CONTRAIL_PREPARE_HOST=False\n',
                                 'snapshot:start', 'stack:pre-install',
                                 expect_success=False)
        flat = ' '.join(output.split())
        self.assertIn("DevStack's configure_nova will run 'systemctl restart "
                      "iscsid' and stop stack.sh: iscsid cannot run in this "
                      "container (no NETLINK_ISCSI in its network namespace)",
                      flat)
        self.assertIn('(%s: ConditionVirtualization=!container)'
                      % ISCSID_DROPIN, flat)
        self.assertIsNone(self.dropin('exit'))
        self.assertEqual(self.tree.read('start', 'systemd'),
                         self.tree.read('exit', 'systemd'))
        self.assertEqual('', self.tree.read('exit', 'created'))
        self.assertEqual(0, self.reloads())

    def test_not_a_container_gets_no_dropin(self):
        output = self.run_phases('', 'snapshot:start', 'stack:pre-install',
                                 'snapshot:pre-install', 'clean', virt='none')
        self.assertIn('host check: container: none', output)
        self.assertIsNone(self.dropin('pre-install'))
        self.assertEqual(self.tree.read('start', 'systemd'),
                         self.tree.read('pre-install', 'systemd'))
        self.assertNotIn(ISCSID_DROPIN,
                         self.tree.read('pre-install', 'created'))
        self.assertNotIn('NETLINK_ISCSI', output)
        self.assertEqual(0, self.reloads())


class TestHostCheck(testtools.TestCase):

    def test_denied_device_fails_with_remedy_and_leaves_nothing(self):
        tree = self.useFixture(DevstackTree())
        output = tree.run(
            'snapshot:start', 'stack:pre-install', expect_success=False,
            env={'NLC_LOCALRC': tree.localrc('NOVA_BACKEND=LVM\n')},
            preexec=_tun_denied(self))
        self.assertIn('host check failed: the VIF driver creates taps through '
                      '/dev/net/tun: /dev/net/tun is missing and cannot be '
                      'created', output)
        self.assertIn("c 10:200 rwm", output)
        # The check rolled back what it had made (/dev/net): no trace.
        self.assertEqual(tree.read('start', 'dev'), tree.read('exit', 'dev'))
        self.assertEqual('', tree.read('exit', 'created'))

    def test_prepare_host_false_only_checks(self):
        tree = self.useFixture(DevstackTree())
        # Not a container: the devices are the only problem (in a container
        # iscsid is one too, TestDevstackIscsid).
        output = tree.run(
            'snapshot:start', 'stack:pre-install', expect_success=False,
            env={'NLC_VIRT': 'none', 'NLC_LOCALRC': tree.localrc(
                'NOVA_BACKEND=LVM\nNOVA_LXC_CONTRAIL_PREPARE_HOST=False\n')})
        self.assertIn('/dev/net/tun is missing', output)
        self.assertEqual(tree.read('start', 'dev'), tree.read('exit', 'dev'))


class TestAgentStandinService(testtools.TestCase):
    """enable_service nova-lxc-contrail-agent-standin: a DevStack service."""

    def _run(self, enabled, *steps):
        tree = self.useFixture(DevstackTree())
        ports_dir = os.path.join(tree.work, 'ports')
        localrc = ('NOVA_BACKEND=LVM\nNOVA_LXC_CONTRAIL_PORTS_DIR=%s\n'
                   % ports_dir)
        if enabled:
            localrc += 'enable_service %s\n' % AGENT_STANDIN
        output = tree.run(*steps, env={'NLC_LOCALRC': tree.localrc(localrc)})
        return tree, ports_dir, output

    def _unit_state(self, tree):
        path = os.path.join(tree.work, 'journal',
                            'devstack@%s.state' % AGENT_STANDIN)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read().strip()

    def test_post_config_runs_it_on_novas_ports_dir_unstack_stops_it(self):
        tree, ports_dir, output = self._run(
            True, 'stack:install', 'configure_nova', 'stack:post-config',
            'snapshot:post-config', 'unstack', 'clean')
        calls = tree.calls()
        self.assertEqual(
            [tree.agent_standin_call(ports_dir),
             'stop_process ' + AGENT_STANDIN],
            [call for call in calls
             if call.startswith(('run_process', 'stop_process'))])
        # The program run_process starts is the package's, in DevStack's
        # venv (setup_develop made it), and it serves what nova uses.
        self.assertTrue(os.access(
            os.path.join(tree.venv, 'bin', AGENT_STANDIN), os.X_OK))
        conf = _ini(tree.read('post-config', 'nova.conf'))
        self.assertEqual(ports_dir, conf['lxc_contrail']['ports_dir'])
        self.assertEqual('http://localhost:9091',
                         conf['lxc_contrail']['agent_url'])
        self.assertEqual('inactive', self._unit_state(tree))

    def test_not_enabled_runs_and_stops_nothing(self):
        tree, ports_dir, output = self._run(
            False, 'stack:install', 'configure_nova', 'stack:post-config',
            'unstack', 'clean')
        self.assertEqual([], [call for call in tree.calls()
                              if call.startswith(('run_process',
                                                  'stop_process'))])
        self.assertIsNone(self._unit_state(tree))


NCPU_JOURNAL = os.path.join('journal', 'devstack@n-cpu.log')
NCPU_STATE = os.path.join('journal', 'devstack@n-cpu.state')
INIT_HOST_STEPS = ('stack:install', 'configure_nova', 'stack:post-config',
                   'merge_post_config', 'start_nova_compute')


class TestExtraInitHost(testtools.TestCase):
    """stack extra: nova-compute must have finished init_host.

    The nova-compute stand-in loads the driver with nova's own
    load_compute_driver and runs the driver's own CPU configuration check
    of init_host, logging as DevStack's nova-compute does (coloured).
    """

    def run_extra(self, localrc='', user_conf='', journal_edit='',
                  expect_success=True):
        self.tree = self.useFixture(DevstackTree())
        edit = os.path.join(self.tree.work, 'journal-edit.sh')
        with open(edit, 'w') as f:
            f.write(journal_edit)
        # (A wrong verdict ends the run in seconds, not the default 60.)
        localrc = ('NOVA_BACKEND=LVM\nNOVA_LXC_CONTRAIL_VERIFY_TIMEOUT=5\n' +
                   localrc)
        env = {'NLC_LOCALRC': self.tree.localrc(localrc),
               'NLC_USER_CONF': self.tree.user_conf(user_conf)}
        return self.tree.run(*INIT_HOST_STEPS + ('exec:' + edit,
                                                 'stack:extra'),
                             expect_success=expect_success, env=env)

    def journal(self):
        with open(os.path.join(self.tree.work, NCPU_JOURNAL)) as f:
            return f.read()

    def test_init_host_done_passes(self):
        output = self.run_extra()
        self.assertIn("Loading compute driver "
                      "'lxc_contrail.LxcContrailDriver'", self.journal())
        self.assertIn('Final resource view: ', self.journal())
        self.assertIn('nova-compute (devstack@n-cpu) is running with '
                      'lxc_contrail.LxcContrailDriver (init_host done: Final '
                      'resource view: )', output)

    def test_init_host_failure_fails_naming_the_exception(self):
        # What stack.sh showed: cpu_mode = custom for virt_type lxc; nova's
        # init_host raised after loading the driver, and systemd still
        # showed the unit active (it had not noticed the exit yet).
        output = self.run_extra(
            user_conf='[libvirt]\ncpu_mode = custom\ncpu_models = Nehalem\n',
            journal_edit='echo active > "$NLC_WORK/%s"\n' % NCPU_STATE,
            expect_success=False)
        journal = self.journal()
        self.assertIn('Traceback (most recent call last):', journal)
        self.assertIn('\x1b[', journal)
        self.assertIn("nova-compute (devstack@n-cpu) loaded "
                      "lxc_contrail.LxcContrailDriver and then failed to "
                      "start (init_host): ERROR nova nova.exception.Invalid: "
                      "Config requested an explicit CPU model, but the "
                      "current libvirt hypervisor 'lxc' does not support "
                      "selecting CPU models", ' '.join(output.split()))
        self.assertNotIn('is running with', output)

    def test_failed_unit_fails_naming_the_exception(self):
        output = self.run_extra(
            user_conf='[libvirt]\ncpu_mode = host-model\n',
            expect_success=False)
        self.assertEqual('failed\n', self.tree.read('', '../' + NCPU_STATE))
        self.assertIn("failed to start (init_host): ERROR nova "
                      "nova.exception.Invalid: Config requested an explicit "
                      "CPU model", ' '.join(output.split()))

    def test_no_sign_of_init_host_done_times_out(self):
        output = self.run_extra(
            localrc='NOVA_LXC_CONTRAIL_VERIFY_TIMEOUT=1\n',
            journal_edit="sed -i '/Final resource view/d' \"$NLC_WORK/%s\"\n"
            % NCPU_JOURNAL, expect_success=False)
        self.assertIn('nova-compute (devstack@n-cpu) is active and did not '
                      'report running lxc_contrail.LxcContrailDriver '
                      '(init_host done) within 1 s', ' '.join(output.split()))

    def test_without_debug_log_it_warns_that_it_cannot_tell(self):
        output = self.run_extra(
            localrc='ENABLE_DEBUG_LOG_LEVEL=False\n')
        self.assertNotIn('Final resource view', self.journal())
        self.assertIn('WARNING: nova-compute (devstack@n-cpu) loaded '
                      'lxc_contrail.LxcContrailDriver; with [DEFAULT] debug = '
                      'False in', ' '.join(output.split()))
        self.assertNotIn('is running with', output)


class TestExtra(testtools.TestCase):

    def test_unloadable_vif_driver_stops_the_run(self):
        tree = self.useFixture(DevstackTree())
        env = {'NLC_LOCALRC': tree.localrc('NOVA_BACKEND=LVM\n'),
               'NLC_USER_CONF': tree.user_conf(
                   '[libvirt]\nvif_driver = nova_lxc_contrail.nope.Bogus\n')}
        output = tree.run('stack:pre-install', 'stack:install',
                          'configure_nova', 'stack:post-config',
                          'merge_post_config', 'start_nova_compute',
                          'stack:extra', expect_success=False, env=env)
        self.assertIn('nova cannot load compute_driver = '
                      'lxc_contrail.LxcContrailDriver', output)
        self.assertIn('vif_driver = nova_lxc_contrail.nope.Bogus cannot be '
                      'imported', output)

    def test_user_compute_driver_is_respected(self):
        tree = self.useFixture(DevstackTree())
        env = {'NLC_LOCALRC': tree.localrc('NOVA_BACKEND=LVM\n'),
               'NLC_USER_CONF': tree.user_conf(
                   '[DEFAULT]\ncompute_driver = fake.FakeDriver\n')}
        output = tree.run('stack:install', 'configure_nova',
                          'stack:post-config', 'merge_post_config',
                          'stack:extra', 'snapshot:extra', 'clean', env=env)
        self.assertIn('sets compute_driver = fake.FakeDriver, not '
                      'lxc_contrail.LxcContrailDriver', output)
        self.assertEqual('fake.FakeDriver', _ini(tree.read(
            'extra', 'nova.conf'))['DEFAULT']['compute_driver'])


class TestDefaults(testtools.TestCase):

    def _variables(self, localrc=''):
        tree = self.useFixture(DevstackTree())
        tree.run(env={'NLC_LOCALRC': tree.localrc(localrc)})
        return tree.read('', 'variables')

    def test_override_defaults_switch_to_lxc_and_its_image(self):
        variables = self._variables('LIBVIRT_TYPE=kvm\n')
        self.assertIn('LIBVIRT_TYPE="lxc"', variables)
        self.assertIn('VIRT_DRIVER="libvirt"', variables)
        self.assertIn('DEFAULT_IMAGE_NAME="cirros-0.6.3-x86_64-rootfs"',
                      variables)
        self.assertIn('IMAGE_URLS="https://github.com/cirros-dev/cirros/'
                      'releases/download/0.6.3/'
                      'cirros-0.6.3-x86_64-rootfs.img.gz"', variables)

    def test_override_defaults_keep_the_users_image(self):
        variables = self._variables(
            'DEFAULT_IMAGE_NAME=my-image\n'
            'IMAGE_URLS=http://192.0.2.1/my-image.img\n')
        self.assertIn('DEFAULT_IMAGE_NAME="my-image"', variables)
        self.assertIn('IMAGE_URLS="http://192.0.2.1/my-image.img,', variables)

    def test_override_defaults_ask_for_no_cpu_model(self):
        # stackrc sets LIBVIRT_CPU_MODE=custom, LIBVIRT_CPU_MODEL=Nehalem
        # (run-phases.sh does, before override-defaults); nova's init_host
        # refuses a CPU model for lxc (tests/e2e/test_cpu_mode.py).
        tree = self.useFixture(DevstackTree())
        tree.run('configure_nova', 'snapshot:configured',
                 env={'NLC_LOCALRC': tree.localrc('NOVA_BACKEND=LVM\n')})
        variables = tree.read('', 'variables')
        self.assertIn('LIBVIRT_CPU_MODE="none"', variables)
        with open(RUN_PHASES) as f:
            harness = f.read()
        self.assertLess(
            harness.index('LIBVIRT_CPU_MODE=${LIBVIRT_CPU_MODE:-custom}'),
            harness.index('source "$NLC_TOP/devstack/override-defaults"'))
        # configure_nova_hypervisor's nova.conf: cpu_mode none, no model.
        libvirt = _ini(tree.read('configured', 'nova.conf'))['libvirt']
        self.assertEqual('none', libvirt['cpu_mode'])
        self.assertNotIn('cpu_models', libvirt)

    def test_settings_cover_every_option_with_its_default(self):
        proc = subprocess.run(
            ['bash', '-c', 'set -o errexit -o nounset; '
             'function define_plugin { :; }; function enable_service { :; }; '
             'DATA_DIR=/nonexistent; source "$1"; '
             'for v in ${!NOVA_LXC_CONTRAIL_*}; do '
             'printf "%s=%s\\n" "$v" "${!v}"; done', '_',
             os.path.join(TOP, 'devstack', 'settings')],
            check=True, capture_output=True, text=True)
        knobs = {}
        for line in proc.stdout.splitlines():
            name, _, value = line.partition('=')
            knobs[name] = value
        opts = dict(conf_opts.list_opts())
        group = [g for g in opts if getattr(g, 'name', g) == 'lxc_contrail']
        registered = {opt.name: opt for opt in opts[group[0]]}
        for name, opt in registered.items():
            knob = 'NOVA_LXC_CONTRAIL_' + name.upper()
            self.assertIn(knob, knobs)
            self.assertEqual(str(opt.default), knobs[knob], knob)
        libvirt = [g for g in opts if getattr(g, 'name', g) == 'libvirt']
        vif_driver = {o.name: o for o in opts[libvirt[0]]}['vif_driver']
        self.assertEqual(vif_driver.default,
                         knobs['NOVA_LXC_CONTRAIL_VIF_DRIVER'])
        # The plugin writes exactly the [lxc_contrail] options.
        with open(os.path.join(TOP, 'devstack', 'plugin.sh')) as f:
            plugin = f.read()
        written = set(plugin.split('_NLC_OPTIONS=(')[1].split(')')[0].split())
        self.assertEqual(set(registered), written)


class TestStandins(testtools.TestCase):
    """The stand-ins behave as DevStack's helpers do."""

    def _bash(self, script):
        tmp = self.useFixture(fixtures.TempDir()).path
        proc = subprocess.run(
            ['bash', '-c', 'set -o errexit -o nounset; source "$1"; cd "$2"; '
             + script, '_', os.path.join(HARNESS, 'standins.sh'), tmp],
            capture_output=True, text=True)
        return proc, tmp

    def test_iniset_creates_appends_adds_and_replaces(self):
        proc, tmp = self._bash(
            'iniset a.conf DEFAULT debug True; '
            'iniset a.conf DEFAULT compute_driver libvirt.LibvirtDriver; '
            'iniset a.conf libvirt virt_type kvm; '
            'iniset a.conf libvirt virt_type lxc; '
            'iniset a.conf "" x y; iniset a.conf s "" y; cat a.conf')
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual('\n[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver'
                         '\ndebug = True\n\n[libvirt]\nvirt_type = lxc\n',
                         proc.stdout)

    def test_iniset_value_goes_through_unquoted_echo(self):
        proc, tmp = self._bash(
            'touch x1 x2; iniset a.conf s spaced "a   b"; '
            'iniset a.conf s glob "x*"; cat a.conf')
        self.assertIn('spaced = a b\n', proc.stdout)
        self.assertIn('glob = x1 x2\n', proc.stdout)

    def test_iniset_missing_directory_is_an_error(self):
        proc, tmp = self._bash('iniset no/such/dir.conf s o v')
        self.assertNotEqual(0, proc.returncode)
        self.assertFalse(os.path.exists(os.path.join(tmp, 'no')))

    def test_iniget_empty_answers(self):
        proc, tmp = self._bash(
            'iniset a.conf s o "v w"; echo "[$(iniget a.conf s o)]'
            '[$(iniget a.conf s x)][$(iniget a.conf t o)]'
            '[$(iniget missing.conf s o)]"')
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual('[v w][][][]\n', proc.stdout)

    def test_is_service_enabled_groups(self):
        proc, tmp = self._bash(
            'ENABLED_SERVICES=key,n-api,n-cpu,q-svc; '
            'for s in nova n-cpu n-cpu-1 neutron glance n-sch "foo n-api"; do '
            '  if is_service_enabled $s; then echo "$s on"; '
            '  else echo "$s off"; fi; done; '
            'enable_service g-api; disable_service n-api; '
            'echo "$ENABLED_SERVICES"')
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual(['nova on', 'n-cpu on', 'n-cpu-1 on', 'neutron on',
                          'glance off', 'n-sch off', 'foo n-api on',
                          'key,n-cpu,q-svc,g-api'],
                         proc.stdout.splitlines())

    def test_die_and_warn(self):
        proc, tmp = self._bash('false || warn 1 "careful"; echo not reached')
        self.assertNotEqual(0, proc.returncode)
        self.assertNotIn('not reached', proc.stdout)
        proc, tmp = self._bash('die 7 "it broke"; echo not reached')
        self.assertEqual(1, proc.returncode)
        self.assertIn('it broke', proc.stderr)
        self.assertNotIn('not reached', proc.stdout)

    def test_run_and_stop_process_only_for_enabled_services(self):
        proc, tmp = self._bash(
            'NLC_CALLS=calls; ENABLED_SERVICES=a; '
            'run_process b /bin/b; stop_process b; run_process a "/bin/a -x"; '
            'stop_process a; cat calls; run_process a relative')
        self.assertEqual(1, proc.returncode)
        self.assertEqual('run_process a /bin/a -x\nstop_process a\n',
                         proc.stdout)
        # DevStack dies on what systemd could not run.
        self.assertIn('does not start with an absolute path', proc.stderr)
