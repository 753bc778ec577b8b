"""Receiver: an AF_PACKET socket read through io_uring (multishot RECV into a buffer ring).

The socket is the one :mod:`~uring.packet.rx_tpacket_v3` uses, without the
mmap ring: each frame is copied into a provided buffer by a multishot
receive and announced by a CQE, so io_uring replaces both the ring protocol
and the ``poll`` of the TPACKET path. Buffers hold whole frames, Ethernet
header first.

    python -m uring.packet.rx_uring_packet --iface urx1a2b3c --count 1000
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Callable

from .. import ops
from .abi.if_packet import ETH_P_IP
from .common import RxConfig, run_receiver
from .frames import MAGIC
from .stats import RxResult, SeqTracker
from .uring_rx import BGID, USER_DATA, batches, open_ring

__all__ = ["receive", "open_packet_socket"]

_UDP = struct.Struct("!H4xIIQ")  # dport .. seq, from offset 36 of the frame
_DPORT_OFF = 36


def open_packet_socket(iface: str) -> socket.socket:
    """An AF_PACKET socket receiving the IPv4 frames of ``iface``, with a big buffer."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE (root)
        sock.bind((iface, ETH_P_IP))
    except BaseException:
        sock.close()
        raise
    return sock


def receive(cfg: RxConfig, ready: Callable[[], None] = lambda: None) -> RxResult:
    """Receive until a stop rule fires; return the counts."""
    res = RxResult(stack="uring-packet")
    tracker = SeqTracker(cfg.count)
    add, unpack, run_id, port = tracker.add, _UDP.unpack_from, cfg.run_id, cfg.port
    with open_packet_socket(cfg.iface) as sock:
        ring, bufs = open_ring()
        with ring, bufs:
            fd = sock.fileno()
            ready()
            for now, views in batches(cfg, res, tracker, ring, bufs,
                                      lambda: ops.recv_multishot(ring, USER_DATA, fd,
                                                                 buf_group=BGID)):
                if not res.packets:
                    res.first = now
                for view in views:
                    if len(view) >= 58:
                        dport, magic, rid, seq = unpack(view, _DPORT_OFF)
                        if dport == port and magic == MAGIC and rid == run_id:
                            add(seq)
                            res.packets += 1
                            res.bytes += len(view)
                            continue
                    res.foreign += 1
                res.last = now
    return res.take(tracker)


if __name__ == "__main__":
    sys.exit(run_receiver("rx_uring_packet", receive, description=__doc__))
