"""The demo: a real LXC container on a vRouter-style port, then nothing left.

Run as root (``./tools/demo.sh`` installs what it needs first)::

    python -m nova_lxc_contrail.cmd.demo

In private network and mount namespaces it builds a small GPT disk image
(root filesystem in partition 1), starts the vRouter agent stand-in and a
private libvirtd, plugs a port (tap + promiscuous bridge registered with the
agent), boots a busybox LXC container from partition 1 with its NIC on the
bridge, shows it pinging its gateway (answered on the bridge device, where
the vRouter attaches), and tears everything down. Each step prints how long
it took. The kernel needs no partition-table support, nbd or device-mapper:
partition 1 is bound by a loop device at its byte offset.
"""

import argparse
import contextlib
import json
import logging as std_logging
import os
import shutil
import sys
import tempfile
import time

import libvirt
import nova.conf
import os_vif
from oslo_privsep import priv_context
from pyroute2 import IPRoute

from nova_lxc_contrail.disk import partition
from nova_lxc_contrail.disk import privsep as disk_privsep
from nova_lxc_contrail.standin import agent as agent_standin
from nova_lxc_contrail.standin import compute
from nova_lxc_contrail.standin import gateway as gateway_standin
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.standin import libvirtd as libvirtd_standin
from nova_lxc_contrail.standin import namespaces
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.vif import privsep as vif_privsep
from nova_lxc_contrail.virt import console
from nova_lxc_contrail.virt import privsep as virt_privsep
from nova_lxc_contrail.virt import vif as lxc_vif

CONF = nova.conf.CONF
GATEWAY = '10.0.0.1'
CONTAINER_IP = '10.0.0.5'
MTU = 1400
PINGS = 3
IFF_PROMISC = 0x100
PRIVSEP_CONTEXTS = (vif_privsep.vif_plug, disk_privsep.disk_pctxt,
                    virt_privsep.container_net_pctxt,
                    console.console_pctxt)


class Story(object):
    """Prints each step with how long it took."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self.started = time.monotonic()

    @contextlib.contextmanager
    def step(self, label):
        start = time.monotonic()
        yield
        self.line('%8.1f ms  %s' % ((time.monotonic() - start) * 1000, label))

    def line(self, text=''):
        self.stream.write(text + '\n')
        self.stream.flush()

    def show(self, text):
        for row in text.rstrip().splitlines():
            self.line('             | ' + row)

    def timings(self, timings):
        for label, seconds in timings:
            self.line('%8.1f ms  %s' % (seconds * 1000, label))


class Demo(object):

    def __init__(self, story):
        self.story = story
        self.work = tempfile.mkdtemp(prefix='nova-lxc-contrail-demo-')
        self.ports_dir = os.path.join(self.work, 'ports')
        os.mkdir(self.ports_dir)
        self.agent = agent_standin.AgentStandin(self.ports_dir)
        self.libvirtd = libvirtd_standin.PrivateLibvirtd(
            os.path.join(self.work, 'libvirtd'))
        os.mkdir(self.libvirtd.work_dir)
        self.privsep_started = []
        self.conn = None
        self.guest = None

    # --- the story ---------------------------------------------------------

    def run(self):
        say, step = self.story.line, self.story.step
        with step('build a GPT disk image, busybox root in partition 1'):
            image = images.build_image(os.path.join(self.work, 'disk.raw'),
                                       layout='gpt', fmt='raw')
        say('             | %s, %d MiB, partitions: %s' % (
            os.path.basename(image), os.path.getsize(image) >> 20,
            _partitions(image)))
        with step('start the vRouter agent stand-in'):
            self.agent.start()
        say('             | port API at %s, port files in %s' % (
            self.agent.url, self.ports_dir))
        with step('start privileged helpers (oslo.privsep, forked)'):
            self.configure()
            for context in PRIVSEP_CONTEXTS:
                context.start(priv_context.Method.FORK)
                self.privsep_started.append(context)
        with step('start a private libvirtd with the LXC driver'):
            self.libvirtd.start()
            self.conn = libvirt.open(self.libvirtd.uri)
        vif = compute.vrouter_vif(mtu=MTU, ip=CONTAINER_IP, gateway=GATEWAY)
        self.guest = compute.LxcGuest(
            self.conn, lxc_vif.LxcContrailVIFDriver(None),
            compute.make_instance('demo'), [vif],
            image, 'raw', os.path.join(self.work, 'instance'))
        say('Booting instance %s on port %s (MAC %s, network MTU %d):' % (
            self.guest.instance.uuid, vif['id'], vif['address'], MTU))
        self.story.timings(self.guest.boot())
        self.story.show(_interface_xml(self.guest.domain))
        self.describe_port(vif)
        self.ping_gateway(vif)
        say('Tearing down:')
        self.story.timings(self.guest.destroy())
        self.guest = None

    def configure(self):
        os_vif.initialize()
        CONF.set_override('virt_type', 'lxc', 'libvirt')
        CONF.set_override('agent_url', self.agent.url, 'lxc_contrail')
        CONF.set_override('ports_dir', self.ports_dir, 'lxc_contrail')

    def describe_port(self, vif):
        port = vif['id']
        bridge, tap = naming.bridge_name(port), naming.tap_name(port)
        with IPRoute() as ipr:
            links = {link.get('ifname'): link for link in ipr.get_links()}
        promisc = bool(links[bridge]['flags'] & IFF_PROMISC)
        enslaved = sorted(name for name, link in links.items()
                          if link.get('master') == links[bridge]['index'])
        registration = self.agent.registrations[port]
        with open(os.path.join(self.ports_dir, port)) as f:
            port_file = json.load(f)
        self.story.show(
            'bridge %s (%s): %s\n'
            'agent registration: system-name %s, type %s, MAC %s, IP %s\n'
            'port file %s written (%d keys)' % (
                bridge, 'promiscuous' if promisc else 'NOT promiscuous',
                ', '.join(enslaved) + ' enslaved (tap: %s)' % tap,
                registration.get('system-name'), registration.get('type'),
                registration.get('mac-address'),
                registration.get('ip-address'), port, len(port_file)))
        eth0 = self.guest.container.run('ip', '-o', 'link', 'show', 'eth0')
        self.story.show('in the container: ' + eth0.stdout.split('\\')[0])

    def ping_gateway(self, vif):
        container = self.guest.container
        with self.story.step('container: /sbin/init ran (/run/booted)'):
            container.wait_for_file('/run/booted')
        with open('/proc/%d/comm' % container.init_pid) as f:
            self.story.show('pid 1 in the container: %s (host pid %d)' % (
                f.read().strip(), container.init_pid))
        with self.story.step('container: configure eth0 %s/24 (as DHCP '
                             'from the vRouter would)' % CONTAINER_IP):
            container.configure_ip(vif)
        bridge = naming.bridge_name(vif['id'])
        with gateway_standin.Gateway(bridge, GATEWAY) as gateway:
            with self.story.step('container: ping -c %d %s (gateway '
                                 'answering on %s)' % (PINGS, GATEWAY,
                                                       bridge)):
                ping = container.run('ping', '-c', str(PINGS), '-i', '0.2',
                                     '-W', '2', GATEWAY, check=False)
        self.story.show(ping.stdout)
        self.story.show('gateway stand-in answered %d ARP and %d ICMP echo '
                        'requests' % (gateway.arp_replies,
                                      gateway.echo_replies))
        if ping.returncode != 0:
            raise RuntimeError('the container could not ping its gateway: %s'
                               % (ping.stderr or ping.stdout))

    # --- cleanup -----------------------------------------------------------

    def release(self):
        """Undo everything, whatever step failed. Prints what it did."""
        with self.story.step('stop libvirtd, the agent stand-in and the '
                             'privileged helpers; remove the files'):
            if self.guest is not None:
                _log_errors(self.guest.destroy)
            if self.conn is not None:
                _log_errors(self.conn.close)
            _log_errors(self.libvirtd.stop)
            _log_errors(self.agent.stop)
            for context in self.privsep_started:
                _log_errors(context.stop)
            shutil.rmtree(self.work, ignore_errors=True)

    def leftovers(self):
        left = []
        for name in os.listdir('/sys/block'):
            try:
                with open('/sys/block/%s/loop/backing_file' % name) as f:
                    if f.read().startswith(self.work):
                        left.append('/dev/' + name)
            except OSError:
                continue
        with open('/proc/self/mountinfo') as mountinfo:
            left += [line.split()[4] for line in mountinfo
                     if line.split()[4].startswith(self.work)]
        if os.path.exists(self.work):
            left.append(self.work)
        return left


def _partitions(image):
    table = partition.read_partition_table_from_path(image)
    return ', '.join('%s %d MiB at %d MiB' % (
        part.number, part.size >> 20, part.start >> 20)
        for part in table.partitions) + ' (%s)' % table.label


def _interface_xml(domain):
    """The domain's <interface> as libvirt runs it."""
    xml = domain.XMLDesc(0)
    start = xml.index('<interface')
    end = xml.index('</interface>', start) + len('</interface>')
    return '\n'.join(line.strip() and line[4:] for line in
                     xml[start - 4:end].splitlines())


def _log_errors(function):
    try:
        function()
    except Exception as e:
        print('  cleanup: %s failed: %s' % (function, e), file=sys.stderr)


def run():
    story = Story()
    story.line('nova-lxc-contrail demo: a real LXC container on a '
               'vRouter-style port')
    with story.step('enter private network and mount namespaces'):
        namespaces.enter()
    std_logging.basicConfig(level=std_logging.ERROR)
    demo = Demo(story)
    try:
        demo.run()
    finally:
        demo.release()
    left = demo.leftovers()
    if left:
        story.line('LEFT BEHIND: %s' % ', '.join(left))
        return 1
    story.line('Nothing left behind (domain, mounts, loop devices, '
               'interfaces, files). Total %.1f s.' % (
                   time.monotonic() - story.started))
    return 0


def main(argv=None):
    argparse.ArgumentParser(
        description='Boot a real LXC container from partition 1 of a disk '
                    'image, on a vRouter-style port, ping its gateway, and '
                    'remove everything again. Run as root.').parse_args(argv)
    if os.geteuid() != 0:
        sys.exit('The demo needs root: it creates namespaces, devices, '
                 'mounts and an LXC container.')
    return run()


if __name__ == '__main__':
    sys.exit(main())
