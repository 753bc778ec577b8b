"""Receiver: a UDP socket read by one io_uring multishot RECVMSG into a buffer ring.

Like :mod:`~uring.packet.rx_uring_recv`, but each provided buffer receives
what ``recvmsg(2)`` would return: the kernel lays it out as a ``struct
io_uring_recvmsg_out`` header, the sender's address (room for
:data:`NAME_SIZE` bytes, reserved by the ``msghdr`` given at submission),
control data (none here) and the payload::

    [namelen u32][controllen u32][payloadlen u32][flags u32][name 16][payload ...]

We read the header to find the payload and its length (``payloadlen``;
``MSG_TRUNC`` in ``flags`` if the datagram did not fit). This is the
pattern of liburing's ``examples/io_uring-udp.c``.

    python -m uring.packet.rx_uring_recvmsg --iface urx1a2b3c --count 1000
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Callable

from .. import ops
from ..recvmsg import HEADER_SIZE
from .common import RxConfig, run_receiver
from .frames import MAGIC
from .rx_recvmmsg import open_udp_socket
from .stats import RxResult, SeqTracker
from .uring_rx import BGID, USER_DATA, batches, open_ring

__all__ = ["receive", "NAME_SIZE"]

NAME_SIZE = 16  # sizeof(struct sockaddr_in)
# io_uring_recvmsg_out (namelen, controllen, payloadlen, flags); our payload after the name.
_HEADER = struct.Struct("<IIII")
_PAYLOAD = struct.Struct("!IIQ")
_PAYLOAD_AT = HEADER_SIZE + NAME_SIZE


def receive(cfg: RxConfig, ready: Callable[[], None] = lambda: None) -> RxResult:
    """Receive until a stop rule fires; return the counts."""
    res = RxResult(stack="uring-recvmsg")
    tracker = SeqTracker(cfg.count)
    add, run_id = tracker.add, cfg.run_id
    header, payload = _HEADER.unpack_from, _PAYLOAD.unpack_from
    msg = ops.Msghdr(name_size=NAME_SIZE)
    with open_udp_socket(cfg) as sock:
        ring, bufs = open_ring()
        with ring, bufs:
            fd = sock.fileno()
            ready()
            arm = lambda: ops.recvmsg_multishot(ring, USER_DATA, fd, msg,  # noqa: E731
                                                buf_group=BGID)
            for now, views in batches(cfg, res, tracker, ring, bufs, arm):
                if not res.packets:
                    res.first = now
                for view in views:
                    if len(view) >= _PAYLOAD_AT + 16:
                        _, _, payloadlen, flags = header(view)
                        magic, rid, seq = payload(view, _PAYLOAD_AT)
                        if magic == MAGIC and rid == run_id and not flags & socket.MSG_TRUNC:
                            add(seq)
                            res.packets += 1
                            res.bytes += payloadlen
                            continue
                    res.foreign += 1
                res.last = now
    return res.take(tracker)


if __name__ == "__main__":
    sys.exit(run_receiver("rx_uring_recvmsg", receive, description=__doc__))
