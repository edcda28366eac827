"""Each privsep daemon starts through nova-rootwrap, as on a compute node.

nova-compute (not root) runs ``[<section>] helper_command = sudo
nova-rootwrap /etc/nova/rootwrap.conf privsep-helper --config-file
/etc/nova/...``. Here the test is root already, so the command is the same
without sudo: the real nova-rootwrap with a rootwrap.conf reading this
checkout's etc/nova/rootwrap.d, the real privsep-helper, a nova.conf under
/etc (the filters want one there: a temp dir bind-mounted on /etc/opt in
this worker's private mount namespace), and each daemon answers a call.
"""

import os
import subprocess
import sys

import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslo_privsep import priv_context
from oslo_utils import importutils
import testtools

from nova_lxc_contrail.cmd import netrepair
from nova_lxc_contrail.conf import privsep as privsep_conf
from nova_lxc_contrail.disk import privsep as disk_privsep
from nova_lxc_contrail.standin import namespaces
from nova_lxc_contrail.tests.functional import rootfs_base
from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.virt import console

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)
ETC_DIR = '/etc/opt'        # exists on Debian; only its view here changes

# A cheap call per context that only its daemon can answer (privsep turns
# lists into tuples).
CALLS = {
    privsep_conf.VIF: lambda: list(linux_net.unplug_devices(None, None)),
    privsep_conf.DISK: lambda: list(
        disk_privsep.loops_backed_by('/nonexistent')),
    privsep_conf.CLI: lambda: netrepair.enslave('nlc-none0', 'nlc-none1'),
    privsep_conf.CONTAINER_NET: None,   # starting it is the check
    privsep_conf.CONSOLE: lambda: console.read_log(
        '/nonexistent/console.log', 1),
}
ANSWERS = {privsep_conf.VIF: [], privsep_conf.DISK: [],
           privsep_conf.CLI: False, privsep_conf.CONSOLE: ''}


class TestDaemonsStartThroughRootwrap(testtools.TestCase):

    def setUp(self):
        super().setUp()
        if not namespaces.in_private_namespaces():
            self.fail('functional tests must run through '
                      'nova_lxc_contrail.tests.sandbox')
        etc = self.useFixture(fixtures.TempDir()).path
        subprocess.run(['mount', '--bind', etc, ETC_DIR], check=True)
        self.addCleanup(subprocess.run, ['umount', ETC_DIR], check=True)
        work = self.useFixture(fixtures.TempDir()).path
        self.rootwrap_conf = os.path.join(work, 'rootwrap.conf')
        with open(self.rootwrap_conf, 'w') as f:
            f.write('[DEFAULT]\nfilters_path=%s\nexec_dirs=%s\n'
                    'use_syslog=False\n' % (
                        os.path.join(TOP, 'etc', 'nova', 'rootwrap.d'), BIN))
        self.nova_conf = os.path.join(ETC_DIR, 'nova.conf')
        with open(self.nova_conf, 'w') as f:
            f.write('[DEFAULT]\n')
        self.conf = self.useFixture(config_fixture.Config(cfg.CONF))

    def start(self, section):
        path, _ = privsep_conf.CONTEXTS[section]
        context = importutils.import_class(path)
        self.conf.config(group=section, helper_command=' '.join([
            os.path.join(BIN, 'nova-rootwrap'), self.rootwrap_conf,
            'privsep-helper', '--config-file', self.nova_conf]))
        self.assertIsNone(context.channel, 'a daemon of %s runs' % section)
        client_mode = context.client_mode
        context.set_client_mode(True)
        self.addCleanup(context.set_client_mode, client_mode)
        context.start(priv_context.Method.ROOTWRAP)
        self.addCleanup(self.stop, context)
        return context

    def stop(self, context):
        pids = helpers_of(context.pypath)
        context.stop()
        self.assertTrue(rootfs_base.wait_for(
            lambda: not helpers_of(context.pypath), 10),
            'privsep-helper %s stays' % pids)

    def test_every_context(self):
        for section, call in sorted(CALLS.items()):
            context = self.start(section)
            # The daemon runs privsep-helper with this context, as root.
            self.assertEqual(1, len(helpers_of(context.pypath)), section)
            if call is not None:
                self.assertEqual(ANSWERS[section], call(), section)


def helpers_of(pypath):
    """Pids of this worker's privsep-helper processes serving ``pypath``.

    Only those in this worker's network namespace: other test runs on the
    host start daemons of the same contexts.
    """
    found = []
    own_netns = os.readlink('/proc/self/ns/net')
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().decode(errors='replace').split('\0')
            if os.readlink('/proc/%s/ns/net' % pid) != own_netns:
                continue
        except OSError:
            continue
        if any(a.endswith('privsep-helper') for a in argv[:2]) and \
                pypath in argv:
            found.append(int(pid))
    return found
