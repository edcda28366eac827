"""``nova-lxc-contrail check`` on this real host (root, sandbox).

With the sandbox's private libvirtd (run without the cgroup2 mount, as
libvirt-LXC needs on this hybrid host) and the agent stand-in, the kernel,
device, tool, libvirt and agent checks pass here; the command exits
non-zero exactly when a check fails.
"""


from nova_lxc_contrail.tests.functional import cli_fixtures


class TestCheckThisHost(cli_fixtures.LibvirtdTestCase):

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture())

    def test_host_groups_pass(self):
        report = self.host.cli_json('check', '--skip', 'nova',
                                    stderr='')
        statuses = {c['name']: c['status'] for c in report['checks']}
        for name in ('namespaces', 'cgroup controllers', 'veth', 'bridge',
                     'tun/tap', '/dev/net/tun', 'loop devices',
                     'qcow2 attach', 'qemu-img', 'libvirt LXC driver',
                     'libvirt connection', 'libvirt lxc hook',
                     'vRouter agent'):
            self.assertEqual('pass', statuses[name], report)
        # The private libvirtd sees no cgroup2 mount.
        self.assertIn(statuses['cgroup layout'], ('pass',))
        self.assertTrue(report['ok'], report)

    def test_agent_down_warns_libvirt_down_fails(self):
        self.host.standin.stop()
        self.host.libvirt_uri = 'lxc+unix:///system?socket=/nonexistent/s'
        self.host.write_config()
        result = self.host.cli('check', '--only', 'agent', '--only',
                               'libvirt', check=1)
        self.assertIn('warn', result.stdout)
        self.assertIn('-> start the vRouter agent', result.stdout)
        self.assertIn('-> start libvirtd', result.stdout)
        self.assertIn('this host cannot run LXC instances', result.stdout)

    def test_nova_conf_of_the_fixture(self):
        report = self.host.cli_json('check', '--only', 'nova', check=None)
        statuses = {c['name']: c['status'] for c in report['checks']}
        self.assertEqual('pass', statuses['[libvirt] virt_type'])
        self.assertEqual('pass', statuses['os-vif plugin'])

    def test_user_namespaces_and_idmapped_mounts_here(self):
        report = self.host.cli_json('check', '--only', 'nova', '--only',
                                    'kernel', check=None)
        checks = {c['name']: c for c in report['checks']}
        # Linux 6.18 here: the real syscall probe answers.
        self.assertEqual('pass', checks['idmapped mounts']['status'])
        # The fixture's nova.conf sets no uid_maps: a warning with the fix.
        self.assertEqual('warn', checks['user namespaces']['status'])
        self.assertIn('uid_maps = 0:100000:65536',
                      checks['user namespaces']['remedy'])
