"""The ``nova-lxc-contrail`` command: parsing, configuration, help, exits."""

import argparse
import io
import json
import logging
import os
import subprocess
import sys

import fixtures
from oslo_config import cfg
import testtools

from nova_lxc_contrail.cmd import cli
from nova_lxc_contrail.cmd import progress


def run_cli(*args, env=None):
    """Run the console script's module as an operator would."""
    return subprocess.run(
        [sys.executable, '-m', 'nova_lxc_contrail.cmd.cli'] + list(args),
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, **(env or {})))


class TestParser(testtools.TestCase):

    def test_every_command_has_help_with_examples(self):
        parser = cli.build_parser()
        self.assertIn('examples:', parser.format_help())
        subparsers = [a for a in parser._actions
                      if isinstance(a, argparse._SubParsersAction)][0]
        self.assertTrue(subparsers.choices)
        for name, sub in subparsers.choices.items():
            text = sub.format_help()
            self.assertIn('examples:', text, name)
            self.assertIn('nova-lxc-contrail', text, name)

    def test_a_command_is_required(self):
        result = run_cli()
        self.assertEqual(2, result.returncode)
        self.assertIn('COMMAND', result.stderr)

    def test_help_exits_zero(self):
        result = run_cli('--help')
        self.assertEqual(0, result.returncode)
        # Building the parser imports oslo.privsep, hence eventlet: its
        # deprecation warning must not reach the operator.
        self.assertEqual('', result.stderr)
        self.assertIn('check', result.stdout)
        self.assertIn('lxc-config', result.stdout)


class TestConfiguration(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def test_nova_conf_and_ours_are_read_later_files_win(self):
        first = self.write('nova.conf',
                           '[DEFAULT]\ncompute_driver = libvirt.'
                           'LibvirtDriver\ndebug = true\n'
                           'log_file = /nonexistent/nova-compute.log\n'
                           '[libvirt]\nvirt_type = lxc\n'
                           '[lxc_contrail]\nports_dir = /srv/ports\n')
        second = self.write('nova-cpu.conf',
                            '[DEFAULT]\ncompute_driver = '
                            'lxc_contrail.LxcContrailDriver\n')
        conf = cfg.ConfigOpts()
        args = argparse.Namespace(config_file=[first, second],
                                  config_dir=None)
        cli.load_config(args, conf)
        self.assertEqual('lxc_contrail.LxcContrailDriver',
                         conf.compute_driver)
        self.assertEqual('lxc', conf.libvirt.virt_type)
        self.assertEqual('/srv/ports', conf.lxc_contrail.ports_dir)
        # The command logs to stderr, never into nova-compute's log file.
        cli.setup_logging(conf, debug=False)
        self.assertIsNone(conf.log_file)
        self.assertFalse(conf.debug)

    def test_config_dir(self):
        os.mkdir(os.path.join(self.tmp, 'nova.conf.d'))
        self.write('nova.conf.d/10-lxc.conf', '[libvirt]\nvirt_type = lxc\n')
        conf = cfg.ConfigOpts()
        cli.load_config(argparse.Namespace(
            config_file=[], config_dir=[os.path.join(self.tmp,
                                                     'nova.conf.d')]), conf)
        self.assertEqual('lxc', conf.libvirt.virt_type)

    def test_missing_config_file_is_a_clear_usage_error(self):
        result = run_cli('--config-file', '/nonexistent/nova.conf', 'check')
        self.assertEqual(2, result.returncode)
        self.assertIn('/nonexistent/nova.conf', result.stderr)
        self.assertEqual('', result.stdout)

    def test_bad_value_is_a_clear_usage_error(self):
        path = self.write('nova.conf', '[lxc_contrail]\n'
                                       'agent_url = ftp://x\n')
        result = run_cli('--config-file', path, 'check', '--only', 'agent')
        self.assertEqual(2, result.returncode)
        self.assertIn('agent_url', result.stderr)

    def test_main_in_process_with_a_fresh_conf(self):
        path = self.write('nova.conf', '[libvirt]\nvirt_type = lxc\n')
        out = self.useFixture(fixtures.StringStream('stdout')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        status = cli.main(['--config-file', path, 'check', '--only', 'nova',
                           '--json'], conf=cfg.ConfigOpts())
        out.seek(0)
        report = json.loads(out.read())
        self.assertEqual(1, status)  # compute_driver is not set
        self.assertFalse(report['ok'])
        names = {c['name']: c['status'] for c in report['checks']}
        self.assertEqual('pass', names['[libvirt] virt_type'])
        self.assertEqual('FAIL', names['compute_driver'])


class TestHelperEventletWarningFilter(testtools.TestCase):
    """A privsep-helper's stderr, as oslo.privsep logs it line by line."""

    def passed(self, lines):
        helper_filter = cli.HelperEventletWarningFilter()
        return [line for line in lines if helper_filter.filter(
            logging.LogRecord(cli.PRIVSEP_LOGGER, logging.WARNING, __file__,
                              0, 'privsep log: %s', (line,), None))]

    def test_only_eventlets_warning_is_dropped(self):
        warning = [
            '/venv/lib/python3.11/site-packages/oslo_privsep/daemon.py:105: '
            'EventletDeprecationWarning:',
            'Eventlet is deprecated. It is currently being maintained in '
            'bugfix mode, and',
            'we strongly recommend against using it for new projects.',
            '',
            'framework.  For more detail see',
            '  import eventlet']
        self.assertEqual(
            ['starting', 'privsep-helper: error: a real failure'],
            self.passed(['starting'] + warning +
                        ['privsep-helper: error: a real failure']))

    def test_other_records_pass(self):
        helper_filter = cli.HelperEventletWarningFilter()
        self.assertTrue(helper_filter.filter(logging.LogRecord(
            cli.PRIVSEP_LOGGER, logging.WARNING, __file__, 0,
            'privsep daemon starting', (), None)))


class TestLxcConfigCommand(testtools.TestCase):

    def test_prints_config_without_reading_nova_conf(self):
        result = run_cli('--config-file', '/nonexistent/nova.conf',
                         'lxc-config', '--lxc-version', '2', '--cgroup', 'v1')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual('', result.stderr)
        self.assertIn('lxc.aa_profile = unconfined', result.stdout)

    def test_impossible_combination_exits_2_with_reason(self):
        result = run_cli('lxc-config', '--lxc-version', '3', '--cgroup',
                         'v2')
        self.assertEqual(2, result.returncode)
        self.assertIn('LXC 4.0', result.stderr)
        self.assertEqual('', result.stdout)


class TestProgress(testtools.TestCase):

    def test_off_a_terminal_prints_tenths_and_the_end(self):
        stream = io.StringIO()
        with progress.Progress('resync', 20, stream) as p:
            for _ in range(20):
                p.step()
        lines = stream.getvalue().splitlines()
        self.assertEqual('resync: 2/20', lines[0])
        self.assertEqual('resync: 20/20 done', lines[-1])
        self.assertEqual(10, len(lines))

    def test_nothing_to_do_prints_nothing(self):
        stream = io.StringIO()
        with progress.Progress('cleanup', 0, stream):
            pass
        self.assertEqual('', stream.getvalue())
