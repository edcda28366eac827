"""Nova's libvirt VIF driver, extended for vRouter ports of LXC guests.

For ``vif_type == 'vrouter'`` (normal vNIC) with ``virt_type == 'lxc'``:

* the guest interface is ``<interface type='bridge'>`` on the port's own
  bridge, with the port's MAC, the network MTU and the flavor's bandwidth
  quota; its ``<target dev>`` (the host end of the veth pair libvirt-LXC
  creates) is ``ve`` + port id, not the tap's name, which would clash;
* plug and unplug go through os-vif with the ``lxc_contrail`` plugin.

Every other VIF or virt type is nova's own behaviour.
"""

import os_vif
from os_vif import exception as osv_exception
from os_vif.objects import vif as osv_vifs
from oslo_log import log as logging

import nova.conf
from nova import exception as nova_exception
from nova.network import model as network_model
from nova.network import os_vif_util
from nova.virt.libvirt import designer
from nova.virt.libvirt import vif as libvirt_vif

from nova_lxc_contrail import exception
from nova_lxc_contrail.vif import agent
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.vif import plugin

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF

LXC = 'lxc'


def is_lxc_vrouter(vif, virt_type):
    """Whether this driver, not nova's, handles the VIF."""
    return (vif.get('type') == network_model.VIF_TYPE_VROUTER and
            virt_type == LXC and
            vif.get('vnic_type', network_model.VNIC_TYPE_NORMAL) ==
            network_model.VNIC_TYPE_NORMAL)


def nova_to_lxc_osvif(vif):
    """The os-vif VIFBridge the ``lxc_contrail`` plugin plugs.

    Built from nova's own conversion of the vrouter VIF (a VIFGeneric for
    plugin 'vrouter'), keeping its id, MAC, network, flags.
    """
    if not vif.get('id'):
        raise exception.InvalidPort(port='(no id)',
                                    reason='the VIF has no port id')
    pid = naming.port_id(vif['id'])
    if not vif.get('address'):
        raise exception.InvalidPort(port=pid,
                                    reason='the VIF has no MAC address')
    agent.validate_mac(vif['address'], pid)
    if not vif.get('network'):
        raise exception.InvalidPort(
            port=pid, reason='the VIF has no network (the vRouter needs the '
            'virtual network id)')
    generic = os_vif_util.nova_to_osvif_vif(vif)
    return osv_vifs.VIFBridge(
        id=generic.id,
        address=generic.address,
        network=generic.network,
        has_traffic_filtering=generic.has_traffic_filtering,
        preserve_on_delete=generic.preserve_on_delete,
        active=generic.active,
        plugin=plugin.PLUGIN_NAME,
        vif_name=naming.tap_name(pid),
        bridge_name=naming.bridge_name(pid))


def lxc_instance_info(instance):
    """os-vif InstanceInfo; its name is the display name the agent shows."""
    info = os_vif_util.nova_to_osvif_instance(instance)
    if 'display_name' in instance and instance.display_name:
        info.name = instance.display_name
    return info


class LxcContrailVIFDriver(libvirt_vif.LibvirtGenericVIFDriver):
    """LibvirtGenericVIFDriver plus vRouter ports for libvirt-LXC."""

    def get_config(self, instance, vif, image_meta, flavor, virt_type):
        if not is_lxc_vrouter(vif, virt_type):
            return super().get_config(instance, vif, image_meta, flavor,
                                      virt_type)
        vif_obj = nova_to_lxc_osvif(vif)
        conf = self.get_base_config(instance, vif_obj.address, image_meta,
                                    flavor, virt_type, vif['vnic_type'])
        conf.net_type = 'bridge'
        conf.source_dev = vif_obj.bridge_name
        conf.target_dev = naming.veth_name(vif_obj.id)
        designer.set_vif_bandwidth_config(conf, flavor)
        # libvirt-LXC ignores <mtu> on bridge interfaces today; it stays in
        # the XML for the record and for libvirt versions that honour it.
        network = vif_obj.network
        if network is not None and 'mtu' in network and network.mtu:
            designer.set_vif_mtu_config(conf, network.mtu)
        return conf

    def plug(self, instance, vif):
        if not is_lxc_vrouter(vif, CONF.libvirt.virt_type):
            return super().plug(instance, vif)
        try:
            os_vif.plug(nova_to_lxc_osvif(vif), lxc_instance_info(instance))
        except osv_exception.ExceptionBase as e:
            # os-vif puts the plugin's error after the VIF's long repr, and
            # nova keeps 255 characters of a fault: raise our own error.
            cause = e.kwargs.get('err')
            if isinstance(cause, exception.NovaLxcContrailError):
                raise cause from e
            raise nova_exception.InternalError(
                'Failure running os_vif plugin plug method: %s' % e)

    def unplug(self, instance, vif):
        if not is_lxc_vrouter(vif, CONF.libvirt.virt_type):
            return super().unplug(instance, vif)
        try:
            os_vif.unplug(nova_to_lxc_osvif(vif),
                          lxc_instance_info(instance))
        except osv_exception.ExceptionBase as e:
            raise nova_exception.InternalError(
                'Failure running os_vif plugin unplug method: %s' % e)
