"""Options of the VIF driver and the vRouter agent client ([lxc_contrail])."""

from oslo_config import cfg

GROUP = 'lxc_contrail'

lxc_contrail_group = cfg.OptGroup(
    GROUP,
    title='nova-lxc-contrail options',
    help='Options of the nova-lxc-contrail VIF driver, vRouter agent client '
         'and container root filesystem.')

vif_opts = [
    cfg.URIOpt('agent_url',
               default='http://localhost:9091',
               schemes=['http', 'https'],
               help='Base URL of the vRouter agent port API.'),
    cfg.StrOpt('ports_dir',
               default='/var/lib/contrail/ports',
               help='Directory holding one file per port, named by the port '
                    'UUID. The vRouter agent replays these files when it '
                    'starts, so a port is never lost while the agent is '
                    'down. Must be writable by the nova-compute user.'),
    cfg.FloatOpt('agent_connect_timeout',
                 default=1.0, min=0.01,
                 help='Seconds to wait for the vRouter agent to accept a '
                      'connection.'),
    cfg.FloatOpt('agent_read_timeout',
                 default=5.0, min=0.01,
                 help='Seconds to wait for the vRouter agent to answer a '
                      'request.'),
    cfg.BoolOpt('bridge_promiscuous',
                default=True,
                help='Put each per-port bridge in promiscuous mode. The '
                     'vRouter attaches to the bridge and must see unicast '
                     'frames for foreign MACs (the gateway); turn off only '
                     'for debugging.'),
]


def register_opts(conf):
    conf.register_group(lxc_contrail_group)
    conf.register_opts(vif_opts, group=lxc_contrail_group)


def list_opts():
    return {lxc_contrail_group: vif_opts}
