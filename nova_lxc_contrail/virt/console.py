"""A container's console, kept in a bounded log from its start on.

libvirt-LXC gives a container one console, ``<console type='pty'>``: the
libvirt_lxc controller copies what the container writes to /dev/console
into the master of a host pty. Nobody reads that pty unless a client has it
open, so the kernel buffers a few KiB and then the controller stops reading
the container's side: a container that writes more blocks on its console,
and what nova's ``get_console_output`` finds (it reads the pty once, at the
request) is at most that buffer.

So a reader per running container drains the pty into
``<instance dir>/console.log``, from right after the domain starts, keeping
the log at most ``2 * [lxc_contrail] console_log_bytes`` on disk and
returning its last ``console_log_bytes``. The readers run as threads of
their own privsep daemon (CAP_DAC_OVERRIDE: libvirtd's pty is root's, the
instance dir nova's); a reader ends when its domain's pty closes (the
domain stopped). A new daemon (nova-compute restarted) starts readers for
the running domains again.
"""

import errno
import fcntl
import os
import termios
import threading
import tty

from lxml import etree
from oslo_log import log as logging
from oslo_privsep import capabilities
from oslo_privsep import priv_context

LOG = logging.getLogger(__name__)

LOG_NAME = 'console.log'
_CHUNK = 64 * 1024

console_pctxt = priv_context.PrivContext(
    'nova_lxc_contrail',
    cfg_section='lxc_contrail_console_privileged',
    pypath=__name__ + '.console_pctxt',
    capabilities=[capabilities.CAP_DAC_OVERRIDE],
)


def pty_path(domain_xml):
    """The host pty of a running domain's console, or None."""
    node = etree.fromstring(domain_xml).find(
        "./devices/console[@type='pty']/source[@path]")
    return node.get('path') if node is not None else None


class BadConsole(ValueError):
    """A console or log path this module refuses; the message says why."""


def _check(pty, log_path, max_bytes):
    if not (isinstance(pty, str) and pty.startswith('/dev/pts/') and
            pty[len('/dev/pts/'):].isdigit()):
        raise BadConsole('console %r is not a /dev/pts/N pty' % (pty,))
    if not (os.path.isabs(log_path) and
            os.path.basename(log_path) == LOG_NAME):
        raise BadConsole('console log %r is not an absolute path to a %s'
                         % (log_path, LOG_NAME))
    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise BadConsole('console log size %r is not a positive number of '
                         'bytes' % (max_bytes,))


class _Reader(threading.Thread):
    """Drains one pty into one bounded log file until the pty closes."""

    def __init__(self, pty, fd, log_path, max_bytes):
        super().__init__(name='console %s' % log_path, daemon=True)
        self.pty = pty
        self.fd = fd
        self.log_path = log_path
        self.max_bytes = max_bytes

    def run(self):
        try:
            with open(self.log_path, 'ab', buffering=0) as log:
                while True:
                    try:
                        data = os.read(self.fd, _CHUNK)
                    except OSError as e:
                        # EIO: the controller closed the master (the domain
                        # stopped).
                        if e.errno != errno.EIO:
                            LOG.warning('Reading console %s: %s', self.pty, e)
                        return
                    if not data:
                        return
                    log.write(data)
                    if log.tell() > 2 * self.max_bytes:
                        _keep_last(log, self.log_path, self.max_bytes)
        except OSError as e:
            LOG.warning('Console log %s: %s', self.log_path, e)
        finally:
            os.close(self.fd)


def _keep_last(log, log_path, max_bytes):
    with open(log_path, 'rb') as f:
        f.seek(-max_bytes, os.SEEK_END)
        tail = f.read()
    log.truncate(0)
    log.seek(0)
    log.write(tail)


# In the daemon: log path -> its running reader.
_readers = {}
_readers_lock = threading.Lock()


@console_pctxt.entrypoint
def start_log(pty, log_path, max_bytes):
    """Start draining ``pty`` into ``log_path``; False if already draining.

    The pty is opened here, so a wrong path fails the call.
    """
    _check(pty, log_path, max_bytes)
    with _readers_lock:
        reader = _readers.get(log_path)
        if reader is not None and reader.is_alive() and reader.pty == pty:
            return False
        fd = os.open(pty, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            # No echo: what the container wrote must not go back in as
            # its console input.
            tty.setraw(fd, termios.TCSANOW)
            fcntl.fcntl(fd, fcntl.F_SETFL,
                        fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            reader = _Reader(pty, fd, log_path, max_bytes)
            reader.start()
        except Exception:
            os.close(fd)
            raise
        _readers[log_path] = reader
        return True


@console_pctxt.entrypoint
def read_log(log_path, max_bytes):
    """The last ``max_bytes`` of a console log ('' when there is none)."""
    _check('/dev/pts/0', log_path, max_bytes)
    try:
        with open(log_path, 'rb') as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max_bytes))
            return f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return ''
