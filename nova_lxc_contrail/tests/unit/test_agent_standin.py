"""The vRouter agent stand-in follows the agent's port API contract."""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

import fixtures
import requests
import testtools

from nova_lxc_contrail.standin import agent as standin_agent

PORT = '93c2c386-6e79-485e-bfa4-b9daa713133b'
OTHER = '0b8e1cba-4e0a-4c5b-9b34-0f0e4f1b1a10'
INSTANCE = '69ce06bd-6d1e-43d0-8e48-a30043a49ed8'
VN = '56297dc0-5553-4e6a-b87f-8423afc21e9d'


def port_body(port_id=PORT, **changes):
    body = {'id': port_id, 'instance-id': INSTANCE, 'vn-id': VN,
            'vm-project-id': '9970147c-33b1-4bf7-8944-8968e708d430',
            'display-name': 'vm1', 'ip-address': '11.0.0.3',
            'ip6-address': '', 'system-name': 'br93c2c386-6e',
            'mac-address': '02:93:c2:c3:86:6e', 'type': 0,
            'rx-vlan-id': -1, 'tx-vlan-id': -1}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


class StandinTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.ports_dir = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'ports')
        self.standin = standin_agent.AgentStandin(self.ports_dir,
                                                  stale_timeout=0.3)
        self.addCleanup(self.standin.stop)
        self.session = requests.Session()
        self.addCleanup(self.session.close)

    def request(self, method, path, body=None, raw=None):
        """-> (status, reason, parsed body) over a raw HTTP connection."""
        url = urllib.parse.urlsplit(self.standin.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        self.addCleanup(conn.close)
        data = raw if raw is not None else (
            json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data,
                     headers={'Content-Type': 'application/json'})
        response = conn.getresponse()
        return response.status, response.reason, json.loads(response.read())

    def post(self, body):
        return self.request('POST', '/port', body)

    def write_file(self, port_id, body):
        os.makedirs(self.ports_dir, exist_ok=True)
        with open(os.path.join(self.ports_dir, port_id), 'w') as f:
            json.dump(body, f)


class TestRoutes(StandinTestCase):

    def setUp(self):
        super().setUp()
        self.standin.start()

    def test_add_answers_200_empty_object_reason_ok(self):
        self.assertEqual((200, 'OK', {}), self.post(port_body()))

    def test_unknown_routes_are_404_unknown_request_reason_ok(self):
        for method, path in (('GET', '/port'), ('GET', '/ports'),
                             ('PUT', '/port'), ('DELETE', '/port'),
                             ('GET', '/port/' + PORT.upper()),
                             ('DELETE', '/port/' + PORT.upper()),
                             ('GET', '/port/not-a-uuid'),
                             ('GET', '/port/%s/x' % PORT)):
            self.assertEqual((404, 'OK', {'error': 'Unknown Request'}),
                             self.request(method, path), (method, path))

    def test_get_is_404_until_config_arrives(self):
        self.post(port_body())
        self.assertEqual((404, 'OK', {'error': '{ Not Found }'}),
                         self.request('GET', '/port/' + PORT))
        self.standin.configure(PORT, plen=24, gateway='11.0.0.1')
        status, reason, info = self.request('GET', '/port/' + PORT)
        self.assertEqual((200, 'OK'), (status, reason))
        self.assertEqual('br93c2c386-6e', info['system-name'])
        self.assertEqual('11.0.0.1', info['gateway'])
        self.assertEqual(24, info['plen'])

    def test_namespace_ports_never_get_config(self):
        self.post(port_body(type=1))
        self.standin.configure(PORT)
        self.assertEqual(404, self.request('GET', '/port/' + PORT)[0])

    def test_syncports(self):
        self.assertEqual((200, 'OK', {}),
                         self.request('POST', '/syncports'))

    def test_requests_are_recorded_in_order(self):
        self.post(port_body())
        self.request('DELETE', '/port/' + PORT)
        self.assertEqual(
            [standin_agent.Request('POST', '/port', port_body()),
             standin_agent.Request('DELETE', '/port/' + PORT, None)],
            self.standin.requests)

    def test_keep_alive(self):
        for _ in range(3):
            r = self.session.post(self.standin.url + '/port',
                                  json=port_body())
            self.assertEqual(200, r.status_code)
            self.assertEqual('OK', r.reason)
        self.assertEqual(1, len(self.standin._server.connections))


class TestValidation(StandinTestCase):

    def setUp(self):
        super().setUp()
        self.standin.start()

    def assertRefused(self, body, message, raw=None):
        status, reason, answer = (self.request('POST', '/port', raw=raw)
                                  if raw is not None else self.post(body))
        self.assertEqual((500, 'OK'), (status, reason))
        self.assertIn(message, answer['error'])
        self.assertEqual({}, self.standin.registrations)
        return answer['error']

    def test_every_required_field_is_named_when_missing(self):
        for key in ('id', 'instance-id', 'vn-id', 'vm-project-id',
                    'display-name', 'ip-address', 'ip6-address', 'type',
                    'system-name', 'mac-address', 'rx-vlan-id',
                    'tx-vlan-id'):
            body = port_body()
            del body[key]
            self.assertRefused(body, '<%s>' % key)

    def test_mistyped_fields_are_named(self):
        self.assertRefused(port_body(type='0'), '<type>')
        self.assertRefused(port_body(type=True), '<type>')
        self.assertRefused(port_body(**{'rx-vlan-id': '-1'}),
                           '<rx-vlan-id>')
        self.assertRefused(port_body(**{'display-name': 3}),
                           '<display-name>')
        self.assertRefused(port_body(**{'vn-id': None}), '<vn-id>')

    def test_error_text_is_the_agents(self):
        body = port_body()
        del body['vn-id']
        self.assertEqual('{ Invalid or missing data for <vn-id> }',
                         self.assertRefused(body, 'vn-id'))

    def test_bad_macs(self):
        for mac in ('02:93:c2:c3:86', '0293c2c3866e', '00:00:00:00:00:00',
                    '02:93:c2:c3:86:6e:01', 'zz:93:c2:c3:86:6e', ''):
            self.assertRefused(port_body(**{'mac-address': mac}),
                               'Invalid MAC')

    def test_nil_vn_refused_for_vm_ports_only(self):
        nil = '00000000-0000-0000-0000-000000000000'
        self.assertRefused(port_body(**{'vn-id': nil}), 'Invalid VN uuid')
        self.assertRefused(port_body(**{'vn-id': 'garbage'}),
                           'Invalid VN uuid')
        self.assertEqual(200, self.post(port_body(type=1, **{
            'vn-id': nil}))[0])

    def test_bad_json(self):
        self.assertRefused(None, 'Invalid Json string', raw='{"id": ')
        self.assertRefused(None, 'Unexpected Json string', raw='"x"')

    def test_unparsable_addresses_become_unspecified(self):
        self.post(port_body(**{'ip-address': 'x', 'ip6-address': 'None'}))
        entry = self.standin.registrations[PORT]
        self.assertEqual(('0.0.0.0', '::'),
                         (entry['ip-address'], entry['ip6-address']))

    def test_unknown_type_is_a_vm_port(self):
        self.post(port_body(type=7))
        self.assertEqual(0, self.standin.registrations[PORT]['type'])


class TestSemantics(StandinTestCase):

    def setUp(self):
        super().setUp()
        self.standin.start()

    def test_add_writes_the_file_in_the_agents_format(self):
        self.post(port_body())
        with open(os.path.join(self.ports_dir, PORT)) as f:
            data = json.load(f)
        self.assertEqual('contrail-vrouter-agent', data.pop('author'))
        self.assertTrue(data.pop('time'))
        expected = dict(port_body(), **{'ip6-address': '::',
                                        'vhostuser-mode': 0})
        self.assertEqual(expected, data)

    def test_file_is_written_only_when_absent(self):
        mine = dict(port_body(), author='me', time='then')
        self.write_file(PORT, mine)
        self.post(port_body())
        with open(os.path.join(self.ports_dir, PORT)) as f:
            self.assertEqual(mine, json.load(f))

    def test_duplicate_add_same_instance_changes_nothing(self):
        self.post(port_body())
        self.assertEqual((200, 'OK', {}), self.post(port_body(**{
            'system-name': 'other', 'mac-address': '02:00:00:00:00:01',
            'ip-address': '11.0.0.9'})))
        entry = self.standin.registrations[PORT]
        self.assertEqual(('br93c2c386-6e', '02:93:c2:c3:86:6e', '11.0.0.3'),
                         (entry['system-name'], entry['mac-address'],
                          entry['ip-address']))

    def test_duplicate_add_other_instance_replaces(self):
        self.post(port_body())
        self.post(port_body(**{'instance-id': OTHER, 'system-name': 'x'}))
        entry = self.standin.registrations[PORT]
        self.assertEqual((OTHER, 'x'),
                         (entry['instance-id'], entry['system-name']))

    def test_delete_always_200_and_removes_entry_and_file(self):
        self.assertEqual((200, 'OK', {}),
                         self.request('DELETE', '/port/' + OTHER))
        self.post(port_body())
        self.assertEqual((200, 'OK', {}),
                         self.request('DELETE', '/port/' + PORT))
        self.assertEqual({}, self.standin.registrations)
        self.assertEqual([], os.listdir(self.ports_dir))

    def test_array_is_all_or_nothing_and_always_200(self):
        good = [port_body(), port_body(OTHER, **{'system-name': 'br2'})]
        bad = [port_body(), port_body(OTHER, **{'mac-address': 'x'})]
        self.assertEqual((200, 'OK', {}), self.request('POST', '/port', bad))
        self.assertEqual({}, self.standin.registrations)
        self.assertEqual((200, 'OK', {}),
                         self.request('POST', '/port', [port_body(), 3]))
        self.assertEqual({}, self.standin.registrations)
        self.assertEqual((200, 'OK', {}),
                         self.request('POST', '/port', good))
        self.assertEqual({PORT, OTHER}, set(self.standin.registrations))

    def test_sync_deletes_vm_ports_not_re_added_in_time(self):
        third = '5b1c8d9e-7f60-4a1b-8c2d-3e4f5a6b7c8d'
        self.post(port_body())
        self.post(port_body(OTHER, type=1, **{'system-name': 'ns'}))
        self.post(port_body(third, **{'system-name': 'br3'}))
        self.request('POST', '/syncports')
        self.post(port_body())
        time.sleep(0.8)
        self.assertEqual({PORT, OTHER}, set(self.standin.registrations))
        self.assertFalse(os.path.exists(os.path.join(self.ports_dir, third)))


class TestLifeCycle(StandinTestCase):

    def test_down_until_started(self):
        self.assertRaises(requests.ConnectionError, self.session.post,
                          self.standin.url + '/port', json=port_body(),
                          timeout=2)
        self.standin.start()
        self.assertEqual(200, self.session.post(
            self.standin.url + '/port', json=port_body()).status_code)

    def test_replay_at_start_skips_missing_interfaces(self):
        self.write_file(PORT, port_body(**{'system-name': 'lo'}))
        self.write_file(OTHER, port_body(OTHER, **{
            'system-name': 'nosuchdev0'}))
        self.write_file('not-a-uuid', port_body())
        self.write_file('.%s.tmp' % PORT, port_body())
        self.standin.start()
        self.assertEqual({PORT}, set(self.standin.registrations))
        self.assertTrue(os.path.exists(os.path.join(self.ports_dir, OTHER)))
        self.assertEqual([], self.standin.requests)

    def test_restart_forgets_memory_and_replays_files(self):
        self.standin.start()
        self.post(port_body(**{'system-name': 'lo'}))
        self.post(port_body(OTHER, **{'system-name': 'nosuchdev0'}))
        self.standin.stop()
        self.assertEqual({}, self.standin.registrations)
        self.assertRaises(requests.ConnectionError, self.session.post,
                          self.standin.url + '/port', json=port_body(),
                          timeout=2)
        self.standin.start()
        self.assertEqual({PORT}, set(self.standin.registrations))

    def test_stop_drops_kept_alive_connections(self):
        self.standin.start()
        self.session.post(self.standin.url + '/port', json=port_body())
        self.standin.stop()
        self.assertRaises(requests.ConnectionError, self.session.post,
                          self.standin.url + '/port', json=port_body(),
                          timeout=2)

    def test_hang_reads_and_never_answers(self):
        self.standin.start()
        self.standin.hang = True
        self.assertRaises(requests.ReadTimeout, self.session.post,
                          self.standin.url + '/port', json=port_body(),
                          timeout=(1, 0.3))
        self.assertEqual(1, len(self.standin.requests))
        self.assertEqual({}, self.standin.registrations)
        self.standin.hang = False
        self.assertEqual(200, self.session.post(
            self.standin.url + '/port', json=port_body(),
            timeout=2).status_code)

    def test_refuse_a_port(self):
        self.standin.start()
        self.standin.refuse(PORT, 'Invalid VN uuid')
        self.assertEqual((500, 'OK', {'error': '{ Invalid VN uuid }'}),
                         self.post(port_body()))
        self.assertEqual(200, self.post(port_body(OTHER))[0])
        self.standin.accept(PORT)
        self.assertEqual(200, self.post(port_body())[0])

    def test_wait_for_requests(self):
        self.standin.start()
        self.post(port_body())
        self.assertEqual(1, len(self.standin.wait_for_requests(1, 1)))


class TestMain(testtools.TestCase):

    def test_runs_standalone(self):
        ports_dir = self.useFixture(fixtures.TempDir()).path
        proc = subprocess.Popen(
            [sys.executable, '-c',
             'import sys; from nova_lxc_contrail.standin.agent import main; '
             'sys.exit(main())', '--port', '0', '--ports-dir', ports_dir],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        url = proc.stdout.readline().strip()
        self.assertTrue(url.startswith('http://127.0.0.1:'), url)
        r = requests.post(url + '/port', json=port_body(), timeout=5)
        self.assertEqual((200, 'OK'), (r.status_code, r.reason))
        self.assertEqual([PORT], os.listdir(ports_dir))
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(0, proc.wait(timeout=10))
