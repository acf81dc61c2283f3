"""The benchmarks (``make bench`` runs them all: ``python -m benchmarks.run``).

Each one also runs alone from the repository root, e.g. ``python -m benchmarks.pack_processes
--help``. Daemon processes are started with the shared harness of the installed package,
:mod:`mockserver.daemon.harness`; helpers the benchmarks share are in
:mod:`benchmarks.common`.
"""
