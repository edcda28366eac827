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
import os

from nova import block_device
from nova.compute import power_state
from nova import exception as nova_exception
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
from nova_lxc_contrail.disk import idmap
from nova_lxc_contrail import exception
from nova_lxc_contrail.virt import container_mtu
from nova_lxc_contrail.virt import guest as lxc_guest

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
        # Instances in a hard reboot: their ports stay plugged.
        self._keep_vifs_plugged = set()

    def init_host(self, host):
        # Before touching libvirt, as nova does for its own config errors.
        check_virt_type()
        if configured_id_maps() is None:
            LOG.warning('[libvirt] uid_maps and gid_maps are not set: '
                        'containers run without a user namespace, their '
                        'root is root on this host')
        super().init_host(host)

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

    def _unplug_vifs(self, instance, network_info, ignore_errors):
        if instance.uuid in self._keep_vifs_plugged:
            LOG.debug('Keeping the ports plugged through a hard reboot',
                      instance=instance)
            return
        super()._unplug_vifs(instance, network_info, ignore_errors)
