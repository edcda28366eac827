"""The libvirt hook on the real kernel, run the way libvirt runs it.

A port plugged by the VIF driver (its marked bridge), a veth pair on it as
libvirt-LXC makes one before ``start begin`` (host end on the bridge, both
ends in this namespace, 1500), and the installed hook program run with
libvirt's arguments and the domain XML on stdin.
"""

import socket
import subprocess
import uuid

from pyroute2 import IPRoute
import testtools

from nova_lxc_contrail.standin import namespaces
from nova_lxc_contrail.tests.unit import test_libvirt_hook as unit
from nova_lxc_contrail.tests import vif_fixtures as vf
from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.virt import libvirt_hook

MTU = 1450
START = ('instance-1', 'start', 'begin', '-')


def mtu_of(name):
    with IPRoute() as ipr:
        return ipr.link('get', ifname=name)[0].get_attr('IFLA_MTU')


class TestHookProgram(testtools.TestCase):

    def setUp(self):
        super().setUp()
        if not namespaces.in_private_namespaces():
            self.fail('functional tests must run through '
                      'nova_lxc_contrail.tests.sandbox')
        self.useFixture(vf.InProcessPrivsep())
        # Runs last: the other cleanups removed every device a test made.
        self.addCleanup(self.assertEqual, set(socket.if_nameindex()),
                        set(socket.if_nameindex()))

    def port(self, mtu=MTU):
        """A plugged port and libvirt's veth pair on its bridge."""
        pid = str(uuid.uuid4())
        tap, bridge = naming.tap_name(pid), naming.bridge_name(pid)
        self.addCleanup(linux_net.unplug_devices, tap, bridge)
        linux_net.plug_devices(tap, bridge, mtu=mtu)
        host_end = naming.veth_name(pid)
        container_end = self.veth(host_end, master=bridge)
        return bridge, host_end, container_end

    def veth(self, host_end, master=None):
        container_end = 'vh%s' % uuid.uuid4().hex[:8]
        with IPRoute() as ipr:
            ipr.link('add', ifname=host_end, kind='veth', peer=container_end)
            self.addCleanup(self.delete, host_end)
            index = ipr.link_lookup(ifname=host_end)[0]
            if master:
                ipr.link('set', index=index,
                         master=ipr.link_lookup(ifname=master)[0])
            ipr.link('set', index=index, state='up')
        return container_end

    def delete(self, name):
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=name):
                ipr.link('del', index=index)

    def run_hook(self, xml, argv=START):
        # What libvirt runs: the lxc.d entry links to this program.
        return subprocess.run(
            [libvirt_hook.installed_program()] + list(argv), input=xml,
            capture_output=True, timeout=60)

    def test_both_ends_of_our_veth_get_the_mtu(self):
        bridge, host_end, container_end = self.port()
        self.assertEqual((1500, 1500), (mtu_of(host_end),
                                        mtu_of(container_end)))
        done = self.run_hook(unit.domain_xml(unit.interface_xml(
            bridge=bridge, target=host_end, actual=container_end,
            mtu=str(MTU))))
        self.assertEqual((0, b''), (done.returncode, done.stderr))
        self.assertEqual((MTU, MTU), (mtu_of(host_end),
                                      mtu_of(container_end)))
        # Again (libvirt's restart of the container): the same outcome.
        done = self.run_hook(unit.domain_xml(unit.interface_xml(
            bridge=bridge, target=host_end, actual=container_end,
            mtu=str(MTU))))
        self.assertEqual(0, done.returncode)
        self.assertEqual(MTU, mtu_of(container_end))

    def test_other_bridges_and_operations_are_untouched(self):
        bridge, host_end, container_end = self.port()
        with IPRoute() as ipr:
            ipr.link('add', ifname='hookbr0', kind='bridge')
        self.addCleanup(self.delete, 'hookbr0')
        other_end = self.veth('hookve0', master='hookbr0')
        ours = unit.interface_xml(bridge=bridge, target=host_end,
                                  actual=container_end, mtu=str(MTU))
        theirs = unit.interface_xml(bridge='hookbr0', target='hookve0',
                                    actual=other_end, mtu='1400')
        for op in ('prepare', 'started', 'stopped', 'release'):
            done = self.run_hook(unit.domain_xml(ours),
                                 argv=('instance-1', op, 'begin', '-'))
            self.assertEqual((0, b''), (done.returncode, done.stderr))
        self.assertEqual(1500, mtu_of(container_end))
        done = self.run_hook(unit.domain_xml(theirs, ours))
        self.assertEqual((0, b''), (done.returncode, done.stderr))
        self.assertEqual((1500, 1500), (mtu_of('hookve0'), mtu_of(other_end)))
        self.assertEqual(MTU, mtu_of(container_end))

    def test_our_interface_without_its_veth_fails_the_start(self):
        bridge, host_end, container_end = self.port()
        done = self.run_hook(unit.domain_xml(unit.interface_xml(
            bridge=bridge, target=host_end, actual='vhmissing',
            mtu=str(MTU))))
        self.assertEqual(1, done.returncode)
        self.assertEqual(
            'nova-lxc-contrail-libvirt-hook: domain instance-1: the '
            'container end vhmissing of the veth pair on bridge %s does not '
            'exist in libvirtd\'s network namespace\n' % bridge,
            done.stderr.decode())
        # Nothing changed.
        self.assertEqual(1500, mtu_of(host_end))

    def test_a_bad_mtu_on_our_interface_fails_the_start(self):
        bridge, host_end, container_end = self.port()
        done = self.run_hook(unit.domain_xml(unit.interface_xml(
            bridge=bridge, target=host_end, actual=container_end,
            mtu='65536')))
        self.assertEqual(1, done.returncode)
        self.assertIn("bridge %s (MAC %s): <mtu size='65536'> is not an MTU "
                      "between 68 and 65535" % (bridge, unit.MAC),
                      done.stderr.decode())
        self.assertEqual((1500, 1500), (mtu_of(host_end),
                                        mtu_of(container_end)))
