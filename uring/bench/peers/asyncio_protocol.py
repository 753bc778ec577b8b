"""Echo server on asyncio with a ``Protocol`` (the documented low-level way).

``python -m uring.bench.peers.asyncio_protocol [--host H] [--port P]``.
:func:`run` also serves :mod:`uring.bench.peers.uvloop_protocol` with another
event loop.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import Callable

from .common import announce, listen, parse_args, print_summary

__all__ = ["EchoProtocol", "run", "main"]


class _State:
    def __init__(self) -> None:
        self.connections = 0
        self.transports: set[asyncio.Transport] = set()


class EchoProtocol(asyncio.Protocol):
    """Writes back what it receives; stops reading while its write buffer is full."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A client connected: keep its transport."""
        self.transport = transport  # type: ignore[assignment]
        self.state.connections += 1
        self.state.transports.add(self.transport)

    def data_received(self, data: bytes) -> None:
        """Echo the bytes (the transport buffers what the socket does not take)."""
        self.transport.write(data)

    def eof_received(self) -> bool:
        """The client half-closed: False closes once the rest of the echo is written."""
        return False

    def pause_writing(self) -> None:
        """The write buffer is over its high mark: stop reading from this client."""
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The write buffer drained below its low mark: read again."""
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: forget its transport."""
        self.state.transports.discard(self.transport)


async def _serve(args, name: str) -> None:
    loop = asyncio.get_running_loop()
    sock = listen(args.host, args.port)
    state = _State()
    server = await loop.create_server(lambda: EchoProtocol(state), sock=sock)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    announce(sock)
    started = time.monotonic()
    await stop.wait()
    server.close()
    for transport in list(state.transports):
        transport.abort()
    await server.wait_closed()
    print_summary(name, state.connections, started)


def run(name: str, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
        argv: list[str] | None = None) -> int:
    """Serve on a loop from ``loop_factory`` (default asyncio's) until SIGINT/SIGTERM."""
    args = parse_args(f"{name} echo server (asyncio Protocol)", argv)
    loop = (loop_factory or asyncio.new_event_loop)()
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_serve(args, name))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return run("asyncio", None, argv)


if __name__ == "__main__":
    sys.exit(main())
