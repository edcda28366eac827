"""Payloads, port files and the HTTP client of the vRouter agent."""

import json
import logging
import os
import stat
import time

import fixtures
import testtools

from nova_lxc_contrail import exception
from nova_lxc_contrail.tests import vif_fixtures as vf
from nova_lxc_contrail.vif import agent

PORT = '93c2c386-6e79-485e-bfa4-b9daa713133b'


class TestPayload(testtools.TestCase):

    def test_payload_is_a_nova_vm_port_on_the_bridge(self):
        v = vf.vif(PORT)
        payload = agent.build_payload(v, vf.instance_info(), 'br93c2c386-6e')
        self.assertEqual({
            'id': PORT, 'instance-id': vf.INSTANCE_ID, 'vn-id': vf.NETWORK_ID,
            'vm-project-id': '9970147c-33b1-4bf7-8944-8968e708d430',
            'display-name': 'vm1', 'ip-address': '11.0.0.3',
            'ip6-address': '', 'system-name': 'br93c2c386-6e',
            'mac-address': '02:93:c2:c3:86:6e', 'type': 0,
            'rx-vlan-id': -1, 'tx-vlan-id': -1}, payload)

    def test_addresses(self):
        v = vf.vif(PORT, net=vf.network(ips=('fd00::5', '10.1.0.7')))
        payload = agent.build_payload(v, vf.instance_info(), 'br')
        self.assertEqual(('10.1.0.7', 'fd00::5'),
                         (payload['ip-address'], payload['ip6-address']))
        v = vf.vif(PORT, net=vf.network(ips=()))
        payload = agent.build_payload(v, vf.instance_info(), 'br')
        self.assertEqual(('0.0.0.0', ''),
                         (payload['ip-address'], payload['ip6-address']))

    def test_project_id_dashed_or_empty(self):
        for project, expected in (
                ('9970147c33b14bf789448968e708d430',
                 '9970147c-33b1-4bf7-8944-8968e708d430'),
                ('9970147C-33B1-4BF7-8944-8968E708D430',
                 '9970147c-33b1-4bf7-8944-8968e708d430'),
                ('', ''), ('demo', '')):
            payload = agent.build_payload(
                vf.vif(PORT), vf.instance_info(project_id=project), 'br')
            self.assertEqual(expected, payload['vm-project-id'])

    def test_mac_is_lower_case(self):
        payload = agent.build_payload(vf.vif(PORT, mac='02:AB:CD:EF:00:01'),
                                      vf.instance_info(), 'br')
        self.assertEqual('02:ab:cd:ef:00:01', payload['mac-address'])

    def assertInvalid(self, v, message, info=None, system_name='br'):
        e = self.assertRaises(exception.InvalidPort, agent.build_payload, v,
                              info or vf.instance_info(), system_name)
        self.assertIn(message, str(e))

    def test_bad_input_is_named(self):
        v = vf.vif(PORT)
        del v.address
        self.assertInvalid(v, 'no MAC address')
        v = vf.vif(PORT)
        v.network = None
        self.assertInvalid(v, 'no network')
        v = vf.vif(PORT, net=vf.network(network_id=None))
        self.assertInvalid(v, 'no network')
        v = vf.vif(PORT, net=vf.network(
            network_id='00000000-0000-0000-0000-000000000000'))
        self.assertInvalid(v, 'nil UUID')
        self.assertInvalid(vf.vif(PORT, mac='00:00:00:00:00:00'), 'all zero')
        self.assertInvalid(vf.vif(PORT), '16 bytes',
                           system_name='br93c2c386-6e79-')

    def test_macs_the_agent_refuses(self):
        for mac in ('02-93-c2-c3-86-6e', '0293.c2c3.866e', 'x', ''):
            self.assertRaises(exception.InvalidPort, agent.validate_mac,
                              mac, PORT)


class TestRegistrationChanges(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.payload = agent.build_payload(vf.vif(PORT), vf.instance_info(),
                                           'br93c2c386-6e')

    def test_same_registration(self):
        self.assertEqual([], agent.registration_changes(
            dict(self.payload, author='x', time='y'), self.payload))

    def test_the_agents_own_file_is_the_same_registration(self):
        # The agent writes '::' for no IPv6 address and vhostuser-mode.
        written = dict(self.payload, **{'ip6-address': '::',
                                        'vhostuser-mode': 0})
        self.assertEqual([],
                         agent.registration_changes(written, self.payload))

    def test_changes_are_listed(self):
        old = dict(self.payload, **{'system-name': 'tap93c2c386-6e',
                                    'ip-address': '11.0.0.4', 'type': 1})
        self.assertEqual(['ip-address', 'system-name', 'type'],
                         agent.registration_changes(old, self.payload))


class TestPortFiles(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = os.path.join(
            self.useFixture(vf.fixtures.TempDir()).path, 'ports')
        self.files = agent.PortFiles(self.dir)
        self.payload = agent.build_payload(vf.vif(PORT), vf.instance_info(),
                                           'br93c2c386-6e')

    def test_write_creates_dir_and_agent_format(self):
        path = self.files.write(self.payload)
        self.assertEqual(os.path.join(self.dir, PORT), path)
        with open(path) as f:
            data = json.load(f)
        self.assertEqual('nova-lxc-contrail', data.pop('author'))
        self.assertTrue(data.pop('time'))
        self.assertEqual(self.payload, data)
        self.assertEqual(0o644, stat.S_IMODE(os.stat(path).st_mode))
        self.assertEqual([PORT], os.listdir(self.dir))

    def test_read_and_remove(self):
        self.assertIsNone(self.files.read(PORT))
        self.files.write(self.payload)
        self.assertEqual(self.payload,
                         agent.registration(self.files.read(PORT)))
        self.assertTrue(self.files.remove(PORT))
        self.assertFalse(self.files.remove(PORT))
        self.assertIsNone(self.files.read(PORT))

    def test_read_all_like_the_agent_replays(self):
        other = '0b8e1cba-4e0a-4c5b-9b34-0f0e4f1b1a10'
        self.files.write(self.payload)
        self.files.write(dict(self.payload, id=other))
        for junk in ('not-a-uuid', '.%s.tmp' % PORT, PORT.upper()):
            with open(os.path.join(self.dir, junk), 'w') as f:
                f.write('{}')
        with open(os.path.join(self.dir,
                               '5b1c8d9e-7f60-4a1b-8c2d-3e4f5a6b7c8d'),
                  'w') as f:
            f.write('{broken')
        self.assertEqual({PORT, other}, set(self.files.read_all()))

    def test_unwritable_dir_is_a_clear_error(self):
        blocker = os.path.join(os.path.dirname(self.dir), 'a-file')
        open(blocker, 'w').close()
        files = agent.PortFiles(os.path.join(blocker, 'ports'))
        e = self.assertRaises(exception.NovaLxcContrailError, files.write,
                              self.payload)
        self.assertIn('cannot write the port file', str(e))
        self.assertIn('ports_dir', str(e))

    def test_read_all_without_dir(self):
        self.assertEqual({}, self.files.read_all())


class TestAgentClient(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.agent = self.useFixture(vf.AgentFixture(read_timeout=0.3))
        self.client = agent.AgentClient()
        self.addCleanup(self.client.close)
        self.payload = agent.build_payload(vf.vif(PORT), vf.instance_info(),
                                           'br93c2c386-6e')

    def test_options_are_used(self):
        self.assertEqual(self.agent.standin.url, self.client.url)
        self.assertEqual((1.0, 0.3), self.client.timeout)

    def test_register_unregister(self):
        self.assertTrue(self.client.register(
            dict(self.payload, author='x', time='y')))
        self.assertTrue(self.client.unregister(PORT))
        self.assertEqual(
            [('POST', '/port', self.payload), ('DELETE', '/port/' + PORT,
                                               None)],
            [tuple(r) for r in self.agent.standin.requests])

    def test_refusal_carries_the_agents_message(self):
        self.agent.standin.refuse(PORT, 'Invalid VN uuid')
        e = self.assertRaises(exception.AgentError, self.client.register,
                              self.payload)
        self.assertIn('Invalid VN uuid', str(e))
        self.assertIn('500', str(e))
        self.assertIn(PORT, str(e))

    def test_get(self):
        self.assertIsNone(self.client.get(PORT))
        self.client.register(self.payload)
        self.agent.standin.configure(PORT, gateway='11.0.0.1')
        self.assertEqual('11.0.0.1', self.client.get(PORT)['gateway'])

    def test_sync(self):
        self.assertTrue(self.client.sync())
        self.assertEqual('/syncports', self.agent.standin.requests[0].path)

    def test_down_agent_is_not_an_error(self):
        self.agent.standin.stop()
        started = time.monotonic()
        self.assertFalse(self.client.register(self.payload))
        self.assertFalse(self.client.unregister(PORT))
        self.assertFalse(self.client.sync())
        self.assertIsNone(self.client.get(PORT))
        self.assertLess(time.monotonic() - started, 1.0)

    def test_warnings_say_what_an_unanswered_request_means(self):
        log = self.useFixture(fixtures.FakeLogger(
            name=agent.__name__, level=logging.WARNING))
        self.agent.standin.stop()

        def warning(call, *args):
            before = len(log.output)
            call(*args)
            return log.output[before:]

        post = warning(self.client.register, self.payload)
        self.assertIn('POST /port for port %s' % PORT, post)
        self.assertIn('The port file stays', post)
        # unplug removes the file before it sends DELETE.
        delete = warning(self.client.unregister, PORT)
        self.assertIn('DELETE /port/%s' % PORT, delete)
        self.assertIn('port file is already removed', delete)
        self.assertNotIn('file stays', delete)
        get = warning(self.client.get, PORT)
        self.assertIn('view of the port is unknown', get)
        self.assertNotIn('port file', get)
        sync = warning(self.client.sync)
        self.assertIn('No stale-port audit was started', sync)
        self.assertNotIn('port file', sync)

    def test_hanging_agent_times_out(self):
        self.agent.standin.hang = True
        started = time.monotonic()
        self.assertFalse(self.client.register(self.payload))
        self.assertLess(time.monotonic() - started, 1.5)

    def test_one_kept_alive_connection(self):
        for _ in range(5):
            self.client.register(self.payload)
        self.assertEqual(1, len(self.agent.standin._server.connections))
