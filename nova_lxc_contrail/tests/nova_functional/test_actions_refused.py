"""What libvirt-LXC cannot do is refused before anything changes.

The compute node lacks the traits of what a container cannot have, so the
scheduler never picks it for them; the actions on a running server that
nova checks against the driver's capabilities are answered no by the API;
live migration fails nova's pre-checks. Each time: the server stays ACTIVE,
its container untouched (the same init), its port plugged and registered.
"""

from nova.tests.functional.api import client as api_client
import os_traits

from nova_lxc_contrail.tests.nova_functional import base

# Traits a container host must not report.
ABSENT_TRAITS = {
    os_traits.COMPUTE_VOLUME_MULTI_ATTACH,
    os_traits.COMPUTE_RESCUE_BFV,
    os_traits.COMPUTE_ACCELERATORS,
    os_traits.COMPUTE_SECURITY_TPM_1_2,
    os_traits.COMPUTE_SECURITY_TPM_2_0,
    os_traits.COMPUTE_IMAGE_TYPE_ISO,
    os_traits.COMPUTE_IMAGE_TYPE_AKI,
    os_traits.COMPUTE_IMAGE_TYPE_ARI,
    os_traits.COMPUTE_IMAGE_TYPE_AMI,
    os_traits.COMPUTE_IMAGE_TYPE_PLOOP,
}
PRESENT_TRAITS = {os_traits.COMPUTE_IMAGE_TYPE_RAW}


class RefusedTestBase(base.ContrailNovaTestBase):

    LIBVIRT_EVENTS = True

    def setUp(self):
        super().setUp()
        self.port = self.create_vrouter_port()
        self.server, _ = self.boot(self.build_image('disk.raw'),
                                   networks=[{'port': self.port['id']}])
        dom = self.assert_server_running(self.server, [self.port])
        self.init_pid = self.container_init_pid(dom)
        links = self.host_links(self.port)
        self.devices = {k: links[k]['index'] for k in ('tap', 'bridge')}
        self.agent.clear_requests()

    def assert_untouched(self):
        server = self._show_server(self.server)
        self.assertEqual(('ACTIVE', None),
                         (server['status'], server['OS-EXT-STS:task_state']))
        dom = self.assert_domain_running(server)
        self.assertEqual(self.init_pid, self.container_init_pid(dom))
        self.assert_container_nics(dom, [self.port])
        self.assert_port_plugged(server, self.port)
        links = self.host_links(self.port)
        self.assertEqual(self.devices,
                         {k: links[k]['index'] for k in ('tap', 'bridge')})
        self.assertEqual([], self.agent.requests)


class TestRefused(RefusedTestBase):

    def test_compute_node_traits(self):
        traits = set(self._get_provider_traits(
            self._get_provider_uuid_by_host(base.COMPUTE_HOST)))
        self.assertEqual(set(), ABSENT_TRAITS & traits)
        self.assertEqual(PRESENT_TRAITS, PRESENT_TRAITS & traits)
        self.assert_untouched()

    def test_multiattach_volume(self):
        volume = self.cinder.MULTIATTACH_VOL
        error = self.assertRaises(
            api_client.OpenStackApiException,
            self.api.post_server_volume, self.server['id'],
            {'volumeAttachment': {'volumeId': volume}})
        self.assertEqual(400, error.response.status_code)
        self.assertIn('multiattach', error.response.text.lower())
        self.assertEqual([], self.api.get_server_volumes(self.server['id']))
        self.assert_untouched()


class TestLiveMigrationRefused(RefusedTestBase):

    # As in production, the API casts the live migration to the conductor
    # and answers 202; nova's harness would make the cast a call.
    CAST_AS_CALL = False

    def test_live_migration(self):
        # The only other host would be this one: the scheduler has none,
        # and this driver's pre-checks refuse any destination.
        self.api.post_server_action(self.server['id'], {
            'os-migrateLive': {'host': None, 'block_migration': 'auto'}})
        migration = self._wait_for_migration_status(self.server, ['error'])
        self.assertEqual('live-migration', migration['migration_type'])
        self.assert_untouched()


class TestAdminPasswordRefused(RefusedTestBase):

    def test_change_password(self):
        # nova sets passwords through the QEMU guest agent only.
        error = self.assertRaises(
            api_client.OpenStackApiException,
            self.api.post_server_action, self.server['id'],
            {'changePassword': {'adminPass': 'secret'}})
        self.assertEqual(409, error.response.status_code)
        self.assert_untouched()
