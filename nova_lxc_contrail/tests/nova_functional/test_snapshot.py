"""Snapshot (createImage) of an LXC server, and a new server from it.

The image in Glance is the instance's whole disk, partition table and all
(a disk image, not a bare filesystem), with what the container wrote just
before (still in the page cache: the driver flushes the frozen container's
rootfs before the copy); a server booted from it finds its root partition
again and runs.
"""

from nova_lxc_contrail.tests.nova_functional import actions_base  # noqa

import time  # noqa: I100,I202

import libvirt

from nova_lxc_contrail.tests.nova_functional import base

WRITTEN = 'written-before-snapshot'


class TestSnapshotRaw(actions_base.ActionsTestBase):

    TABLE = 'gpt'

    def _snapshot(self, server):
        started = time.monotonic()
        self._snapshot_server(server, 'snap')
        image = self._wait_for_image(server)
        self.timing('snapshot', time.monotonic() - started)
        return image

    def _wait_for_image(self, server):
        for _ in range(base.STATE_CHANGE_RETRIES):
            found = [i for i in self.glance.images.values()
                     if i['name'] == 'snap']
            if found and found[0]['status'] == 'active':
                server = self._show_server(server)
                if server['OS-EXT-STS:task_state'] is None:
                    return found[0]
            time.sleep(0.5)
        self.fail('no active snapshot image in Glance: %s' % found)

    def test_snapshot_boots_again(self):
        image = self.marked_image('first')
        ports = self.ports(2)
        server = self.boot_with(image, ports)
        dom = self.assert_running_from(server, ports, 'first')
        with open(self.container_path(dom, WRITTEN), 'w') as f:
            f.write('kept\n')
        self.agent.clear_requests()
        kept = self.ports_now(ports)

        snapshot = self._snapshot(server)

        # The server was not disturbed: same container, ports untouched.
        self.assertEqual('ACTIVE', self._show_server(server)['status'])
        self.assertEqual(dom.ID(), self.assert_running_from(
            server, ports, 'first').ID())
        self.assert_ports_kept(ports, kept)
        self.assert_one_rootfs()
        self.assertEqual(self.IMAGES_TYPE, snapshot['disk_format'])
        self.assertEqual(self.TABLE, self.snapshot_table(snapshot))

        other_ports = self.ports(1)
        other = self.boot_with(snapshot['id'], other_ports, name='from-snap')
        other_dom = self.assert_running_from(other, other_ports, 'first',
                                             boots=2)
        with open(self.container_path(other_dom, WRITTEN)) as f:
            self.assertEqual('kept\n', f.read())

        self.delete_and_check(other, other_ports, server, ports)

    def test_snapshot_of_paused_server_stays_paused(self):
        # The copy freezes a running container and thaws it after; one the
        # user paused stays paused.
        ports = self.ports(1)
        server = self.boot_with(self.marked_image('first'), ports)
        dom = self.assert_running_from(server, ports, 'first')
        self.api.post_server_action(server['id'], {'pause': None})
        server = self._wait_for_state_change(server, 'PAUSED')

        snapshot = self._snapshot(server)

        self.assertEqual('PAUSED', self._show_server(server)['status'])
        self.assertEqual(libvirt.VIR_DOMAIN_PAUSED, dom.state()[0])
        self.assertEqual(self.TABLE, self.snapshot_table(snapshot))
        self.api.post_server_action(server['id'], {'unpause': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assert_running_from(server, ports, 'first')
        self.delete_and_check(server, ports)

    def snapshot_table(self, snapshot):
        data = self.glance_image_data(snapshot['id'])
        if snapshot['disk_format'] == 'qcow2':
            data = self.qcow2_to_raw(data)
        table = self.partition_table_of(data)
        return table.label if table else None


class TestSnapshotQcow2(TestSnapshotRaw):

    IMAGES_TYPE = 'qcow2'
    LAYOUT = 'gpt-cloud'
    FORMAT = 'qcow2'
