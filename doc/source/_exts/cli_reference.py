"""``.. cli-reference:: module:function``: a CLI reference from argparse.

Use it as the only content of a page: its sections start at the page title.

Renders the parser that ``function()`` returns (the command's own
``build_parser``), every sub-command and option with its help, so the
reference cannot drift from the command.
"""

import argparse
import importlib

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help
                     for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name), sub


def _escape(text):
    """Help text as literal rst: argparse's help is plain text."""
    for char in '\\*`|':
        text = text.replace(char, '\\' + char)
    return text


def _option_lines(parser):
    lines = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction,
                               argparse._SubParsersAction)):
            continue
        if action.option_strings:
            metavar = ''
            if action.nargs != 0:
                metavar = ' ' + (action.metavar or action.dest.upper())
            name = ', '.join(o + metavar for o in action.option_strings)
        else:
            name = action.metavar or action.dest
        help_text = (action.help or '') % {'default': action.default,
                                           'prog': parser.prog}
        if (action.choices and not isinstance(action.choices, dict) and
                not all(str(c) in help_text for c in action.choices)):
            help_text += ' Choices: %s.' % ', '.join(
                '``%s``' % c for c in action.choices)
        lines += ['.. option:: %s' % name, '', '   ' + _escape(help_text),
                  '']
    return lines


def _literal(text):
    return ['::', ''] + ['   ' + line for line in text.splitlines()] + ['']


# Title underlines, one level deeper per sub-command.
_SUBLEVEL = {'=': '-', '-': '~', '~': '^'}


def _parser_lines(parser, title, char, summary=None):
    lines = [title, char * len(title), '']
    if summary:
        lines += [_escape(summary[0].upper() + summary[1:]), '']
    lines += _literal(parser.format_usage().strip())
    if parser.description:
        lines += [_escape(parser.description), '']
    options = _option_lines(parser)
    if options:
        lines += ['.. program:: %s' % parser.prog, ''] + options
    if parser.epilog:
        lines += _literal(parser.epilog.strip())
    for name, help_text, sub in _subparsers(parser):
        lines += _parser_lines(sub, sub.prog, _SUBLEVEL[char], help_text)
    return lines


class CliReference(Directive):
    required_arguments = 1

    def run(self):
        module_name, function = self.arguments[0].split(':')
        parser = getattr(importlib.import_module(module_name), function)()
        lines = _parser_lines(parser, parser.prog, '=')
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(
            self.state, StringList(lines, source=self.arguments[0]), node)
        return node.children


def setup(app):
    app.add_directive('cli-reference', CliReference)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
