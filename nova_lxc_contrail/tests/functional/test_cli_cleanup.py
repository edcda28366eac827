"""``nova-lxc-contrail cleanup`` removes only what no instance owns and this
package made (root, sandbox, private libvirtd, real loop/FUSE)."""

import json
import os
import shutil
import subprocess
import tempfile

import libvirt
from nova.virt.image import model as imgmodel
from pyroute2 import IPRoute

from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail.disk import loop
from nova_lxc_contrail.disk import privsep as disk_privsep
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.tests.functional import cli_fixtures
from nova_lxc_contrail.tests.functional import rootfs_base
from nova_lxc_contrail.tests import host_state
from nova_lxc_contrail.tests import vif_fixtures
from nova_lxc_contrail.vif import naming

GONE_INSTANCE = '0b0b0b0b-1111-4222-8333-444444444444'
LIVE_INSTANCE = '1c1c1c1c-1111-4222-8333-444444444444'
DIR_INSTANCE = '2d2d2d2d-1111-4222-8333-444444444444'


class TestCleanupPorts(cli_fixtures.LibvirtdTestCase):

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture())
        self.conn = libvirt.open(self.libvirtd.uri)
        self.addCleanup(self.conn.close)

    def define(self, instance, port):
        dom = cli_fixtures.define_domain(self.conn, instance, port.id,
                                         name='instance-' + instance[:8])
        self.addCleanup(dom.undefine)

    def test_removes_stale_ports_and_keeps_the_rest(self):
        stale = self.host.plug(instance=GONE_INSTANCE)
        live = self.host.plug(instance=LIVE_INSTANCE)
        self.define(LIVE_INSTANCE, live)
        with_dir = self.host.plug(instance=DIR_INSTANCE)
        os.mkdir(os.path.join(self.host.instances_path, DIR_INSTANCE))
        # Devices of a plug whose file never came (killed in between).
        orphan = self.host.plug()
        os.unlink(os.path.join(self.host.ports_dir, orphan.id))
        # Not ours: a tap of our naming without mark, a foreign port file.
        stranger = vif_fixtures.new_port_id()
        with IPRoute() as ipr:
            ipr.link('add', ifname=naming.tap_name(stranger), kind='tuntap',
                     mode='tap')
        foreign = vif_fixtures.new_port_id()
        with open(os.path.join(self.host.ports_dir, foreign), 'w') as f:
            json.dump(dict(vif_fixtures.expected_payload(
                vif_fixtures.vif(foreign), vif_fixtures.instance_info(
                    uuid=GONE_INSTANCE)), author='vrouter-port-control'), f)
        before_files = sorted(os.listdir(self.host.ports_dir))

        dry = self.host.cli_json('cleanup', '--dry-run', stderr='')
        self.assertEqual(before_files, sorted(os.listdir(
            self.host.ports_dir)))
        targets = {a['target']: a for a in dry['actions']}
        self.assertEqual({stale.id, '%s %s' % (naming.tap_name(orphan.id),
                                               naming.bridge_name(orphan.id))},
                         set(targets))
        self.assertTrue(all(a['result'] == 'would remove'
                            for a in dry['actions']))
        kept = {k['target']: k['reason'] for k in dry['kept']}
        self.assertIn('instance dir', kept[with_dir.id])
        self.assertIn('not this package', kept[foreign])
        self.assertIn('without this package\'s mark',
                      kept[stranger[:11] + '...'])

        report = self.host.cli_json('cleanup', '--grace', '0.2')
        self.assertTrue(all(a['ok'] for a in report['actions']), report)
        devices = cli_fixtures.port_devices()
        for gone in (stale, orphan):
            self.assertNotIn(naming.tap_name(gone.id), devices)
            self.assertNotIn(naming.bridge_name(gone.id), devices)
        self.assertNotIn(stale.id, os.listdir(self.host.ports_dir))
        self.assertNotIn(stale.id, self.host.standin.registrations)
        for kept_port in (live, with_dir):
            self.assertIn(naming.bridge_name(kept_port.id), devices)
            self.assertIn(kept_port.id, os.listdir(self.host.ports_dir))
            self.assertIn(kept_port.id, self.host.standin.registrations)
        self.assertIn(naming.tap_name(stranger), devices)
        self.assertIn(foreign, os.listdir(self.host.ports_dir))
        # Converged: a second run has nothing to do.
        again = self.host.cli_json('cleanup', '--grace', '0')
        self.assertEqual([], again['actions'])

    def test_a_plug_in_flight_survives_the_grace_period(self):
        # A spawning instance: its dir exists, its domain not yet.
        os.mkdir(os.path.join(self.host.instances_path, DIR_INSTANCE))
        orphan = self.host.plug(instance=DIR_INSTANCE)
        path = os.path.join(self.host.ports_dir, orphan.id)
        with open(path) as f:
            saved = f.read()
        os.unlink(path)
        cleanup = subprocess.Popen(
            self.host.cli_argv('cleanup', '--grace', '2', '--json'),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The plug "finishes" (writes its file) during the grace period.
        rootfs_base.wait_for(lambda: False, 0.8)
        with open(path, 'w') as f:
            f.write(saved)
        out, err = cleanup.communicate(timeout=60)
        self.assertEqual(0, cleanup.returncode, err)
        self.assertEqual([], json.loads(out)['actions'])
        self.assertTrue(cli_fixtures.exists(naming.bridge_name(orphan.id)))

    def test_libvirt_unreachable_keeps_every_port(self):
        self.host.libvirt_uri = 'lxc+unix:///system?socket=/nonexistent/s'
        self.host.write_config()
        port = self.host.plug(instance=GONE_INSTANCE)
        result = self.host.cli('cleanup', '--grace', '0', check=0)
        self.assertIn('libvirt unreachable', result.stderr)
        self.assertTrue(cli_fixtures.exists(naming.bridge_name(port.id)))


class TestCleanupRootfs(cli_fixtures.LibvirtdTestCase):
    """Attachments of instance dirs nova deleted are released."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.images = tempfile.mkdtemp(prefix='nlc-cli-images-')
        try:
            cls.qcow2 = images.build_image(
                os.path.join(cls.images, 'gpt.qcow2'), 'gpt', 'qcow2')
        except Exception:
            shutil.rmtree(cls.images)
            cls.libvirtd.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.images)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(cli_fixtures.HostFixture())
        disk_privsep.disk_pctxt.set_client_mode(False)
        self.addCleanup(disk_privsep.disk_pctxt.set_client_mode, True)
        self.addCleanup(self.assert_released)

    def assert_released(self):
        path = self.host.instances_path
        self.assertEqual({}, host_state.loops_below(path))
        self.assertEqual([], host_state.mounts_below(path))
        self.assertEqual([], rootfs_base.qsd_processes(path))

    def instance(self, uuid):
        directory = os.path.join(self.host.instances_path, uuid)
        os.mkdir(directory)
        disk = os.path.join(directory, 'disk')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F',
                        'qcow2', '-b', self.qcow2, disk], check=True)
        container = os.path.join(directory, 'rootfs')
        os.mkdir(container)
        disk_api.setup_container(
            imgmodel.LocalFileImage(disk, imgmodel.FORMAT_QCOW2), container)
        return directory

    def test_deleted_instance_dir_is_released_live_one_kept(self):
        deleted = self.instance(GONE_INSTANCE)
        live = self.instance(LIVE_INSTANCE)
        self.addCleanup(disk_api.teardown_container,
                        os.path.join(live, 'rootfs'))
        # nova's delete_instance_files: rename to <uuid>_del, then rmtree
        # (which fails on the busy mount points and leaves the dir).
        os.rename(deleted, deleted + '_del')
        self.addCleanup(disk_api.teardown_container,
                        os.path.join(deleted + '_del', 'rootfs'))
        self.assertTrue(host_state.loops_below(deleted + '_del'))
        dry = self.host.cli_json('cleanup', '--dry-run', stderr='')
        self.assertEqual([('rootfs', deleted + '_del')],
                         [(a['kind'], a['target']) for a in dry['actions']])
        report = self.host.cli_json('cleanup', '--grace', '0')
        self.assertTrue(all(a['ok'] for a in report['actions']), report)
        self.assertEqual({}, host_state.loops_below(deleted + '_del'))
        self.assertEqual([], host_state.mounts_below(deleted + '_del'))
        self.assertEqual([], rootfs_base.qsd_processes(deleted + '_del'))
        self.assertTrue(host_state.loops_below(live))
        self.assertTrue(host_state.mounts_below(live))
        shutil.rmtree(deleted + '_del')   # nova's next pending delete

    def test_loop_of_a_deleted_file_is_detached(self):
        directory = os.path.join(self.host.instances_path, GONE_INSTANCE)
        os.mkdir(directory)
        disk = os.path.join(directory, 'disk')
        with open(disk, 'wb') as f:
            f.truncate(1024 * 1024)
        # An attachment without autoclear, as older setups made them.
        attached = loop.attach(disk, autoclear=False)
        attached.close()
        self.addCleanup(loop.detach, attached.device)
        shutil.rmtree(directory)
        report = self.host.cli_json('cleanup', '--grace', '0')
        self.assertEqual([('loop', attached.device)],
                         [(a['kind'], a['target'])
                          for a in report['actions']])
        self.assertFalse(rootfs_base.loop_reads_below(attached.device, disk))

    def test_nothing_of_ours_nothing_done(self):
        report = self.host.cli_json('cleanup', '--grace', '0')
        self.assertEqual([], report['actions'])
        self.assertIn('nothing to clean up',
                      self.host.cli('cleanup', check=0).stdout)
