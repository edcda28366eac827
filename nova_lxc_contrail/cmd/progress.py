"""Progress of a long operation, on stderr so that stdout stays parsable."""

import sys


class Progress(object):
    """Counts steps of ``total``; redraws one line on a terminal.

    Off a terminal (logs, pipes) it prints a line at every tenth of the
    way, so a slow run still shows it is alive without flooding the log.
    """

    def __init__(self, label, total, stream=None):
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self._tty = self.stream.isatty()
        self._last_tenth = 0

    def step(self, item=''):
        self.done += 1
        if self._tty:
            self.stream.write('\r\033[K%s: %d/%d %s' % (
                self.label, self.done, self.total, item))
            self.stream.flush()
            return
        tenth = self.done * 10 // max(self.total, 1)
        if tenth > self._last_tenth and self.done < self.total:
            self._last_tenth = tenth
            self.stream.write('%s: %d/%d\n' % (
                self.label, self.done, self.total))

    def finish(self):
        if self._tty and self.total:
            self.stream.write('\r\033[K')
        if self.total:
            self.stream.write('%s: %d/%d done\n' % (
                self.label, self.done, self.total))
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finish()
