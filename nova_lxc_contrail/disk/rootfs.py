"""Check that a mounted root filesystem can boot: an executable /sbin/init.

The image is untrusted. Its symlinks are resolved component by component as
if the rootfs were ``/`` (like a chroot): an absolute target restarts at the
rootfs, ``..`` stops at the rootfs, and every component is opened with
O_NOFOLLOW relative to its parent, so no link ever reaches a host file.
"""

import dataclasses
import errno
import os
import stat

INIT = '/sbin/init'
MAX_SYMLINKS = 40      # the kernel's own limit

_OPEN_DIR = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


@dataclasses.dataclass(frozen=True)
class InitCheck:
    path: str                 # what was looked up, e.g. /sbin/init
    ok: bool
    resolved: str = ''        # final path inside the rootfs
    links: tuple = ()         # symlink hops, e.g. ('/sbin/init -> ...',)
    reason: str = ''          # why not, when not ok

    def to_dict(self):
        return dataclasses.asdict(self)


class _Unresolvable(Exception):
    pass


def check_init(root, path=INIT):
    """Resolve ``path`` inside ``root`` and check it is an executable file."""
    try:
        root_fd = os.open(root, _OPEN_DIR)
    except OSError as exc:
        return InitCheck(path, False, reason='cannot open the rootfs: %s'
                         % exc.strerror)
    try:
        resolved, links, st = _resolve(root_fd, path)
    except _Unresolvable as exc:
        return InitCheck(path, False, reason=str(exc))
    finally:
        os.close(root_fd)
    links = tuple(links)
    if not stat.S_ISREG(st.st_mode):
        return InitCheck(path, False, resolved, links,
                         '%s is not a regular file' % resolved)
    if not st.st_mode & 0o111:
        return InitCheck(path, False, resolved, links,
                         '%s is not executable (mode %o)'
                         % (resolved, stat.S_IMODE(st.st_mode)))
    return InitCheck(path, True, resolved, links)


def _resolve(root_fd, path):
    """Return (path inside root, symlink hops, lstat of the final file)."""
    pending = [c for c in path.split('/') if c]
    pending.reverse()
    where = []          # resolved directories below root, all real dirs
    links = []
    while pending:
        name = pending.pop()
        if name == '.':
            continue
        if name == '..':
            if where:
                where.pop()
            continue
        shown = '/' + '/'.join(where + [name])
        dir_fd = _open_dir(root_fd, where)
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            target = (os.readlink(name, dir_fd=dir_fd)
                      if stat.S_ISLNK(st.st_mode) else None)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise _Unresolvable(_missing(shown, links))
            raise _Unresolvable('%s: %s' % (shown, exc.strerror))
        finally:
            os.close(dir_fd)
        if target is not None:
            if len(links) >= MAX_SYMLINKS:
                raise _Unresolvable('too many levels of symbolic links at %s'
                                    % shown)
            links.append('%s -> %s' % (shown, target))
            if target.startswith('/'):
                where = []
            pending.extend(reversed([c for c in target.split('/') if c]))
            continue
        if pending:
            if not stat.S_ISDIR(st.st_mode):
                raise _Unresolvable('%s is not a directory' % shown)
            where.append(name)
            continue
        return shown, links, st
    # The path named the rootfs itself (e.g. a link to '/').
    raise _Unresolvable('%s resolves to the rootfs directory' % path)


def _open_dir(root_fd, where):
    fd = os.dup(root_fd)
    try:
        for name in where:
            child = os.open(name, _OPEN_DIR, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError as exc:
        os.close(fd)
        raise _Unresolvable('/%s: %s' % ('/'.join(where), exc.strerror))
    return fd


def _missing(shown, links):
    if links:
        return '%s does not exist (dangling link: %s)' % (
            shown, ', '.join(links))
    return '%s does not exist' % shown
