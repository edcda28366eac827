"""The os-vif plugin refuses bad input before it changes anything."""

import os

import os_vif
from os_vif.objects import host_info
from oslo_config import fixture as config_fixture
import testtools

from nova_lxc_contrail import conf as nlc_conf
from nova_lxc_contrail import exception
from nova_lxc_contrail.tests import vif_fixtures as vf
from nova_lxc_contrail.vif import plugin
from nova_lxc_contrail.vif import privsep

PORT = '93c2c386-6e79-485e-bfa4-b9daa713133b'


class TestPlugin(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.agent = self.useFixture(vf.AgentFixture())
        # Should validation let anything through, the privileged call
        # fails loudly instead of touching this (unsandboxed) host.
        conf = self.useFixture(config_fixture.Config(nlc_conf.CONF))
        conf.config(group=privsep.CFG_SECTION, helper_command='false')
        self.plugin = plugin.LxcContrailPlugin.load('lxc_contrail')

    def test_registered_for_os_vif(self):
        os_vif.initialize()
        info = os_vif.host_info()
        names = [p.plugin_name for p in info.plugin_info]
        self.assertIn('lxc_contrail', names)

    def test_describes_vif_bridge(self):
        info = self.plugin.describe()
        self.assertIsInstance(info, host_info.HostPluginInfo)
        self.assertEqual('lxc_contrail', info.plugin_name)
        self.assertEqual(['VIFBridge'],
                         [i.vif_object_name for i in info.vif_info])

    def assertNothingHappens(self, v, message, info=None):
        for action in (self.plugin.plug,):
            e = self.assertRaises(exception.InvalidPort, action, v,
                                  info or vf.instance_info())
            self.assertIn(message, str(e))
        self.assertEqual([], self.agent.port_files())
        self.assertEqual([], self.agent.standin.requests)

    def test_vif_without_id(self):
        v = vf.vif(PORT)
        del v.id
        self.assertNothingHappens(v, 'no port id')

    def test_id_not_a_uuid(self):
        self.assertNothingHappens(vf.vif(PORT, id='port-1'), 'not a UUID')

    def test_vif_without_mac(self):
        v = vf.vif(PORT)
        del v.address
        self.assertNothingHappens(v, 'no MAC')

    def test_vif_without_network(self):
        v = vf.vif(PORT)
        v.network = None
        self.assertNothingHappens(v, 'no network')

    def test_name_over_15_bytes(self):
        self.assertNothingHappens(vf.vif(PORT, vif_name='tap93c2c386-6e79'),
                                  '16 bytes')
        self.assertNothingHappens(
            vf.vif(PORT, bridge_name='br93c2c386-6e7\u00e9'), '16 bytes')

    def test_same_name_twice(self):
        self.assertNothingHappens(vf.vif(PORT, bridge_name='tap93c2c386-6e'),
                                  'both named')

    def test_absurd_mtu(self):
        self.assertNothingHappens(vf.vif(PORT, net=vf.network(mtu=20)),
                                  'MTU 20')

    def test_instance_without_uuid(self):
        info = vf.instance_info()
        del info.uuid
        self.assertNothingHappens(vf.vif(PORT), 'instance UUID', info)

    def test_unplug_refuses_a_non_uuid_id(self):
        self.assertRaises(exception.InvalidPort, self.plugin.unplug,
                          vf.vif(PORT, id='port-1'), vf.instance_info())
        self.assertEqual([], self.agent.standin.requests)

    def test_names_default_from_the_port_id(self):
        v = vf.vif(PORT)
        del v.vif_name
        del v.bridge_name
        self.assertEqual((PORT, 'tap93c2c386-6e', 'br93c2c386-6e'),
                         plugin.port_devices(v))

    def test_agent_client_follows_the_options(self):
        client = self.plugin.agent_client()
        self.assertIs(client, self.plugin.agent_client())
        self.agent.conf.config(group='lxc_contrail', agent_read_timeout=9.0)
        self.assertIsNot(client, self.plugin.agent_client())
        self.assertEqual(9.0, self.plugin.agent_client().timeout[1])

    def test_port_lock_is_external_when_nova_has_a_lock_path(self):
        lock_path = self.useFixture(vf.fixtures.TempDir()).path
        with plugin.port_lock(PORT):
            self.assertEqual([], os.listdir(lock_path))
        self.agent.conf.config(group='oslo_concurrency', lock_path=lock_path)
        with plugin.port_lock(PORT.upper()):
            self.assertEqual([plugin.LOCK_PREFIX + PORT],
                             os.listdir(lock_path))
