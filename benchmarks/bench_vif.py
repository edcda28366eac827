"""VIF plug/unplug cost, beside what the stock vRouter path costs.

    python -m benchmarks.bench_vif [--ports 100] [--background 2000]

Runs as root inside its own network and mount namespaces (the host is not
touched; everything dies with the process). The vRouter agent stand-in runs
in a separate process on loopback, the devices go through a real privsep
daemon (CAP_NET_ADMIN only), plug/unplug through ``os_vif`` as nova calls
them. The arms are interleaved port by port, so a busy machine slows them
alike. Per port, p50 / p95 in milliseconds:

* ours: one privsep call (pyroute2 netlink) + port file + POST/DELETE on a
  kept-alive session;
* baseline: the same devices made with ``ip`` subprocesses, plus one
  ``python3 -c pass`` interpreter start per port (what calling the stock
  ``vrouter-port-control`` script costs before it does anything), its port
  file and its POST/DELETE on a fresh connection;
* the same baseline whose interpreter also imports what
  ``vrouter-port-control`` imports (requests, ...);
* plug with ``--background`` ports present against 10 present, each in a
  network namespace of its own, batches alternating (wall time, and CPU
  time of every process involved);
* the kernel's own cost of unregistering one netdev (a tap; a bridge; a
  port's pair, separately and as one group), to which unplug is compared.
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


def summary(seconds):
    values = [s * 1000 for s in seconds]
    return {'p50': statistics.median(values), 'p95': percentile(values, 0.95),
            'n': len(values)}


def timed(call, *args, **kwargs):
    started = time.perf_counter()
    call(*args, **kwargs)
    return time.perf_counter() - started


def _run_standin(ports_dir, conn):
    from nova_lxc_contrail.standin import agent
    standin = agent.AgentStandin(ports_dir)
    conn.send(standin.start())
    conn.recv()        # until the parent says stop
    standin.stop()


class Ours(object):
    """nova's path: os_vif.plug/unplug with the lxc_contrail plugin."""

    def __init__(self):
        import os_vif

        from nova_lxc_contrail.tests import vif_fixtures as vf
        self.os_vif = os_vif
        self.vf = vf
        self.info = vf.instance_info()

    def new(self):
        return self.vf.vif()

    def plug(self, v):
        self.os_vif.plug(v, self.info)

    def unplug(self, v):
        self.os_vif.unplug(v, self.info)


class Baseline(object):
    """``ip`` subprocesses and one interpreter start per port."""

    def __init__(self, url, ports_dir, interpreter):
        import requests

        from nova_lxc_contrail.tests import vif_fixtures as vf
        from nova_lxc_contrail.vif import agent
        from nova_lxc_contrail.vif import naming
        self.requests, self.vf, self.agent = requests, vf, agent
        self.naming = naming
        self.url = url
        self.files = agent.PortFiles(ports_dir)
        self.interpreter = interpreter
        self.info = vf.instance_info()

    def new(self):
        return self.vf.vif()

    @staticmethod
    def ip(*argv):
        subprocess.run(('ip',) + argv, check=True)

    def plug(self, v):
        tap = self.naming.tap_name(v.id)
        bridge = self.naming.bridge_name(v.id)
        self.ip('tuntap', 'add', 'dev', tap, 'mode', 'tap')
        self.ip('link', 'add', bridge, 'type', 'bridge')
        self.ip('link', 'set', tap, 'master', bridge)
        self.ip('link', 'set', bridge, 'promisc', 'on', 'mtu', '1400', 'up')
        self.ip('link', 'set', tap, 'mtu', '1400', 'up')
        subprocess.run(self.interpreter, check=True)
        payload = self.agent.build_payload(v, self.info, bridge)
        self.files.write(payload)
        self.requests.post(self.url + '/port',
                           json=self.agent.registration(payload), timeout=5)

    def unplug(self, v):
        subprocess.run(self.interpreter, check=True)
        self.files.remove(v.id)
        self.requests.delete(self.url + '/port/' + v.id, timeout=5)
        self.ip('link', 'del', self.naming.tap_name(v.id))
        self.ip('link', 'del', self.naming.bridge_name(v.id))


class Kernel(object):
    """The kernel deleting netdevs (pyroute2, this process, no privsep)."""

    def __init__(self):
        from pyroute2 import IPRoute
        from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP

        from nova_lxc_contrail.vif import linux_net
        self.ipr = IPRoute()
        self.up = IFF_UP
        self.linux_net = linux_net

    def tap(self):
        self.ipr.link('add', ifname='bench-tap', kind='tuntap', mode='tap')
        return timed(self.ipr.link, 'del', ifname='bench-tap')

    def bridge(self):
        self.ipr.link('add', ifname='bench-br', kind='bridge',
                      flags=self.up, change=self.up)
        return timed(self.ipr.link, 'del', ifname='bench-br')

    def pair_separately(self):
        self.linux_net.plug_devices('bench-tap', 'bench-br')
        started = time.perf_counter()
        self.ipr.link('del', ifname='bench-tap')
        self.ipr.link('del', ifname='bench-br')
        return time.perf_counter() - started

    def pair_one_group(self):
        self.linux_net.plug_devices('bench-tap', 'bench-br')
        group = self.ipr.link('get', ifname='bench-tap')[0].get_attr(
            'IFLA_GROUP')
        return timed(self.ipr.link, 'del', group=group)

    def close(self):
        self.ipr.close()


class Bench(object):

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix='bench-vif-')
        self.ports_dir = os.path.join(self.tmp.name, 'ports')
        self.base_ports_dir = os.path.join(self.tmp.name, 'baseline-ports')

    def start(self):
        context = multiprocessing.get_context('fork')
        parent, child = context.Pipe()
        self.standin = context.Process(target=_run_standin,
                                       args=(self.ports_dir, child),
                                       daemon=True)
        self.standin.start()
        self.standin_conn = parent
        self.url = parent.recv()

        import os_vif
        from oslo_config import cfg
        from oslo_privsep import priv_context

        from nova_lxc_contrail import conf  # noqa: F401 - registers options
        from nova_lxc_contrail.tests import host_state
        from nova_lxc_contrail.vif import privsep
        cfg.CONF([], default_config_files=[], default_config_dirs=[])
        cfg.CONF.set_override('agent_url', self.url, 'lxc_contrail')
        cfg.CONF.set_override('ports_dir', self.ports_dir, 'lxc_contrail')
        before = set(host_state.live_children())
        privsep.vif_plug.start(priv_context.Method.FORK)
        # CPU time is counted in every process a plug involves.
        self.pids = [os.getpid(), self.standin.pid] + sorted(
            set(host_state.live_children()) - before)
        os_vif.initialize()

    def stop(self):
        from nova_lxc_contrail.vif import privsep
        privsep.vif_plug.stop()
        self.standin_conn.send('stop')
        self.standin.join(10)
        self.tmp.cleanup()

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

    def compare(self, count):
        """Plug then unplug ``count`` ports per arm, interleaved."""
        arms = {'ours': Ours(),
                'baseline': Baseline(self.url, self.base_ports_dir,
                                     INTERPRETER_START),
                'stock_script': Baseline(self.url, self.base_ports_dir,
                                         STOCK_SCRIPT_START)}
        kernel = Kernel()
        vifs = {name: [arm.new() for _ in range(count)]
                for name, arm in arms.items()}
        times = {}
        for i in range(count):
            for name, arm in arms.items():
                times.setdefault(name + '_plug', []).append(
                    timed(arm.plug, vifs[name][i]))
        for i in range(count):
            for name, arm in arms.items():
                times.setdefault(name + '_unplug', []).append(
                    timed(arm.unplug, vifs[name][i]))
            for what in ('tap', 'bridge', 'pair_separately',
                         'pair_one_group'):
                times.setdefault('kernel_unregister_' + what, []).append(
                    getattr(kernel, what)())
        kernel.close()
        return {key: summary(values) for key, values in times.items()}

    def breakdown(self, count):
        """Our plug in its two parts: one privsep call; one POST."""
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
            devices.append(timed(linux_net.plug_devices, tap, bridge, 1400,
                                 True))
            post.append(timed(client.register, payload))
            client.unregister(v.id)
            linux_net.unplug_devices(tap, bridge)
        client.close()
        return {'ours_devices': summary(devices),
                'ours_agent_post': summary(post)}

    def plugs(self, count):
        """Plug (timed) and unplug ``count`` ports, the others staying.

        -> (plug seconds each, CPU seconds of all processes in total)
        """
        ours = Ours()
        plug, cpu = [], 0.0
        for _ in range(count):
            v = ours.new()
            before = self.cpu_seconds()
            plug.append(timed(ours.plug, v))
            cpu += self.cpu_seconds() - before
            ours.unplug(v)
        return plug, cpu

    def grow(self, count):
        ours = Ours()
        for _ in range(count):
            ours.plug(ours.new())


def _scale_worker(present, conn):
    """A network namespace of its own holding ``present`` ports."""
    from nova_lxc_contrail.standin import namespaces
    namespaces.enter()
    bench = Bench()
    bench.start()
    try:
        started = time.perf_counter()
        bench.grow(present)
        conn.send(time.perf_counter() - started)
        while True:
            count = conn.recv()
            if count is None:
                break
            conn.send(bench.plugs(count))
    finally:
        bench.stop()


def scale(counts, ports, rounds=10):
    """Plug cost with ``counts`` ports present, one namespace each.

    Batches alternate between the namespaces, so a busy machine disturbs
    them alike. -> {present: (plug summary, CPU ms per plug)}, grow seconds
    """
    context = multiprocessing.get_context('fork')
    workers = {}
    for present in counts:
        parent, child = context.Pipe()
        proc = context.Process(target=_scale_worker, args=(present, child))
        proc.start()
        workers[present] = (proc, parent)
    grown = {present: conn.recv() for present, (_, conn) in workers.items()}
    plug = {present: [] for present in counts}
    cpu = dict.fromkeys(counts, 0.0)
    batch = max(1, ports // rounds)
    for _ in range(rounds):
        for present, (_, conn) in workers.items():
            conn.send(batch)
            times, seconds = conn.recv()
            plug[present].extend(times)
            cpu[present] += seconds
    for proc, conn in workers.values():
        conn.send(None)
        proc.join(60)
    return ({present: (summary(plug[present]),
                       cpu[present] / len(plug[present]) * 1000)
             for present in counts}, grown)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--ports', type=int, default=100,
                        help='ports plugged and unplugged per arm')
    parser.add_argument('--background', type=int, default=2000,
                        help='ports present for the scale measurement')
    parser.add_argument('--json', action='store_true',
                        help='print the figures as JSON too')
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit('bench_vif needs root (it makes its own namespaces)')

    from nova_lxc_contrail.standin import namespaces
    namespaces.enter()       # before any thread: its own netns and mounts

    # Forked first, while this process has no thread yet.
    by_count, grown = scale((10, args.background), args.ports)
    results = {
        'plug_10_present': by_count[10][0],
        'plug_cpu_10_present': by_count[10][1],
        'plug_many_present': by_count[args.background][0],
        'plug_cpu_many_present': by_count[args.background][1],
        'background_seconds': grown[args.background],
    }
    bench = Bench()
    bench.start()
    try:
        bench.compare(5)                                 # warm-up
        results.update(bench.compare(args.ports))
        results.update(bench.breakdown(args.ports))
    finally:
        bench.stop()
    report(results, args)
    if args.json:
        print(json.dumps(results, indent=1, sort_keys=True))
    return 0


def fmt(s):
    return '%7.2f / %7.2f' % (s['p50'], s['p95'])


def _ok(flag):
    return 'met' if flag else 'NOT met'


def report(r, args):
    def ratio(a, b):
        return r[a]['p50'] / r[b]['p50']

    speed = ratio('baseline_plug', 'ours_plug')
    speed_stock = ratio('stock_script_plug', 'ours_plug')
    growth = ratio('plug_many_present', 'plug_10_present')
    scale_cpu = r['plug_cpu_many_present'] / r['plug_cpu_10_present']
    vs_tap = ratio('ours_unplug', 'kernel_unregister_tap')
    vs_bridge = ratio('ours_unplug', 'kernel_unregister_bridge')
    print('VIF plug/unplug per port, p50 / p95 ms, %d ports per arm, '
          'interleaved' % args.ports)
    print('baseline: ip subprocesses + `%s` per port, port file, POST or '
          'DELETE on a new connection' % ' '.join(INTERPRETER_START))
    print('%-36s %-19s %s' % ('', 'p50 / p95', 'x ours (p50)'))
    rows = [('plug, ours', 'ours_plug', None),
            ('plug, baseline', 'baseline_plug', speed),
            ('plug, baseline + stock imports', 'stock_script_plug',
             speed_stock),
            ('  ours: devices (1 privsep call)', 'ours_devices', None),
            ('  ours: agent POST (kept alive)', 'ours_agent_post', None),
            ('unplug, ours', 'ours_unplug', None),
            ('unplug, baseline', 'baseline_unplug',
             ratio('baseline_unplug', 'ours_unplug')),
            ('unplug, baseline + stock imports', 'stock_script_unplug',
             ratio('stock_script_unplug', 'ours_unplug')),
            ('kernel: unregister one tap', 'kernel_unregister_tap', None),
            ('kernel: unregister one bridge', 'kernel_unregister_bridge',
             None),
            ('kernel: tap, then bridge', 'kernel_unregister_pair_separately',
             None),
            ('kernel: tap + bridge, one group',
             'kernel_unregister_pair_one_group', None),
            ('plug, 10 ports present', 'plug_10_present', None),
            ('plug, %d ports present' % args.background,
             'plug_many_present', None)]
    for label, key, x in rows:
        print('%-36s %-19s %s' % (label, fmt(r[key]),
                                  '%6.1fx' % x if x else ''))
    print('scale: %d vs 10 ports present (two namespaces, alternating): '
          'p50 ratio %.2f; CPU per plug (all processes) %.2f vs %.2f ms, '
          'ratio %.2f; %d ports made in %.1f s' % (
              args.background, growth, r['plug_cpu_many_present'],
              r['plug_cpu_10_present'], scale_cpu, args.background,
              r['background_seconds']))
    print('unplug p50 / one netdev unregister p50: %.2fx (tap), %.2fx '
          '(bridge)' % (vs_tap, vs_bridge))
    print('targets: plug p50 <= %.0f ms: %s; >= %.0fx baseline: %s '
          '(%s with the stock imports); %d-port plug <= %.1fx 10-port: %s '
          '(CPU: %s); unplug <= %.1fx one netdev unregister: %s (tap) / '
          '%s (bridge)' % (
              TARGETS['plug_p50_ms'],
              _ok(r['ours_plug']['p50'] <= TARGETS['plug_p50_ms']),
              TARGETS['speedup_vs_baseline'],
              _ok(speed >= TARGETS['speedup_vs_baseline']),
              _ok(speed_stock >= TARGETS['speedup_vs_baseline']),
              args.background, TARGETS['scale_ratio'],
              _ok(growth <= TARGETS['scale_ratio']),
              _ok(scale_cpu <= TARGETS['scale_ratio']),
              TARGETS['unplug_vs_unregister'],
              _ok(vs_tap <= TARGETS['unplug_vs_unregister']),
              _ok(vs_bridge <= TARGETS['unplug_vs_unregister'])))


if __name__ == '__main__':
    sys.exit(main())
