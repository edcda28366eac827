"""Privileged operations of the container rootfs, in an oslo.privsep daemon.

Capabilities: CAP_SYS_ADMIN (mount, umount, loop ioctls, idmapped mounts),
CAP_DAC_OVERRIDE (open image files and block devices owned by other users
read-write, create the export files in the nova-owned instance dir, walk a
rootfs whose directories belong to the image's users) and CAP_SETUID +
CAP_SETGID (write the uid_map/gid_map of the short-lived user namespace an
idmapped mount takes its maps from; the kernel asks for both in the parent
namespace to map ids other than the writer's own). Nothing else: the
daemon's children (qemu-storage-daemon, qemu-nbd) are separate programs.

Each entry point does one step and takes and returns plain data (privsep
serialises both); the orchestration lives in ``api`` on the unprivileged
side.
"""

import errno
import fcntl
import os
import stat
import struct
import tempfile
import time

from oslo_log import log as logging
from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context

from nova_lxc_contrail.conf import privsep as privsep_conf
from nova_lxc_contrail.disk import export
from nova_lxc_contrail.disk import fsprobe
from nova_lxc_contrail.disk import idmap
from nova_lxc_contrail.disk import loop
from nova_lxc_contrail.disk import mount
from nova_lxc_contrail.disk import partition
from nova_lxc_contrail.disk import rootfs
from nova_lxc_contrail import exception

LOG = logging.getLogger(__name__)

CFG_SECTION = privsep_conf.DISK
CAPABILITIES = [caps.CAP_SYS_ADMIN, caps.CAP_DAC_OVERRIDE, caps.CAP_SETUID,
                caps.CAP_SETGID]

disk_pctxt = priv_context.PrivContext(
    'nova_lxc_contrail',
    cfg_section=CFG_SECTION,
    pypath=__name__ + '.disk_pctxt',
    capabilities=CAPABILITIES,
)

BLKSSZGET = 0x1268
QCOW2_MAGIC = b'QFI\xfb'


# --- reading ----------------------------------------------------------------

@disk_pctxt.entrypoint
def probe_image(path, image):
    """Partition table and filesystem types of a raw disk at ``path``.

    Returns {'size', 'qcow2_magic', 'table' (dict or None),
    'filesystems': {'disk' or partition number as str: type or None}}.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise exception.ImageError(image=image, reason='cannot open %s: %s'
                                   % (path, exc.strerror))
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        sector_size = None
        if stat.S_ISBLK(os.fstat(fd).st_mode):
            sector_size = struct.unpack(
                'i', fcntl.ioctl(fd, BLKSSZGET, b'\0' * 4))[0]

        def read_at(offset, length):
            return os.pread(fd, length, offset)

        table = partition.read_partition_table(read_at, size, image=image,
                                               sector_size=sector_size)
        found = {'disk': fsprobe.probe(read_at, 0, size)}
        for part in table.partitions if table else ():
            if not part.container:
                found[str(part.number)] = fsprobe.probe(read_at, part.start,
                                                        part.size)
        return {'size': size,
                'qcow2_magic': read_at(0, 4) == QCOW2_MAGIC,
                'table': table.to_dict() if table else None,
                'filesystems': found}
    except OSError as exc:
        raise exception.ImageError(image=image, reason='cannot read %s: %s'
                                   % (path, exc.strerror))
    finally:
        os.close(fd)


@disk_pctxt.entrypoint
def check_init(root, path=rootfs.INIT):
    return rootfs.check_init(root, path).to_dict()


# --- loop devices and mounts ------------------------------------------------

@disk_pctxt.entrypoint
def attach_and_mount(backing, offset, sizelimit, fstype, target, read_only,
                     options, image, label):
    """Bind a loop device to the byte range and mount it; return the device.

    On a mount failure nothing stays attached: the loop device is set to
    autoclear and only our file descriptor holds it.
    """
    try:
        attached = loop.attach(backing, offset, sizelimit,
                               read_only=read_only)
    except OSError as exc:
        raise exception.DiskAttachError(
            image=image, reason='loop device for %s of %s: %s'
            % (label, backing, exc.strerror or exc))
    with attached:
        try:
            mount.mount(attached.device, target, fstype,
                        read_only=read_only, options=options)
        except OSError as exc:
            # The kernel refuses a filesystem larger than its device with
            # EINVAL; other errors (EBADMSG: a damaged superblock) say more
            # than the sizes would.
            cause = (_mount_failure_cause(attached.device, fstype, label)
                     if exc.errno == errno.EINVAL else None)
            if cause:
                # The cause first: nova keeps 255 characters of a fault.
                reason = '%s; mounting it at %s failed: %s. %s' % (
                    cause, target, exc.strerror, REMEDY_TOO_LARGE)
            else:
                reason = 'mounting the %s filesystem at %s failed: %s' % (
                    fstype, target, exc.strerror)
            raise exception.RootfsError(image=image, partition=label,
                                        reason=reason)
    return attached.device


def _bytes(size, detail=''):
    return '%d bytes (%.1f MiB%s)' % (size, size / 1048576.0, detail)


REMEDY_TOO_LARGE = ('Grow the partition or shrink the filesystem '
                    '(resize2fs) to fit, and upload the image again')


def _mount_failure_cause(device, fstype, label):
    """Why the kernel refused the mount, when the superblock tells; or None.

    The kernel only logs its reason ("bad geometry: block count ... exceeds
    size of device") and mount(2) says EINVAL: check the same thing here.
    """
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        device_size = os.lseek(fd, 0, os.SEEK_END)
        claimed = fsprobe.filesystem_size(
            lambda offset, length: os.pread(fd, length, offset), 0,
            device_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    if claimed is None or claimed[0] <= device_size:
        return None
    fs_bytes, blocks, block_size = claimed
    where = label if label.startswith('partition') else 'the ' + label
    return ('the %s filesystem is larger than %s: its superblock says %s, '
            '%s holds %s' % (
                fstype, where, _bytes(fs_bytes, ', %d blocks of %d bytes' % (
                    blocks, block_size)), where, _bytes(device_size)))


@disk_pctxt.entrypoint
def unmount(target):
    """Unmount ``target`` (lazily when busy); False if nothing was there."""
    if mount.mounted_at(target) is None:
        return False
    try:
        return mount.umount(target)
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        LOG.warning('%s is busy; detaching it lazily', target)
        return mount.umount(target, lazy=True)


@disk_pctxt.entrypoint
def release_loops(exact, backing_files):
    """Detach loop devices of one container; return those still bound.

    :param exact: [device or None, backing file, offset] triples recorded at
        setup: a device is released only while it is still bound to that
        very byte range (a device freed by autoclear may serve another
        container by now).
    :param backing_files: also release any loop device reading one of
        these files (the container's export file, the instance's disk).
    """
    still_bound = []
    for info in loop.bound_devices():
        backing = info.backing_file
        if backing.endswith(' (deleted)'):
            backing = backing[:-len(' (deleted)')]
        ours = backing in backing_files or any(
            (device in (None, info.device) and backing == path and
             info.offset == offset) for device, path, offset in exact)
        if not ours:
            continue
        LOG.debug('Detaching %s (%s at %d)', info.device, backing,
                  info.offset)
        loop.detach(info.device)
        if loop.info(info.device) is not None:
            still_bound.append(info.device)
    return still_bound


@disk_pctxt.entrypoint
def loops_backed_by(path):
    return [i.device for i in loop.bound_devices()
            if i.backing_file == path]


@disk_pctxt.entrypoint
def wait_loops_released(path, timeout):
    """Wait until no loop device reads ``path``; True when none does."""
    deadline = time.monotonic() + timeout
    while any(i.backing_file == path for i in loop.bound_devices()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


# --- the container's view in a user namespace -------------------------------

@disk_pctxt.entrypoint
def map_rootfs(stage, target, uid_maps, gid_maps, method):
    """Show the filesystem mounted at ``stage`` at ``target``, mapped.

    :param method: [lxc_contrail] rootfs_idmap: 'auto', 'mount', 'chown'
    :returns: 'idmapped' (an idmapped clone is at target) or 'moved' (the
        stage mount itself moved there: the caller shifts the owners)
    :raises idmap.Unsupported: no idmapped mount possible and method is
        'mount'
    The stage is unmounted and removed either way; the clone keeps the
    filesystem.
    """
    uid_maps = [idmap.IdMap(*m) for m in uid_maps]
    gid_maps = [idmap.IdMap(*m) for m in gid_maps]
    try:
        if method == 'chown':
            raise idmap.Unsupported(errno.EPERM, 'rootfs_idmap = chown')
        idmap.idmapped_clone(stage, target, uid_maps, gid_maps)
    except idmap.Unsupported as exc:
        if method == 'mount':
            raise
        LOG.info('No idmapped mount of %s (%s); moving it unmapped',
                 stage, exc)
        mount.move(stage, target)
        # The container takes its root from this mount: setuid works.
        mount.set_flags(target, mount.MS_NODEV)
        how = 'moved'
    else:
        mount.umount(stage)
        how = 'idmapped'
    os.rmdir(stage)
    return how


@disk_pctxt.entrypoint
def can_idmap(path):
    """Whether the filesystem mounted at ``path`` takes an idmapped mount."""
    return idmap.can_idmap(path)


# --- exports ----------------------------------------------------------------

@disk_pctxt.entrypoint
def fuse_start(image, fmt, export_file, qmp_socket, pid_file, read_only):
    return export.fuse_start(image, fmt, export_file, qmp_socket, pid_file,
                             read_only=read_only)


@disk_pctxt.entrypoint
def fuse_stop(export_file, qmp_socket, pid_file):
    export.fuse_stop(export_file, qmp_socket, pid_file)


@disk_pctxt.entrypoint
def nbd_start(image, fmt, pid_file, read_only):
    return export.nbd_start(image, fmt, pid_file, read_only=read_only)


@disk_pctxt.entrypoint
def nbd_stop(device, pid_file):
    export.nbd_stop(device, pid_file)


# --- scratch dirs for inspecting images -------------------------------------

@disk_pctxt.entrypoint
def make_scratch_dir():
    """A private directory holding an empty ``rootfs`` mount point."""
    path = tempfile.mkdtemp(prefix='nova-lxc-contrail-inspect-')
    os.mkdir(os.path.join(path, 'rootfs'))
    return path


@disk_pctxt.entrypoint
def remove_scratch_dir(path):
    if not os.path.basename(path).startswith('nova-lxc-contrail-inspect-'):
        raise ValueError('not a scratch dir: %s' % path)
    for name in os.listdir(path):
        os.rmdir(os.path.join(path, name))
    os.rmdir(path)
