"""The privilege context of VIF plugging: CAP_NET_ADMIN and nothing else.

Netlink changes to links (create, enslave, set flags, delete) and creating a
persistent tap need CAP_NET_ADMIN only. In nova-compute the daemon is
started through ``[lxc_contrail_vif_privileged] helper_command`` (rootwrap
or sudo running ``privsep-helper``), like os-vif's own plugins; see
``nova_lxc_contrail.conf.privsep``.
"""

from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context

from nova_lxc_contrail.conf import privsep as privsep_conf

CFG_SECTION = privsep_conf.VIF
CAPABILITIES = [caps.CAP_NET_ADMIN]

vif_plug = priv_context.PrivContext(
    'nova_lxc_contrail.vif',
    cfg_section=CFG_SECTION,
    pypath=__name__ + '.vif_plug',
    capabilities=CAPABILITIES,
)
