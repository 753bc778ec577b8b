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
is kept alive by ``ring.keep`` until its notification (the final CQE). Each
SEND_ZC carries an id of its own in ``user_data`` (in the buffer id's
field), free again only after its final CQE: a connection may have several
awaiting their notifications, and each must name its own memory.
Smaller sends are plain SENDs: the notification costs more than copying a
few bytes.
"""

from __future__ import annotations

import socket

from .. import abi, probe
from . import multishot
from .tags import NO_BID, Kind, pack, unpack

__all__ = ["Server"]

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

    def setup(self) -> None:
        """Also count, per ring buffer, the notifications still due for it."""
        super().setup()
        self.zc_threshold = self.args.zc_threshold
        self.notifs_due = [0] * self.args.buffers
        self.sent_buffers: set[int] = set()  # sends done, waiting for their notifications
        self.zc_sends: dict[int, int] = {}  # id of a SEND_ZC until its final CQE -> its bid
        self.zc_free: list[int] = []  # ids of SEND_ZCs that are over, to reuse
        self.zc_next = 0  # ids below this have been handed out

    def inline_limit(self) -> int:
        """Receives that would be sent zero-copy leave the loop's inline path."""
        return min(super().inline_limit(), self.zc_threshold - 1)

    def start_send(self, conn: multishot.Conn) -> None:
        """SEND_ZC if the send is big enough, else a plain SEND."""
        if conn.out_left < self.zc_threshold:
            super().start_send(conn)
            return
        if self.zc_free:
            zc_id = self.zc_free.pop()
        elif self.zc_next < NO_BID:
            zc_id = self.zc_next
            self.zc_next += 1
        else:  # as many zero-copy sends await notifications as user_data can name: copy
            super().start_send(conn)
            return
        bid = conn.out_bid
        self.zc_sends[zc_id] = bid
        user_data = pack(Kind.SEND_ZC, conn.fd, zc_id)
        if bid >= 0:
            self.notifs_due[bid] += 1
        else:
            # The backlog must outlive this SEND: until the notification.
            self.ring.keep(user_data, conn.out_obj)
        self.stats.event("zc_sends")
        self.prep(_OP_SEND_ZC, self.SQE_FLAGS, conn.fd, conn.out_addr, conn.out_left,
                  _NOSIGNAL, user_data)

    def on_other(self, kind: int, user_data: int, res: int, flags: int) -> None:
        """A SEND_ZC's result (handled like a SEND's) or its notification."""
        if kind != Kind.SEND_ZC:
            super().on_other(kind, user_data, res, flags)
            return
        _, zc_id, fd = unpack(user_data)
        if flags & _F_NOTIF:
            self.stats.event("zc_notifs")
            self.notified(zc_id)
            return
        if not flags & _F_MORE:  # failed before the kernel took the pages: no notification
            self.notified(zc_id)
        self.sent(self.conns[fd], res, flags)

    def notified(self, zc_id: int) -> None:
        """The kernel let go of a SEND_ZC's memory: a ring buffer is recycled once unused."""
        bid = self.zc_sends.pop(zc_id)
        self.zc_free.append(zc_id)
        if bid < 0:
            return  # a backlog: ring.keep drops it with this final CQE
        self.notifs_due[bid] -= 1
        if not self.notifs_due[bid] and bid in self.sent_buffers:
            self.sent_buffers.discard(bid)
            self.stage_buffer(bid)

    def send_done(self, conn: multishot.Conn) -> None:
        """A buffer still awaiting notifications is recycled by the last of them."""
        bid = conn.out_bid
        if bid >= 0 and self.notifs_due[bid]:
            self.sent_buffers.add(bid)
            conn.out_bid = -1
        super().send_done(conn)
