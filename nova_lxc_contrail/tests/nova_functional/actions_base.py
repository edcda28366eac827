"""What the server-action tests (rebuild, resize, snapshot, shelve) share.

Kept apart from base.py: each action test asserts the same post-conditions
(container running from the right image, NICs and MTU inside, the ports'
tap and bridge the very same devices, agent registrations and port files
unchanged, one loop device and mount per running server, nothing left after
delete).
"""

# base first: it applies nova's eventlet monkey patching, which must come
# before anything imports threading, selectors or oslo.context.
from nova_lxc_contrail.tests.nova_functional import base  # noqa: I100

import os  # noqa: I100,I202
import subprocess

from nova_lxc_contrail.disk import partition
from nova_lxc_contrail.standin import images

MARKER = 'etc/image-name'


class ActionsTestBase(base.ContrailNovaTestBase):

    LAYOUT = 'gpt'
    FORMAT = 'raw'

    def setUp(self):
        super().setUp()
        self._glance_keeps_uploads()
        self.flavor_id = self.small_flavor()

    def marked_image(self, marker, layout=None, fmt=None, properties=None):
        """A busybox image whose /etc/image-name says ``marker``.

        :param properties: Glance image properties (lxc_root_partition...)
        """
        fmt = fmt or self.FORMAT
        path = images.build_image(
            self.image_path('%s.%s' % (marker, fmt)),
            layout=layout or self.LAYOUT, fmt=fmt, init=base.INITCTL,
            files={'etc/init.d/rcS': base.BOOT_RCS, MARKER: marker + '\n'})
        meta = {'name': marker, 'status': 'active', 'container_format': 'bare',
                'disk_format': fmt, 'size': os.path.getsize(path),
                'min_ram': 0, 'min_disk': 0, 'visibility': 'public',
                'is_public': True, 'properties': dict(properties or {})}
        with open(path, 'rb') as data:
            return self.glance.create(None, meta, data=data)['id']

    def small_flavor(self):
        """A flavor without a root disk size.

        The instance disk stays the image's size (tens of MiB, not 1 GiB),
        and so do snapshots.
        """
        return self._create_flavor(name='lxc.small', memory_mb=256, vcpu=1,
                                   disk=0, ephemeral=0)

    def ports(self, count):
        return [self.create_vrouter_port() for _ in range(count)]

    def boot_with(self, image, ports, **kwargs):
        kwargs.setdefault('flavor_id', self.flavor_id)
        server, seconds = self.boot(
            image, networks=[{'port': p['id']} for p in ports], **kwargs)
        self.timing('POST->ACTIVE', seconds)
        return server

    # --- post-conditions ----------------------------------------------------

    def image_marker(self, dom):
        with open(self.container_path(dom, MARKER)) as f:
            return f.read().strip()

    def assert_running_from(self, server, ports, marker, boots=1):
        """Running from the image ``marker``, its init ran ``boots`` times."""
        dom = self.assert_server_running(server, ports, boots=boots)
        self.assertEqual(marker, self.image_marker(dom))
        return dom

    def assert_one_rootfs(self):
        """One rootfs: exactly the running server's.

        One loop device and its mount; with qcow2 also one export daemon
        and its FUSE mount.
        """
        state = self.host_state()
        exports = 1 if self.IMAGES_TYPE == 'qcow2' else 0
        self.assertEqual(1, len(state['loops']), state)
        self.assertEqual(1 + exports, len(state['mounts']), state)
        self.assertEqual(exports, len(state['exports']), state)
        return state, self.mount_ids()

    def delete_and_check(self, server, ports, *more):
        """Delete servers: (server, ports[, server, ports...]).

        Then nothing of any of them is left.
        """
        pairs = [(server, ports)] + list(zip(more[::2], more[1::2]))
        for server, _ports in pairs:
            self.timing('DELETE->gone', self.delete(server))
        for server, ports in pairs:
            self.assert_nothing_left(server)
            for port in ports:
                self.assert_port_gone(port)

    def _glance_keeps_uploads(self):
        """The Glance fixture keeps uploads, as Glance does.

        nova's fixture drops the data of an update (a snapshot's upload),
        and takes the empty kernel_id and ramdisk_id that nova's Glance
        client leaves out (nova.image.glance._convert_to_v2).
        """
        glance = self.glance
        update = glance.update

        def update_keeping_data(context, image_id, metadata, data=None,
                                purge_props=False):
            properties = metadata.get('properties', {})
            for name in ('kernel_id', 'ramdisk_id'):
                if not (properties.get(name) or '').strip():
                    properties.pop(name, None)
            image = update(context, image_id, metadata,
                           purge_props=purge_props)
            if data is not None:
                glance._imagedata[image_id] = data.read()
                image['size'] = len(glance._imagedata[image_id])
            return image

        # nova finds the fixture itself as its image service: the
        # attribute, set on this test's instance, is what it calls.
        glance.update = update_keeping_data

    def glance_image_data(self, image_id):
        return self.glance._imagedata.get(image_id, b'')

    def qcow2_to_raw(self, data):
        path = os.path.join(self._work_dir, 'check.qcow2')
        with open(path, 'wb') as f:
            f.write(data)
        try:
            subprocess.run(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw',
                            path, path + '.raw'], check=True)
            with open(path + '.raw', 'rb') as f:
                return f.read()
        finally:
            for leftover in (path, path + '.raw'):
                if os.path.exists(leftover):
                    os.unlink(leftover)

    def partition_table_of(self, data):
        """The partition table of raw disk bytes (None without one)."""
        return partition.read_partition_table(
            lambda offset, length: data[offset:offset + length], len(data))
