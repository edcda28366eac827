"""Scenarios 3 and 4: reboot, stop, start, and a nova-compute restart."""

# base first: it applies nova's eventlet monkey patching, and pyroute2 0.8
# imports asyncio and selectors (unpatched, the agent stand-in's server
# thread never yields and setUp hangs when this module runs alone).
from nova_lxc_contrail.tests.nova_functional import base  # noqa: I100

import time  # noqa: I100,I202

import libvirt
import pyroute2


class TestRebootStopStart(base.ContrailNovaTestBase):
    """Through every step the container comes back with network, and:

    - the port's tap and bridge are the same devices (ifindex), the agent
      holds the same registration and deleted nothing; a soft reboot and a
      stop send it nothing at all, a hard reboot and a start plug the port
      again, which re-sends the registration unchanged (a duplicate add);
    - one loop device and one mount: a soft reboot keeps the very same ones
      (libvirt starts the container again from the mounted rootfs), a hard
      reboot and a stop release them, a start makes them again.
    """

    def _timed(self, what, action, *args, **kwargs):
        started = time.monotonic()
        result = action(*args, **kwargs)
        self.timing(what, time.monotonic() - started)
        return result

    def _boot(self, init):
        port = self.create_vrouter_port()
        server, seconds = self.boot(self.build_image('%s.raw' % init,
                                                     init=init),
                                    networks=[{'port': port['id']}])
        self.timing('POST->ACTIVE (%s init)' % init, seconds)
        self.assert_server_running(server, [port])
        return server, port

    def _kept(self, port):
        """The port's devices and files now; the agent's requests afresh."""
        self.agent.clear_requests()
        links = self.host_links(port)
        return ({kind: links[kind]['index'] for kind in ('tap', 'bridge')},
                self.agent.registrations, self.port_file(port))

    def _assert_port_kept(self, port, kept, replugged):
        devices, registrations, port_file = kept
        links = self.host_links(port)
        self.assertEqual(devices, {kind: links[kind]['index']
                                   for kind in ('tap', 'bridge')})
        self.assertEqual(registrations, self.agent.registrations)
        self.assertEqual(port_file, self.port_file(port))
        same = {k: v for k, v in port_file.items()
                if k not in ('author', 'time')}
        requests = [(r.method, r.path, r.body) for r in self.agent.requests]
        if replugged:
            self.assertEqual([('POST', '/port', same)], requests)
        else:
            self.assertEqual([], requests)

    def _rootfs(self):
        """The loop device and the mount (with its id) of the one server."""
        state = self.host_state()
        self.assertEqual(1, len(state['loops']), state)
        self.assertEqual(1, len(state['mounts']), state)
        return state['loops'], self.mount_ids()

    def _soft_reboot(self, server, port, boots):
        """Soft reboot: a new container on the same rootfs mount and port."""
        rootfs, kept = self._rootfs(), self._kept(port)
        self._timed('soft reboot', self._reboot_server, server)
        self.assert_server_running(server, [port], boots=boots)
        self.assertEqual(rootfs, self._rootfs())
        self._assert_port_kept(port, kept, replugged=False)

    def _hard_reboot(self, server, port, boots):
        kept = self._kept(port)
        self._timed('hard reboot', self._reboot_server, server, hard=True)
        self.assert_server_running(server, [port], boots=boots)
        self._rootfs()
        self._assert_port_kept(port, kept, replugged=True)

    def _stop_start(self, server, port, boots):
        kept = self._kept(port)
        self._timed('stop', self._stop_server, server)
        self.assert_port_plugged(server, port, running=False)
        self.assertEqual(libvirt.VIR_DOMAIN_SHUTOFF,
                         self.domain(server).state()[0])
        self.assertEqual({'loops': [], 'mounts': [], 'exports': []},
                         self.host_state())
        self._assert_port_kept(port, kept, replugged=False)
        kept = self._kept(port)
        self._timed('start', self._start_server, server)
        self.assert_server_running(server, [port], boots=boots)
        self._rootfs()
        self._assert_port_kept(port, kept, replugged=True)

    def _delete(self, server, port):
        self.timing('DELETE->gone', self.delete(server))
        self.assert_nothing_left(server)
        self.assert_port_gone(port)

    def test_reboot_stop_start(self):
        # An init listening on initctl, as sysvinit and systemd do.
        server, port = self._boot(base.INITCTL)
        self._soft_reboot(server, port, boots=2)
        self._hard_reboot(server, port, boots=3)
        self._stop_start(server, port, boots=4)
        self._soft_reboot(server, port, boots=5)
        self._delete(server, port)

    def test_init_without_initctl(self):
        # No initctl FIFO: the driver asks libvirt for SIGTERM, on which
        # this init stops. (Without it, nova's soft reboot would wait
        # [libvirt] wait_soft_reboot_seconds, its stop
        # [DEFAULT] shutdown_timeout.)
        server, port = self._boot('script')
        self._soft_reboot(server, port, boots=2)
        self._stop_start(server, port, boots=3)
        self._delete(server, port)

    def test_busybox_init_soft_reboot(self):
        # busybox init takes SIGTERM for "reboot": libvirt starts the
        # container again by itself, which nova's soft reboot accepts.
        server, port = self._boot('busybox')
        self._soft_reboot(server, port, boots=2)
        self._hard_reboot(server, port, boots=3)
        self._delete(server, port)


class TestComputeRestart(base.ContrailNovaTestBase):
    """nova-compute restarts (a new manager and driver) with servers up."""

    def _links(self):
        with pyroute2.IPRoute() as ipr:
            return sorted((link.get('ifname'), link['index'])
                          for link in ipr.link('dump'))

    def test_restart_with_servers_running(self):
        image = self.build_image('disk.raw')
        ports = [self.create_vrouter_port(), self.create_vrouter_port()]
        servers = []
        for i, port in enumerate(ports):
            server, seconds = self.boot(image, networks=[{'port': port['id']}],
                                        name='lxc%d' % i)
            self.timing('POST->ACTIVE %d' % i, seconds)
            servers.append(server)
        links, state = self._links(), self.host_state()
        self.assertEqual(2, len(state['loops']))
        self.agent.clear_requests()

        started = time.monotonic()
        self.restart_compute()
        self.timing('nova-compute restart', time.monotonic() - started)

        service, = self.admin_api.get_services(binary='nova-compute',
                                               host=base.COMPUTE_HOST)
        self.assertEqual(('up', 'enabled'),
                         (service['state'], service['status']))
        # init_host plugged every port again: the same devices, the agent
        # holding each port once, the containers untouched.
        self.assertTrue(self.agent_posts(ports[0]))
        self.assertEqual(links, self._links())
        self.assertEqual(state, self.host_state())
        self.assertEqual(sorted(p['id'] for p in ports),
                         sorted(self.agent.registrations))
        for server, port in zip(servers, ports):
            self.assertEqual('ACTIVE', self._show_server(server)['status'])
            self.assert_server_running(server, [port])

        # The new driver finds each root device from what setup saved.
        for server, port in zip(servers, ports):
            self.timing('DELETE->gone', self.delete(server))
            self.assert_no_domain(server)
            self.assert_port_gone(port)
        self.assert_nothing_left(servers[0])
        self.assert_nothing_left(servers[1])
