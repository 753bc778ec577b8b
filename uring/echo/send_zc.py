"""Stage ``send_zc``: large echoes leave without being copied into the kernel (Linux 6.0).

A SEND copies its bytes into socket buffers before it completes. With
``IORING_OP_SEND_ZC`` the network stack references our pages instead, so
big sends skip that copy; the price is a second CQE. The first reports the
result as usual, with ``IORING_CQE_F_MORE``; the *notification*
(``IORING_CQE_F_NOTIF``, same ``user_data``) follows once the kernel no
longer needs the memory. Only then may it be reused. On loopback the
receiver's side copies anyway, so this stage shows the protocol more than
a speed-up; on a NIC with scatter-gather the copy is really gone.

What changes from ``multishot``: a send of at least ``--zc-threshold`` bytes
goes out with SEND_ZC; a ring buffer it used returns to the ring only after
both its SEND is done and every notification naming it has come; a backlog
is kept alive by ``ring.keep`` until its notification (the final CQE).
Smaller sends are plain SENDs: the notification costs more than copying a
few bytes.
"""

from __future__ import annotations

import socket

from .. import abi, probe
from . import multishot
from .multishot import BID_SHIFT, NO_BID
from .user_data import FD_MASK, KIND_SHIFT

__all__ = ["Server", "SEND_ZC"]

#: Request kind of a zero-copy send; its result and its notification share it.
SEND_ZC = 8

_OP_SEND_ZC = int(abi.IORING_OP_SEND_ZC)
_F_MORE = int(abi.IORING_CQE_F_MORE)
_F_NOTIF = int(abi.IORING_CQE_F_NOTIF)
_NOSIGNAL = socket.MSG_NOSIGNAL


class Server(multishot.Server):
    """Multishot with SEND_ZC for sends of ``--zc-threshold`` bytes or more."""

    OPTIONS = multishot.Server.OPTIONS + ("zc_threshold",)

    @classmethod
    def unsupported(cls) -> str:
        """Needs ``IORING_OP_SEND_ZC`` (Linux 6.0)."""
        return super().unsupported() or probe.get().why_not_op(abi.IORING_OP_SEND_ZC)

    def setup_buffers(self) -> None:
        """Also count, per ring buffer, the notifications still due for it."""
        super().setup_buffers()
        self.zc_threshold = self.args.zc_threshold
        # Receives that would be sent zero-copy leave the loop's inline path.
        self.fast_limit = min(self.fast_limit, self.zc_threshold - 1)
        # A buffer may still await notifications: send_done() decides.
        self.inline_send_done = False
        self.notifs_due = [0] * self.args.buffers
        self.sent_buffers: set[int] = set()  # sends done, waiting for their notifications
        # Backlogs sent zero-copy, per fd, until their notifications (in order).
        # Not ring.keep: two backlog SEND_ZCs of one connection can be in flight
        # with the same user_data, which the ring refuses for held memory.
        self.zc_backlogs: dict[int, list] = {}

    def start_send(self, conn: multishot.Conn) -> None:
        """SEND_ZC if the send is big enough, else a plain SEND."""
        if conn.out_left < self.zc_threshold:
            super().start_send(conn)
            return
        bid = conn.out_bid
        user_data = SEND_ZC << KIND_SHIFT | (bid & NO_BID) << BID_SHIFT | conn.fd
        if bid >= 0:
            self.notifs_due[bid] += 1
        else:
            # The backlog must outlive this SEND: until the notification.
            self.zc_backlogs.setdefault(conn.fd, []).append(conn.out_obj)
        self.stats.event("zc_sends")
        self.prep(_OP_SEND_ZC, self.file_flags, conn.fd, conn.out_addr, conn.out_left,
                  _NOSIGNAL, user_data)

    def on_other(self, kind: int, user_data: int, res: int, flags: int) -> None:
        """A SEND_ZC's result (handled like a SEND's) or its notification."""
        if kind != SEND_ZC:
            super().on_other(kind, user_data, res, flags)
            return
        if flags & _F_NOTIF:
            self.stats.event("zc_notifs")
            self.notified((user_data >> BID_SHIFT) & NO_BID, user_data & FD_MASK)
            return
        if not flags & _F_MORE:  # failed before the kernel took the pages: no notification
            self.notified((user_data >> BID_SHIFT) & NO_BID, user_data & FD_MASK)
        self.sent(self.conns[user_data & FD_MASK], res, flags)

    def notified(self, bid: int, fd: int = -1) -> None:
        """The kernel let go of a buffer: recycle it once nothing else uses it."""
        if bid == NO_BID:
            held = self.zc_backlogs.get(fd)
            if held:
                del held[0]  # the oldest backlog of this connection
                if not held:
                    del self.zc_backlogs[fd]
            return
        self.notifs_due[bid] -= 1
        if not self.notifs_due[bid] and bid in self.sent_buffers:
            self.sent_buffers.discard(bid)
            self.recycle(bid)

    def send_done(self, conn: multishot.Conn) -> None:
        """A buffer still awaiting notifications is recycled by the last of them."""
        bid = conn.out_bid
        if bid >= 0 and self.notifs_due[bid]:
            self.sent_buffers.add(bid)
            conn.out_bid = -1
        super().send_done(conn)
