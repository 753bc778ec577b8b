"""Stage ``fast_poll`` (v1.5): recv and send issued directly; the kernel does the polling.

Linux 5.7 added ``IORING_FEAT_FAST_POLL``: a socket request that finds no
data does not fail with EAGAIN or park a worker thread; the kernel arms an
internal poll and runs the request again when the socket is ready. So the
POLL_ADD before every read is pointless: v1.5 submits RECV straight away
and gets one CQE, with the data, instead of two. The listening socket gets
the same treatment with ``IORING_OP_ACCEPT`` (5.5): no more ``accept(2)``
system calls, and the new descriptor arrives in the CQE's ``res``.

Sends say ``MSG_NOSIGNAL``: a client that has gone away gives ``-EPIPE``
in the CQE, never a SIGPIPE.
"""

from __future__ import annotations

import socket

from .. import abi, ops, probe
from . import poll, user_data
from .ring_server import PAUSE_ACCEPT
from .tags import Kind

__all__ = ["Server"]


class Server(user_data.Server):
    """v1.3 without POLL_ADD: RECV, SEND and ACCEPT wait for readiness in the kernel."""

    @classmethod
    def unsupported(cls) -> str:
        """Needs ``IORING_FEAT_FAST_POLL`` (Linux 5.7)."""
        info = probe.get()
        reason = super().unsupported() or info.why_not_op(abi.IORING_OP_ACCEPT)
        if reason:
            return reason
        if not info.has_feature(abi.IORING_FEAT_FAST_POLL):
            return f"needs IORING_FEAT_FAST_POLL (Linux {abi.since(abi.IORING_FEAT_FAST_POLL)})"
        return ""

    def arm_accept(self) -> None:
        """One ACCEPT request: its CQE carries the new descriptor."""
        self.submit(ops.accept, Kind.ACCEPT, None, self.listener.fileno(),
                    flags=socket.SOCK_CLOEXEC)

    def on_accept(self, res: int, flags: int) -> None:
        """A new connection (or an error); accept the next one either way, unless out of fds."""
        if res < 0:
            if -res in PAUSE_ACCEPT:
                self.pause_accept()
            else:
                self.arm_accept()  # that client is gone; the next may not be
            return
        self.arm_accept()
        self.arm_read(self.open_conn(res))

    def arm_read(self, conn: poll.Conn) -> None:
        """RECV at once; with fast poll it waits for data inside the kernel."""
        self.submit(ops.recv, Kind.READ, conn, conn.fd, conn.buf)

    def write(self, conn: poll.Conn) -> None:
        """SEND what is left of the last receive."""
        self.submit(ops.send, Kind.WRITE, conn, conn.fd, conn.view[conn.start:conn.end],
                    flags=socket.MSG_NOSIGNAL)
