"""A TCP sender of the lab's test stream (byte ``i`` is ``(i * 7 + seed) & 0xff``).

Used where the receiver reads a byte stream instead of frames: the
zero-copy receive path and the TCP bandwidth benchmark. It connects, sends
``--bytes`` bytes or for ``--duration`` seconds in ``--chunk``-byte
``send`` calls from one pre-built buffer, closes, and prints one JSON line
(``{"event": "sent", "sent": <bytes>, ...}``).

    python -m uring.packet.tcp_send --host 10.201.0.2 --port 9000 --bytes 100000000
"""

from __future__ import annotations

import socket
import sys
import time

from .. import _cli
from .common import emit, pin_cpu
from .zcrx import StreamCheck

__all__ = ["send_stream", "main"]


def send_stream(host: str, port: int, *, nbytes: int = 0, duration: float = 0.0,
                chunk: int = 1 << 16, seed: int = 0, connect_timeout: float = 10.0) -> dict:
    """Connect and send the stream; return ``{"sent", "seconds"}``."""
    if not nbytes and not duration:
        raise ValueError("give nbytes or duration (or both): the run must be bounded")
    if not 1 <= chunk <= 1 << 24:
        raise ValueError(f"chunk must be in 1..16 MiB, not {chunk}")
    # A buffer one period longer than a chunk: any stream offset starts inside it.
    data = memoryview(StreamCheck.make(seed, chunk + 256))
    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    sent = 0
    t0 = time.monotonic()
    end = t0 + duration if duration else float("inf")
    with sock:
        sock.settimeout(30)
        while (not nbytes or sent < nbytes) and time.monotonic() < end:
            n = chunk if not nbytes else min(chunk, nbytes - sent)
            at = sent & 0xFF
            sent += sock.send(data[at:at + n])
        sock.shutdown(socket.SHUT_WR)
    return {"sent": sent, "seconds": time.monotonic() - t0}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = _cli.make_parser("python -m uring.packet.tcp_send", __doc__)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bytes", type=int, default=0, help="bytes to send (0: no limit)")
    ap.add_argument("--duration", type=float, default=0.0, help="seconds (0: no limit)")
    ap.add_argument("--chunk", type=int, default=1 << 16, help="bytes per send()")
    ap.add_argument("--seed", type=int, default=0, help="stream pattern seed")
    ap.add_argument("--cpu", type=int, default=None)
    args = ap.parse_args(argv)
    try:
        pin_cpu(args.cpu)
        out = send_stream(args.host, args.port, nbytes=args.bytes, duration=args.duration,
                          chunk=args.chunk, seed=args.seed & 0xFF)
    except (OSError, ValueError) as e:
        emit("error", message=str(e), kind=type(e).__name__)
        return 2
    emit("sent", sent=out["sent"], bytes=out["sent"], seconds=out["seconds"], native=False,
         note="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
