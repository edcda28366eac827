"""python -m benchmarks [NAME [ARGS...]]: run bench_NAME (all without NAME)."""

import importlib
import os
import pkgutil
import sys


def names():
    here = os.path.dirname(__file__)
    return sorted(m.name[len('bench_'):] for m in pkgutil.iter_modules([here])
                  if m.name.startswith('bench_'))


def main(argv):
    if argv and argv[0] in ('-h', '--help'):
        print(__doc__ + '\nbenchmarks: ' + ', '.join(names()))
        return 0
    if argv:
        selected, rest = [argv[0]], argv[1:]
    else:
        selected, rest = names(), []
    status = 0
    for name in selected:
        if name not in names():
            sys.exit('unknown benchmark %r (known: %s)' %
                     (name, ', '.join(names())))
        module = importlib.import_module('benchmarks.bench_' + name)
        # Each main() reads its options from sys.argv, as when run alone.
        sys.argv = ['benchmarks.bench_' + name] + rest
        status |= module.main() or 0
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
