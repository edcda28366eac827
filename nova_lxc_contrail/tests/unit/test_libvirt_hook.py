"""The libvirt hook's reading of the domain XML and its choice of interfaces.

The links here are records of what netlink would answer; the hook on a
real kernel, run as libvirt runs it, is tests/functional/test_libvirt_hook.
"""

import io
import subprocess
import sys

import testtools

from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.virt import libvirt_hook

BRIDGE, HOST_END, CONTAINER_END = 'br5a8f1c3e-7d', 've5a8f1c3e-7d', 'veth0'
MAC = 'fa:16:3e:12:34:56'


def interface_xml(bridge=BRIDGE, target=HOST_END, actual=CONTAINER_END,
                  mtu='1450', mac=MAC, kind='bridge'):
    """An <interface> as libvirt-LXC gives it to the start hook."""
    parts = ["<interface type='%s'>" % kind, "<mac address='%s'/>" % mac]
    if bridge is not None:
        parts.append("<source bridge='%s'/>" % bridge)
    if target is not None:
        parts.append("<target dev='%s'/>" % target)
    if actual is not None:
        parts.append("<guest dev='eth0' actual='%s'/>" % actual)
    if mtu is not None:
        parts.append("<mtu size='%s'/>" % mtu)
    parts.append('</interface>')
    return ''.join(parts)


def domain_xml(*interfaces):
    return ("<domain type='lxc' id='4242'><name>instance-1</name><devices>"
            "<filesystem type='mount'><source dir='/r'/><target dir='/'/>"
            "</filesystem>%s<console type='pty'/></devices></domain>" %
            ''.join(interfaces)).encode()


class Link(dict):
    """What pyroute2 returns for a link, reduced to what the hook reads."""

    def __init__(self, index, kind=None, group=0, master=None, peer=None,
                 mtu=1500):
        super().__init__(index=index)
        self.attrs = {'IFLA_GROUP': group, 'IFLA_MASTER': master,
                      'IFLA_LINK': peer, 'IFLA_MTU': mtu}
        self.kind = kind

    def get_attr(self, name):
        return self.attrs.get(name)

    def get_nested(self, *path):
        assert path == ('IFLA_LINKINFO', 'IFLA_INFO_KIND'), path
        return self.kind


class RecordedLinks(object):
    """Links by name; records the MTUs set."""

    def __init__(self, links):
        self.links = links
        self.lookups = []
        self.mtus = []

    def get(self, name):
        self.lookups.append(name)
        return self.links.get(name)

    def set_mtu(self, link, mtu):
        self.mtus.append((link['index'], mtu))


def port_links(group=linux_net.port_group(7)):
    return {BRIDGE: Link(8, 'bridge', group=group),
            HOST_END: Link(20, 'veth', master=8, peer=21),
            CONTAINER_END: Link(21, 'veth', peer=20)}


class TestDomainXml(testtools.TestCase):

    def test_bridge_interfaces_with_an_mtu(self):
        found = libvirt_hook.interfaces_with_mtu(domain_xml(
            interface_xml(),
            interface_xml(bridge='virbr0', target='vnet1', actual='veth1',
                          mtu=None),
            interface_xml(kind='network', bridge=None, mtu='9000'),
            interface_xml(bridge='br2', target=None, actual=None,
                          mtu='x')))
        self.assertEqual([
            libvirt_hook.Interface(BRIDGE, HOST_END, CONTAINER_END, MAC,
                                   '1450'),
            libvirt_hook.Interface('br2', None, None, MAC, 'x')], found)

    def test_no_interfaces(self):
        self.assertEqual([], libvirt_hook.interfaces_with_mtu(domain_xml()))

    def test_unparsable_xml_is_named(self):
        e = self.assertRaises(libvirt_hook.HookError,
                              libvirt_hook.interfaces_with_mtu, b'<domain')
        self.assertIn('domain XML on stdin cannot be parsed', str(e))

    def test_the_mark_is_the_vif_drivers(self):
        self.assertEqual(linux_net.PORT_GROUP_BASE,
                         libvirt_hook.PORT_GROUP_MARK)


class TestChoice(testtools.TestCase):

    def set_mtus(self, links, *interfaces):
        return libvirt_hook.set_mtus(
            links, libvirt_hook.interfaces_with_mtu(domain_xml(*interfaces)))

    def test_our_interface_gets_its_mtu_host_end_first(self):
        links = RecordedLinks(port_links())
        self.assertEqual([(HOST_END, CONTAINER_END, 1450)],
                         self.set_mtus(links, interface_xml()))
        self.assertEqual([(20, 1450), (21, 1450)], links.mtus)

    def test_other_bridges_are_left_alone(self):
        links = port_links()
        links['virbr0'] = Link(3, 'bridge', group=0)
        links['grouped'] = Link(4, 'bridge', group=5)
        links['notbridge'] = Link(5, 'veth', group=linux_net.port_group(9))
        links = RecordedLinks(links)
        self.assertEqual([], self.set_mtus(
            links,
            interface_xml(bridge='virbr0', mtu='bogus'),
            interface_xml(bridge='grouped', target=None),
            interface_xml(bridge='notbridge'),
            interface_xml(bridge='missing'),
            interface_xml(bridge=None)))
        self.assertEqual([], links.mtus)
        # Only the bridges were looked up: nothing else of theirs is read.
        self.assertEqual(['virbr0', 'grouped', 'notbridge', 'missing'],
                         links.lookups)

    def assertRefused(self, message, links, *interfaces):
        links = RecordedLinks(links)
        e = self.assertRaises(libvirt_hook.HookError, self.set_mtus, links,
                              *interfaces)
        self.assertIn(message, str(e))
        return links

    def test_bad_mtu_on_our_interface(self):
        for bad in ('x', '', '67', '65536'):
            links = self.assertRefused(
                "bridge %s (MAC %s): <mtu size='%s'> is not an MTU" % (
                    BRIDGE, MAC, bad), port_links(), interface_xml(mtu=bad))
            self.assertEqual([], links.mtus)

    def test_missing_names_on_our_interface(self):
        self.assertRefused('has no <target dev>', port_links(),
                           interface_xml(target=None))
        self.assertRefused('has no <guest actual>', port_links(),
                           interface_xml(actual=None))

    def test_missing_or_foreign_veth_ends(self):
        links = port_links()
        del links[HOST_END]
        self.assertRefused('host end %s of the veth pair on bridge %s does '
                           'not exist' % (HOST_END, BRIDGE), links,
                           interface_xml())
        links = port_links()
        del links[CONTAINER_END]
        self.assertRefused('container end veth0 of the veth pair', links,
                           interface_xml())
        links = port_links()
        links[CONTAINER_END] = Link(21, 'veth', peer=99)
        self.assertRefused('veth0 is not the veth peer of %s' % HOST_END,
                           links, interface_xml())
        links = port_links()
        links[HOST_END] = Link(20, 'veth', master=3, peer=21)
        self.assertRefused('%s is not a port of bridge %s' % (
            HOST_END, BRIDGE), links, interface_xml())

    def test_nothing_is_set_before_every_interface_passed_its_checks(self):
        links = port_links()
        links['br2'] = Link(30, 'bridge', group=linux_net.port_group(29))
        links = self.assertRefused(
            'host end ve2 of the veth pair on bridge br2 does not exist',
            links, interface_xml(),
            interface_xml(bridge='br2', target='ve2', actual='veth2'))
        self.assertEqual([], links.mtus)


class TestMain(testtools.TestCase):

    def main(self, *argv, xml=b'<domain'):
        stderr = io.StringIO()
        self.patch(sys, 'stderr', stderr)
        return libvirt_hook.main(list(argv), io.BytesIO(xml)), \
            stderr.getvalue()

    def test_other_operations_do_nothing(self):
        for op in (('prepare', 'begin'), ('started', 'begin'),
                   ('stopped', 'end'), ('release', 'end'),
                   ('reconnect', 'begin'), ('start', 'end')):
            self.assertEqual((0, ''), self.main('instance-1', *op, '-'))
        self.assertEqual((0, ''), self.main())

    def test_start_of_a_domain_without_mtus_does_nothing(self):
        self.assertEqual((0, ''), self.main(
            'instance-1', 'start', 'begin', '-',
            xml=domain_xml(interface_xml(mtu=None))))

    def test_failure_names_the_domain(self):
        code, err = self.main('instance-1', 'start', 'begin', '-')
        self.assertEqual(1, code)
        self.assertIn('nova-lxc-contrail-libvirt-hook: domain instance-1: '
                      'the domain XML on stdin cannot be parsed', err)

    def test_program_imports_neither_oslo_nor_nova(self):
        # It runs at every container start: its imports are its cost.
        code = ('import sys\n'
                'from nova_lxc_contrail.virt import libvirt_hook\n'
                'libvirt_hook.main(["d", "prepare", "begin", "-"])\n'
                'print(sorted(m.split(".")[0] for m in sys.modules\n'
                '             if m.split(".")[0] in ("oslo_config", "nova",\n'
                '                 "oslo_log", "pyroute2")))\n')
        out = subprocess.run([sys.executable, '-c', code], input=b'',
                             capture_output=True, check=True).stdout
        self.assertEqual(b'[]\n', out)

    def test_installed_program_is_the_console_script(self):
        self.assertEqual(libvirt_hook.PROGRAM,
                         libvirt_hook.installed_program().rsplit('/', 1)[1])
