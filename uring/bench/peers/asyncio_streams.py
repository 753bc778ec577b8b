"""Echo server on asyncio streams (``start_server``, ``reader.read``, ``writer.drain``).

``python -m uring.bench.peers.asyncio_streams [--host H] [--port P]``: the
high-level API most asyncio tutorials show.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import Callable, Coroutine

from .common import announce, listen, parse_args, print_summary

__all__ = ["run", "main"]


async def _serve(args, name: str) -> None:
    loop = asyncio.get_running_loop()
    sock = listen(args.host, args.port)
    handlers: dict[asyncio.Task, asyncio.StreamWriter] = {}
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        task = asyncio.current_task()
        handlers[task] = writer
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            del handlers[task]
            writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    announce(sock)
    started = time.monotonic()
    await stop.wait()
    server.close()
    # Aborting the connections ends each handler's read with EOF. (Cancelling
    # the handlers instead trips a Python 3.11 bug in StreamReaderProtocol's
    # done-callback, which calls exception() on the cancelled task.)
    pending = list(handlers.items())
    for _, writer in pending:
        writer.transport.abort()
    await asyncio.gather(*(task for task, _ in pending), return_exceptions=True)
    await server.wait_closed()
    print_summary(name, connections, started)


def run(name: str, runner: Callable[[Coroutine], object] = asyncio.run,
        argv: list[str] | None = None) -> int:
    """Serve with ``runner`` (``asyncio.run`` or another loop's) until SIGINT/SIGTERM."""
    runner(_serve(parse_args(f"{name} echo server (asyncio streams)", argv), name))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return run("asyncio-streams", asyncio.run, argv)


if __name__ == "__main__":
    sys.exit(main())
