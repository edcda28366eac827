"""LxcContrailDriver's pieces for rebuild, resize and snapshot.

The actions themselves run in tests/nova_functional (test_rebuild,
test_resize, test_snapshot, test_shelve) on a real libvirtd.
"""

import os

from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import imagebackend

from nova_lxc_contrail.tests.unit import test_driver
from nova_lxc_contrail.virt import driver
from nova_lxc_contrail.virt import imagebackend as lxc_imagebackend


class TestInstanceDisk(test_driver.DriverTestCase):

    def test_disk_format_follows_images_type(self):
        for images_type, use_cow, expected in (
                ('raw', True, 'raw'), ('flat', True, 'raw'),
                ('qcow2', False, 'qcow2'), ('default', True, 'qcow2'),
                ('default', False, 'raw'), ('lvm', True, 'raw')):
            self.conf.config(images_type=images_type, group='libvirt')
            self.conf.config(use_cow_images=use_cow)
            self.assertEqual(expected, driver.instance_disk_format(),
                             (images_type, use_cow))

    def _lxc_config(self, instance_dir):
        config = vconfig.LibvirtConfigGuest()
        config.virt_type = 'lxc'
        rootfs = vconfig.LibvirtConfigGuestFilesys()
        rootfs.source_type = 'mount'
        rootfs.source_dir = os.path.join(instance_dir, 'rootfs')
        rootfs.target_dir = '/'
        config.add_device(rootfs)
        return config

    def test_the_lxc_disk_is_listed_for_resize(self):
        instance_dir = self.useFixture(
            test_driver.fixtures.TempDir()).path
        with open(os.path.join(instance_dir, 'disk'), 'wb') as f:
            f.truncate(4 << 20)
        self.conf.config(images_type='raw', group='libvirt')
        info = self.make_driver()._get_instance_disk_info_from_config(
            self._lxc_config(instance_dir), None)
        self.assertEqual(
            [(os.path.join(instance_dir, 'disk'), 'raw', 4 << 20)],
            [(i['path'], i['type'], i['virt_disk_size']) for i in info])

    def test_no_disk_file_nothing_listed(self):
        # Booted from a volume: no instance disk to copy.
        instance_dir = self.useFixture(
            test_driver.fixtures.TempDir()).path
        info = self.make_driver()._get_instance_disk_info_from_config(
            self._lxc_config(instance_dir), None)
        self.assertEqual([], info)


class TestImageBackend(test_driver.DriverTestCase):

    def test_qcow2_disks_snapshot_through_the_export(self):
        for use_cow in (True, False):
            backend = lxc_imagebackend.LxcImageBackend(use_cow)
            self.assertIs(lxc_imagebackend.ExportedQcow2,
                          backend.backend('qcow2'))
            self.assertIs(lxc_imagebackend.ExportedQcow2 if use_cow
                          else imagebackend.Flat, backend.backend('default'))
            self.assertIs(imagebackend.Flat, backend.backend('raw'))

    def test_the_driver_uses_it(self):
        self.assertIsInstance(self.make_driver().image_backend,
                              lxc_imagebackend.LxcImageBackend)

    def test_same_host_cold_migration_is_offered(self):
        self.assertTrue(self.make_driver().capabilities[
            'supports_migrate_to_same_host'])
