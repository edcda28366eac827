"""Small disk images with a busybox root filesystem, for tests and the demo.

Stands in for the cloud images a real cloud boots: partitioned (MBR or GPT,
the root in partition 1 or elsewhere, the GPT cloud-image layout whose
partition 1 lies after partitions 14 and 15) or not, raw or qcow2, ext4 or
xfs. The rootfs holds a static busybox with all its applets (sh, ip, ping,
...) and one of several /sbin/init flavours. Built with sfdisk, mke2fs -d,
mkfs.xfs -p and qemu-img: no root needed, nothing mounted.

    python -m nova_lxc_contrail.standin.images --layout gpt-cloud \\
        --format qcow2 --fs ext4 --init busybox disk.qcow2
"""

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile

BUSYBOX = '/bin/busybox'
MIB = 1024 * 1024

GPT_LINUX = '0FC63DAF-8483-4772-8E79-3D69D8477DE4'
GPT_BIOS_BOOT = '21686148-6449-6E6F-744E-656564454649'
GPT_ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'
MBR_LINUX = '83'
MBR_EXTENDED = '5'

# mkfs.xfs refuses filesystems under 300 MB unless it believes it runs
# under xfstests; tiny test filesystems are exactly that use.
_XFS_ENV = {'TEST_DIR': '1', 'TEST_DEV': '1', 'QA_CHECK_FS': '1'}

INITS = ('busybox', 'relative', 'script', 'initctl', 'debian', 'busybox-mtu',
         'none')
# Where the 'busybox-mtu' init records eth0's MTU, one line per boot.
BOOT_MTUS = '/var/log/boot-mtus'


@dataclasses.dataclass(frozen=True)
class Part:
    number: int
    size_mib: int
    content: str = None     # 'root', 'boot' or None (no filesystem)
    gpt_type: str = GPT_LINUX
    mbr_type: str = MBR_LINUX
    name: str = ''


# (table label, partitions in disk order); numbers as the table records them
LAYOUTS = {
    'whole-disk': (None, None),
    'gpt': ('gpt', [Part(1, 32, 'root', name='root')]),
    'mbr': ('dos', [Part(1, 32, 'root')]),
    'gpt-boot-first': ('gpt', [Part(1, 16, 'boot', name='boot'),
                               Part(2, 32, 'root', name='root')]),
    'mbr-boot-first': ('dos', [Part(1, 16, 'boot'), Part(2, 32, 'root')]),
    'gpt-cloud': ('gpt', [Part(14, 4, None, GPT_BIOS_BOOT, name='bios'),
                          Part(15, 8, None, GPT_ESP, name='esp'),
                          Part(1, 32, 'root', name='cloudimg-rootfs')]),
    'mbr-logical': ('dos', [Part(1, 16, 'boot'),
                            Part(2, 40, None, mbr_type=MBR_EXTENDED),
                            Part(5, 32, 'root')]),
    'gpt-no-root': ('gpt', [Part(1, 16, 'boot', name='boot'),
                            Part(2, 16, None, name='data')]),
}

# xfs needs more room than ext4 for its log
_XFS_MIN_MIB = 64


def busybox_tree(root, init='busybox', files=None, symlinks=None):
    """Fill ``root`` with a busybox rootfs.

    :param init: busybox (/sbin/init -> /bin/busybox, busybox init with
        /etc/inittab), relative (/sbin/init -> ../bin/busybox), script
        (/sbin/init is a shell script that runs /etc/init.d/rcS and stays
        up), debian (/sbin/init -> /lib/systemd/systemd, a script that
        execs busybox init), busybox-mtu (/sbin/init is a script whose
        first instruction appends eth0's MTU to ``BOOT_MTUS``, then it execs
        busybox init) or none (no /sbin/init)
    :param files: {path inside rootfs: text} written after, mode 0755 when
        the text starts with '#!'
    :param symlinks: {path inside rootfs: target} created after
    """
    if init not in INITS:
        raise ValueError('init must be one of %s' % ', '.join(INITS))
    for d in ('bin', 'sbin', 'etc/init.d', 'proc', 'sys', 'dev', 'tmp',
              'run', 'root', 'var/log', 'lib'):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(root, 'bin/busybox'))
    applets = subprocess.run([BUSYBOX, '--list'], check=True,
                             capture_output=True, text=True).stdout.split()
    for applet in applets:
        if applet not in ('busybox', 'init'):
            os.symlink('busybox', os.path.join(root, 'bin', applet))
    base = {
        'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
        'etc/group': 'root:x:0:\n',
        'etc/hostname': 'busybox\n',
        'etc/inittab': '::sysinit:/etc/init.d/rcS\n'
                       '::respawn:/bin/sleep 3600\n'
                       '::shutdown:/bin/true\n',
        # Like a cloud image's boot messages: what the console log shows.
        'etc/init.d/rcS': '#!/bin/sh\n'
                          '# Runs once at boot; images may replace it.\n'
                          'hostname -F /etc/hostname 2>/dev/null\n'
                          'echo booted > /run/booted\n'
                          'echo "busybox rcS: $(hostname) booted"\n'
                          'echo "busybox rcS: kernel $(uname -r)"\n'
                          'echo "busybox rcS: eth0 $(cat /sys/class/net/eth0/'
                          'address 2>/dev/null)"\n',
    }
    init_path = os.path.join(root, 'sbin/init')
    if init == 'busybox':
        os.symlink('/bin/busybox', init_path)
    elif init == 'relative':
        os.symlink('../bin/busybox', init_path)
    elif init == 'script':
        base['sbin/init'] = ('#!/bin/sh\n'
                             'trap "exit 0" TERM INT\n'
                             '/etc/init.d/rcS\n'
                             'while :; do sleep 1 & wait; done\n')
    elif init == 'initctl':
        # Like sysvinit and systemd: libvirt-LXC writes its power-off
        # request to /run/initctl, and this init stops on it. The FIFO is
        # held open before rcS reports the boot: a request written to a
        # FIFO nobody reads fails, and nova would reboot hard instead.
        base['sbin/init'] = ('#!/bin/sh\n'
                             'rm -f /run/initctl\n'
                             'mkfifo /run/initctl\n'
                             'exec 3<>/run/initctl\n'
                             'trap "exit 0" TERM INT\n'
                             '/etc/init.d/rcS\n'
                             'head -c 1 <&3 >/dev/null &\n'
                             'wait $!\n')
    elif init == 'busybox-mtu':
        # What the network looks like to an init's first instruction.
        base['sbin/init'] = ('#!/bin/sh\n'
                             'cat /sys/class/net/eth0/mtu >> %s\n'
                             'exec /lib/init/init\n' % BOOT_MTUS)
        os.makedirs(os.path.join(root, 'lib/init'), exist_ok=True)
        os.symlink('/bin/busybox', os.path.join(root, 'lib/init/init'))
    elif init == 'debian':
        os.makedirs(os.path.join(root, 'lib/systemd'), exist_ok=True)
        os.symlink('/lib/systemd/systemd', init_path)
        base['lib/systemd/systemd'] = '#!/bin/sh\nexec /bin/busybox init\n'
    base.update(files or {})
    for path, text in base.items():
        _write(root, path, text)
    for path, target in (symlinks or {}).items():
        full = os.path.join(root, path.lstrip('/'))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if os.path.lexists(full):
            os.unlink(full)
        os.symlink(target, full)


def boot_tree(root):
    """A /boot-like filesystem: no /sbin/init."""
    _write(root, 'vmlinuz', 'not a kernel\n')
    _write(root, 'grub/grub.cfg', '# nothing to see\n')


def _write(root, path, text):
    full = os.path.join(root, path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w') as f:
        f.write(text)
    os.chmod(full, 0o755 if text.startswith('#!') else 0o644)


def build_image(path, layout='gpt', fmt='raw', fs='ext4', init='busybox',
                files=None, symlinks=None, tree_hook=None):
    """Write a disk image to ``path``; return ``path``.

    :param tree_hook: called with the root tree's directory before the
        filesystem is made (owners, modes, device nodes: mke2fs -d keeps
        them when run as root)

    :param layout: a key of LAYOUTS
    :param fmt: raw or qcow2
    :param fs: ext4 or xfs, for every filesystem of the image
    """
    if layout not in LAYOUTS:
        raise ValueError('layout must be one of %s' % ', '.join(LAYOUTS))
    if fmt not in ('raw', 'qcow2'):
        raise ValueError('fmt must be raw or qcow2')
    path = os.path.abspath(path)
    label, parts = LAYOUTS[layout]
    work = tempfile.mkdtemp(prefix='nlc-image-',
                            dir=os.path.dirname(os.path.abspath(path)))
    try:
        raw = path if fmt == 'raw' else os.path.join(work, 'disk.raw')
        trees = {}
        for content in ('root', 'boot'):
            tree = os.path.join(work, content)
            os.mkdir(tree)
            if content == 'root':
                busybox_tree(tree, init, files, symlinks)
                if tree_hook is not None:
                    tree_hook(tree)
            else:
                boot_tree(tree)
            trees[content] = tree
        if parts is None:
            _make_fs(raw, 0, _fs_mib(32, fs) * MIB, fs, trees['root'], work,
                     create=True)
        else:
            _partition(raw, label, parts, fs)
            layout_offsets = _offsets(parts, fs)
            for part in parts:
                if part.content:
                    start, size = layout_offsets[part.number]
                    _make_fs(raw, start, size, fs, trees[part.content], work)
        if fmt == 'qcow2':
            subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                            'qcow2', raw, path], check=True)
    finally:
        shutil.rmtree(work)
    return path


def _fs_mib(size_mib, fs):
    return max(size_mib, _XFS_MIN_MIB) if fs == 'xfs' else size_mib


def _offsets(parts, fs):
    """{number: (start, size)} in bytes; 1 MiB aligned, in list order."""
    offsets = {}
    cursor = 1 * MIB
    for part in parts:
        size = (_fs_mib(part.size_mib, fs) if part.content
                else part.size_mib) * MIB
        if part.mbr_type == MBR_EXTENDED:
            size = sum(_fs_mib(p.size_mib, fs) + 1 for p in parts
                       if p.number >= 5) * MIB
        offsets[part.number] = (cursor, size)
        if part.number >= 5:
            # logical partitions: leave 1 MiB for the EBR before each one
            offsets[part.number] = (cursor + MIB, size)
            cursor += MIB
        cursor += size if part.mbr_type != MBR_EXTENDED else 0
    return offsets


def _partition(raw, label, parts, fs):
    offsets = _offsets(parts, fs)
    end = max(start + size for start, size in offsets.values())
    gpt = label == 'gpt'
    with open(raw, 'wb') as f:
        f.truncate(end + 2 * MIB)
    lines = ['label: %s' % label]
    for part in parts:
        start, size = offsets[part.number]
        fields = ['start=%d' % (start // 512), 'size=%d' % (size // 512),
                  'type=%s' % (part.gpt_type if gpt else part.mbr_type)]
        if gpt and part.name:
            fields.append('name="%s"' % part.name)
        lines.append('%s%d : %s' % (os.path.basename(raw), part.number,
                                    ', '.join(fields)))
    _run(['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel', raw],
         input='\n'.join(lines) + '\n', cwd=os.path.dirname(raw) or '.')


def _make_fs(raw, offset, size, fs, tree, work, create=False):
    if create:
        with open(raw, 'wb') as f:
            f.truncate(size)
    if fs == 'ext4':
        _run(['mke2fs', '-q', '-F', '-t', 'ext4', '-d', tree,
              '-E', 'offset=%d' % offset, raw, '%dk' % (size // 1024)])
        return
    if fs != 'xfs':
        raise ValueError('fs must be ext4 or xfs')
    image = raw if create else os.path.join(work, 'fs.xfs')
    if not create:
        with open(image, 'wb') as f:
            f.truncate(size)
    proto = os.path.join(work, 'proto')
    with open(proto, 'w') as f:
        f.write(xfs_protofile(tree))
    _run(['mkfs.xfs', '-q', '-f', '-p', proto, image],
         env=dict(os.environ, **_XFS_ENV))
    if not create:
        _copy_sparse(image, raw, offset)
        os.unlink(image)


def xfs_protofile(tree):
    """mkfs.xfs -p description of the directory ``tree``."""
    lines = ['/dev/null', '0 0']

    def entry(path, name, indent):
        st = os.lstat(path)
        mode = '%03o' % (st.st_mode & 0o777)
        if os.path.islink(path):
            lines.append('%s%s l--%s 0 0 %s' % (indent, name, mode,
                                                os.readlink(path)))
        elif os.path.isdir(path):
            lines.append('%s%s d--%s 0 0' % (indent, name, mode))
            for child in sorted(os.listdir(path)):
                entry(os.path.join(path, child), child, indent + ' ')
            lines.append(indent + '$')
        else:
            lines.append('%s%s ---%s 0 0 %s' % (indent, name, mode, path))

    lines.append('d--755 0 0')
    for child in sorted(os.listdir(tree)):
        entry(os.path.join(tree, child), child, ' ')
    lines.append('$')
    return '\n'.join(lines) + '\n'


def _copy_sparse(src, dst, offset):
    with open(src, 'rb') as fin, open(dst, 'r+b') as fout:
        size = os.fstat(fin.fileno()).st_size
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fin.fileno(), pos, os.SEEK_DATA)
            except OSError:
                break       # only a hole is left
            hole = os.lseek(fin.fileno(), data, os.SEEK_HOLE)
            left, at = hole - data, data
            while left:
                n = os.copy_file_range(fin.fileno(), fout.fileno(), left,
                                       at, offset + at)
                if n == 0:
                    break
                left -= n
                at += n
            pos = hole


def _run(argv, input=None, cwd=None, env=None):
    proc = subprocess.run(argv, input=input, capture_output=True, text=True,
                          cwd=cwd, env=env)
    if proc.returncode:
        raise RuntimeError('%s failed: %s' % (' '.join(argv),
                                              proc.stderr.strip()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('path')
    parser.add_argument('--layout', default='gpt', choices=sorted(LAYOUTS))
    parser.add_argument('--format', default='raw', choices=('raw', 'qcow2'))
    parser.add_argument('--fs', default='ext4', choices=('ext4', 'xfs'))
    parser.add_argument('--init', default='busybox', choices=INITS)
    args = parser.parse_args(argv)
    build_image(args.path, args.layout, args.format, args.fs, args.init)
    print(args.path)


if __name__ == '__main__':
    sys.exit(main())
