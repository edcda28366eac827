"""Shared pieces of the CLI, fault and load tests (root, sandboxed).

The command runs as a subprocess, as an operator runs it, with a nova.conf
written for the test: the agent stand-in's URL, a private ports dir and
instances path, and the private libvirtd's URI.
"""

import json
import os
import socket
import subprocess
import sys

import fixtures
import nova.conf  # noqa: F401 (registers instances_path, [libvirt], ...)
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
import testtools

from nova_lxc_contrail.cmd import inventory
from nova_lxc_contrail.standin import libvirtd
from nova_lxc_contrail.tests import vif_fixtures
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.vif import plugin

CONF = cfg.CONF

DOMAIN_XML = """\
<domain type='lxc'>
  <name>%(name)s</name>
  <uuid>%(uuid)s</uuid>
  <memory>65536</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <devices>
    <filesystem type='mount'><source dir='/tmp'/><target dir='/'/>
    </filesystem>
    <interface type='bridge'>
      <source bridge='%(bridge)s'/><target dev='%(veth)s'/>
    </interface>
  </devices>
</domain>
"""


class LibvirtdTestCase(testtools.TestCase):
    """Tests sharing a private libvirtd (lxc:///) for their whole class.

    The command asks libvirt which domains use the ports and instance dirs.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.libvirtd = libvirtd.PrivateLibvirtd().start()

    @classmethod
    def tearDownClass(cls):
        cls.libvirtd.stop()
        super().tearDownClass()


class HostFixture(fixtures.Fixture):
    """Agent stand-in, ports dir, instances path and a nova.conf for them.

    :param libvirt_uri: [libvirt] connection_uri for the command (None: the
        default lxc:///, which the sandbox's private libvirtd answers).
    :param lock_path: give this process and the command a private
        [oslo_concurrency] lock_path (external per-port locks).
    """

    def __init__(self, start_agent=True, libvirt_uri=None, read_timeout=2.0,
                 lock_path=False, **standin_kwargs):
        super().__init__()
        self.start_agent = start_agent
        self.libvirt_uri = libvirt_uri
        self.read_timeout = read_timeout
        self.lock_path = lock_path
        self.standin_kwargs = standin_kwargs

    def _setUp(self):
        CONF([], project='nova-lxc-contrail-tests', default_config_files=[])
        self.useFixture(config_fixture.Config(CONF))
        self.useFixture(vif_fixtures.InProcessPrivsep())
        self.agent = self.useFixture(vif_fixtures.AgentFixture(
            start=self.start_agent, read_timeout=self.read_timeout,
            **self.standin_kwargs))
        self.standin = self.agent.standin
        self.ports_dir = self.agent.ports_dir
        tmp = self.useFixture(fixtures.TempDir()).path
        self.instances_path = os.path.join(tmp, 'instances')
        os.mkdir(self.instances_path)
        # The command's own temporary files (image inspect's scratch dir)
        # go here, where this test can tell them from other workers'.
        self.command_tmp = os.path.join(tmp, 'command-tmp')
        os.mkdir(self.command_tmp)
        self.config_file = os.path.join(tmp, 'nova.conf')
        if self.lock_path:
            # [oslo_concurrency] lock_path, shared by this process and the
            # command, as nova-compute and the command share nova.conf's.
            self.lock_path = os.path.join(tmp, 'locks')
            os.mkdir(self.lock_path)
            CONF.set_override('lock_path', self.lock_path,
                              group='oslo_concurrency')
        self.write_config()
        self.plugin = plugin.LxcContrailPlugin.load(plugin.PLUGIN_NAME)
        self.addCleanup(self._unplug_everything)

    def write_config(self, **lxc_contrail):
        options = {'agent_url': self.standin.url,
                   'ports_dir': self.ports_dir,
                   'agent_connect_timeout': 1.0,
                   'agent_read_timeout': self.read_timeout}
        options.update(lxc_contrail)
        lines = ['[DEFAULT]', 'instances_path = %s' % self.instances_path,
                 'compute_driver = lxc_contrail.LxcContrailDriver',
                 '[libvirt]', 'virt_type = lxc']
        if self.libvirt_uri:
            lines.append('connection_uri = %s' % self.libvirt_uri)
        if self.lock_path:
            lines += ['[oslo_concurrency]', 'lock_path = %s' % self.lock_path]
        lines.append('[lxc_contrail]')
        lines += ['%s = %s' % item for item in sorted(options.items())]
        with open(self.config_file, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        CONF.set_override('instances_path', self.instances_path)

    def cli_argv(self, *args):
        return [sys.executable, '-m', 'nova_lxc_contrail.cmd.cli',
                '--config-file', self.config_file] + list(args)

    def cli(self, *args, check=None, stderr=None):
        """Run ``nova-lxc-contrail --config-file <ours> ARGS``.

        ``stderr`` (a string) is what the command must write on stderr:
        ``''`` for a success that has nothing to say (no library noise).
        """
        result = subprocess.run(self.cli_argv(*args), capture_output=True,
                                text=True, timeout=300,
                                env=dict(os.environ, TMPDIR=self.command_tmp))
        if check is not None and result.returncode != check:
            raise AssertionError('exit %d, expected %d\nstdout:\n%s\n'
                                 'stderr:\n%s' % (result.returncode, check,
                                                  result.stdout,
                                                  result.stderr))
        if stderr is not None and result.stderr != stderr:
            raise AssertionError('stderr of %s, expected %r:\n%s' % (
                ' '.join(args), stderr, result.stderr))
        return result

    def cli_json(self, *args, check=0, stderr=None):
        """The command's JSON; ``check=None`` accepts any exit status."""
        return json.loads(self.cli(*(args + ('--json',)), check=check,
                                   stderr=stderr).stdout)

    def plug(self, port_id=None, instance=None, name='vm1'):
        vif = vif_fixtures.vif(port_id)
        info = vif_fixtures.instance_info(
            name=name, uuid=instance or vif_fixtures.INSTANCE_ID)
        self.plugin.plug(vif, info)
        return vif

    def _unplug_everything(self):
        # Whatever a test left: devices of our naming, without judgement.
        for name in port_devices():
            with IPRoute() as ipr:
                try:
                    ipr.link('del', index=socket.if_nametoindex(name))
                except (OSError, NetlinkError):
                    pass  # already gone


def port_devices():
    """Names of the devices of our naming in this namespace."""
    with IPRoute() as ipr:
        names = [link.get_attr('IFLA_IFNAME')
                 for link in list(ipr.get_links())]
    return sorted(n for n in names if any(
        inventory.key_of(n, prefix) for prefix in inventory.PREFIXES.values()))


def exists(name):
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def define_domain(conn, uuid, port_id, name='instance-test'):
    """A defined (not started) LXC domain whose interface uses the port."""
    return conn.defineXML(DOMAIN_XML % {
        'name': name, 'uuid': uuid, 'bridge': naming.bridge_name(port_id),
        'veth': naming.veth_name(port_id)})
