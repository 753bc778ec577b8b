"""The asyncio ``Protocol`` echo server on :class:`uring.loop.EventLoop`.

``python -m uring.bench.peers.uring_asyncio_protocol [--host H] [--port P]``:
the same server as :mod:`uring.bench.peers.asyncio_protocol`, only the loop differs.
"""

from __future__ import annotations

import sys

from .asyncio_protocol import run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    from uring.loop import EventLoop
    return run("uring-asyncio", EventLoop, argv)


if __name__ == "__main__":
    sys.exit(main())
