"""``nova-lxc-contrail lxc-config``: run this compute host inside LXC.

Prints the LXC container configuration a compute host needs when it is
itself an LXC container (DevStack in LXC): the devices the VIF driver and
the root filesystem code open, nesting for libvirt's own LXC containers,
and an AppArmor profile that lets them mount. LXC renamed most keys in 2.1
and dropped the old names in 3.0; on a cgroup v2 host only LXC 4.0 and later
can filter devices (with BPF, ``lxc.cgroup2.devices.*``).
"""

import argparse
import sys

from nova_lxc_contrail.cmd import hostview

# (kind, major, minor, what needs it); '*' is any minor.
DEVICES = (
    ('c', 10, 200, '/dev/net/tun: taps of the VIF driver'),
    ('c', 10, 229, '/dev/fuse: qcow2 images exported by qemu-storage-daemon'),
    ('c', 10, 237, '/dev/loop-control: loop devices for root filesystems'),
    ('b', 7, '*', '/dev/loopN: root filesystems of instances'),
)
NBD_DEVICE = ('b', 43, '*', '/dev/nbdN: qcow2 images through qemu-nbd')
# Nodes bound from the LXC host: a container's /dev is a private tmpfs.
DEVICE_NODES = ('/dev/net/tun', '/dev/fuse', '/dev/loop-control')

LEGACY_KEYS = {
    'devices': 'lxc.cgroup.devices.allow',
    'apparmor': 'lxc.aa_profile',
    'net': 'lxc.network.%s',
}
MODERN_KEYS = {
    'devices': 'lxc.cgroup.devices.allow',
    'devices_v2': 'lxc.cgroup2.devices.allow',
    'apparmor': 'lxc.apparmor.profile',
    'net': 'lxc.net.0.%s',
}
FIRST_MODERN = 3          # LXC 3.0 dropped the 1.x/2.x key names
FIRST_CGROUP2_DEVICES = 4  # LXC 4.0 added the BPF device controller


class LxcConfigError(ValueError):
    pass


def detect_cgroup_version(host=None):
    """'v2' when /sys/fs/cgroup is a cgroup2 mount (unified), else 'v1'.

    Hybrid hosts count as v1: their devices controller is a v1 one.
    """
    host = host or hostview.HostView()
    for mount in host.mounts():
        if mount.target == '/sys/fs/cgroup' and mount.fstype == 'cgroup2':
            return 'v2'
    return 'v1'


def render(lxc_version, cgroup, link='lxcbr0', network=True,
           apparmor='unconfined', loop_devices=16, nbd=False,
           detected=False):
    """The configuration text. Raises LxcConfigError on impossible asks."""
    if lxc_version < 1:
        raise LxcConfigError('--lxc-version must be 1 or more, not %d' %
                             lxc_version)
    if cgroup not in ('v1', 'v2'):
        raise LxcConfigError('--cgroup must be v1 or v2, not %r' % cgroup)
    if cgroup == 'v2' and lxc_version < FIRST_CGROUP2_DEVICES:
        raise LxcConfigError(
            'LXC %d cannot allow devices on a cgroup v2 host: the BPF device '
            'controller (lxc.cgroup2.devices.allow) needs LXC 4.0 or later; '
            'upgrade LXC or boot the LXC host with a cgroup v1 layout' %
            lxc_version)
    if not 0 <= loop_devices <= 256:
        raise LxcConfigError('--loop-devices must be between 0 and 256, '
                             'not %d' % loop_devices)
    modern = lxc_version >= FIRST_MODERN
    keys = MODERN_KEYS if modern else LEGACY_KEYS
    devices_key = keys['devices_v2'] if cgroup == 'v2' else keys['devices']
    series = '%d.x' % lxc_version if modern else '1.x/2.x'

    lines = [
        '# nova-lxc-contrail: LXC configuration of a container that is an',
        '# LXC compute host (nova [libvirt] virt_type = lxc, vRouter VIFs).',
        '# Keys of LXC %s on a cgroup %s host%s.' % (
            series, cgroup, ' (detected here)' if detected else ''),
        '# Append to the container\'s config (e.g. /var/lib/lxc/NAME/config)',
        '# and restart it. On the LXC host, first load the modules a',
        '# container cannot load itself:',
        '#   modprobe -a tun veth bridge loop fuse%s' % (
            ' nbd' if nbd else ''),
        '',
        '# Devices the VIF driver and the root filesystem code open.',
    ]
    for kind, major, minor, what in DEVICES + ((NBD_DEVICE,) if nbd else ()):
        lines.append('# %s' % what)
        lines.append('%s = %s %d:%s rwm' % (devices_key, kind, major, minor))
    lines += ['', '# The host\'s device nodes, bound into the container\'s '
              '/dev.']
    for node in DEVICE_NODES:
        lines.append('lxc.mount.entry = %s %s none bind,create=file,'
                     'optional 0 0' % (node, node.lstrip('/')))
    if loop_devices:
        lines += ['# Loop devices made later on the LXC host stay invisible '
                  'here: bind enough',
                  '# (create them first on the LXC host: losetup -f, or '
                  'modprobe loop max_loop=%d).' % loop_devices]
    for index in range(loop_devices):
        lines.append('lxc.mount.entry = /dev/loop%d dev/loop%d none '
                     'bind,create=file,optional 0 0' % (index, index))
    if nbd:
        lines.append('lxc.mount.entry = /dev/nbd0 dev/nbd0 none '
                     'bind,create=file,optional 0 0')
    lines += [
        '',
        '# Nesting: libvirt\'s LXC driver mounts proc, sys and cgroups for',
        '# its own containers and creates cgroups below this one.',
        'lxc.mount.auto = proc:rw sys:rw cgroup:rw',
        '',
        '# AppArmor: libvirt_lxc and the root filesystem code mount ext4,',
        '# xfs, FUSE, proc, sysfs, tmpfs and bind mounts and pivot_root;',
        '# a confined profile must allow all of these.',
        '%s = %s' % (keys['apparmor'], apparmor),
    ]
    if network:
        lines += ['', '# The compute host\'s own network (vRouter uplink).']
        for name, value in (('type', 'veth'), ('link', link),
                            ('flags', 'up'), ('name', 'eth0')):
            lines.append('%s = %s' % (keys['net'] % name, value))
    return '\n'.join(lines) + '\n'


def run(args, conf):
    detected = args.cgroup == 'auto'
    cgroup = detect_cgroup_version() if detected else args.cgroup
    try:
        text = render(args.lxc_version, cgroup, link=args.link,
                      network=not args.no_network, apparmor=args.apparmor,
                      loop_devices=args.loop_devices, nbd=args.nbd,
                      detected=detected)
    except LxcConfigError as e:
        print('nova-lxc-contrail lxc-config: %s' % e,
              file=sys.stderr)
        return 2
    print(text, end='')
    return 0


EPILOG = """\
examples:
  # LXC 4 or 5 on this host's cgroup layout:
  nova-lxc-contrail lxc-config --lxc-version 5 >> /var/lib/lxc/compute1/config
  # LXC 2.0 (Ubuntu 16.04 hosts), legacy keys, cgroup v1:
  nova-lxc-contrail lxc-config --lxc-version 2 --cgroup v1
  # a pure cgroup v2 LXC host, container on bridge br0, with nbd:
  nova-lxc-contrail lxc-config --cgroup v2 --link br0 --nbd
"""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'lxc-config',
        help='print the LXC config to run this compute host inside LXC.',
        description='Print the LXC container configuration (devices, '
                    'nesting, AppArmor, network) that an LXC compute host '
                    'needs when it runs inside an LXC container. Reads no '
                    'nova configuration.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lxc-version', type=int, default=4,
                        metavar='MAJOR',
                        help='major version of LXC on the LXC host: 1 or 2 '
                             'print the old keys (lxc.network.*, '
                             'lxc.aa_profile), 3 and later the new ones '
                             '(lxc.net.0.*, lxc.apparmor.profile). '
                             'Default: 4.')
    parser.add_argument('--cgroup', choices=('auto', 'v1', 'v2'),
                        default='auto',
                        help='cgroup layout of the LXC host: v1 (and hybrid) '
                             'use lxc.cgroup.devices.allow, v2 '
                             'lxc.cgroup2.devices.allow (LXC 4+). Default: '
                             'as seen from where this command runs.')
    parser.add_argument('--link', default='lxcbr0', metavar='BRIDGE',
                        help='LXC host bridge for the container\'s eth0 '
                             '(default: lxcbr0).')
    parser.add_argument('--no-network', action='store_true',
                        help='print no network keys.')
    parser.add_argument('--apparmor', default='unconfined',
                        metavar='PROFILE',
                        help='AppArmor profile of the container (default: '
                             'unconfined).')
    parser.add_argument('--loop-devices', type=int, default=16, metavar='N',
                        help='bind /dev/loop0 .. /dev/loopN-1 (default: 16).')
    parser.add_argument('--nbd', action='store_true',
                        help='also allow nbd devices (qemu-nbd).')
    parser.set_defaults(func=run, needs_config=False)
    return parser
