"""The echo servers a Python programmer would write instead of using ``uring``.

Each is a small, ordinary program, runnable as ``python -m
uring.bench.peers.<module> --port 0``: it prints ``listening on HOST:PORT``
(flushed) when ready, echoes until SIGINT or SIGTERM, then prints a
``summary:`` line and exits 0. They are the benchmark's yardsticks, written
the way their libraries' documentation shows, with the care a user would add
(TCP_NODELAY, stop reading from a client that does not read its echo).
"""

from __future__ import annotations

import importlib.util

__all__ = ["PEERS", "unavailable"]

#: Server name in the benchmark -> module in this package.
PEERS: dict[str, str] = {
    "asyncio": "asyncio_protocol",
    "asyncio-streams": "asyncio_streams",
    "selectors": "selectors_echo",
    "uvloop": "uvloop_protocol",
    "uring-asyncio": "uring_asyncio_protocol",
    "uring-asyncio-streams": "uring_asyncio_streams",
}


def unavailable(name: str) -> str | None:
    """None if the peer ``name`` can run here, else why not (uvloop not installed)."""
    if name not in PEERS:
        raise KeyError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    if name == "uvloop" and importlib.util.find_spec("uvloop") is None:
        return "uvloop is not installed (pip install uvloop)"
    return None
