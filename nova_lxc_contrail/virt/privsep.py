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
from pyroute2 import netns

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


def in_netns(ns_path, work):
    """``work(ipr)`` with a netlink socket of the namespace at ``ns_path``.

    setns() moves only the calling thread, so a thread of its own enters
    the namespace and ends with the work: this daemon's other threads stay
    where they are. (pyroute2 0.8 has no ``IPRoute(netns=path)``.)
    """
    outcome = {}

    def run():
        try:
            try:
                fd = os.open(ns_path, os.O_RDONLY)
            except FileNotFoundError:
                raise LinkNotFound('the namespace %s is gone (its process '
                                   'ended)' % ns_path)
            try:
                # flags=0: enter the namespace, never create one.
                netns.setns(fd, flags=0)
            finally:
                os.close(fd)
            with IPRoute() as ipr:
                outcome['result'] = work(ipr)
        except BaseException as e:
            outcome['error'] = e

    thread = threading.Thread(target=run, name='netns ' + ns_path)
    thread.start()
    thread.join()
    if 'error' in outcome:
        raise outcome['error']
    return outcome.get('result')


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
    where = 'container %d' % init_pid

    def finish(inside):
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
        return name

    try:
        if mtu:
            with IPRoute() as host:
                _set_mtu(host, 'the host', mtu, ifname=host_end)
        return in_netns('/proc/%d/ns/net' % init_pid, finish)
    except nl_exceptions.NetlinkError as e:
        raise LinkNotFound('finishing %s/%s (MTU %s) failed: %s' % (
            host_end, mac, mtu, e))


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
