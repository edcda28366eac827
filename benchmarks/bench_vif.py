"""VIF plug/unplug cost, beside what the stock vRouter path costs.

    python -m benchmarks.bench_vif [--ports 200] [--background 2000]

Runs as root inside its own network and mount namespaces (the host is not
touched; everything dies with the process). The vRouter agent stand-in runs
in a separate process on loopback, the devices go through a real privsep
daemon (CAP_NET_ADMIN only), plug/unplug through ``os_vif`` as nova calls
them. Figures printed, per port, p50 / p95 in milliseconds:

* ours: one privsep call (pyroute2 netlink) + port file + POST/DELETE on a
  kept-alive session;
* baseline, same run: the same devices made with ``ip`` subprocesses, plus
  one ``python3 -c pass`` interpreter start per port (what calling the
  stock ``vrouter-port-control`` script costs before it does anything),
  its port file and its POST/DELETE on a fresh connection;
* plug with ``--background`` ports present against 10 present;
* the kernel's own cost of unregistering one netdev (a tap; a bridge), to
  which unplug is compared.
"""

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# The distribution's interpreter, which the stock script's shebang runs (a
# ``python3`` found first on PATH may be a slower wrapper such as pyenv's).
PYTHON3 = ('/usr/bin/python3' if os.path.exists('/usr/bin/python3')
           else shutil.which('python3'))
INTERPRETER_START = (PYTHON3, '-c', 'pass')
# What vrouter-port-control imports before doing anything (this venv's
# interpreter: it has requests).
STOCK_SCRIPT_START = (sys.executable, '-c', 'import argparse, datetime, '
                      'errno, json, os, re, requests, socket, sys, time')

TARGETS = {
    'plug_p50_ms': 5.0,
    'speedup_vs_baseline': 20.0,
    'scale_ratio': 1.2,
    'unplug_vs_unregister': 1.5,
}


def percentile(values, q):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


def summary(values):
    return {'p50': statistics.median(values), 'p95': percentile(values, 0.95),
            'n': len(values)}


def _run_standin(ports_dir, conn):
    from nova_lxc_contrail.standin import agent
    standin = agent.AgentStandin(ports_dir)
    conn.send(standin.start())
    conn.recv()        # until the parent says stop
    standin.stop()


class Bench(object):

    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.TemporaryDirectory(prefix='bench-vif-')
        self.ports_dir = os.path.join(self.tmp.name, 'ports')
        self.base_ports_dir = os.path.join(self.tmp.name, 'baseline-ports')
        os.makedirs(self.base_ports_dir)

    # --- set-up -----------------------------------------------------------

    def start(self):
        parent, child = multiprocessing.get_context('fork').Pipe()
        self.standin = multiprocessing.get_context('fork').Process(
            target=_run_standin, args=(self.ports_dir, child), daemon=True)
        self.standin.start()
        self.standin_conn = parent
        url = parent.recv()

        import os_vif
        from oslo_config import cfg
        from oslo_privsep import priv_context

        from nova_lxc_contrail import conf  # noqa: F401 - registers options
        from nova_lxc_contrail.vif import privsep
        cfg.CONF([], default_config_files=[], default_config_dirs=[])
        cfg.CONF.set_override('agent_url', url, 'lxc_contrail')
        cfg.CONF.set_override('ports_dir', self.ports_dir, 'lxc_contrail')
        before = _children()
        privsep.vif_plug.start(priv_context.Method.FORK)
        # CPU time is counted in every process a plug involves.
        self.pids = [os.getpid(), self.standin.pid] + sorted(
            _children() - before)
        os_vif.initialize()
        self.url = url

    def stop(self):
        from nova_lxc_contrail.vif import privsep
        privsep.vif_plug.stop()
        self.standin_conn.send('stop')
        self.standin.join(10)
        self.tmp.cleanup()

    # --- ours ----------------------------------------------------------------

    def cpu_seconds(self):
        """CPU time used so far by this process, the daemon, the agent."""
        total = 0
        for pid in self.pids:
            for task in os.listdir('/proc/%d/task' % pid):
                try:
                    with open('/proc/%d/task/%s/schedstat' % (pid, task)) as f:
                        total += int(f.read().split()[0])
                except OSError:
                    pass
        return total / 1e9

    def ours(self, count):
        """-> per-port plug times, unplug times, CPU seconds per plug."""
        import os_vif

        from nova_lxc_contrail.tests import vif_fixtures as vf
        info = vf.instance_info()
        vifs = [vf.vif() for _ in range(count)]
        plug, unplug = [], []
        cpu = self.cpu_seconds()
        for v in vifs:
            started = time.perf_counter()
            os_vif.plug(v, info)
            plug.append(time.perf_counter() - started)
        self.plug_cpu = (self.cpu_seconds() - cpu) / count
        for v in vifs:
            started = time.perf_counter()
            os_vif.unplug(v, info)
            unplug.append(time.perf_counter() - started)
        return plug, unplug

    def background(self, count):
        import os_vif

        from nova_lxc_contrail.tests import vif_fixtures as vf
        info = vf.instance_info()
        for _ in range(count):
            os_vif.plug(vf.vif(), info)

    # --- baseline ---------------------------------------------------------

    def baseline(self, count, interpreter):
        import requests

        from nova_lxc_contrail.tests import vif_fixtures as vf
        from nova_lxc_contrail.vif import agent
        from nova_lxc_contrail.vif import naming
        info = vf.instance_info()

        def ip(*argv):
            subprocess.run(('ip',) + argv, check=True)

        files = agent.PortFiles(self.base_ports_dir)
        vifs = [vf.vif() for _ in range(count)]
        plug, unplug = [], []
        for v in vifs:
            tap, bridge = naming.tap_name(v.id), naming.bridge_name(v.id)
            started = time.perf_counter()
            ip('tuntap', 'add', 'dev', tap, 'mode', 'tap')
            ip('link', 'add', bridge, 'type', 'bridge')
            ip('link', 'set', tap, 'master', bridge)
            ip('link', 'set', bridge, 'promisc', 'on', 'mtu', '1400', 'up')
            ip('link', 'set', tap, 'mtu', '1400', 'up')
            subprocess.run(interpreter, check=True)
            payload = agent.build_payload(v, info, bridge)
            files.write(payload)
            requests.post(self.url + '/port',
                          json=agent.registration(payload), timeout=5)
            plug.append(time.perf_counter() - started)
        for v in vifs:
            tap, bridge = naming.tap_name(v.id), naming.bridge_name(v.id)
            started = time.perf_counter()
            subprocess.run(interpreter, check=True)
            files.remove(v.id)
            requests.delete(self.url + '/port/' + v.id, timeout=5)
            ip('link', 'del', tap)
            ip('link', 'del', bridge)
            unplug.append(time.perf_counter() - started)
        return plug, unplug

    # --- the kernel -------------------------------------------------------

    @staticmethod
    def kernel_unregister(count):
        """The kernel deleting netdevs, pyroute2 in this process.

        One tap; one bridge (up, empty); a port's tap + bridge deleted
        with two requests; the same in one group request (as unplug does).
        """
        from pyroute2 import IPRoute
        from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP

        from nova_lxc_contrail.vif import linux_net
        times = {'tap': [], 'bridge': [], 'pair_separately': [],
                 'pair_one_group': []}

        def timed(key, call, *args, **kwargs):
            started = time.perf_counter()
            call(*args, **kwargs)
            times[key].append(time.perf_counter() - started)

        with IPRoute() as ipr:
            for _ in range(count):
                ipr.link('add', ifname='bench-tap', kind='tuntap',
                         mode='tap')
                timed('tap', ipr.link, 'del', ifname='bench-tap')
                ipr.link('add', ifname='bench-br', kind='bridge',
                         flags=IFF_UP, change=IFF_UP)
                timed('bridge', ipr.link, 'del', ifname='bench-br')
                linux_net.plug_devices('bench-tap', 'bench-br')
                started = time.perf_counter()
                ipr.link('del', ifname='bench-tap')
                ipr.link('del', ifname='bench-br')
                times['pair_separately'].append(
                    time.perf_counter() - started)
                linux_net.plug_devices('bench-tap', 'bench-br')
                tap = ipr.link('get', ifname='bench-tap')[0]
                timed('pair_one_group', ipr.link, 'del',
                      group=tap.get_attr('IFLA_GROUP'))
        return times

    @staticmethod
    def devices_and_agent(count):
        """Our plug split in its two parts (one privsep call; one POST)."""
        from nova_lxc_contrail.tests import vif_fixtures as vf
        from nova_lxc_contrail.vif import agent
        from nova_lxc_contrail.vif import linux_net
        from nova_lxc_contrail.vif import naming
        client = agent.AgentClient()
        info = vf.instance_info()
        devices, post = [], []
        for _ in range(count):
            v = vf.vif()
            tap, bridge = naming.tap_name(v.id), naming.bridge_name(v.id)
            payload = agent.build_payload(v, info, bridge)
            started = time.perf_counter()
            linux_net.plug_devices(tap, bridge, 1400, True)
            devices.append(time.perf_counter() - started)
            started = time.perf_counter()
            client.register(payload)
            post.append(time.perf_counter() - started)
            client.unregister(v.id)
            linux_net.unplug_devices(tap, bridge)
        client.close()
        return devices, post


def _children():
    me = str(os.getpid())
    found = set()
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != 'Z':
            found.add(int(pid))
    return found


def ms(s):
    return {k: (v * 1000 if k != 'n' else v) for k, v in s.items()}


def fmt(s):
    return '%7.2f / %7.2f' % (s['p50'], s['p95'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--ports', type=int, default=200,
                        help='ports plugged and unplugged per measurement')
    parser.add_argument('--baseline-ports', type=int, default=50,
                        help='ports for the (slow) baseline')
    parser.add_argument('--background', type=int, default=2000,
                        help='ports present for the scale measurement')
    parser.add_argument('--json', action='store_true',
                        help='print the figures as JSON too')
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit('bench_vif needs root (it makes its own namespaces)')

    from nova_lxc_contrail.standin import namespaces
    namespaces.enter()       # before any thread: its own netns and mounts

    bench = Bench(args)
    bench.start()
    try:
        bench.ours(20)                                   # warm-up
        results = {}
        plug, unplug = bench.ours(args.ports)
        results['ours_plug'] = ms(summary(plug))
        results['ours_unplug'] = ms(summary(unplug))
        devices, post = bench.devices_and_agent(args.ports)
        results['ours_devices'] = ms(summary(devices))
        results['ours_agent_post'] = ms(summary(post))
        plug, unplug = bench.baseline(args.baseline_ports,
                                      INTERPRETER_START)
        results['baseline_plug'] = ms(summary(plug))
        results['baseline_unplug'] = ms(summary(unplug))
        plug, unplug = bench.baseline(args.baseline_ports,
                                      STOCK_SCRIPT_START)
        results['stock_script_plug'] = ms(summary(plug))
        results['stock_script_unplug'] = ms(summary(unplug))
        for key, values in bench.kernel_unregister(30).items():
            results['kernel_unregister_' + key] = ms(summary(values))
        bench.background(10)
        plug, _ = bench.ours(args.ports)
        results['plug_10_present'] = ms(summary(plug))
        results['plug_cpu_10_present'] = bench.plug_cpu * 1000
        started = time.perf_counter()
        bench.background(args.background - 10)
        results['background_seconds'] = time.perf_counter() - started
        plug, _ = bench.ours(args.ports)
        results['plug_%d_present' % args.background] = ms(summary(plug))
        results['plug_cpu_%d_present' % args.background] = (
            bench.plug_cpu * 1000)
    finally:
        bench.stop()
    report(results, args)
    if args.json:
        print(json.dumps(results, indent=1, sort_keys=True))
    return 0


def report(r, args):
    big = 'plug_%d_present' % args.background
    speed_plug = r['baseline_plug']['p50'] / r['ours_plug']['p50']
    speed_unplug = r['baseline_unplug']['p50'] / r['ours_unplug']['p50']
    scale = r[big]['p50'] / r['plug_10_present']['p50']
    vs_tap = r['ours_unplug']['p50'] / r['kernel_unregister_tap']['p50']
    vs_bridge = (r['ours_unplug']['p50'] /
                 r['kernel_unregister_bridge']['p50'])
    print('VIF plug/unplug per port, p50 / p95 ms (%d ports; baseline %d)'
          % (args.ports, args.baseline_ports))
    print('baseline: ip subprocesses + `%s` per port, port file, POST or '
          'DELETE on a new connection' % ' '.join(INTERPRETER_START))
    print('%-34s %-19s %-19s %s' % ('', 'ours', 'baseline', 'baseline/ours'))
    print('%-34s %-19s %-19s %6.1fx' % ('plug', fmt(r['ours_plug']),
                                        fmt(r['baseline_plug']), speed_plug))
    print('%-34s %-19s %-19s %6.1fx' % ('unplug', fmt(r['ours_unplug']),
                                        fmt(r['baseline_unplug']),
                                        speed_unplug))
    print('%-34s %-19s %-19s %6.1fx' % (
        'plug, baseline importing requests', fmt(r['ours_plug']),
        fmt(r['stock_script_plug']),
        r['stock_script_plug']['p50'] / r['ours_plug']['p50']))
    print('%-34s %s' % ('  plug: devices (1 privsep call)',
                        fmt(r['ours_devices'])))
    print('%-34s %s' % ('  plug: agent POST (kept alive)',
                        fmt(r['ours_agent_post'])))
    print('%-34s %s' % ('plug, 10 ports present', fmt(r['plug_10_present'])))
    label = 'plug, %d ports present' % args.background
    print('%-34s %s   ratio %.2f' % (label, fmt(r[big]), scale))
    cpu_small = r['plug_cpu_10_present']
    cpu_big = r['plug_cpu_%d_present' % args.background]
    print('%-34s %.2f ms (10 present), %.2f ms (%d present): ratio %.2f' % (
        '  CPU per plug, all processes', cpu_small, cpu_big,
        args.background, cpu_big / cpu_small))
    print('%-34s %s' % ('kernel: unregister one tap',
                        fmt(r['kernel_unregister_tap'])))
    print('%-34s %s' % ('kernel: unregister one bridge',
                        fmt(r['kernel_unregister_bridge'])))
    print('%-34s %s' % ('kernel: tap, then bridge',
                        fmt(r['kernel_unregister_pair_separately'])))
    print('%-34s %s' % ('kernel: tap + bridge, one group',
                        fmt(r['kernel_unregister_pair_one_group'])))
    print('unplug p50 / one netdev unregister p50: %.2fx (tap), %.2fx '
          '(bridge)' % (vs_tap, vs_bridge))
    print('targets: plug p50 <= %.0f ms: %s; >= %.0fx baseline: %s; '
          '%d-port plug <= %.1fx 10-port: %s; unplug <= %.1fx one netdev '
          'unregister: %s (tap) / %s (bridge)' % (
              TARGETS['plug_p50_ms'],
              _ok(r['ours_plug']['p50'] <= TARGETS['plug_p50_ms']),
              TARGETS['speedup_vs_baseline'],
              _ok(speed_plug >= TARGETS['speedup_vs_baseline']),
              args.background, TARGETS['scale_ratio'],
              _ok(scale <= TARGETS['scale_ratio']),
              TARGETS['unplug_vs_unregister'],
              _ok(vs_tap <= TARGETS['unplug_vs_unregister']),
              _ok(vs_bridge <= TARGETS['unplug_vs_unregister'])))


def _ok(flag):
    return 'met' if flag else 'NOT met'


if __name__ == '__main__':
    sys.exit(main())
