"""LxcContrailDriver: nova's libvirt driver for LXC on vRouter compute hosts.

Load it with ``compute_driver = lxc_contrail.LxcContrailDriver``. It is
nova's ``LibvirtDriver`` with these changes, each as small as nova allows:

- the VIF driver comes from ``[libvirt] vif_driver`` (default
  ``LxcContrailVIFDriver``) instead of being hard-coded;
- ``[libvirt] virt_type`` must be ``lxc``;
- the container root filesystem goes through this package's
  partition-aware ``disk.api`` (nova's mounts the whole image); the three
  methods that call nova's disk API are overridden, keeping nova's flow.
  Unlike nova, the host's view of the rootfs stays mounted while the domain
  exists, so libvirt can start the container again by itself (soft reboot,
  a reboot from inside);
- nothing runs after a container started: libvirt-LXC ignores ``<mtu>``,
  and this package's libvirt hook (``virt/libvirt_hook.py``) gives both
  veth ends the network MTU before the container's init runs, at every
  start, a reboot from inside the container included;
- a hard reboot (nova's power on and host boot resume are hard reboots)
  keeps the ports plugged: the per-port bridge and its vRouter agent
  registration survive reboots, stop and start;
- a container whose init has no initctl FIFO is asked to shut down with
  SIGTERM (``guest.LxcGuest``), which libvirt 9 no longer sends;
- interface attach and detach work live on a running container
  (``hotplug_nic`` gives the new interface its name and MTU) and are undone
  when a step fails: a port is attached whole or not at all;
- suspend freezes the container (libvirt-LXC has no managed save) and
  resume thaws it; the console output is what the container wrote to its
  console from its start on (``console``), bounded;
- what libvirt-LXC cannot do is refused before anything changes: the
  capabilities below keep their traits off the compute node (so nova's API
  and scheduler say no), and live migration fails its pre-checks.

``tests/unit/test_driver_nova_flow.py`` fails when nova changes the methods
these overrides stand in for.
"""

import contextlib
import copy
import functools
import os

from lxml import etree

from nova import block_device
from nova.compute import power_state
from nova.compute import task_states
from nova import exception as nova_exception
from nova import objects
from nova.virt import driver as virt_driver
from nova.virt import event as virtevent
from nova.virt.image import model as imgmodel
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import utils as libvirt_utils
from nova.virt.libvirt import vif as libvirt_vif
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import fileutils
from oslo_utils import importutils

from nova_lxc_contrail import conf
from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail.disk import idmap
from nova_lxc_contrail import exception
from nova_lxc_contrail.virt import console
from nova_lxc_contrail.virt import guest as lxc_guest
from nova_lxc_contrail.virt import hotplug_nic
from nova_lxc_contrail.virt import imagebackend as lxc_imagebackend
from nova_lxc_contrail.virt import vif as lxc_vif

LOG = logging.getLogger(__name__)
CONF = conf.CONF


def load_vif_driver(class_path, host):
    """The VIF driver named by ``[libvirt] vif_driver``, built for ``host``."""
    try:
        cls = importutils.import_class(class_path)
    except (ImportError, ValueError, AttributeError) as e:
        raise exception.ConfigError(
            reason='[libvirt] vif_driver = %s cannot be imported: %s' % (
                class_path, e))
    if not (isinstance(cls, type) and
            issubclass(cls, libvirt_vif.LibvirtGenericVIFDriver)):
        raise exception.ConfigError(
            reason='[libvirt] vif_driver = %s is not a subclass of nova\'s '
                   'nova.virt.libvirt.vif.LibvirtGenericVIFDriver' %
                   class_path)
    return cls(host)


def container_dir(instance):
    """Where nova mounts an LXC instance's root filesystem."""
    return os.path.join(libvirt_utils.get_instance_path(instance), 'rootfs')


def configured_id_maps():
    """(uid maps, gid maps) of [libvirt] uid_maps/gid_maps, or None.

    :raises ConfigError: naming the option that is wrong
    """
    try:
        return idmap.container_maps(CONF.libvirt.uid_maps,
                                    CONF.libvirt.gid_maps)
    except idmap.MapError as exc:
        raise exception.ConfigError(reason=str(exc))


# What libvirt-LXC cannot do, and can. Each capability off keeps its trait
# off the compute node, so nova's API or scheduler refuses the request up
# front.
LXC_CAPABILITIES = {
    # libvirt-LXC shares no block device between domains.
    'supports_multiattach': False,
    # No emulated TPM, no Cyborg accelerators for a container.
    'supports_vtpm': False,
    'supports_accelerators': False,
    # Rescue of a volume-backed server attaches the volume as a second
    # disk; a container has no disk bus for it.
    'supports_bfv_rescue': False,
    # A container boots a filesystem, never a kernel or an ISO.
    'supports_image_type_aki': False,
    'supports_image_type_ari': False,
    'supports_image_type_ami': False,
    'supports_image_type_iso': False,
    'supports_image_type_ploop': False,
    # A cold migration to this very host is a resize to the same flavor
    # (the COMPUTE_SAME_HOST_COLD_MIGRATE trait lets the API pick it).
    'supports_migrate_to_same_host': True,
    # Live attach and detach of vRouter ports work (attach_interface). A
    # tag cannot be honoured: a container interface has no bus address for
    # nova's device metadata to name, so nova would drop it silently.
    'supports_attach_interface': True,
    'supports_tagged_attach_interface': False,
}


# Where a rescued container finds its own root filesystem.
RESCUE_ORIGINAL_ROOT = '/mnt'


def rescue_original_dir(instance):
    """Where the host mounts the original rootfs during a rescue."""
    return os.path.join(libvirt_utils.get_instance_path(instance),
                        'rootfs-original')


def with_original_root(xml, source_dir):
    """The domain XML with ``source_dir`` mounted at RESCUE_ORIGINAL_ROOT."""
    domain = etree.fromstring(xml)
    fs = etree.SubElement(domain.find('./devices'), 'filesystem',
                          type='mount', accessmode='passthrough')
    etree.SubElement(fs, 'source', dir=source_dir)
    etree.SubElement(fs, 'target', dir=RESCUE_ORIGINAL_ROOT)
    return etree.tostring(domain, encoding='unicode')


def instance_disk_format():
    """The format of instance disks made by [libvirt] images_type."""
    images_type = CONF.libvirt.images_type
    if images_type == 'default':
        images_type = 'qcow2' if CONF.use_cow_images else 'raw'
    return 'qcow2' if images_type == 'qcow2' else 'raw'


def check_virt_type():
    if CONF.libvirt.virt_type != 'lxc':
        raise exception.ConfigError(
            reason='compute_driver = lxc_contrail.LxcContrailDriver runs '
                   'libvirt-LXC containers only, but [libvirt] virt_type = %s;'
                   ' set [libvirt] virt_type = lxc, or use compute_driver = '
                   'libvirt.LibvirtDriver' % CONF.libvirt.virt_type)


class LxcContrailDriver(libvirt_driver.LibvirtDriver):

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        # nova's Host, built as nova builds it, handing out LxcGuests.
        self._host = lxc_guest.LxcHost(
            self._uri(), read_only,
            lifecycle_event_handler=self.emit_event,
            conn_event_handler=self._handle_conn_event)
        self.vif_driver = load_vif_driver(CONF.libvirt.vif_driver, self._host)
        self.image_backend = lxc_imagebackend.LxcImageBackend(
            CONF.use_cow_images)
        # Instances in a hard reboot: their ports stay plugged.
        self._keep_vifs_plugged = set()
        # (instance, device) detach_interface took out of the domain already.
        self._interfaces_taken_out = set()
        # Instances in a rescue or unrescue: uuid -> 'rescue'|'unrescue'.
        self._rescue_step = {}
        self.capabilities = dict(self.capabilities, **LXC_CAPABILITIES)

    def init_host(self, host):
        # Before touching libvirt, as nova does for its own config errors.
        check_virt_type()
        if configured_id_maps() is None:
            LOG.warning('[libvirt] uid_maps and gid_maps are not set: '
                        'containers run without a user namespace, their '
                        'root is root on this host')
        # nova cannot tell an LXC instance disk's format from the domain (a
        # <filesystem>, no <disk>) and snapshots with qemu-img convert -O
        # None: the image never reaches Glance. The instance disk is the
        # whole image, partition table included: snapshot it as it is.
        CONF.set_default('snapshot_image_format', instance_disk_format(),
                         group='libvirt')
        super().init_host(host)
        # A new nova-compute: the console readers went with the old one.
        for guest in self._host.list_guests():
            self._start_console_log(guest.uuid, guest)

    def _get_guest_config(self, instance, network_info, image_meta,
                          disk_info, *args, **kwargs):
        guest = super()._get_guest_config(instance, network_info, image_meta,
                                          disk_info, *args, **kwargs)
        if guest.idmaps and not any(
                isinstance(d, vconfig.LibvirtConfigGuestInterface)
                for d in guest.devices):
            # libvirt-LXC with <idmap> needs a network namespace of its own
            # (else the container's sysfs cannot be mounted): a server
            # without ports gets an empty one.
            guest.features.append(vconfig.LibvirtConfigGuestFeature('privnet'))
        return guest

    # --- container root filesystem (nova calls these three) ----------------

    def _create_domain_setup_lxc(self, context, instance, image_meta,
                                 block_device_info):
        rootfs_dir = container_dir(instance)
        image_model = self._lxc_image_model(context, instance,
                                            block_device_info)
        fileutils.ensure_tree(rootfs_dir)
        # In a user namespace the rootfs is an idmapped view (nova's
        # chown_for_id_maps cannot run on nova 34; its shift is the
        # fallback inside setup_container).
        rootfs_dev = disk_api.setup_container(
            image_model, rootfs_dir,
            root_partition=disk_api.root_partition_for_instance(instance),
            id_maps=configured_id_maps())
        # Saved where nova saves it, so that destroy can release the
        # device after nova-compute restarted.
        if rootfs_dev:
            instance.system_metadata['rootfs_device_name'] = rootfs_dev

    def _lxc_image_model(self, context, instance, block_device_info):
        root_bdm = block_device.get_root_bdm(
            virt_driver.block_device_info_get_mapping(block_device_info))
        if root_bdm:
            # Boot from volume: the volume is a local block device.
            connection_info = root_bdm['connection_info']
            self._connect_volume(context, connection_info, instance)
            return imgmodel.LocalBlockImage(
                connection_info['data']['device_path'])
        return self.image_backend.by_name(instance, 'disk').get_model(
            self._conn)

    def _create_domain_cleanup_lxc(self, instance):
        rootfs_dir = container_dir(instance)
        try:
            running = self.get_info(instance).state == power_state.RUNNING
        except nova_exception.InstanceNotFound:
            running = False
        if running:
            # nova unmounts the host's view here. libvirt starts the
            # container again from it, at nova's soft reboot or a reboot
            # from inside: it stays until destroy tears the rootfs down.
            LOG.debug('Keeping the container rootfs mounted at %s while '
                      'the domain exists', rootfs_dir, instance=instance)
        else:
            disk_api.teardown_container(
                rootfs_dir,
                instance.system_metadata.get('rootfs_device_name'))

    def _teardown_container(self, instance):
        rootfs_dir = container_dir(instance)
        rootfs_dev = instance.system_metadata.get('rootfs_device_name')
        LOG.debug('Tearing down the container rootfs at %s (device %s)',
                  rootfs_dir, rootfs_dev, instance=instance)
        disk_api.teardown_container(rootfs_dir, rootfs_dev)
        # A rescued container's own root, when there is one.
        original_dir = rescue_original_dir(instance)
        if os.path.isdir(original_dir):
            disk_api.teardown_container(original_dir)
            with contextlib.suppress(OSError):
                os.rmdir(original_dir)

    # --- reboot, stop and start keep the ports ------------------------------

    def _hard_reboot(self, context, instance, network_info, share_info,
                     block_device_info=None, accel_info=None):
        # nova's hard reboot (also its power on and host boot resume)
        # unplugs every port and plugs it again: the bridge the vRouter
        # attached to would go, and its registration with it. Plugging
        # again converges on what is there, so the ports stay plugged.
        with self._vifs_kept_plugged(instance):
            return super()._hard_reboot(
                context, instance, network_info, share_info,
                block_device_info=block_device_info, accel_info=accel_info)

    @contextlib.contextmanager
    def _vifs_kept_plugged(self, instance):
        self._keep_vifs_plugged.add(instance.uuid)
        try:
            yield
        finally:
            self._keep_vifs_plugged.discard(instance.uuid)

    # --- rebuild, resize and migration on this host keep the ports ---------

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        # nova's rebuild (the default one: libvirt has none) and the revert
        # of a resize destroy the instance, ports included, and create it
        # again here. The ports would come back as new devices, their
        # registrations deleted and added; they are the same ports on the
        # same host, so they stay plugged and the plug that follows
        # converges on them.
        with self._vifs_kept_plugged_if(
                self._recreated_here(context, instance), instance):
            return super().destroy(
                context, instance, network_info,
                block_device_info=block_device_info,
                destroy_disks=destroy_disks, destroy_secrets=destroy_secrets)

    def migrate_disk_and_power_off(self, context, instance, dest, flavor,
                                   network_info, block_device_info=None,
                                   timeout=0, retry_interval=0):
        # A resize or cold migration to this very host plugs the same ports
        # again in finish_migration.
        with self._vifs_kept_plugged_if(dest == self.get_host_ip_addr(),
                                        instance):
            return super().migrate_disk_and_power_off(
                context, instance, dest, flavor, network_info,
                block_device_info=block_device_info, timeout=timeout,
                retry_interval=retry_interval)

    def _recreated_here(self, context, instance):
        if instance.host != CONF.host:
            # Evacuated from here: the instance lives on another host now.
            return False
        if instance.task_state == task_states.REBUILDING:
            return True
        if (instance.task_state == task_states.RESIZE_REVERTING and
                instance.migration_context is not None):
            migration = objects.Migration.get_by_id(
                context, instance.migration_context.migration_id)
            return migration.source_compute == migration.dest_compute
        return False

    @contextlib.contextmanager
    def _vifs_kept_plugged_if(self, keep, instance):
        if not keep:
            yield
            return
        with self._vifs_kept_plugged(instance):
            yield

    # --- the instance disk: resize copies it, snapshot reads it -------------

    def _get_instance_disk_info_from_config(self, guest_config,
                                            block_device_info):
        # nova looks for <disk> devices; an LXC domain has a <filesystem>
        # mounted from the instance disk, so resize copied nothing (the
        # container came back from a fresh copy of the image) and the disk
        # was missing from the over-commit figures.
        disk = self._lxc_root_disk_config(guest_config)
        if disk is not None:
            guest_config = copy.copy(guest_config)
            guest_config.devices = list(guest_config.devices) + [disk]
        return super()._get_instance_disk_info_from_config(
            guest_config, block_device_info)

    @staticmethod
    def _lxc_root_disk_config(guest_config):
        """The image disk the container's rootfs comes from, as a <disk>."""
        rootfs = next((d for d in guest_config.devices
                       if isinstance(d, vconfig.LibvirtConfigGuestFilesys) and
                       d.target_dir == '/'), None)
        if rootfs is None or not rootfs.source_dir:
            return None
        path = os.path.join(os.path.dirname(rootfs.source_dir), 'disk')
        if not os.path.exists(path):
            return None         # booted from a volume
        disk = vconfig.LibvirtConfigGuestDisk()
        disk.source_type = 'file'
        disk.source_path = path
        disk.driver_format = instance_disk_format()
        disk.target_dev = 'rootfs'
        return disk

    @staticmethod
    def _disk_raw_to_qcow2(path):
        # nova's finish_migration turns a raw disk into qcow2 when
        # use_cow_images is on, leaving it to a raw (Flat) image backend
        # that still reports the disk as raw, and the container rootfs would
        # be mounted from the qcow2 bytes as raw. The disk stays as
        # [libvirt] images_type made it (and no whole-disk conversion runs).
        LOG.debug('Keeping %s raw, as [libvirt] images_type made it', path)

    def _suspend_guest_for_snapshot(self, context, live_snapshot,
                                    current_power_state, instance):
        # nova does nothing for LXC (it has no managed save). The disk is
        # copied under a mounted filesystem: freeze the container's
        # processes (libvirt suspends LXC with the freezer cgroup), then
        # flush the filesystem to the disk, so the copy is consistent.
        super()._suspend_guest_for_snapshot(
            context, live_snapshot, current_power_state, instance)
        if current_power_state != power_state.RUNNING:
            disk_api.flush_container(container_dir(instance))
            return
        guest = self._host.get_guest(instance)
        guest.pause()
        try:
            disk_api.flush_container(container_dir(instance))
        except Exception:
            with excutils.save_and_reraise_exception():
                # nova calls this before its own error handling: never
                # leave the container frozen.
                guest.resume()

    def _resume_guest_after_snapshot(self, context, live_snapshot,
                                     original_power_state, instance, guest):
        super()._resume_guest_after_snapshot(
            context, live_snapshot, original_power_state, instance, guest)
        if (original_power_state == power_state.RUNNING and
                guest.get_power_state(self._host) == power_state.PAUSED):
            guest.resume()

    def _unplug_vifs(self, instance, network_info, ignore_errors):
        if instance.uuid in self._keep_vifs_plugged:
            LOG.debug('Keeping the ports plugged: the instance is created '
                      'again on this host', instance=instance)
            return
        super()._unplug_vifs(instance, network_info, ignore_errors)

    # --- interface attach and detach, live ----------------------------------

    def attach_interface(self, context, instance, image_meta, vif):
        # nova plugs, attaches (undoing the plug when libvirt refuses) and
        # saves the device metadata.
        super().attach_interface(context, instance, image_meta, vif)
        if not lxc_vif.is_lxc_vrouter(vif, CONF.libvirt.virt_type):
            return
        guest = self._host.get_guest(instance)
        if guest.get_power_state(self._host) not in (power_state.RUNNING,
                                                     power_state.PAUSED):
            # Only in the persistent definition: the start names it.
            return
        try:
            # nova serialises attaches per port only: two at once would
            # pick the same free ethN.
            with lockutils.lock('lxc-contrail-nics-%s' % instance.uuid):
                hotplug_nic.finish(guest, vif)
        except Exception as e:
            LOG.error('Could not finish the interface of port %(port)s in '
                      'the container (%(err)s); detaching it again',
                      {'port': vif['id'], 'err': e}, instance=instance)
            try:
                self.detach_interface(context, instance, vif)
            except Exception:
                LOG.exception('Could not detach the interface of port %s '
                              'again', vif['id'], instance=instance)
            if isinstance(e, nova_exception.NovaException):
                raise
            raise exception.NovaLxcContrailError(
                reason='cannot finish the interface of port %s in the '
                       'container: %s' % (vif['id'], e)) from e

    def detach_interface(self, context, instance, vif):
        if not lxc_vif.is_lxc_vrouter(vif, CONF.libvirt.virt_type):
            return super().detach_interface(context, instance, vif)
        # nova unplugs the port even when libvirt could not take its
        # interface out of the domain: detach first, and keep the port
        # whole when that fails.
        self._detach_interface_from_domain(instance, vif)
        with self._interface_taken_out(instance,
                                       self.vif_driver.get_vif_devname(vif)):
            # nova's unplug and libvirt metadata update.
            super().detach_interface(context, instance, vif)

    def _detach_interface_from_domain(self, instance, vif):
        guest = self._host.get_guest(instance)
        cfg = self.vif_driver.get_config(instance, vif, instance.image_meta,
                                         instance.flavor,
                                         CONF.libvirt.virt_type)
        get_dev = functools.partial(guest.get_interface_by_cfg, cfg)
        device_name = self.vif_driver.get_vif_devname(vif)
        try:
            self._detach_with_retry(guest, instance.uuid, get_dev,
                                    device_name=device_name)
        except nova_exception.DeviceNotFound:
            LOG.info('The interface of port %s is not in the domain; '
                     'unplugging it', vif['id'], instance=instance)
        except Exception as e:
            with excutils.save_and_reraise_exception(reraise=False):
                self._keep_persistent_interface(guest, cfg, get_dev, instance)
            if isinstance(e, nova_exception.NovaException):
                raise
            raise nova_exception.DeviceDetachFailed(
                device=device_name, reason=str(e)) from e

    @staticmethod
    def _keep_persistent_interface(guest, cfg, get_dev, instance):
        """The interface the container still has stays in its definition.

        nova detaches from the persistent definition before the live
        domain: a live detach that failed would lose the interface at the
        next start.
        """
        if (get_dev() is not None and
                get_dev(from_persistent_config=True) is None):
            LOG.warning('The live detach failed: adding the interface back '
                        'to the persistent definition', instance=instance)
            guest.attach_device(cfg, persistent=True, live=False)

    @contextlib.contextmanager
    def _interface_taken_out(self, instance, device_name):
        key = (instance.uuid, device_name)
        self._interfaces_taken_out.add(key)
        try:
            yield
        finally:
            self._interfaces_taken_out.discard(key)

    def _detach_with_retry(self, guest, instance_uuid, get_device_conf_func,
                           device_name):
        if (instance_uuid, device_name) in self._interfaces_taken_out:
            return
        super()._detach_with_retry(guest, instance_uuid,
                                   get_device_conf_func, device_name)

    def _detach_from_live_and_wait_for_event(self, dev, guest, instance_uuid,
                                             device_name):
        # libvirt-LXC detaches synchronously: its devices have no alias and
        # it sends no removal event, which nova would wait for (and refuse
        # to without an alias). nova's retry loop checks the device went.
        self._detach_sync(dev, guest, instance_uuid, device_name,
                          persistent=False, live=True)

    # --- pause, suspend, resume ---------------------------------------------

    def suspend(self, context, instance):
        # nova saves the memory to a file (managed save), which libvirt-LXC
        # lacks. Freezing the container's cgroup is what libvirt-LXC has:
        # nothing runs, memory and ports stay. The power state reads
        # PAUSED, which nova's power-state sync leaves alone for a
        # SUSPENDED server.
        self._host.get_guest(instance).pause()

    def resume(self, context, instance, network_info, block_device_info=None,
               share_info=None):
        guest = self._host.get_guest(instance)
        if guest.get_power_state(self._host) == power_state.PAUSED:
            guest.resume()
            return
        # Not frozen: the host rebooted (nova leaves a suspended server
        # alone at boot) or the domain stopped. Start it afresh, as nova's
        # host boot resume does, ports kept plugged.
        LOG.info('The suspended container is not running any more: '
                 'starting it again', instance=instance)
        self._hard_reboot(context, instance, network_info,
                          share_info or objects.ShareMappingList(),
                          block_device_info)

    # --- live migration: libvirt-LXC has none ------------------------------

    def check_can_live_migrate_destination(self, context, instance,
                                           src_compute_info,
                                           dst_compute_info,
                                           block_migration=False,
                                           disk_over_commit=False):
        raise nova_exception.MigrationPreCheckError(
            reason='libvirt-LXC cannot live migrate a container (compute '
                   'driver lxc_contrail.LxcContrailDriver); cold migrate '
                   'it instead')

    def check_can_live_migrate_source(self, context, instance,
                                      dest_check_data,
                                      block_device_info=None):
        return self.check_can_live_migrate_destination(
            context, instance, None, None)

    # --- console output ----------------------------------------------------

    def _create_guest(self, context, xml, instance, power_on=True,
                      pause=False, post_xml_callback=None):
        step = self._rescue_step.get(instance.uuid)
        if step == 'rescue':
            disks = self._rescue_rootfs(instance)
            xml = with_original_root(xml, rescue_original_dir(instance))
        elif step == 'unrescue':
            # nova's unrescue starts the saved domain without the LXC
            # rootfs step of its spawn.
            disks = self._lxc_disk_handler(context, instance,
                                           instance.image_meta, None)
        else:
            disks = contextlib.nullcontext()
        with disks:
            guest = super()._create_guest(
                context, xml, instance, power_on=power_on, pause=pause,
                post_xml_callback=post_xml_callback)
        if power_on or pause:
            self._start_console_log(instance.uuid, guest)
        return guest

    def emit_event(self, event):
        # libvirt started the container by itself (a reboot from inside):
        # a new controller, a new console pty.
        if (isinstance(event, virtevent.LifecycleEvent) and
                event.transition in (virtevent.EVENT_LIFECYCLE_STARTED,
                                     virtevent.EVENT_LIFECYCLE_RESUMED)):
            try:
                self._start_console_log(event.uuid, self._host.get_guest(
                    objects.Instance(uuid=event.uuid)))
            except nova_exception.InstanceNotFound:
                pass
        super().emit_event(event)

    def _start_console_log(self, instance_uuid, guest):
        """Drain the running guest's console into its instance's log."""
        try:
            pty = console.pty_path(guest.get_xml_desc())
            if pty:
                console.start_log(
                    pty, self._get_console_log_path(
                        objects.Instance(uuid=instance_uuid)),
                    CONF.lxc_contrail.console_log_bytes)
        except Exception:
            # The container runs without it; the log misses its output.
            LOG.warning('Cannot keep the console log of instance %s',
                        instance_uuid, exc_info=True)

    def get_console_output(self, context, instance):
        guest = self._host.get_guest(instance)
        self._start_console_log(instance.uuid, guest)
        return console.read_log(self._get_console_log_path(instance),
                                CONF.lxc_contrail.console_log_bytes)

    # --- rescue: the rescue image's root, the server's own at /mnt ----------

    def rescue(self, context, instance, network_info, image_meta,
               rescue_password, block_device_info, share_info):
        # nova's flow (unrescue.xml, the disk.rescue image, destroy, a new
        # domain); the domain starts on the rescue image's root partition
        # with the server's own root filesystem at RESCUE_ORIGINAL_ROOT.
        # The ports stay plugged: nova's destroy does not unplug.
        with self._rescue_step_of(instance, 'rescue'):
            super().rescue(context, instance, network_info, image_meta,
                           rescue_password, block_device_info, share_info)

    def unrescue(self, context, instance):
        with self._rescue_step_of(instance, 'unrescue'):
            super().unrescue(context, instance)

    @contextlib.contextmanager
    def _rescue_step_of(self, instance, step):
        self._rescue_step[instance.uuid] = step
        try:
            yield
        finally:
            self._rescue_step.pop(instance.uuid, None)

    @contextlib.contextmanager
    def _rescue_rootfs(self, instance):
        """Mount the rescue rootfs and, beside it, the server's own."""
        rootfs_dir = container_dir(instance)
        original_dir = rescue_original_dir(instance)
        try:
            fileutils.ensure_tree(rootfs_dir)
            # The rescue image's own root partition ([lxc_contrail]
            # root_partition; the server's lxc_root_partition is its image's).
            disk_api.setup_container(
                self.image_backend.by_name(
                    instance, 'disk.rescue').get_model(self._conn),
                rootfs_dir)
            fileutils.ensure_tree(original_dir)
            disk_api.setup_container(
                self.image_backend.by_name(
                    instance, 'disk').get_model(self._conn),
                original_dir,
                root_partition=disk_api.root_partition_for_instance(
                    instance))
            yield
        except Exception:
            with excutils.save_and_reraise_exception():
                self._teardown_container(instance)
