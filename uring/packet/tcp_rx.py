"""TCP stream receivers for the bandwidth benchmark: io_uring multishot RECV vs epoll.

Both accept one connection from :mod:`~uring.packet.tcp_send` and read it
to the end, counting bytes (and with ``--verify`` checking every byte of
the stream pattern):

* ``uring`` — one multishot ``RECV`` (6.0) into a buffer ring of
  ``--buffers`` x ``--buffer-size`` bytes; each CQE is a filled buffer,
  handed back with one tail store per batch. System calls happen only to
  wait for completions.
* ``epoll`` — the classic loop: ``epoll_wait``, then ``recv_into`` one
  buffer until ``EAGAIN``: at least two system calls per wake-up.

The result line reports bytes, seconds from the first byte to EOF, and the
receiver's CPU seconds (user + system, all its threads: ``getrusage``) over
the same span, so the benchmark can divide by bytes.

    python -m uring.packet.tcp_rx uring --port 9100 [--verify]
"""

from __future__ import annotations

import errno
import os
import resource
import select
import socket
import sys
import time

from .. import _cli, ops
from ..abi import IORING_CQE_BUFFER_SHIFT, IORING_CQE_F_BUFFER, IORING_CQE_F_MORE
from ..buffers import BufferRing
from ..ring import Ring
from .common import emit, pin_cpu
from .zcrx import StreamCheck

__all__ = ["receive_uring", "receive_epoll", "RECEIVERS", "main"]

_F_BUFFER, _F_MORE = int(IORING_CQE_F_BUFFER), int(IORING_CQE_F_MORE)
_SHIFT = int(IORING_CQE_BUFFER_SHIFT)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def receive_uring(conn: socket.socket, *, buffers: int = 64, buffer_size: int = 1 << 16,
                  check: StreamCheck | None = None, timeout: float = 60) -> dict:
    """Read ``conn`` to EOF with one multishot RECV and a buffer ring; return the counts."""
    total = 0
    first = cpu0 = 0.0
    deadline = time.monotonic() + timeout
    with Ring(64, cq_entries=max(256, 2 * buffers)) as ring, \
            BufferRing(ring, 0, buffers, buffer_size) as bufs:
        fd = conn.fileno()
        ops.recv_multishot(ring, 1, fd, buf_group=0)
        take, add = bufs.take, bufs.add
        done = False
        while not done:
            if not ring.cq_ready():
                ring.submit_and_wait(1, timeout=0.5)
            cqes = ring.copy_cqes_raw()
            if not cqes and time.monotonic() > deadline:
                raise TimeoutError("no EOF before the timeout")
            rearm = False
            for cqe in cqes:
                res, flags = cqe[1], cqe[2]
                if flags & _F_BUFFER:
                    view = take(cqe)
                    if not total:
                        first, cpu0 = time.monotonic(), _cpu()
                    total += res
                    if check is not None:
                        check.feed(view)
                    add(flags >> _SHIFT)
                elif res == 0:
                    done = True  # EOF
                elif res < 0 and res != -errno.ENOBUFS:
                    raise OSError(-res, f"recv: {os.strerror(-res)}")
                if not flags & _F_MORE and not done:
                    rearm = True
            bufs.advance()
            if rearm:
                ops.recv_multishot(ring, 1, fd, buf_group=0)
    return {"bytes": total, "seconds": time.monotonic() - first if total else 0.0,
            "cpu": _cpu() - cpu0 if total else 0.0}


def receive_epoll(conn: socket.socket, *, buffer_size: int = 1 << 16,
                  check: StreamCheck | None = None, timeout: float = 60, **_) -> dict:
    """Read ``conn`` to EOF with epoll + ``recv_into``; return the counts."""
    conn.setblocking(False)
    buf = bytearray(buffer_size)
    view = memoryview(buf)
    total = 0
    first = cpu0 = 0.0
    deadline = time.monotonic() + timeout
    with select.epoll() as ep:
        ep.register(conn.fileno(), select.EPOLLIN)
        while True:
            if not ep.poll(0.5) and time.monotonic() > deadline:
                raise TimeoutError("no EOF before the timeout")
            while True:
                try:
                    n = conn.recv_into(buf)
                except BlockingIOError:
                    break
                if not n:
                    return {"bytes": total,
                            "seconds": time.monotonic() - first if total else 0.0,
                            "cpu": _cpu() - cpu0 if total else 0.0}
                if not total:
                    first, cpu0 = time.monotonic(), _cpu()
                total += n
                if check is not None:
                    check.feed(view[:n])


RECEIVERS = {"uring": receive_uring, "epoll": receive_epoll}


def main(argv: list[str] | None = None) -> int:
    """``python -m uring.packet.tcp_rx {uring,epoll} --port P``: a ready line, then a result."""
    ap = _cli.make_parser("python -m uring.packet.tcp_rx", __doc__)
    ap.add_argument("receiver", choices=sorted(RECEIVERS))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--buffers", type=int, default=64)
    ap.add_argument("--buffer-size", type=int, default=1 << 16)
    ap.add_argument("--verify", action="store_true", help="check every byte of the stream")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args(argv)
    try:
        pin_cpu(args.cpu)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((args.host, args.port))
            listener.listen(1)
            listener.settimeout(args.timeout)
            emit("ready", receiver=args.receiver, port=listener.getsockname()[1])
            conn, _ = listener.accept()
        check = StreamCheck(args.seed & 0xFF, args.buffer_size) if args.verify else None
        with conn:
            out = RECEIVERS[args.receiver](conn, buffers=args.buffers,
                                           buffer_size=args.buffer_size, check=check,
                                           timeout=args.timeout)
    except (OSError, ValueError) as e:
        emit("error", message=str(e), kind=type(e).__name__)
        return 2
    emit("result", receiver=args.receiver, mismatches=check.bad if check else None, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
