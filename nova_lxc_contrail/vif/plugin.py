"""os-vif plugin ``lxc_contrail``: LXC ports on the vRouter.

Plug: per port a tap, a bridge holding it (promiscuous, because the vRouter
attaches to the bridge and must see frames for foreign MACs), then the port
file and ``POST /port`` registering the **bridge** as a NovaVMPort (type 0).
Unplug: port file, ``DELETE /port/<uuid>``, both devices in one batch.
Everything is validated before anything changes; plug and unplug of the
same port are serialised, different ports run in parallel.
"""

import threading

from os_vif.objects import host_info
from os_vif.objects import vif as osv_vifs
from os_vif import plugin
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import excutils

from nova_lxc_contrail import conf as nlc_conf
from nova_lxc_contrail import exception
from nova_lxc_contrail.vif import agent
from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.vif import naming

LOG = logging.getLogger(__name__)
CONF = nlc_conf.CONF

PLUGIN_NAME = 'lxc_contrail'
LOCK_PREFIX = 'nova-lxc-contrail-port-'
MIN_MTU = 68
MAX_MTU = 65535


def port_lock(port_id):
    """The lock serialising plug and unplug of one port.

    Across processes (nova-compute, the CLI) when
    ``[oslo_concurrency] lock_path`` is set, as nova requires; within this
    process otherwise.
    """
    external = bool(CONF.oslo_concurrency.lock_path)
    return lockutils.lock(LOCK_PREFIX + naming.port_id(port_id),
                          external=external)


def port_devices(vif):
    """``(port_id, tap, bridge)`` of a VIF, validated.

    A VIFBridge names both devices; missing names default to the ones
    ``naming`` derives from the port id.
    """
    vif_id = vif.id if 'id' in vif else None
    if not vif_id:
        raise exception.InvalidPort(port='(no id)',
                                    reason='the VIF has no port id')
    pid = naming.port_id(str(vif_id))
    tap = (vif.vif_name if 'vif_name' in vif and vif.vif_name
           else naming.tap_name(pid))
    bridge = (vif.bridge_name if 'bridge_name' in vif and vif.bridge_name
              else naming.bridge_name(pid))
    naming.validate_ifname(tap, 'tap name')
    naming.validate_ifname(bridge, 'bridge name')
    if tap == bridge:
        raise exception.InvalidPort(
            port=pid, reason='tap and bridge are both named %s' % tap)
    return pid, tap, bridge


def network_mtu(vif, pid):
    network = vif.network if 'network' in vif else None
    mtu = network.mtu if network is not None and 'mtu' in network else None
    if mtu is None:
        return None
    if not MIN_MTU <= mtu <= MAX_MTU:
        raise exception.InvalidPort(
            port=pid, reason='network MTU %s is outside %d..%d' %
            (mtu, MIN_MTU, MAX_MTU))
    return mtu


class LxcContrailPlugin(plugin.PluginBase):
    """Plugs ``VIFBridge`` objects (``plugin='lxc_contrail'``)."""

    def __init__(self, config):
        super().__init__(config)
        self._client = None
        self._client_key = None
        self._client_lock = threading.Lock()

    def describe(self):
        return host_info.HostPluginInfo(
            plugin_name=PLUGIN_NAME,
            vif_info=[host_info.HostVIFInfo(
                vif_object_name=osv_vifs.VIFBridge.__name__,
                min_version='1.0', max_version='1.0')])

    def agent_client(self):
        """The kept-alive client, rebuilt when its options change."""
        group = CONF.lxc_contrail
        key = (group.agent_url, group.agent_connect_timeout,
               group.agent_read_timeout)
        with self._client_lock:
            if self._client_key != key:
                if self._client is not None:
                    self._client.close()
                self._client = agent.AgentClient(*key)
                self._client_key = key
            return self._client

    def plug(self, vif, instance_info):
        pid, tap, bridge = port_devices(vif)
        mtu = network_mtu(vif, pid)
        payload = agent.build_payload(vif, instance_info, bridge)
        promiscuous = CONF.lxc_contrail.bridge_promiscuous
        with port_lock(pid):
            created = linux_net.plug_devices(tap, bridge, mtu, promiscuous)
            try:
                self._register(payload)
            except Exception:
                with excutils.save_and_reraise_exception():
                    if created:
                        linux_net.unplug_devices(
                            tap if tap in created else None,
                            bridge if bridge in created else None)

    def _register(self, payload):
        files = agent.PortFiles()
        client = self.agent_client()
        pid = payload['id']
        old = files.read(pid)
        changed = (agent.registration_changes(old, payload)
                   if old is not None else None)
        if changed:
            # The agent ignores changes on a duplicate add.
            LOG.info('Port %(port)s registration changed (%(keys)s): '
                     'deleting it from the vRouter agent first',
                     {'port': pid, 'keys': ', '.join(changed)})
            files.remove(pid)
            client.unregister(pid)
        wrote = old is None or bool(changed)
        if wrote:
            files.write(payload)
        try:
            client.register(payload)
        except exception.AgentError:
            with excutils.save_and_reraise_exception():
                if wrote:
                    files.remove(pid)

    def unplug(self, vif, instance_info):
        pid, tap, bridge = port_devices(vif)
        with port_lock(pid):
            agent.PortFiles().remove(pid)
            try:
                self.agent_client().unregister(pid)
            except exception.AgentError as e:
                LOG.warning('Removing port %(port)s anyway: %(err)s',
                            {'port': pid, 'err': e})
            linux_net.unplug_devices(tap, bridge)
