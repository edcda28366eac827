"""The demo with ``--image PATH``: the user's own image (root, sandbox).

Runs ``nova-lxc-contrail-demo`` as a user would; the demo enters its own
namespaces, starts its own libvirtd and agent stand-in and must leave
nothing behind. The user's image is never written.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import testtools

from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests import host_state


def _sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class TestDemoUserImage(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix='nlc-demo-images-')
        cls.bootable = images.build_image(
            os.path.join(cls.dir, 'gpt.qcow2'), layout='gpt', fmt='qcow2')
        cls.no_root = images.build_image(
            os.path.join(cls.dir, 'no-root.raw'), layout='gpt-no-root',
            fmt='raw')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_released)

    def assert_released(self):
        self.assertEqual({}, host_state.loops_below(self.dir))
        self.assertEqual([], host_state.mounts_below(self.dir))

    def demo(self, *args):
        return subprocess.run(
            [sys.executable, '-m', 'nova_lxc_contrail.cmd.demo'] +
            list(args), capture_output=True, text=True, timeout=300)

    def test_qcow2_image_boots_pings_and_stays_unchanged(self):
        before = _sha256(self.bootable)
        result = self.demo('--image', self.bootable)
        self.assertEqual(0, result.returncode,
                         result.stdout + result.stderr)
        out = result.stdout
        self.assertIn('inspect %s as the driver would mount it'
                      % self.bootable, out)
        self.assertIn('root:        partition 1, ext4', out)
        self.assertIn('verdict:     boots as an LXC container', out)
        self.assertIn('create a qcow2 overlay', out)
        self.assertIn('pid 1 in the container: init', out)
        self.assertIn('3 packets transmitted, 3 packets received', out)
        self.assertIn('Nothing left behind', out)
        self.assertEqual(before, _sha256(self.bootable))

    def test_image_that_cannot_boot_says_what_was_found(self):
        result = self.demo('--image', self.no_root)
        self.assertEqual(1, result.returncode,
                         result.stdout + result.stderr)
        out = result.stdout
        self.assertIn('partitions:  gpt', out)
        self.assertIn('no executable /sbin/init', out)
        self.assertIn('verdict:     cannot boot as an LXC container', out)
        self.assertIn('%s cannot boot as an LXC container: ' % self.no_root,
                      out)
        # Stopped before any port or domain was made.
        self.assertNotIn('Booting instance', out)
        self.assertIn('Nothing left behind', out)

    def test_missing_image_is_a_usage_error_before_anything(self):
        result = self.demo('--image', os.path.join(self.dir, 'absent.raw'))
        self.assertEqual(2, result.returncode)
        self.assertIn('absent.raw: no such file', result.stderr)
        self.assertEqual('', result.stdout)

    def test_bad_root_partition_is_a_usage_error(self):
        result = self.demo('--image', self.bootable, '--root-partition',
                           'first')
        self.assertEqual(2, result.returncode)
        self.assertIn("'first': expected auto, none or a partition number",
                      result.stderr)
