"""LxcContrailDriver: loading, configuration checks and its nova glue.

No libvirtd here: the driver is built (nova connects lazily) and its
overrides are driven with nova's own objects; the disk API and libvirt
calls are recorded. The real thing runs in tests/e2e.
"""

import os
import subprocess
from unittest import mock

import fixtures
from nova import context as nova_context
from nova.network import model as network_model
from nova import objects
from nova.virt import driver as virt_driver
from nova.virt import fake as fake_virt
from nova.virt.image import model as imgmodel
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import vif as libvirt_vif
from oslo_config import fixture as config_fixture
import testtools

from nova_lxc_contrail import conf
from nova_lxc_contrail.disk import idmap
from nova_lxc_contrail import exception
from nova_lxc_contrail.virt import container_mtu
from nova_lxc_contrail.virt import driver
from nova_lxc_contrail.virt import guest as lxc_guest

objects.register_all()
CONF = conf.CONF

PORT = '5a8f1c3e-7d2b-4c1a-9e0f-1b2c3d4e5f60'
MAC = 'fa:16:3e:12:34:56'


class RecordingVIFDriver(libvirt_vif.LibvirtGenericVIFDriver):
    """A VIF driver class named in [libvirt] vif_driver by the tests."""


class NotAVIFDriver(object):
    def __init__(self, host):
        pass


def vrouter_vif(mtu=1400, vif_type='vrouter', address=MAC):
    network = network_model.Network(id='net-1', bridge=None,
                                    subnets=[], meta={'mtu': mtu})
    return network_model.VIF(id=PORT, address=address, type=vif_type,
                             network=network)


class DriverTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(CONF))
        self.instances = self.useFixture(fixtures.TempDir()).path
        self.conf.config(instances_path=self.instances)
        self.conf.config(virt_type='lxc', group='libvirt')
        self.conf.config(vif_driver=__name__ + '.RecordingVIFDriver',
                         group='libvirt')

    def make_driver(self):
        return virt_driver.load_compute_driver(
            fake_virt.FakeVirtAPI(), 'lxc_contrail.LxcContrailDriver')

    def make_instance(self, **sysmeta):
        return objects.Instance(uuid='0f7d2f3c-5b0a-4c8e-9a51-3d2e1f0a9b8c',
                                system_metadata=dict(sysmeta))


class TestLoading(DriverTestCase):

    def test_nova_loads_it_by_its_compute_driver_name(self):
        drv = self.make_driver()
        self.assertIsInstance(drv, driver.LxcContrailDriver)
        self.assertIsInstance(drv, libvirt_driver.LibvirtDriver)
        self.assertIsInstance(drv.vif_driver, RecordingVIFDriver)
        self.assertIsInstance(drv._host, lxc_guest.LxcHost)
        self.assertIs(drv._host, drv.vif_driver.host)

    def test_default_vif_driver_is_the_lxc_contrail_one(self):
        from nova_lxc_contrail.virt import vif
        CONF.clear_override('vif_driver', group='libvirt')
        self.assertIsInstance(self.make_driver().vif_driver,
                              vif.LxcContrailVIFDriver)

    def test_vif_driver_that_cannot_be_imported_is_a_startup_error(self):
        self.conf.config(vif_driver='no_such_module.VIFDriver',
                         group='libvirt')
        e = self.assertRaises(exception.ConfigError, self.make_driver)
        self.assertIn('[libvirt] vif_driver = no_such_module.VIFDriver '
                      'cannot be imported', str(e))

    def test_vif_driver_of_another_kind_is_a_startup_error(self):
        self.conf.config(vif_driver=__name__ + '.NotAVIFDriver',
                         group='libvirt')
        e = self.assertRaises(exception.ConfigError, self.make_driver)
        self.assertIn('is not a subclass of nova\'s', str(e))
        self.assertIn('NotAVIFDriver', str(e))

    def test_virt_type_other_than_lxc_is_refused_before_libvirt(self):
        drv = self.make_driver()
        self.conf.config(virt_type='kvm', group='libvirt')
        with mock.patch.object(drv._host, 'initialize') as initialize:
            e = self.assertRaises(exception.ConfigError, drv.init_host,
                                  'compute1')
        initialize.assert_not_called()
        self.assertIn('[libvirt] virt_type = kvm', str(e))
        self.assertIn('set [libvirt] virt_type = lxc', str(e))


class TestRootfs(DriverTestCase):
    """The rootfs steps go to this package's disk API, in nova's order."""

    def setUp(self):
        super().setUp()
        self.drv = self.make_driver()
        self.disk = self.useFixture(fixtures.MockPatch(
            'nova_lxc_contrail.virt.driver.disk_api')).mock
        self.disk.setup_container.return_value = '/dev/loop7'
        self.disk.root_partition_for_instance.return_value = '2'
        for name in ('setup_container', 'teardown_container',
                     'clean_lxc_namespace'):
            self.useFixture(fixtures.MockPatch(
                'nova.virt.libvirt.driver.disk_api.' + name,
                side_effect=AssertionError('nova\'s own %s ran' % name)))
        self.image = imgmodel.LocalFileImage('/images/disk',
                                             imgmodel.FORMAT_QCOW2)
        backend = self.drv.image_backend
        self.useFixture(fixtures.MockPatchObject(
            backend, 'by_name')).mock.return_value.get_model.return_value = (
            self.image)
        # nova passes the libvirt connection to get_model: none here.
        self.useFixture(fixtures.MockPatchObject(
            driver.LxcContrailDriver, '_conn', None))
        self.state = self.useFixture(fixtures.MockPatchObject(
            self.drv, 'get_info')).mock
        self.instance = self.make_instance()
        self.rootfs = os.path.join(self.instances, self.instance.uuid,
                                   'rootfs')

    def boot(self, running=True, block_device_info=None):
        self.state.return_value.state = 1 if running else 4
        with self.drv._lxc_disk_handler(nova_context.get_admin_context(),
                                        self.instance, None,
                                        block_device_info):
            self.assertTrue(os.path.isdir(self.rootfs))

    def test_spawn_mounts_with_our_setup_and_saves_the_device(self):
        self.boot()
        self.disk.setup_container.assert_called_once_with(
            self.image, self.rootfs, root_partition='2', id_maps=None)
        self.disk.root_partition_for_instance.assert_called_once_with(
            self.instance)
        self.assertEqual('/dev/loop7',
                         self.instance.system_metadata['rootfs_device_name'])
        # Running: the host's view stays mounted (libvirt starts the
        # container from it again at a soft reboot); destroy tears it down.
        self.disk.clean_lxc_namespace.assert_not_called()
        self.disk.teardown_container.assert_not_called()

    def test_failed_start_tears_the_rootfs_down(self):
        self.boot(running=False)
        self.disk.teardown_container.assert_called_once_with(self.rootfs,
                                                             '/dev/loop7')
        self.disk.clean_lxc_namespace.assert_not_called()

    def test_destroy_releases_the_saved_device(self):
        instance = self.make_instance(rootfs_device_name='/dev/loop3')
        self.drv._teardown_container(instance)
        self.disk.teardown_container.assert_called_once_with(
            os.path.join(self.instances, instance.uuid, 'rootfs'),
            '/dev/loop3')

    def test_idmaps_go_to_our_setup_not_to_nova_chown(self):
        # nova 34's chown_for_id_maps cannot run (it hands config objects
        # to a privsep entrypoint that unpacks tuples); setup_container
        # maps the rootfs itself.
        self.conf.config(uid_maps=['0:10000:100'], gid_maps=['0:20000:100'],
                         group='libvirt')
        chown = self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.utils.chown_for_id_maps')).mock
        self.boot()
        self.assertEqual(
            ([idmap.IdMap(0, 10000, 100)], [idmap.IdMap(0, 20000, 100)]),
            self.disk.setup_container.call_args.kwargs['id_maps'])
        chown.assert_not_called()

    def test_boot_from_volume_mounts_the_volume_device(self):
        connect = self.useFixture(fixtures.MockPatchObject(
            self.drv, '_connect_volume')).mock
        connection_info = {'data': {'device_path': '/dev/sdz'}}
        bdi = {'block_device_mapping': [{
            'boot_index': 0, 'mount_device': '/dev/vda',
            'connection_info': connection_info}]}
        self.boot(block_device_info=bdi)
        connect.assert_called_once_with(mock.ANY, connection_info,
                                        self.instance)
        model = self.disk.setup_container.call_args[0][0]
        self.assertIsInstance(model, imgmodel.LocalBlockImage)
        self.assertEqual('/dev/sdz', model.path)


class TestNetworkGlue(DriverTestCase):

    def setUp(self):
        super().setUp()
        self.drv = self.make_driver()
        self.instance = self.make_instance()
        self.network_info = network_model.NetworkInfo([vrouter_vif()])

    def test_hard_reboot_keeps_the_ports_plugged(self):
        unplug = self.useFixture(fixtures.MockPatchObject(
            self.drv.vif_driver, 'unplug')).mock

        def hard_reboot(drv, context, instance, network_info, *args,
                        **kwargs):
            # What nova's hard reboot does through destroy and cleanup.
            drv._unplug_vifs(instance, network_info, True)

        nova_hard_reboot = self.useFixture(fixtures.MockPatchObject(
            libvirt_driver.LibvirtDriver, '_hard_reboot', autospec=True,
            side_effect=hard_reboot)).mock
        self.useFixture(fixtures.MockPatchObject(
            libvirt_driver.LibvirtDriver, '_soft_reboot', return_value=False))
        # nova powers on, reboots hard, and falls back from a failed soft
        # reboot, through its hard reboot.
        self.drv.power_on(None, self.instance, self.network_info)
        self.drv.reboot(None, self.instance, self.network_info, 'HARD')
        self.drv.reboot(None, self.instance, self.network_info, 'SOFT')
        self.assertEqual(3, nova_hard_reboot.call_count)
        unplug.assert_not_called()
        self.assertEqual(set(), self.drv._keep_vifs_plugged)
        # Everywhere else (delete) the ports are unplugged.
        self.drv._unplug_vifs(self.instance, self.network_info, True)
        unplug.assert_called_once_with(self.instance, self.network_info[0])


class TestLxcGuestShutdown(testtools.TestCase):
    """libvirt's initctl request when the init listens, else SIGTERM."""

    def setUp(self):
        super().setUp()
        self.domain = mock.Mock()
        self.domain.ID.return_value = 4242
        self.domain.name.return_value = 'instance-1'
        self.init_pid = self.useFixture(fixtures.MockPatchObject(
            container_mtu, 'container_init_pid', return_value=4243)).mock
        self.fifo = self.useFixture(fixtures.MockPatch(
            'nova_lxc_contrail.virt.privsep.initctl_fifo')).mock

    def shutdown(self):
        lxc_guest.LxcGuest(self.domain).shutdown()
        self.init_pid.assert_called_once_with(4242)

    def test_init_with_an_initctl_fifo_gets_libvirts_request(self):
        self.fifo.return_value = '/run/initctl'
        self.shutdown()
        self.fifo.assert_called_once_with(4243)
        self.domain.shutdown.assert_called_once_with()
        self.domain.shutdownFlags.assert_not_called()

    def test_init_without_one_gets_sigterm(self):
        self.fifo.return_value = None
        self.shutdown()
        self.domain.shutdownFlags.assert_called_once_with(
            lxc_guest.libvirt.VIR_DOMAIN_SHUTDOWN_SIGNAL)
        self.domain.shutdown.assert_not_called()

    def test_unknown_init_gets_libvirts_request(self):
        self.fifo.side_effect = OSError('privsep daemon gone')
        self.shutdown()
        self.domain.shutdown.assert_called_once_with()
        self.domain.shutdownFlags.assert_not_called()

    def test_the_host_hands_out_lxc_guests(self):
        host = lxc_guest.LxcHost('lxc:///')
        with mock.patch.object(host, '_get_domain',
                               return_value=self.domain) as get_domain:
            guest = host.get_guest(mock.sentinel.instance)
        get_domain.assert_called_once_with(mock.sentinel.instance)
        self.assertIsInstance(guest, lxc_guest.LxcGuest)
        self.assertIs(self.domain, guest._domain)


class TestContainerMtu(testtools.TestCase):

    def test_only_vrouter_vifs_with_an_mtu_count(self):
        info = network_model.NetworkInfo([
            vrouter_vif(mtu=1400, address='FA:16:3E:00:00:01'),
            vrouter_vif(mtu=None, address='fa:16:3e:00:00:02'),
            vrouter_vif(mtu=1450, vif_type='bridge',
                        address='fa:16:3e:00:00:03')])
        self.assertEqual({'fa:16:3e:00:00:01': 1400},
                         container_mtu.wanted_mtus(info))
        self.assertEqual({}, container_mtu.wanted_mtus(None))

    def test_container_init_is_the_controller_only_child(self):
        child = subprocess.Popen(['sleep', '30'])
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)
        self.assertEqual(child.pid,
                         container_mtu.container_init_pid(os.getpid()))

    def test_missing_controller_is_a_clear_error(self):
        e = self.assertRaises(exception.NovaLxcContrailError,
                              container_mtu.container_init_pid, 2 ** 22 + 1)
        self.assertIn('cannot find the init of the LXC container', str(e))

    def test_domain_not_running_is_a_clear_error(self):
        e = self.assertRaises(exception.NovaLxcContrailError,
                              container_mtu.container_init_pid, -1)
        self.assertIn('not running (domain id -1)', str(e))
