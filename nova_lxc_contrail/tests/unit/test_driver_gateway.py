"""The gateway stand-in's answers, frame by frame (no sockets).

On the wire it is exercised by the e2e tests and the demo, where a real
container pings it through the bridge.
"""

import socket
import struct

import testtools

from nova_lxc_contrail.standin import gateway

GW_IP = '10.0.0.1'
GW_MAC = gateway.mac_bytes(gateway.DEFAULT_MAC)
VM_IP = '10.0.0.5'
VM_MAC = gateway.mac_bytes('fa:16:3e:00:00:05')
BROADCAST = b'\xff' * 6


def arp_request(target_ip, sender_ip=VM_IP):
    return (gateway.ETH_HEADER.pack(BROADCAST, VM_MAC, gateway.ETH_P_ARP) +
            gateway.ARP_PACKET.pack(1, gateway.ETH_P_IP, 6, 4, 1, VM_MAC,
                                    socket.inet_aton(sender_ip), b'\0' * 6,
                                    socket.inet_aton(target_ip)))


def echo_request(dst_ip=GW_IP, dst_mac=GW_MAC, payload=b'abcdefgh',
                 icmp_type=8):
    icmp = struct.pack('!BBHHH', icmp_type, 0, 0, 0x1234, 7) + payload
    icmp = icmp[:2] + struct.pack('!H', gateway.checksum(icmp)) + icmp[4:]
    header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 1, 0, 64,
                         1, 0, socket.inet_aton(VM_IP),
                         socket.inet_aton(dst_ip))
    header = header[:10] + struct.pack('!H', gateway.checksum(header)) + \
        header[12:]
    return (gateway.ETH_HEADER.pack(dst_mac, VM_MAC, gateway.ETH_P_IP) +
            header + icmp)


class TestGatewayAnswers(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.gw = gateway.Gateway('br-test', GW_IP)

    def test_arp_request_for_the_gateway_gets_its_mac(self):
        reply = self.gw.answer(arp_request(GW_IP))
        dst, src, ethertype = gateway.ETH_HEADER.unpack_from(reply)
        self.assertEqual((VM_MAC, GW_MAC, gateway.ETH_P_ARP),
                         (dst, src, ethertype))
        fields = gateway.ARP_PACKET.unpack_from(reply, 14)
        self.assertEqual((2, GW_MAC, socket.inet_aton(GW_IP), VM_MAC,
                          socket.inet_aton(VM_IP)),
                         (fields[4], fields[5], fields[6], fields[7],
                          fields[8]))
        self.assertEqual(1, self.gw.arp_replies)

    def test_arp_for_another_address_is_ignored(self):
        self.assertIsNone(self.gw.answer(arp_request('10.0.0.9')))

    def test_echo_request_gets_a_valid_reply(self):
        reply = self.gw.answer(echo_request())
        ip = reply[14:34]
        icmp = reply[34:]
        self.assertEqual(VM_MAC, reply[:6])
        self.assertEqual(socket.inet_aton(GW_IP), ip[12:16])
        self.assertEqual(socket.inet_aton(VM_IP), ip[16:20])
        self.assertEqual(0, gateway.checksum(ip))
        self.assertEqual(0, icmp[0])
        self.assertEqual(0, gateway.checksum(icmp))
        self.assertEqual(b'abcdefgh', icmp[8:])
        self.assertEqual(1, self.gw.echo_replies)

    def test_odd_length_payload_checksums(self):
        icmp = self.gw.answer(echo_request(payload=b'abc'))[34:]
        self.assertEqual(0, gateway.checksum(icmp))

    def test_not_for_the_gateway_is_ignored(self):
        for frame in (echo_request(dst_ip='10.0.0.9'),
                      echo_request(dst_mac=b'\x02' * 6),
                      echo_request(icmp_type=0),
                      b'\x00' * 10,
                      echo_request()[:30]):
            self.assertIsNone(self.gw.answer(frame))
        self.assertEqual(0, self.gw.echo_replies)
