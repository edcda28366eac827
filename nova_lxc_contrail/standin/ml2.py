"""A neutron ML2 mechanism driver standing in for Contrail's port binding.

On a Contrail cloud neutron binds every port of a compute host to the
vRouter: ``binding:vif_type = vrouter``, and the port is ACTIVE as soon as
it is bound (the vRouter agent, not a neutron agent, plugs it). This driver
does the same for any network type, so that a DevStack cloud with no
Contrail controller, no OVS and no neutron agents boots servers on vRouter
ports. Loaded by neutron (entry point ``vrouter_standin`` in
``neutron.ml2.mechanism_drivers``); imports neutron-lib, which only
neutron's environment has.
"""

from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

VIF_TYPE_VROUTER = 'vrouter'


class VrouterStandinMechanismDriver(api.MechanismDriver):

    def initialize(self):
        LOG.info('vRouter stand-in binds ports with vif_type %s',
                 VIF_TYPE_VROUTER)

    def bind_port(self, context):
        port = context.current
        vnic_type = port.get(portbindings.VNIC_TYPE,
                             portbindings.VNIC_NORMAL)
        if vnic_type != portbindings.VNIC_NORMAL:
            LOG.debug('Not binding port %s: vnic_type %s', port['id'],
                      vnic_type)
            return
        for segment in context.segments_to_bind:
            # The vRouter takes any segment: its overlay is its own.
            context.set_binding(segment[api.ID], VIF_TYPE_VROUTER,
                                {portbindings.CAP_PORT_FILTER: False},
                                status=constants.PORT_STATUS_ACTIVE)
            LOG.debug('Bound port %s on host %s to segment %s', port['id'],
                      context.host, segment[api.ID])
            return
