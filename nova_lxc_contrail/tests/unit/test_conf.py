import os
import subprocess
import sys
import tempfile

from oslo_config import cfg
import testtools

from nova_lxc_contrail import conf
from nova_lxc_contrail.conf import opts

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def generate_sample_config():
    """The sample config oslo-config-generator writes for this package."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'sample.conf')
        subprocess.run(
            [sys.executable, '-m', 'oslo_config.generator',
             '--namespace', 'nova_lxc_contrail', '--output-file', out],
            check=True, cwd=TOP)
        with open(out) as f:
            return f.read()


class TestOptions(testtools.TestCase):

    def test_every_option_is_listed_for_the_generator_with_help(self):
        listed = {}
        for group, group_opts in opts.list_opts():
            listed.setdefault(str(group), set()).update(
                o.dest for o in group_opts)
            for opt in group_opts:
                self.assertTrue(opt.help, '%s has no help text' % opt.dest)
        self.assertIn('agent_url', listed['lxc_contrail'])
        self.assertIn('ports_dir', listed['lxc_contrail'])
        self.assertEqual({'vif_driver'}, listed['libvirt'])

    def test_operator_config_is_read(self):
        with tempfile.NamedTemporaryFile('w', suffix='.conf') as f:
            f.write('[lxc_contrail]\nagent_url = http://127.0.0.1:19091\n'
                    'bridge_promiscuous = false\n'
                    '[libvirt]\nvif_driver = my.Driver\n')
            f.flush()
            c = cfg.ConfigOpts()
            conf.register_opts(c)
            c([], default_config_files=[f.name])
        self.assertEqual('http://127.0.0.1:19091', c.lxc_contrail.agent_url)
        self.assertFalse(c.lxc_contrail.bridge_promiscuous)
        self.assertEqual('my.Driver', c.libvirt.vif_driver)

    def test_bad_agent_url_is_refused(self):
        c = cfg.ConfigOpts()
        conf.register_opts(c)
        c([])
        self.assertRaises(ValueError, c.set_override, 'agent_url',
                          'ftp://x', group='lxc_contrail')

    def test_sample_config_generates(self):
        sample = generate_sample_config()
        self.assertIn('[lxc_contrail]', sample)
        self.assertIn('#agent_url = http://localhost:9091', sample)
        self.assertIn('#vif_driver = '
                      'nova_lxc_contrail.virt.vif.LxcContrailVIFDriver',
                      sample)
