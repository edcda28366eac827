"""A stand-in for the vRouter agent's port API (tests and the demo).

It follows tf-controller's src/vnsw/agent/port_ipc (rest_server.cc,
port_ipc_handler.cc, port_subscribe_table.cc):

* routes: ``POST /port``, ``POST /syncports``, ``DELETE /port/<uuid>``,
  ``GET /port/<uuid>``; UUIDs match lower case only; anything else is
  ``404 {"error": "Unknown Request"}``. Every reason phrase is "OK".
* ``POST /port`` validates like the agent (500 ``{"error": "{ <msg> }"}``
  naming the field); an array is all-or-nothing and always answers 200.
  A duplicate add with the same instance-id changes nothing (only the
  audit version); another instance-id replaces the entry.
* the port file is written only when absent; ``DELETE`` always answers 200
  and removes the entry and its file.
* at start it replays every UUID-named file of the ports dir, skipping
  (and keeping) files whose ``system-name`` interface does not exist.
* ``GET /port/<uuid>`` answers 404 until the port's network config
  "arrived" from the control node, which ``configure()`` simulates;
  namespace ports (type 1) never get config.

Fault hooks: construct without starting (the port is reserved but refuses
connections: the agent is down), ``hang`` (requests are read and never
answered), ``refuse(port_id, message)`` (500 for that port's add).
"""

import argparse
import collections
import http.server
import ipaddress
import json
import logging as std_logging
import os
import re
import signal
import socket
import socketserver
import threading
import time
import urllib.parse
import uuid

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

DEFAULT_PORT = 9091
DEFAULT_PORTS_DIR = '/var/lib/contrail/ports'
PROGRAM_NAME = 'contrail-vrouter-agent'
UUID_PATTERN = ('[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                '[0-9a-f]{12}')
_PORT_PATH = re.compile('/port/(%s)' % UUID_PATTERN)
NIL_UUID = str(uuid.UUID(int=0))

VMPORT, NAMESPACE, REMOTE_PORT = 0, 1, 2

Request = collections.namedtuple('Request', 'method path body')


def _uuid_member(doc, key):
    value = doc.get(key)
    if not isinstance(value, str):
        raise ValueError('Invalid or missing data for <%s>' % key)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return NIL_UUID


def _string_member(doc, key):
    value = doc.get(key)
    if not isinstance(value, str):
        raise ValueError('Invalid or missing field for <%s>' % key)
    return value


def _int_member(doc, key):
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError('Invalid or missing field for <%s>' % key)
    return value


def _valid_mac(mac):
    if not mac or mac.count(':') != 5:
        return False
    try:
        octets = [int(part, 16) for part in mac.split(':')]
    except ValueError:
        return False
    return all(0 <= o <= 255 for o in octets) and any(octets)


def _address(value, version):
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is None or address.version != version:
        return '0.0.0.0' if version == 4 else '::'
    return str(address)


def _interface_exists(name):
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def parse_port(doc, check_interface=False):
    """Validate one ``POST /port`` object like the agent does.

    :returns: the entry as the agent writes it to its file (no meta keys).
    :raises ValueError: with the agent's message.
    """
    entry = {'id': _uuid_member(doc, 'id'),
             'instance-id': _uuid_member(doc, 'instance-id'),
             'vn-id': _uuid_member(doc, 'vn-id'),
             'vm-project-id': _uuid_member(doc, 'vm-project-id'),
             'display-name': _string_member(doc, 'display-name'),
             'ip-address': _address(_string_member(doc, 'ip-address'), 4),
             'ip6-address': _address(_string_member(doc, 'ip6-address'), 6)}
    kind = _int_member(doc, 'type')
    kind = kind if kind in (NAMESPACE, REMOTE_PORT) else VMPORT
    if kind == VMPORT and entry['vn-id'] == NIL_UUID:
        raise ValueError('Invalid VN uuid')
    entry['system-name'] = _string_member(doc, 'system-name')
    if (kind != REMOTE_PORT and check_interface and
            not _interface_exists(entry['system-name'])):
        raise ValueError('Interface does not exist in OS')
    entry['mac-address'] = _string_member(doc, 'mac-address')
    if not _valid_mac(entry['mac-address']):
        raise ValueError('Invalid MAC, Use xx:xx:xx:xx:xx:xx format')
    entry['type'] = kind
    entry['rx-vlan-id'] = _int_member(doc, 'rx-vlan-id')
    entry['tx-vlan-id'] = _int_member(doc, 'tx-vlan-id')
    mode = doc.get('vhostuser-mode')
    entry['vhostuser-mode'] = mode if isinstance(mode, int) else 0
    if kind == REMOTE_PORT:
        state = doc.get('link-state')
        entry['link-state'] = state if isinstance(state, int) else 0
    return entry


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'vrouter-agent-standin'
    # Headers and body are separate writes: without this, Nagle and the
    # client's delayed ACK add 40 ms to every kept-alive answer.
    disable_nagle_algorithm = True

    def do_POST(self):
        self._dispatch('POST')

    def do_GET(self):
        self._dispatch('GET')

    def do_DELETE(self):
        self._dispatch('DELETE')

    def do_PUT(self):
        self._dispatch('PUT')

    def _dispatch(self, method):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length).decode('utf-8', 'replace')
        standin = self.server.standin
        if standin.record(method, self.path, raw):
            # Hanging: never answer; the connection is dropped on release.
            self.close_connection = True
            return
        status, body = standin.handle(method, self.path, raw)
        data = json.dumps(body).encode()
        self.send_response(status, 'OK')
        self.send_header('Content-Type', 'application/json; charset=UTF-8')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        # Malformed HTTP: the agent has no other reason phrase either.
        super().send_error(code, 'OK')

    def log_message(self, fmt, *args):
        LOG.debug('agent stand-in: ' + fmt, *args)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's backlog of 5 drops the SYNs of a burst of concurrent
    # plugs, and the client's 1 s SYN retransmit then exceeds its connect
    # timeout: an unreachable agent that the real one would not be.
    request_queue_size = socket.SOMAXCONN

    def service_actions(self):
        # Under eventlet (nova's functional tests) socketserver may have
        # picked the unpatched poll selector, if it was imported before the
        # monkey patching: serve_forever would then never yield, and the
        # whole process hangs once it polls with no request pending. Yield
        # once per turn (green sleep; without eventlet a no-op).
        time.sleep(0)

    def __init__(self, address, standin):
        self.standin = standin
        self.connections = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler, bind_and_activate=False)
        self.server_bind()

    def process_request(self, request, client_address):
        with self._conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self):
        with self._conn_lock:
            connections = list(self.connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class AgentStandin(object):
    """The vRouter agent's port API, in a thread of this process.

    ``auto_configure``: every VM port gets config at once (GET answers).

    ``AgentStandin(ports_dir).start()`` returns the URL. The listening port
    is reserved at construction, so ``url`` is known before ``start()`` and
    connections are refused until then (and after ``stop()``); ``start()``
    again after ``stop()`` is an agent restart (files replayed).
    """

    def __init__(self, ports_dir, host='127.0.0.1', port=0,
                 stale_timeout=60.0, program_name=PROGRAM_NAME,
                 auto_configure=False):
        self.ports_dir = ports_dir
        self.auto_configure = auto_configure
        self.host = host
        self.stale_timeout = stale_timeout
        self.program_name = program_name
        self._lock = threading.Lock()
        self._ports = {}
        self._versions = {}
        self._version = 0
        self._config = {}
        self._refused = {}
        self._requests = []
        self._hang = False
        self._released = threading.Event()
        self._received = threading.Condition(self._lock)
        self._timers = []
        self._thread = None
        self._server = _Server((host, port), self)
        self.port = self._server.server_address[1]
        self.url = 'http://%s:%d' % (
            '[%s]' % host if ':' in host else host, self.port)

    # --- life cycle -----------------------------------------------------

    @property
    def running(self):
        return self._thread is not None

    def start(self):
        """Replay the ports dir, then listen (like the agent). -> url"""
        if self._thread is not None:
            return self.url
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
        self._released.clear()
        self.replay()
        self._server.server_activate()
        # A short poll keeps stop() quick.
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        args=(0.02,), name='agent-standin',
                                        daemon=True)
        self._thread.start()
        LOG.info('vRouter agent stand-in listening at %s (ports dir %s)',
                 self.url, self.ports_dir)
        return self.url

    def stop(self):
        """Stop listening and drop every connection.

        Keeps the port files and forgets the in-memory registrations, like
        a stopped agent.
        """
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        self._released.set()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            if thread is not None:
                server.shutdown()
            server.drop_connections()
            server.server_close()
        if thread is not None:
            thread.join()
        with self._lock:
            self._ports.clear()
            self._versions.clear()
            self._config.clear()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- fault hooks ----------------------------------------------------

    @property
    def hang(self):
        return self._hang

    @hang.setter
    def hang(self, value):
        """Set True: requests are read and never answered.

        Setting False releases (drops) the requests hanging so far.
        """
        self._hang = bool(value)
        if value:
            self._released.clear()
        else:
            self._released.set()

    def refuse(self, port_id, message='Refused by the agent stand-in'):
        """Answer 500 to adds of this port (until ``accept``)."""
        with self._lock:
            self._refused[port_id.lower()] = message

    def accept(self, port_id):
        with self._lock:
            self._refused.pop(port_id.lower(), None)

    def configure(self, port_id, plen=24, gateway=None, dns_server=None):
        """Simulate the control node's config for a port: GET answers."""
        with self._lock:
            self._config[port_id.lower()] = {
                'plen': plen, 'gateway': gateway, 'dns-server': dns_server}

    # --- observation ----------------------------------------------------

    @property
    def requests(self):
        """Every request received, in order.

        ``Request(method, path, body)``; body is the parsed JSON or the
        raw text.
        """
        with self._lock:
            return list(self._requests)

    def clear_requests(self):
        with self._lock:
            del self._requests[:]

    def wait_for_requests(self, count, timeout=5.0):
        """Block until ``count`` requests arrived; -> the requests."""
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._received.wait(left)
            return list(self._requests)

    @property
    def registrations(self):
        """``{port_id: entry}`` the agent currently holds."""
        with self._lock:
            return {k: dict(v) for k, v in self._ports.items()}

    # --- the agent ------------------------------------------------------

    def record(self, method, path, raw):
        """Note a request; True when it must hang."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        with self._received:
            self._requests.append(Request(method, path, body))
            self._received.notify_all()
        if self._hang:
            self._released.wait()
            return True
        return False

    def handle(self, method, path, raw):
        """-> (status, JSON body) for one request."""
        path = urllib.parse.urlsplit(path).path
        match = _PORT_PATH.fullmatch(path)
        if method == 'POST' and path == '/port':
            return self._add_from_json(raw)
        if method == 'POST' and path == '/syncports':
            self._sync()
            return 200, {}
        if method == 'DELETE' and match:
            self._delete(match.group(1))
            return 200, {}
        if method == 'GET' and match:
            info = self._port_info(match.group(1))
            if info is None:
                return 404, {'error': '{ Not Found }'}
            return 200, info
        return 404, {'error': 'Unknown Request'}

    def _add_from_json(self, raw, check_interface=False, write_file=True):
        try:
            doc = json.loads(raw)
        except ValueError:
            return 500, {'error': '{ Invalid Json string ==> %s }' % raw}
        if isinstance(doc, list):
            entries = []
            for elem in doc:
                try:
                    if not isinstance(elem, dict):
                        raise ValueError('Json Array has invalid element '
                                         '==> %s' % raw)
                    entries.append(parse_port(elem, check_interface))
                except ValueError as e:
                    LOG.info('agent stand-in: array add refused: %s', e)
                    return 200, {}
            for entry in entries:
                self._add(entry, write_file)
            return 200, {}
        if not isinstance(doc, dict):
            return 500, {'error': '{ Unexpected Json string ==> %s }' % raw}
        try:
            entry = parse_port(doc, check_interface)
        except ValueError as e:
            return 500, {'error': '{ %s }' % e}
        with self._lock:
            refused = self._refused.get(entry['id'])
        if refused is not None:
            return 500, {'error': '{ %s }' % refused}
        self._add(entry, write_file)
        return 200, {}

    def _add(self, entry, write_file):
        pid = entry['id']
        if write_file:
            self._write_file(entry)
        with self._lock:
            old = self._ports.get(pid)
            if old is None or old['instance-id'] != entry['instance-id']:
                self._ports[pid] = entry
            self._versions[pid] = self._version

    def _write_file(self, entry):
        path = os.path.join(self.ports_dir, entry['id'])
        if os.path.exists(path):
            return
        data = dict(entry, author=self.program_name,
                    time=time.strftime('%Y-%m-%d %H:%M:%S'))
        os.makedirs(self.ports_dir, exist_ok=True)
        with open(path, 'w') as f:
            json.dump(data, f, indent=4)

    def _delete(self, pid):
        if pid == NIL_UUID:
            return
        with self._lock:
            self._ports.pop(pid, None)
            self._versions.pop(pid, None)
            self._config.pop(pid, None)
        path = os.path.join(self.ports_dir, pid)
        if os.path.isfile(path):
            os.unlink(path)

    def _port_info(self, pid):
        with self._lock:
            entry = self._ports.get(pid)
            config = self._config.get(pid)
        if config is None and self.auto_configure:
            config = {'plen': 24, 'gateway': None, 'dns-server': None}
        if entry is None or config is None or entry['type'] == NAMESPACE:
            return None
        info = {k: entry[k] for k in (
            'id', 'instance-id', 'vn-id', 'vm-project-id', 'mac-address',
            'system-name', 'rx-vlan-id', 'tx-vlan-id', 'vhostuser-mode')}
        if entry['ip-address'] != '0.0.0.0':
            info.update({'ip-address': entry['ip-address'],
                         'plen': config['plen'],
                         'dns-server': config['dns-server'] or '0.0.0.0',
                         'gateway': config['gateway'] or '0.0.0.0'})
        info.update(author=self.program_name,
                    time=time.strftime('%Y-%m-%d %H:%M:%S'))
        return info

    def _sync(self):
        with self._lock:
            self._version += 1
            version = self._version
            timer = threading.Timer(self.stale_timeout, self._clean_stale,
                                    args=(version,))
            timer.daemon = True
            self._timers.append(timer)
        timer.start()

    def _clean_stale(self, version):
        with self._lock:
            stale = [pid for pid, v in self._versions.items()
                     if v < version and self._ports[pid]['type'] != NAMESPACE]
        for pid in stale:
            LOG.info('agent stand-in: port %s not re-added since the sync, '
                     'deleting it', pid)
            self._delete(pid)

    def replay(self):
        """Add every UUID-named file of the ports dir, like the agent.

        Files whose system-name interface is missing are skipped (and
        kept). Returns the ids added.
        """
        try:
            names = sorted(os.listdir(self.ports_dir))
        except FileNotFoundError:
            return []
        added = []
        for name in names:
            path = os.path.join(self.ports_dir, name)
            try:
                if uuid.UUID(name).int == 0 or not os.path.isfile(path):
                    continue
            except ValueError:
                continue
            try:
                with open(path) as f:
                    raw = f.read()
            except OSError:
                continue
            status, body = self._add_from_json(raw, check_interface=True,
                                               write_file=False)
            if status == 200:
                added.append(str(uuid.UUID(name)))
            else:
                LOG.info('agent stand-in: not replaying %s: %s', name,
                         body.get('error'))
        return added


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Stand-in for the vRouter agent port API '
                    '(POST /port, DELETE/GET /port/<uuid>, POST /syncports).')
    parser.add_argument('--listen', default='127.0.0.1',
                        help='address to listen on (the real agent listens '
                             'on every IPv4 address; default: %(default)s)')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT,
                        help='TCP port (default: %(default)s)')
    parser.add_argument('--ports-dir', default=DEFAULT_PORTS_DIR,
                        help='port files directory (default: %(default)s)')
    parser.add_argument('--stale-timeout', type=float, default=60.0,
                        help='seconds after POST /syncports before ports '
                             'not re-added are deleted (default: 60)')
    parser.add_argument('--configure', action='store_true',
                        help='answer GET /port/<uuid> for every registered '
                             'VM port as if the control node config arrived')
    args = parser.parse_args(argv)
    std_logging.basicConfig(level=std_logging.INFO,
                            format='%(asctime)s %(levelname)s %(message)s')
    standin = AgentStandin(args.ports_dir, host=args.listen, port=args.port,
                           stale_timeout=args.stale_timeout,
                           auto_configure=args.configure)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(standin.start(), flush=True)
    try:
        stop.wait()
    finally:
        standin.stop()
    return 0
