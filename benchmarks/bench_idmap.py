"""Benchmark: rootfs setup in a user namespace, idmapped mount vs chown.

Times ``setup_container`` on an ext4 image of 50,000 files (and of 500, to
show what grows with the file count) in three arms, in one run:

- ``plain``: no [libvirt] uid_maps (the baseline);
- ``idmapped``: uid_maps 0:100000:65536, an idmapped mount (this package);
- ``chown``: the same maps, nova's file-by-file shift
  (``nova.privsep.idmapshift.shift``, called correctly) on a fresh copy of
  the image each run, since a shifted disk would be skipped.

Prints the p50 in ms and the ratios idmapped/plain (target <= 1.2x) and
chown/idmapped. Run as root (private namespaces, cleans up after itself):

    python -m benchmarks idmap [--files 50000] [--runs 20] [--chown-runs 3]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import nova.privsep
from nova.virt.image import model as imgmodel
from oslo_config import cfg
from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context

from nova_lxc_contrail.disk import api
from nova_lxc_contrail.disk import idmap
from nova_lxc_contrail.disk import loop
from nova_lxc_contrail.disk import privsep
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.standin import namespaces

MAPS = idmap.container_maps(['0:100000:65536'], ['0:100000:65536'])
TARGET_RATIO = 1.2
# nova/privsep/__init__.py sys_admin_pctxt, where nova's shift runs
NOVA_SYS_ADMIN_CAPS = [caps.CAP_CHOWN, caps.CAP_DAC_OVERRIDE,
                       caps.CAP_DAC_READ_SEARCH, caps.CAP_FOWNER,
                       caps.CAP_NET_ADMIN, caps.CAP_SYS_ADMIN]


def p50(samples):
    return statistics.median(samples) * 1000.0


def build(path, files):
    """A whole-disk ext4 image: busybox plus ``files`` files, 1000 a dir."""
    tree = tempfile.mkdtemp(dir=os.path.dirname(path))
    images.busybox_tree(tree)
    for i in range(files):
        d = os.path.join(tree, 'data', '%03d' % (i // 1000))
        if i % 1000 == 0:
            os.makedirs(d)
        with open(os.path.join(d, '%d' % i), 'w') as f:
            f.write('x')
        if i % 7 == 0:
            os.chown(os.path.join(d, '%d' % i), 1000, 1000)
    size_mib = 64 + files // 250
    subprocess.run(['mke2fs', '-q', '-F', '-t', 'ext4', '-N',
                    str(files + 5000), '-d', tree, path, '%dM' % size_mib],
                   check=True)
    shutil.rmtree(tree)


def cycle(image, instance_dir, id_maps, fresh_copy):
    """setup then teardown; -> setup seconds."""
    container_dir = os.path.join(instance_dir, 'rootfs')
    os.makedirs(container_dir, exist_ok=True)
    disk = os.path.join(instance_dir, 'disk')
    if fresh_copy or not os.path.exists(disk):
        subprocess.run(['cp', '--sparse=always', image, disk], check=True)
    model = imgmodel.LocalFileImage(disk, imgmodel.FORMAT_RAW)
    start = time.perf_counter()
    device = api.setup_container(model, container_dir, id_maps=id_maps)
    took = time.perf_counter() - start
    if not api.teardown_container(container_dir, device):
        sys.exit('teardown failed')
    return took


ARMS = {'plain': (None, 'auto'), 'idmapped': (MAPS, 'auto'),
        'chown': (MAPS, 'chown')}


def arms(image, work, names, runs):
    """Interleave the arms run by run: load on the machine hits them alike.

    -> {arm: [setup seconds]}
    """
    dirs = {}
    for name in names:
        dirs[name] = os.path.join(work, 'instance-%s-%s' % (
            name, os.path.basename(image)))
        os.makedirs(dirs[name])
    samples = {name: [] for name in names}
    for run in range(runs + 1):         # run 0 warms the caches
        for name in names:
            id_maps, method = ARMS[name]
            cfg.CONF.set_override('rootfs_idmap', method,
                                  group='lxc_contrail')
            took = cycle(image, dirs[name], id_maps, method == 'chown')
            if run:
                samples[name].append(took)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--files', type=int, default=50000)
    parser.add_argument('--small-files', type=int, default=500)
    parser.add_argument('--runs', type=int, default=30)
    parser.add_argument('--chown-runs', type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('bench_idmap.py needs root (loop devices and mounts)')
    namespaces.enter()
    cfg.CONF([], project='nova-lxc-contrail-bench')
    cfg.CONF.set_default('capabilities', privsep.CAPABILITIES,
                         group=privsep.CFG_SECTION)
    cfg.CONF.set_default('capabilities', NOVA_SYS_ADMIN_CAPS,
                         group='nova_sys_admin')
    privsep.disk_pctxt.start(priv_context.Method.FORK)
    nova.privsep.sys_admin_pctxt.start(priv_context.Method.FORK)

    work = tempfile.mkdtemp(prefix='nlc-bench-idmap-')
    os.chmod(work, 0o755)       # the mapped root searches it
    results = {}
    try:
        for files in (args.small_files, args.files):
            image = os.path.join(work, '%d.ext4' % files)
            started = time.perf_counter()
            build(image, files)
            sys.stderr.write('built %s in %.1f s\n' % (
                image, time.perf_counter() - started))
            for names, runs in ((('plain', 'idmapped'), args.runs),
                                (('chown',), args.chown_runs)):
                for name, samples in arms(image, work, names, runs).items():
                    results[(files, name)] = samples
    finally:
        cfg.CONF.clear_override('rootfs_idmap', group='lxc_contrail')
        privsep.disk_pctxt.stop()
        nova.privsep.sys_admin_pctxt.stop()
        leftovers = [i for i in loop.bound_devices()
                     if i.backing_file.startswith(work)]
        shutil.rmtree(work, ignore_errors=True)
    if leftovers:
        sys.exit('left loop devices behind: %s' % leftovers)

    print('rootfs setup with [libvirt] uid_maps = 0:100000:65536, whole-disk '
          'ext4, raw; p50 in ms (plain: no uid_maps)')
    print('%8s %9s %10s %10s %14s %15s' % (
        'files', 'plain', 'idmapped', 'chown', 'idmapped/plain',
        'chown/idmapped'))
    for files in (args.small_files, args.files):
        plain = p50(results[(files, 'plain')])
        mapped = p50(results[(files, 'idmapped')])
        chown = p50(results[(files, 'chown')])
        print('%8d %9.1f %10.1f %10.1f %13.2fx %14.0fx %s' % (
            files, plain, mapped, chown, mapped / plain, chown / mapped,
            'ok' if mapped / plain <= TARGET_RATIO else 'MISSED'))
    print('min in ms (the least disturbed run of each arm):')
    for files in (args.small_files, args.files):
        print('%8d %9.1f %10.1f %10.1f %13.2fx' % (
            files, *(min(results[(files, arm)]) * 1000.0
                     for arm in ('plain', 'idmapped', 'chown')),
            min(results[(files, 'idmapped')]) /
            min(results[(files, 'plain')])))
    small = p50(results[(args.small_files, 'idmapped')])
    large = p50(results[(args.files, 'idmapped')])
    print('idmapped %d vs %d files: %.2fx (chown: %.1fx)' % (
        args.files, args.small_files, large / small,
        p50(results[(args.files, 'chown')]) /
        p50(results[(args.small_files, 'chown')])))
    print('plain/idmapped: %d runs each, interleaved, after a warm-up; '
          'chown: %d runs, each on a fresh copy of the image'
          % (args.runs, args.chown_runs))


if __name__ == '__main__':
    main()
