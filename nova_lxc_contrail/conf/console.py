"""Options of the container console log ([lxc_contrail])."""

from oslo_config import cfg

from nova_lxc_contrail.conf import vif

console_opts = [
    cfg.IntOpt('console_log_bytes',
               default=100 * 1024, min=1024,
               help='How much of what a container wrote to its console '
                    'nova returns as its console output (the last bytes). '
                    'The log in the instance dir holds at most twice this '
                    'on disk.'),
]


def register_opts(conf):
    conf.register_group(vif.lxc_contrail_group)
    conf.register_opts(console_opts, group=vif.lxc_contrail_group)


def list_opts():
    return {vif.lxc_contrail_group: console_opts}
