"""Snapshot and rebuild of servers in user namespaces ([libvirt] uid_maps).

The container's rootfs is an idmapped mount: the disk keeps the image's
own owners, so a snapshot (the disk, copied) shows them too (uid 0, not
the mapped 100000) and boots again in a user namespace. A rebuild gives
the server a new idmapped rootfs from the new image, its ports untouched
and nothing of the old rootfs left.

Files are written from inside the container (as its uid 0): host root is
not mapped in the idmapped mount and cannot create files through it.
"""

from nova_lxc_contrail.tests.nova_functional import actions_base  # noqa

import os  # noqa: I100,I202
import subprocess

from nova_lxc_contrail.disk import api
from nova_lxc_contrail.disk import fsprobe
from nova_lxc_contrail.disk import privsep
from nova_lxc_contrail.disk import state
from nova_lxc_contrail.tests.nova_functional import test_rebuild
from nova_lxc_contrail.tests.nova_functional import test_snapshot
from nova_lxc_contrail.tests.nova_functional import test_userns
from nova_lxc_contrail.tests import userns_fixtures as fx

WRITTEN = 'root/written-in-userns'


class UsernsActionsBase(test_userns.UsernsMixin,
                        actions_base.ActionsTestBase):

    def inside(self, dom, script):
        """Run ``script`` in the container (all its namespaces, uid 0)."""
        return subprocess.run(
            ['nsenter', '-t', str(self.container_init_pid(dom)), '-a', '--',
             'sh', '-c', script],
            check=True, capture_output=True, text=True).stdout.split()

    def assert_in_user_namespace(self, server, dom):
        """init is the mapped root on the host and uid 0 inside."""
        init = self.container_init_pid(dom)
        with open('/proc/%d/status' % init) as f:
            uid = [line.split()[1] for line in f if line.startswith('Uid:')]
        self.assertEqual([str(fx.MAPPED_ROOT)], uid)
        self.assertNotEqual(os.readlink('/proc/self/ns/user'),
                            os.readlink('/proc/%d/ns/user' % init))
        self.assertEqual(['0', '0'], self.inside(
            dom, 'id -u; stat -c %u /sbin/init'))
        rootfs = self.rootfs_paths(server)
        self.assertEqual('idmapped', state.load(rootfs)['idmap'])

    def rootfs_paths(self, server):
        return state.Paths(os.path.join(self._instances_path, server['id'],
                                        'rootfs'))


class TestUsernsSnapshot(UsernsActionsBase):

    _snapshot = test_snapshot.TestSnapshotRaw._snapshot
    _wait_for_image = test_snapshot.TestSnapshotRaw._wait_for_image

    def test_snapshot_keeps_image_owners_and_boots_in_userns(self):
        ports = self.ports(1)
        server = self.boot_with(self.marked_image('first'), ports)
        dom = self.assert_running_from(server, ports, 'first')
        self.assert_in_user_namespace(server, dom)
        self.assertEqual(['0'], self.inside(
            dom, 'echo kept > /%s; stat -c %%u /%s' % (WRITTEN, WRITTEN)))
        # The host sees the mapped owner through the idmapped mount.
        self.assertEqual(fx.MAPPED_ROOT, os.lstat(
            self.container_path(dom, WRITTEN)).st_uid)
        self.agent.clear_requests()
        kept = self.ports_now(ports)

        snapshot = self._snapshot(server)

        self.assertEqual('ACTIVE', self._show_server(server)['status'])
        self.assertEqual(dom.ID(), self.assert_running_from(
            server, ports, 'first').ID())
        self.assert_ports_kept(ports, kept)
        self.assert_one_rootfs()
        # The image's own owners, not the mapped ones.
        self.assertEqual(
            {'sbin/init': 0, 'bin/busybox': 0, WRITTEN: 0},
            self.snapshot_owners(snapshot,
                                 ['sbin/init', 'bin/busybox', WRITTEN]))

        other_ports = self.ports(1)
        other = self.boot_with(snapshot['id'], other_ports, name='from-snap')
        other_dom = self.assert_running_from(other, other_ports, 'first',
                                             boots=2)
        self.assert_in_user_namespace(other, other_dom)
        self.assertEqual(['kept', '0'], self.inside(
            other_dom, 'cat /%s; stat -c %%u /%s' % (WRITTEN, WRITTEN)))
        self.delete_and_check(other, other_ports, server, ports)

    def snapshot_owners(self, snapshot, names):
        """{name: uid on disk} in the snapshot's root filesystem.

        The Glance data, its root partition mounted read-only (no journal
        replay) through the package's own loop attach, in a scratch dir.
        """
        data = self.glance_image_data(snapshot['id'])
        if snapshot['disk_format'] == 'qcow2':
            data = self.qcow2_to_raw(data)
        path = os.path.join(self._work_dir, 'snapshot-check.raw')
        with open(path, 'wb') as f:
            f.write(data)
        self.addCleanup(os.unlink, path)
        report = api.inspect_image(path, fmt='raw')
        self.assertIsNone(report['error'])
        root = report['root']
        fstype = fsprobe.MOUNTABLE[root['filesystem']]
        scratch = privsep.make_scratch_dir()
        target = os.path.join(scratch, 'rootfs')
        try:
            device = privsep.attach_and_mount(
                path, root['start'], root['size'], fstype, target, True,
                'nodev,nosuid,noload', path, root['label'])
            try:
                return {name: os.lstat(os.path.join(target, name)).st_uid
                        for name in names}
            finally:
                privsep.unmount(target)
                privsep.release_loops([[device, path, root['start']]], [])
        finally:
            privsep.remove_scratch_dir(scratch)


class TestUsernsSnapshotQcow2(TestUsernsSnapshot):

    IMAGES_TYPE = 'qcow2'
    LAYOUT = 'gpt-cloud'
    FORMAT = 'qcow2'


class TestUsernsRebuild(UsernsActionsBase):

    _timed_rebuild = test_rebuild.TestRebuildRaw._timed_rebuild

    def test_rebuild_other_image_keeps_ports(self):
        ports = self.ports(2)
        server = self.boot_with(self.marked_image('first'), ports)
        dom = self.assert_running_from(server, ports, 'first')
        self.assert_in_user_namespace(server, dom)
        self.inside(dom, 'touch /old')
        self.assert_one_rootfs()
        rootfs = self.rootfs_paths(server)
        self.agent.clear_requests()
        before_ports = self.ports_now(ports)

        second = self.marked_image('second')
        server = self._timed_rebuild(server, second)

        self.assertEqual(second, server['image']['id'])
        dom = self.assert_running_from(server, ports, 'second')
        self.assert_in_user_namespace(server, dom)
        self.assertEqual([], self.inside(dom, 'ls /old 2>/dev/null || :'))
        self.assertEqual(['0'], self.inside(dom,
                                            'touch /new; stat -c %u /new'))
        self.assertEqual(fx.MAPPED_ROOT,
                         os.lstat(self.container_path(dom, 'new')).st_uid)
        # One loop device and one (idmapped) mount: the old ones released,
        # no staged mount or stage dir left.
        self.assert_one_rootfs()
        self.assertFalse(os.path.lexists(rootfs.stage))
        record = state.load(rootfs)
        self.assertIsNone(record['stage'])
        self.assertEqual('idmapped', record['idmap'])
        self.assert_ports_kept(ports, before_ports)
        self.delete_and_check(server, ports)


class TestUsernsRebuildQcow2(TestUsernsRebuild):

    IMAGES_TYPE = 'qcow2'
    LAYOUT = 'gpt-cloud'
    FORMAT = 'qcow2'
