"""LxcContrailDriver loaded by nova from an operator's nova.conf.

nova's ``load_compute_driver`` builds the driver from ``compute_driver``;
``init_host`` connects to the private libvirtd; ``spawn``, ``power_off``,
``power_on`` and ``destroy`` are nova's own code paths with this package's
overrides, on a nova database (sqlite, made by nova's own migrations) that
holds the instance as nova-conductor would have created it.
"""

import hashlib
import os
import textwrap
import uuid

import fixtures
from nova.compute import power_state
from nova import context as nova_context
from nova.db import migration
from nova import objects
import nova.privsep
from nova.virt import driver as virt_driver
from nova.virt import fake as fake_virt
import os_vif

from nova_lxc_contrail import exception
from nova_lxc_contrail.standin import compute
from nova_lxc_contrail.standin import gateway
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests.e2e import base
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.virt import container_mtu
from nova_lxc_contrail.virt import driver as lxc_driver
from nova_lxc_contrail.virt import vif as lxc_vif

CONF = base.CONF
MTU = 1450
GATEWAY = '10.1.0.1'

NOVA_CONF = """\
[DEFAULT]
compute_driver = lxc_contrail.LxcContrailDriver
instances_path = {instances}
host = e2e-compute

[libvirt]
virt_type = lxc
connection_uri = lxc:///
images_type = raw
vif_driver = {vif_driver}

[lxc_contrail]
agent_url = {agent_url}
ports_dir = {ports_dir}

[database]
connection = sqlite:///{database}
"""


class TestDriverFromNovaConf(base.LibvirtLxcTestCase):

    # nova's own privileged calls (image cache, instance files) too
    privsep_contexts = base.PRIVSEP_CONTEXTS + (nova.privsep.sys_admin_pctxt,)
    vif_driver = 'nova_lxc_contrail.virt.vif.LxcContrailVIFDriver'

    @classmethod
    def configure(cls):
        cls.instances = os.path.join(cls.work_dir, 'instances')
        cls.nova_conf = os.path.join(cls.work_dir, 'nova.conf')
        cls.write_nova_conf(cls.vif_driver)

    @classmethod
    def write_nova_conf(cls, vif_driver):
        with open(cls.nova_conf, 'w') as f:
            f.write(NOVA_CONF.format(
                instances=cls.instances, vif_driver=vif_driver,
                agent_url=cls.agent.url, ports_dir=cls.ports_dir,
                database=os.path.join(cls.work_dir, 'nova.sqlite')))
        CONF(['--config-file', cls.nova_conf], project='nova',
             default_config_files=[])
        migration.db_sync(database='main')

    @classmethod
    def unconfigure(cls):
        # Parse no file again. Not CONF.reset(): it would also undo the
        # defaults oslo.privsep sets (each context's capabilities).
        CONF([], project='nova', default_config_files=[])

    def setUp(self):
        super().setUp()
        os_vif.initialize()
        self.context = nova_context.get_admin_context()
        # libvirt's event thread reports lifecycle and connection events
        # to nova's compute manager and database, neither of which runs
        # here; the driver's calls do not need it.
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.host.Host._init_events'))

    def load_driver(self):
        drv = virt_driver.load_compute_driver(fake_virt.FakeVirtAPI())
        drv.init_host(CONF.host)
        self.addCleanup(drv.cleanup_host, CONF.host)
        return drv

    def cache_image(self, image_id):
        """The image, as nova's image cache keeps it after a download."""
        cache = os.path.join(self.instances, '_base')
        os.makedirs(cache, exist_ok=True)
        built = images.build_image(os.path.join(self.test_dir, 'disk.raw'),
                                   layout='gpt', fmt='raw')
        os.rename(built, os.path.join(
            cache, hashlib.sha1(image_id.encode()).hexdigest()))

    def make_instance(self, image_id, network_info):
        """An instance in nova's database, as the API and conductor make it."""
        flavor = objects.Flavor(id=1, name='m1.lxc', flavorid='1',
                                memory_mb=64, vcpus=1, root_gb=0,
                                ephemeral_gb=0, swap=0, extra_specs={})
        instance = objects.Instance(
            context=self.context, uuid=str(uuid.uuid4()),
            display_name='e2e', hostname='e2e', vm_state='building',
            project_id='p', user_id='u', host=CONF.host, node=CONF.host,
            compute_id=1,
            flavor=flavor, image_ref=image_id, root_device_name='/dev/vda',
            root_gb=0, ephemeral_gb=0, memory_mb=64, vcpus=1,
            # what nova copies from the image at boot
            system_metadata={'image_disk_format': 'raw',
                             'image_container_format': 'bare',
                             'image_base_image_ref': image_id})
        instance.create()
        instance.info_cache.network_info = network_info
        instance.info_cache.save()
        return instance

    def assertContainerPingsGateway(self, drv, instance, vif):
        container = compute.Container(container_mtu.container_init_pid(
            drv._host.get_guest(instance).id))
        self.assertEqual({'ifname': 'eth0', 'mtu': MTU,
                          'address': vif['address']},
                         base.link_mtu(address=vif['address'],
                                       netns=container.netns))
        self.assertEqual('init', container.wait_for_exec())
        container.configure_ip(vif)
        with gateway.Gateway(naming.bridge_name(vif['id']), GATEWAY) as gw:
            ping = container.run('ping', '-c', '1', '-W', '2', GATEWAY,
                                 check=False)
        self.assertEqual(0, ping.returncode, ping.stdout + ping.stderr)
        self.assertEqual(1, gw.echo_replies)

    def test_nova_conf_selects_driver_and_vif_driver(self):
        drv = virt_driver.load_compute_driver(fake_virt.FakeVirtAPI())
        self.assertIsInstance(drv, lxc_driver.LxcContrailDriver)
        self.assertIsInstance(drv.vif_driver, lxc_vif.LxcContrailVIFDriver)

    def spawn(self, drv):
        """Boot a partitioned image on a vRouter port: -> instance, vif."""
        image_id = str(uuid.uuid4())
        self.cache_image(image_id)
        vif = compute.vrouter_vif(mtu=MTU, cidr='10.1.0.0/24',
                                  ip='10.1.0.5', gateway=GATEWAY)
        network_info = compute.network_model.NetworkInfo([vif])
        instance = self.make_instance(image_id, network_info)
        self.addCleanup(_quietly, drv.destroy, self.context, instance,
                        network_info)
        image_meta = objects.ImageMeta.from_dict({
            'id': image_id, 'disk_format': 'raw', 'container_format': 'bare',
            'properties': {}})
        drv.spawn(self.context, instance, image_meta, [], None, {},
                  network_info)
        self.assertEqual(power_state.RUNNING, drv.get_info(instance).state)
        # The partitioned image booted from its partition 1, and the device
        # is where nova keeps it for teardown after a restart.
        saved = objects.Instance.get_by_uuid(self.context, instance.uuid)
        self.assertTrue(saved.system_metadata['rootfs_device_name']
                        .startswith('/dev/loop'))
        self.assertContainerPingsGateway(drv, instance, vif)
        return instance, vif

    def test_spawn_stop_start_destroy(self):
        drv = self.load_driver()
        instance, vif = self.spawn(drv)
        network_info = instance.info_cache.network_info
        devices = base.port_links(vif['id'])
        kept = {name: index for name, index in devices.items()
                if name != naming.veth_name(vif['id'])}
        registration = self.agent.registrations[vif['id']]
        self.agent.clear_requests()

        drv.power_off(instance)
        self.assertEqual(power_state.SHUTDOWN, drv.get_info(instance).state)
        self.assertEqual({}, base.loops_backed_below(self.instances))
        self.assertEqual(kept, base.port_links(vif['id']))
        self.assertEqual(registration, self.agent.registrations[vif['id']])

        drv.power_on(self.context, instance, network_info)
        self.assertEqual(power_state.RUNNING, drv.get_info(instance).state)
        self.assertLessEqual(kept.items(),
                             base.port_links(vif['id']).items())
        self.assertEqual(registration, self.agent.registrations[vif['id']])
        self.assertEqual([], [r for r in self.agent.requests
                              if r.method == 'DELETE'])
        self.assertContainerPingsGateway(drv, instance, vif)

        drv.destroy(self.context, instance, network_info)
        self.assertFalse(os.path.exists(os.path.join(self.instances,
                                                     instance.uuid)))
        self.assertNothingLeft(vif['id'], self.instances, instance.name,
                               drv._host.get_connection())

    def test_reboot_and_compute_restart(self):
        drv = self.load_driver()
        instance, vif = self.spawn(drv)
        network_info = instance.info_cache.network_info

        drv.reboot(self.context, instance, network_info, 'HARD')
        self.assertContainerPingsGateway(drv, instance, vif)

        # The container dies with nova-compute; the new nova-compute knows
        # the instance from the database only. Its host boot path releases
        # the old rootfs device (saved in system_metadata), mounts again
        # and restarts the container; delete releases the new device.
        restarted = self.load_driver()
        restarted._host.get_guest(instance).poweroff()
        instance = objects.Instance.get_by_uuid(
            self.context, instance.uuid,
            expected_attrs=['system_metadata', 'info_cache', 'flavor'])
        restarted.resume_state_on_host_boot(
            self.context, instance, network_info,
            objects.ShareMappingList(objects=[]))
        self.assertEqual(1, len(base.loops_backed_below(self.instances)))
        self.assertContainerPingsGateway(restarted, instance, vif)
        restarted.destroy(self.context, instance, network_info)
        self.assertNothingLeft(vif['id'], self.instances, instance.name,
                               restarted._host.get_connection())


class TestOperatorConfigErrors(base.LibvirtLxcTestCase):
    """Mistakes in nova.conf stop nova-compute with a message saying so."""

    @classmethod
    def configure(cls):
        cls.nova_conf = os.path.join(cls.work_dir, 'nova.conf')

    @classmethod
    def unconfigure(cls):
        # Parse no file again. Not CONF.reset(): it would also undo the
        # defaults oslo.privsep sets (each context's capabilities).
        CONF([], project='nova', default_config_files=[])

    def load_from(self, text):
        with open(self.nova_conf, 'w') as f:
            f.write(textwrap.dedent(text))
        CONF(['--config-file', self.nova_conf], project='nova',
             default_config_files=[])
        drv = virt_driver.load_compute_driver(fake_virt.FakeVirtAPI())
        drv.init_host('e2e-compute')
        self.addCleanup(drv.cleanup_host, 'e2e-compute')
        return drv

    def test_vif_driver_typo(self):
        e = self.assertRaises(exception.ConfigError, self.load_from, """
            [DEFAULT]
            compute_driver = lxc_contrail.LxcContrailDriver
            [libvirt]
            virt_type = lxc
            vif_driver = nova_lxc_contrail.virt.vif.LxcContrailVifDriver
            """)
        self.assertIn('vif_driver = nova_lxc_contrail.virt.vif.'
                      'LxcContrailVifDriver cannot be imported', str(e))

    def test_virt_type_kvm(self):
        e = self.assertRaises(exception.ConfigError, self.load_from, """
            [DEFAULT]
            compute_driver = lxc_contrail.LxcContrailDriver
            [libvirt]
            virt_type = kvm
            """)
        self.assertIn('[libvirt] virt_type = kvm', str(e))


def _quietly(function, *args):
    try:
        function(*args)
    except Exception:
        pass
