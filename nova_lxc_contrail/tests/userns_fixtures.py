"""What the user namespace tests share: id maps, an image tree with a
setuid-root program, a device node and a user's file, running as a user."""

import os
import stat
import subprocess

from nova_lxc_contrail.disk import idmap

UID_MAPS = ['0:100000:65536']
GID_MAPS = ['0:100000:65536']
MAPS = idmap.container_maps(UID_MAPS, GID_MAPS)
MAPPED_ROOT = 100000
SETUID_SH = 'bin/busybox-suid'   # busybox su works from it
DEVICE = 'etc/null-device'          # c 1:3, as /dev/null
USER_FILE = 'home/user/owned'       # owned by 1000:1000 in the image


def image_tree(tree):
    """A setuid-root program, a device node and a user's file.

    busybox keeps its setuid only for applets that need it, like su; root
    has no password, so ``busybox-suid su -c CMD root`` run by user 1000
    inside the container runs CMD as root only if setuid works.
    """
    with open(os.path.join(tree, 'etc/passwd'), 'w') as f:
        f.write('root::0:0:root:/root:/bin/sh\n'
                'user:x:1000:1000:user:/home/user:/bin/sh\n')
    with open(os.path.join(tree, 'etc/group'), 'w') as f:
        f.write('root:x:0:\nuser:x:1000:\n')
    target = os.path.join(tree, SETUID_SH)
    subprocess.run(['cp', os.path.join(tree, 'bin/busybox'), target],
                   check=True)
    os.chown(target, 0, 0)
    os.chmod(target, 0o4755)
    os.mknod(os.path.join(tree, DEVICE), 0o666 | stat.S_IFCHR,
             os.makedev(1, 3))
    os.makedirs(os.path.join(tree, os.path.dirname(USER_FILE)))
    with open(os.path.join(tree, USER_FILE), 'w') as f:
        f.write('mine\n')
    os.chown(os.path.join(tree, USER_FILE), 1000, 1000)


def as_user(uid, argv):
    return subprocess.run(
        ['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid,
         '--clear-groups', '--inh-caps=-all'] + argv,
        capture_output=True, text=True)
