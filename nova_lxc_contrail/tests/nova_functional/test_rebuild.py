"""Rebuild an LXC server with vRouter ports, through nova's API.

The rebuilt server runs from a new root filesystem made from the new image
(its ``lxc_root_partition`` honoured, the old image's forgotten), the old
one is released (loop device, mount, qcow2 export), and its ports stay
plugged: the same tap and bridge devices, the agent never asked to forget
them.
"""

from nova_lxc_contrail.tests.nova_functional import actions_base  # noqa

import os  # noqa: I100,I202
import time


class TestRebuildRaw(actions_base.ActionsTestBase):

    def _rebuild(self, server, ports, image, marker):
        self.assert_one_rootfs()
        # Written into the old rootfs: the new one must not have it.
        with open(self.container_path(self.domain(server), 'old'), 'w'):
            pass
        self.agent.clear_requests()
        before_ports = self.ports_now(ports)
        server = self._timed_rebuild(server, image)
        self.assertEqual(image, server['image']['id'])
        # One boot: a fresh copy of the image (the old one logged its own).
        dom = self.assert_running_from(server, ports, marker)
        self.assertFalse(os.path.exists(self.container_path(dom, 'old')))
        self.assert_one_rootfs()
        self.assert_ports_kept(ports, before_ports)
        return server

    def _timed_rebuild(self, server, image):
        started = time.monotonic()
        server = self._rebuild_server(server, image)
        self.timing('rebuild', time.monotonic() - started)
        return server

    def test_rebuild_same_image(self):
        image = self.marked_image('first')
        ports = self.ports(1)
        server = self.boot_with(image, ports)
        self.assert_running_from(server, ports, 'first')
        server = self._rebuild(server, ports, image, 'first')
        self.delete_and_check(server, ports)

    def test_rebuild_other_image_two_ports(self):
        # The first image's root is partition 2 (its property says so); the
        # second one's is partition 1: a stale property would fail it.
        first = self.marked_image('first', layout='gpt-boot-first',
                                  properties={'lxc_root_partition': '2'})
        second = self.marked_image('second', layout=self.LAYOUT,
                                   properties={'lxc_root_partition': '1'})
        ports = self.ports(2)
        server = self.boot_with(first, ports)
        self.assert_running_from(server, ports, 'first')
        server = self._rebuild(server, ports, second, 'second')
        server = self._rebuild(server, ports, first, 'first')
        self.delete_and_check(server, ports)


class TestRebuildQcow2(TestRebuildRaw):

    IMAGES_TYPE = 'qcow2'
    LAYOUT = 'gpt-cloud'
    FORMAT = 'qcow2'
