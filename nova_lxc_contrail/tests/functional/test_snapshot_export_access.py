"""Who reads a running qcow2 container's export for its snapshot.

The export is what the disk privsep daemon serves (root's, mode 0600).
nova-compute running as root reads it itself; DevStack's runs as its stack
user, whose qemu-img got "Permission denied" there (Tempest's
test_create_backup found it): that nova-compute goes through nova's privsep,
as nova's own Lvm backend does for its root-owned volumes. Each case runs in
a child process with the uid of such a nova-compute.
"""

import json
import os
import types

import fixtures
import testtools

from nova_lxc_contrail.virt import imagebackend as lxc_imagebackend


class TestSnapshotOfARunningQcow2Disk(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.instances = self.useFixture(fixtures.TempDir()).path

    def _extract_as(self, uid):
        """Where ExportedQcow2 sends a running disk's snapshot, as ``uid``.

        The export is what the disk privsep daemon serves: root's, 0600.
        Returns nova's convert_image call (source, target, formats,
        run_as_root), made in a child process running as ``uid``.
        """
        instance_dir = os.path.join(self.instances, 'inst')
        os.makedirs(instance_dir)
        export = os.path.join(instance_dir, 'rootfs.export')
        with open(export, 'w'):
            pass
        os.chmod(export, 0o600)
        os.chmod(self.instances, 0o755)
        os.chmod(instance_dir, 0o755)
        calls = []
        self.useFixture(fixtures.MockPatch(
            'nova.virt.images.convert_image',
            lambda *args, **kwargs: calls.append((args, kwargs))))
        disk = types.SimpleNamespace(path=os.path.join(instance_dir, 'disk'))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.setgid(uid)
            os.setuid(uid)
            lxc_imagebackend.ExportedQcow2.snapshot_extract(
                disk, '/snap/target', 'qcow2')
            os.write(write_end, json.dumps(calls).encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as answer:
            result = json.loads(answer.read() or '[]')
        self.assertEqual(0, os.waitpid(pid, 0)[1])
        self.assertEqual(1, len(result), result)
        args, kwargs = result[0]
        self.assertEqual([export, '/snap/target', 'raw', 'qcow2'], args)
        return kwargs['run_as_root']

    def test_root_nova_compute_reads_the_export_itself(self):
        self.assertFalse(self._extract_as(0))

    def test_unprivileged_nova_compute_reads_it_through_nova_privsep(self):
        # DevStack runs nova-compute as its stack user: qemu-img, run as
        # that user, got "Permission denied" on the root-owned export.
        self.assertTrue(self._extract_as(65534))
