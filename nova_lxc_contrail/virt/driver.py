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
- after a container starts (spawn, hard reboot, soft reboot), its vRouter
  interfaces get the network MTU, which libvirt-LXC ignores;
- a hard reboot (nova's power on and host boot resume are hard reboots)
  keeps the ports plugged: the per-port bridge and its vRouter agent
  registration survive reboots, stop and start;
- a container whose init has no initctl FIFO is asked to shut down with
  SIGTERM (``guest.LxcGuest``), which libvirt 9 no longer sends.

``tests/unit/test_driver_nova_flow.py`` fails when nova changes the methods
these overrides stand in for.
"""

import contextlib
import copy
import os

from nova import block_device
from nova.compute import power_state
from nova.compute import task_states
from nova import exception as nova_exception
from nova import objects
from nova.virt import driver as virt_driver
from nova.virt.image import model as imgmodel
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import utils as libvirt_utils
from nova.virt.libvirt import vif as libvirt_vif
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import fileutils
from oslo_utils import importutils

from nova_lxc_contrail import conf
from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail import exception
from nova_lxc_contrail.virt import container_mtu
from nova_lxc_contrail.virt import guest as lxc_guest
from nova_lxc_contrail.virt import imagebackend as lxc_imagebackend

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
        # A cold migration to this very host is a resize to the same flavor
        # (the COMPUTE_SAME_HOST_COLD_MIGRATE trait lets the API pick it).
        self.capabilities = dict(self.capabilities,
                                 supports_migrate_to_same_host=True)
        # Instances in a hard reboot: their ports stay plugged.
        self._keep_vifs_plugged = set()

    def init_host(self, host):
        # Before touching libvirt, as nova does for its own config errors.
        check_virt_type()
        # nova cannot tell an LXC instance disk's format from the domain (a
        # <filesystem>, no <disk>) and snapshots with qemu-img convert -O
        # None: the image never reaches Glance. The instance disk is the
        # whole image, partition table included: snapshot it as it is.
        CONF.set_default('snapshot_image_format', instance_disk_format(),
                         group='libvirt')
        super().init_host(host)

    # --- container root filesystem (nova calls these three) ----------------

    def _create_domain_setup_lxc(self, context, instance, image_meta,
                                 block_device_info):
        rootfs_dir = container_dir(instance)
        image_model = self._lxc_image_model(context, instance,
                                            block_device_info)
        fileutils.ensure_tree(rootfs_dir)
        rootfs_dev = disk_api.setup_container(
            image_model, rootfs_dir,
            root_partition=disk_api.root_partition_for_instance(instance))
        try:
            # Saved where nova saves it, so that destroy can release the
            # device after nova-compute restarted.
            if rootfs_dev:
                instance.system_metadata['rootfs_device_name'] = rootfs_dev
            if CONF.libvirt.uid_maps or CONF.libvirt.gid_maps:
                libvirt_utils.chown_for_id_maps(rootfs_dir,
                                                self._get_guest_idmaps())
        except Exception:
            with excutils.save_and_reraise_exception():
                self._create_domain_cleanup_lxc(instance)

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

    # --- network MTU ---------------------------------------------------------

    def _create_guest_with_network(self, context, xml, instance,
                                   network_info, block_device_info,
                                   power_on=True, **kwargs):
        guest = super()._create_guest_with_network(
            context, xml, instance, network_info, block_device_info,
            power_on=power_on, **kwargs)
        if power_on:
            try:
                # The returned Guest keeps the id its domain had when it was
                # defined (-1): libvirt does not refresh it on start.
                container_mtu.apply(self._host.get_guest(instance),
                                    network_info)
            except Exception:
                with excutils.save_and_reraise_exception():
                    LOG.error('Could not give the container its network '
                              'MTU; stopping it', instance=instance)
                    self._destroy(instance)
        return guest

    def _soft_reboot(self, instance):
        if not super()._soft_reboot(instance):
            return False
        # libvirt started the container again (nova's relaunch, or its own
        # restart after init rebooted), not _create_guest_with_network.
        try:
            container_mtu.apply(self._host.get_guest(instance),
                                instance.get_network_info())
        except Exception:
            LOG.warning('Could not give the soft rebooted container its '
                        'network MTU; falling back to a hard reboot',
                        exc_info=True, instance=instance)
            return False
        return True

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
