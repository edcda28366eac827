"""Benchmarks: figures printed beside a named baseline, no thresholds.

Each ``benchmarks/bench_<name>.py`` has a ``main()`` reading ``sys.argv``.
Run one with ``python -m benchmarks.bench_<name>`` or
``python -m benchmarks <name>``; all of them with ``python -m benchmarks``.
"""
