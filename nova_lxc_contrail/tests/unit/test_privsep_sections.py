"""Every privsep context has its [lxc_contrail_<area>_privileged] section,
listed for the sample config (conf.privsep)."""

import importlib
import os
import pkgutil
import re
import subprocess
import sys
import tempfile

from oslo_privsep import priv_context
from oslo_utils import importutils
import testtools

import nova_lxc_contrail
from nova_lxc_contrail.conf import opts
from nova_lxc_contrail.conf import privsep as privsep_conf

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SECTION = re.compile(r'^lxc_contrail_[a-z_]+_privileged$')


def package_contexts():
    """{python path: PrivContext} of every context the package defines."""
    found = {}
    for module in pkgutil.walk_packages(nova_lxc_contrail.__path__,
                                        'nova_lxc_contrail.'):
        if '.tests' in module.name:
            continue
        loaded = importlib.import_module(module.name)
        for name, value in vars(loaded).items():
            if isinstance(value, priv_context.PrivContext) and \
                    value.pypath == '%s.%s' % (module.name, name):
                found[value.pypath] = value
    return found


class TestPrivsepSections(testtools.TestCase):

    def test_every_context_is_known_by_its_section(self):
        contexts = package_contexts()
        self.assertEqual(
            {path for path, _ in privsep_conf.CONTEXTS.values()},
            set(contexts))
        for section, (path, _) in privsep_conf.CONTEXTS.items():
            self.assertRegex(section, SECTION)
            self.assertEqual(section, contexts[path].cfg_section)
            self.assertIs(contexts[path], importutils.import_class(path))

    def test_listed_for_the_generator(self):
        listed = {str(group): {o.dest for o in group_opts}
                  for group, group_opts in opts.list_opts()}
        for section in privsep_conf.CONTEXTS:
            self.assertIn('helper_command', listed[section])
            self.assertIn('capabilities', listed[section])

    def test_sample_config_has_every_section(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'sample.conf')
            subprocess.run(
                [sys.executable, '-m', 'oslo_config.generator',
                 '--namespace', 'nova_lxc_contrail', '--output-file', out],
                check=True, cwd=TOP)
            with open(out) as f:
                sample = f.read()
        sections = re.findall(r'^\[(.*)\]$', sample, re.MULTILINE)
        self.assertEqual(sorted(privsep_conf.CONTEXTS),
                         sorted(s for s in sections if s.endswith(
                             '_privileged')))
        self.assertEqual(len(privsep_conf.CONTEXTS),
                         sample.count('#helper_command = <None>'))
