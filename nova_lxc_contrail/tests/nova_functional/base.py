"""nova's own functional stack on a real private libvirtd running LXC.

``LxcNovaTestBase`` runs nova-api, conductor, scheduler and compute in this
process (nova's ``_IntegratedTestBase``: Placement, Glance and Neutron
fixtures, sqlite, fake RPC), with the compute driver talking to a REAL
libvirtd (``lxc:///``) that ``PrivateLibvirtd`` starts for every test (it
takes ~0.05 s). ``ContrailNovaTestBase`` adds this package's driver, the
vRouter agent stand-in and the gateway stand-in. Run it as root through the
sandbox, which gives the worker private network and mount namespaces::

    python -m nova_lxc_contrail.tests.sandbox -m testtools.run \\
        nova_lxc_contrail.tests.nova_functional.test_servers

nova's test base refuses to touch the host (it poisons ``import libvirt``,
reads under /sys, ``os.uname``); those guards are switched off here, and only
here, because touching the real host is the point of this suite.
"""

# nova's functional helpers apply eventlet's monkey patching: import them
# before anything else, and libvirt before the poison fixture is installed.
from nova.tests.functional import integrated_helpers  # noqa: I100

import libvirt  # noqa: I100,I202

import contextlib
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from unittest import mock
import uuid

import eventlet
import fixtures
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import libvirt as libvirt_fixtures
from nova.virt.libvirt import host as libvirt_host
import os_vif
from oslo_log import log as logging
from oslo_privsep import daemon as privsep_daemon
import pyroute2
from pyroute2.netlink.rtnl.ifinfmsg import IFF_PROMISC
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP

from nova_lxc_contrail import conf  # noqa: F401 (registers the options)
from nova_lxc_contrail.disk import loop
from nova_lxc_contrail.standin import agent as agent_standin
from nova_lxc_contrail.standin import gateway
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.standin import libvirtd as libvirtd_standin
from nova_lxc_contrail.standin import namespaces
from nova_lxc_contrail.tests import host_state
from nova_lxc_contrail.vif import naming

LOG = logging.getLogger(__name__)

# nova's test base poisons it; LIBVIRT_EVENTS puts it back.
_INIT_LIBVIRT_EVENTS = libvirt_host.Host._init_events

COMPUTE_HOST = 'compute'
STATE_CHANGE_RETRIES = 60       # polls 0.5 s apart
GATEWAY_IP = '192.168.1.1'      # NeutronFixture.subnet_1['gateway_ip']
BUSYBOX = '/bin/busybox'
# The stock-nova harness test's init: records each boot in /init.log (so a
# test can count boots), then idles until SIGTERM.
INIT_SCRIPT = """\
#!/bin/busybox sh
/bin/busybox echo "boot $$" >> /init.log
trap 'exit 0' TERM
while :; do /bin/busybox sleep 3600 & wait $!; done
"""
INIT_LOG = 'init.log'
# rcS of the images stand-in's busybox images: one line per boot.
BOOT_LOG = 'var/log/boots'
BOOT_RCS = '#!/bin/sh\necho boot >> /%s\n' % BOOT_LOG
# build_image(init=...): an init that stops on libvirt's initctl request.
INITCTL = 'initctl'


def _run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def write_busybox_tree(root, init=True):
    """A minimal root: static busybox, /bin/sh and (optionally) /sbin/init."""
    for sub in ('bin', 'sbin', 'dev', 'proc', 'sys', 'tmp', 'etc'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    shutil.copy(BUSYBOX, os.path.join(root, 'bin', 'busybox'))
    os.symlink('busybox', os.path.join(root, 'bin', 'sh'))
    if init:
        path = os.path.join(root, 'sbin', 'init')
        with open(path, 'w') as f:
            f.write(INIT_SCRIPT)
        os.chmod(path, 0o755)


def build_plain_raw_image(path, size_mb=16, init=True):
    """An unpartitioned raw ext4 image (what stock nova can boot)."""
    tree = tempfile.mkdtemp(prefix='rootfs-', dir=os.path.dirname(path))
    try:
        write_busybox_tree(tree, init=init)
        _run('mke2fs', '-q', '-F', '-t', 'ext4', '-d', tree, path,
             '%dM' % size_mb)
    finally:
        shutil.rmtree(tree)
    return path


# --- what a test leaves on the host -----------------------------------------

def release_leftovers(directory):
    """Release the mounts and loop devices a failed test left below dir.

    Runs after the private libvirtd has destroyed its domains; registered
    with plain arguments because nova's ``_clear_attrs`` wipes the test's
    attributes before later cleanups run.
    """
    kill_leftover_exports(directory)
    for target in reversed(host_state.mounts_below(directory)):
        LOG.warning('Unmounting leftover %s', target)
        namespaces.umount(target, detach=True)
    for device in host_state.loops_below(directory):
        LOG.warning('Detaching leftover %s', device)
        with contextlib.suppress(OSError):
            loop.detach(device)
    shutil.rmtree(directory, ignore_errors=True)


def kill_leftover_exports(directory):
    """Kill the qemu-storage-daemons a failed test left serving below dir.

    Unmounting its FUSE export under a daemon leaves it running (and
    spinning) after the test; killed first, its mount unmounts cleanly.
    """
    for pid in host_state.processes_naming(directory,
                                           program='qemu-storage-daemon'):
        LOG.warning('Killing leftover export daemon %d', pid)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class LxcNovaTestBase(integrated_helpers._IntegratedTestBase):
    """nova-api/conductor/scheduler/compute on a real private libvirtd."""

    ADMIN_API = True
    microversion = 'latest'
    COMPUTE_DRIVER = 'libvirt.LibvirtDriver'
    IMAGES_TYPE = 'raw'

    def setUp(self):
        if not namespaces.in_private_namespaces():
            raise RuntimeError(
                'run this suite through nova_lxc_contrail.tests.sandbox '
                '(as root): it starts a private libvirtd')
        self._switch_off_host_guards()
        self._work_dir = tempfile.mkdtemp(prefix='nova-lxc-functional-')
        self._instances_path = os.path.join(self._work_dir, 'instances')
        os.makedirs(self._instances_path)
        # Cleanups run last-in first-out: leftovers are released after
        # libvirtd has destroyed its domains; libvirtd stops after nova.
        self.addCleanup(release_leftovers, self._work_dir)
        # A libvirtd per test (it starts in ~0.05s): no definition or
        # domain of one test can reach the next.
        libvirtd = libvirtd_standin.PrivateLibvirtd(
            work_dir=os.path.join(self._work_dir, 'libvirtd'))
        os.makedirs(libvirtd.work_dir)
        libvirtd.start()
        self.addCleanup(libvirtd.stop)
        self._uri = libvirtd.uri
        super().setUp()

    def _switch_off_host_guards(self):
        # Patched on the classes, before nova's TestCase.setUp installs them.
        self.useFixture(fixtures.MockPatchObject(
            nova_fixtures.GenericPoisonFixture, 'POISON_THESE', ()))
        self.useFixture(fixtures.MockPatchObject(
            nova_fixtures.SysFsPoisonFixture, 'inject_poison',
            lambda *args, **kwargs: None))
        self.useFixture(fixtures.MockPatchObject(
            nova_fixtures.ImportModulePoisonFixture.ForbiddenModules,
            'find_spec', lambda *args, **kwargs: None))

    # --- nova services ------------------------------------------------------

    def _compute_flags(self):
        self.flags(compute_driver=self.COMPUTE_DRIVER,
                   instances_path=self._instances_path,
                   instance_name_template='instance-%(uuid)s')
        self.flags(api_paste_config=os.path.join(
            sys.prefix, 'etc', 'nova', 'api-paste.ini'), group='wsgi')
        self.flags(virt_type='lxc', connection_uri=self._uri,
                   images_type=self.IMAGES_TYPE, group='libvirt')

    def _setup_compute_service(self):
        self.useFixture(nova_fixtures.PrivsepFixture())
        self._libvirt_events()
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.host.Host.get_hostname',
            lambda _host: COMPUTE_HOST))
        self._compute_flags()
        # nova-compute's main() does this at start (nova.cmd.compute).
        os_vif.initialize()
        return self._start_compute(COMPUTE_HOST)

    # Real libvirt lifecycle events reach nova-compute (nova's event thread
    # on the private libvirtd), as in production. Off by default, as in
    # nova's own functional tests.
    LIBVIRT_EVENTS = False

    def _libvirt_events(self):
        if not self.LIBVIRT_EVENTS:
            libvirt_fixtures.disable_event_thread(self)
            return
        test = self

        def init_events(host):
            # nova's own, but its two endless dispatch loops run outside
            # nova's thread pool (whose shutdown at cleanup waits for
            # them) and stop with the test.
            loops = []

            def spawn(func, *args, **kwargs):
                loops.append(eventlet.spawn(func, *args, **kwargs))
                return loops[-1]

            with mock.patch.object(libvirt_host.thread_pool_factory,
                                   'spawn', spawn):
                _INIT_LIBVIRT_EVENTS(host)
            for dispatch in loops:
                test.addCleanup(dispatch.kill)
            test.addCleanup(host.cleanup)

        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.host.Host._init_events', init_events))

    def restart_compute(self):
        """A real restart: a new manager and driver; libvirt keeps running."""
        compute = self.restart_compute_service(
            self.computes[COMPUTE_HOST], keep_hypervisor_state=False)
        self.computes[COMPUTE_HOST] = compute
        self.compute = compute
        return compute

    # --- images -------------------------------------------------------------

    def create_image(self, path, disk_format='raw', name=None):
        """Register a real image file with the Glance fixture."""
        size = os.path.getsize(path)
        meta = {
            'name': name or os.path.basename(path),
            'status': 'active',
            'container_format': 'bare',
            'disk_format': disk_format,
            'size': size,
            'min_ram': 0,
            'min_disk': 0,
            'visibility': 'public',
            'is_public': True,
            'properties': {},
        }
        with open(path, 'rb') as data:
            image = self.glance.create(None, meta, data=data)
        return image['id']

    def build_image(self, name, layout='gpt', fmt='raw', init=INITCTL):
        """A busybox image from the images stand-in, registered in Glance.

        Every boot runs rcS, which logs it to BOOT_LOG. ``init``, one of the
        stand-in's: INITCTL (stops on libvirt's initctl request), 'script'
        (no initctl FIFO, stops on SIGTERM), 'busybox' (busybox init: no
        FIFO, reboots on SIGTERM), 'none' (no /sbin/init).
        """
        path = images.build_image(
            self.image_path(name), layout=layout, fmt=fmt, init=init,
            files={'etc/init.d/rcS': BOOT_RCS})
        return self.create_image(path, disk_format=fmt, name=name)

    def image_path(self, name):
        images = os.path.join(self._work_dir, 'images')
        os.makedirs(images, exist_ok=True)
        return os.path.join(images, name)

    # --- servers ------------------------------------------------------------

    def _wait_for_state_change(self, server, expected_status,
                               max_retries=STATE_CHANGE_RETRIES, **kwargs):
        # nova's default (10 polls, 5 s) is tight for a real container on a
        # busy 2-core CI machine.
        return super()._wait_for_state_change(
            server, expected_status, max_retries=max_retries, **kwargs)

    def boot(self, image_id, networks='none', expected_state='ACTIVE',
             flavor_id='1', name='lxc'):
        """POST /servers and wait; returns (server, seconds to the state)."""
        started = time.monotonic()
        server = self.api.post_server({'server': {
            'name': name, 'imageRef': image_id, 'flavorRef': flavor_id,
            'networks': networks}})
        server = self._wait_for_state_change(server, expected_state)
        return server, time.monotonic() - started

    def delete(self, server):
        """DELETE the server and wait until it is gone; returns seconds."""
        started = time.monotonic()
        self._delete_server(server)
        return time.monotonic() - started

    def timing(self, what, seconds):
        self.report('TIMING %s: %.2fs' % (what, seconds))

    def report(self, text):
        """In the test's log, and on stderr for a human running the suite."""
        LOG.info(text)
        sys.stderr.write('\n%s %s\n' % (self.id(), text))

    # --- libvirt and the container ------------------------------------------

    def libvirt_conn(self):
        conn = libvirt.open(self._uri)
        self.addCleanup(conn.close)
        return conn

    def domain_name(self, server):
        return server['OS-EXT-SRV-ATTR:instance_name']

    def domain(self, server):
        return self.libvirt_conn().lookupByName(self.domain_name(server))

    def assert_domain_running(self, server):
        dom = self.domain(server)
        state, _reason = dom.state()
        self.assertEqual(libvirt.VIR_DOMAIN_RUNNING, state)
        return dom

    def assert_no_domain(self, server):
        names = [d.name() for d in self.libvirt_conn().listAllDomains()]
        self.assertNotIn(self.domain_name(server), names)

    def container_init_pid(self, dom):
        """The container's init: the child of the libvirt_lxc controller."""
        controller = dom.ID()
        with open('/proc/%d/task/%d/children' % (controller, controller)) as f:
            children = f.read().split()
        self.assertEqual(1, len(children), 'controller %d children: %s' % (
            controller, children))
        return int(children[0])

    def container_path(self, dom, path):
        return '/proc/%d/root/%s' % (self.container_init_pid(dom),
                                     path.lstrip('/'))

    def wait_for_boots(self, dom, count, timeout=10, log=INIT_LOG):
        """Wait until the container's init has logged ``count`` boots."""
        deadline = time.monotonic() + timeout
        boots = []
        while time.monotonic() < deadline:
            try:
                with open(self.container_path(dom, log)) as f:
                    boots = f.read().splitlines()
            except OSError:
                boots = []
            if len(boots) >= count:
                return boots
            time.sleep(0.05)
        self.fail('container init logged %d boots, expected %d' % (
            len(boots), count))

    # --- host state ---------------------------------------------------------

    def host_state(self):
        """Loop devices, mounts and export daemons of this test's instances."""
        return {
            'loops': sorted(host_state.loops_below(self._work_dir)),
            'mounts': host_state.mounts_below(self._instances_path),
            'exports': self.export_daemons(),
        }

    def mount_ids(self):
        """{target: mount id} below the instances: a new mount, a new id."""
        return host_state.mount_ids_below(self._instances_path)

    def export_daemons(self):
        """pids of the qemu-storage-daemons serving this test's instances."""
        return host_state.processes_naming(self._instances_path,
                                           program='qemu-storage-daemon')

    def assert_nothing_left(self, server):
        self.assert_no_domain(server)
        self.assertEqual({'loops': [], 'mounts': [], 'exports': []},
                         self.host_state())
        self.assertFalse(os.path.exists(
            os.path.join(self._instances_path, server['id'])))
        allocations = self.placement.get(
            '/allocations/%s' % server['id']).body['allocations']
        self.assertEqual({}, allocations)


# --- nova-lxc-contrail on the harness ---------------------------------------

def _privsep_contexts():
    from nova_lxc_contrail.disk import privsep as disk_privsep
    from nova_lxc_contrail.vif import privsep as vif_privsep
    from nova_lxc_contrail.virt import console
    from nova_lxc_contrail.virt import privsep as virt_privsep
    return (disk_privsep.disk_pctxt, vif_privsep.vif_plug,
            virt_privsep.container_net_pctxt, console.console_pctxt)


# nova's PrivsepNoHelperFixture replaces it; keep the real one.
_ROOTWRAP_CHANNEL = privsep_daemon.RootwrapClientChannel
PRIVSEP_HELPER = os.path.join(sys.prefix, 'bin', 'privsep-helper')


class PrivsepDaemons(fixtures.Fixture):
    """This package's privileged steps run in real privsep daemons.

    As in nova-compute: each context starts ``privsep-helper`` (a fresh
    interpreter, no eventlet) on first use, keeping only the capabilities
    the context declares. In-process privsep is no option here: pyroute2
    cannot enter a network namespace under eventlet's monkey patching.
    The daemons exit when their channel closes at cleanup.
    """

    def __init__(self, test):
        super().__init__()
        self.test = test

    def _setUp(self):
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_privsep.daemon.RootwrapClientChannel', _ROOTWRAP_CHANNEL))
        for ctx in _privsep_contexts():
            self.test.flags(helper_command=PRIVSEP_HELPER,
                            group=ctx.cfg_section)
            ctx.set_client_mode(True)
            self.addCleanup(ctx.stop)


class ContrailNovaTestBase(LxcNovaTestBase):
    """The same stack with ``compute_driver = lxc_contrail.LxcContrailDriver``.

    The vRouter agent stand-in runs in this process with its ports dir in
    the test's work dir; the package's privileged steps run in privsep
    daemons with their declared capabilities, as in nova-compute.
    """

    COMPUTE_DRIVER = 'lxc_contrail.LxcContrailDriver'
    NETWORK_MTU = 1450          # NeutronFixture.network_1['mtu']

    def setUp(self):
        self._ports_dir = None
        self.agent = None
        super().setUp()

    def _compute_flags(self):
        super()._compute_flags()
        self._ports_dir = os.path.join(self._work_dir, 'ports')
        os.makedirs(self._ports_dir)
        self.agent = agent_standin.AgentStandin(self._ports_dir)
        self.agent.start()
        self.addCleanup(self.agent.stop)
        self.flags(agent_url=self.agent.url, ports_dir=self._ports_dir,
                   group='lxc_contrail')
        self.useFixture(PrivsepDaemons(self))

    # --- Neutron ports ------------------------------------------------------

    def create_vrouter_port(self, network=None):
        """A port with ``binding:vif_type = 'vrouter'`` in the fixture."""
        network = network or self.neutron.network_1
        port = copy.deepcopy(self.neutron.port_1)
        port_id = str(uuid.uuid4())
        mac = 'fa:16:3e:%02x:%02x:%02x' % tuple(os.urandom(3))
        port.update({
            'id': port_id,
            'mac_address': mac,
            'network_id': network['id'],
            'device_id': '',
            'binding:vif_type': 'vrouter',
            'binding:vif_details': {},
            'fixed_ips': [{
                'ip_address': '192.168.1.%d' % (10 + len(
                    self.neutron._ports)),
                'subnet_id': self.neutron.subnet_1['id']}],
        })
        self.neutron._ports[port_id] = port
        return port

    # --- the host, the container and the agent ------------------------------

    @staticmethod
    def link(ipr, name):
        found = ipr.link_lookup(ifname=name)
        return ipr.link('get', index=found[0])[0] if found else None

    def host_links(self, port):
        names = {'tap': naming.tap_name(port['id']),
                 'bridge': naming.bridge_name(port['id']),
                 'veth': naming.veth_name(port['id'])}
        with pyroute2.IPRoute() as ipr:
            return {kind: self.link(ipr, name) for kind, name in names.items()}

    def in_container(self, dom, *argv, mount=False):
        """Run a program in the container's network namespace.

        With ``mount``, in its mount namespace too: the container's own
        program. (pyroute2 cannot enter a namespace under eventlet's monkey
        patching; nsenter can.)
        """
        namespaces = ['--net'] + (['--mount'] if mount else [])
        return subprocess.run(
            ['nsenter', '--target', str(self.container_init_pid(dom))] +
            namespaces + ['--'] + list(argv),
            check=True, capture_output=True, text=True).stdout

    def container_links(self, dom):
        """{ifname: (MAC, MTU)} in the container's network namespace."""
        links = json.loads(
            self.in_container(dom, 'ip', '-json', 'link', 'show'))
        return {link['ifname']: (link.get('address'), link.get('mtu'))
                for link in links}

    def port_file(self, port):
        path = os.path.join(self._ports_dir, port['id'])
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def assert_port_plugged(self, server, port, running=True):
        """Tap in a promiscuous bridge, registered; the veth when running."""
        links = self.host_links(port)
        tap, bridge, veth = links['tap'], links['bridge'], links['veth']
        self.assertIsNotNone(tap, 'no tap for port %s' % port['id'])
        self.assertIsNotNone(bridge, 'no bridge for port %s' % port['id'])
        self.assertEqual(bridge['index'], tap.get('master'))
        self.assertTrue(bridge['flags'] & IFF_PROMISC,
                        'bridge %s is not promiscuous' % bridge.get('ifname'))
        self.assertTrue(bridge['flags'] & IFF_UP)
        self.assertEqual(self.NETWORK_MTU, bridge.get('mtu'))
        if running:
            self.assertIsNotNone(veth, 'no veth for port %s' % port['id'])
            self.assertEqual(bridge['index'], veth.get('master'))
            self.assertEqual(self.NETWORK_MTU, veth.get('mtu'))
        expected = {
            'id': port['id'],
            'instance-id': server['id'],
            'vn-id': port['network_id'],
            'system-name': bridge.get('ifname'),
            'mac-address': port['mac_address'],
            'ip-address': port['fixed_ips'][0]['ip_address'],
            'type': agent_standin.VMPORT,
        }
        registered = self.agent.registrations.get(port['id'])
        self.assertIsNotNone(registered, 'agent does not hold %s' % port['id'])
        self.assertEqual(expected, {k: registered[k] for k in expected})
        on_disk = self.port_file(port)
        self.assertIsNotNone(on_disk, 'no port file for %s' % port['id'])
        self.assertEqual(expected, {k: on_disk[k] for k in expected})

    def assert_container_nics(self, dom, ports):
        """eth0, eth1... carry the ports' MACs and the network MTU."""
        expected = {'eth%d' % i: (p['mac_address'], self.NETWORK_MTU)
                    for i, p in enumerate(ports)}
        links = self.container_links(dom)
        self.assertEqual(expected,
                         {k: v for k, v in links.items() if k != 'lo'})

    def assert_container_pings_gateway(self, dom, ports):
        """Each NIC, given its port's address, reaches the gateway.

        The gateway stand-in answers on the port's bridge device, where the
        vRouter attaches.
        """
        for index, port in enumerate(ports):
            eth = 'eth%d' % index
            address = port['fixed_ips'][0]['ip_address']
            self.in_container(dom, 'ip', 'address', 'replace',
                              address + '/24', 'dev', eth)
            self.in_container(dom, 'ip', 'link', 'set', eth, 'up')
            with gateway.Gateway(naming.bridge_name(port['id']),
                                 GATEWAY_IP) as gw:
                self.in_container(dom, '/bin/ping', '-c', '1', '-W', '5',
                                  '-I', eth, GATEWAY_IP, mount=True)
            self.assertEqual(1, gw.echo_replies)

    def assert_server_running(self, server, ports, boots=1):
        """Domain running, init ran ``boots`` times, NICs up to the gateway.

        -> the domain.
        """
        dom = self.assert_domain_running(server)
        self.assertEqual(['boot'] * boots,
                         self.wait_for_boots(dom, boots, log=BOOT_LOG))
        self.assert_container_nics(dom, ports)
        self.assert_container_pings_gateway(dom, ports)
        for port in ports:
            self.assert_port_plugged(server, port)
        return dom

    def bridge_indexes(self, ports):
        return [self.host_links(p)['bridge']['index'] for p in ports]

    def ports_now(self, ports):
        """Each port's tap and bridge ifindex, registration and port file."""
        devices = {}
        for port in ports:
            links = self.host_links(port)
            devices[port['id']] = (links['tap']['index'],
                                   links['bridge']['index'])
        return (devices, dict(self.agent.registrations),
                {p['id']: self.port_file(p) for p in ports})

    def assert_ports_kept(self, ports, before):
        """The very same devices, registrations and files; no DELETE.

        ``before`` is ports_now() taken after agent.clear_requests().
        """
        self.assertEqual(before, self.ports_now(ports))
        self.assertEqual([], [(r.method, r.path) for r in self.agent.requests
                              if r.method == 'DELETE'])

    def assert_port_gone(self, port):
        self.assertEqual({'tap': None, 'bridge': None, 'veth': None},
                         self.host_links(port))
        self.assertIsNone(self.port_file(port))
        self.assertNotIn(port['id'], self.agent.registrations)

    def agent_posts(self, port):
        return [r for r in self.agent.requests
                if r.method == 'POST' and isinstance(r.body, dict) and
                r.body.get('id') == port['id']]

    # --- interface attach and detach ----------------------------------------

    def attach_port(self, server, port):
        """POST os-interface and wait for its end; returns seconds."""
        started = time.monotonic()
        self._attach_interface(server, port['id'])
        return time.monotonic() - started

    def detach_port(self, server, port):
        """DELETE os-interface and wait for its end; returns seconds."""
        started = time.monotonic()
        self._detach_interface(server, port['id'])
        return time.monotonic() - started

    def server_port_ids(self, server):
        """The ports nova lists for the server, sorted."""
        return sorted(a['port_id']
                      for a in self.api.get_port_interfaces(server['id']))

    def domain_macs(self, server):
        """MACs of the domain's interfaces: (live, persistent), in order."""
        dom = self.domain(server)
        return tuple(
            re.findall(r"<mac address='([0-9a-f:]+)'/>", dom.XMLDesc(flags))
            for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE))

    def assert_container_nics_named(self, dom, nics):
        """{ifname: port}: exactly these NICs, with MAC and MTU."""
        links = self.container_links(dom)
        self.assertEqual(
            {name: (port['mac_address'], self.NETWORK_MTU)
             for name, port in nics.items()},
            {k: v for k, v in links.items() if k != 'lo'})
