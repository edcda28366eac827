"""LxcContrailVIFDriver: vRouter ports of LXC guests, nova for the rest."""

from lxml import etree
from nova.network import model
from nova import objects
from nova.virt.libvirt import vif as libvirt_vif
import os_vif
from os_vif.objects import vif as osv_vifs
from oslo_config import fixture as config_fixture
import testtools

from nova_lxc_contrail import exception
from nova_lxc_contrail.virt import vif as lxc_vif

PORT = '93c2c386-6e79-485e-bfa4-b9daa713133b'
NETWORK = '56297dc0-5553-4e6a-b87f-8423afc21e9d'
INSTANCE = '69ce06bd-6d1e-43d0-8e48-a30043a49ed8'


def nova_vif(vif_type=model.VIF_TYPE_VROUTER, mtu=1400, **changes):
    network = model.Network(
        id=NETWORK, bridge=None, label='net1',
        subnets=[model.Subnet(cidr='11.0.0.0/24',
                              ips=[model.FixedIP(address='11.0.0.3')])])
    if mtu:
        network['meta']['mtu'] = mtu
    fields = dict(id=PORT, address='02:93:c2:c3:86:6e', type=vif_type,
                  devname='tap93c2c386-6e', vnic_type=model.VNIC_TYPE_NORMAL,
                  network=network, details={}, active=True,
                  preserve_on_delete=False)
    fields.update(changes)
    return model.VIF(**fields)


class TestLxcContrailVIFDriver(testtools.TestCase):

    def setUp(self):
        super().setUp()
        objects.register_all()
        os_vif.objects.register_all()
        self.instance = objects.Instance(
            id=1, uuid=INSTANCE, display_name='web 1',
            project_id='9970147c33b14bf789448968e708d430')
        self.image_meta = objects.ImageMeta.from_dict({})
        self.flavor = objects.Flavor(vcpus=1, extra_specs={
            'quota:vif_inbound_average': '1000',
            'quota:vif_outbound_average': '2000'})
        self.driver = lxc_vif.LxcContrailVIFDriver(None)
        self.conf = self.useFixture(config_fixture.Config(lxc_vif.CONF))
        self.nova = libvirt_vif.LibvirtGenericVIFDriver(None)

    def config(self, driver, vif, virt_type='lxc'):
        self.flags(virt_type=virt_type)
        conf = driver.get_config(self.instance, vif, self.image_meta,
                                 self.flavor, virt_type)
        return etree.fromstring(conf.to_xml())

    def test_is_novas_driver(self):
        self.assertIsInstance(self.driver,
                              libvirt_vif.LibvirtGenericVIFDriver)

    def test_lxc_vrouter_interface_is_a_bridge_on_the_port_bridge(self):
        xml = self.config(self.driver, nova_vif())
        self.assertEqual('bridge', xml.get('type'))
        self.assertEqual('br93c2c386-6e', xml.find('source').get('bridge'))
        self.assertEqual('ve93c2c386-6e', xml.find('target').get('dev'))
        self.assertEqual('02:93:c2:c3:86:6e', xml.find('mac').get('address'))
        self.assertEqual('1400', xml.find('mtu').get('size'))
        self.assertEqual('1000',
                         xml.find('bandwidth/inbound').get('average'))
        self.assertEqual('2000', xml.find('bandwidth/outbound').get('average'))

    def test_host_veth_name_differs_from_the_tap(self):
        xml = self.config(self.driver, nova_vif())
        self.assertNotEqual('tap93c2c386-6e', xml.find('target').get('dev'))

    def test_no_mtu_no_bandwidth(self):
        self.flavor.extra_specs = {}
        xml = self.config(self.driver, nova_vif(mtu=None))
        self.assertIsNone(xml.find('mtu'))
        self.assertIsNone(xml.find('bandwidth'))

    def test_other_virt_types_are_novas(self):
        for virt_type in ('kvm', 'qemu'):
            self.assertEqual(
                etree.tostring(self.config(self.nova, nova_vif(),
                                           virt_type)),
                etree.tostring(self.config(self.driver, nova_vif(),
                                           virt_type)))
        xml = self.config(self.driver, nova_vif(), 'kvm')
        self.assertEqual('ethernet', xml.get('type'))
        self.assertEqual('tap93c2c386-6e', xml.find('target').get('dev'))

    def test_other_vif_types_are_novas(self):
        vif = nova_vif(model.VIF_TYPE_OVS, devname='tap93c2c386-6e',
                       details={model.VIF_DETAILS_PORT_FILTER: True})
        vif['network']['bridge'] = 'br-int'
        self.assertEqual(etree.tostring(self.config(self.nova, vif)),
                         etree.tostring(self.config(self.driver, vif)))

    def test_other_vnic_types_are_not_ours(self):
        self.assertFalse(lxc_vif.is_lxc_vrouter(
            nova_vif(vnic_type=model.VNIC_TYPE_DIRECT), 'lxc'))
        self.assertTrue(lxc_vif.is_lxc_vrouter(nova_vif(), 'lxc'))
        self.assertFalse(lxc_vif.is_lxc_vrouter(nova_vif(), 'kvm'))

    def test_os_vif_object_for_the_plugin(self):
        obj = lxc_vif.nova_to_lxc_osvif(nova_vif())
        self.assertIsInstance(obj, osv_vifs.VIFBridge)
        self.assertEqual(('lxc_contrail', 'tap93c2c386-6e', 'br93c2c386-6e'),
                         (obj.plugin, obj.vif_name, obj.bridge_name))
        self.assertEqual((PORT, '02:93:c2:c3:86:6e', NETWORK, 1400),
                         (obj.id, obj.address, obj.network.id,
                          obj.network.mtu))

    def test_instance_info_carries_the_display_name(self):
        info = lxc_vif.lxc_instance_info(self.instance)
        self.assertEqual((INSTANCE, 'web 1'), (info.uuid, info.name))

    def test_bad_vifs_are_refused_before_anything(self):
        for vif, message in (
                (nova_vif(id=None), 'no port id'),
                (nova_vif(id='port-1'), 'not a UUID'),
                (nova_vif(address=None), 'no MAC'),
                (nova_vif(address='02:93:c2:c3:86'), 'is not a MAC'),
                (nova_vif(network=None), 'no network')):
            for call in (lambda: self.config(self.driver, vif),
                         lambda: self.driver.plug(self.instance, vif),
                         lambda: self.driver.unplug(self.instance, vif)):
                self.flags(virt_type='lxc')
                e = self.assertRaises(exception.InvalidPort, call)
                self.assertIn(message, str(e))

    def flags(self, **kwargs):
        self.conf.config(group='libvirt', **kwargs)
