"""Run one echo server stage against a short load and return what it reports.

The echo tutorials (08 onwards) use this to show each stage at work::

    from tutorials.echo_session import run
    figures = run("poll", clients=20, seconds=0.5)

It starts ``python -m uring.echo --stage NAME --port 0`` as a child process
(:class:`uring.bench.echo_servers.RunningServer`), drives it with the Python
load generator of the benchmarks (:func:`uring.bench.echo_client.run`: every
byte of every echo is checked), stops it with SIGTERM and merges the client's
figures with the server's ``summary:`` line. Bounded: ``seconds`` of load
after ``warmup`` seconds, and every wait has a timeout.
"""

from __future__ import annotations

import sys

from uring.bench import echo_client
from uring.bench.echo_servers import RunningServer, ServerSpec
from uring.echo import registry

__all__ = ["run", "unsupported"]


def unsupported(stage: str) -> str:
    """Why this kernel cannot run ``stage`` (the stage's own check), or ``""``."""
    return registry.find(stage).load().unsupported()


def run(stage: str, *options: str, clients: int = 20, length: int = 100,
        seconds: float = 0.5, warmup: float = 0.2) -> dict:
    """Echo ``clients`` connections × ``length`` bytes through ``stage`` for ``seconds``.

    Returns the client's figures (``round_trips``, ``mismatches``, ``errors``,
    ...) and the server's summary (``requests``, ``syscalls``,
    ``syscalls_per_request``, ...) in one dict, numbers as floats. Raises
    ``RuntimeError`` if the server did not stop cleanly.
    """
    argv = (sys.executable, "-m", "uring.echo", "--stage", stage, *options)
    server = RunningServer(ServerSpec(stage, "stage", argv), cpu=None)
    try:
        load = echo_client.run(server.host, server.port, clients, length, seconds,
                               warmup=warmup)
    finally:
        summary, problem = server.stop()
    if problem:
        raise RuntimeError(f"stage {stage}: {problem}")
    figures = {k: v for k, v in load.items() if isinstance(v, (int, float))}
    for key, value in summary.items():
        try:
            figures[key] = float(value)
        except ValueError:
            figures[key] = value
    return figures
