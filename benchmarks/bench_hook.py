"""What the libvirt hook adds to a container start, beside an empty program.

    python -m benchmarks.bench_hook [--runs 30]

Runs as root inside its own network and mount namespaces (nothing of the
host is touched). A port is plugged as the VIF driver plugs it and veth
pairs are put on its bridge as libvirt-LXC puts them before ``start begin``;
the installed hook program then runs as libvirt runs it (arguments, domain
XML on stdin). The arms are interleaved run by run, so a busy machine slows
them alike. p50 / p95 in milliseconds of:

* baseline: the hook's interpreter starting an empty program
  (``python -c pass``), what any hook written in Python costs;
* an operation the hook ignores (``prepare begin``), and ``start begin`` of
  a domain without ``<mtu>`` (another driver's): no pyroute2 import;
* ``start begin`` with 1 and 4 of this package's ports;
* the interpreter importing pyroute2's IPRoute and nothing else, the part
  of the above that is pyroute2's start.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(seconds):
    values = [s * 1000 for s in seconds]
    return statistics.median(values), percentile(values, 0.95)


class Ports(object):
    """Plugged ports with a libvirt-style veth pair on each bridge."""

    def __init__(self):
        self.made = []

    def add(self):
        from pyroute2 import IPRoute

        from nova_lxc_contrail.vif import linux_net
        from nova_lxc_contrail.vif import naming
        pid = str(uuid.uuid4())
        tap, bridge = naming.tap_name(pid), naming.bridge_name(pid)
        host_end, container_end = naming.veth_name(pid), 'vh' + pid[:8]
        linux_net.plug_devices(tap, bridge, mtu=1450)
        self.made.append((tap, bridge, host_end))
        with IPRoute() as ipr:
            ipr.link('add', ifname=host_end, kind='veth', peer=container_end)
            ipr.link('set', index=ipr.link_lookup(ifname=host_end)[0],
                     master=ipr.link_lookup(ifname=bridge)[0])
        return ("<interface type='bridge'><mac address='fa:16:3e:00:00:01'/>"
                "<source bridge='%s'/><target dev='%s'/>"
                "<guest dev='eth0' actual='%s'/><mtu size='1450'/>"
                "</interface>" % (bridge, host_end, container_end))

    def remove(self):
        from pyroute2 import IPRoute

        from nova_lxc_contrail.vif import linux_net
        with IPRoute() as ipr:
            for tap, bridge, host_end in self.made:
                for index in ipr.link_lookup(ifname=host_end):
                    ipr.link('del', index=index)
                linux_net.unplug_devices(tap, bridge)


def domain(*interfaces):
    return ("<domain type='lxc'><name>bench</name><devices>%s</devices>"
            "</domain>" % ''.join(interfaces)).encode()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=30,
                        help='runs of each arm')
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit('bench_hook needs root (it makes its own namespaces)')

    from nova_lxc_contrail.standin import namespaces
    from nova_lxc_contrail.vif import privsep
    from nova_lxc_contrail.virt import libvirt_hook
    namespaces.enter()
    privsep.vif_plug.set_client_mode(False)
    program = libvirt_hook.installed_program()
    with open(program) as f:
        python = f.readline()[2:].strip()
    start = ['bench', 'start', 'begin', '-']
    ports = Ports()
    try:
        one = ports.add()
        four = [one] + [ports.add() for _ in range(3)]
        plain = one.replace("<mtu size='1450'/>", '')
        arms = [
            ('baseline: python -c pass', [python, '-c', 'pass'], b''),
            ('hook, prepare begin (ignored)',
             [program, 'bench', 'prepare', 'begin', '-'], domain(one)),
            ('hook, start begin, no <mtu>', [program] + start,
             domain(plain)),
            ('hook, start begin, 1 port', [program] + start, domain(one)),
            ('hook, start begin, 4 ports', [program] + start,
             domain(*four)),
            ('python -c "from pyroute2 import IPRoute"',
             [python, '-c', 'from pyroute2 import IPRoute'], b''),
        ]
        seconds = {label: [] for label, _, _ in arms}
        for run in range(args.runs + 2):
            for label, cmd, stdin in arms:
                started = time.perf_counter()
                done = subprocess.run(cmd, input=stdin, capture_output=True)
                elapsed = time.perf_counter() - started
                if done.returncode:
                    sys.exit('%s failed: %s' % (label, done.stderr.decode()))
                if run >= 2:            # two warm-up rounds
                    seconds[label].append(elapsed)
    finally:
        ports.remove()
    base = summary(seconds[arms[0][0]])[0]
    print('libvirt hook, %d runs per arm, load %.1f' % (
        args.runs, os.getloadavg()[0]))
    for label, _, _ in arms:
        p50, p95 = summary(seconds[label])
        print('  %-42s %7.1f / %7.1f ms  %5.2fx baseline' % (
            label, p50, p95, p50 / base))
    return 0


if __name__ == '__main__':
    sys.exit(main())
