"""The VIF driver's options ([lxc_contrail], [lxc_contrail_vif_privileged])."""

from oslo_config import cfg
from oslo_privsep import capabilities
import testtools

from nova_lxc_contrail import conf
from nova_lxc_contrail.conf import opts
from nova_lxc_contrail.vif import privsep


class TestVifOptions(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = cfg.ConfigOpts()
        conf.register_opts(self.conf)
        self.conf([])

    def test_defaults_match_the_agent(self):
        group = self.conf.lxc_contrail
        self.assertEqual('http://localhost:9091', group.agent_url)
        self.assertEqual('/var/lib/contrail/ports', group.ports_dir)
        self.assertTrue(group.bridge_promiscuous)
        self.assertLess(group.agent_connect_timeout, group.agent_read_timeout)

    def test_timeouts_must_be_positive(self):
        for name in ('agent_connect_timeout', 'agent_read_timeout'):
            self.assertRaises(ValueError, self.conf.set_override, name, 0,
                              group='lxc_contrail')

    def test_listed_for_the_generator(self):
        listed = {str(group): {o.dest for o in group_opts}
                  for group, group_opts in opts.list_opts()}
        self.assertTrue({'agent_url', 'ports_dir', 'agent_connect_timeout',
                         'agent_read_timeout', 'bridge_promiscuous'} <=
                        listed['lxc_contrail'])
        self.assertIn('helper_command',
                      listed['lxc_contrail_vif_privileged'])

    def test_privsep_context_keeps_only_cap_net_admin(self):
        self.assertEqual('lxc_contrail_vif_privileged', privsep.CFG_SECTION)
        self.assertEqual([capabilities.CAP_NET_ADMIN], privsep.CAPABILITIES)
        self.assertEqual(privsep.CFG_SECTION, privsep.vif_plug.cfg_section)
