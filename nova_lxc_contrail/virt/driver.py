"""LxcContrailDriver: nova's libvirt driver for LXC on vRouter compute hosts.

Load it with ``compute_driver = lxc_contrail.LxcContrailDriver``. It is
nova's ``LibvirtDriver`` with these changes, each as small as nova allows:

- the VIF driver comes from ``[libvirt] vif_driver`` (default
  ``LxcContrailVIFDriver``) instead of being hard-coded;
- ``[libvirt] virt_type`` must be ``lxc``;
- the container root filesystem goes through this package's
  partition-aware ``disk.api`` (nova's mounts the whole image); the three
  methods that call nova's disk API are overridden, keeping nova's flow;
- after a container starts, its vRouter interfaces get the network MTU,
  which libvirt-LXC ignores;
- power on keeps the ports that power off left plugged, so the per-port
  bridge and its vRouter agent registration survive a stop and start.

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
        self.vif_driver = load_vif_driver(CONF.libvirt.vif_driver, self._host)
        # Instances being powered on: their ports stay plugged (power_on).
        self._keep_vifs_plugged = set()

    def init_host(self, host):
        # Before touching libvirt, as nova does for its own config errors.
        check_virt_type()
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
            # The container has its own mount namespace now: only the
            # host's view of the rootfs goes; the device stays attached.
            disk_api.clean_lxc_namespace(rootfs_dir)
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

    # --- stop and start keep the ports -------------------------------------

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        # nova powers on through its hard reboot, which unplugs and plugs
        # every port again. power_off left them plugged: keep them, so the
        # bridge the vRouter attached to and its registration stay put.
        with self._vifs_kept_plugged(instance):
            super().power_on(context, instance, network_info,
                             block_device_info=block_device_info,
                             accel_info=accel_info, share_info=share_info)

    @contextlib.contextmanager
    def _vifs_kept_plugged(self, instance):
        self._keep_vifs_plugged.add(instance.uuid)
        try:
            yield
        finally:
            self._keep_vifs_plugged.discard(instance.uuid)

    def _unplug_vifs(self, instance, network_info, ignore_errors):
        if instance.uuid in self._keep_vifs_plugged:
            LOG.debug('Keeping the ports plugged while powering on',
                      instance=instance)
            return
        super()._unplug_vifs(instance, network_info, ignore_errors)
