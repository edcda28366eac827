"""nova's own functional stack on a real private libvirtd running LXC.

``LxcNovaTestBase`` runs nova-api, conductor, scheduler and compute in this
process (nova's ``_IntegratedTestBase``: Placement, Glance and Neutron
fixtures, sqlite, fake RPC), with the compute driver talking to a REAL
libvirtd (``lxc:///``) that ``PrivateLibvirtd`` starts once per test class.
Run it through the sandbox, which gives the worker private network and
mount namespaces::

    python -m nova_lxc_contrail.tests.sandbox -m testtools.run \\
        nova_lxc_contrail.tests.nova_functional.test_boot

nova's test base refuses to touch the host (it poisons ``import libvirt``,
reads under /sys, ``os.uname``); those guards are switched off here, and only
here, because touching the real host is the point of this suite.
"""

# nova's functional helpers apply eventlet's monkey patching: import them
# before anything else, and libvirt before the poison fixture is installed.
from nova.tests.functional import integrated_helpers  # noqa: I100

import libvirt  # noqa: I100,I202

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import fixtures
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import libvirt as libvirt_fixtures
from oslo_log import log as logging

from nova_lxc_contrail.standin import libvirtd as libvirtd_standin
from nova_lxc_contrail.standin import namespaces

LOG = logging.getLogger(__name__)

COMPUTE_HOST = 'compute'
BUSYBOX = '/bin/busybox'
# The container's init: records each boot in /init.log (so a test can count
# boots), then idles; SIGTERM (libvirt's shutdown of an LXC domain) ends it.
INIT_SCRIPT = """\
#!/bin/busybox sh
/bin/busybox echo "boot $$" >> /init.log
trap 'exit 0' TERM
while :; do /bin/busybox sleep 3600 & wait $!; done
"""
INIT_LOG = 'init.log'


def _run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def write_busybox_tree(root, init=True):
    """A minimal root: static busybox, /bin/sh and (optionally) /sbin/init."""
    for sub in ('bin', 'sbin', 'dev', 'proc', 'sys', 'tmp', 'etc'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    shutil.copy(BUSYBOX, os.path.join(root, 'bin', 'busybox'))
    os.symlink('busybox', os.path.join(root, 'bin', 'sh'))
    if init:
        path = os.path.join(root, 'sbin', 'init')
        with open(path, 'w') as f:
            f.write(INIT_SCRIPT)
        os.chmod(path, 0o755)


def build_plain_raw_image(path, size_mb=16, init=True):
    """An unpartitioned raw ext4 image (what stock nova can boot)."""
    tree = tempfile.mkdtemp(prefix='rootfs-', dir=os.path.dirname(path))
    try:
        write_busybox_tree(tree, init=init)
        _run('mke2fs', '-q', '-F', '-t', 'ext4', '-d', tree, path,
             '%dM' % size_mb)
    finally:
        shutil.rmtree(tree)
    return path


# --- what a test leaves on the host -----------------------------------------

def loop_devices_backed_by(directory):
    """{'/dev/loopN': backing file} for loop devices on files below dir."""
    found = {}
    for name in os.listdir('/sys/block'):
        if not name.startswith('loop'):
            continue
        try:
            with open('/sys/block/%s/loop/backing_file' % name) as f:
                backing = f.read().strip()
        except OSError:
            continue
        if backing.startswith(directory.rstrip('/') + '/'):
            found['/dev/' + name] = backing
    return found


def mounts_below(directory):
    prefix = directory.rstrip('/') + '/'
    targets = []
    with open('/proc/self/mountinfo') as mountinfo:
        for line in mountinfo:
            target = line.split()[4].replace('\\040', ' ')
            if target.startswith(prefix):
                targets.append(target)
    return targets


def _detach_loop(device):
    import fcntl
    loop_clr_fd = 0x4C01
    with open(device, 'rb') as dev:
        fcntl.ioctl(dev, loop_clr_fd)


def release_leftovers(directory):
    """Release the mounts and loop devices a failed test left below dir.

    Runs after the private libvirtd has destroyed its domains; registered
    with plain arguments because nova's ``_clear_attrs`` wipes the test's
    attributes before later cleanups run.
    """
    for target in reversed(mounts_below(directory)):
        LOG.warning('Unmounting leftover %s', target)
        namespaces.umount(target, detach=True)
    for device in loop_devices_backed_by(directory):
        LOG.warning('Detaching leftover %s', device)
        with contextlib.suppress(OSError):
            _detach_loop(device)
    shutil.rmtree(directory, ignore_errors=True)


class LxcNovaTestBase(integrated_helpers._IntegratedTestBase):
    """nova-api/conductor/scheduler/compute on a real private libvirtd."""

    ADMIN_API = True
    microversion = 'latest'
    COMPUTE_DRIVER = 'libvirt.LibvirtDriver'
    IMAGES_TYPE = 'raw'

    def setUp(self):
        if not namespaces.in_private_namespaces():
            raise RuntimeError(
                'run this suite through nova_lxc_contrail.tests.sandbox '
                '(as root): it starts a private libvirtd')
        self._switch_off_host_guards()
        self._work_dir = tempfile.mkdtemp(prefix='nova-lxc-functional-')
        self._instances_path = os.path.join(self._work_dir, 'instances')
        os.makedirs(self._instances_path)
        # Cleanups run last-in first-out: leftovers are released after
        # libvirtd has destroyed its domains; libvirtd stops after nova.
        self.addCleanup(release_leftovers, self._work_dir)
        # A libvirtd per test (it starts in ~0.05s): no definition or
        # domain of one test can reach the next.
        libvirtd = libvirtd_standin.PrivateLibvirtd(
            work_dir=os.path.join(self._work_dir, 'libvirtd'))
        os.makedirs(libvirtd.work_dir)
        libvirtd.start()
        self.addCleanup(libvirtd.stop)
        self._uri = libvirtd.uri
        super().setUp()

    def _switch_off_host_guards(self):
        # Patched on the classes, before nova's TestCase.setUp installs them.
        self.useFixture(fixtures.MockPatchObject(
            nova_fixtures.GenericPoisonFixture, 'POISON_THESE', ()))
        self.useFixture(fixtures.MockPatchObject(
            nova_fixtures.SysFsPoisonFixture, 'inject_poison',
            lambda *args, **kwargs: None))
        self.useFixture(fixtures.MockPatchObject(
            nova_fixtures.ImportModulePoisonFixture.ForbiddenModules,
            'find_spec', lambda *args, **kwargs: None))

    # --- nova services ------------------------------------------------------

    def _compute_flags(self):
        self.flags(compute_driver=self.COMPUTE_DRIVER,
                   instances_path=self._instances_path,
                   instance_name_template='instance-%(uuid)s')
        self.flags(api_paste_config=os.path.join(
            sys.prefix, 'etc', 'nova', 'api-paste.ini'), group='wsgi')
        self.flags(virt_type='lxc', connection_uri=self._uri,
                   images_type=self.IMAGES_TYPE, group='libvirt')

    def _setup_compute_service(self):
        self.useFixture(nova_fixtures.PrivsepFixture())
        libvirt_fixtures.disable_event_thread(self)
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.host.Host.get_hostname',
            lambda _host: COMPUTE_HOST))
        self._compute_flags()
        return self._start_compute(COMPUTE_HOST)

    def restart_compute(self):
        """A real restart: a new manager and driver; libvirt keeps running."""
        compute = self.restart_compute_service(
            self.computes[COMPUTE_HOST], keep_hypervisor_state=False)
        self.computes[COMPUTE_HOST] = compute
        self.compute = compute
        return compute

    # --- images -------------------------------------------------------------

    def create_image(self, path, disk_format='raw', name=None):
        """Register a real image file with the Glance fixture."""
        size = os.path.getsize(path)
        meta = {
            'name': name or os.path.basename(path),
            'status': 'active',
            'container_format': 'bare',
            'disk_format': disk_format,
            'size': size,
            'min_ram': 0,
            'min_disk': 0,
            'visibility': 'public',
            'is_public': True,
            'properties': {},
        }
        with open(path, 'rb') as data:
            image = self.glance.create(None, meta, data=data)
        return image['id']

    def image_path(self, name):
        images = os.path.join(self._work_dir, 'images')
        os.makedirs(images, exist_ok=True)
        return os.path.join(images, name)

    # --- servers ------------------------------------------------------------

    def boot(self, image_id, networks='none', expected_state='ACTIVE',
             flavor_id='1', name='lxc'):
        """POST /servers and wait; returns (server, seconds to the state)."""
        started = time.monotonic()
        server = self.api.post_server({'server': {
            'name': name, 'imageRef': image_id, 'flavorRef': flavor_id,
            'networks': networks}})
        server = self._wait_for_state_change(server, expected_state)
        return server, time.monotonic() - started

    def delete(self, server):
        """DELETE the server and wait until it is gone; returns seconds."""
        started = time.monotonic()
        self._delete_server(server)
        return time.monotonic() - started

    def timing(self, what, seconds):
        # Shown in the test's log (and printed for the closing report).
        LOG.info('TIMING %s: %.2fs', what, seconds)
        sys.stderr.write('TIMING %s %s: %.2fs\n' % (self.id(), what, seconds))

    # --- libvirt and the container ------------------------------------------

    def libvirt_conn(self):
        conn = libvirt.open(self._uri)
        self.addCleanup(conn.close)
        return conn

    def domain_name(self, server):
        return server['OS-EXT-SRV-ATTR:instance_name']

    def domain(self, server):
        return self.libvirt_conn().lookupByName(self.domain_name(server))

    def assert_domain_running(self, server):
        dom = self.domain(server)
        state, _reason = dom.state()
        self.assertEqual(libvirt.VIR_DOMAIN_RUNNING, state)
        return dom

    def assert_no_domain(self, server):
        names = [d.name() for d in self.libvirt_conn().listAllDomains()]
        self.assertNotIn(self.domain_name(server), names)

    def container_init_pid(self, dom):
        """The container's init: the child of the libvirt_lxc controller."""
        controller = dom.ID()
        with open('/proc/%d/task/%d/children' % (controller, controller)) as f:
            children = f.read().split()
        self.assertEqual(1, len(children), 'controller %d children: %s' % (
            controller, children))
        return int(children[0])

    def container_path(self, dom, path):
        return '/proc/%d/root/%s' % (self.container_init_pid(dom),
                                     path.lstrip('/'))

    def wait_for_boots(self, dom, count, timeout=10):
        """Wait until the container's init has logged ``count`` boots."""
        deadline = time.monotonic() + timeout
        boots = []
        while time.monotonic() < deadline:
            try:
                with open(self.container_path(dom, INIT_LOG)) as f:
                    boots = f.read().splitlines()
            except OSError:
                boots = []
            if len(boots) >= count:
                return boots
            time.sleep(0.05)
        self.fail('container init logged %d boots, expected %d' % (
            len(boots), count))

    # --- host state ---------------------------------------------------------

    def host_state(self):
        """Loop devices and mounts this test's instances hold."""
        return {
            'loops': sorted(loop_devices_backed_by(self._work_dir)),
            'mounts': mounts_below(self._instances_path),
        }

    def assert_nothing_left(self, server):
        self.assert_no_domain(server)
        self.assertEqual({'loops': [], 'mounts': []}, self.host_state())
        self.assertFalse(os.path.exists(
            os.path.join(self._instances_path, server['id'])))
        allocations = self.placement.get(
            '/allocations/%s' % server['id']).body['allocations']
        self.assertEqual({}, allocations)
