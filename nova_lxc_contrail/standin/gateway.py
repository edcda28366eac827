"""The vRouter's gateway, as a container sees it, answering on the bridge.

The vRouter attaches to the per-port bridge device and answers the
container's ARP requests for the gateway address and its pings to it. This
stand-in does the same with an AF_PACKET socket on the bridge device: it
receives what the (promiscuous) bridge passes up to its own netdev and
sends its answers on the bridge device, which forwards them to the port.

    with Gateway('br5a8f1c3e-7d', '10.0.0.1') as gw:
        ...  # the container pings 10.0.0.1
    gw.arp_replies, gw.echo_replies

Or as a program, until SIGTERM or SIGINT (it prints what it answered)::

    python -m nova_lxc_contrail.standin.gateway br5a8f1c3e-7d 10.0.0.1
"""

import argparse
import ipaddress
import os
import select
import signal
import socket
import struct
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ARP_REQUEST, ARP_REPLY = 1, 2
IPPROTO_ICMP = 1
ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST = 0, 8
# A locally administered MAC, as the vRouter's own (00:00:5e:00:01:00) is.
DEFAULT_MAC = '00:00:5e:00:01:00'
ETH_HEADER = struct.Struct('!6s6sH')
ARP_PACKET = struct.Struct('!HHBBH6s4s6s4s')


def checksum(data):
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def mac_bytes(mac):
    return bytes(int(part, 16) for part in mac.split(':'))


class Gateway(object):

    def __init__(self, ifname, ip, mac=DEFAULT_MAC):
        self.ifname = ifname
        self.ip = ipaddress.IPv4Address(ip)
        self.mac = mac
        self._ip = self.ip.packed
        self._mac = mac_bytes(mac)
        self.arp_replies = 0
        self.echo_replies = 0
        self._sock = None
        self._wake_r = self._wake_w = None
        self._thread = None

    # --- lifecycle ----------------------------------------------------------

    def start(self):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                             socket.htons(ETH_P_ALL))
        try:
            sock.bind((self.ifname, 0))
        except OSError as e:
            sock.close()
            raise OSError(e.errno, 'gateway stand-in cannot listen on %s: '
                          '%s' % (self.ifname, e.strerror))
        self._sock = sock
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name='gateway-%s' % self.ifname)
        self._thread.start()
        LOG.debug('Gateway %s (%s) answering on %s', self.ip, self.mac,
                  self.ifname)
        return self

    def stop(self):
        """Stop answering and close the socket. Idempotent."""
        if self._thread is not None:
            os.write(self._wake_w, b'x')
            self._thread.join()
            self._thread = None
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)
        self._wake_r = self._wake_w = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- answering ----------------------------------------------------------

    def _serve(self):
        while True:
            ready, _, _ = select.select([self._sock, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                frame, address = self._sock.recvfrom(65535)
            except OSError:
                continue
            if address[2] == socket.PACKET_OUTGOING:
                continue  # our own answers
            answer = self.answer(frame)
            if answer is not None:
                try:
                    self._sock.send(answer)
                except OSError as e:
                    LOG.warning('Gateway on %s could not answer: %s',
                                self.ifname, e)

    def answer(self, frame):
        """The frame the gateway sends back to ``frame``, or None."""
        if len(frame) < ETH_HEADER.size:
            return None
        dst, src, ethertype = ETH_HEADER.unpack_from(frame)
        payload = frame[ETH_HEADER.size:]
        if ethertype == ETH_P_ARP:
            reply = self._arp_reply(payload)
            if reply:
                self.arp_replies += 1
        elif ethertype == ETH_P_IP and dst == self._mac:
            reply = self._echo_reply(payload)
            if reply:
                self.echo_replies += 1
        else:
            return None
        if reply is None:
            return None
        return ETH_HEADER.pack(src, self._mac, ethertype) + reply

    def _arp_reply(self, packet):
        if len(packet) < ARP_PACKET.size:
            return None
        (htype, ptype, hlen, plen, op, sha, spa, _tha,
         tpa) = ARP_PACKET.unpack_from(packet)
        if (htype, ptype, hlen, plen, op) != (1, ETH_P_IP, 6, 4,
                                              ARP_REQUEST):
            return None
        if tpa != self._ip:
            return None
        return ARP_PACKET.pack(1, ETH_P_IP, 6, 4, ARP_REPLY, self._mac,
                               self._ip, sha, spa)

    def _echo_reply(self, packet):
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return None
        ihl = (packet[0] & 0x0f) * 4
        total = struct.unpack_from('!H', packet, 2)[0]
        if (ihl < 20 or total > len(packet) or total < ihl + 8 or
                packet[9] != IPPROTO_ICMP or packet[16:20] != self._ip):
            return None
        icmp = bytearray(packet[ihl:total])
        if icmp[0] != ICMP_ECHO_REQUEST:
            return None
        icmp[0] = ICMP_ECHO_REPLY
        icmp[2:4] = b'\0\0'
        icmp[2:4] = struct.pack('!H', checksum(bytes(icmp)))
        header = bytearray(packet[:20])  # options are not echoed back
        header[0] = 0x45
        header[2:4] = struct.pack('!H', 20 + len(icmp))
        header[8] = 64
        header[10:12] = b'\0\0'
        header[12:16], header[16:20] = packet[16:20], packet[12:16]
        header[10:12] = struct.pack('!H', checksum(bytes(header)))
        return bytes(header) + bytes(icmp)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Answer ARP and ping for a gateway address on a bridge.')
    parser.add_argument('ifname', help='the bridge the vRouter attaches to')
    parser.add_argument('ip', help='the gateway address to answer for')
    parser.add_argument('--mac', default=DEFAULT_MAC)
    args = parser.parse_args(argv)
    # Taken with sigwait, not by a handler: a handler that sets an Event
    # deadlocks when a second signal lands inside the first one's set()
    # (seen in DevStack, stopped by `sudo pkill`). The mask is set before
    # the serving thread starts, which inherits it.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        gw = Gateway(args.ifname, args.ip, args.mac).start()
    except OSError as e:
        parser.exit(1, '%s\n' % (e.strerror or e))
    except ValueError as e:
        parser.exit(1, 'gateway stand-in: bad address %r: %s\n' % (args.ip, e))
    try:
        print('gateway %s answering on %s' % (gw.ip, gw.ifname), flush=True)
        signal.sigwait(stop_signals)
    finally:
        gw.stop()
    print('gateway %s on %s: %d ARP replies, %d echo replies'
          % (gw.ip, gw.ifname, gw.arp_replies, gw.echo_replies), flush=True)


if __name__ == '__main__':
    main()
