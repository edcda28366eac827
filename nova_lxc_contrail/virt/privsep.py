"""Privileged work on running LXC containers: their network, their init.

Its own privsep context, with only what the work needs:
- CAP_NET_ADMIN to change a link;
- CAP_SYS_ADMIN to enter the container's network namespace (setns);
- CAP_SYS_PTRACE to open /proc/<pid>/ns/net and /proc/<pid>/root of a
  container init (it holds capabilities this daemon does not, and may run
  under another uid: ``[libvirt] uid_maps``).
"""

import errno
import os
import stat

from oslo_privsep import capabilities
from oslo_privsep import priv_context
from pyroute2 import IPRoute
from pyroute2.netlink import exceptions as nl_exceptions
from pyroute2 import NetNS

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


def _netns_socket(path):
    """An IPRoute in the namespace at path; flags=0: never create one.

    pyroute2 0.9 takes ``IPRoute(netns=...)``; 0.8 (the release's pin)
    needs its forked ``NetNS`` helper for the same.
    """
    try:
        return IPRoute(netns=path, flags=0)
    except TypeError:
        return NetNS(path, flags=0)


@container_net_pctxt.entrypoint
def set_veth_mtus(init_pid, links):
    """Give both ends of container veth pairs their MTU.

    :param init_pid: pid of the container's init; its network namespace
        holds the container ends.
    :param links: (host end name, container end MAC, MTU) per veth pair.
    :raises LinkNotFound: naming the link that is missing.
    """
    container_ns = '/proc/%d/ns/net' % init_pid
    try:
        inside = _netns_socket(container_ns)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise LinkNotFound('container init %d is gone' % init_pid)
        raise
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
