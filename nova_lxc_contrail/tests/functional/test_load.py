"""Load: 500 plug/unplug cycles and 100 rootfs setup/teardown cycles leave
file descriptors, devices, loop devices, mounts, files, processes and
memory where they started. Root, sandboxed, privsep in this process (so a
leak of the privileged code shows here too).

The figures go to the test's details and to stderr (``LOAD:`` lines).
"""

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc

from nova.virt.image import model as imgmodel
from oslo_config import cfg
import testtools
from testtools import content

from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail.disk import privsep as disk_privsep
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests.functional import cli_fixtures
from nova_lxc_contrail.tests.functional import rootfs_base
from nova_lxc_contrail.tests import host_state
from nova_lxc_contrail.tests import vif_fixtures

PLUG_CYCLES = 500
ROOTFS_CYCLES = 100
WARMUP = 10
# Python memory the second half of the cycles may still add (allocator and
# cache noise); a leak of a few hundred bytes per cycle exceeds it.
MAX_GROWTH_BYTES = 32 * 1024


def open_fds():
    return sorted(os.listdir('/proc/self/fd'))


def rss_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def mounts():
    with open('/proc/self/mounts') as f:
        return sorted(f.read().splitlines())


def all_links():
    return sorted(cli_fixtures.port_devices())


class LoadTestCase(testtools.TestCase):

    def snapshot(self, extra):
        gc.collect()
        # Loop devices are host-wide (other tests attach theirs): each
        # test compares the ones of its own files (``extra``).
        state = {'fds': len(open_fds()), 'mounts': mounts(),
                 'threads': _thread_names()}
        state.update(extra())
        return state

    def measure(self, label, cycles, one_cycle, extra):
        """Run ``cycles`` cycles after a warm-up; compare before and after.

        Python memory is traced over two halves: caches fill in the first
        half and stay put in the second; a leak grows in both.
        """
        for _ in range(WARMUP):
            one_cycle()
        before = self.snapshot(extra)
        rss_before = rss_kib()
        tracemalloc.start()
        traced = [_traced_memory()]
        started = time.monotonic()
        for half in (cycles // 2, cycles - cycles // 2):
            for _ in range(half):
                one_cycle()
            traced.append(_traced_memory())
        elapsed = time.monotonic() - started
        tracemalloc.stop()
        after = self.snapshot(extra)
        first, second = traced[1] - traced[0], traced[2] - traced[1]
        figures = ('%s: %d cycles in %.1f s (%.1f ms/cycle); fds %d -> %d; '
                   'Python memory retained %+d bytes in the first half, '
                   '%+d in the second; RSS %d -> %d KiB; other leaks: %s' % (
                       label, cycles, elapsed, 1000 * elapsed / cycles,
                       before['fds'], after['fds'], first, second,
                       rss_before, rss_kib(), ', '.join(
                           k for k in before if before[k] != after[k])
                       or 'none'))
        self.addDetail('figures', content.text_content(figures))
        sys.stderr.write('LOAD: %s\n' % figures)
        self.assertEqual(before, after)
        self.assertLess(second, MAX_GROWTH_BYTES,
                        'memory keeps growing: %s' % figures)


def _traced_memory():
    gc.collect()
    # CPython's type attribute cache keeps up to 4096 attribute names
    # alive; pyroute2 and oslo.versionedobjects build new ones per call.
    # It is bounded, not growth, but fills slowly enough to blur a half.
    sys._clear_type_cache()
    return tracemalloc.get_traced_memory()[0]


def _thread_names():
    return sorted(t.name for t in threading.enumerate()
                  if 'process_request' not in t.name)


class TestPlugLoad(LoadTestCase):

    def test_500_plug_unplug_cycles(self):
        host = self.useFixture(cli_fixtures.HostFixture())
        vif = vif_fixtures.vif()
        info = vif_fixtures.instance_info()

        def cycle():
            host.plugin.plug(vif, info)
            host.plugin.unplug(vif, info)
            host.standin.clear_requests()   # the stand-in's own log

        def extra():
            return {'devices': all_links(),
                    'port files': sorted(os.listdir(host.ports_dir)),
                    'registrations': sorted(host.standin.registrations)}

        self.measure('plug/unplug', PLUG_CYCLES, cycle, extra)


class TestRootfsLoad(LoadTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.images = tempfile.mkdtemp(prefix='nlc-load-images-')
        cls.qcow2 = images.build_image(os.path.join(cls.images, 'gpt.qcow2'),
                                       'gpt', 'qcow2')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.images)
        super().tearDownClass()

    def test_100_qcow2_setup_teardown_cycles(self):
        cfg.CONF([], project='nova-lxc-contrail-tests',
                 default_config_files=[])
        disk_privsep.disk_pctxt.set_client_mode(False)
        self.addCleanup(disk_privsep.disk_pctxt.set_client_mode, True)
        directory = tempfile.mkdtemp(prefix='nlc-load-')
        self.addCleanup(shutil.rmtree, directory)
        disk = os.path.join(directory, 'disk')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F',
                        'qcow2', '-b', self.qcow2, disk], check=True)
        container_dir = os.path.join(directory, 'rootfs')
        os.mkdir(container_dir)
        model = imgmodel.LocalFileImage(disk, imgmodel.FORMAT_QCOW2)

        def cycle():
            disk_api.setup_container(model, container_dir)
            self.assertTrue(disk_api.teardown_container(container_dir))

        def extra():
            return {'files': sorted(os.listdir(directory)),
                    'loops': sorted(host_state.loops_below(directory)),
                    'exports': rootfs_base.qsd_processes(directory),
                    'children': host_state.live_children()}

        self.measure('rootfs setup/teardown (qcow2, FUSE export)',
                     ROOTFS_CYCLES, cycle, extra)
