"""Stage ``provide_buffers`` (v1.6): the kernel picks the buffer when the data arrives.

Until v1.5 every connection owned a buffer, idle or not: a thousand quiet
clients pinned a thousand buffers. Linux 5.7 added provided buffers: the
program gives a *group* of buffers to the kernel with
``IORING_OP_PROVIDE_BUFFERS``, and a RECV flagged ``IOSQE_BUFFER_SELECT``
takes one from the group only when data is there. The CQE names the buffer
it took (``IORING_CQE_F_BUFFER``, id in ``flags >> 16``); once the echo is
sent, the program provides that buffer again. Memory now scales with the
data in flight, not with the number of connections.

Two things differ from frevib's v1.6, on purpose:

* A buffer is handed back only if a CQE said it was taken
  (``IORING_CQE_F_BUFFER``). The C server re-provided ``bid`` from a failed
  read's flags, where there is none: buffer 0 ended up provided twice and
  two connections' data could land in it. :class:`~uring.buffers.ProvidedBuffers`
  tracks the owner of every id and raises if that is ever attempted.
* Running out (``-ENOBUFS``, every buffer busy with a send) does not stop
  the server. The connection waits in a queue and its RECV goes out again
  once a buffer comes back.

Handing back costs an SQE; :class:`~uring.buffers.ProvidedBuffers` stages the
ids and provides each run of consecutive ids with one SQE per loop
iteration, with ``IOSQE_CQE_SKIP_SUCCESS`` so success posts no CQE.
"""

from __future__ import annotations

import errno
from collections import deque

from .. import abi, ops, probe
from ..buffers import ProvidedBuffers
from ..ring import SubmissionQueueFull
from . import fast_poll, poll
from .tags import Kind, pack

__all__ = ["Server", "Conn", "BGID"]

#: Our one buffer group.
BGID = 0

_F_BUFFER = int(abi.IORING_CQE_F_BUFFER)
_SHIFT = int(abi.IORING_CQE_BUFFER_SHIFT)


class Conn(poll.Conn):
    """A client that owns no buffer: ``bid`` is the provided buffer it holds, or -1.

    ``view`` is that buffer's bytes, from the receive until the echo is sent.
    """

    __slots__ = ("bid",)

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = self.view = None
        self.start = self.end = 0
        self.bid = -1


class Server(fast_poll.Server):
    """v1.5 receiving into buffers the kernel picks from a provided group."""

    OPTIONS = ("entries", "buffers", "buffer_size")

    @classmethod
    def unsupported(cls) -> str:
        """Needs ``IORING_OP_PROVIDE_BUFFERS`` (5.7) and ``IOSQE_CQE_SKIP_SUCCESS`` (5.17)."""
        info = probe.get()
        reason = super().unsupported() or info.why_not_op(abi.IORING_OP_PROVIDE_BUFFERS)
        if not reason and info.version < (5, 17):
            reason = f"needs IOSQE_CQE_SKIP_SUCCESS (Linux 5.17); this is {info.release}"
        return reason

    def setup(self) -> None:
        """Provide ``--buffers`` buffers of ``--buffer-size`` bytes to group :data:`BGID`."""
        self.group = self.setup_group()
        self.starved: deque[Conn] = deque()  # waiting for a buffer, oldest first
        self.returned = 0  # buffers handed back since the last flush()

    def setup_group(self) -> ProvidedBuffers:
        """The group: its ``PROVIDE_BUFFERS`` requests are tagged ``Kind.PROVIDE``."""
        return ProvidedBuffers(self.ring, BGID, self.args.buffers, self.args.buffer_size,
                               tag=pack(Kind.PROVIDE))

    def new_conn(self, fd: int) -> Conn:
        """A connection owns no buffer of its own any more."""
        return Conn(fd)

    def on_other(self, kind: int, user_data: int, res: int, flags: int) -> None:
        """Also the group's own PROVIDE CQEs: only a failed one posts, and the group raises."""
        if kind == Kind.PROVIDE:
            self.group.handle((user_data, res, flags))
        else:
            super().on_other(kind, user_data, res, flags)

    def arm_read(self, conn: Conn) -> None:
        """Hand back the buffer just echoed, then RECV into whichever buffer is free."""
        self.give_back(conn)
        self.submit(ops.recv, Kind.READ, conn, conn.fd, None, buf_group=BGID)

    def on_read(self, conn: Conn, res: int, flags: int) -> None:
        """Take the buffer the CQE names (only if it names one); echo it, wait, or close."""
        if flags & _F_BUFFER:
            conn.view = self.group.take((0, res, flags))
            conn.bid = flags >> _SHIFT
        if res == -errno.ENOBUFS:
            self.stats.event("enobufs")
            self.starved.append(conn)
            return
        super().on_read(conn, res, flags)

    def give_back(self, conn: Conn) -> None:
        """Stage the connection's buffer, if it holds one, for the next provide."""
        if conn.bid >= 0:
            self.group.add(conn.bid)
            conn.bid = -1
            conn.view = None
            self.returned += 1

    def release(self, conn: Conn) -> None:
        """A closing connection gives its buffer back."""
        self.give_back(conn)

    def flush(self) -> None:
        """Provide the buffers handed back this iteration; let starved connections retry.

        Every waiting connection retries once the kernel has any buffer. Not
        just as many as there are buffers: a RECV only takes a buffer when
        its data is there, so the first few retried might be idle
        connections that take none and post no CQE, and the loop would then
        sleep with the others still waiting. Those that lose the race get
        ``-ENOBUFS`` again and wait for the next buffer to come back. The
        PROVIDE SQEs are queued before the retried RECVs, and the kernel
        runs a submission's SQEs in order, so the RECVs already see them.
        """
        if self.returned:
            self.publish()
            self.returned = 0
        if self.starved and self.group.in_kernel:
            starved, self.starved = self.starved, deque()
            for conn in starved:
                self.submit(ops.recv, Kind.READ, conn, conn.fd, None, buf_group=BGID)

    def publish(self) -> None:
        """Queue the PROVIDE_BUFFERS SQEs for the staged ids (submitting first if the SQ fills)."""
        while True:
            try:
                self.group.advance()
                return
            except SubmissionQueueFull:
                # advance() keeps the ids it could not queue staged.
                self.make_room()

    def close_buffers(self) -> None:
        """Release the group (after the ring is gone, nothing is left to remove)."""
        self.group.close()
