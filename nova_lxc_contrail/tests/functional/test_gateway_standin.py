"""The gateway stand-in as a program, answering on a real bridge.

A bridge with a veth pair on it stands in for a port of the vRouter: the
bridge end stays in this worker's network namespace, the other end goes
into a network namespace of its own (a guest's), which pings the gateway
address through the real kernel. The program (python -m
nova_lxc_contrail.standin.gateway, as DevStack trials run it) answers until
SIGTERM and prints what it answered.
"""

import os
import re
import select
import signal
import subprocess
import sys
import time

import testtools

from nova_lxc_contrail.standin import namespaces

BRIDGE = 'brgwstandin0'
HOST_END = 'vgwhost0'
GUEST_END = 'vgwguest0'
GATEWAY = '10.213.0.1'
GUEST = '10.213.0.5/24'
PINGS = 3
SIGNAL_BURST_SECONDS = 5


def ip(*args, netns_pid=None):
    command = ['ip'] + list(args)
    if netns_pid is not None:
        command = ['nsenter', '-t', str(netns_pid), '-n'] + command
    subprocess.run(command, check=True, capture_output=True)


def readline(stream, timeout):
    """One line of ``stream`` within ``timeout`` seconds, or ''."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ''


class TestGatewayProgram(testtools.TestCase):

    def setUp(self):
        super().setUp()
        if not namespaces.in_private_namespaces():
            self.fail('functional tests must run through '
                      'nova_lxc_contrail.tests.sandbox')
        ip('link', 'add', BRIDGE, 'type', 'bridge')
        self.addCleanup(ip, 'link', 'del', BRIDGE)
        # Promiscuous, as the VIF driver makes it: the bridge passes the
        # guest's unicast to the gateway's MAC up to its own device.
        ip('link', 'set', BRIDGE, 'promisc', 'on', 'up')
        ip('link', 'add', HOST_END, 'type', 'veth', 'peer', 'name',
           GUEST_END)
        self.addCleanup(self._delete_if_here, HOST_END)
        ip('link', 'set', HOST_END, 'master', BRIDGE, 'up')
        self.guest_pid = self._guest_namespace()
        ip('link', 'set', GUEST_END, 'netns', str(self.guest_pid))
        ip('addr', 'add', GUEST, 'dev', GUEST_END, netns_pid=self.guest_pid)
        ip('link', 'set', GUEST_END, 'up', netns_pid=self.guest_pid)

    def _delete_if_here(self, name):
        if os.path.exists('/sys/class/net/%s' % name):
            ip('link', 'del', name)

    def _guest_namespace(self):
        """A process in a new network namespace, ended at cleanup."""
        proc = subprocess.Popen(['unshare', '--net', 'sleep', '600'])

        def end():
            proc.kill()
            proc.wait()
        self.addCleanup(end)
        own = os.readlink('/proc/self/ns/net')
        for _ in range(200):
            try:
                if (os.readlink('/proc/%d/ns/net' % proc.pid) != own and
                        open('/proc/%d/comm' % proc.pid).read() ==
                        'sleep\n'):
                    return proc.pid
            except OSError:
                pass
            time.sleep(0.05)
        self.fail('unshare --net did not start')

    def start_gateway(self, *args):
        proc = subprocess.Popen(
            [sys.executable, '-m', 'nova_lxc_contrail.standin.gateway'] +
            list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)

        def end():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.addCleanup(end)
        return proc

    def assert_stopped_having_answered_nothing(self, gw):
        """It exits 0 and prints its counts: nothing asked or answered."""
        out, err = gw.communicate(timeout=30)
        self.assertEqual(0, gw.returncode, err)
        self.assertEqual('gateway %s on %s: 0 ARP replies, 0 echo replies\n'
                         % (GATEWAY, BRIDGE), out)

    def ping(self, count):
        proc = subprocess.run(
            ['nsenter', '-t', str(self.guest_pid), '-n', 'busybox', 'ping',
             '-c', str(count), '-i', '0.2', '-W', '5', GATEWAY],
            capture_output=True, text=True, timeout=60)
        match = re.search(r'(\d+) packets transmitted, (\d+) packets '
                          r'received', proc.stdout)
        self.assertIsNotNone(match, proc.stdout + proc.stderr)
        return int(match.group(1)), int(match.group(2))

    def test_answers_arp_and_pings_until_sigterm_and_prints_counts(self):
        gw = self.start_gateway(BRIDGE, GATEWAY)
        first = readline(gw.stdout, timeout=30)
        self.assertEqual('gateway %s answering on %s\n' % (GATEWAY, BRIDGE),
                         first, gw.stderr.read() if gw.poll() else '')
        sent, answered = self.ping(PINGS)
        self.assertEqual((PINGS, PINGS), (sent, answered))
        gw.send_signal(signal.SIGTERM)
        out, err = gw.communicate(timeout=30)
        self.assertEqual(0, gw.returncode, err)
        match = re.fullmatch(
            r'gateway %s on %s: (\d+) ARP replies, (\d+) echo replies\n'
            % (re.escape(GATEWAY), BRIDGE), out)
        self.assertIsNotNone(match, out + err)
        arp_replies, echo_replies = map(int, match.groups())
        self.assertGreaterEqual(arp_replies, 1)
        self.assertEqual(answered, echo_replies)

    def test_sigint_stops_it_too(self):
        gw = self.start_gateway(BRIDGE, GATEWAY, '--mac', '02:00:00:00:00:01')
        self.assertIn('answering', readline(gw.stdout, timeout=30))
        gw.send_signal(signal.SIGINT)
        self.assert_stopped_having_answered_nothing(gw)

    def test_a_burst_of_signals_stops_it_once(self):
        # A second signal during the first one's handling once hung it.
        gw = self.start_gateway(BRIDGE, GATEWAY)
        self.assertIn('answering', readline(gw.stdout, timeout=30))
        # Signals until it has exited; waitid(WNOWAIT) leaves it unreaped,
        # so its pid cannot be another process's yet.
        deadline = time.monotonic() + SIGNAL_BURST_SECONDS
        while time.monotonic() < deadline:
            os.kill(gw.pid, signal.SIGTERM)
            os.kill(gw.pid, signal.SIGINT)
            if os.waitid(os.P_PID, gw.pid,
                         os.WEXITED | os.WNOHANG | os.WNOWAIT):
                break
        self.assert_stopped_having_answered_nothing(gw)

    def test_missing_device_fails_naming_it(self):
        gw = self.start_gateway('nosuchbr0', GATEWAY)
        out, err = gw.communicate(timeout=30)
        self.assertEqual(1, gw.returncode)
        # One line naming the device, no traceback.
        self.assertEqual('gateway stand-in cannot listen on nosuchbr0: '
                         'No such device\n', err)
        self.assertEqual('', out)

    def test_bad_address_fails_naming_it(self):
        gw = self.start_gateway(BRIDGE, '10.0.0.300')
        out, err = gw.communicate(timeout=30)
        self.assertEqual(1, gw.returncode)
        self.assertIn("bad address '10.0.0.300'", err)
        self.assertNotIn('Traceback', err)
        self.assertEqual('', out)
