"""rescue/unrescue of an LXC server with a vRouter port.

The rescue container runs on the rescue image's root partition, with the
server's own root filesystem at /mnt; its port stays plugged (same tap and
bridge, registration kept). Unrescue returns to the server's own root;
nothing of the rescue rootfs is left.
"""

import os

from nova_lxc_contrail.tests.nova_functional import base
from nova_lxc_contrail.virt import driver

SERVER_MARK = 'etc/server-mark'
RESCUE_MARK = 'etc/rescue-mark'


class TestRescue(base.ContrailNovaTestBase):

    LIBVIRT_EVENTS = True

    def _image(self, name, mark, layout):
        path = base.images.build_image(
            self.image_path(name), layout=layout, init=base.INITCTL,
            files={'etc/init.d/rcS': base.BOOT_RCS, mark: name + '\n'})
        return self.create_image(path, name=name)

    def read_in_container(self, dom, path):
        with open(self.container_path(dom, path)) as f:
            return f.read()

    def test_rescue_unrescue(self):
        image = self._image('server.raw', SERVER_MARK, 'gpt')
        # Another layout: its root partition is found on its own.
        rescue_image = self._image('rescue.raw', RESCUE_MARK, 'gpt-cloud')
        port = self.create_vrouter_port()
        server, _ = self.boot(image, networks=[{'port': port['id']}])
        dom = self.assert_server_running(server, [port])
        links = self.host_links(port)
        devices = {k: links[k]['index'] for k in ('tap', 'bridge')}
        registration = self.agent.registrations[port['id']]

        self.api.post_server_action(server['id'], {
            'rescue': {'rescue_image_ref': rescue_image}})
        server = self._wait_for_state_change(server, 'RESCUE')
        dom = self.assert_domain_running(server)
        self.assertEqual('rescue.raw\n',
                         self.read_in_container(dom, RESCUE_MARK))
        self.assertFalse(os.path.exists(self.container_path(
            dom, SERVER_MARK)))
        self.assertEqual('server.raw\n', self.read_in_container(
            dom, os.path.join(driver.RESCUE_ORIGINAL_ROOT, SERVER_MARK)))
        self.assertEqual([port['mac_address']], [
            mac for name, (mac, _mtu) in self.container_links(dom).items()
            if name != 'lo'])
        self.assert_port_plugged(server, port)
        links = self.host_links(port)
        self.assertEqual(devices,
                         {k: links[k]['index'] for k in ('tap', 'bridge')})
        self.assertEqual(registration, self.agent.registrations[port['id']])
        # Two root filesystems: the rescue one and the server's.
        self.assertEqual(2, len(self.host_state()['mounts']))

        self.api.post_server_action(server['id'], {'unrescue': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        dom = self.assert_domain_running(server)
        self.assertEqual('server.raw\n',
                         self.read_in_container(dom, SERVER_MARK))
        self.assertFalse(os.path.exists(self.container_path(
            dom, RESCUE_MARK)))
        state = self.host_state()
        self.assertEqual((1, 1), (len(state['loops']), len(state['mounts'])))
        instance_dir = os.path.join(self._instances_path, server['id'])
        self.assertEqual([], [n for n in os.listdir(instance_dir)
                              if 'rescue' in n or n == 'rootfs-original'])
        self.assert_port_plugged(server, port)
        links = self.host_links(port)
        self.assertEqual(devices,
                         {k: links[k]['index'] for k in ('tap', 'bridge')})

        self.delete(server)
        self.assert_nothing_left(server)
        self.assert_port_gone(port)
