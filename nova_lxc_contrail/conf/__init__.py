"""Configuration options of nova-lxc-contrail.

Every option lives in one module per area; ``register_opts`` registers them
all on a ``ConfigOpts`` (nova's global ``CONF`` by default).
"""

from oslo_config import cfg

from nova_lxc_contrail.conf import console
from nova_lxc_contrail.conf import disk
from nova_lxc_contrail.conf import libvirt
from nova_lxc_contrail.conf import vif

CONF = cfg.CONF

_AREAS = (vif, disk, libvirt, console)


def register_opts(conf=CONF):
    for area in _AREAS:
        area.register_opts(conf)


register_opts()
