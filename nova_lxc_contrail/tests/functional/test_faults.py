"""Faults: the vRouter agent down, restarted or hanging; the plugging
process killed at every step of plug, unplug and rootfs setup; many ports
at once. Root, sandboxed, real kernel and real agent stand-in."""

import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from nova.virt.image import model as imgmodel
from pyroute2 import IPRoute
import testtools
from testtools import content

from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail.disk import privsep as disk_privsep
from nova_lxc_contrail.disk import state as disk_state
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests.functional import cli_fixtures
from nova_lxc_contrail.tests.functional import rootfs_base
from nova_lxc_contrail.tests import host_state
from nova_lxc_contrail.tests import userns_fixtures
from nova_lxc_contrail.tests import vif_fixtures
from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.vif import naming

UNREACHABLE_LIBVIRT = 'lxc+unix:///system?socket=/nonexistent/libvirt-sock'


def assert_plugged(test, host, port_id):
    tap = linux_net.device_state(naming.tap_name(port_id))
    bridge = linux_net.device_state(naming.bridge_name(port_id))
    test.assertIsNotNone(tap, 'no tap')
    test.assertIsNotNone(bridge, 'no bridge')
    test.assertEqual(bridge['index'], tap['master'])
    test.assertTrue(bridge['promiscuous'] and bridge['up'] and tap['up'])
    test.assertIn(port_id, os.listdir(host.ports_dir))
    test.assertEqual(naming.bridge_name(port_id),
                     host.standin.registrations[port_id]['system-name'])


def assert_unplugged(test, host, port_id):
    test.assertFalse(cli_fixtures.exists(naming.tap_name(port_id)))
    test.assertFalse(cli_fixtures.exists(naming.bridge_name(port_id)))
    test.assertNotIn(port_id, os.listdir(host.ports_dir)
                     if os.path.isdir(host.ports_dir) else [])
    test.assertNotIn(port_id, host.standin.registrations)


class TestAgentFaults(testtools.TestCase):

    def test_agent_down_during_plug_then_started(self):
        host = self.useFixture(cli_fixtures.HostFixture(start_agent=False))
        vif = host.plug()
        # Plug succeeded: devices and the file are there, nothing reached
        # the agent.
        self.assertTrue(cli_fixtures.exists(naming.bridge_name(vif.id)))
        self.assertIn(vif.id, os.listdir(host.ports_dir))
        self.assertEqual({}, host.standin.registrations)
        host.standin.start()   # replays the ports dir
        assert_plugged(self, host, vif.id)

    def test_restart_replay_and_resync_register_every_port_again(self):
        host = self.useFixture(cli_fixtures.HostFixture(
            libvirt_uri=UNREACHABLE_LIBVIRT))
        ports = [host.plug().id for _ in range(6)]
        before = host.standin.registrations
        host.standin.stop()
        host.standin.start()
        self.assertEqual(before, host.standin.registrations)
        # Restarted while half of the bridges were gone: the agent's replay
        # skips those (no interface); resync recreates them (their taps are
        # there) and registers every port with the same system-name.
        host.standin.stop()
        with IPRoute() as ipr:
            for pid in ports[:3]:
                ipr.link('del', ifname=naming.bridge_name(pid))
        host.standin.start()
        self.assertEqual(set(ports[3:]), set(host.standin.registrations))
        result = host.cli('ports', 'resync', check=0)
        self.assertEqual(3, result.stdout.count('recreated'), result.stdout)
        for pid in ports:
            assert_plugged(self, host, pid)
        self.assertEqual(
            {p: before[p]['system-name'] for p in ports},
            {p: e['system-name']
             for p, e in host.standin.registrations.items()})

    def test_agent_hanging_plug_and_unplug_return_in_time(self):
        read_timeout = 1.0
        host = self.useFixture(cli_fixtures.HostFixture(
            read_timeout=read_timeout))
        host.standin.hang = True
        self.addCleanup(setattr, host.standin, 'hang', False)
        baseline = _our_threads()
        done = {}

        def plug():
            started = time.monotonic()
            done['vif'] = host.plug()
            done['plug'] = time.monotonic() - started

        worker = threading.Thread(target=plug)
        worker.start()
        worker.join(read_timeout + 10)
        self.assertFalse(worker.is_alive(), 'plug still blocked')
        # connect is immediate; the read times out once.
        self.assertLess(done['plug'], read_timeout + 1.0)
        vif = done['vif']
        self.assertIn(vif.id, os.listdir(host.ports_dir))
        self.assertTrue(cli_fixtures.exists(naming.bridge_name(vif.id)))
        started = time.monotonic()
        host.plugin.unplug(vif, vif_fixtures.instance_info())
        self.assertLess(time.monotonic() - started, read_timeout + 1.0)
        self.assertFalse(cli_fixtures.exists(naming.bridge_name(vif.id)))
        self.assertEqual(baseline, _our_threads())
        host.standin.hang = False
        self.assertTrue(rootfs_base.wait_for(
            lambda: _handler_threads() == 0, 5), 'stand-in threads stay')


def _handler_threads():
    return sum(1 for t in threading.enumerate()
               if 'process_request' in t.name)


def _our_threads():
    """Threads that are not the agent stand-in's request handlers."""
    return sorted(t.name for t in threading.enumerate()
                  if 'process_request' not in t.name)


class TestKilledMidway(testtools.TestCase):
    """SIGKILL before every step; the next operation converges."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.images = tempfile.mkdtemp(prefix='nlc-faults-images-')
        cls.qcow2 = images.build_image(
            os.path.join(cls.images, 'boot-first.qcow2'), 'gpt-boot-first',
            'qcow2')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.images)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture(
            auto_configure=True))
        self.kills = []

    def child(self, spec, kill_at):
        spec = dict(spec, kill_at=kill_at, lxc_contrail={
            'agent_url': self.host.standin.url,
            'ports_dir': self.host.ports_dir})
        proc = subprocess.run(
            [sys.executable, '-m',
             'nova_lxc_contrail.tests.functional.faults_child',
             json.dumps(spec)], capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertEqual(-9, proc.returncode, proc.stderr)
        self.kills.append(proc.stderr.strip().splitlines()[-1])
        return None

    def kill_at_every_step(self, spec, converge):
        """Kill the child before step 1, 2, ... until it completes.

        After each run ``converge(kill_at)`` must reach a clean state.
        """
        started = time.monotonic()
        for kill_at in range(1, 200):
            finished = self.child(spec, kill_at)
            converge(kill_at)
            if finished is not None:
                sys.stderr.write(
                    'FAULTS: %s: %s %d steps, killed before each, converged '
                    'every time (%.1f s):\n  %s\n' % (
                        self.id().rsplit('.', 1)[-1], spec['op'],
                        finished['steps'], time.monotonic() - started,
                        '\n  '.join(self.kills)))
                return finished['steps']
        self.fail('the child never completed')

    def test_plug_killed_then_plug_again_or_unplug(self):
        instance = vif_fixtures.INSTANCE_ID

        def converge(kill_at):
            pid = spec['port_id']
            if kill_at % 2:
                self.host.plug(pid)
                assert_plugged(self, self.host, pid)
            self.host.plugin.unplug(vif_fixtures.vif(pid),
                                    vif_fixtures.instance_info())
            assert_unplugged(self, self.host, pid)
            spec['port_id'] = vif_fixtures.new_port_id()

        spec = {'op': 'plug', 'port_id': vif_fixtures.new_port_id(),
                'instance': instance}
        steps = self.kill_at_every_step(spec, converge)
        self.assertGreaterEqual(steps, 5)
        self.assertEqual(steps, len(self.kills))
        self.addDetail('kill points', content.text_content(
            '\n'.join(self.kills)))

    def test_unplug_killed_then_unplug_again(self):
        def converge(kill_at):
            pid = spec['port_id']
            self.host.plugin.unplug(vif_fixtures.vif(pid),
                                    vif_fixtures.instance_info())
            assert_unplugged(self, self.host, pid)
            spec['port_id'] = self.host.plug().id

        spec = {'op': 'unplug', 'port_id': self.host.plug().id,
                'instance': vif_fixtures.INSTANCE_ID}
        steps = self.kill_at_every_step(spec, converge)
        self.assertGreaterEqual(steps, 3)

    def test_plug_killed_then_cleanup_converges(self):
        # A private libvirtd is not needed: cleanup only needs to know that
        # no domain uses the ports, so a libvirtd with no domains answers.
        from nova_lxc_contrail.standin import libvirtd
        daemon = libvirtd.PrivateLibvirtd().start()
        self.addCleanup(daemon.stop)
        gone = '3e3e3e3e-1111-4222-8333-444444444444'
        taps, removed = {}, {}

        def converge(kill_at):
            tap = linux_net.device_state(naming.tap_name(spec['port_id']))
            taps[kill_at] = tap and tap['group']
            report = self.host.cli_json('cleanup', '--grace', '0')
            self.assertTrue(all(a['ok'] for a in report['actions']),
                            report)
            # Whatever a killed plug left carries the mark, so cleanup
            # proves it ours: nothing is kept, nothing is left.
            self.assertEqual([], report['kept'], 'after kill %d' % kill_at)
            self.assertEqual([], cli_fixtures.port_devices(),
                             'after kill %d' % kill_at)
            self.assertEqual([], os.listdir(self.host.ports_dir)
                             if os.path.isdir(self.host.ports_dir) else [])
            self.assertEqual({}, self.host.standin.registrations)
            removed[kill_at] = [a['kind'] for a in report['actions']]
            spec['port_id'] = vif_fixtures.new_port_id()

        spec = {'op': 'plug', 'port_id': vif_fixtures.new_port_id(),
                'instance': gone}
        steps = self.kill_at_every_step(spec, converge)
        self.assertEqual(steps + 1, len(removed))
        kills = dict(enumerate(self.kills, 1))
        persist = next(k for k, step in kills.items()
                       if 'tap persist' in step)
        # Killed before its TUNSETPERSIST, the tap died with the process;
        # after, it was there and marked.
        self.assertEqual({k: None for k in range(1, persist + 1)},
                         {k: taps[k] for k in range(1, persist + 1)})
        for k in range(persist + 1, steps + 2):
            self.assertTrue(taps[k] & linux_net.PORT_GROUP_BASE, k)
        lines = ['%d %s: tap %s; cleanup: %s' % (
            k, kills.get(k, '(completed)'),
            'gone' if taps[k] is None else 'group %#x' % taps[k],
            ', '.join(removed[k]) or 'nothing to do')
            for k in sorted(removed)]
        self.addDetail('cleanup after each kill',
                       content.text_content('\n'.join(lines)))
        sys.stderr.write('FAULTS: cleanup after each kill:\n  %s\n' %
                         '\n  '.join(lines))

    def kill_rootfs_setup_at_every_step(self, id_maps=None):
        """Kill a qcow2 rootfs setup before each of its steps; converge.

        After each kill, teardown releases everything (no loop device,
        mount, export daemon or file of the record left) and the next setup
        of the same instance works. -> the number of kill points.
        """
        disk_privsep.disk_pctxt.set_client_mode(False)
        self.addCleanup(disk_privsep.disk_pctxt.set_client_mode, True)
        root = tempfile.mkdtemp(prefix='nlc-faults-')
        if id_maps:
            os.chmod(root, 0o755)       # the mapped root searches it
        self.addCleanup(shutil.rmtree, root)

        def instance():
            directory = tempfile.mkdtemp(dir=root)
            disk = os.path.join(directory, 'disk')
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F',
                            'qcow2', '-b', self.qcow2, disk], check=True)
            os.mkdir(os.path.join(directory, 'rootfs'))
            spec = {'op': 'setup', 'disk': disk, 'format': 'qcow2',
                    'container_dir': os.path.join(directory, 'rootfs')}
            if id_maps:
                spec['id_maps'] = id_maps
            return spec

        def converge(kill_at):
            container_dir = spec['container_dir']
            directory = os.path.dirname(container_dir)
            self.assertTrue(disk_api.teardown_container(container_dir))
            self.assertEqual({}, host_state.loops_below(directory))
            self.assertEqual([], host_state.mounts_below(directory))
            self.assertEqual([], rootfs_base.qsd_processes(directory))
            paths = disk_state.Paths(container_dir)
            for leftover in (paths.state, paths.export, paths.qmp,
                             paths.pid, paths.stage):
                self.assertFalse(os.path.lexists(leftover), leftover)
            # The next setup of the same instance works.
            disk_api.setup_container(
                imgmodel.LocalFileImage(spec['disk'], imgmodel.FORMAT_QCOW2),
                container_dir,
                id_maps=userns_fixtures.MAPS if id_maps else None)
            if id_maps:
                self.assertEqual(userns_fixtures.MAPPED_ROOT, os.stat(
                    os.path.join(container_dir, 'bin/busybox')).st_uid)
            self.assertTrue(disk_api.teardown_container(container_dir))
            self.assertEqual({}, host_state.loops_below(directory))
            spec.update(instance())

        spec = instance()
        steps = self.kill_at_every_step(spec, converge)
        self.addDetail('kill points', content.text_content(
            '\n'.join(self.kills)))
        return steps

    def test_rootfs_setup_killed_then_teardown_converges(self):
        steps = self.kill_rootfs_setup_at_every_step()
        # record, export, probe, loop, mount, init (refused boot partition),
        # umount, detach, then the root partition again.
        self.assertGreaterEqual(steps, 8)

    def test_userns_rootfs_setup_killed_then_teardown_converges(self):
        # The same with [libvirt] uid_maps: a stage mount, a user
        # namespace child, an idmapped clone on the way.
        steps = self.kill_rootfs_setup_at_every_step(
            [userns_fixtures.UID_MAPS, userns_fixtures.GID_MAPS])
        self.assertIn('idmapped clone', ' '.join(self.kills))
        self.assertGreaterEqual(steps, 11)


class TestConcurrency(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture())

    def test_64_ports_plugged_and_unplugged_concurrently(self):
        vifs = [vif_fixtures.vif() for _ in range(64)]
        info = vif_fixtures.instance_info()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda v: self.host.plugin.plug(v, info), vifs))
        for v in vifs:
            assert_plugged(self, self.host, v.id)
        self.assertEqual(128, len(cli_fixtures.port_devices()))
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda v: self.host.plugin.unplug(v, info), vifs))
        self.assertEqual([], cli_fixtures.port_devices())
        self.assertEqual([], os.listdir(self.host.ports_dir))
        self.assertEqual({}, self.host.standin.registrations)

    def test_interleaved_plug_unplug_of_one_port(self):
        vif = vif_fixtures.vif()
        info = vif_fixtures.instance_info()
        errors = []
        seeds = list(range(8))

        def worker(seed):
            rng = random.Random(seed)
            for _ in range(25):
                try:
                    if rng.random() < 0.5:
                        self.host.plugin.plug(vif, info)
                    else:
                        self.host.plugin.unplug(vif, info)
                except Exception as e:
                    errors.append(e)

        threads = [threading.Thread(target=worker, args=(s,)) for s in seeds]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual([], errors)
        # Whatever the order was, the port is wholly plugged or wholly not.
        devices = cli_fixtures.port_devices()
        if devices:
            assert_plugged(self, self.host, vif.id)
        else:
            assert_unplugged(self, self.host, vif.id)
        self.host.plugin.plug(vif, info)
        assert_plugged(self, self.host, vif.id)
        self.host.plugin.unplug(vif, info)
        assert_unplugged(self, self.host, vif.id)
