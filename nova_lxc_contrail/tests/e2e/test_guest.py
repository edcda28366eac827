"""Real LXC containers on vRouter-style ports, from partitioned images.

The domain XML comes from nova's config classes and
``LxcContrailVIFDriver.get_config``; the rootfs from ``disk.api``; the
container's ``/sbin/init`` (busybox init) runs; its eth0 has the port's MAC
and the network's MTU; it pings its gateway, answered on the bridge device
by the gateway stand-in (where the vRouter attaches).
"""

import os
import time

from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import guest as libvirt_guest
import os_vif
from testtools import content

from nova_lxc_contrail.standin import compute
from nova_lxc_contrail.standin import gateway
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests.e2e import base
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.virt import vif as lxc_vif

MTU = 1400
GATEWAY = '10.0.0.1'


class TestContainerOnVrouterPort(base.LibvirtLxcTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os_vif.initialize()
        images_dir = os.path.join(cls.work_dir, 'images')
        os.mkdir(images_dir)
        start = time.monotonic()
        cls.raw_image = images.build_image(
            os.path.join(images_dir, 'gpt.raw'), layout='gpt', fmt='raw')
        # A cloud image layout: partition 1 lies after partitions 14, 15.
        cls.qcow2_image = images.build_image(
            os.path.join(images_dir, 'cloud.qcow2'), layout='gpt-cloud',
            fmt='qcow2')
        cls.images_seconds = time.monotonic() - start

    def setUp(self):
        super().setUp()
        self.conn = self.connection()
        self.vif_driver = lxc_vif.LxcContrailVIFDriver(None)

    def make_guest(self, image, fmt):
        vif = compute.vrouter_vif(mtu=MTU, gateway=GATEWAY)
        guest = compute.LxcGuest(
            self.conn, self.vif_driver, compute.make_instance(), [vif], image,
            fmt, os.path.join(self.test_dir, 'instance'))
        # Whatever a failing test left: domain, rootfs, ports.
        self.addCleanup(guest.destroy)
        return guest, vif

    def assertContainerOnNetwork(self, guest, vif):
        container = guest.container
        # busybox init is the container's pid 1, and it ran rcS
        self.assertEqual('init', container.wait_for_exec())
        container.wait_for_file('/run/booted')
        inside = base.link_mtu(address=vif['address'],
                               netns=container.netns)
        self.assertEqual({'ifname': 'eth0', 'mtu': MTU,
                          'address': vif['address']}, inside)
        self.assertEqual(MTU, base.link_mtu(naming.veth_name(vif['id']))[
            'mtu'])
        container.configure_ip(vif)
        with gateway.Gateway(naming.bridge_name(vif['id']), GATEWAY) as gw:
            ping = container.run('ping', '-c', '2', '-W', '2', GATEWAY,
                                 check=False)
        self.assertEqual(0, ping.returncode, ping.stdout + ping.stderr)
        self.assertIn('2 packets received', ping.stdout)
        self.assertEqual(2, gw.echo_replies)
        self.assertGreaterEqual(gw.arp_replies, 1)

    def boot_check_and_destroy(self, image, fmt):
        guest, vif = self.make_guest(image, fmt)
        timings = guest.boot()
        self.addDetail('boot', _timings(timings))
        [iface] = libvirt_guest.Guest(guest.domain).get_all_devices(
            vconfig.LibvirtConfigGuestInterface)
        self.assertEqual(('bridge', naming.bridge_name(vif['id']),
                          naming.veth_name(vif['id']), vif['address']),
                         (iface.net_type, iface.source_dev, iface.target_dev,
                          iface.mac_addr))
        self.assertContainerOnNetwork(guest, vif)
        self.addDetail('destroy', _timings(guest.destroy()))
        self.assertNothingLeft(vif['id'], self.test_dir, guest.name, self.conn)

    def test_partitioned_raw_image(self):
        self.boot_check_and_destroy(self.raw_image, 'raw')

    def test_cloud_layout_qcow2_image(self):
        self.boot_check_and_destroy(self.qcow2_image, 'qcow2')

    def test_restart_keeps_bridge_and_registration(self):
        guest, vif = self.make_guest(self.raw_image, 'raw')
        guest.boot()
        guest.container.wait_for_file('/run/booted')
        devices = base.port_links(vif['id'])
        registration = self.agent.registrations[vif['id']]
        self.agent.clear_requests()

        kept = {name: index for name, index in devices.items()
                if name != naming.veth_name(vif['id'])}
        self.assertEqual(2, len(kept))
        # The rootfs persists: the next boot must write its own marker.
        os.unlink(guest.container.path('/run/booted'))

        guest.stop()
        # Stopped: libvirt removed its veth; the tap, the bridge and the
        # registration the vRouter uses stay.
        self.assertEqual(kept, base.port_links(vif['id']))
        self.assertEqual(registration, self.agent.registrations[vif['id']])

        guest.mount_rootfs()
        guest.start_domain()
        guest.unmount_host_view()
        after = base.port_links(vif['id'])
        self.assertIn(naming.veth_name(vif['id']), after)
        self.assertLessEqual(kept.items(), after.items())
        self.assertContainerOnNetwork(guest, vif)
        self.assertEqual(registration, self.agent.registrations[vif['id']])
        self.assertEqual([], self.agent.requests)


def _timings(timings):
    return content.text_content('\n'.join('%-30s %7.1f ms' % (
        label, seconds * 1000) for label, seconds in timings))
