"""libvirt ``lxc`` hook: the network MTU on a container's veths before init.

libvirt-LXC ignores ``<mtu>``: it creates each veth pair at 1500, and again
at every start, a reboot from inside the container included (libvirt then
restarts the container by itself, nova is not involved). libvirt runs the
executables of ``/etc/libvirt/hooks/lxc.d/`` as
``<entry> <domain> <operation> <sub-operation> -`` with the domain XML on
stdin. At ``start begin`` both ends of every veth pair exist, still in
libvirtd's network namespace, and the container (its init) does not run
yet: this hook gives both ends the ``<mtu size>`` of the interface there, so
the container's first instruction already sees the network MTU.

Every LXC domain of the host runs the hook. It touches only this package's
interfaces: ``<interface type='bridge'>`` whose ``<source bridge>`` is a
bridge carrying the VIF driver's link-group mark (``vif/linux_net.py``).
Everything else is left alone and the hook exits 0; it exits 1, with a
message libvirt shows in its start error, only when one of this package's
interfaces cannot get its MTU, or when the domain XML cannot be read
(libvirt then does not start the domain).

It must not call back into libvirt (libvirtd waits for it, holding the
domain's lock), and it runs at every container start: it imports only the
standard library until an interface needs an MTU, then pyroute2.
"""

import collections
import errno
import os
import sys
from xml.etree import ElementTree

PROGRAM = 'nova-lxc-contrail-libvirt-hook'
# libvirt's hook directory is fixed at build time (SYSCONFDIR/libvirt/hooks).
HOOKS_DIR = '/etc/libvirt/hooks'
ENTRY_NAME = 'nova-lxc-contrail'
ENTRY = os.path.join(HOOKS_DIR, 'lxc.d', ENTRY_NAME)
# vif/linux_net.PORT_GROUP_BASE: the bit every port device's link group
# has. Not imported from there: that module pulls in oslo and nova, which
# would cost every container start far more than the hook's own work.
PORT_GROUP_MARK = 0x80000000
# What the kernel accepts for an Ethernet device (ETH_MIN_MTU; IP_MAX_MTU).
MIN_MTU, MAX_MTU = 68, 65535

Interface = collections.namedtuple(
    'Interface', 'bridge host_end container_end mac mtu')


class HookError(Exception):
    """One of this package's interfaces cannot get its MTU."""


def interfaces_with_mtu(domain_xml):
    """The bridge interfaces of ``domain_xml`` that name an MTU.

    Values are returned as the XML has them (None when absent): whether a
    missing one is an error depends on whether the interface is ours.

    :raises HookError: when the XML cannot be parsed.
    """
    try:
        domain = ElementTree.fromstring(domain_xml)
    except ElementTree.ParseError as e:
        raise HookError('the domain XML on stdin cannot be parsed: %s' % e)
    found = []
    for iface in domain.iterfind('./devices/interface[@type="bridge"]'):
        mtu = iface.find('mtu')
        if mtu is None:
            continue
        found.append(Interface(
            bridge=_attr(iface, 'source', 'bridge'),
            host_end=_attr(iface, 'target', 'dev'),
            container_end=_attr(iface, 'guest', 'actual'),
            mac=_attr(iface, 'mac', 'address'),
            mtu=mtu.get('size')))
    return found


def _attr(iface, tag, name):
    element = iface.find(tag)
    return None if element is None else element.get(name)


def _mtu_of(iface):
    try:
        mtu = int(iface.mtu)
    except (TypeError, ValueError):
        mtu = None
    if mtu is None or not MIN_MTU <= mtu <= MAX_MTU:
        raise HookError('interface on bridge %s (MAC %s): <mtu size=%r> is '
                        'not an MTU between %d and %d' % (
                            iface.bridge, iface.mac, iface.mtu, MIN_MTU,
                            MAX_MTU))
    return mtu


class Links(object):
    """Netlink lookups by name (never a dump) and MTU changes."""

    def __init__(self, ipr):
        self._ipr = ipr

    def get(self, name):
        """The link called ``name``, or None when there is none."""
        from pyroute2.netlink.exceptions import NetlinkError
        try:
            return self._ipr.link('get', ifname=name)[0]
        except NetlinkError as e:
            # EINVAL: not a name the kernel could have given a device.
            if e.code in (errno.ENODEV, errno.EINVAL):
                return None
            raise

    def set_mtu(self, link, mtu):
        self._ipr.link('set', index=link['index'], mtu=mtu)


def is_ours(bridge_link):
    """Is this a bridge the VIF driver made (it carries the port mark)?"""
    if bridge_link is None:
        return False
    kind = bridge_link.get_nested('IFLA_LINKINFO', 'IFLA_INFO_KIND')
    group = bridge_link.get_attr('IFLA_GROUP') or 0
    return kind == 'bridge' and bool(group & PORT_GROUP_MARK)


def _veth_ends(links, iface):
    """Both ends of ``iface``'s veth pair, checked to be that pair."""
    for what, name in (('<target dev>', iface.host_end),
                       ("<guest actual>", iface.container_end)):
        if not name:
            raise HookError('interface on bridge %s (MAC %s) has no %s in '
                            'the domain XML' % (iface.bridge, iface.mac,
                                                what))
    host = links.get(iface.host_end)
    if host is None:
        raise HookError('the host end %s of the veth pair on bridge %s does '
                        'not exist' % (iface.host_end, iface.bridge))
    container = links.get(iface.container_end)
    if container is None:
        raise HookError('the container end %s of the veth pair on bridge %s '
                        'does not exist in libvirtd\'s network namespace' %
                        (iface.container_end, iface.bridge))
    if container.get_attr('IFLA_LINK') != host['index']:
        raise HookError('%s is not the veth peer of %s' % (
            iface.container_end, iface.host_end))
    return host, container


def set_mtus(links, interfaces):
    """Give both veth ends of this package's interfaces their MTU.

    Every interface is checked before any MTU changes.

    :returns: the (host end, container end, MTU) set, in XML order.
    :raises HookError: naming the interface that cannot get its MTU.
    """
    from pyroute2.netlink.exceptions import NetlinkError
    planned = []
    for iface in interfaces:
        bridge = links.get(iface.bridge) if iface.bridge else None
        if not is_ours(bridge):
            continue
        mtu = _mtu_of(iface)
        host, container = _veth_ends(links, iface)
        if host.get_attr('IFLA_MASTER') != bridge['index']:
            raise HookError('the host end %s is not a port of bridge %s' % (
                iface.host_end, iface.bridge))
        planned.append((iface, host, container, mtu))
    for iface, host, container, mtu in planned:
        try:
            # The host end first: a container end above its peer's MTU
            # would have its large frames dropped on the way out.
            links.set_mtu(host, mtu)
            links.set_mtu(container, mtu)
        except NetlinkError as e:
            raise HookError('cannot set MTU %d on the veth pair %s/%s: %s' %
                            (mtu, iface.host_end, iface.container_end, e))
    return [(iface.host_end, iface.container_end, mtu)
            for iface, _, _, mtu in planned]


def run(argv, domain_xml):
    """What the hook does for one call; -> the MTUs it set."""
    if list(argv[1:3]) != ['start', 'begin']:
        return []
    interfaces = interfaces_with_mtu(domain_xml)
    if not interfaces:
        return []
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        return set_mtus(Links(ipr), interfaces)


def main(argv=None, stdin=None):
    argv = sys.argv[1:] if argv is None else argv
    # Read it whatever the operation: libvirt writes it to every hook.
    domain_xml = (stdin or sys.stdin.buffer).read()
    domain = argv[0] if argv else '?'
    try:
        run(argv, domain_xml)
    except HookError as e:
        sys.stderr.write('%s: domain %s: %s\n' % (PROGRAM, domain, e))
        return 1
    except Exception as e:
        sys.stderr.write('%s: domain %s: cannot set the network MTU: %s: '
                         '%s\n' % (PROGRAM, domain, type(e).__name__, e))
        return 1
    return 0


def installed_program():
    """Where this installation's hook program is (its console script)."""
    import sysconfig
    return os.path.join(sysconfig.get_path('scripts'), PROGRAM)


if __name__ == '__main__':
    sys.exit(main())
