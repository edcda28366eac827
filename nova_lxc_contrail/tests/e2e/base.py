"""End-to-end harness: a real private libvirtd running LXC domains.

Each test class gets, in ``setUpClass`` (and always releases in
``tearDownClass``): a work dir, a ``PrivateLibvirtd`` (LXC driver, private
state), the vRouter agent stand-in, and this package's privsep daemons
started by fork, so every privileged call runs with exactly the
capabilities its context declares. Workers run through
``nova_lxc_contrail.tests.sandbox`` (private network and mount namespaces).
"""

import contextlib
import os
import shutil
import tempfile

import nova.conf
from nova import objects
from oslo_log import log as logging
from oslo_privsep import priv_context
from pyroute2 import IPRoute
import testtools

from nova_lxc_contrail.disk import privsep as disk_privsep
from nova_lxc_contrail.standin import agent as agent_standin
from nova_lxc_contrail.standin import libvirtd as libvirtd_standin
from nova_lxc_contrail.standin import namespaces
from nova_lxc_contrail.tests import host_state
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.vif import privsep as vif_privsep
from nova_lxc_contrail.virt import console
from nova_lxc_contrail.virt import privsep as virt_privsep

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF

PRIVSEP_CONTEXTS = (vif_privsep.vif_plug, disk_privsep.disk_pctxt,
                    virt_privsep.container_net_pctxt,
                    console.console_pctxt)


def start_privsep_daemons(contexts):
    for context in contexts:
        context.start(priv_context.Method.FORK)


def stop_privsep_daemons(contexts):
    for context in contexts:
        with contextlib.suppress(Exception):
            context.stop()


# --- what a test can leave behind ------------------------------------------

def port_links(port_id):
    """The port's host devices that exist: {name: ifindex}."""
    with IPRoute() as ipr:
        found = {}
        for name in (naming.tap_name(port_id), naming.bridge_name(port_id),
                     naming.veth_name(port_id)):
            index = ipr.link_lookup(ifname=name)
            if index:
                found[name] = index[0]
        return found


def link_mtu(ifname=None, netns=None, address=None):
    """MTU, name and MAC of a link here or in the namespace at ``netns``."""
    def lookup(ipr):
        match = {'ifname': ifname} if ifname else {'address': address}
        index = ipr.link_lookup(**match)
        if not index:
            return None
        link = ipr.link('get', index=index[0])[0]
        return {'mtu': link.get('mtu'), 'ifname': link.get('ifname'),
                'address': link.get('address')}

    if netns:
        return virt_privsep.in_netns(netns, lookup)
    with IPRoute() as ipr:
        return lookup(ipr)


class LibvirtLxcTestCase(testtools.TestCase):
    """Class-wide private libvirtd, agent stand-in and privsep daemons."""

    privsep_contexts = PRIVSEP_CONTEXTS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not namespaces.in_private_namespaces():
            raise RuntimeError('run the e2e suite through '
                               'nova_lxc_contrail.tests.sandbox (as root)')
        objects.register_all()
        cls.work_dir = tempfile.mkdtemp(prefix='nlc-e2e-')
        cls.ports_dir = os.path.join(cls.work_dir, 'ports')
        os.mkdir(cls.ports_dir)
        cls.libvirtd = libvirtd_standin.PrivateLibvirtd(
            os.path.join(cls.work_dir, 'libvirtd'))
        cls.agent = agent_standin.AgentStandin(cls.ports_dir)
        try:
            os.mkdir(cls.libvirtd.work_dir)
            cls.configure()
            start_privsep_daemons(cls.privsep_contexts)
            cls.libvirtd.start()
            cls.agent.start()
        except BaseException:
            cls.release_class()
            raise

    @classmethod
    def configure(cls):
        """Set nova.conf for the class; the default is set_override."""
        for group, options in cls.options().items():
            for name, value in options.items():
                CONF.set_override(name, value, group)

    @classmethod
    def options(cls):
        return {'libvirt': {'virt_type': 'lxc', 'connection_uri': 'lxc:///'},
                'lxc_contrail': {'agent_url': cls.agent.url,
                                 'ports_dir': cls.ports_dir}}

    @classmethod
    def release_class(cls):
        def stop_daemons():
            stop_privsep_daemons(cls.privsep_contexts)

        for step in (cls.agent.stop, cls.libvirtd.stop, stop_daemons,
                     cls.unconfigure):
            try:
                step()
            except Exception:
                LOG.exception('Class cleanup step %s failed', step)
        leftovers = (host_state.mounts_below(cls.work_dir) +
                     list(host_state.loops_below(cls.work_dir)) +
                     host_state.processes_naming(cls.work_dir))
        shutil.rmtree(cls.work_dir, ignore_errors=True)
        if leftovers:
            raise AssertionError('left behind: %s' % leftovers)

    @classmethod
    def unconfigure(cls):
        for group, options in cls.options().items():
            for name in options:
                CONF.clear_override(name, group)

    @classmethod
    def tearDownClass(cls):
        cls.release_class()
        super().tearDownClass()

    # --- per test -----------------------------------------------------------

    def setUp(self):
        super().setUp()
        self.test_dir = tempfile.mkdtemp(prefix='test-', dir=self.work_dir)
        self.addCleanup(shutil.rmtree, self.test_dir, ignore_errors=True)

    def connection(self):
        import libvirt
        conn = libvirt.open(self.libvirtd.uri)
        self.addCleanup(conn.close)
        return conn

    def assertNothingLeft(self, port_id, directory, domain_name=None,
                          conn=None):
        """No domain, mount, loop, export, device, port file or agent entry."""
        left = {}
        if conn is not None:
            names = [d.name() for d in conn.listAllDomains()]
            if domain_name in names:
                left['domain'] = domain_name
        left['mounts'] = host_state.mounts_below(directory)
        left['loops'] = host_state.loops_below(directory)
        left['processes'] = host_state.processes_naming(directory)
        left['devices'] = port_links(port_id)
        port_file = os.path.join(self.ports_dir, port_id)
        left['port file'] = os.path.exists(port_file)
        left['agent entry'] = port_id in self.agent.registrations
        self.assertEqual({}, {k: v for k, v in left.items() if v},
                         'left behind after destroy and unplug')
