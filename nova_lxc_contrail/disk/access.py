"""Who on the host can reach a container's mounted root filesystem.

The host's mount of an image stays while the container exists. Without a
user namespace its files keep the image's owners, setuid-root programs
included, so only root and nova-compute's own user may reach them: the
instance dir becomes 0700. In a user namespace the container's root (the
mapped host uid, e.g. 100000) must traverse every directory down to its
rootfs: the instance dir gets an ACL entry giving that uid search (--x)
and nothing more; every directory above it must already let it search.

nova-compute owns the instance dir, so this needs no privilege.
"""

import os
import stat
import struct

from oslo_log import log as logging

from nova_lxc_contrail import exception

LOG = logging.getLogger(__name__)

_ACL_XATTR = 'system.posix_acl_access'
_ACL_VERSION = 2
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_MASK, _ACL_OTHER = (
    0x01, 0x02, 0x04, 0x10, 0x20)
_ACL_UNDEFINED_ID = 0xffffffff
_SEARCH = 1


def _acl(entries):
    return struct.pack('<I', _ACL_VERSION) + b''.join(
        struct.pack('<HHI', tag, perm, uid) for tag, perm, uid in entries)


def restrict_instance_dir(instance_dir, mapped_root_uid=None):
    """Let only its owner (and root, and the mapped root uid) in.

    :param mapped_root_uid: host uid of the container's root, or None
        without a user namespace
    """
    os.chmod(instance_dir, 0o700)
    if mapped_root_uid is None:
        return
    try:
        os.setxattr(instance_dir, _ACL_XATTR, _acl([
            (_ACL_USER_OBJ, 7, _ACL_UNDEFINED_ID),
            (_ACL_USER, _SEARCH, mapped_root_uid),
            (_ACL_GROUP_OBJ, 0, _ACL_UNDEFINED_ID),
            (_ACL_MASK, _SEARCH, _ACL_UNDEFINED_ID),
            (_ACL_OTHER, 0, _ACL_UNDEFINED_ID)]))
    except OSError as exc:
        # No ACLs on this filesystem: search for everyone, listing for
        # no one; the files below show the mapped owners to the host.
        LOG.warning('Cannot give uid %d search on %s through an ACL (%s); '
                    'making it 0711', mapped_root_uid, instance_dir,
                    exc.strerror)
        os.chmod(instance_dir, 0o711)


def check_traversable(path, uid, gid):
    """Raise unless ``uid``/``gid`` can search every directory above path.

    The mode bits decide (an ACL on a directory above is not read: its
    group bits are then the ACL mask, which this reads as the group's).
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    while True:
        st = os.stat(parent)
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            raise exception.ConfigError(
                reason='the container\'s root (host uid %d, gid %d) cannot '
                       'search %s (mode %04o, owner %d:%d), which leads to '
                       'its root filesystem %s: libvirt fails the start. '
                       'Give that directory search permission for others '
                       '(chmod o+x)' % (uid, gid, parent,
                                        stat.S_IMODE(st.st_mode),
                                        st.st_uid, st.st_gid, path))
        if parent == '/':
            return
        parent = os.path.dirname(parent)
