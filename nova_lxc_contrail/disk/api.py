"""Partition-aware container root filesystem, shaped like nova's disk API.

``setup_container``, ``teardown_container`` and ``clean_lxc_namespace``
take the same arguments as ``nova.virt.disk.api``'s functions, so the nova
glue can swap them in; ``setup_container`` also takes the image's root
partition policy. ``inspect_image`` answers the operator CLI.

How teardown finds what to release (nothing is kept in memory): setup
records the attachment in ``<container_dir>.attach.json`` before it attaches
anything (see ``state``). Teardown unmounts ``container_dir`` if the mount
table has it, detaches the recorded loop device only while it is still bound
to the recorded backing file and offset, also any loop device backed by a
file inside the instance dir or by the container's export (a lost record,
an older nova's setup), stops the qcow2 export found through its QMP socket
or pid file, and removes the record last. Every step is a no-op when there
is nothing to release, so teardown is idempotent and works after
nova-compute restarted, with or without the saved device.
"""

import collections
import contextlib
import ctypes
import dataclasses
import os
import stat

import nova.conf  # noqa: F401 (registers [libvirt] uid_maps, gid_maps)
from nova.privsep import idmapshift
from nova.virt.image import model as imgmodel
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import excutils

from nova_lxc_contrail import conf as nlc_conf  # noqa: F401 (registers)
from nova_lxc_contrail.disk import access
from nova_lxc_contrail.disk import choose
from nova_lxc_contrail.disk import export
from nova_lxc_contrail.disk import fsprobe
from nova_lxc_contrail.disk import idmap
from nova_lxc_contrail.disk import partition
from nova_lxc_contrail.disk import privsep
from nova_lxc_contrail.disk import rootfs
from nova_lxc_contrail.disk import state
from nova_lxc_contrail import exception

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

# nova keeps every image property in the instance's system metadata under
# this key ('image_' + property); ImageMetaProps drops unknown properties.
SYSTEM_METADATA_KEY = 'image_' + choose.IMAGE_PROPERTY

_Source = collections.namedtuple('_Source', 'path fmt name')


@dataclasses.dataclass
class _Attached:
    device: str
    candidate: choose.Candidate
    filesystem: str
    init: rootfs.InitCheck
    table: object
    probe: dict
    refused: list


# --- public API -------------------------------------------------------------

def root_partition_for_instance(instance):
    """The instance's image property lxc_root_partition, or None.

    Pass the result as ``setup_container(..., root_partition=...)``.
    """
    return (instance.system_metadata or {}).get(SYSTEM_METADATA_KEY)


def setup_container(image, container_dir, root_partition=None,
                    image_name=None, id_maps=None):
    """Attach the image's root filesystem and mount it at container_dir.

    The mount is nodev. Without ``id_maps`` only root and the instance
    dir's owner can reach it. With them, the container dir gets an
    idmapped view of the filesystem (no file changes owner) or, where the
    kernel or the filesystem cannot idmap (or [lxc_contrail] rootfs_idmap
    = chown), the mount itself with nova's chown shift applied.

    :param image: nova.virt.image.model LocalFileImage (raw or qcow2) or
        LocalBlockImage
    :param container_dir: where to mount it (nova: <instance dir>/rootfs)
    :param root_partition: the image's lxc_root_partition property ('auto',
        'none' or a number); None uses [lxc_contrail] root_partition
    :param image_name: how errors name the image (default: its path)
    :param id_maps: (uid maps, gid maps), lists of ``idmap.IdMap``, for a
        container in a user namespace (see ``idmap.container_maps``)
    :returns: the loop device, for instance.system_metadata
        ['rootfs_device_name']
    """
    source = _source(image, image_name)
    policy = _policy(root_partition)
    paths = state.Paths(container_dir)
    mapped_root = None
    if id_maps:
        mapped_root = (idmap.host_id(id_maps[0], 0),
                       idmap.host_id(id_maps[1], 0))
        access.check_traversable(paths.instance_dir, *mapped_root)
    if state.load(paths) is not None:
        LOG.warning('%s has a leftover attachment; releasing it first',
                    container_dir)
        _release(paths)
    os.makedirs(container_dir, exist_ok=True)
    access.restrict_instance_dir(paths.instance_dir,
                                 mapped_root[0] if mapped_root else None)
    attached = _attach(source, paths, policy, read_only=False,
                       staged=bool(id_maps))
    LOG.info('Mounted %s of %s (%s, %s) at %s through %s', attached.candidate
             .label, source.name, attached.filesystem,
             attached.candidate.reason,
             paths.stage if id_maps else container_dir, attached.device)
    if id_maps:
        try:
            _map_rootfs(paths, id_maps, source.name)
        except BaseException:
            with excutils.save_and_reraise_exception():
                _release(paths)
    return attached.device


def _map_rootfs(paths, id_maps, image_name):
    """Give the container dir the mapped view of the staged mount."""
    uid_maps, gid_maps = id_maps
    method = CONF.lxc_contrail.rootfs_idmap
    try:
        how = privsep.map_rootfs(paths.stage, paths.container_dir,
                                 [list(m) for m in uid_maps],
                                 [list(m) for m in gid_maps], method)
    except idmap.Unsupported as exc:
        raise exception.RootfsError(
            image=image_name, partition='the root filesystem',
            reason='no idmapped mount is possible here (%s) and '
                   '[lxc_contrail] rootfs_idmap = mount; set it to auto or '
                   'chown to shift the owners on the disk instead' % exc)
    record = state.load(paths) or {}
    record['stage'] = None
    if how == 'moved':
        # nova's shift, given the (start, target, count) tuples its
        # privsep entrypoint unpacks (nova 34's chown_for_id_maps passes
        # config objects it cannot).
        idmapshift.shift(paths.container_dir,
                         [tuple(m) for m in uid_maps],
                         [tuple(m) for m in gid_maps])
        record['idmap'] = 'chown'
        LOG.info('%s: owners shifted on the disk (chown) for uid maps %s, '
                 'gid maps %s (rootfs_idmap = %s)', paths.container_dir,
                 ','.join(map(idmap.format_map, uid_maps)),
                 ','.join(map(idmap.format_map, gid_maps)), method)
    else:
        record['idmap'] = 'idmapped'
        LOG.info('%s: idmapped mount for uid maps %s, gid maps %s; no '
                 'owner changed on the disk', paths.container_dir,
                 ','.join(map(idmap.format_map, uid_maps)),
                 ','.join(map(idmap.format_map, gid_maps)))
    state.save(paths, record)


def teardown_container(container_dir, container_root_device=None):
    """Unmount and release everything setup_container attached.

    Idempotent; never raises (like nova's), errors are logged.
    :returns: True when everything was released
    """
    try:
        _release(state.Paths(container_dir), container_root_device)
        return True
    except Exception:
        LOG.exception('Failed to tear down the container filesystem at %s',
                      container_dir)
        return False


def clean_lxc_namespace(container_dir):
    """Unmount the host's view of a running container's rootfs.

    The loop device (and a qcow2 export) stays attached: the container's
    own mount namespace still uses it.
    """
    try:
        privsep.unmount(container_dir)
    except Exception:
        LOG.exception('Failed to unmount the container filesystem at %s',
                      container_dir)


def flush_container(container_dir):
    """Write what the mounted rootfs holds in memory to its disk (syncfs).

    With the container frozen, the disk is then consistent for a copy. A
    rootfs not mounted on the host has nothing to flush.
    """
    if not os.path.ismount(container_dir):
        return
    fd = os.open(container_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _libc().syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, 'syncfs %s: %s' % (
                container_dir, os.strerror(err)))
    finally:
        os.close(fd)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def inspect_image(path, fmt=None, root_partition=None):
    """Describe an image as setup_container would see it, read-only.

    :param fmt: 'raw' or 'qcow2'; None detects qcow2 by its magic
    :returns: a dict: image, format, size, partition_table (None or
        {label, sector_size, disk_size, disk_id, header, partitions: [...]}),
        filesystems ({'disk' or number: type}), root ({partition, label,
        filesystem, start, size, reason} or None), init ({path, ok, resolved,
        links, reason} or None), refused ([{label, filesystem, reason}]),
        error (why the image cannot be a container, or None)
    """
    if fmt is None:
        fmt = imgmodel.FORMAT_QCOW2 if _is_qcow2(path) else \
            imgmodel.FORMAT_RAW
    if os.path.exists(path) and _is_block(path):
        model = imgmodel.LocalBlockImage(path)
    else:
        model = imgmodel.LocalFileImage(path, fmt)
    source = _source(model, None)
    policy = _policy(root_partition)
    result = {'image': path, 'format': fmt, 'policy': str(policy),
              'size': None, 'partition_table': None, 'filesystems': {},
              'root': None, 'init': None, 'refused': [], 'error': None,
              'idmap': None}
    scratch = privsep.make_scratch_dir()
    paths = state.Paths(os.path.join(scratch, 'rootfs'))
    attached = None
    try:
        attached = _attach(source, paths, policy, read_only=True,
                           report=result)
        result['idmap'] = _idmap_report(paths.container_dir,
                                        attached.filesystem)
    except exception.NovaLxcContrailError as exc:
        result['error'] = str(exc)
    finally:
        _release(paths)
        privsep.remove_scratch_dir(scratch)
    if attached is not None:
        part = attached.candidate.partition
        result['root'] = {
            'partition': part.number if part else None,
            'label': attached.candidate.label,
            'filesystem': attached.filesystem,
            'start': part.start if part else 0,
            'size': part.size if part else result['size'],
            'reason': attached.candidate.reason}
        result['init'] = attached.init.to_dict()
    return result


def _idmap_report(mounted, filesystem):
    """What a user namespace would do with this root, and what to set."""
    supported, why = privsep.can_idmap(mounted)
    maps = CONF.libvirt.uid_maps or CONF.libvirt.gid_maps
    method = CONF.lxc_contrail.rootfs_idmap
    if supported and method != 'chown':
        how = ('idmapped mount: no file changes owner, snapshots keep the '
               "image's owners")
    elif method == 'mount':
        how = ('cannot start: no idmapped mount of %s (%s) and '
               '[lxc_contrail] rootfs_idmap = mount' % (filesystem, why))
    else:
        how = ('chown shift: every file of the disk is chowned to the '
               'mapped ids, setuid bits are cleared')
    return {'idmapped_mount': supported, 'reason': why,
            'user_namespace': bool(maps), 'rootfs_idmap': method,
            'with_uid_maps': how,
            'remedy': None if maps else (
                'set [libvirt] uid_maps = 0:100000:65536 and gid_maps = '
                '0:100000:65536 so that root in the container is not root '
                'on the host')}


# --- attach -----------------------------------------------------------------

def _source(image, image_name):
    if isinstance(image, imgmodel.RBDImage):
        raise exception.UnsupportedImage(
            image=image_name or 'rbd:%s/%s' % (image.pool, image.name),
            reason='RBD images cannot be mounted as a container root '
                   'filesystem; use a local image backend (images_type = '
                   'raw or qcow2) or boot from a volume')
    if not isinstance(image, imgmodel.LocalImage):
        raise exception.UnsupportedImage(
            image=image_name or repr(image),
            reason='%s is not a local file or block device'
                   % type(image).__name__)
    name = image_name or image.path
    if image.format not in (imgmodel.FORMAT_RAW, imgmodel.FORMAT_QCOW2):
        raise exception.UnsupportedImage(
            image=name, reason='format %s is not supported (raw and qcow2 '
                               'are)' % image.format)
    if not os.path.exists(image.path):
        raise exception.ImageError(image=name,
                                   reason='%s does not exist' % image.path)
    # The kernel reports a loop device's backing file by its real path.
    return _Source(os.path.realpath(image.path), image.format, name)


def _policy(root_partition):
    if root_partition is None:
        return choose.parse_policy(CONF.lxc_contrail.root_partition,
                                   '[lxc_contrail] root_partition')
    return choose.parse_policy(root_partition,
                               'image property ' + choose.IMAGE_PROPERTY)


def _mount_options(fstype, read_only, staged=False):
    # Device nodes of the image never open a host device through this
    # mount (libvirt-LXC gives the container its own /dev). A staged mount
    # is never the container's: its setuid programs stay inert too.
    options = ['nodev', 'nosuid'] if staged or read_only else ['nodev']
    if fstype == 'xfs':
        # Instances of one image share the filesystem UUID, which XFS
        # otherwise refuses to mount twice.
        options.append('nouuid')
        if read_only:
            options.append('norecovery')
    elif fstype == 'ext4' and read_only:
        options.append('noload')       # no journal replay: truly read-only
    return ','.join(options)


def _attach(source, paths, policy, read_only, report=None, staged=False):
    """Attach and mount the root; on any failure release everything.

    :param staged: mount at the owner-only stage dir, not the container dir
    """
    record = {'image': source.path, 'format': source.fmt,
              'export': None, 'loop': None,
              'stage': paths.stage if staged else None}
    state.save(paths, record)
    try:
        if staged:
            # Its owner (nova-compute, which owns the image already) only.
            os.makedirs(paths.stage, 0o700, exist_ok=True)
        backing = source.path
        if source.fmt != imgmodel.FORMAT_RAW:
            backing = _start_export(source, paths, record, read_only)
        probe = privsep.probe_image(backing, source.name)
        table = (partition.PartitionTable.from_dict(probe['table'])
                 if probe['table'] else None)
        if report is not None:
            report.update(size=probe['size'],
                          partition_table=probe['table'],
                          filesystems=probe['filesystems'])
        if (table is None and probe['qcow2_magic'] and
                source.fmt == imgmodel.FORMAT_RAW):
            raise exception.ImageError(
                image=source.name, reason='this is a qcow2 image, but it '
                                          'was given as raw')
        refused = [] if report is None else report['refused']
        for candidate in choose.candidates(table, policy, source.name):
            attached = _try(candidate, source, paths, backing, probe,
                            record, read_only, refused, staged)
            if attached is not None:
                attached.table = table
                return attached
        raise exception.RootfsError(
            image=source.name, partition='every partition',
            reason='no executable /sbin/init found (%s)'
                   % '; '.join('%s: %s' % (r['label'], r['reason'])
                               for r in refused))
    except BaseException:
        with excutils.save_and_reraise_exception():
            _release(paths)


def _try(candidate, source, paths, backing, probe, record, read_only,
         refused, staged):
    """Mount one candidate and check it; None when it is not the root."""
    target = paths.stage if staged else paths.container_dir
    part = candidate.partition
    key = str(part.number) if part else 'disk'
    fstype = probe['filesystems'].get(key)
    if fstype not in fsprobe.MOUNTABLE:
        if fstype is None:
            why = 'no filesystem found'
            if part is None and probe['table']:
                why += ' (the disk has a %s partition table: set ' \
                       'root_partition to auto or a number)' % \
                       probe['table']['label']
            elif part is None:
                why += ' and no partition table: this is not a disk image'
        else:
            why = ('%s is not a root filesystem (ext2/3/4, xfs or btrfs '
                   'are)' % fstype)
        return _refuse(candidate, source, fstype, why, refused)

    driver = fsprobe.MOUNTABLE[fstype]
    offset, size = (part.start, part.size) if part else (0, 0)
    record['loop'] = {'device': None, 'backing': backing, 'offset': offset}
    state.save(paths, record)
    device = privsep.attach_and_mount(
        backing, offset, size, driver, target, read_only,
        _mount_options(driver, read_only, staged), source.name,
        candidate.label)
    record['loop']['device'] = device
    state.save(paths, record)

    check = rootfs.InitCheck(**privsep.check_init(target))
    if check.ok:
        return _Attached(device, candidate, fstype, check, None, probe,
                         refused)
    # Not the root: unmounting frees the autoclear loop device.
    privsep.unmount(target)
    privsep.release_loops([[device, backing, offset]], [])
    record['loop'] = None
    state.save(paths, record)
    return _refuse(candidate, source, fstype,
                   'no executable /sbin/init: ' + check.reason, refused)


def _refuse(candidate, source, fstype, why, refused):
    refused.append({'label': candidate.label, 'filesystem': fstype,
                    'reason': why})
    if candidate.explicit:
        raise exception.RootfsError(image=source.name,
                                    partition=candidate.label, reason=why)
    LOG.debug('%s of %s is not the root: %s', candidate.label, source.name,
              why)
    return None


def _start_export(source, paths, record, read_only):
    kind = CONF.lxc_contrail.image_export
    if kind == 'auto':
        kind = 'nbd' if export.nbd_available() else 'fuse'
    try:
        if kind == 'nbd':
            record['export'] = {'kind': 'nbd', 'device': None}
            state.save(paths, record)
            device = privsep.nbd_start(source.path, source.fmt, paths.pid,
                                       read_only)
            record['export']['device'] = device
            state.save(paths, record)
            return device
        if len(os.fsencode(paths.qmp)) > state.MAX_SOCKET_PATH:
            raise export.ExportError('the path %s is too long for a unix '
                                     'socket' % paths.qmp)
        record['export'] = {'kind': 'fuse'}
        state.save(paths, record)
        privsep.fuse_start(source.path, source.fmt, paths.export, paths.qmp,
                           paths.pid, read_only)
        return paths.export
    except export.ExportError as exc:
        raise exception.DiskAttachError(
            image=source.name, reason='%s export failed: %s' % (kind, exc))


# --- release ----------------------------------------------------------------

def _release(paths, device=None):
    record = state.load(paths) or {}
    privsep.unmount(paths.container_dir)
    if record.get('stage') or os.path.lexists(paths.stage):
        privsep.unmount(paths.stage)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(paths.stage)

    exact = []
    loop_record = record.get('loop')
    if loop_record:
        exact.append([loop_record['device'], loop_record['backing'],
                      loop_record['offset']])
    # nova's image backend keeps the instance's disk at <instance dir>/disk
    owned = [paths.export, os.path.join(paths.instance_dir, 'disk')]
    pending = privsep.release_loops(exact, owned)
    if device and device not in [e[0] for e in exact]:
        LOG.debug('Saved root device %s was not recorded for %s; it is '
                  'released only if it reads a file of the instance dir',
                  device, paths.container_dir)

    export_record = record.get('export') or {}
    if export_record.get('kind') == 'nbd':
        if export_record.get('device'):
            privsep.nbd_stop(export_record['device'], paths.pid)
    elif export_record or _exists_any(paths.export, paths.qmp, paths.pid):
        if pending and not privsep.wait_loops_released(
                paths.export, CONF.lxc_contrail.release_timeout):
            LOG.warning('%s still in use by %s; stopping its export anyway',
                        paths.export, ', '.join(pending))
        privsep.fuse_stop(paths.export, paths.qmp, paths.pid)
    state.remove(paths)


def _exists_any(*paths):
    return any(os.path.lexists(p) for p in paths)


def _is_qcow2(path):
    try:
        with open(path, 'rb') as f:
            return f.read(4) == privsep.QCOW2_MAGIC
    except OSError:
        return False


def _is_block(path):
    return stat.S_ISBLK(os.stat(path).st_mode)
