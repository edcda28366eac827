"""``nova-lxc-contrail ports list|resync``: the ports of this host.

``list`` shows, per port, its file, bridge, tap, the agent's answer and the
libvirt domain using it, with what does not match. ``resync`` brings the
vRouter agent and the devices back in line with the port files: after an
agent restart every port whose file and devices exist is registered again
(same registration, same system-name); devices of ports whose domain runs
are recreated or repaired (tap in bridge, up, promiscuous).
"""

import argparse
import sys

from oslo_log import log as logging

from nova_lxc_contrail.cmd import inventory
from nova_lxc_contrail.cmd import netrepair
from nova_lxc_contrail.cmd import output
from nova_lxc_contrail.cmd import privileges
from nova_lxc_contrail.cmd import progress
from nova_lxc_contrail import exception
from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.vif import plugin
from nova_lxc_contrail.vif import privsep

LOG = logging.getLogger(__name__)


# --- list -------------------------------------------------------------------

def _device_cell(dev, bridge=None):
    if dev is None:
        return '-'
    flags = ['up' if dev['up'] else 'down']
    if dev['promiscuous']:
        flags.append('promisc')
    if bridge is not None and dev['master'] == bridge['index']:
        flags.append('in bridge')
    return ','.join(flags)


def _domain_cell(port):
    if port.domain is None:
        return '-'
    return '%s (%s)' % (port.domain.name,
                        'running' if port.domain.active else 'shut off')


def port_row(port, promiscuous):
    problems = port.problems(promiscuous)
    return {
        'port': port.port_id or port.key + '...',
        'instance': port.instance_id,
        'file': port.file is not None,
        'file_author': (port.file or {}).get('author'),
        'system_name': (port.file or {}).get('system-name'),
        'bridge': port.bridge and dict(port.bridge),
        'tap': port.tap and dict(port.tap),
        'veth': port.veth and dict(port.veth),
        'agent': port.agent,
        'domain': port.domain and {'name': port.domain.name,
                                   'uuid': port.domain.uuid,
                                   'running': port.domain.active},
        'ours': port.ours,
        'problems': problems,
    }


def run_list(args, conf):
    ports, libvirt_error = inventory.collect(conf, ask_agent=not args.no_agent)
    promiscuous = conf.lxc_contrail.bridge_promiscuous
    ordered = sorted(ports.values(), key=lambda p: p.key)
    if args.json:
        output.print_json({'libvirt_error': libvirt_error,
                           'ports': [port_row(p, promiscuous)
                                     for p in ordered]})
        return 0
    if libvirt_error:
        print('warning: libvirt unreachable, domains unknown: %s' %
              libvirt_error, file=sys.stderr)
    rows = []
    for port in ordered:
        problems = port.problems(promiscuous)
        rows.append((
            port.port_id or port.key + '...',
            'yes' if port.file is not None else '-',
            _device_cell(port.bridge),
            _device_cell(port.tap, port.bridge),
            port.agent or '-',
            _domain_cell(port),
            'ok' if not problems else '! ' + '; '.join(problems)))
    if not rows:
        print('no ports (ports dir %s)' % conf.lxc_contrail.ports_dir)
        return 0
    print(output.table(('PORT', 'FILE', 'BRIDGE', 'TAP', 'AGENT', 'DOMAIN',
                        'STATUS'), rows))
    bad = sum(1 for port in ordered if port.problems(promiscuous))
    print('\n%d ports, %d with mismatches' % (len(rows), bad))
    return 0


# --- resync -----------------------------------------------------------------

def _devices_healthy(port, promiscuous):
    bridge, tap = port.bridge, port.tap
    return (bridge is not None and tap is not None and bridge['up'] and
            tap['up'] and tap['master'] == bridge['index'] and
            (bridge['promiscuous'] or not promiscuous))


def resync_port(port, client, promiscuous):
    """Bring one port in line with its file; return what was done.

    :returns: (actions: [str], ok: bool)
    """
    if not port.file_is_ours:
        if port.file is not None:
            return ['skipped: port file written by %s, not this package' %
                    port.file.get('author')], True
        return ['skipped: no port file (see cleanup)'], True
    names = port.names
    running = port.domain is not None and port.domain.active
    actions = []
    # nova-compute's own per-port lock: across processes when
    # [oslo_concurrency] lock_path is set, as nova requires.
    with plugin.port_lock(port.port_id):
        if not _devices_healthy(port, promiscuous):
            if not running and port.bridge is None and port.tap is None:
                return ['skipped: devices missing and no running domain '
                        '(cleanup removes such ports)'], True
            mtu = (port.bridge or port.tap or port.veth or {}).get('mtu')
            created = linux_net.plug_devices(names['tap'], names['bridge'],
                                             mtu, promiscuous)
            actions.append('recreated %s' % ', '.join(created) if created
                           else 'repaired devices')
        if running and port.veth is not None:
            bridge = linux_net.device_state(names['bridge'])
            veth = linux_net.device_state(names['veth'])
            if bridge and veth and veth['master'] != bridge['index'] and \
                    netrepair.enslave(names['veth'], names['bridge']):
                actions.append('%s back in %s' % (names['veth'],
                                                  names['bridge']))
        try:
            registered = client.register(port.file)
        except exception.AgentError as e:
            return actions + ['agent refused: %s' % e], False
    if not registered:
        return actions + ['agent unreachable: not registered'], False
    return actions + ['registered as %s' % port.file['system-name']], True


def resync(conf, report=None):
    """Resync every port; return [(port, actions, ok)]."""
    promiscuous = conf.lxc_contrail.bridge_promiscuous
    ports, libvirt_error = inventory.collect(conf, ask_agent=False)
    if libvirt_error:
        LOG.warning('libvirt unreachable (%s): no device is recreated, '
                    'only ports with devices are registered', libvirt_error)
    client = inventory.agent_client(conf)
    results = []
    ordered = sorted(ports.values(), key=lambda p: p.key)
    try:
        with progress.Progress('resync', len(ordered),
                               report or sys.stderr) as shown:
            for port in ordered:
                try:
                    actions, ok = resync_port(port, client, promiscuous)
                except Exception as e:
                    LOG.debug('resync of %s failed', port.key, exc_info=True)
                    actions, ok = ['failed: %s' % e], False
                results.append((port, actions, ok))
                shown.step(port.port_id or port.key)
    finally:
        client.close()
    return results


def run_resync(args, conf):
    privileges.start(privsep.vif_plug, netrepair.net_admin)
    results = resync(conf)
    if args.json:
        output.print_json([{'port': p.port_id or p.key + '...',
                            'actions': actions, 'ok': ok}
                           for p, actions, ok in results])
    elif results:
        print(output.table(('PORT', 'RESULT'), [
            (p.port_id or p.key + '...', '; '.join(actions))
            for p, actions, ok in results]))
    else:
        print('no ports (ports dir %s)' % conf.lxc_contrail.ports_dir)
    return 0 if all(ok for _, _, ok in results) else 1


LIST_EPILOG = """\
A port is keyed by the 11 port-id characters in its device names
(tap<id>, br<id>, ve<id>); a port file gives the full id. STATUS lists
what does not match a healthy port: missing file or devices, tap outside
its bridge, bridge not promiscuous, no domain, agent without config.

examples:
  nova-lxc-contrail ports list
  nova-lxc-contrail ports list --no-agent
  nova-lxc-contrail ports list --json | jq '.ports[] | select(.problems != [])'
"""

RESYNC_EPILOG = """\
Only ports whose file this package wrote are touched. Exit status 1 when a
port could not be registered (agent down or refusing) or repaired.

examples:
  # after restarting contrail-vrouter-agent:
  nova-lxc-contrail ports resync
  nova-lxc-contrail --config-file /etc/nova/nova-cpu.conf ports resync --json
"""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'ports', help='list or resync the ports of this host.',
        description='The vRouter ports of this host: port files, bridges, '
                    'taps, agent registrations and libvirt domains.',
        epilog='examples:\n  nova-lxc-contrail ports list\n'
               '  nova-lxc-contrail ports resync\n',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='ports_command', metavar='ACTION',
                                     title='actions')
    commands.required = True
    listing = commands.add_parser(
        'list', help='every port the host knows, side by side.',
        description='Every port the host knows: port file, bridge, tap, '
                    'the agent\'s answer (GET /port/<uuid>) and the libvirt '
                    'domain using it; mismatches are marked.',
        epilog=LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    listing.add_argument('--json', action='store_true',
                         help='print the ports as JSON.')
    listing.add_argument('--no-agent', action='store_true',
                         help='do not ask the vRouter agent.')
    listing.set_defaults(func=run_list, needs_config=True)
    resyncing = commands.add_parser(
        'resync', help='re-register ports and repair their devices.',
        description='Register again every port whose file and devices exist '
                    '(after an agent restart), recreate the devices of '
                    'ports whose domain runs, and report what changed.',
        epilog=RESYNC_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    resyncing.add_argument('--json', action='store_true',
                           help='print the results as JSON.')
    resyncing.set_defaults(func=run_resync, needs_config=True)
    return parser
