"""Interface attach and detach on a running LXC server, through the API.

POST and DELETE /servers/{id}/os-interface with vRouter ports: the
container sees the new ethN with the port's MAC and the network MTU and
reaches the gateway on it; detach takes it out of the container, then
unplugs. A step that fails is undone: the server stays ACTIVE with exactly
its previous ports and nothing of the new port stays on the host.
"""

import fixtures
import libvirt
from nova.tests.functional.api import client
import pyroute2

from nova_lxc_contrail.tests.nova_functional import base
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.virt import privsep


class InterfaceTestBase(base.ContrailNovaTestBase):

    def boot_with_port(self):
        port = self.create_vrouter_port()
        server, seconds = self.boot(self.build_image('disk.raw'),
                                    networks=[{'port': port['id']}])
        self.timing('POST->ACTIVE', seconds)
        dom = self.assert_server_running(server, [port])
        return server, port, dom

    def assert_ports(self, server, ports):
        """nova lists exactly ``ports``; the domain has them, in order."""
        self.assertEqual(sorted(p['id'] for p in ports),
                         self.server_port_ids(server))
        macs = [p['mac_address'] for p in ports]
        self.assertEqual((macs, macs), self.domain_macs(server))

    def delete_all(self, server, ports):
        self.timing('DELETE->gone', self.delete(server))
        self.assert_nothing_left(server)
        for port in ports:
            self.assert_port_gone(port)
        self.assertEqual({}, self.agent.registrations)


class TestAttachDetach(InterfaceTestBase):

    def test_attach_two_ports_then_detach_one(self):
        server, first, dom = self.boot_with_port()
        second, third = self.create_vrouter_port(), self.create_vrouter_port()

        self.timing('attach', self.attach_port(server, second))
        self.assert_ports(server, [first, second])
        self.assert_container_nics_named(dom, {'eth0': first,
                                               'eth1': second})
        self.assert_port_plugged(server, second)
        self.assert_container_pings_gateway(dom, [first, second])

        self.timing('attach a second', self.attach_port(server, third))
        self.assert_ports(server, [first, second, third])
        self.assert_container_nics_named(
            dom, {'eth0': first, 'eth1': second, 'eth2': third})
        self.assert_port_plugged(server, third)
        self.assert_container_pings_gateway(dom, [first, second, third])
        self.assertEqual(3, len(set(self.bridge_indexes(
            [first, second, third]))))

        self.timing('detach', self.detach_port(server, second))
        self.assertEqual('ACTIVE', self._show_server(server)['status'])
        self.assert_ports(server, [first, third])
        self.assert_container_nics_named(dom, {'eth0': first,
                                               'eth2': third})
        self.assert_port_gone(second)
        for port in (first, third):
            self.assert_port_plugged(server, port)
        self.assertEqual(sorted([first['id'], third['id']]),
                         sorted(self.agent.registrations))

        # The next attach takes the lowest free name.
        self.attach_port(server, second)
        self.assert_container_nics_named(
            dom, {'eth0': first, 'eth1': second, 'eth2': third})
        self.assert_port_plugged(server, second)
        self.delete_all(server, [first, second, third])

    def test_attached_port_survives_reboots_detached_stays_gone(self):
        server, first, dom = self.boot_with_port()
        second = self.create_vrouter_port()
        self.attach_port(server, second)

        self._reboot_server(server)
        self.assert_server_running(server, [first, second], boots=2)
        self.assert_ports(server, [first, second])
        self._reboot_server(server, hard=True)
        self.assert_server_running(server, [first, second], boots=3)
        self._stop_server(server)
        self.assert_port_plugged(server, second, running=False)
        self._start_server(server)
        self.assert_server_running(server, [first, second], boots=4)

        self.detach_port(server, second)
        self.assert_port_gone(second)
        self._reboot_server(server, hard=True)
        self.assert_server_running(server, [first], boots=5)
        self.assert_ports(server, [first])
        self.assert_port_gone(second)
        self.delete_all(server, [first, second])

    def test_attach_and_detach_on_a_stopped_server(self):
        server, first, dom = self.boot_with_port()
        second = self.create_vrouter_port()
        self._stop_server(server)
        self.attach_port(server, second)
        self.assert_port_plugged(server, second, running=False)
        self.assertEqual([first['mac_address'], second['mac_address']],
                         self.domain_macs(server)[1])
        self._start_server(server)
        self.assert_server_running(server, [first, second], boots=2)

        self._stop_server(server)
        self.detach_port(server, second)
        self.assert_port_gone(second)
        self.assertEqual([first['mac_address']], self.domain_macs(server)[1])
        self._start_server(server)
        self.assert_server_running(server, [first], boots=3)
        self.delete_all(server, [first, second])


class TestAttachDetachFailures(InterfaceTestBase):
    """Every failure leaves the server ACTIVE with its previous ports."""

    def attach_refused(self, server, port):
        error = self.assertRaises(client.OpenStackApiException,
                                  self.attach_port, server, port)
        self.report('attach refused: %s %s' % (error.response.status_code,
                                               error.response.text))
        return error

    def assert_attach_refused(self, server, dom, first, second):
        self.attach_refused(server, second)
        self.assert_unchanged(server, dom, first)
        self.assert_port_gone(second)

    def assert_unchanged(self, server, dom, first):
        self.assertEqual('ACTIVE', self._show_server(server)['status'])
        self.assert_ports(server, [first])
        self.assertEqual(dom.ID(), self.domain(server).ID())
        self.assert_container_nics_named(dom, {'eth0': first})
        self.assert_port_plugged(server, first)
        self.assertEqual([first['id']], sorted(self.agent.registrations))

    def test_agent_refuses_the_port(self):
        server, first, dom = self.boot_with_port()
        second = self.create_vrouter_port()
        self.agent.refuse(second['id'], 'no virtual network for this port')
        self.assert_attach_refused(server, dom, first, second)
        self.agent.accept(second['id'])
        # Nothing stands in the way of a new try.
        self.attach_port(server, second)
        self.assert_container_nics_named(dom, {'eth0': first,
                                               'eth1': second})
        self.delete_all(server, [first, second])

    def test_libvirt_refuses_the_attach(self):
        server, first, dom = self.boot_with_port()
        second = self.create_vrouter_port()
        # libvirt cannot make the veth pair: its host end's name is taken.
        squatter = naming.veth_name(second['id'])
        with pyroute2.IPRoute() as ipr:
            ipr.link('add', ifname=squatter, kind='bridge')
        try:
            self.attach_refused(server, second)
        finally:
            with pyroute2.IPRoute() as ipr:
                ipr.link('del', index=ipr.link_lookup(ifname=squatter)[0])
        self.assert_unchanged(server, dom, first)
        self.assert_port_gone(second)
        self.delete_all(server, [first, second])

    def test_finishing_the_interface_fails(self):
        server, first, dom = self.boot_with_port()
        second = self.create_vrouter_port()
        real = privsep.finish_hotplugged_veth

        def renamed_then_fails(*args, **kwargs):
            # The container end is renamed and resized, then it fails.
            real(*args, **kwargs)
            raise privsep.LinkNotFound('injected failure')

        with fixtures.MonkeyPatch(
                'nova_lxc_contrail.virt.privsep.finish_hotplugged_veth',
                renamed_then_fails):
            self.assert_attach_refused(server, dom, first, second)
        self.delete_all(server, [first, second])

    def test_libvirt_fails_the_detach(self):
        server, first, dom = self.boot_with_port()
        second = self.create_vrouter_port()
        self.attach_port(server, second)
        real = libvirt.virDomain.detachDeviceFlags

        def live_detach_fails(domain, xml, flags):
            if flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
                error = libvirt.libvirtError('injected live detach failure')
                error.err = (libvirt.VIR_ERR_OPERATION_FAILED, 0,
                             'injected live detach failure', 0, '', None,
                             None, 0, 0)
                raise error
            return real(domain, xml, flags)

        with fixtures.MonkeyPatch('libvirt.virDomain.detachDeviceFlags',
                                  live_detach_fails):
            error = self.assertRaises(client.OpenStackApiException,
                                      self.detach_port, server, second)
        self.report('detach refused: %s' % error.response.text)
        self.assertEqual('ACTIVE', self._show_server(server)['status'])
        # The container, nova and libvirt's definition keep the port whole.
        self.assert_ports(server, [first, second])
        self.assert_container_nics_named(dom, {'eth0': first,
                                               'eth1': second})
        self.assert_port_plugged(server, second)
        self.assert_container_pings_gateway(dom, [first, second])

        self.detach_port(server, second)
        self.assert_ports(server, [first])
        self.assert_port_gone(second)
        self.delete_all(server, [first, second])
