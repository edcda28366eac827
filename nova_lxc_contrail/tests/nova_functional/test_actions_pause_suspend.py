"""pause/unpause and suspend/resume of an LXC server with a vRouter port.

Both freeze the container's cgroup (libvirt-LXC has no managed save, so
suspend is a freeze too): its processes stop where they are, its init keeps
its pid, the port keeps its tap, bridge (same ifindex), registration and
port file, and the agent hears nothing. Unpause and resume thaw it.
"""

import os
import time

import libvirt

from nova_lxc_contrail.tests.nova_functional import base

TICK = 'tick'
# rcS: the boot line, then a ticker that advances /tick every 0.1 s while
# the container runs.
TICKER_RCS = base.BOOT_RCS + (
    '(n=0; while :; do n=$((n+1)); echo $n > /%s; sleep 0.1; done) &\n'
    % TICK)


class ActionsTestBase(base.ContrailNovaTestBase):
    """Real libvirt lifecycle events on; helpers for a frozen container."""

    LIBVIRT_EVENTS = True

    def boot_ticking(self):
        path = base.images.build_image(
            self.image_path('tick.raw'), init=base.INITCTL,
            files={'etc/init.d/rcS': TICKER_RCS})
        port = self.create_vrouter_port()
        server, _ = self.boot(self.create_image(path),
                              networks=[{'port': port['id']}])
        dom = self.assert_server_running(server, [port])
        return server, port, dom

    def freezer_state(self, init_pid):
        """The container cgroup's freezer: 'FROZEN' or 'THAWED'."""
        with open('/proc/%d/cgroup' % init_pid) as f:
            lines = dict(line.rstrip('\n').split(':', 2)[1:]
                         for line in f)
        if 'freezer' in lines:
            with open('/sys/fs/cgroup/freezer%s/freezer.state'
                      % lines['freezer']) as f:
                return f.read().strip()
        with open('/sys/fs/cgroup%s/cgroup.events' % lines['']) as f:
            events = dict(line.split() for line in f)
        return 'FROZEN' if events['frozen'] == '1' else 'THAWED'

    def tick(self, init_pid):
        with open('/proc/%d/root/%s' % (init_pid, TICK)) as f:
            return f.read().strip()

    def wait_for_tick_after(self, init_pid, tick):
        for _ in range(100):
            now = self.tick(init_pid)
            if now != tick:
                return now
            time.sleep(0.05)
        self.fail('the container ticker stayed at %s' % tick)

    def kept(self, port):
        self.agent.clear_requests()
        return self.ports_now([port])

    def assert_port_kept(self, server, port, kept, running=True):
        self.assert_port_plugged(server, port, running=running)
        self.assert_ports_kept([port], kept)

    def assert_frozen(self, server, port, init_pid, kept, vm_status):
        """Frozen in place: PAUSED domain, same init, ticker stopped."""
        self.assertEqual(vm_status, self._show_server(server)['status'])
        dom = self.domain(server)
        self.assertEqual(libvirt.VIR_DOMAIN_PAUSED, dom.state()[0])
        self.assertEqual(init_pid, self.container_init_pid(dom))
        self.assertEqual('FROZEN', self.freezer_state(init_pid))
        tick = self.tick(init_pid)
        time.sleep(0.5)       # five ticks, were it running
        self.assertEqual(tick, self.tick(init_pid))
        self.assert_port_kept(server, port, kept)
        self.assertEqual([], self.agent.requests)
        return tick

    def assert_thawed(self, server, port, init_pid, kept, tick):
        dom = self.assert_domain_running(server)
        self.assertEqual(init_pid, self.container_init_pid(dom))
        self.assertEqual('THAWED', self.freezer_state(init_pid))
        self.wait_for_tick_after(init_pid, tick)
        self.assert_container_nics(dom, [port])
        self.assert_container_pings_gateway(dom, [port])
        self.assert_port_kept(server, port, kept)
        self.assertEqual([], self.agent.requests)

    def _pause_server(self, server):
        self.api.post_server_action(server['id'], {'pause': None})
        return self._wait_for_state_change(server, 'PAUSED')

    def _unpause_server(self, server):
        self.api.post_server_action(server['id'], {'unpause': None})
        return self._wait_for_state_change(server, 'ACTIVE')

    def delete_and_check(self, server, port):
        self.delete(server)
        self.assert_nothing_left(server)
        self.assert_port_gone(port)


class TestPause(ActionsTestBase):

    def test_pause_unpause(self):
        server, port, dom = self.boot_ticking()
        init_pid, kept = self.container_init_pid(dom), self.kept(port)
        server = self._pause_server(server)
        tick = self.assert_frozen(server, port, init_pid, kept, 'PAUSED')
        server = self._unpause_server(server)
        self.assert_thawed(server, port, init_pid, kept, tick)
        self.delete_and_check(server, port)


class TestSuspend(ActionsTestBase):

    def test_suspend_resume(self):
        server, port, dom = self.boot_ticking()
        init_pid, kept = self.container_init_pid(dom), self.kept(port)
        server = self._suspend_server(server)
        tick = self.assert_frozen(server, port, init_pid, kept, 'SUSPENDED')
        server = self._resume_server(server)
        self.assertEqual('ACTIVE', server['status'])
        self.assert_thawed(server, port, init_pid, kept, tick)
        self.delete_and_check(server, port)

    def test_delete_while_suspended(self):
        server, port, dom = self.boot_ticking()
        server = self._suspend_server(server)
        self.delete_and_check(server, port)

    def test_compute_restart_while_suspended(self):
        server, port, dom = self.boot_ticking()
        init_pid = self.container_init_pid(dom)
        server = self._suspend_server(server)
        kept = self.kept(port)
        self.restart_compute()
        # The new nova-compute plugs the port again (the same devices, a
        # duplicate registration) and leaves the container frozen.
        kept = self.kept(port)
        tick = self.assert_frozen(server, port, init_pid, kept, 'SUSPENDED')
        server = self._resume_server(server)
        self.assert_thawed(server, port, init_pid, kept, tick)
        self.delete_and_check(server, port)

    def test_resume_after_host_reboot(self):
        # A host reboot takes the frozen container with it; nova-compute
        # leaves a suspended server alone at start. Resume starts it again.
        server, port, dom = self.boot_ticking()
        server = self._suspend_server(server)
        dom.destroy()
        self.restart_compute()
        server = self._show_server(server)
        self.assertEqual('SUSPENDED', server['status'])
        kept = self.kept(port)
        server = self._resume_server(server)
        dom = self.assert_server_running(server, [port], boots=2)
        self.assertEqual('THAWED',
                         self.freezer_state(self.container_init_pid(dom)))
        devices = kept[0]
        self.assertEqual(devices, self.ports_now([port])[0])
        self.assertEqual(1, len(self.host_state()['loops']))
        self.assertTrue(os.path.exists(self.port_file_path(port)))
        self.delete_and_check(server, port)

    def port_file_path(self, port):
        return os.path.join(self._ports_dir, port['id'])
