"""Plug and unplug against the real kernel (this worker's own netns).

Most tests run the privsep entrypoints in-process (``set_client_mode
(False)``, as os-vif's functional tests do): the netlink work is the same,
failures are easier to read. ``TestPrivsepDaemon`` goes through a real
privsep daemon keeping only CAP_NET_ADMIN.
"""

import gc
import json
import os
import socket
import sys
import threading
import time
import tracemalloc

import fixtures
import os_vif
from os_vif import exception as osv_exception
from oslo_config import cfg
from oslo_privsep import priv_context
from pyroute2 import IPRoute
import requests
import testtools

from nova_lxc_contrail.standin import namespaces
from nova_lxc_contrail.tests import vif_fixtures as vf
from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.vif import privsep

CAP_NET_ADMIN = 12


def links():
    return {name for _, name in socket.if_nameindex()}


class VifTestCase(testtools.TestCase):

    agent_kwargs = {}

    def setUp(self):
        super().setUp()
        if not namespaces.in_private_namespaces():
            self.fail('functional tests must run through '
                      'nova_lxc_contrail.tests.sandbox')
        self.agent = self.useFixture(vf.AgentFixture(**self.agent_kwargs))
        self.standin = self.agent.standin
        self.useFixture(vf.InProcessPrivsep())
        os_vif.initialize()
        self.info = vf.instance_info()

    def new_vif(self, **kwargs):
        v = vf.vif(**kwargs)
        self.addCleanup(self.cleanup_port, v.id)
        return v

    def cleanup_port(self, pid):
        linux_net.unplug_devices(naming.tap_name(pid),
                                 naming.bridge_name(pid))

    def plug(self, v, info=None):
        os_vif.plug(v, info or self.info)

    def unplug(self, v, info=None):
        os_vif.unplug(v, info or self.info)

    def state(self, name):
        return linux_net.device_state(name)

    def assertPlugged(self, v, mtu=1400, promiscuous=True):
        tap = self.state(naming.tap_name(v.id))
        bridge = self.state(naming.bridge_name(v.id))
        self.assertIsNotNone(tap, 'no tap')
        self.assertIsNotNone(bridge, 'no bridge')
        self.assertEqual(('tun', 'bridge'), (tap['kind'], bridge['kind']))
        self.assertEqual(bridge['index'], tap['master'])
        self.assertEqual(promiscuous, bridge['promiscuous'])
        self.assertTrue(tap['up'])
        self.assertTrue(bridge['up'])
        self.assertEqual((mtu, mtu), (tap['mtu'], bridge['mtu']))
        self.assertEqual(linux_net.port_group(tap['index']), tap['group'])
        self.assertEqual(tap['group'], bridge['group'])
        self.assertEqual((False, False), (tap['ipv6'], bridge['ipv6']))
        return tap, bridge

    def assertGone(self, v):
        self.assertIsNone(self.state(naming.tap_name(v.id)))
        self.assertIsNone(self.state(naming.bridge_name(v.id)))

    def port_file(self, pid):
        with open(os.path.join(self.agent.ports_dir, pid)) as f:
            return json.load(f)


class TestPlug(VifTestCase):

    def test_plug(self):
        v = self.new_vif()
        self.plug(v)
        self.assertPlugged(v)
        data = self.port_file(v.id)
        self.assertEqual('nova-lxc-contrail', data.pop('author'))
        self.assertTrue(data.pop('time'))
        expected = vf.expected_payload(v)
        self.assertEqual(expected, data)
        self.assertEqual([('POST', '/port', expected)],
                         [tuple(r) for r in self.standin.requests])
        entry = self.standin.registrations[v.id]
        self.assertEqual((naming.bridge_name(v.id), 0),
                         (entry['system-name'], entry['type']))

    def test_unplug(self):
        v = self.new_vif()
        self.plug(v)
        self.standin.clear_requests()
        self.unplug(v)
        self.assertGone(v)
        self.assertEqual([], self.agent.port_files())
        self.assertEqual([('DELETE', '/port/' + v.id, None)],
                         [tuple(r) for r in self.standin.requests])
        self.assertEqual({}, self.standin.registrations)

    def test_plug_twice_leaves_the_same_state(self):
        v = self.new_vif()
        self.plug(v)
        first = self.assertPlugged(v)
        before = links()
        self.plug(v)
        self.assertEqual(first, self.assertPlugged(v))
        self.assertEqual(before, links())
        self.assertEqual(['POST', 'POST'],
                         [r.method for r in self.standin.requests])

    def test_unplug_twice_and_unplug_unknown_port(self):
        v = self.new_vif()
        self.plug(v)
        self.unplug(v)
        self.unplug(v)
        self.unplug(self.new_vif())
        self.assertGone(v)

    def test_unplug_half_plugged(self):
        for keep in ('tap', 'bridge'):
            v = self.new_vif()
            self.plug(v)
            gone = (naming.bridge_name(v.id) if keep == 'tap'
                    else naming.tap_name(v.id))
            with IPRoute() as ipr:
                ipr.link('del', index=socket.if_nametoindex(gone))
            self.unplug(v)
            self.assertGone(v)

    def test_plug_repairs_a_half_plugged_port(self):
        v = self.new_vif()
        self.plug(v)
        with IPRoute() as ipr:
            ipr.link('del', index=socket.if_nametoindex(
                naming.tap_name(v.id)))
        self.plug(v)
        self.assertPlugged(v)

    def test_unplug_leaves_other_ports_alone(self):
        a, b = self.new_vif(), self.new_vif()
        self.plug(a)
        self.plug(b)
        b_state = self.assertPlugged(b)
        self.unplug(a)
        self.assertGone(a)
        self.assertEqual(b_state, self.assertPlugged(b))
        self.assertIn(b.id, self.standin.registrations)

    def test_foreign_device_with_a_port_name_is_refused(self):
        v = self.new_vif()
        tap = naming.tap_name(v.id)
        with IPRoute() as ipr:
            ipr.link('add', ifname=tap, kind='bridge')
        self.addCleanup(self._delete_link, tap)
        before = links()
        e = self.assertRaises(osv_exception.PlugException, self.plug, v)
        self.assertIn('a bridge device of that name exists', str(e))
        self.assertEqual(before, links())
        self.assertEqual([], self.agent.port_files())
        self.assertEqual([], self.standin.requests)
        # unplug leaves a device that is not the port's alone
        self.unplug(v)
        self.assertIn(tap, links())

    def _delete_link(self, name):
        with IPRoute() as ipr:
            ipr.link('del', index=socket.if_nametoindex(name))

    def test_bad_input_creates_nothing(self):
        before = links()
        bad = []
        v = vf.vif()
        del v.address
        bad.append(v)
        v = vf.vif()
        v.network = None
        bad.append(v)
        bad.append(vf.vif(id='not-a-uuid'))
        bad.append(vf.vif(mac='00:00:00:00:00:00'))
        bad.append(vf.vif(vif_name='tap-name-too-long'))
        bad.append(vf.vif(net=vf.network(mtu=10)))
        for v in bad:
            self.assertRaises(osv_exception.PlugException, self.plug, v)
        self.assertEqual(before, links())
        self.assertEqual([], self.agent.port_files())
        self.assertEqual([], self.standin.requests)

    def test_unwritable_ports_dir_fails_the_plug_and_undoes_it(self):
        blocker = os.path.join(os.path.dirname(self.agent.ports_dir), 'f')
        open(blocker, 'w').close()
        self.agent.conf.config(group='lxc_contrail',
                               ports_dir=os.path.join(blocker, 'ports'))
        before = links()
        e = self.assertRaises(osv_exception.PlugException, self.plug,
                              self.new_vif())
        self.assertIn('cannot write the port file', str(e))
        self.assertEqual(before, links())
        self.assertEqual([], self.standin.requests)

    def test_promiscuous_mode_is_configurable(self):
        self.agent.conf.config(group='lxc_contrail', bridge_promiscuous=False)
        v = self.new_vif()
        self.plug(v)
        self.assertPlugged(v, promiscuous=False)
        self.agent.conf.config(group='lxc_contrail', bridge_promiscuous=True)
        self.plug(v)
        self.assertPlugged(v, promiscuous=True)

    def test_without_mtu_the_kernel_default_stays(self):
        v = self.new_vif(net=vf.network(mtu=None))
        self.plug(v)
        self.assertPlugged(v, mtu=1500)

    def test_replug_with_a_changed_registration_deletes_first(self):
        v = self.new_vif()
        self.plug(v)
        v.network = vf.network(ips=('11.0.0.9',))
        self.plug(v)
        self.assertEqual(['POST', 'DELETE', 'POST'],
                         [r.method for r in self.standin.requests])
        self.assertEqual('11.0.0.9',
                         self.standin.registrations[v.id]['ip-address'])
        self.assertEqual('11.0.0.9', self.port_file(v.id)['ip-address'])

    def test_replug_of_the_agents_own_file_is_not_a_change(self):
        v = self.new_vif()
        # Registered by another client: the agent wrote the file.
        requests.post(self.standin.url + '/port',
                      json=vf.expected_payload(v), timeout=5)
        self.standin.clear_requests()
        self.plug(v)
        self.assertEqual(['POST'], [r.method for r in self.standin.requests])
        self.assertEqual('contrail-vrouter-agent',
                         self.port_file(v.id)['author'])

    def test_ports_in_parallel_and_same_port_serialised(self):
        lock_path = self.useFixture(fixtures.TempDir()).path
        self.agent.conf.config(group='oslo_concurrency', lock_path=lock_path)
        ports = [self.new_vif() for _ in range(4)]
        errors = []

        def work(v):
            try:
                for _ in range(3):
                    self.plug(v)
                    self.unplug(v)
                self.plug(v)
            except Exception as e:  # noqa: B902 - collected, asserted below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(v,))
                   for v in ports + ports]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([], errors)
        for v in ports:
            self.assertPlugged(v)
        self.assertEqual(sorted(v.id for v in ports),
                         self.agent.port_files())
        # serialised across processes too: one lock file per port
        self.assertEqual(4, len(os.listdir(lock_path)))


class TestAgentDown(VifTestCase):

    agent_kwargs = {'start': False}

    def test_plug_succeeds_and_the_agent_replays_the_file(self):
        v = self.new_vif()
        self.plug(v)
        self.assertPlugged(v)
        self.assertEqual([v.id], self.agent.port_files())
        self.assertEqual([], self.standin.requests)
        self.standin.start()
        entry = self.standin.registrations[v.id]
        self.assertEqual(naming.bridge_name(v.id), entry['system-name'])

    def test_unplug_succeeds(self):
        v = self.new_vif()
        self.plug(v)
        self.unplug(v)
        self.assertGone(v)
        self.assertEqual([], self.agent.port_files())

    def test_hanging_agent_is_waited_for_read_timeout_only(self):
        self.agent.conf.config(group='lxc_contrail', agent_read_timeout=0.3)
        self.standin.start()
        self.standin.hang = True
        v = self.new_vif()
        started = time.monotonic()
        self.plug(v)
        self.assertLess(time.monotonic() - started, 2)
        self.assertPlugged(v)
        self.assertEqual([v.id], self.agent.port_files())


class TestAgentRefuses(VifTestCase):

    def test_refusal_fails_the_plug_and_undoes_it(self):
        v = self.new_vif()
        before = links()
        self.standin.refuse(v.id, 'Invalid VN uuid')
        e = self.assertRaises(osv_exception.PlugException, self.plug, v)
        self.assertIn('Invalid VN uuid', str(e))
        self.assertIn('HTTP 500', str(e))
        self.assertEqual(before, links())
        self.assertEqual([], self.agent.port_files())

    def test_refusal_keeps_what_existed_before(self):
        v = self.new_vif()
        self.plug(v)
        state = self.assertPlugged(v)
        self.standin.refuse(v.id, 'no')
        self.assertRaises(osv_exception.PlugException, self.plug, v)
        self.assertEqual(state, self.assertPlugged(v))
        self.assertEqual([v.id], self.agent.port_files())


class TestPrivsepDaemon(VifTestCase):
    """Through a real privsep daemon (forked, CAP_NET_ADMIN only)."""

    def setUp(self):
        super().setUp()
        # Config fixtures' reset() drops set_default() values, the
        # context's capability list among them: set it again.
        cfg.CONF.set_default('capabilities', privsep.CAPABILITIES,
                             group=privsep.CFG_SECTION)
        privsep.vif_plug.set_client_mode(True)
        before = self._children()
        privsep.vif_plug.start(priv_context.Method.FORK)
        self.addCleanup(self._stop_daemon)
        daemons = self._children() - before
        self.assertEqual(1, len(daemons))
        self.daemon = daemons.pop()

    def _stop_daemon(self):
        privsep.vif_plug.stop()
        # oslo.privsep does not reap a forked daemon: leave no zombie.
        os.waitpid(self.daemon, 0)

    @staticmethod
    def _status(pid):
        try:
            with open('/proc/%s/status' % pid) as f:
                return dict(line.rstrip('\n').split(':\t', 1) for line in f
                            if ':\t' in line)
        except OSError:
            return None

    def _children(self):
        me = str(os.getpid())
        found = set()
        for pid in filter(str.isdigit, os.listdir('/proc')):
            status = self._status(pid)
            if status and status['PPid'] == me and \
                    not status['State'].startswith('Z'):
                found.add(int(pid))
        return found

    def _daemon_caps(self):
        status = self._status(self.daemon)
        return {k: int(status[k], 16) for k in ('CapEff', 'CapPrm', 'CapInh')}

    def test_plug_and_unplug_through_the_daemon(self):
        v = self.new_vif()
        self.plug(v)
        self.assertPlugged(v)
        self.assertEqual({'CapEff': 1 << CAP_NET_ADMIN,
                          'CapPrm': 1 << CAP_NET_ADMIN, 'CapInh': 0},
                         self._daemon_caps())
        self.unplug(v)
        self.assertGone(v)

    def test_errors_cross_the_daemon(self):
        v = self.new_vif()
        with IPRoute() as ipr:
            ipr.link('add', ifname=naming.bridge_name(v.id), kind='tuntap',
                     mode='tap')
        self.addCleanup(self._delete, naming.bridge_name(v.id))
        e = self.assertRaises(osv_exception.PlugException, self.plug, v)
        self.assertIn('a tun device of that name exists', str(e))
        self.assertIsNone(self.state(naming.tap_name(v.id)))

    def _delete(self, name):
        with IPRoute() as ipr:
            ipr.link('del', index=socket.if_nametoindex(name))


class TestPooledSocketsKeepNothing(testtools.TestCase):
    """What a request leaves on a pooled netlink socket adds up.

    nova-compute's privsep daemon keeps its sockets for good and runs the
    requests in a pool of worker threads.
    """

    LOOKUPS = 1000
    # Allocator noise. A retained ack (~78 bytes per link found) or a
    # connection-reset message (~105 bytes per request) is 78-250 KB here.
    MAX_GROWTH_BYTES = 8 * 1024

    def setUp(self):
        super().setUp()
        if not namespaces.in_private_namespaces():
            self.fail('functional tests must run through '
                      'nova_lxc_contrail.tests.sandbox')

    def assertLookupsKeepNothing(self):
        def lookups():
            for _ in range(self.LOOKUPS):
                self.assertIsNotNone(linux_net.device_state('lo'))
                self.assertIsNone(linux_net.device_state('nlc-missing0'))

        def traced():
            gc.collect()
            # CPython's type attribute cache keeps up to 4096 attribute
            # names alive (pyroute2 builds them per request): not growth.
            sys._clear_type_cache()
            return tracemalloc.get_traced_memory()[0]

        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        # Traced warm-up: bounded structures (pyroute2's 255 banned
        # sequence numbers, ...) swap their untraced entries for traced
        # ones here, which is not growth.
        lookups()
        before = traced()
        lookups()
        grown = traced() - before
        self.assertLess(grown, self.MAX_GROWTH_BYTES,
                        '%d lookups on pooled sockets kept %d bytes' %
                        (2 * self.LOOKUPS, grown))

    def test_link_lookups_retain_no_memory(self):
        self.assertLookupsKeepNothing()

    def test_after_another_thread_used_the_pool(self):
        worker = threading.Thread(target=linux_net.device_state,
                                  args=('lo',))
        worker.start()
        worker.join()
        self.assertLookupsKeepNothing()


class TestHostUntouched(testtools.TestCase):

    def test_worker_has_its_own_network_namespace(self):
        self.assertNotEqual(os.readlink('/proc/%d/ns/net' % os.getppid()),
                            os.readlink('/proc/self/ns/net'))
