"""nova's image backend, with qcow2 snapshots of running containers.

A running container's qcow2 instance disk is open for writing in the
qemu-storage-daemon that shows it to the loop device as a raw FUSE export
(``disk.api``). qemu-img cannot open it beside that writer ("Failed to get
shared 'write' lock"), so nova's snapshot of a qcow2 LXC instance failed.
The export is the disk as the container sees it: the snapshot reads that.
"""

import os

from nova.virt import images
from nova.virt.libvirt import imagebackend

from nova_lxc_contrail.disk import state


class ExportedQcow2(imagebackend.Qcow2):
    """A Qcow2 disk whose snapshot reads the running container's export."""

    def snapshot_extract(self, target, out_format):
        export = state.Paths(
            os.path.join(os.path.dirname(self.path), 'rootfs')).export
        if not os.path.exists(export):
            # Not running: nobody holds the disk.
            return super().snapshot_extract(target, out_format)
        # The export belongs to root (the disk privsep daemon serves it):
        # a nova-compute that is not root reads it the way nova's own Lvm
        # backend reads its root-owned volume, through nova's privsep.
        images.convert_image(export, target, 'raw', out_format,
                             run_as_root=not os.access(export, os.R_OK))


class LxcImageBackend(imagebackend.Backend):
    """nova's Backend handing out ExportedQcow2 for qcow2 disks."""

    def __init__(self, use_cow):
        super().__init__(use_cow)
        for name, backend in self.BACKEND.items():
            if backend is imagebackend.Qcow2:
                self.BACKEND[name] = ExportedQcow2
