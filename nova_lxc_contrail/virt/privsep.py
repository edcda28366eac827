"""Privileged work on running LXC containers: their network, their init.

Its own privsep context, with only what the work needs:
- CAP_NET_ADMIN to change a link;
- CAP_SYS_ADMIN to enter the container's network namespace (setns);
- CAP_SYS_PTRACE to open /proc/<pid>/ns/net and /proc/<pid>/root of a
  container init (it holds capabilities this daemon does not, and may run
  under another uid: ``[libvirt] uid_maps``).
"""

import itertools
import os
import stat
import threading

from oslo_privsep import capabilities
from oslo_privsep import priv_context
from pyroute2 import IPRoute
from pyroute2.netlink import exceptions as nl_exceptions
from pyroute2 import netns as pyroute2_netns

container_net_pctxt = priv_context.PrivContext(
    'nova_lxc_contrail',
    cfg_section='lxc_contrail_container_net_privileged',
    pypath=__name__ + '.container_net_pctxt',
    capabilities=[capabilities.CAP_NET_ADMIN,
                  capabilities.CAP_SYS_ADMIN,
                  capabilities.CAP_SYS_PTRACE],
)


class LinkNotFound(Exception):
    """A link to change does not exist; the message says which."""


def _set_mtu(ipr, where, mtu, **match):
    found = ipr.link_lookup(**match)
    if not found:
        raise LinkNotFound('no link with %s in %s' % (
            ', '.join('%s %s' % kv for kv in sorted(match.items())), where))
    ipr.link('set', index=found[0], mtu=mtu)


def _netlink_in(ns_fd):
    """An IPRoute socket of the network namespace ``ns_fd`` refers to.

    A socket stays in the namespace it was made in. It is made by a thread
    of its own that enters the namespace and ends: setns changes only the
    calling thread, so this daemon's other threads never leave the host's.
    (pyroute2 0.8 has no ``IPRoute(netns=)`` for a namespace path.)
    """
    made = {}

    def make():
        try:
            pyroute2_netns.setns(ns_fd)
            made['ipr'] = IPRoute()
        except Exception as e:
            made['error'] = e

    thread = threading.Thread(target=make, name='netns-socket')
    thread.start()
    thread.join()
    if 'error' in made:
        raise made['error']
    return made['ipr']


def _open_container_netns(init_pid):
    try:
        return os.open('/proc/%d/ns/net' % init_pid, os.O_RDONLY)
    except FileNotFoundError:
        raise LinkNotFound('container init %d is gone' % init_pid)


@container_net_pctxt.entrypoint
def set_veth_mtus(init_pid, links):
    """Give both ends of container veth pairs their MTU.

    :param init_pid: pid of the container's init; its network namespace
        holds the container ends.
    :param links: (host end name, container end MAC, MTU) per veth pair.
    :raises LinkNotFound: naming the link that is missing.
    """
    ns_fd = _open_container_netns(init_pid)
    try:
        inside = _netlink_in(ns_fd)
    finally:
        os.close(ns_fd)
    with inside, IPRoute() as host:
        for host_end, mac, mtu in links:
            try:
                # The host end first: a container MTU above its peer's
                # would drop large frames on the way out.
                _set_mtu(host, 'the host', mtu, ifname=host_end)
                _set_mtu(inside, 'container %d' % init_pid, mtu,
                         address=mac.lower())
            except nl_exceptions.NetlinkError as e:
                raise LinkNotFound('setting MTU %d on %s/%s failed: %s' % (
                    mtu, host_end, mac, e))


# libvirt-LXC names a container's interfaces eth0, eth1... at boot.
CONTAINER_NIC_PREFIX = 'eth'


@container_net_pctxt.entrypoint
def finish_hotplugged_veth(init_pid, host_end, mac, mtu=None):
    """Name and size a veth libvirt-LXC just moved into a running container.

    A boot gives the container end the next ``eth<N>`` name and (with the
    MTU step) both ends the network MTU; a live attach leaves it as
    libvirt's ``vnet<N>`` at 1500. Both leave it down for the container's
    own network configuration to bring up. Only this one veth is touched.

    :param mtu: the network MTU, or None to keep libvirt's.
    :returns: the container end's name (kept when it is an ``eth<N>``).
    :raises LinkNotFound: naming the link that is missing or refused.
    """
    ns_fd = _open_container_netns(init_pid)
    try:
        inside = _netlink_in(ns_fd)
    finally:
        os.close(ns_fd)
    where = 'container %d' % init_pid
    with inside, IPRoute() as host:
        try:
            if mtu:
                _set_mtu(host, 'the host', mtu, ifname=host_end)
            found = inside.link_lookup(address=mac.lower())
            if not found:
                raise LinkNotFound('no link with address %s in %s' % (
                    mac.lower(), where))
            link = inside.link('get', index=found[0])[0]
            name = link.get_attr('IFLA_IFNAME')
            if not _is_container_nic_name(name):
                taken = {other.get_attr('IFLA_IFNAME')
                         for other in inside.get_links()}
                name = next(candidate for candidate in (
                    CONTAINER_NIC_PREFIX + str(n) for n in itertools.count())
                    if candidate not in taken)
            changes = {'ifname': name}
            if mtu:
                changes['mtu'] = mtu
            # A link is renamed while down, as libvirt leaves it.
            inside.link('set', index=found[0], **changes)
        except nl_exceptions.NetlinkError as e:
            raise LinkNotFound('finishing %s/%s (MTU %s) failed: %s' % (
                host_end, mac, mtu, e))
    return name


def _is_container_nic_name(name):
    number = name[len(CONTAINER_NIC_PREFIX):]
    return name.startswith(CONTAINER_NIC_PREFIX) and number.isdigit()


# Where an init listens for runlevel requests: libvirt-LXC's list.
INITCTL_FIFOS = ('/run/initctl', '/dev/initctl', '/etc/.initctl')


@container_net_pctxt.entrypoint
def initctl_fifo(init_pid):
    """The initctl FIFO the container of ``init_pid`` has, or None.

    Looked up in the container's own mount namespace (through
    /proc/<pid>/root), where its init created it.
    """
    root = '/proc/%d/root' % init_pid
    for path in INITCTL_FIFOS:
        try:
            if stat.S_ISFIFO(os.stat(root + path).st_mode):
                return path
        except FileNotFoundError:
            continue
    return None
