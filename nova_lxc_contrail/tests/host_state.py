"""What a test left on the host, found by the directory its files live in.

Loop devices and processes are host-wide and mounts belong to the worker's
mount namespace: a test recognises its own by the paths of the files it
made, so parallel workers never count each other's.
"""

import os

from nova_lxc_contrail.disk import loop


def _below(path, directory):
    return path.startswith(directory.rstrip('/') + '/')


def loops_below(directory):
    """{'/dev/loopN': backing file} of loop devices reading files below."""
    return {info.device: info.backing_file for info in loop.bound_devices()
            if _below(info.backing_file, directory)}


def mount_ids_below(directory):
    """{target: mount id} in mount order; a mount made again gets a new id."""
    found = {}
    with open('/proc/self/mountinfo') as mountinfo:
        for line in mountinfo:
            fields = line.split()
            target = fields[4].replace('\\040', ' ')
            if _below(target, directory):
                found[target] = int(fields[0])
    return found


def mounts_below(directory):
    return list(mount_ids_below(directory))


def processes_naming(directory, program=None):
    """pids of live processes whose command line names ``directory``.

    :param program: only processes running this program (a base name).
    """
    found = []
    marker = os.fsencode(directory)
    for pid in filter(str.isdigit, os.listdir('/proc')):
        if int(pid) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
            with open('/proc/%s/stat' % pid) as f:
                zombie = f.read().rsplit(')', 1)[1].split()[0] == 'Z'
        except (OSError, IndexError):
            continue
        if zombie or marker not in b' '.join(argv):
            continue
        if program is None or os.path.basename(argv[0]) == os.fsencode(
                program):
            found.append(int(pid))
    return sorted(found)


def live_children():
    """pids of this process's live (not zombie) child processes."""
    me = str(os.getpid())
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != 'Z':
            found.append(int(pid))
    return sorted(found)
