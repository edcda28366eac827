"""``nova-lxc-contrail cleanup``: remove what no instance owns any more.

Only what this package made, proven by evidence, is touched:

- a port counts as ours when its port file was written by this package
  (``author``) or its tap/bridge carry the link-group mark the VIF driver
  sets; it is stale when no libvirt domain uses its devices or its
  instance, and the instance dir is gone. Devices without a port file are
  removed only if they are still without one after a grace period (a plug
  in flight creates the devices first, then the file).
- rootfs attachments (loop devices, qcow2 FUSE exports, mounts) are stale
  when their instance dir was deleted: nova renames ``<uuid>`` to
  ``<uuid>_del`` before removing it, and a loop device reading a deleted
  file under ``instances_path`` shows ``(deleted)``.
Everything else (other authors' port files, unmarked devices, veths libvirt
made, existing instance dirs) is listed as kept, with the reason.
"""

import argparse
import dataclasses
import os
import signal
import sys
import time

from os_vif.objects import vif as osv_vifs
from oslo_log import log as logging

from nova_lxc_contrail.cmd import inventory
from nova_lxc_contrail.cmd import output
from nova_lxc_contrail.cmd import privileges
from nova_lxc_contrail.cmd import progress
from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail.disk import loop
from nova_lxc_contrail.disk import privsep as disk_privsep
from nova_lxc_contrail.disk import state as disk_state
from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.vif import plugin
from nova_lxc_contrail.vif import privsep as vif_privsep

LOG = logging.getLogger(__name__)

DELETED_SUFFIX = '_del'          # nova's delete_instance_files rename
DELETED_FILE = ' (deleted)'      # sysfs backing_file of an unlinked file
QSD_NAME = 'qemu-storage-daemon'
DEFAULT_GRACE = 5.0


@dataclasses.dataclass
class Action:
    kind: str        # 'port', 'devices', 'rootfs', 'loop', 'export'
    target: str
    reason: str
    run: object = dataclasses.field(repr=False, compare=False, default=None)


@dataclasses.dataclass
class Kept:
    target: str
    reason: str


# --- ports ------------------------------------------------------------------

def _unplug_port(conf, port):
    """The VIF driver's own unplug: file, agent DELETE, devices."""
    names = port.names
    vif = osv_vifs.VIFBridge(id=port.port_id, vif_name=names['tap'],
                             bridge_name=names['bridge'],
                             plugin=plugin.PLUGIN_NAME)
    lxc_plugin = plugin.LxcContrailPlugin.load(plugin.PLUGIN_NAME)
    lxc_plugin.unplug(vif, None)
    return 'port file, agent registration and devices removed'


def _remove_devices(port):
    names = port.names
    removed = linux_net.unplug_devices(
        names['tap'] if port.tap else None,
        names['bridge'] if port.bridge else None)
    return 'removed %s' % (', '.join(removed) or 'nothing (already gone)')


def plan_ports(conf, ports, instances_path):
    actions, kept = [], []
    for port in sorted(ports.values(), key=lambda p: p.key):
        label = port.port_id or port.key + '...'
        if port.domain is not None:
            continue   # in use
        if not port.ours:
            if port.file is not None:
                kept.append(Kept(label, 'port file written by %s, not this '
                                 'package' % port.file.get('author')))
            elif port.tap or port.bridge:
                kept.append(Kept(label, 'devices without this package\'s '
                                 'mark and without a port file'))
            elif port.veth:
                kept.append(Kept(label, 'veth %s belongs to libvirt' %
                                 port.names['veth']))
            continue
        instance = port.instance_id
        if instance and os.path.isdir(os.path.join(instances_path,
                                                   instance)):
            kept.append(Kept(label, 'instance dir %s exists (instance '
                             'stopped, spawning or not yet deleted)' %
                             os.path.join(instances_path, instance)))
            continue
        if port.file_is_ours:
            actions.append(Action(
                'port', label, 'no domain and no instance dir for instance '
                '%s' % instance,
                lambda p=port: _unplug_port(conf, p)))
        else:
            present = [n for n, d in ((port.names['tap'], port.tap),
                                      (port.names['bridge'], port.bridge))
                       if d is not None]
            actions.append(Action(
                'devices', ' '.join(present), 'marked devices without port '
                'file or domain', lambda p=port: _remove_devices(p)))
    return actions, kept


# --- rootfs attachments -----------------------------------------------------

def _instance_dir_of(path, instances_path):
    """'<instances_path>/<first component>' of ``path``, or None."""
    top = os.path.join(os.path.abspath(instances_path), '')
    if not path.startswith(top):
        return None
    first = path[len(top):].split('/', 1)[0]
    return os.path.join(top, first) if first else None


def _deleted_dir(directory):
    name = os.path.basename(directory)
    return name.endswith(DELETED_SUFFIX) or not os.path.isdir(directory)


def _has_rootfs_state(directory):
    paths = disk_state.Paths(os.path.join(directory, 'rootfs'))
    return any(os.path.lexists(p) for p in (paths.state, paths.export,
                                            paths.qmp, paths.pid))


def _teardown(directory):
    container_dir = os.path.join(directory, 'rootfs')
    if not disk_api.teardown_container(container_dir):
        raise RuntimeError('teardown of %s failed (see the log)' %
                           container_dir)
    return 'unmounted and released; nova removes %s on its next pending ' \
           'delete (or rm -rf it)' % directory


def _detach_loop(info, backing):
    still = disk_privsep.release_loops([[info.device, backing, info.offset]],
                                       [])
    if still:
        return '%s detaches when its last user closes it' % info.device
    return 'detached'


def _qsd_processes():
    """{pid: argv} of qemu-storage-daemon processes."""
    found = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().decode(errors='replace').split('\0')
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == QSD_NAME:
            found[int(pid)] = argv
    return found


def _stop_orphan_export(pid, export_file):
    # Its QMP socket and pid file went with the instance dir: signal it.
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 'already gone'
    deadline = time.monotonic() + 10
    while os.path.exists('/proc/%d' % pid) and time.monotonic() < deadline:
        with open('/proc/%d/stat' % pid) as f:
            if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                break
        time.sleep(0.01)
    return 'stopped qemu-storage-daemon %d of %s' % (pid, export_file)


def plan_rootfs(instances_path):
    actions, kept = [], []
    instances_path = os.path.abspath(instances_path)
    torn_down = set()
    try:
        names = sorted(os.listdir(instances_path))
    except FileNotFoundError:
        names = []
    for name in names:
        directory = os.path.join(instances_path, name)
        if not os.path.isdir(directory) or not _has_rootfs_state(directory):
            continue
        if name.endswith(DELETED_SUFFIX):
            torn_down.add(directory)
            actions.append(Action('rootfs', directory, 'instance dir '
                                  'deleted by nova (%s)' % DELETED_SUFFIX,
                                  lambda d=directory: _teardown(d)))
    for info in loop.bound_devices():
        backing = info.backing_file
        deleted = backing.endswith(DELETED_FILE)
        if deleted:
            backing = backing[:-len(DELETED_FILE)]
        directory = _instance_dir_of(backing, instances_path)
        if directory is None or directory in torn_down:
            continue
        if deleted or _deleted_dir(directory):
            actions.append(Action(
                'loop', info.device, 'reads %s of deleted instance dir %s' %
                (backing, directory),
                lambda i=info, b=backing: _detach_loop(i, b)))
    for pid, argv in sorted(_qsd_processes().items()):
        export_file = next((_mountpoint(a) for a in argv if
                            '"mountpoint"' in a), None)
        if not export_file or not export_file.endswith('/rootfs.export'):
            continue
        directory = _instance_dir_of(export_file, instances_path)
        # The daemon's arguments name the dir before nova renamed it.
        if directory is None or directory in torn_down or \
                directory + DELETED_SUFFIX in torn_down:
            continue
        if _deleted_dir(directory):
            actions.append(Action(
                'export', 'pid %d' % pid, 'exports %s of deleted instance '
                'dir' % export_file,
                lambda p=pid, e=export_file: _stop_orphan_export(p, e)))
    return actions, kept


def _mountpoint(argument):
    import json
    try:
        return json.loads(argument).get('mountpoint')
    except (ValueError, AttributeError):
        return None


# --- command ----------------------------------------------------------------

def plan(conf):
    """(actions, kept, warnings) for this host, changing nothing."""
    warnings = []
    ports, libvirt_error = inventory.collect(conf, ask_agent=False)
    if libvirt_error:
        warnings.append('libvirt unreachable (%s): ports are kept, since '
                        'which instances use them is unknown' % libvirt_error)
        port_actions, port_kept = [], []
    else:
        port_actions, port_kept = plan_ports(conf, ports, conf.instances_path)
    rootfs_actions, rootfs_kept = plan_rootfs(conf.instances_path)
    return (port_actions + rootfs_actions, port_kept + rootfs_kept,
            warnings)


def settle(conf, actions, grace):
    """Drop port actions that a plug in flight explains.

    A plug creates the devices, then writes the port file: devices that
    still have no file after ``grace`` seconds are left over.
    """
    if grace <= 0 or not any(a.kind == 'devices' for a in actions):
        return actions
    time.sleep(grace)
    again, _, _ = plan(conf)
    still = {(a.kind, a.target) for a in again}
    return [a for a in actions if (a.kind, a.target) in still]


def execute(actions, stream=None):
    """Run ``actions``; return [(action, ok, message)]."""
    results = []
    with progress.Progress('cleanup', len(actions),
                           stream or sys.stderr) as shown:
        for action in actions:
            try:
                results.append((action, True, action.run()))
            except Exception as e:
                LOG.debug('cleanup of %s failed', action.target,
                          exc_info=True)
                results.append((action, False, 'failed: %s' % e))
            shown.step(action.target)
    return results


def run(args, conf):
    actions, kept, warnings = plan(conf)
    for warning in warnings:
        print('warning: %s' % warning, file=sys.stderr)
    if args.dry_run:
        results = [(a, True, 'would remove') for a in actions]
    else:
        privileges.start(vif_privsep.vif_plug, disk_privsep.disk_pctxt)
        results = execute(settle(conf, actions, args.grace))
    if args.json:
        output.print_json({
            'dry_run': args.dry_run, 'warnings': warnings,
            'actions': [{'kind': a.kind, 'target': a.target,
                         'reason': a.reason, 'ok': ok, 'result': message}
                        for a, ok, message in results],
            'kept': [dataclasses.asdict(k) for k in kept]})
    else:
        if results:
            print(output.table(('WHAT', 'TARGET', 'WHY', 'RESULT'), [
                (a.kind, a.target, a.reason, message)
                for a, ok, message in results]))
        else:
            print('nothing to clean up')
        if kept:
            print('\nkept:')
            print(output.table(('TARGET', 'WHY'), [
                (k.target, k.reason) for k in kept]))
    return 0 if all(ok for _, ok, _ in results) else 1


EPILOG = """\
Removes only what this package made and no instance owns: ports (port file,
agent registration, tap and bridge) of instances without a libvirt domain
and without an instance dir; marked devices without a port file; loop
devices, mounts and qcow2 FUSE exports of instance dirs nova deleted. Run
with --dry-run first; what is kept is listed with the reason.

examples:
  nova-lxc-contrail cleanup --dry-run
  nova-lxc-contrail cleanup
  nova-lxc-contrail cleanup --grace 0 --json
"""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'cleanup', help='remove ports, devices and mounts no instance owns.',
        description='Remove what no instance owns any more, touching only '
                    'what this package created.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--dry-run', action='store_true',
                        help='show what would be removed; change nothing.')
    parser.add_argument('--grace', type=float, default=DEFAULT_GRACE,
                        metavar='SECONDS',
                        help='devices without a port file are removed only '
                             'if still without one after this long (a plug '
                             'in flight writes the file last). Default: '
                             '%(default)s.')
    parser.add_argument('--json', action='store_true',
                        help='print the actions as JSON.')
    parser.set_defaults(func=run, needs_config=True)
    return parser
