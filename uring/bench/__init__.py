"""Benchmarks of ``uring``, each a ``python -m uring.bench <name>`` command.

* ``echo`` (:mod:`uring.bench.echo`) — the echo stages against the epoll
  stage, a C io_uring server and the Python servers users pick instead;
* ``nop`` (:mod:`uring.bench.nop`) — NOP round trips, library against a bare loop;
* ``packets`` (:mod:`uring.bench.packets`) — the packet lab's receive paths;
* ``tcp-rx`` (:mod:`uring.bench.tcp_rx`) — TCP receive paths.

They print tables and write their results to ``results/``; speed is measured
here, never asserted in tests. Shared helpers: :mod:`uring.bench.stats`,
:mod:`uring.bench.svg`, :mod:`uring.bench.proc`.
"""

__all__ = ["COMMANDS"]

#: Command name -> module of this package with a ``main(argv) -> int``.
COMMANDS: dict[str, str] = {
    "echo": "echo",
    "nop": "nop",
    "packets": "packets",
    "tcp-rx": "tcp_rx",
}
