"""Receiver: a UDP socket read with ``recvmmsg(2)``, the baseline for every other path.

The kernel runs the whole stack (veth NAPI, IP, UDP, socket queue) and
copies each datagram's payload into our buffers; one ``recvmmsg`` returns up
to ``--batch`` datagrams. When the socket is empty we ``poll`` (bounded, so
the stop rules are checked) instead of blocking in the kernel.

    python -m uring.packet.rx_recvmmsg --iface urx1a2b3c --count 1000
"""

from __future__ import annotations

import select
import socket
import struct
import sys
import time
from typing import Callable

from .common import POLL_SLICE, RxConfig, run_receiver
from .frames import MAGIC
from .libc import MSG_DONTWAIT, MmsgBatch, mmsghdr, recvmmsg
from .stats import RxResult, SeqTracker

__all__ = ["receive", "open_udp_socket", "RCVBUF"]

#: Receive buffer asked for with SO_RCVBUFFORCE (root), so a burst is not dropped.
RCVBUF = 32 << 20
_BUF = 2048
_PAYLOAD = struct.Struct("!IIQ")
# msg_len of mmsghdr i sits at u32 index i * 16 + 14 (64-byte entries, offset 56).
_STRIDE_U32 = 64 // 4
_LEN_U32 = 56 // 4
assert __import__("ctypes").sizeof(mmsghdr) == 64


def open_udp_socket(cfg: RxConfig) -> socket.socket:
    """A UDP socket on ``cfg.port`` of ``cfg.iface`` with a big receive buffer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE: past rmem_max
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, cfg.iface.encode())
        sock.bind(("0.0.0.0", cfg.port))
    except BaseException:
        sock.close()
        raise
    return sock


def receive(cfg: RxConfig, ready: Callable[[], None] = lambda: None) -> RxResult:
    """Receive until a stop rule fires; return the counts."""
    res = RxResult(stack="recvmmsg")
    tracker = SeqTracker(cfg.count)
    add = tracker.add
    run_id = cfg.run_id
    batch = MmsgBatch(cfg.batch, _BUF)
    lens = memoryview(batch.msgs).cast("B").cast("I")
    view = batch.view
    unpack = _PAYLOAD.unpack_from
    with open_udp_socket(cfg) as sock:
        fd = sock.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        addr, nmax = batch.address(0), batch.n
        ready()
        while True:
            try:
                n = recvmmsg(fd, addr, nmax, MSG_DONTWAIT)
            except BlockingIOError:
                res.stopped_by = cfg.should_stop(tracker.unique, res.last, time.monotonic())
                if res.stopped_by:
                    break
                poller.poll(POLL_SLICE * 1000)
                continue
            now = time.monotonic()
            if not res.packets:
                res.first = now
            for i in range(n):
                length = lens[i * _STRIDE_U32 + _LEN_U32]
                if length < 16:
                    res.foreign += 1
                    continue
                magic, rid, seq = unpack(view, i * _BUF)
                if magic != MAGIC or rid != run_id:
                    res.foreign += 1
                    continue
                add(seq)
                res.packets += 1
                res.bytes += length
            res.last = now
            res.stopped_by = cfg.should_stop(tracker.unique, now, now)
            if res.stopped_by:
                break
    return res.take(tracker)


if __name__ == "__main__":
    sys.exit(run_receiver("rx_recvmmsg", receive, description=__doc__))
