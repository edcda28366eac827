"""The one repair ``ports resync`` needs beyond re-plugging a port.

When a port's bridge is recreated under a running container, the host end
of the container's veth pair (made by libvirt at domain start) must join the
new bridge again. Runs in the command's own privsep context, with
CAP_NET_ADMIN only.
"""

import socket

from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context
from pyroute2 import IPRoute
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP

from nova_lxc_contrail.conf import privsep as privsep_conf

net_admin = priv_context.PrivContext(
    'nova_lxc_contrail.cmd',
    cfg_section=privsep_conf.CLI,
    pypath=__name__ + '.net_admin',
    capabilities=[caps.CAP_NET_ADMIN],
)


@net_admin.entrypoint
def enslave(device, bridge):
    """Put ``device`` in ``bridge`` and up; False if either is missing."""
    try:
        device_index = socket.if_nametoindex(device)
        bridge_index = socket.if_nametoindex(bridge)
    except OSError:
        return False
    with IPRoute() as ipr:
        ipr.link('set', index=device_index, master=bridge_index,
                 flags=IFF_UP, change=IFF_UP)
    return True
