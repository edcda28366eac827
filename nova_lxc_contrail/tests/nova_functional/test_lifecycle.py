"""Scenarios 3 and 4: reboot, stop, start, and a nova-compute restart."""

import time

import libvirt
import pyroute2

from nova_lxc_contrail.tests.nova_functional import base


class TestRebootStopStart(base.ContrailNovaTestBase):

    def _timed(self, what, action, *args, **kwargs):
        started = time.monotonic()
        result = action(*args, **kwargs)
        self.timing(what, time.monotonic() - started)
        return result

    def _assert_back(self, server, port, boots, state_before):
        """Running again with network; the same single device and mounts."""
        self.assert_server_running(server, [port], boots=boots)
        self.assertEqual(state_before, self.host_state())
        self.assertEqual([port['id']], list(self.agent.registrations))

    def test_reboot_stop_start(self):
        port = self.create_vrouter_port()
        server, seconds = self.boot(self.build_image('disk.raw'),
                                    networks=[{'port': port['id']}])
        self.timing('POST->ACTIVE', seconds)
        self.assert_server_running(server, [port])
        state = self.host_state()
        self.assertEqual(1, len(state['loops']))

        # The guest's init stops on libvirt's request and nova starts it
        # again. (nova relaunches the domain without mounting its rootfs,
        # which fails; it falls back to a hard reboot, which plugs the port
        # again: only the end state is the same.)
        self._timed('soft reboot', self._reboot_server, server)
        self._assert_back(server, port, 2, state)

        self._timed('hard reboot', self._reboot_server, server, hard=True)
        self._assert_back(server, port, 3, state)

        bridge = self.bridge_indexes([port])
        self.agent.clear_requests()
        self._timed('stop', self._stop_server, server)
        self.assert_port_plugged(server, port, running=False)
        self.assertEqual(libvirt.VIR_DOMAIN_SHUTOFF,
                         self.domain(server).state()[0])
        self._timed('start', self._start_server, server)
        self._assert_back(server, port, 4, state)
        # Stop and start keep the bridge the vRouter attached to.
        self.assertEqual(bridge, self.bridge_indexes([port]))
        self.assertEqual([], [r for r in self.agent.requests
                              if r.method == 'DELETE'])

        self.timing('DELETE->gone', self.delete(server))
        self.assert_nothing_left(server)
        self.assert_port_gone(port)


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
