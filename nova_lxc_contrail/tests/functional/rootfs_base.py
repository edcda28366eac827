"""Shared fixture of the container rootfs tests (root, real kernel).

Runs the disk privsep daemon forked with its real, reduced capabilities,
builds the busybox images once per test class, gives every test an
instance dir like nova's (``<dir>/disk`` and ``<dir>/rootfs``) and checks
after each test that nothing of it stays attached: no loop device reading
its files, no mount below it, no qemu-storage-daemon serving it.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

from nova.virt.image import model as imgmodel
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslo_privsep import priv_context
import testtools

from nova_lxc_contrail.disk import api
from nova_lxc_contrail.disk import loop
from nova_lxc_contrail.disk import mount
from nova_lxc_contrail.disk import privsep
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests import host_state

CONF = cfg.CONF


def start_privsep():
    # oslo.config's fixture resets the defaults PrivContext set, capabilities
    # included: set them again before each start.
    CONF.set_default('capabilities', privsep.CAPABILITIES,
                     group=privsep.CFG_SECTION)
    privsep.disk_pctxt.start(priv_context.Method.FORK)


def stop_privsep():
    privsep.disk_pctxt.stop()


def qsd_processes(marker):
    """pids of qemu-storage-daemon processes whose command line has marker."""
    return host_state.processes_naming(marker, program='qemu-storage-daemon')


def loop_reads_below(device, *dirs):
    """Whether the loop device still reads a file below one of ``dirs``.

    Loop devices are host-wide: once released, parallel test workers may be
    given the same device at once, so "released" means "no longer ours".
    """
    info = loop.info(device)
    return info is not None and info.backing_file.startswith(dirs)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class RootfsTestCase(testtools.TestCase):

    # {name: (layout, fmt, fs, init)} built once per class
    IMAGES = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        CONF([], project='nova-lxc-contrail-tests')
        cls.image_dir = tempfile.mkdtemp(prefix='nlc-rootfs-images-')
        for name, spec in cls.IMAGES.items():
            layout, fmt, fs, init = spec
            images.build_image(os.path.join(cls.image_dir, name), layout,
                               fmt, fs, init)
        start_privsep()

    @classmethod
    def tearDownClass(cls):
        stop_privsep()
        shutil.rmtree(cls.image_dir)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(CONF))
        self.tmp = tempfile.mkdtemp(prefix='nlc-rootfs-')
        self.addCleanup(shutil.rmtree, self.tmp)
        self.addCleanup(self.assert_nothing_left)
        self.instance_dir = os.path.join(self.tmp, 'instance')
        os.mkdir(self.instance_dir)
        self.container_dir = os.path.join(self.instance_dir, 'rootfs')
        os.mkdir(self.container_dir)
        self.disk = os.path.join(self.instance_dir, 'disk')

    # --- helpers ------------------------------------------------------------

    def instance_disk(self, name):
        """The class image ``name`` as this test's <instance dir>/disk.

        qcow2 images become an overlay on the class image, as nova's qcow2
        backend does with its _base images.
        """
        src = os.path.join(self.image_dir, name)
        if name.endswith('.qcow2'):
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F',
                            'qcow2', '-b', src, self.disk], check=True)
            return imgmodel.LocalFileImage(self.disk, imgmodel.FORMAT_QCOW2)
        subprocess.run(['cp', '--sparse=always', src, self.disk], check=True)
        return imgmodel.LocalFileImage(self.disk, imgmodel.FORMAT_RAW)

    def setup(self, model, **kwargs):
        device = api.setup_container(model, self.container_dir, **kwargs)
        self.addCleanup(api.teardown_container, self.container_dir, device)
        return device

    def mounted(self, path=None):
        return mount.mounted_at(path or self.container_dir)

    def assert_released(self, device):
        self.assertFalse(loop_reads_below(device, self.tmp, self.image_dir),
                         '%s still reads %s' % (device, loop.info(device)))

    def assert_nothing_left(self):
        leftovers = []
        for info in loop.bound_devices():
            if info.backing_file.startswith((self.tmp, self.image_dir)):
                leftovers.append('loop %s -> %s' % (info.device,
                                                    info.backing_file))
        for point, source, _fstype in mount.mounts():
            if point.startswith(self.tmp):
                leftovers.append('mount %s on %s' % (source, point))
        for pid in qsd_processes(self.tmp):
            leftovers.append('qemu-storage-daemon %d' % pid)
        extra = set(os.listdir(self.instance_dir)) - {'rootfs', 'disk'}
        if extra:
            leftovers.append('files %s' % sorted(extra))
        if leftovers:
            # Release before failing, so one failure does not leak onwards.
            api.teardown_container(self.container_dir)
            for pid in qsd_processes(self.tmp):
                os.kill(pid, signal.SIGKILL)
            for info in loop.bound_devices():
                if info.backing_file.startswith((self.tmp, self.image_dir)):
                    loop.detach(info.device)
            self.fail('left behind: %s' % '; '.join(leftovers))
