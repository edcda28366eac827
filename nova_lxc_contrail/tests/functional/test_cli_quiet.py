"""The CLI writes no library noise on stderr (root, sandbox).

eventlet warns at import that it is deprecated. The command imports it
through oslo.privsep, and so does every privsep-helper that a
``helper_command`` starts (nova-compute's user runs the command that way):
oslo.privsep logs the helper's stderr as ``privsep log:`` warnings. These
tests start a real privsep-helper through ``helper_command`` and show the
noise without the command's filters and none with them.
"""

import os
import subprocess
import sys
import textwrap

import fixtures
import testtools

# A helper started through helper_command, as oslo.privsep does for a user
# other than root; the command's logging; one privileged call.
SCRIPT = textwrap.dedent('''\
    import sys
    from oslo_config import cfg
    from nova_lxc_contrail.cmd import cli
    if sys.argv[1] == 'quiet':
        cli.quieten_library_noise()
    from oslo_privsep import priv_context
    from nova_lxc_contrail.disk import privsep
    conf = cli.load_config(cli.build_parser().parse_args(
        ['--config-file', sys.argv[2], 'image', 'inspect', 'x']))
    cli.setup_logging(conf, debug=False)
    privsep.disk_pctxt.start(priv_context.Method.ROOTWRAP)
    scratch = privsep.make_scratch_dir()
    privsep.remove_scratch_dir(scratch)
    privsep.disk_pctxt.stop()
    print('privileged call done')
    ''')


class TestNoLibraryNoise(testtools.TestCase):

    def setUp(self):
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir()).path
        self.config_file = os.path.join(tmp, 'nova.conf')
        helper = os.path.join(os.path.dirname(sys.executable),
                              'privsep-helper')
        with open(self.config_file, 'w') as f:
            f.write('[lxc_contrail_disk_privileged]\n'
                    'helper_command = %s --config-file %s\n'
                    % (helper, self.config_file))

    def run_script(self, mode):
        result = subprocess.run(
            [sys.executable, '-c', SCRIPT, mode, self.config_file],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual('privileged call done\n', result.stdout)
        return result.stderr

    def test_helper_noise_is_real_without_the_filters(self):
        stderr = self.run_script('noisy')
        # In this process and echoed from the helper.
        self.assertIn('EventletDeprecationWarning', stderr)
        self.assertIn('privsep log: ', stderr)
        self.assertIn('Eventlet is deprecated', stderr)

    def test_cli_filters_leave_stderr_empty(self):
        self.assertEqual('', self.run_script('quiet'))
