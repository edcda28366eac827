"""Entry point for oslo-config-generator (``oslo.config.opts``)."""

from nova_lxc_contrail.conf import console
from nova_lxc_contrail.conf import disk
from nova_lxc_contrail.conf import libvirt
from nova_lxc_contrail.conf import privsep
from nova_lxc_contrail.conf import vif


def list_opts():
    opts = {}
    for area in (vif, disk, libvirt, console, privsep):
        for group, group_opts in area.list_opts().items():
            opts.setdefault(group, []).extend(group_opts)
    return list(opts.items())
