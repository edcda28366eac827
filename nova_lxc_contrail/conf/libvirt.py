"""The [libvirt] vif_driver option that nova removed in Juno (2014).

Operators of the 2014 proof of concept set it in nova.conf; the
LxcContrailDriver honours it again.
"""

from oslo_config import cfg

GROUP = 'libvirt'

libvirt_opts = [
    cfg.StrOpt('vif_driver',
               default='nova_lxc_contrail.virt.vif.LxcContrailVIFDriver',
               help='Class path of the libvirt VIF driver used by '
                    'compute_driver = lxc_contrail.LxcContrailDriver. It '
                    'must be a subclass of nova\'s LibvirtGenericVIFDriver.'),
]


def register_opts(conf):
    # nova registers the [libvirt] group itself; registering the group again
    # is harmless and lets this package load without nova's options.
    conf.register_group(cfg.OptGroup(GROUP))
    conf.register_opts(libvirt_opts, group=GROUP)


def list_opts():
    return {GROUP: libvirt_opts}
