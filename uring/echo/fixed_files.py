"""Stage ``fixed_files``: connections live in the ring's file table, never in the process's.

Every SQE on a plain descriptor makes the kernel look the number up in the
process's file table and take a reference on the file (``fdget``/``fdput``),
and every accepted connection takes a slot there (and counts against
``RLIMIT_NOFILE``). A *registered file table* (5.1; sparse, 5.19) is the
ring's own: multishot accept can put each new connection straight into a
free slot of it (``IORING_FILE_INDEX_ALLOC``, 5.19) -- a *direct
descriptor*, which no ``read(2)`` could use and no other thread can see --
and SQEs name the slot with ``IOSQE_FIXED_FILE``, the kernel already holding
the reference.

What changes from ``multishot``: the table is registered at start; accept
is ``accept_multishot_direct`` (``res`` is the slot); RECV and SEND carry
``IOSQE_FIXED_FILE``; closing is an ``IORING_OP_CLOSE`` of the slot, an SQE
instead of a system call.

One trap: a direct accept takes the connection off the listen queue *before*
it looks for a free slot, and when there is none the kernel drops the
connection (the client sees it closed). A multishot accept takes every
connection waiting, so it is only armed while more slots are free than two
listen queues could hold (one burst may land before our cancel does); below
that, one single-shot ACCEPT at a time, and none at all when the table is
full -- accepting resumes when a slot is closed, as after EMFILE.
"""

from __future__ import annotations

import errno
import resource

from .. import abi, ops
from ..register import register_files_sparse
from . import multishot
from .ring_server import kernel_lacks
from .tags import Kind, unpack

__all__ = ["Server"]


def table_size(requested: int) -> int:
    """Slots to register: ``requested``, or the ``RLIMIT_NOFILE`` soft limit, which caps it."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = soft if soft != resource.RLIM_INFINITY else 1 << 20
    return min(requested, limit) if requested > 0 else min(limit, 1 << 20)


class Server(multishot.Server):
    """Multishot with connections as direct descriptors in a registered file table."""

    OPTIONS = multishot.Server.OPTIONS + ("files",)
    SQE_FLAGS = int(abi.IOSQE_FIXED_FILE)

    @classmethod
    def unsupported(cls) -> str:
        """Needs a sparse file table and ``IORING_FILE_INDEX_ALLOC`` (Linux 5.19)."""
        return super().unsupported() or kernel_lacks(abi.IORING_FILE_INDEX_ALLOC)

    def setup(self) -> None:
        """The buffer ring of ``multishot``, then the file table: an empty one, registered."""
        super().setup()
        self.setup_files()

    def setup_files(self) -> None:
        """Register an empty (sparse) file table of ``--files`` slots for the connections."""
        self.slots = table_size(self.args.files)
        register_files_sparse(self.ring, self.slots)
        self.used = 0               # slots holding a connection
        self.accepting = None       # None, "multishot" or "single": the ACCEPT in flight
        self.burst = self.args.listen_backlog + 1  # the most one accept run can take
        self.accept_cancelling = False

    def arm_accept(self) -> None:
        """Multishot while slots are plentiful, else one at a time, else wait for a close."""
        if self.accepting:
            return
        free = self.slots - self.used
        lfd = self.listener.fileno()
        if free > 2 * self.burst:
            self.accepting = "multishot"
            self.submit(ops.accept_multishot_direct, Kind.ACCEPT, None, lfd)
        elif free > 0:
            self.accepting = "single"
            self.submit(ops.accept_direct, Kind.ACCEPT, None, lfd)
        else:
            self.pause_accept()

    def on_accept(self, res: int, flags: int) -> None:
        """``res`` is the new connection's slot; keep enough slots free for the next burst."""
        if res >= 0:
            self.used += 1
            self.arm_recv(self.open_conn(res))
        if flags & abi.IORING_CQE_F_MORE:
            if self.slots - self.used <= 2 * self.burst and not self.accept_cancelling:
                self.accept_cancelling = True
                self.stats.event("accept_multishot_stopped")
                self.submit(ops.async_cancel, Kind.CANCEL, None, self.tag(Kind.ACCEPT, None))
            return
        self.accepting = None
        self.accept_cancelling = False
        if res == -errno.ENFILE:  # only if something else filled the table
            self.pause_accept()
        else:
            self.arm_accept()

    def on_other(self, kind: int, user_data: int, res: int, flags: int) -> None:
        """Also the CLOSE of a slot, which can only fail if the slot was empty: a bug."""
        if kind == Kind.CLOSE:
            if res < 0:
                raise OSError(-res, f"closing direct descriptor {unpack(user_data)[2]}")
            return
        super().on_other(kind, user_data, res, flags)

    def close_conn(self, conn: multishot.Conn) -> None:
        """Empty the connection's slot with an SQE; the freed slot lets accepting resume."""
        del self.conns[conn.fd]
        self.release(conn)
        self.submit(ops.close_direct, Kind.CLOSE, conn, conn.fd)
        self.used -= 1
        self.resume_accept()

    def close(self) -> None:
        """Tear down the ring: the kernel drops the table and so closes every connection."""
        self.ring.close()
        self.close_buffers()
        self.conns.clear()
