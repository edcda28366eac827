"""Privileged work on running LXC containers: their network, their init.

Its own privsep context, with only what the work needs:
- CAP_NET_ADMIN to change a link;
- CAP_SYS_ADMIN to enter the container's network namespace (setns);
- CAP_SYS_PTRACE to open /proc/<pid>/ns/net and /proc/<pid>/root of a
  container init (it holds capabilities this daemon does not, and may run
  under another uid: ``[libvirt] uid_maps``).
"""

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


@container_net_pctxt.entrypoint
def set_veth_mtus(init_pid, links):
    """Give both ends of container veth pairs their MTU.

    :param init_pid: pid of the container's init; its network namespace
        holds the container ends.
    :param links: (host end name, container end MAC, MTU) per veth pair.
    :raises LinkNotFound: naming the link that is missing.
    """
    where = 'container %d' % init_pid

    def inside(ipr):
        for host_end, mac, mtu in links:
            _set_mtu_or_say(ipr, where, host_end, mac, mtu,
                            address=mac.lower())

    with IPRoute() as host:
        # The host ends first: a container MTU above its peer's would drop
        # large frames on the way out.
        for host_end, mac, mtu in links:
            _set_mtu_or_say(host, 'the host', host_end, mac, mtu,
                            ifname=host_end)
    in_netns('/proc/%d/ns/net' % init_pid, inside)


def _set_mtu_or_say(ipr, where, host_end, mac, mtu, **match):
    try:
        _set_mtu(ipr, where, mtu, **match)
    except nl_exceptions.NetlinkError as e:
        raise LinkNotFound('setting MTU %d on %s/%s failed: %s' % (
            mtu, host_end, mac, e))


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
