"""Benchmark: container rootfs setup and teardown, beside libguestfs.

Times ``setup_container`` (export for qcow2, partition table, loop device
on the root partition's byte range, mount, /sbin/init check) and
``teardown_container`` (unmount, loop detach, export stop) on a GPT
cloud-image layout (root in partition 1, after partitions 14 and 15), raw
and qcow2, and prints the p50 of repeated runs beside libguestfs'
``guestmount`` -- the partition-aware alternative that needs neither nbd
nor device-mapper -- mounting the same partition of the same images.

Run as root (it works in private namespaces and cleans up after itself):

    python benchmarks/bench_rootfs.py [--runs 50] [--guestmount-runs 3]

guestmount comes from Debian's libguestfs-tools (see bindep.txt) and needs
LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg on hosts
without KVM; the script sets both. --guestmount-runs 0 skips it.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from nova.virt.image import model as imgmodel
from oslo_config import cfg
from oslo_privsep import priv_context

from nova_lxc_contrail.disk import api
from nova_lxc_contrail.disk import loop
from nova_lxc_contrail.disk import privsep
from nova_lxc_contrail.standin import images
from nova_lxc_contrail.standin import namespaces

TARGETS_MS = {('setup', 'raw'): 50, ('setup', 'qcow2'): 100,
              ('teardown', 'raw'): 100, ('teardown', 'qcow2'): 300}
GUESTFS_ENV = {'LIBGUESTFS_BACKEND': 'direct',
               'LIBGUESTFS_BACKEND_SETTINGS': 'force_tcg'}


def p50(samples):
    return statistics.median(samples) * 1000.0


def bench_ours(image, fmt, instance_dir, runs):
    container_dir = os.path.join(instance_dir, 'rootfs')
    os.makedirs(container_dir, exist_ok=True)
    model = imgmodel.LocalFileImage(image, fmt)
    setup, teardown = [], []
    for _ in range(runs):
        start = time.perf_counter()
        device = api.setup_container(model, container_dir)
        middle = time.perf_counter()
        if not api.teardown_container(container_dir, device):
            sys.exit('teardown failed')
        end = time.perf_counter()
        setup.append(middle - start)
        teardown.append(end - middle)
    return setup, teardown


def bench_guestmount(image, fmt, work, runs):
    mnt = os.path.join(work, 'guestmount')
    os.makedirs(mnt, exist_ok=True)
    pid_file = os.path.join(work, 'guestmount.pid')
    env = dict(os.environ, **GUESTFS_ENV)
    setup, teardown = [], []
    for run in range(runs + 1):       # run 0 warms the appliance cache
        start = time.perf_counter()
        subprocess.run(['guestmount', '--format=%s' % fmt, '-a', image,
                        '-m', '/dev/sda1', '--pid-file', pid_file, mnt],
                       check=True, env=env, capture_output=True)
        if not os.path.lexists(os.path.join(mnt, 'sbin/init')):
            sys.exit('guestmount: no /sbin/init in %s' % mnt)
        middle = time.perf_counter()
        with open(pid_file) as f:
            pid = int(f.read())
        subprocess.run(['guestunmount', mnt], check=True, env=env,
                       capture_output=True)
        # guestmount (and its qemu) exits after the unmount: wait for it.
        while os.path.exists('/proc/%d' % pid) and _state(pid) != 'Z':
            time.sleep(0.01)
        end = time.perf_counter()
        if run:
            setup.append(middle - start)
            teardown.append(end - middle)
    return setup, teardown


def _state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except OSError:
        return 'X'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=50)
    parser.add_argument('--guestmount-runs', type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('bench_rootfs.py needs root (loop devices and mounts)')
    namespaces.enter()
    cfg.CONF([], project='nova-lxc-contrail-bench')
    privsep.disk_pctxt.start(priv_context.Method.FORK)

    work = tempfile.mkdtemp(prefix='nlc-bench-rootfs-')
    results = {}
    try:
        for fmt in ('raw', 'qcow2'):
            image = os.path.join(work, 'cloud.%s' % fmt)
            images.build_image(image, 'gpt-cloud', fmt, 'ext4', 'busybox')
            instance_dir = os.path.join(work, 'instance-%s' % fmt)
            os.mkdir(instance_dir)
            bench_ours(image, fmt, instance_dir, 3)     # warm caches
            results[('ours', fmt)] = bench_ours(image, fmt, instance_dir,
                                                args.runs)
            if args.guestmount_runs and shutil.which('guestmount'):
                results[('guestmount', fmt)] = bench_guestmount(
                    image, fmt, work, args.guestmount_runs)
    finally:
        privsep.disk_pctxt.stop()
        leftovers = [i for i in loop.bound_devices()
                     if i.backing_file.startswith(work)]
        shutil.rmtree(work, ignore_errors=True)
    if leftovers:
        sys.exit('left loop devices behind: %s' % leftovers)

    print('container rootfs, GPT cloud layout (root = partition 1 after 14 '
          'and 15), ext4; p50 in ms')
    print('%-9s %-6s %10s %12s %9s %8s' % ('step', 'format', 'ours',
                                           'guestmount', 'ratio', 'target'))
    for index, step in enumerate(('setup', 'teardown')):
        for fmt in ('raw', 'qcow2'):
            ours = p50(results[('ours', fmt)][index])
            target = TARGETS_MS[(step, fmt)]
            theirs = results.get(('guestmount', fmt))
            if theirs:
                other = p50(theirs[index])
                ratio = '%.0fx' % (other / ours)
                other = '%.1f' % other
            else:
                other = ratio = 'n/a'
            print('%-9s %-6s %10.1f %12s %9s %5d %s' % (
                step, fmt, ours, other, ratio, target,
                'ok' if ours <= target else 'MISSED'))
    for fmt in ('raw', 'qcow2'):
        ours = sum(p50(results[('ours', fmt)][i]) for i in (0, 1))
        theirs = results.get(('guestmount', fmt))
        if theirs:
            other = sum(p50(theirs[i]) for i in (0, 1))
            print('%-9s %-6s %10.1f %12.1f %8.0fx'
                  % ('both', fmt, ours, other, other / ours))
    runs = 'ours: %d runs' % args.runs
    if args.guestmount_runs:
        runs += ', guestmount: %d runs after a warm-up' % args.guestmount_runs
    print(runs)


if __name__ == '__main__':
    main()
