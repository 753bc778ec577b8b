"""What every io_uring echo stage does the same way: the ring around the connections.

:class:`RingServer` sets a ring up, submits (making room when the SQ is
full), keeps a poll on the stop pipe, pauses accepting when descriptors run
out and resumes when a connection closes, notices a full CQ, closes, and
counts system calls. How a connection lives is the business of the two
families built on it, each told in one file:

* one request per operation, :mod:`uring.echo.poll` (v1.0) and the stages
  that refine it: ``user_data`` -> ``fast_poll`` -> ``provide_buffers`` ->
  ``buf_ring``;
* armed once, :mod:`uring.echo.multishot`, and the stages that change one
  thing each: ``bundle``, ``fixed_files``, ``sqpoll``, ``send_zc``.
"""

from __future__ import annotations

import abc
import errno
import os
import select

from .. import abi, ops, probe
from ..ring import Ring, SubmissionQueueFull
from .common import EchoServer
from .tags import Kind

__all__ = ["RingServer", "kernel_lacks", "PAUSE_ACCEPT"]

#: accept errors meaning "no descriptor (or memory) for now": stop accepting
#: until one of our connections closes and frees a descriptor.
PAUSE_ACCEPT = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


def kernel_lacks(constant) -> str:
    """Why this kernel cannot use ``constant`` (an ``uring.abi`` member), or "" if it can.

    For flags the probe cannot test one by one, the kernel version decides,
    against the version :mod:`uring.abi` records for the constant.
    """
    info = probe.get()
    if not info.usable:
        return info.reason
    since = abi.since(constant)
    if info.version < tuple(int(x) for x in since.split(".")[:2]):
        return f"needs {constant.name} (Linux {since}); this kernel is {info.release}"
    return ""


class RingServer(EchoServer):
    """An echo server on one ring: set up, submit, stop, pause accepting, close.

    A family says how ``user_data`` names a request (:meth:`tag`), what a
    connection is (:meth:`new_conn`), how it accepts (:meth:`arm_accept`,
    :meth:`on_accept`) and how it serves (:meth:`serve`).
    """

    def __init__(self, listener, args, stopper) -> None:
        super().__init__(listener, args, stopper)
        self.conns: dict = {}
        self.accept_paused = False
        self.ring = self.setup_ring()
        try:
            self.setup()
            self.arm_stop()
            self.arm_accept()
            self.ring.submit()
        except BaseException:
            self.ring.close()
            raise

    # -- setup (stages choose other ring flags, and register buffers or files) -------

    def setup_ring(self) -> Ring:
        """The ring: ``--entries`` SQEs, the kernel's defaults for everything else."""
        return Ring(self.args.entries)

    def setup(self) -> None:
        """Register what the stage gives the kernel up front (nothing here)."""

    # -- submitting ------------------------------------------------------------------

    @abc.abstractmethod
    def tag(self, kind: Kind, conn) -> int:
        """The ``user_data`` of a request of ``kind`` on ``conn`` (``None``: no connection)."""

    def submit(self, op, kind: Kind, conn, *args, **kwargs) -> None:
        """Queue ``op(ring, user_data, *args)``; when the SQ is full, submit it first.

        The SQE is only queued here: one ``io_uring_enter`` per loop
        iteration submits everything the iteration queued.
        """
        user_data = self.tag(kind, conn)
        try:
            op(self.ring, user_data, *args, **kwargs)
        except SubmissionQueueFull:
            self.make_room()
            op(self.ring, user_data, *args, **kwargs)

    def make_room(self) -> None:
        """The SQ is full: submit it, so its slots are free again."""
        self.stats.event("sq_full")
        self.ring.submit()

    # -- completions that belong to no connection ---------------------------------------

    def on_other(self, kind: int, user_data: int, res: int, flags: int) -> None:
        """A CQE of the listener or the stop pipe (a cancel's own CQE needs nothing)."""
        if kind == Kind.ACCEPT:
            self.on_accept(res, flags)
        elif kind == Kind.STOP:
            self.on_stop(res, flags)

    def cq_was_full(self) -> None:
        """Count a full CQ, and whether CQEs overflowed it.

        Then the kernel parks further CQEs in its overflow list
        (``IORING_FEAT_NODROP``, 5.5) and says so with
        ``IORING_SQ_CQ_OVERFLOW``; the next enter moves them into the ring.
        Nothing is lost, and nothing here needs to change.
        """
        self.stats.event("cq_full")
        if self.ring.sq_flags & abi.IORING_SQ_CQ_OVERFLOW:
            self.stats.event("cq_overflow")

    # -- stopping ----------------------------------------------------------------------

    def arm_stop(self) -> None:
        """Poll the stop pipe: it becomes readable on SIGINT/SIGTERM, and a CQE wakes us."""
        self.submit(ops.poll_add, Kind.STOP, None, self.stopper.fd, select.POLLIN)

    def on_stop(self, res: int, flags: int) -> None:
        """The stop pipe is readable: a signal came (the loop checks the flag)."""
        try:
            os.read(self.stopper.fd, 64)
            self.stats.syscalls += 1
        except BlockingIOError:
            pass
        if not self.stopper.stopping:
            self.arm_stop()

    # -- accepting -------------------------------------------------------------------------

    @abc.abstractmethod
    def arm_accept(self) -> None:
        """Ask for the next connection (or connections)."""

    @abc.abstractmethod
    def on_accept(self, res: int, flags: int) -> None:
        """The listener's request completed."""

    def pause_accept(self) -> None:
        """Out of descriptors: accept nothing until a connection closes.

        Retrying at once would fail the same way, over and over; descriptors
        only come back when we close one (see :meth:`close_conn`).
        """
        self.accept_paused = True
        self.stats.event("accept_paused")

    def resume_accept(self) -> None:
        """A descriptor was freed: if accepting was paused, arm it again."""
        if self.accept_paused:
            self.accept_paused = False
            self.arm_accept()

    # -- connections -----------------------------------------------------------------------

    @abc.abstractmethod
    def new_conn(self, fd: int):
        """The state of a freshly accepted connection on ``fd``."""

    def open_conn(self, fd: int):
        """Count and register a new connection; return it (the caller starts its reads)."""
        conn = self.new_conn(fd)
        self.conns[fd] = conn
        self.stats.connections += 1
        return conn

    def close_conn(self, conn) -> None:
        """Close a connection none of whose requests is in flight; resume accepting.

        No CQE can then name its descriptor number, which the next accept
        may hand out again.
        """
        del self.conns[conn.fd]
        self.release(conn)
        os.close(conn.fd)
        self.stats.syscalls += 1
        self.resume_accept()

    def release(self, conn) -> None:
        """Give back what the connection holds besides its descriptor (nothing here)."""

    # -- shutdown ----------------------------------------------------------------------

    def syscalls(self) -> int:
        """``io_uring_enter`` calls plus the stage's other system calls."""
        return self.ring.enter_count + self.stats.syscalls

    def close(self) -> None:
        """Tear down the ring (the kernel cancels what is in flight), then close every client."""
        self.ring.close()
        self.close_buffers()
        for fd in self.conns:
            os.close(fd)
        self.conns.clear()

    def close_buffers(self) -> None:
        """Release registered buffers, once the ring is gone (none here)."""
