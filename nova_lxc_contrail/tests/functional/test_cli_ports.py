"""``nova-lxc-contrail ports list|resync`` on real devices (root, sandbox).

Ports are plugged by the real os-vif plugin; the command runs as a
subprocess against the agent stand-in and the sandbox's private libvirtd.
"""

import json
import os
import socket
import subprocess
import time

import fixtures
import libvirt
from pyroute2 import IPRoute
from pyroute2.netlink.rtnl.ifinfmsg import IFF_PROMISC
import testtools

from nova_lxc_contrail.standin import agent as standin_agent
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests.functional import cli_fixtures
from nova_lxc_contrail.tests.functional import rootfs_base
from nova_lxc_contrail.tests import vif_fixtures
from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.vif import plugin


class TestPortsList(cli_fixtures.LibvirtdTestCase):

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture(
            auto_configure=True))

    def test_healthy_and_broken_ports_side_by_side(self):
        healthy = self.host.plug(name='vm-ok')
        out_of_bridge = self.host.plug()
        no_file = self.host.plug()
        with IPRoute() as ipr:
            ipr.link('set', index=socket.if_nametoindex(
                naming.tap_name(out_of_bridge.id)), master=0)
        os.unlink(os.path.join(self.host.ports_dir, no_file.id))
        conn = libvirt.open(self.libvirtd.uri)
        self.addCleanup(conn.close)
        dom = cli_fixtures.define_domain(conn, vif_fixtures.INSTANCE_ID,
                                         healthy.id, name='instance-ok')
        self.addCleanup(dom.undefine)

        report = self.host.cli_json('ports', 'list', stderr='')
        self.assertIsNone(report['libvirt_error'])
        rows = {r['port']: r for r in report['ports']}
        ok = rows[healthy.id]
        self.assertEqual('registered', ok['agent'])
        self.assertEqual('instance-ok', ok['domain']['name'])
        self.assertTrue(ok['bridge']['promiscuous'])
        self.assertEqual(['domain instance-ok not running'], ok['problems'])
        self.assertIn('tap not in bridge',
                      rows[out_of_bridge.id]['problems'])
        key = no_file.id[:11] + '...'
        self.assertIn('no port file', rows[key]['problems'])
        self.assertTrue(rows[key]['ours'])  # the devices carry the mark

        text = self.host.cli('ports', 'list', check=0, stderr='').stdout
        self.assertIn('! ', text)
        self.assertIn('3 ports, 3 with mismatches', text)

    def test_agent_down_is_shown_not_fatal(self):
        port = self.host.plug()
        self.host.standin.stop()
        report = self.host.cli_json('ports', 'list', stderr='')
        row = [r for r in report['ports'] if r['port'] == port.id][0]
        self.assertEqual('unreachable', row['agent'])
        self.assertIn('agent unreachable', row['problems'])

    def test_no_ports(self):
        self.assertIn('no ports', self.host.cli('ports', 'list',
                                                check=0).stdout)


class TestPortsResync(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture(
            libvirt_uri='lxc+unix:///system?socket=/nonexistent/sock'))

    def test_agent_restart_replays_and_resync_registers_same_ports(self):
        ports = [self.host.plug() for _ in range(5)]
        before = self.host.standin.registrations
        self.assertEqual({p.id for p in ports}, set(before))
        # The agent's own replay at restart: every file whose interface
        # exists comes back with the same system-name.
        self.host.standin.stop()
        self.host.standin.start()
        self.assertEqual(before, self.host.standin.registrations)
        # An agent that lost its files too (another ports dir): only resync
        # brings the ports back.
        self.host.standin.stop()
        fresh = standin_agent.AgentStandin(
            self.useFixture(fixtures.TempDir()).path)
        self.addCleanup(fresh.stop)
        fresh.start()
        self.host.write_config(agent_url=fresh.url)
        self.assertEqual({}, fresh.registrations)
        report = self.host.cli_json('ports', 'resync')
        self.assertEqual(5, len(report))
        self.assertTrue(all(r['ok'] for r in report))
        self.assertEqual(
            {p.id: naming.bridge_name(p.id) for p in ports},
            {k: v['system-name'] for k, v in fresh.registrations.items()})

    def test_resync_repairs_devices(self):
        port = self.host.plug()
        tap, bridge = naming.tap_name(port.id), naming.bridge_name(port.id)
        with IPRoute() as ipr:
            ipr.link('set', index=socket.if_nametoindex(tap), master=0)
            ipr.link('set', index=socket.if_nametoindex(bridge), flags=0,
                     change=IFF_PROMISC)
        result = self.host.cli('ports', 'resync', check=0)
        self.assertIn('repaired devices', result.stdout)
        self.assertIn('resync: 1/1 done', result.stderr)
        with IPRoute() as ipr:
            tap_link = ipr.link('get', ifname=tap)[0]
            bridge_link = ipr.link('get', ifname=bridge)[0]
        self.assertEqual(bridge_link['index'],
                         tap_link.get_attr('IFLA_MASTER'))
        self.assertTrue(bridge_link['flags'] & IFF_PROMISC)

    def test_agent_down_exits_1_and_says_so(self):
        self.host.plug()
        self.host.standin.stop()
        result = self.host.cli('ports', 'resync', check=1)
        self.assertIn('agent unreachable: not registered', result.stdout)

    def test_foreign_port_file_is_not_touched(self):
        port_id = vif_fixtures.new_port_id()
        path = os.path.join(self.host.ports_dir, port_id)
        os.makedirs(self.host.ports_dir, exist_ok=True)
        payload = dict(vif_fixtures.expected_payload(
            vif_fixtures.vif(port_id)), author='vrouter-port-control')
        with open(path, 'w') as f:
            json.dump(payload, f)
        report = self.host.cli_json('ports', 'resync')
        self.assertEqual(['skipped: port file written by '
                          'vrouter-port-control, not this package'],
                         report[0]['actions'])
        self.assertEqual({}, self.host.standin.registrations)


RUNNING_INSTANCE = '5f5f5f5f-1111-4222-8333-444444444444'
RUNNING_XML = """\
<domain type='lxc'>
  <name>instance-running</name>
  <uuid>%(uuid)s</uuid>
  <memory>65536</memory>
  <os><type>exe</type><init>/sbin/init</init></os>
  <devices>
    <filesystem type='mount'><source dir='%(root)s'/><target dir='/'/>
    </filesystem>
    <interface type='bridge'>
      <source bridge='%(bridge)s'/><target dev='%(veth)s'/>
    </interface>
    <console type='pty'/>
  </devices>
</domain>
"""


class TestResyncRunningDomain(cli_fixtures.LibvirtdTestCase):
    """A running container whose bridge vanished gets it back, veth in."""

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture())
        self.root = self.useFixture(fixtures.TempDir()).path
        images.busybox_tree(self.root)

    def test_bridge_recreated_and_veth_back_in_it(self):
        port = self.host.plug(instance=RUNNING_INSTANCE)
        conn = libvirt.open(self.libvirtd.uri)
        self.addCleanup(conn.close)
        dom = conn.createXML(RUNNING_XML % {
            'uuid': RUNNING_INSTANCE, 'root': self.root,
            'bridge': naming.bridge_name(port.id),
            'veth': naming.veth_name(port.id)}, 0)
        self.addCleanup(dom.destroy)
        veth = naming.veth_name(port.id)
        self.assertIsNotNone(linux_net.device_state(veth))
        # The bridge disappears under the running container (an operator's
        # mistake, a crashed cleanup script).
        with IPRoute() as ipr:
            ipr.link('del', index=socket.if_nametoindex(
                naming.bridge_name(port.id)))
        self.assertIsNone(linux_net.device_state(veth)['master'])
        report = self.host.cli_json('ports', 'resync')
        actions = [r for r in report if r['port'] == port.id][0]['actions']
        self.assertIn('recreated %s' % naming.bridge_name(port.id), actions)
        self.assertIn('%s back in %s' % (veth, naming.bridge_name(port.id)),
                      actions)
        bridge = linux_net.device_state(naming.bridge_name(port.id))
        self.assertEqual(bridge['index'],
                         linux_net.device_state(veth)['master'])
        self.assertEqual(bridge['index'], linux_net.device_state(
            naming.tap_name(port.id))['master'])
        self.assertTrue(bridge['promiscuous'])


class TestCommandsTakeNovaComputesPortLock(cli_fixtures.LibvirtdTestCase):
    """The commands wait while nova-compute holds a port's lock.

    ``ports resync`` and ``cleanup`` take ``plugin.port_lock``, shared
    across processes through [oslo_concurrency] lock_path.
    """

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture(lock_path=True))

    def assertWaitsForTheLock(self, port_id, argv, request):
        """Run ``argv`` while this process holds the port's lock.

        The command must open the port's lock file and send nothing to
        the agent for the port until the lock is released, then
        ``request`` ((method, path)).
        """
        lock_file = os.path.join(self.host.lock_path,
                                 plugin.LOCK_PREFIX + port_id)
        self.host.standin.clear_requests()
        with plugin.port_lock(port_id):
            proc = subprocess.Popen(self.host.cli_argv(*argv),
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            self.addCleanup(_reap, proc)
            self.assertTrue(rootfs_base.wait_for(
                lambda: proc.poll() is not None or
                lock_file in _open_files(proc.pid), 60),
                'the command did not start')
            if proc.poll() is not None:
                self.fail('the command did not wait for the port lock: '
                          '%s%s' % proc.communicate())
            time.sleep(0.5)
            self.assertIsNone(proc.poll())
            self.assertNotIn(request, [
                (r.method, r.path) for r in self.host.standin.requests])
        out, err = proc.communicate(timeout=60)
        self.assertEqual(0, proc.returncode, out + err)
        self.assertIn(request, [
            (r.method, r.path) for r in self.host.standin.requests])

    def test_resync_waits_for_the_port_lock(self):
        port = self.host.plug()
        self.assertWaitsForTheLock(port.id, ('ports', 'resync'),
                                   ('POST', '/port'))
        self.assertIn(port.id, self.host.standin.registrations)

    def test_cleanup_waits_for_the_port_lock(self):
        port = self.host.plug(instance='3e3e3e3e-1111-4222-8333-444444444444')
        self.assertWaitsForTheLock(port.id, ('cleanup', '--grace', '0'),
                                   ('DELETE', '/port/' + port.id))
        self.assertEqual([], cli_fixtures.port_devices())


def _open_files(pid):
    found = set()
    try:
        fds = os.listdir('/proc/%d/fd' % pid)
    except OSError:
        return found
    for fd in fds:
        try:
            found.add(os.readlink('/proc/%d/fd/%s' % (pid, fd)))
        except OSError:
            pass
    return found


def _reap(proc):
    if proc.poll() is None:
        proc.kill()
    proc.communicate()
