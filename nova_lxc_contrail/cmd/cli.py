"""``nova-lxc-contrail``: the operator command of an LXC compute host.

Reads nova's configuration the way nova-compute does (``--config-file`` and
``--config-dir``, default ``/etc/nova/nova.conf`` and
``/etc/nova/nova-compute.conf``) and dispatches to one module per command.
"""

import argparse
import importlib
import logging as std_logging
import re
import sys
import warnings

from oslo_config import cfg
from oslo_log import log as logging

from nova_lxc_contrail import exception

LOG = logging.getLogger(__name__)

# Modules of nova_lxc_contrail.cmd, one per command. Each offers
# add_parser(subparsers); the parser it adds carries
# ``func(args, conf) -> exit status`` and ``needs_config``. They are imported
# when the parser is built, after main() has quietened eventlet's
# import-time warning.
COMMANDS = ('check', 'lxc_config', 'image', 'ports', 'cleanup')

EXAMPLES = """\
examples:
  nova-lxc-contrail check
  nova-lxc-contrail --config-file /etc/nova/nova-cpu.conf check --json
  nova-lxc-contrail lxc-config --lxc-version 4 > /var/lib/lxc/compute1/config.d
  nova-lxc-contrail image inspect /var/lib/nova/instances/_base/abc123
  nova-lxc-contrail ports list
  nova-lxc-contrail ports resync
  nova-lxc-contrail cleanup --dry-run

Run 'nova-lxc-contrail COMMAND --help' for the options of a command.
"""

# oslo.privsep's daemon module imports eventlet, and eventlet's import
# warns that it is deprecated (EventletDeprecationWarning, shown by default):
# in this process, and in every privsep-helper started through a
# helper_command, whose stderr oslo.privsep logs as 'privsep log: ...'
# warnings. Noise for an operator, who cannot act on it.
EVENTLET_DEPRECATION = r'\nEventlet is deprecated\.'
PRIVSEP_LOGGER = 'oslo.privsep.daemon'


class HelperEventletWarningFilter(std_logging.Filter):
    """Drop a privsep-helper's echo of eventlet's deprecation warning.

    The helper prints it on stderr as one block: the
    ``...: EventletDeprecationWarning:`` line, the message, then the source
    line ``import eventlet``. Every other line of the helper still shows.
    """

    HEADER = re.compile(r'.*: EventletDeprecationWarning:\s*$')
    LAST = 'import eventlet'
    MAX_LINES = 16

    def __init__(self):
        super().__init__()
        self.in_block = 0

    def filter(self, record):
        if record.msg != 'privsep log: %s' or not record.args:
            return True
        line = str(record.args[0])
        if self.in_block:
            self.in_block = 0 if (line.strip() == self.LAST or
                                  self.in_block >= self.MAX_LINES) else (
                self.in_block + 1)
            return False
        if self.HEADER.match(line):
            self.in_block = 1
            return False
        return True


def quieten_library_noise():
    """Silence eventlet's deprecation warning, and only that.

    Called before anything imports oslo.privsep (and so eventlet).
    """
    warnings.filterwarnings('ignore', message=EVENTLET_DEPRECATION)
    logger = std_logging.getLogger(PRIVSEP_LOGGER)
    if not any(isinstance(f, HelperEventletWarningFilter)
               for f in logger.filters):
        logger.addFilter(HelperEventletWarningFilter())


# oslo.config looks for <project>.conf and <prog>.conf: read what
# nova-compute reads.
CONFIG_PROJECT = 'nova'
CONFIG_PROG = 'nova-compute'


def build_parser():
    parser = argparse.ArgumentParser(
        prog='nova-lxc-contrail',
        description='Check, inspect and repair an LXC compute host of '
                    'nova-lxc-contrail (OpenContrail / Tungsten Fabric '
                    'vRouter).',
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--config-file', action='append', metavar='PATH',
        help='nova configuration file (repeatable; later files win). '
             'Default: the files nova-compute reads, e.g. '
             '/etc/nova/nova.conf.')
    parser.add_argument(
        '--config-dir', action='append', metavar='DIR',
        help='directory of *.conf files read after --config-file '
             '(repeatable).')
    parser.add_argument(
        '-d', '--debug', action='store_true',
        help='log debug messages to stderr.')
    subparsers = parser.add_subparsers(
        dest='command', metavar='COMMAND', title='commands')
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module('nova_lxc_contrail.cmd.' + name)
        module.add_parser(subparsers)
    return parser


def load_config(args, conf=None):
    """Parse nova's configuration files into ``conf`` (default nova's CONF).

    Registers the nova options the commands read (compute_driver,
    instances_path, [libvirt] ...) and this package's, so that a fresh
    ``ConfigOpts`` works as well as nova's global one.
    """
    import nova.conf.compute
    import nova.conf.libvirt
    import nova.conf.netconf
    import nova.conf.paths

    from nova_lxc_contrail import conf as lxc_contrail_conf

    conf = conf if conf is not None else cfg.CONF
    for area in (nova.conf.paths, nova.conf.netconf, nova.conf.compute,
                 nova.conf.libvirt):
        area.register_opts(conf)
    lxc_contrail_conf.register_opts(conf)
    try:
        logging.register_options(conf)
    except cfg.ArgsAlreadyParsedError:
        pass  # parsed before in this process: options already there
    cli_args = []
    for path in args.config_file or ():
        cli_args += ['--config-file', path]
    for path in args.config_dir or ():
        cli_args += ['--config-dir', path]
    conf(cli_args, project=CONFIG_PROJECT, prog=CONFIG_PROG,
         validate_default_values=True)
    _read_every_value(conf)
    return conf


def _read_every_value(conf):
    """Raise a bad value now, not from the middle of a command.

    oslo.config checks a value from a file only when it is read.
    """
    for name in conf:
        value = getattr(conf, name)
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for opt_name in value:
                getattr(value, opt_name)


def setup_logging(conf, debug):
    # nova.conf may point log_file at nova-compute's log: an operator
    # command logs to stderr only.
    for name, value in (('log_file', None), ('log_dir', None),
                        ('log_config_append', None), ('use_syslog', False),
                        ('use_journal', False), ('use_json', False),
                        ('use_stderr', True),
                        ('debug', debug)):
        conf.set_override(name, value)
    logging.setup(conf, 'nova-lxc-contrail')
    std_logging.getLogger().setLevel(
        std_logging.DEBUG if debug else std_logging.WARNING)


def main(argv=None, conf=None):
    quieten_library_noise()
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if getattr(args, 'needs_config', True):
        try:
            conf = load_config(args, conf)
        except cfg.Error as e:
            print('nova-lxc-contrail: configuration: %s' % e,
                  file=sys.stderr)
            return 2
        setup_logging(conf, args.debug)
    try:
        return args.func(args, conf)
    except exception.NovaLxcContrailError as e:
        print('nova-lxc-contrail %s: %s' % (args.command, e),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('nova-lxc-contrail %s: interrupted' % args.command,
              file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
