"""Options of the container root filesystem ([lxc_contrail])."""

from oslo_config import cfg

from nova_lxc_contrail.conf import vif

disk_opts = [
    cfg.StrOpt('root_partition',
               default='auto',
               help='Which part of an instance\'s disk is mounted as the '
                    'container\'s root filesystem. "auto": the whole disk '
                    'when it has no partition table, else partition 1 when '
                    'it holds an executable /sbin/init, else the first '
                    'other partition (by number) that does. "none": the '
                    'whole disk. A number: that partition only. The image '
                    'property lxc_root_partition overrides this per image '
                    'with the same values.'),
    cfg.StrOpt('image_export',
               default='auto',
               choices=[('auto', 'nbd when the host has /dev/nbd* '
                                 'devices, else fuse'),
                        ('fuse', 'qemu-storage-daemon FUSE export: a '
                                 'raw file next to the container dir'),
                        ('nbd', 'qemu-nbd on a free /dev/nbdN')],
               help='How a qcow2 image is shown as a raw disk for the '
                    'loop device that binds its root partition. Neither '
                    'needs partition device nodes or device-mapper.'),
    cfg.StrOpt('rootfs_idmap',
               default='auto',
               choices=[('auto', 'an idmapped mount where the kernel and '
                                 'the filesystem support it, else the '
                                 'chown shift'),
                        ('mount', 'an idmapped mount only; a host or '
                                  'filesystem without support fails the '
                                  'boot'),
                        ('chown', 'nova\'s shift: chown every file of the '
                                  'instance disk to the mapped ids')],
               help='How a container running in a user namespace ([libvirt] '
                    'uid_maps and gid_maps set) sees its root filesystem '
                    'owned by its own root. An idmapped mount (Linux >= '
                    '5.12; ext4, xfs, btrfs) changes no file: the disk '
                    'and its snapshots keep the image\'s owners, and its '
                    'cost does not grow with the image. The chown shift '
                    'rewrites every owner on the disk (and clears setuid '
                    'bits, as chown does). Unused without uid_maps.'),
    cfg.FloatOpt('release_timeout',
                 default=10.0, min=0.0,
                 help='Seconds teardown waits for the kernel to release '
                      'the loop device of a stopped container before it '
                      'stops the qcow2 export under it.'),
]


def register_opts(conf):
    conf.register_group(vif.lxc_contrail_group)
    conf.register_opts(disk_opts, group=vif.lxc_contrail_group)


def list_opts():
    return {vif.lxc_contrail_group: disk_opts}
