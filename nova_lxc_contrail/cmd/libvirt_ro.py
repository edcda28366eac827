"""Read-only libvirt queries that cannot hang the operator command."""

import threading

DEFAULT_TIMEOUT = 10.0


class LibvirtUnavailable(Exception):
    """libvirtd refused, failed or did not answer in time."""


def query(uri, function, timeout=DEFAULT_TIMEOUT):
    """``function(conn)`` on a read-only connection to ``uri``.

    Runs in a daemon thread: a hung libvirtd must not hang the command, and
    the process can exit while the thread still waits.
    :raises LibvirtUnavailable: with libvirt's message.
    """
    import libvirt

    # libvirt prints every error on stderr by default.
    libvirt.registerErrorHandler(lambda *args: None, None)
    answer = {}

    def run():
        try:
            conn = libvirt.openReadOnly(uri)
            try:
                answer['result'] = function(conn)
            finally:
                conn.close()
        except libvirt.libvirtError as e:
            answer['error'] = e.get_error_message() or str(e)

    thread = threading.Thread(target=run, name='libvirt-query', daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise LibvirtUnavailable('%s: no answer within %.0fs' % (uri,
                                                                 timeout))
    if 'error' in answer:
        raise LibvirtUnavailable('%s: %s' % (uri, answer['error']))
    return answer['result']


def uri_of(conf):
    """The URI nova-compute uses for virt_type lxc."""
    return conf.libvirt.connection_uri or 'lxc:///'
