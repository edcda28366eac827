"""The configuration reference lists every option this package registers.

Builds the real page (doc/source/configuration/config-reference.rst) with
Sphinx and oslo.config's extension, and compares the options it documents,
group by group, with every option of every group of ``list_opts`` (the
``oslo.config.opts`` entry point), and those with what the package
registers.
"""

import importlib
import importlib.metadata
import io
import os
import re
import shutil
import tempfile

from oslo_config import cfg
from oslo_config import sphinxext
from sphinx import application
import testtools

from nova_lxc_contrail import conf
from nova_lxc_contrail.conf import opts

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
PAGE = os.path.join(TOP, 'doc', 'source', 'configuration',
                    'config-reference.rst')
NAMESPACE = 'nova_lxc_contrail'
PRIVSEP_MODULES = ('nova_lxc_contrail.vif.privsep',
                   'nova_lxc_contrail.disk.privsep',
                   'nova_lxc_contrail.virt.privsep',
                   'nova_lxc_contrail.cmd.netrepair')


def documented_options(page):
    """{anchor of each option} the page documents, built by Sphinx."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'src')
        os.mkdir(src)
        shutil.copy(page, os.path.join(src, 'index.rst'))
        with open(os.path.join(src, 'conf.py'), 'w') as f:
            f.write("extensions = ['oslo_config.sphinxext']\n")
        warnings = io.StringIO()
        app = application.Sphinx(
            src, src, os.path.join(tmp, 'out'), os.path.join(tmp, 'doctrees'),
            'dummy', status=None, warning=warnings, warningiserror=True)
        app.build()
        return set(app.env.domaindata['oslo.config']['options'])


class TestConfigReference(testtools.TestCase):

    def test_page_shows_the_namespace_of_list_opts(self):
        with open(PAGE) as f:
            shown = re.findall(r'^\.\. show-options::\s*(.*)$', f.read(),
                               re.MULTILINE)
        self.assertEqual([NAMESPACE], shown)
        entry_point, = [
            ep for ep in importlib.metadata.entry_points(
                group='oslo.config.opts') if ep.name == NAMESPACE]
        self.assertEqual('nova_lxc_contrail.conf.opts:list_opts',
                         entry_point.value)

    def test_every_option_of_every_group_is_documented(self):
        expected = {
            # the anchor oslo.config's extension gives group.option
            sphinxext._make_anchor_target(str(group), opt.dest)
            for group, group_opts in opts.list_opts()
            for opt in group_opts}
        self.assertGreater(len(expected), 30)
        self.assertEqual(expected, documented_options(PAGE))

    def test_list_opts_holds_every_option_the_package_registers(self):
        listed = {(str(group), opt.dest)
                  for group, group_opts in opts.list_opts()
                  for opt in group_opts}
        fresh = cfg.ConfigOpts()
        conf.register_opts(fresh)
        registered = _options(fresh) - _options(cfg.ConfigOpts())
        # The privsep contexts register their sections on nova's CONF when
        # their modules are imported.
        for module in PRIVSEP_MODULES:
            importlib.import_module(module)
        registered |= {(group, name) for group, name in _options(cfg.CONF)
                       if group.startswith('lxc_contrail')}
        self.assertEqual(set(), registered - listed)
        self.assertIn(('lxc_contrail_disk_privileged', 'helper_command'),
                      registered)


def _options(config):
    found = set()
    for name in config:
        value = getattr(config, name)
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            found |= {(name, opt_name) for opt_name in value}
        else:
            found.add(('DEFAULT', name))
    return found
