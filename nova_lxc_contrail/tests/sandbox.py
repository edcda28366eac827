"""Run a test worker in its own network and mount namespaces.

Usage: python -m nova_lxc_contrail.tests.sandbox -m MODULE [ARGS...]

The root test suites (functional, e2e, nova_functional) run their workers
through this module, as stestr's ``$PYTHON``: every interface, bridge and
mount a test makes lives in namespaces that die with the worker, so a failed
test cannot touch the host's network or mount table. Tests still clean up
after themselves: loop devices and processes are not namespaced.
"""

import os
import runpy
import sys

from nova_lxc_contrail.standin import namespaces


def main():
    if os.geteuid() != 0:
        sys.exit('nova_lxc_contrail.tests.sandbox: the root test suites '
                 'need root (they create namespaces, devices and mounts)')
    argv = sys.argv[1:]
    if argv[:1] != ['-m'] or len(argv) < 2:
        sys.exit('usage: python -m nova_lxc_contrail.tests.sandbox '
                 '-m MODULE [ARGS...]')
    namespaces.enter()
    sys.argv = [argv[1]] + argv[2:]
    runpy.run_module(argv[1], run_name='__main__', alter_sys=True)


if __name__ == '__main__':
    main()
