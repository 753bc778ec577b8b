"""The asyncio ``Protocol`` echo server on uvloop's event loop (libuv underneath).

``python -m uring.bench.peers.uvloop_protocol [--host H] [--port P]``; exits 2
saying so when uvloop is not installed.
"""

from __future__ import annotations

import sys

from .asyncio_protocol import run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    try:
        import uvloop
    except ImportError:
        print("uvloop is not installed (pip install uvloop)", file=sys.stderr)
        return 2
    return run("uvloop", uvloop.new_event_loop, argv)


if __name__ == "__main__":
    sys.exit(main())
