"""Stage ``bundle``: one receive completion for several buffers (Linux 6.10).

A multishot RECV posts one CQE per buffer it fills: a 64 KiB burst through
4 KiB buffers is sixteen CQEs, sixteen trips through the loop.
``IORING_RECVSEND_BUNDLE`` lets a single receive fill as many buffers as the
data needs and report them all in one CQE: ``res`` is the total, the buffer
id is the first one, and the rest are the buffers that followed it in the
ring (:meth:`~uring.buffers.BufferRing.take_bundle` finds them).

What changes from ``multishot``: the RECV asks for bundles, and a CQE that
spans several buffers is copied, in order, into the connection's backlog
(its buffers go back to the ring at once) and leaves in one SEND. A CQE of
one buffer takes the multishot path unchanged, so small echoes, which never
fill a buffer, cost exactly what they did.
"""

from __future__ import annotations

from .. import abi, ops
from . import multishot
from .multishot import BGID
from .ring_server import kernel_lacks
from .tags import Kind

__all__ = ["Server"]


class Server(multishot.Server):
    """Multishot with ``IORING_RECVSEND_BUNDLE`` receives."""

    @classmethod
    def unsupported(cls) -> str:
        """Needs ``IORING_RECVSEND_BUNDLE`` (Linux 6.10)."""
        return super().unsupported() or kernel_lacks(abi.IORING_RECVSEND_BUNDLE)

    def arm_recv(self, conn: multishot.Conn) -> None:
        """The multishot RECV, asking for bundles."""
        conn.recv_armed = True
        self.submit(ops.recv_multishot, Kind.READ, conn, conn.fd, buf_group=BGID, bundle=True,
                    sqe_flags=self.SQE_FLAGS)

    def received(self, conn: multishot.Conn, res: int, flags: int) -> None:
        """More than one buffer's worth: copy the bundle to the backlog, in ring order."""
        if res <= self.args.buffer_size:
            super().received(conn, res, flags)
            return
        stats = self.stats
        stats.requests += 1
        stats.bytes += res
        stats.event("bundles")
        for bid, view in self.group.take_bundle((0, res, flags)):
            if not conn.dead:
                conn.pending += view
            self.stage_buffer(bid)
        if conn.dead:
            return
        if not conn.out_left:
            self.send_pending(conn)
        elif conn.unsent() >= self.max_unsent and not conn.paused:
            self.pause(conn)
