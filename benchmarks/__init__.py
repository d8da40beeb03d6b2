"""Side-by-side benchmarks of securemq and pyzmq: ``python -m benchmarks``.

Each case lives in its own module (:mod:`benchmarks.throughput`,
:mod:`benchmarks.latency`, :mod:`benchmarks.router_dealers`,
:mod:`benchmarks.connections`) and runs its sockets in spawned child processes
that import the implementation under test as ``zmq``; see ``docs/benchmarks.md``.

This package must stay cheap to import: spawned workers import it too.
"""
