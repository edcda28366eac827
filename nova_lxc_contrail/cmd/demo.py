"""The demo: a real LXC container on a vRouter-style port, then nothing left.

Run as root (``./tools/demo.sh`` installs what it needs first)::

    python -m nova_lxc_contrail.cmd.demo [--image PATH]

In private network and mount namespaces it builds a small GPT disk image
(root filesystem in partition 1), starts the vRouter agent stand-in and a
private libvirtd, plugs a port (tap + promiscuous bridge registered with the
agent), boots a busybox LXC container from partition 1 with its NIC on the
bridge, shows it pinging its gateway (answered on the bridge device, where
the vRouter attaches), and tears everything down. Each step prints how long
it took. The kernel needs no partition-table support, nbd or device-mapper:
partition 1 is bound by a loop device at its byte offset.

``--image PATH`` boots the user's own raw or qcow2 image instead (any
partition layout the driver reads), through a qcow2 overlay in the demo's
work directory so that the image itself is never written. The image is
inspected first, as ``nova-lxc-contrail image inspect`` does; when it cannot
boot, the demo prints what it found and why, and stops.
"""

import argparse
import contextlib
import json
import logging as std_logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

import libvirt
import nova.conf
import os_vif
from oslo_privsep import priv_context
from pyroute2 import IPRoute

from nova_lxc_contrail.cmd import image as image_cmd
from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail.disk import choose
from nova_lxc_contrail.disk import partition
from nova_lxc_contrail.disk import privsep as disk_privsep
from nova_lxc_contrail import exception
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
# An init of the user's image has this long to replace libvirt's child.
INIT_EXEC_TIMEOUT = 30.0
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


class ImageCannotBoot(Exception):
    """The user's image cannot boot as a container; the report says why."""


class Demo(object):

    def __init__(self, story, user_image=None, root_partition=None):
        self.story = story
        self.user_image = user_image
        self.root_partition = root_partition
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
        with step('start the vRouter agent stand-in'):
            self.agent.start()
        say('             | port API at %s, port files in %s' % (
            self.agent.url, self.ports_dir))
        with step('start privileged helpers (oslo.privsep, forked)'):
            self.configure()
            for context in PRIVSEP_CONTEXTS:
                context.start(priv_context.Method.FORK)
                self.privsep_started.append(context)
        if self.user_image:
            image, fmt = self.prepare_user_image()
        else:
            with step('build a GPT disk image, busybox root in partition 1'):
                image = images.build_image(
                    os.path.join(self.work, 'disk.raw'), layout='gpt',
                    fmt='raw')
            fmt = 'raw'
            say('             | %s, %d MiB, partitions: %s' % (
                os.path.basename(image), os.path.getsize(image) >> 20,
                _partitions(image)))
        with step('start a private libvirtd with the LXC driver'):
            self.libvirtd.start()
            self.conn = libvirt.open(self.libvirtd.uri)
        vif = compute.vrouter_vif(mtu=MTU, ip=CONTAINER_IP, gateway=GATEWAY)
        self.guest = compute.LxcGuest(
            self.conn, lxc_vif.LxcContrailVIFDriver(None),
            compute.make_instance('demo'), [vif],
            image, fmt, os.path.join(self.work, 'instance'),
            root_partition=self.root_partition)
        say('Booting instance %s on port %s (MAC %s, network MTU %d):' % (
            self.guest.instance.uuid, vif['id'], vif['address'], MTU))
        self.story.timings(self.guest.boot())
        self.story.show(_interface_xml(self.guest.domain))
        self.describe_port(vif)
        if self.user_image:
            self.user_container(vif)
        else:
            self.ping_gateway(vif)
        say('Tearing down:')
        self.story.timings(self.guest.destroy())
        self.guest = None

    def prepare_user_image(self):
        """Inspect the user's image; boot it through a qcow2 overlay."""
        with self.story.step('inspect %s as the driver would mount it'
                             % self.user_image):
            report = disk_api.inspect_image(
                self.user_image, root_partition=self.root_partition)
        self.story.show(image_cmd.render(report))
        if not image_cmd.bootable(report):
            raise ImageCannotBoot(report['error'] or (
                report['init'] or {}).get('reason') or 'no root filesystem')
        overlay = os.path.join(self.work, 'disk.qcow2')
        with self.story.step('create a qcow2 overlay (the image itself is '
                             'never written)'):
            subprocess.run(
                ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F',
                 report['format'], '-b', os.path.abspath(self.user_image),
                 overlay], check=True, capture_output=True, text=True)
        return overlay, 'qcow2'

    def user_container(self, vif):
        """What can be shown of an init we do not know."""
        container = self.guest.container
        with self.story.step("container: its init replaced libvirt's "
                             "child"):
            comm = container.wait_for_exec(timeout=INIT_EXEC_TIMEOUT)
        self.story.show('pid 1 in the container: %s (host pid %d)' % (
            comm, container.init_pid))
        missing = [name for name in ('ip', 'ping')
                   if not _executable_in(container, name)]
        if missing:
            self.story.show('the image has no %s: not pinging the gateway'
                            % ' or '.join(missing))
            return
        try:
            self.ping_gateway(vif, wait_for_boot=False)
        except (RuntimeError, subprocess.CalledProcessError) as e:
            # An image of the user's may configure eth0 its own way.
            self.story.show('no ping: %s' % (getattr(e, 'stderr', None)
                                             or e))

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

    def ping_gateway(self, vif, wait_for_boot=True):
        container = self.guest.container
        if wait_for_boot:
            with self.story.step('container: /sbin/init ran (/run/booted)'):
                container.wait_for_file('/run/booted')
            with open('/proc/%d/comm' % container.init_pid) as f:
                self.story.show('pid 1 in the container: %s (host pid %d)'
                                % (f.read().strip(), container.init_pid))
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


def _executable_in(container, name):
    return any(os.access(container.path(os.path.join(where, name)), os.X_OK)
               for where in ('/bin', '/sbin', '/usr/bin', '/usr/sbin'))


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


def run(user_image=None, root_partition=None):
    story = Story()
    story.line('nova-lxc-contrail demo: a real LXC container on a '
               'vRouter-style port')
    with story.step('enter private network and mount namespaces'):
        namespaces.enter()
    std_logging.basicConfig(level=std_logging.ERROR)
    demo = Demo(story, user_image, root_partition)
    status = 0
    try:
        demo.run()
    except ImageCannotBoot as e:
        story.line('%s cannot boot as an LXC container: %s' % (
            user_image, e))
        status = 1
    finally:
        demo.release()
    left = demo.leftovers()
    if left:
        story.line('LEFT BEHIND: %s' % ', '.join(left))
        return 1
    story.line('Nothing left behind (domain, mounts, loop devices, '
               'interfaces, files). Total %.1f s.' % (
                   time.monotonic() - story.started))
    return status


DEMO_EPILOG = """\
exit status: 0 when the container booted and everything was removed, 1
when the image cannot boot (what was found is printed) or something was
left behind, 2 on a usage error.

examples:
  nova-lxc-contrail-demo
  nova-lxc-contrail-demo --image debian-12-generic-amd64.qcow2
  nova-lxc-contrail-demo --image disk.raw --root-partition 2
"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog='nova-lxc-contrail-demo',
        description='Boot a real LXC container from partition 1 of a disk '
                    'image, on a vRouter-style port, ping its gateway, and '
                    'remove everything again. Run as root.',
        epilog=DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--image', metavar='PATH',
        help='boot this raw or qcow2 image instead of the built-in busybox '
             'one (any partition layout; written to through an overlay '
             'only). It is inspected first: when it cannot boot, the demo '
             'says what it found.')
    parser.add_argument(
        '--root-partition', metavar='POLICY',
        help='auto, none or a partition number, like the image property '
             'lxc_root_partition (default: auto).')
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.image is not None and not os.path.isfile(args.image):
        parser.error('--image %s: no such file' % args.image)
    if args.root_partition is not None:
        try:
            choose.parse_policy(args.root_partition, '--root-partition')
        except exception.ConfigError as e:
            parser.error(str(e))
    if os.geteuid() != 0:
        sys.exit('The demo needs root: it creates namespaces, devices, '
                 'mounts and an LXC container.')
    return run(args.image, args.root_partition)


if __name__ == '__main__':
    sys.exit(main())
