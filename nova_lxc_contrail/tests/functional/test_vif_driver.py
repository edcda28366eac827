"""LxcContrailVIFDriver plugs through os-vif into the real kernel."""

from nova import exception as nova_exception
from nova.network import model
from nova import objects
from oslo_config import fixture as config_fixture

from nova_lxc_contrail import exception
from nova_lxc_contrail.tests.functional import test_vif_plug
from nova_lxc_contrail.tests.unit import test_vif_driver as unit
from nova_lxc_contrail.tests import vif_fixtures as vf
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.virt import vif as lxc_vif


class TestNovaDriver(test_vif_plug.VifTestCase):

    def setUp(self):
        super().setUp()
        objects.register_all()
        conf = self.useFixture(config_fixture.Config(lxc_vif.CONF))
        conf.config(group='libvirt', virt_type='lxc')
        self.pid = vf.new_port_id()
        self.addCleanup(self.cleanup_port, self.pid)
        self.vif = unit.nova_vif(id=self.pid, address=vf.mac_for(self.pid),
                                 devname=naming.tap_name(self.pid))
        self.instance = objects.Instance(
            id=7, uuid=vf.INSTANCE_ID, display_name='web 1',
            project_id=vf.PROJECT_ID)
        self.driver = lxc_vif.LxcContrailVIFDriver(None)

    def test_plug_get_config_unplug(self):
        self.driver.plug(self.instance, self.vif)
        v = lxc_vif.nova_to_lxc_osvif(self.vif)
        self.assertPlugged(v)
        entry = self.standin.registrations[self.pid]
        self.assertEqual(('web 1', naming.bridge_name(self.pid), 0,
                          '11.0.0.3'),
                         (entry['display-name'], entry['system-name'],
                          entry['type'], entry['ip-address']))
        conf = self.driver.get_config(
            self.instance, self.vif, objects.ImageMeta.from_dict({}),
            objects.Flavor(vcpus=1, extra_specs={}), 'lxc')
        self.assertEqual((naming.bridge_name(self.pid),
                          naming.veth_name(self.pid)),
                         (conf.source_dev, conf.target_dev))
        # libvirt creates the veth: the name must be free after plug.
        self.assertIsNone(self.state(conf.target_dev))
        self.driver.unplug(self.instance, self.vif)
        self.assertGone(v)
        self.assertEqual({}, self.standin.registrations)

    def test_agent_refusal_is_an_instance_fault(self):
        self.standin.refuse(self.pid, 'Invalid VN uuid')
        # Our own error, not os-vif's wrapper: nova keeps 255 characters
        # of a fault, and os-vif's starts with the VIF's long repr.
        e = self.assertRaises(exception.AgentError,
                              self.driver.plug, self.instance, self.vif)
        self.assertIsInstance(e, nova_exception.NovaException)
        self.assertTrue(str(e).startswith(
            'vRouter agent refused port %s (HTTP 500)' % self.pid), str(e))
        self.assertIn('Invalid VN uuid', str(e)[:255])

    def test_other_vif_types_stay_novas(self):
        ovs = unit.nova_vif(model.VIF_TYPE_OVS, id=self.pid)
        self.assertFalse(lxc_vif.is_lxc_vrouter(ovs, 'lxc'))
