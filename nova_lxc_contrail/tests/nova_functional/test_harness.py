"""Stock nova's libvirt driver on the harness: the harness itself works."""

from nova_lxc_contrail.tests.nova_functional import base


class TestStockLibvirtLxc(base.LxcNovaTestBase):
    """An unpartitioned raw image, no network: what stock nova can boot."""

    COMPUTE_DRIVER = 'libvirt.LibvirtDriver'

    def test_boot_and_delete(self):
        image = self.create_image(
            base.build_plain_raw_image(self.image_path('plain.raw')))
        server, seconds = self.boot(image)
        self.timing('stock POST->ACTIVE', seconds)
        dom = self.assert_domain_running(server)
        self.assertEqual(['boot 1'], self.wait_for_boots(dom, 1))
        self.assertEqual(1, len(self.host_state()['loops']))
        self.timing('stock DELETE->gone', self.delete(server))
        self.assert_nothing_left(server)
