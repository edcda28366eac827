"""The privsep contexts: sections, sample config and rootwrap filters.

Every context has its [lxc_contrail_<area>_privileged] section, listed for
the sample config (conf.privsep), and a rootwrap filter line.
"""

import importlib
import os
import pkgutil
import re

from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslo_privsep import priv_context
from oslo_rootwrap import filters
from oslo_rootwrap import wrapper
from oslo_utils import importutils
import testtools

import nova_lxc_contrail
from nova_lxc_contrail.conf import opts
from nova_lxc_contrail.conf import privsep as privsep_conf
from nova_lxc_contrail.tests.unit import test_conf

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SECTION = re.compile(r'^lxc_contrail_[a-z_]+_privileged$')


def product_modules(path=nova_lxc_contrail.__path__,
                    prefix='nova_lxc_contrail.'):
    """Every module of the package but its tests, imported.

    Not pkgutil.walk_packages: it imports every package it descends into,
    and the nova_functional tests' package applies eventlet's monkey
    patching when imported.
    """
    for module in pkgutil.iter_modules(path, prefix):
        if module.name.endswith('.tests'):
            continue
        loaded = importlib.import_module(module.name)
        yield loaded
        if module.ispkg:
            yield from product_modules(loaded.__path__, module.name + '.')


def package_contexts():
    """{python path: PrivContext} of every context the package defines."""
    found = {}
    for loaded in product_modules():
        for name, value in vars(loaded).items():
            if isinstance(value, priv_context.PrivContext) and \
                    value.pypath == '%s.%s' % (loaded.__name__, name):
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
        sample = test_conf.generate_sample_config()
        sections = re.findall(r'^\[(.*)\]$', sample, re.MULTILINE)
        self.assertEqual(sorted(privsep_conf.CONTEXTS),
                         sorted(s for s in sections if s.endswith(
                             '_privileged')))
        self.assertEqual(len(privsep_conf.CONTEXTS),
                         sample.count('#helper_command = <None>'))


FILTERS_DIR = os.path.join(TOP, 'etc', 'nova', 'rootwrap.d')
ROOTWRAP = ['sudo', 'nova-rootwrap', '/etc/nova/rootwrap.conf']
HELPER = ROOTWRAP + ['privsep-helper', '--config-file',
                     '/etc/nova/nova-cpu.conf']
SOCKET = '/tmp/tmpk2x8vq1n/privsep.sock'


def our_filters():
    # oslo.rootwrap appends a catch-all privsep-helper filter of its own.
    return [f for f in wrapper.load_filters([FILTERS_DIR])
            if f.name != 'privsep-helper']


def matching(userargs):
    return [f.name for f in our_filters() if f.match(userargs)]


class TestRootwrapFilters(testtools.TestCase):
    """The filters let nova-rootwrap start each context's daemon.

    etc/nova/rootwrap.d/nova-lxc-contrail.filters allows what oslo.privsep
    runs for each context with the documented helper_command, and nothing
    else.
    """

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(cfg.CONF))
        package_contexts()      # registers every section

    def command(self, section):
        """What oslo.privsep runs for ``section``, rootwrap's part cut."""
        path, _ = privsep_conf.CONTEXTS[section]
        self.conf.config(group=section, helper_command=' '.join(HELPER))
        command = importutils.import_class(path).helper_command(SOCKET)
        self.assertEqual(ROOTWRAP, command[:3])
        return command[3:]

    def test_one_filter_per_context(self):
        self.assertEqual(len(privsep_conf.CONTEXTS), len(our_filters()))
        self.assertTrue(all(isinstance(f, filters.RegExpFilter) and
                            f.run_as == 'root' for f in our_filters()))
        names = set()
        for section in privsep_conf.CONTEXTS:
            found = matching(self.command(section))
            self.assertEqual(1, len(found), section)
            names.update(found)
        self.assertEqual({f.name for f in our_filters()}, names)

    def test_nothing_else_is_allowed(self):
        allowed = self.command(privsep_conf.VIF)
        context = allowed.index('--privsep_context') + 1
        for name, userargs in (
                ('another context', allowed[:context] + [
                    'os_brick.privileged.default'] + allowed[context + 1:]),
                ('a look-alike context', allowed[:context] + [
                    'nova_lxc_contrailXvifXprivsepXvif_plug'] +
                 allowed[context + 1:]),
                ('a config file outside /etc', allowed[:2] + [
                    '/etc/../tmp/evil.conf'] + allowed[3:]),
                ('a socket outside /tmp', allowed[:-1] + ['/run/x.sock']),
                ('two config files', allowed[:3] + allowed[1:]),
                ('another program', ['python3'] + allowed[1:])):
            self.assertEqual([], matching(userargs), name)
