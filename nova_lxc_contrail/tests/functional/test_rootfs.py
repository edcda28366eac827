"""Container rootfs on real loop devices, FUSE exports and mounts."""

import os
import signal
import subprocess

from nova.virt.image import model as imgmodel

from nova_lxc_contrail.disk import api
from nova_lxc_contrail.disk import loop
from nova_lxc_contrail.disk import partition
from nova_lxc_contrail.disk import state
from nova_lxc_contrail import exception
from nova_lxc_contrail.tests.functional import rootfs_base

MIB = 1024 * 1024


class TestLayouts(rootfs_base.RootfsTestCase):
    """Every layout, raw and qcow2, ext4 and xfs, mounts its root."""

    IMAGES = {
        'gpt-ext4.raw': ('gpt', 'raw', 'ext4', 'busybox'),
        'mbr-ext4.qcow2': ('mbr', 'qcow2', 'ext4', 'busybox'),
        'cloud-ext4.qcow2': ('gpt-cloud', 'qcow2', 'ext4', 'busybox'),
        'cloud-xfs.raw': ('gpt-cloud', 'raw', 'xfs', 'debian'),
        'boot-first-xfs.qcow2': ('mbr-boot-first', 'qcow2', 'xfs',
                                 'relative'),
        'gpt-boot-first-ext4.raw': ('gpt-boot-first', 'raw', 'ext4',
                                    'script'),
        'logical-ext4.raw': ('mbr-logical', 'raw', 'ext4', 'busybox'),
        'whole-ext4.raw': ('whole-disk', 'raw', 'ext4', 'busybox'),
        'whole-xfs.qcow2': ('whole-disk', 'qcow2', 'xfs', 'busybox'),
    }

    def _check(self, name, number, fstype):
        model = self.instance_disk(name)
        device = self.setup(model)
        info = loop.info(device)
        self.assertIsNotNone(info)
        if model.format == imgmodel.FORMAT_QCOW2:
            self.assertEqual(state.Paths(self.container_dir).export,
                             info.backing_file)
        else:
            self.assertEqual(self.disk, info.backing_file)
        expected_offset = 0
        if number is not None:
            with open(info.backing_file, 'rb') as f:
                size = os.fstat(f.fileno()).st_size
                table = partition.read_partition_table(
                    lambda o, n: os.pread(f.fileno(), n, o), size)
            part = table.get(number)
            expected_offset = part.start
            self.assertEqual(part.size, info.sizelimit)
        self.assertEqual(expected_offset, info.offset)
        self.assertTrue(info.autoclear)
        self.assertEqual((device, fstype), self.mounted())
        self.assertTrue(os.access(os.path.join(self.container_dir,
                                               'bin/busybox'), os.X_OK))
        self.assertTrue(api.teardown_container(self.container_dir, device))
        self.assertIsNone(self.mounted())
        self.assert_released(device)

    def test_gpt_raw(self):
        self._check('gpt-ext4.raw', 1, 'ext4')

    def test_mbr_qcow2(self):
        self._check('mbr-ext4.qcow2', 1, 'ext4')

    def test_gpt_cloud_layout_qcow2(self):
        self._check('cloud-ext4.qcow2', 1, 'ext4')

    def test_gpt_cloud_layout_xfs_debian_init(self):
        self._check('cloud-xfs.raw', 1, 'xfs')

    def test_root_after_boot_partition_xfs_qcow2(self):
        self._check('boot-first-xfs.qcow2', 2, 'xfs')

    def test_root_after_boot_partition_gpt(self):
        self._check('gpt-boot-first-ext4.raw', 2, 'ext4')

    def test_logical_partition(self):
        self._check('logical-ext4.raw', 5, 'ext4')

    def test_whole_disk_raw(self):
        self._check('whole-ext4.raw', None, 'ext4')

    def test_whole_disk_qcow2_xfs(self):
        self._check('whole-xfs.qcow2', None, 'xfs')

    def test_writes_reach_the_qcow2_image(self):
        model = self.instance_disk('cloud-ext4.qcow2')
        self.setup(model)
        with open(os.path.join(self.container_dir, 'etc/marker'), 'w') as f:
            f.write('kept\n')
        self.assertTrue(api.teardown_container(self.container_dir))
        self.setup(model)
        with open(os.path.join(self.container_dir, 'etc/marker')) as f:
            self.assertEqual('kept\n', f.read())

    def test_two_instances_of_one_xfs_image(self):
        # Same filesystem UUID twice: XFS needs nouuid for the second.
        first = self.instance_disk('cloud-xfs.raw')
        other_dir = os.path.join(self.tmp, 'other')
        os.mkdir(other_dir)
        other_disk = os.path.join(other_dir, 'disk')
        subprocess.run(['cp', '--sparse=always', first.path, other_disk],
                       check=True)
        other_rootfs = os.path.join(other_dir, 'rootfs')
        self.setup(first)
        device = api.setup_container(
            imgmodel.LocalFileImage(other_disk, 'raw'), other_rootfs)
        self.addCleanup(api.teardown_container, other_rootfs, device)
        self.assertEqual((device, 'xfs'), self.mounted(other_rootfs))


class TestRootPartitionPolicy(rootfs_base.RootfsTestCase):

    IMAGES = {
        'boot-first.raw': ('gpt-boot-first', 'raw', 'ext4', 'busybox'),
        'no-root.qcow2': ('gpt-no-root', 'qcow2', 'ext4', 'busybox'),
    }

    def test_auto_explains_its_choice(self):
        model = self.instance_disk('boot-first.raw')
        result = api.inspect_image(model.path)
        self.assertEqual(2, result['root']['partition'])
        self.assertEqual('partition 2 holds an executable /sbin/init and '
                         'partition 1 does not', result['root']['reason'])
        self.assertEqual([{'label': 'partition 1', 'filesystem': 'ext4',
                           'reason': 'no executable /sbin/init: /sbin does '
                                     'not exist'}], result['refused'])

    def test_number_from_the_option(self):
        self.conf.config(root_partition='2', group='lxc_contrail')
        device = self.setup(self.instance_disk('boot-first.raw'))
        self.assertEqual(MIB + 16 * MIB, loop.info(device).offset)

    def test_image_property_overrides_the_option(self):
        self.conf.config(root_partition='2', group='lxc_contrail')
        exc = self.assertRaises(exception.RootfsError, api.setup_container,
                                self.instance_disk('boot-first.raw'),
                                self.container_dir, root_partition='1')
        self.assertEqual('Image %s, partition 1: no executable /sbin/init: '
                         '/sbin does not exist' % self.disk, str(exc))

    def test_none_on_a_partitioned_disk(self):
        exc = self.assertRaises(exception.RootfsError, api.setup_container,
                                self.instance_disk('boot-first.raw'),
                                self.container_dir, root_partition='none')
        self.assertIn('whole disk: no filesystem found (the disk has a gpt '
                      'partition table', str(exc))

    def test_chosen_partition_without_filesystem(self):
        exc = self.assertRaises(exception.RootfsError, api.setup_container,
                                self.instance_disk('no-root.qcow2'),
                                self.container_dir, root_partition=2)
        self.assertEqual('Image %s, partition 2: no filesystem found'
                         % self.disk, str(exc))

    def test_missing_partition(self):
        exc = self.assertRaises(exception.RootfsError, api.setup_container,
                                self.instance_disk('no-root.qcow2'),
                                self.container_dir, root_partition=7)
        self.assertIn('partition 7: no such partition; the gpt table has '
                      'partitions 1, 2', str(exc))

    def test_no_partition_with_init(self):
        exc = self.assertRaises(exception.RootfsError, api.setup_container,
                                self.instance_disk('no-root.qcow2'),
                                self.container_dir)
        self.assertIn('no executable /sbin/init found (partition 1: no '
                      'executable /sbin/init: /sbin does not exist; '
                      'partition 2: no filesystem found)', str(exc))

    def test_bad_property_fails_before_anything(self):
        exc = self.assertRaises(exception.ConfigError, api.setup_container,
                                self.instance_disk('boot-first.raw'),
                                self.container_dir, root_partition='first')
        self.assertIn('lxc_root_partition', str(exc))

    def test_property_from_system_metadata(self):
        class Instance:
            system_metadata = {'image_lxc_root_partition': '2'}
        self.assertEqual('2', api.root_partition_for_instance(Instance))
        Instance.system_metadata = {}
        self.assertIsNone(api.root_partition_for_instance(Instance))


class TestInit(rootfs_base.RootfsTestCase):

    IMAGES = {
        'no-init.raw': ('gpt', 'raw', 'ext4', 'none'),
        'script.qcow2': ('gpt', 'qcow2', 'ext4', 'script'),
    }

    def test_shell_script_init(self):
        self.setup(self.instance_disk('script.qcow2'))
        with open(os.path.join(self.container_dir, 'sbin/init')) as f:
            self.assertTrue(f.read().startswith('#!/bin/sh'))

    def test_no_init(self):
        exc = self.assertRaises(exception.RootfsError, api.setup_container,
                                self.instance_disk('no-init.raw'),
                                self.container_dir)
        self.assertIn('partition 1: no executable /sbin/init: /sbin/init '
                      'does not exist', str(exc))

    def test_init_linking_to_a_host_file(self):
        path = os.path.join(self.tmp, 'hostile.raw')
        # /usr/bin/python3 exists on the host, not in the image
        rootfs_base.images.build_image(
            path, 'gpt', 'raw', 'ext4', 'none',
            symlinks={'/sbin/init': '../../../../usr/bin/python3'})
        os.rename(path, self.disk)
        exc = self.assertRaises(exception.RootfsError, api.setup_container,
                                imgmodel.LocalFileImage(self.disk, 'raw'),
                                self.container_dir)
        self.assertIn('/usr does not exist (dangling link: /sbin/init -> '
                      '../../../../usr/bin/python3)', str(exc))


class TestLifecycle(rootfs_base.RootfsTestCase):
    """Teardown finds everything from disk alone; clean keeps the device."""

    IMAGES = {
        'cloud.qcow2': ('gpt-cloud', 'qcow2', 'ext4', 'busybox'),
        'cloud.raw': ('gpt-cloud', 'raw', 'ext4', 'busybox'),
    }

    def test_teardown_without_device_twice(self):
        device = self.setup(self.instance_disk('cloud.qcow2'))
        self.assertTrue(api.teardown_container(self.container_dir))
        self.assert_released(device)
        self.assertEqual([], rootfs_base.qsd_processes(self.tmp))
        self.assertTrue(api.teardown_container(self.container_dir, device))

    def test_teardown_after_nova_compute_restart(self):
        device = self.setup(self.instance_disk('cloud.qcow2'))
        # A new privsep daemon knows nothing of the first one's work.
        rootfs_base.stop_privsep()
        rootfs_base.start_privsep()
        self.assertTrue(api.teardown_container(self.container_dir, device))
        self.assert_released(device)
        self.assertIsNone(self.mounted())

    def test_second_teardown_leaves_a_reused_device_alone(self):
        device = self.setup(self.instance_disk('cloud.raw'))
        self.assertTrue(api.teardown_container(self.container_dir))
        # The kernel hands the freed device to someone else...
        other = os.path.join(self.tmp, 'other.img')
        with open(other, 'wb') as f:
            f.truncate(MIB)
        held = loop.attach(other, autoclear=False)
        self.addCleanup(loop.detach, held.device)
        self.addCleanup(held.close)
        # ...and nova tears the old instance down again with its device.
        self.assertTrue(api.teardown_container(self.container_dir,
                                               held.device))
        self.assertEqual(other, loop.info(held.device).backing_file)
        del device

    def test_clean_namespace_keeps_the_device_for_the_container(self):
        device = self.setup(self.instance_disk('cloud.qcow2'))
        # The container: a process in its own mount namespace holding a
        # copy of the mount, as libvirt_lxc does.
        container = subprocess.Popen(
            ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
             'cat %s/etc/hostname; exec sleep 600' % self.container_dir],
            stdout=subprocess.PIPE, text=True)
        self.addCleanup(container.wait)
        self.addCleanup(container.kill)
        self.assertEqual('busybox\n', container.stdout.readline())

        api.clean_lxc_namespace(self.container_dir)
        self.assertIsNone(self.mounted())
        self.assertTrue(rootfs_base.loop_reads_below(device, self.tmp))
        self.assertEqual(1, len(rootfs_base.qsd_processes(self.tmp)))

        container.send_signal(signal.SIGKILL)
        container.wait()
        # autoclear: the device goes with the container's mount
        self.assertTrue(rootfs_base.wait_for(
            lambda: not rootfs_base.loop_reads_below(device, self.tmp)))
        self.assertTrue(api.teardown_container(self.container_dir, device))
        self.assertEqual([], rootfs_base.qsd_processes(self.tmp))

    def test_setup_over_a_leftover_attachment(self):
        model = self.instance_disk('cloud.raw')
        first = api.setup_container(model, self.container_dir)
        second = self.setup(model)
        bound = [i for i in loop.bound_devices()
                 if i.backing_file == self.disk]
        self.assertEqual([second], [i.device for i in bound])
        del first

    def test_block_device(self):
        # Boot from volume: the volume is a block device with a partition
        # table; our loop device binds the root's range of it.
        volume = loop.attach(os.path.join(self.image_dir, 'cloud.raw'),
                             autoclear=False, read_only=False)
        self.addCleanup(loop.detach, volume.device)
        self.addCleanup(volume.close)
        device = self.setup(imgmodel.LocalBlockImage(volume.device))
        info = loop.info(device)
        self.assertEqual(volume.device, info.backing_file)
        self.assertEqual(15 * MIB, info.offset)
        self.assertEqual((device, 'ext4'), self.mounted())

    def test_inspect_leaves_no_trace(self):
        model = self.instance_disk('cloud.qcow2')
        before = os.stat(self.disk).st_mtime_ns
        result = api.inspect_image(self.disk)
        self.assertEqual('qcow2', result['format'])
        self.assertEqual([1, 14, 15], [p['number'] for p in
                                       result['partition_table']
                                       ['partitions']])
        self.assertEqual({'disk': None, '1': 'ext4', '14': None, '15': None},
                         result['filesystems'])
        self.assertEqual(1, result['root']['partition'])
        self.assertEqual('partition 1 holds the root filesystem',
                         result['root']['reason'])
        self.assertEqual({'path': '/sbin/init', 'ok': True,
                          'resolved': '/bin/busybox',
                          'links': ('/sbin/init -> /bin/busybox',),
                          'reason': ''}, result['init'])
        self.assertIsNone(result['error'])
        self.assertEqual(before, os.stat(self.disk).st_mtime_ns)
        del model


class TestSectorSize4096(rootfs_base.RootfsTestCase):
    """A GPT written for 4096-byte sectors, as a file and as a device."""

    def _build(self):
        with open(self.disk, 'wb') as f:
            f.truncate(48 * MIB)
        with loop.attach(self.disk, autoclear=True,
                         block_size=4096) as dev:
            subprocess.run(['sfdisk', '-q', '--no-reread', '--no-tell-kernel',
                            dev.device], check=True, text=True,
                           input='label: gpt\nstart=256, size=8192, '
                                 'type=L\n', capture_output=True)
        tree = os.path.join(self.tmp, 'tree')
        os.mkdir(tree)
        rootfs_base.images.busybox_tree(tree)
        subprocess.run(['mke2fs', '-q', '-F', '-t', 'ext4', '-d', tree,
                        '-E', 'offset=%d' % MIB, self.disk, '32M'],
                       check=True, capture_output=True)

    def test_file(self):
        self._build()
        table = partition.read_partition_table_from_path(self.disk)
        self.assertEqual(4096, table.sector_size)
        device = self.setup(imgmodel.LocalFileImage(self.disk, 'raw'))
        self.assertEqual(MIB, loop.info(device).offset)
        self.assertEqual(32 * MIB, loop.info(device).sizelimit)

    def test_block_device_with_4096_byte_sectors(self):
        self._build()
        volume = loop.attach(self.disk, autoclear=False, block_size=4096)
        self.addCleanup(loop.detach, volume.device)
        self.addCleanup(volume.close)
        device = self.setup(imgmodel.LocalBlockImage(volume.device))
        self.assertEqual(MIB, loop.info(device).offset)
