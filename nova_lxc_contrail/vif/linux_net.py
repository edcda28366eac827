"""A port's host devices: a tap enslaved to its own promiscuous bridge.

``plug_devices`` and ``unplug_devices`` are each ONE privsep call
(CAP_NET_ADMIN). They talk netlink through pyroute2 and look devices up by
name (``if_nametoindex`` or an RTM_GETLINK by name), never with a dump,
so their cost does not grow with the number of ports on the host (nor does
the kernel's: the devices carry no host IPv6, see ``_disable_ipv6``).

Deleting a netdev costs the kernel RCU synchronisations (tens of ms), paid
per ``unregister_netdevice_many`` batch. RTM_DELLINK with only IFLA_GROUP
deletes every link of that group in one batch, so both devices of a port
share a link group and go in one request. The group is
``0x80000000 | <ifindex of the port's tap>``: ifindexes are unique among the
live devices of a namespace, operators' groups are small numbers, so no
other port's (or anybody's) device can be in it. (A bridge costs one more
grace period of its own, a synchronize_rcu() in its ndo_uninit that no
batch shares: a port's unplug costs what deleting one bridge costs.)

The group is also the mark by which ``nova-lxc-contrail cleanup`` knows a
device is this package's, so no device of a port outlives a crash without
it: the bridge is created with it; the tap is created attached to an open
/dev/net/tun file and made persistent only after it was marked, so a
plugging process killed before that leaves no tap (the kernel deletes a
non-persistent tap with its last file).
"""

import contextlib
import errno
import fcntl
import os
import socket
import struct
import threading

from oslo_log import log as logging
from oslo_utils import excutils
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink import NLM_F_REQUEST
from pyroute2.netlink.rtnl.ifinfmsg import IFF_PROMISC
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP
from pyroute2.netlink.rtnl.ifinfmsg import IFT_TAP
from pyroute2.netlink.rtnl.ifinfmsg import tuntap
from pyroute2.netlink.rtnl import RTM_GETLINK

from nova_lxc_contrail import exception
from nova_lxc_contrail.vif import privsep

LOG = logging.getLogger(__name__)

TAP_KIND = 'tun'
BRIDGE_KIND = 'bridge'
_TUN_TYPE_TAP = 2
PORT_GROUP_BASE = 0x80000000
_IPV6_SYSCTL = '/proc/sys/net/ipv6/conf/%s/disable_ipv6'
# TUNSETIFF fails with EBUSY instead of attaching to an existing device.
_IFF_TUN_EXCL = 0x8000
# RTM_GETLINK without NLM_F_ACK. pyroute2's 'get' asks for an ack too: the
# kernel answers with the link, then the ack; pyroute2 returns on the link
# and the late ack lands in the socket's queue of unsolicited messages,
# which nothing reads on a request socket. On a pooled (long-lived) socket
# that is ~100 bytes kept per lookup, for ever. Without the flag the kernel
# sends only the link, or the error.
_GET_LINK = (RTM_GETLINK, NLM_F_REQUEST)


def port_group(ifindex):
    """The link group holding the devices of the port whose tap is this."""
    return PORT_GROUP_BASE | ifindex


class _IPRoutePool(object):
    """Reuses netlink sockets, each in the thread that opened it.

    Opening one costs about as much as a request. A pyroute2 (0.9) socket
    runs on an event loop of the thread that opened it; from any other
    thread each request sets up and tears down a loop of its own and leaves
    a connection-reset message in that thread's queue, for good. The
    privsep daemon's worker threads live as long as it does; the sockets of
    a thread that ended go with its thread-local data (garbage collected).
    """

    def __init__(self):
        self._local = threading.local()

    def _free(self):
        local = self._local
        if getattr(local, 'pid', None) != os.getpid():
            # Forked (the privsep daemon): these sockets are the parent's,
            # answers could go to either process.
            local.pid, local.free = os.getpid(), []
        return local.free

    @contextlib.contextmanager
    def get(self):
        free = self._free()
        ipr = free.pop() if free else IPRoute()
        try:
            yield ipr
        except (NetlinkError, exception.NovaLxcContrailError):
            self._put(ipr)
            raise
        except BaseException:
            ipr.close()
            raise
        self._put(ipr)

    def _put(self, ipr):
        if getattr(self._local, 'pid', None) == os.getpid():
            self._local.free.append(ipr)
        else:
            ipr.close()


_POOL = _IPRoutePool()


def _ifindex(name):
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def _get_link(ipr, name):
    try:
        return ipr.link(_GET_LINK, ifname=name)[0]
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return None
        raise


def _kind(link):
    return link.get_nested('IFLA_LINKINFO', 'IFLA_INFO_KIND')


def _is_expected(link, kind):
    if _kind(link) != kind:
        return False
    if kind == TAP_KIND:
        tun_type = link.get_nested('IFLA_LINKINFO', 'IFLA_INFO_DATA',
                                   'IFLA_TUN_TYPE')
        return tun_type in (None, _TUN_TYPE_TAP)
    return True


def _require(ipr, name, kind):
    """The link called ``name``, refusing a device of another kind."""
    link = _get_link(ipr, name)
    if link is not None and not _is_expected(link, kind):
        raise exception.InvalidPort(
            port=name, reason='a %s device of that name exists; expected a '
            '%s device. Remove it or pick another port' %
            (_kind(link) or 'non-virtual', 'tap' if kind == TAP_KIND
             else kind))
    return link


def _delete_links(ipr, links):
    """Delete ``[(ifindex, group), ...]`` in one unregister batch."""
    group = port_group(links[0][0])
    for index, current in links:
        if current != group:
            ipr.link('set', index=index, group=group)
    try:
        ipr.link('del', group=group)
    except NetlinkError as e:
        if e.code != errno.ENODEV:
            raise


def _present(ipr, names_kinds):
    links = []
    for name, kind in names_kinds:
        if name is None:
            continue
        link = _get_link(ipr, name)
        if link is None:
            continue
        if not _is_expected(link, kind):
            LOG.warning('Leaving %(name)s alone: it is a %(actual)s device, '
                        'not a %(kind)s device of a port',
                        {'name': name, 'actual': _kind(link), 'kind': kind})
            continue
        links.append((name, link['index'], link.get_attr('IFLA_GROUP')))
    return links


def _disable_ipv6(name):
    """No host IPv6 on a port device: it is L2 plumbing for the vRouter.

    Done while the device is down, so IPv6 never starts on it: no link-local
    address, no router solicitations or MLD reports into the guest's
    network, and no per-device IPv6 routes, which the kernel walks on every
    link change (the cost of a plug would grow with the ports present).
    Netlink cannot set this; the sysctl file is per network namespace.
    """
    try:
        with open(_IPV6_SYSCTL % name, 'w') as f:
            f.write('1')
    except FileNotFoundError:
        pass        # kernel without IPv6


def ipv6_disabled(name):
    try:
        with open(_IPV6_SYSCTL % name) as f:
            return f.read().strip() == '1'
    except FileNotFoundError:
        return True


def _open_tap(name):
    """Create tap ``name`` attached to a new /dev/net/tun file: its fd.

    The tap lives as long as that file unless ``_persist_tap`` is called.
    """
    if tuntap.TUNSETIFF is None:
        raise exception.NovaLxcContrailError(
            reason='cannot create tap %s: pyroute2 knows no TUNSETIFF for '
            'this architecture' % name)
    fd = os.open(tuntap.TUNDEV, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, tuntap.TUNSETIFF, struct.pack(
            '16sH', name.encode(), IFT_TAP | _IFF_TUN_EXCL))
    except OSError:
        os.close(fd)
        raise
    return fd


def _persist_tap(fd):
    fcntl.ioctl(fd, tuntap.TUNSETPERSIST, 1)


def _new_tap(name):
    """``_open_tap`` with its errors in words: (fd, ifindex)."""
    try:
        fd = _open_tap(name)
    except OSError as e:
        if e.errno == errno.EBUSY:
            raise exception.InvalidPort(
                port=name, reason='a device of that name appeared while the '
                'tap was being created; plug the port again')
        raise exception.NovaLxcContrailError(
            reason='cannot create tap %s via %s: %s' % (
                name, tuntap.TUNDEV, os.strerror(e.errno)))
    try:
        return fd, socket.if_nametoindex(name)
    except OSError:
        os.close(fd)
        raise


@privsep.vif_plug.entrypoint
def plug_devices(tap, bridge, mtu=None, promiscuous=True):
    """Create (or converge) the port's tap and bridge.

    The tap is enslaved to the bridge, both are up without IPv6, the bridge
    is promiscuous or not as asked, both get ``mtu`` when given. On failure
    the devices this call created are removed again.

    A new tap stays attached to this call's /dev/net/tun file until its
    last netlink request, which also marks it, has been answered; only then
    is it made persistent. Killed before, the tap dies with the process.

    :returns: the names of the devices this call created.
    """
    created = []
    tap_fd = None
    with _POOL.get() as ipr:
        try:
            tap_index = _ifindex(tap)
            if tap_index is None:
                tap_fd, tap_index = _new_tap(tap)
                created.append((tap, TAP_KIND))
            else:
                _require(ipr, tap, TAP_KIND)
            _disable_ipv6(tap)
            group = port_group(tap_index)
            common = {'group': group}
            if mtu:
                common['mtu'] = mtu
            bridge_index = _ifindex(bridge)
            if bridge_index is None:
                ipr.link('add', ifname=bridge, kind='bridge', **common)
                created.append((bridge, BRIDGE_KIND))
                bridge_index = socket.if_nametoindex(bridge)
            else:
                _require(ipr, bridge, BRIDGE_KIND)
            _disable_ipv6(bridge)
            ipr.link('set', index=bridge_index,
                     flags=IFF_UP | (IFF_PROMISC if promiscuous else 0),
                     change=IFF_UP | IFF_PROMISC, **common)
            ipr.link('set', index=tap_index, master=bridge_index,
                     flags=IFF_UP, change=IFF_UP, **common)
            if tap_fd is not None:
                _persist_tap(tap_fd)
        except Exception:
            with excutils.save_and_reraise_exception():
                _undo(ipr, created)
        finally:
            if tap_fd is not None:
                os.close(tap_fd)
    return [name for name, _ in created]


def _undo(ipr, created):
    """Remove what a failed plug created; ``created`` is [(name, kind)]."""
    if not created:
        return
    try:
        links = _present(ipr, created)
        if links:
            _delete_links(ipr, [(index, group) for _, index, group in links])
    except Exception:
        LOG.exception('Could not remove %s after a failed plug',
                      [name for name, _ in created])


@privsep.vif_plug.entrypoint
def unplug_devices(tap, bridge):
    """Delete the port's tap and bridge, whichever exist, in one batch.

    A device of that name but of another kind is not the port's: it is
    left alone with a warning. Either name may be None.

    :returns: the names of the devices deleted.
    """
    with _POOL.get() as ipr:
        links = _present(ipr, [(tap, TAP_KIND), (bridge, BRIDGE_KIND)])
        if links:
            _delete_links(ipr, [(index, group) for _, index, group in links])
    return [name for name, _, _ in links]


def device_state(name):
    """What the kernel says about one device, or None; needs no privilege.

    :returns: dict with index, kind, master (ifindex or None), mtu, group,
        up, promiscuous (the user-set IFF_PROMISC flag), operstate, ipv6
        (whether host IPv6 is enabled on it).
    """
    with _POOL.get() as ipr:
        link = _get_link(ipr, name)
    if link is None:
        return None
    flags = link['flags']
    return {
        'name': name,
        'index': link['index'],
        'kind': _kind(link),
        'master': link.get_attr('IFLA_MASTER'),
        'mtu': link.get_attr('IFLA_MTU'),
        'group': link.get_attr('IFLA_GROUP'),
        'up': bool(flags & IFF_UP),
        'promiscuous': bool(flags & IFF_PROMISC),
        'operstate': link.get_attr('IFLA_OPERSTATE'),
        'ipv6': not ipv6_disabled(name),
    }
