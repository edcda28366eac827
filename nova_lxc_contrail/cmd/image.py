"""``nova-lxc-contrail image inspect``: would this image boot as a container?

Shows what the container root filesystem code would do with the image:
its partition table, the partition it would mount and why, the filesystem,
and whether /sbin/init resolves to an executable. The image is attached
read-only and released before the command returns.
"""

import argparse

from nova_lxc_contrail.cmd import output
from nova_lxc_contrail.cmd import privileges
from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail.disk import privsep as disk_privsep

MIB = 1024 * 1024


def _size(value):
    if value is None:
        return '?'
    if value >= MIB:
        return '%.1f MiB' % (value / MIB)
    return '%d bytes' % value


def bootable(report):
    return report['error'] is None and bool((report['init'] or {}).get('ok'))


def render(report):
    lines = ['image:       %s (%s, %s)' % (
        report['image'], report['format'], _size(report['size']))]
    lines.append('policy:      root_partition = %s' % report['policy'])
    table = report['partition_table']
    if table is None:
        lines.append('partitions:  none (whole-disk filesystem: %s)' % (
            report['filesystems'].get('disk') or 'none found'))
    else:
        lines.append('partitions:  %s, %d-byte sectors, %s header' % (
            table['label'], table['sector_size'], table.get('header') or
            'primary'))
        rows = []
        for part in table['partitions']:
            rows.append((str(part['number']), _size(part['start']),
                         _size(part['size']),
                         part.get('name') or '-',
                         'extended' if part['container'] else
                         report['filesystems'].get(str(part['number'])) or
                         '-'))
        lines += ['  ' + line for line in output.table(
            ('#', 'START', 'SIZE', 'NAME', 'FILESYSTEM'), rows).split('\n')]
    root = report['root']
    if root is not None:
        lines.append('root:        %s, %s at %s: %s' % (
            root['label'], root['filesystem'], _size(root['start']),
            root['reason']))
    for refused in report['refused']:
        lines.append('not root:    %s (%s): %s' % (
            refused['label'], refused['filesystem'] or 'no filesystem',
            refused['reason']))
    init = report['init']
    if init is not None:
        chain = ', '.join(init.get('links') or []) or init['path']
        lines.append('init:        %s: %s%s' % (
            'ok' if init['ok'] else 'NOT OK', chain,
            '' if init['ok'] else ' (%s)' % init['reason']))
    userns = report.get('idmap')
    if userns is not None:
        lines.append('userns:      %s; with uid_maps: %s' % (
            'on ([libvirt] uid_maps set)' if userns['user_namespace'] else
            'OFF: ' + userns['remedy'], userns['with_uid_maps']))
    if report['error']:
        lines.append('error:       %s' % report['error'])
    lines.append('verdict:     %s' % (
        'boots as an LXC container' if bootable(report) else
        'cannot boot as an LXC container'))
    return '\n'.join(lines)


def run_inspect(args, conf):
    privileges.start(disk_privsep.disk_pctxt)
    report = disk_api.inspect_image(args.image, fmt=args.format,
                                    root_partition=args.root_partition)
    if args.json:
        output.print_json(report)
    else:
        print(render(report))
    return 0 if bootable(report) else 1


EPILOG = """\
exit status: 0 when the image boots as a container, 1 when it cannot (the
reason is printed), 2 on a usage error.

examples:
  nova-lxc-contrail image inspect /var/lib/nova/instances/_base/3f2a...
  nova-lxc-contrail image inspect disk.qcow2 --json
  nova-lxc-contrail image inspect cloud.img --root-partition 2
"""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'image', help='inspect an image as the container rootfs code sees '
                      'it.',
        description='Images as the container root filesystem sees them.',
        epilog='examples:\n  nova-lxc-contrail image inspect disk.qcow2\n',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='image_command', metavar='ACTION',
                                     title='actions')
    commands.required = True
    inspect = commands.add_parser(
        'inspect', help='partition table, root partition, filesystem, '
                        '/sbin/init.',
        description='Show the partition table, the partition that would be '
                    'mounted as the root filesystem and why, its filesystem '
                    'and whether /sbin/init resolves. Attaches the image '
                    'read-only and releases it before returning.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    inspect.add_argument('image', metavar='IMAGE',
                         help='raw or qcow2 image file, or a block device.')
    inspect.add_argument('--format', choices=('raw', 'qcow2'),
                         help='image format (default: detected).')
    inspect.add_argument('--root-partition', metavar='POLICY',
                         help='auto, none or a partition number, like the '
                              'image property lxc_root_partition (default: '
                              '[lxc_contrail] root_partition).')
    inspect.add_argument('--json', action='store_true',
                         help='print the report as JSON.')
    inspect.set_defaults(func=run_inspect, needs_config=True)
    return parser
