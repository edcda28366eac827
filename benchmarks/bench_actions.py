"""Benchmark: server actions through nova's API, ours beside stock nova LXC.

Runs nova's functional stack (nova_functional's harness: nova-api,
conductor, scheduler and compute in process, a private real libvirtd) twice:
with nova's stock ``LibvirtDriver`` and with ``LxcContrailDriver``, both on
a whole-disk raw image (what stock nova can boot), and prints, beside each
other, the seconds of POST->ACTIVE, rebuild, snapshot (to an active image in
Glance) and resize (to VERIFY_RESIZE), then a boot storm: N servers POSTed
at once, the time to the last ACTIVE, the errors, and whether anything was
left on the host after deleting them.

Ours has one vRouter port per server (plug, agent registration and MTU
included). Stock has none: os-vif 5.2 (the release's) no longer ships the
linux_bridge plugin, so stock nova cannot plug a linux-bridge port here.
An action stock nova cannot do prints as "fails" with the reason. The image's
init stops on SIGTERM and has no initctl FIFO: stock nova (libvirt 9 sends
nothing then) waits ``shutdown_timeout`` before a rebuild or resize goes on;
``--shutdown-timeout 0`` makes both drivers power off at once, to compare
the rest.

Run as root, alone (it needs nova's eventlet patching first)::

    python -m benchmarks actions [--storm 20] [--shutdown-timeout N]
"""

# nova's functional helpers apply eventlet's monkey patching first.
from nova_lxc_contrail.tests.nova_functional import base  # noqa: I100

import argparse  # noqa: I100,I202
import re
import sys
import time
import unittest

from nova_lxc_contrail.standin import namespaces
from nova_lxc_contrail.tests.nova_functional import actions_base

FIGURES = {}        # (arm, what) -> seconds, or a string saying why not
ACTIONS = ('POST->ACTIVE', 'rebuild', 'snapshot', 'resize')
STORM = 20
SHUTDOWN_TIMEOUT = None     # None: nova's [DEFAULT] shutdown_timeout (60 s)


class _Actions:
    """The same steps on either driver; figures go to FIGURES[ARM]."""

    ARM = None

    def record(self, what, value):
        FIGURES[(self.ARM, what)] = value
        self.report('%s %s: %s' % (self.ARM, what, value))

    def timed(self, what, action, *args):
        started = time.monotonic()
        try:
            result = action(*args)
        except Exception as e:
            self.record(what, 'fails: %s' % why(e))
            return None
        self.record(what, time.monotonic() - started)
        return result

    def _compute_flags(self):
        super()._compute_flags()
        # The storm: 20 one-vCPU servers on this 2-vCPU host, beyond the
        # default quota of 10 instances.
        self.flags(cpu_allocation_ratio=16.0)
        self.flags(instances=-1, cores=-1, ram=-1, group='quota')
        if SHUTDOWN_TIMEOUT is not None:
            self.flags(shutdown_timeout=SHUTDOWN_TIMEOUT)

    def whole_disk_image(self):
        return self.create_image(
            base.build_plain_raw_image(self.image_path('plain.raw')))

    def bench_flavors(self):
        self.flags(allow_resize_to_same_host=True)
        small = self._create_flavor(name='bench.small', memory_mb=128,
                                    vcpu=1, disk=0, ephemeral=0)
        big = self._create_flavor(name='bench.big', memory_mb=256, vcpu=1,
                                  disk=0, ephemeral=0)
        return small, big

    def test_actions(self):
        small, big = self.bench_flavors()
        image = self.whole_disk_image()
        # Not timed: the first boot also starts the privsep daemons and
        # fills the image cache.
        self.delete(self.boot_one(image, small))
        server = self.timed('POST->ACTIVE', self.boot_one, image, small)
        self.timed('rebuild', self._rebuild_server, server, image)
        self.timed('snapshot', self.snapshot_to_glance, server)
        self.timed('resize', self._resize_server, server, big)
        self.delete(server)

    def snapshot_to_glance(self, server):
        self._snapshot_server(server, 'bench-snap')
        for _ in range(base.STATE_CHANGE_RETRIES * 2):
            found = [i for i in self.glance.images.values()
                     if i['name'] == 'bench-snap']
            task = self._show_server(server)['OS-EXT-STS:task_state']
            if task is None:
                if found and found[0]['status'] == 'active' and \
                        found[0].get('disk_format'):
                    return found[0]
                raise RuntimeError('no image in Glance after the snapshot')
            time.sleep(0.1)
        raise RuntimeError('snapshot still running')

    def settled(self, server, polls=600):
        """ACTIVE or ERROR, polled 0.1 s apart; else its last status."""
        for _ in range(polls):
            status = self._show_server(server)['status']
            if status in ('ACTIVE', 'ERROR'):
                return status
            time.sleep(0.1)
        return status

    def test_boot_storm(self):
        small, _big = self.bench_flavors()
        image = self.whole_disk_image()
        started = time.monotonic()
        servers = [self.api.post_server({'server': {
            'name': 'storm%d' % i, 'imageRef': image, 'flavorRef': small,
            'networks': self.networks_for(i)}}) for i in range(STORM)]
        errors = sum(self.settled(server) != 'ACTIVE' for server in servers)
        self.record('storm: %d servers, last ACTIVE' % STORM,
                    time.monotonic() - started)
        self.record('storm: errors', errors)
        started = time.monotonic()
        for server in servers:
            self.api.delete_server(server['id'])
        for server in servers:
            self._wait_until_deleted(server)
        self.record('storm: all deleted', time.monotonic() - started)
        left = self.host_state()
        self.record('storm: left on the host', 'nothing' if left == {
            'loops': [], 'mounts': [], 'exports': []} else left)


class StockActions(_Actions, base.LxcNovaTestBase):

    ARM = 'stock'
    COMPUTE_DRIVER = 'libvirt.LibvirtDriver'

    def boot_one(self, image, flavor):
        return self.boot(image, flavor_id=flavor)[0]

    def networks_for(self, index):
        return 'none'


class OurActions(_Actions, actions_base.ActionsTestBase):

    ARM = 'ours'

    def boot_one(self, image, flavor):
        port = self.create_vrouter_port()
        return self.boot(image, networks=[{'port': port['id']}],
                         flavor_id=flavor)[0]

    def networks_for(self, index):
        return [{'port': self.create_vrouter_port()['id']}]


def why(error):
    """The exception class nova's API named, or the first line."""
    text = str(error)
    named = re.search(r"<class '([^']+)'>", text)
    if named:
        return named.group(1)
    message = re.search(r'"message": "([^"]+)"', text)
    return (message.group(1) if message else text.splitlines()[0])[:70]


def _run(case_class, name):
    result = unittest.TestResult()
    case_class(name).run(result)
    for _test, trace in result.errors + result.failures:
        sys.stderr.write(trace)
    return result.wasSuccessful()


def _show(value):
    if isinstance(value, float):
        return '%.2f s' % value
    return str(value)


def main():
    global STORM, SHUTDOWN_TIMEOUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--storm', type=int, default=STORM,
                        help='servers in the boot storm (default %(default)s)')
    parser.add_argument('--shutdown-timeout', type=int,
                        help='[DEFAULT] shutdown_timeout for both drivers '
                             '(rebuild and resize power off first; stock '
                             'nova waits it out on inits without initctl)')
    args = parser.parse_args()
    STORM, SHUTDOWN_TIMEOUT = args.storm, args.shutdown_timeout
    namespaces.enter()
    ok = True
    for name in ('test_actions', 'test_boot_storm'):
        for case_class in (StockActions, OurActions):
            ok &= _run(case_class, name)
    print('\n%-34s | %-22s | %-22s | %s' % ('', 'stock LibvirtDriver',
                                            'LxcContrailDriver', 'ours/stock'))
    whats = list(ACTIONS) + sorted({w for _a, w in FIGURES
                                    if w.startswith('storm')})
    for what in whats:
        stock, ours = FIGURES.get(('stock', what)), FIGURES.get(('ours', what))
        ratio = ('%.2fx' % (ours / stock) if isinstance(stock, float) and
                 isinstance(ours, float) and stock else '-')
        print('%-34s | %-22s | %-22s | %s' % (what, _show(stock), _show(ours),
                                              ratio))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
