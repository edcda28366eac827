"""Where a container's rootfs attachment is recorded, next to its dir.

For ``<instance dir>/rootfs`` the files are siblings (the rootfs itself is
hidden by the mount):

- ``rootfs.attach.json``: what setup attached (loop device, its backing file
  and byte range, the export), so that teardown releases exactly that, even
  after nova-compute restarted and when nova passes no device;
- ``rootfs.export``, ``rootfs.qmp``, ``rootfs.pid``: a qcow2 image's FUSE
  export file, its daemon's QMP socket and pid file;
- ``rootfs.stage``: an owner-only (0700) directory where, for a container
  in a user namespace, the filesystem is mounted unmapped until its
  idmapped clone is attached at the container dir (``record['stage']``).
"""

import dataclasses
import json
import os

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# sun_path of struct sockaddr_un holds 108 bytes with the NUL.
MAX_SOCKET_PATH = 107


@dataclasses.dataclass(frozen=True)
class Paths:
    container_dir: str

    @property
    def instance_dir(self):
        return os.path.dirname(os.path.abspath(self.container_dir))

    def _sibling(self, suffix):
        return os.path.abspath(self.container_dir).rstrip('/') + suffix

    @property
    def state(self):
        return self._sibling('.attach.json')

    @property
    def export(self):
        return self._sibling('.export')

    @property
    def stage(self):
        return self._sibling('.stage')

    @property
    def qmp(self):
        return self._sibling('.qmp')

    @property
    def pid(self):
        return self._sibling('.pid')


def load(paths):
    """The recorded attachment (a dict), or None."""
    try:
        with open(paths.state) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        LOG.warning('Ignoring unreadable %s: %s', paths.state, exc)
        return None


def save(paths, record):
    tmp = paths.state + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.replace(tmp, paths.state)


def remove(paths):
    for path in (paths.state, paths.state + '.tmp'):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
