"""The asyncio streams echo server on :class:`uring.loop.EventLoop`.

``python -m uring.bench.peers.uring_asyncio_streams [--host H] [--port P]``:
the same server as :mod:`uring.bench.peers.asyncio_streams`, run with
``uring.loop.run`` instead of ``asyncio.run``.
"""

from __future__ import annotations

import sys

from .asyncio_streams import run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    import uring.loop
    return run("uring-asyncio-streams", uring.loop.run, argv)


if __name__ == "__main__":
    sys.exit(main())
