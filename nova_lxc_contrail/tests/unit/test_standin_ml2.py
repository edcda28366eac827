"""The ML2 mechanism driver stand-in binds ports to the vRouter.

bind_port is driven with a port context that implements neutron-lib's own
abstract PortContext (a subclass of the ABC: a changed interface breaks
this test), and the driver is loaded the way neutron's mechanism manager
loads drivers: stevedore, by name, from this package's entry point.
"""

import importlib.metadata

from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api
from stevedore import driver as stevedore_driver
import testtools

from nova_lxc_contrail.standin import ml2

NAMESPACE = 'neutron.ml2.mechanism_drivers'
PORT_ID = '93c2c386-6e79-485e-bfa4-b9daa713133b'
NETWORK_ID = '56297dc0-5553-4e6a-b87f-8423afc21e9d'
SEGMENTS = [
    {api.ID: 'a3c4e1f2-0000-4000-8000-000000000001', api.NETWORK_TYPE: 'vxlan',
     api.PHYSICAL_NETWORK: None, api.SEGMENTATION_ID: 1001, api.MTU: 1450},
    {api.ID: 'a3c4e1f2-0000-4000-8000-000000000002', api.NETWORK_TYPE: 'vlan',
     api.PHYSICAL_NETWORK: 'physnet1', api.SEGMENTATION_ID: 42,
     api.MTU: 1500},
]


class PortContext(api.PortContext):
    """A port being bound on a host; records what the driver sets."""

    def __init__(self, port, segments, host='compute-1'):
        self._port = port
        self._segments = segments
        self._host = host
        self.bindings = []
        self.continued = []

    @property
    def current(self):
        return self._port

    @property
    def original(self):
        return None

    @property
    def status(self):
        return self._port.get('status', constants.PORT_STATUS_DOWN)

    @property
    def original_status(self):
        return None

    @property
    def network(self):
        return None

    @property
    def binding_levels(self):
        return None

    @property
    def original_binding_levels(self):
        return None

    @property
    def top_bound_segment(self):
        return None

    @property
    def original_top_bound_segment(self):
        return None

    @property
    def bottom_bound_segment(self):
        return None

    @property
    def original_bottom_bound_segment(self):
        return None

    @property
    def host(self):
        return self._host

    @property
    def original_host(self):
        return None

    @property
    def vif_type(self):
        return portbindings.VIF_TYPE_UNBOUND

    @property
    def original_vif_type(self):
        return None

    @property
    def vif_details(self):
        return None

    @property
    def original_vif_details(self):
        return None

    @property
    def segments_to_bind(self):
        return self._segments

    def host_agents(self, agent_type):
        # A vRouter host runs no neutron agent.
        return []

    def set_binding(self, segment_id, vif_type, vif_details, status=None):
        self.bindings.append((segment_id, vif_type, vif_details, status))

    def continue_binding(self, segment_id, next_segments_to_bind):
        self.continued.append((segment_id, next_segments_to_bind))

    def allocate_dynamic_segment(self, segment):
        raise AssertionError('the vRouter allocates no segment')

    def release_dynamic_segment(self, segment_id):
        raise AssertionError('the vRouter releases no segment')


def port(**fields):
    body = {'id': PORT_ID, 'network_id': NETWORK_ID,
            'mac_address': '02:93:c2:c3:86:6e',
            'status': constants.PORT_STATUS_DOWN,
            portbindings.HOST_ID: 'compute-1'}
    body.update(fields)
    return body


class TestBindPort(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.driver = ml2.VrouterStandinMechanismDriver()
        self.driver.initialize()

    def test_double_implements_the_whole_port_context(self):
        # An abstract member left unimplemented (neutron-lib grew one)
        # makes the double impossible to instantiate.
        self.assertEqual(frozenset(), PortContext.__abstractmethods__)
        self.assertIsInstance(PortContext(port(), SEGMENTS), api.PortContext)
        self.assertIsInstance(self.driver, api.MechanismDriver)

    def test_normal_port_is_bound_to_the_first_segment_as_vrouter(self):
        context = PortContext(
            port(**{portbindings.VNIC_TYPE: portbindings.VNIC_NORMAL}),
            SEGMENTS)
        self.driver.bind_port(context)
        self.assertEqual(
            [(SEGMENTS[0][api.ID], 'vrouter', {'port_filter': False},
              'ACTIVE')], context.bindings)
        self.assertEqual([], context.continued)

    def test_port_without_vnic_type_counts_as_normal(self):
        context = PortContext(port(), SEGMENTS[1:])
        self.driver.bind_port(context)
        self.assertEqual(
            [(SEGMENTS[1][api.ID], 'vrouter',
              {portbindings.CAP_PORT_FILTER: False},
              constants.PORT_STATUS_ACTIVE)], context.bindings)

    def test_other_vnic_types_are_left_unbound(self):
        for vnic_type in (portbindings.VNIC_DIRECT, portbindings.VNIC_MACVTAP,
                          portbindings.VNIC_DIRECT_PHYSICAL):
            context = PortContext(port(**{portbindings.VNIC_TYPE: vnic_type}),
                                  SEGMENTS)
            self.driver.bind_port(context)
            self.assertEqual([], context.bindings, vnic_type)
            self.assertEqual([], context.continued, vnic_type)

    def test_no_segment_to_bind_binds_nothing(self):
        context = PortContext(port(), [])
        self.driver.bind_port(context)
        self.assertEqual([], context.bindings)


class TestEntryPoint(testtools.TestCase):

    def test_setup_cfg_entry_point_names_the_class(self):
        entry_point, = [
            ep for ep in importlib.metadata.entry_points(group=NAMESPACE)
            if ep.name == 'vrouter_standin']
        self.assertEqual('nova-lxc-contrail', entry_point.dist.name)
        self.assertIs(ml2.VrouterStandinMechanismDriver, entry_point.load())

    def test_neutron_loads_it_by_name(self):
        # ML2's MechanismManager: stevedore, mechanism_drivers by name.
        manager = stevedore_driver.DriverManager(
            NAMESPACE, 'vrouter_standin', invoke_on_load=True)
        self.assertIsInstance(manager.driver,
                              ml2.VrouterStandinMechanismDriver)
