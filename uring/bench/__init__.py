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

__all__ = ["COMMANDS", "SUMMARIES"]

#: Command name -> module of this package with a ``main(argv) -> int``.
COMMANDS: dict[str, str] = {
    "echo": "echo",
    "nop": "nop",
    "packets": "packets",
    "tcp-rx": "tcp_rx",
}

#: Command name -> what it measures, in one line (``python -m uring.bench --help``).
SUMMARIES: dict[str, str] = {
    "echo": "requests/s, latency and CPU per round trip of the echo stages against "
            "epoll, a C io_uring server and asyncio/selectors/uvloop",
    "nop": "NOP round trips per second: the library's overhead over a bare loop",
    "packets": "received packets/s of every packet receive path over a veth pair (root)",
    "tcp-rx": "TCP receive bandwidth over loopback: multishot RECV against epoll",
}
