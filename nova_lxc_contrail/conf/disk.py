"""Options of the container root filesystem ([lxc_contrail])."""

from oslo_config import cfg

from nova_lxc_contrail.conf import vif

disk_opts = [
    # Filled in by the container root filesystem work (root_partition, ...).
]


def register_opts(conf):
    conf.register_group(vif.lxc_contrail_group)
    conf.register_opts(disk_opts, group=vif.lxc_contrail_group)


def list_opts():
    return {vif.lxc_contrail_group: disk_opts}
