"""Why the bridge is promiscuous: what the vRouter sees on it.

The vRouter attaches to the device registered as system-name, the bridge,
and receives what the bridge passes up to its own netdev. A veth pair
stands in for the container (libvirt-LXC creates one: its host end on the
bridge, the other end in the container); an AF_PACKET socket on the bridge
device stands in for the vRouter. A unicast frame from the container to a
foreign MAC (the gateway's, which the vRouter answers for) reaches it only
when the bridge is promiscuous; the vRouter's answer, sent on the bridge
device, reaches the container either way.
"""

import select
import socket
import struct

from pyroute2 import IPRoute
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP

from nova_lxc_contrail.tests.functional import test_vif_plug
from nova_lxc_contrail.vif import naming

ETH_P_TEST = 0x88B5            # IEEE local experimental ethertype
GATEWAY_MAC = '00:00:5e:00:01:01'
BROADCAST = 'ff:ff:ff:ff:ff:ff'
PACKET_OUTGOING = 4


def mac_bytes(mac):
    return bytes(int(part, 16) for part in mac.split(':'))


def frame(dst, src, payload):
    data = mac_bytes(dst) + mac_bytes(src) + struct.pack('!H', ETH_P_TEST)
    return (data + payload).ljust(60, b'\0')


class PacketSocket(object):
    """An AF_PACKET socket on one device, for the test ethertype."""

    def __init__(self, ifname):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                  socket.htons(ETH_P_TEST))
        self.sock.bind((ifname, ETH_P_TEST))

    def send(self, data):
        self.sock.send(data)

    def received(self, payload, timeout=0.5):
        """Whether a frame carrying ``payload`` arrives (not our own)."""
        while True:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return False
            data, address = self.sock.recvfrom(2048)
            if address[2] != PACKET_OUTGOING and payload in data:
                return True

    def close(self):
        self.sock.close()


class TestDatapath(test_vif_plug.VifTestCase):

    def plug_with_container(self, promiscuous):
        self.agent.conf.config(group='lxc_contrail',
                               bridge_promiscuous=promiscuous)
        v = self.new_vif()
        self.plug(v)
        self.assertPlugged(v, promiscuous=promiscuous)
        host_end = naming.veth_name(v.id)
        container_end = 'ct' + v.id[:11]
        with IPRoute() as ipr:
            ipr.link('add', ifname=host_end, kind='veth',
                     peer={'ifname': container_end, 'address': v.address})
            self.addCleanup(self._delete, host_end)
            bridge = ipr.link('get', ifname=naming.bridge_name(v.id))[0]
            host = ipr.link('get', ifname=host_end)[0]
            container = ipr.link('get', ifname=container_end)[0]
            ipr.link('set', index=host['index'], master=bridge['index'],
                     flags=IFF_UP, change=IFF_UP)
            ipr.link('set', index=container['index'], flags=IFF_UP,
                     change=IFF_UP)
        vrouter = PacketSocket(naming.bridge_name(v.id))
        self.addCleanup(vrouter.close)
        guest = PacketSocket(container_end)
        self.addCleanup(guest.close)
        return v, vrouter, guest

    def _delete(self, name):
        with IPRoute() as ipr:
            ipr.link('del', index=socket.if_nametoindex(name))

    def test_promiscuous_bridge_passes_foreign_unicast_up(self):
        v, vrouter, guest = self.plug_with_container(promiscuous=True)
        guest.send(frame(GATEWAY_MAC, v.address, b'to-the-gateway'))
        self.assertTrue(vrouter.received(b'to-the-gateway', timeout=2))

    def test_without_promiscuous_foreign_unicast_is_not_seen(self):
        v, vrouter, guest = self.plug_with_container(promiscuous=False)
        guest.send(frame(GATEWAY_MAC, v.address, b'to-the-gateway'))
        self.assertFalse(vrouter.received(b'to-the-gateway', timeout=0.5))
        # The path itself works: a broadcast goes up without promiscuity.
        guest.send(frame(BROADCAST, v.address, b'broadcast'))
        self.assertTrue(vrouter.received(b'broadcast', timeout=2))

    def test_frame_sent_on_the_bridge_reaches_the_container(self):
        for promiscuous in (True, False):
            v, vrouter, guest = self.plug_with_container(promiscuous)
            vrouter.send(frame(v.address, GATEWAY_MAC, b'from-the-vrouter'))
            self.assertTrue(guest.received(b'from-the-vrouter', timeout=2))
