"""Stage ``poll`` (v1.0): io_uring as a batched epoll -- POLL_ADD, then read and write.

The first io_uring echo servers (frevib's v1.0, Linux 5.4 era) used the ring
the way an epoll program uses ``epoll_wait``, only batched: ask the kernel
to say when a socket is readable, then read, then write. Each connection
goes round one cycle, with exactly one request in flight at any time::

    POLL_ADD(POLLIN) -> READ into the connection's buffer -> WRITE it back
         ^                                                      |
         +------------------ (WRITE again if short) <-----------+

The listening socket gets a POLL_ADD too, followed by a plain ``accept(2)``:
``IORING_OP_ACCEPT`` only came with Linux 5.5.

That one request per connection makes the hard cases easy: the echo stays
in order; a client that stops reading stalls only its own WRITE, so we never
hold more than one buffer of its data (the bound on unsent data is
``--buffer-size``); a connection is closed only when none of its requests is
in flight, so no late CQE can name a descriptor number already reused.

Every submitted request gets a :class:`Request` object, kept in a dict under
a fresh id that travels in ``user_data`` and finds it again in the CQE.
That allocation per request is what stage ``user_data`` (v1.3) removes.

All later io_uring stages derive from this :class:`Server` and override only
the steps they change.
"""

from __future__ import annotations

import errno
import os
import select

from .. import abi, ops, probe
from ..ring import Ring, SubmissionQueueFull
from .common import EchoServer

__all__ = ["Server", "Conn", "Request", "kernel_lacks", "ACCEPT", "POLL", "READ", "WRITE", "STOP",
           "PAUSE_ACCEPT"]

# What a request was for; the top byte of user_data from v1.3 on.
ACCEPT, POLL, READ, WRITE, STOP = 1, 2, 3, 4, 5

#: accept errors meaning "no descriptor (or memory) for now": stop accepting
#: until one of our connections closes and frees a descriptor.
PAUSE_ACCEPT = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))

_ACCEPTS_PER_POLL = 64


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


class Conn:
    """One client: its descriptor, and the buffer its echo passes through.

    ``buf[start:end]`` holds bytes read and not yet written back.
    """

    __slots__ = ("fd", "buf", "view", "start", "end", "bid")

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.buf = bytearray(size) if size else None
        self.view = memoryview(self.buf) if size else None
        self.start = self.end = 0
        self.bid = -1  # the provided buffer held, from stage provide_buffers on


class Request:
    """What one submitted SQE was for (v1.0 allocates one per request)."""

    __slots__ = ("kind", "conn")

    def __init__(self, kind: int, conn: Conn | None) -> None:
        self.kind = kind
        self.conn = conn


class Server(EchoServer):
    """The v1.0 server; the base of every io_uring stage."""

    OPTIONS = ("entries", "buffer_size")

    def __init__(self, listener, args, stopper) -> None:
        super().__init__(listener, args, stopper)
        self.conns: dict[int, Conn] = {}
        self.accept_paused = False
        self.requests: dict[int, Request] = {}
        self.next_id = 0
        self.ring = self.setup_ring()
        try:
            self.setup_buffers()
            # The stop pipe becomes readable on SIGINT/SIGTERM: a CQE wakes us.
            self.submit(ops.poll_add, STOP, None, stopper.fd, select.POLLIN)
            self.arm_accept()
            self.ring.submit()
        except BaseException:
            self.ring.close()
            raise

    @classmethod
    def unsupported(cls) -> str:
        """Empty if io_uring works here with POLL_ADD, READ and WRITE (Linux 5.6)."""
        info = probe.get()
        for op in (abi.IORING_OP_POLL_ADD, abi.IORING_OP_READ, abi.IORING_OP_WRITE):
            reason = info.why_not_op(op)
            if reason:
                return reason
        return ""

    # -- setup (later stages choose other ring flags and buffers) ----------------

    def setup_ring(self) -> Ring:
        """The ring: ``--entries`` SQEs, the kernel's defaults for everything else."""
        return Ring(self.args.entries)

    def setup_buffers(self) -> None:
        """Nothing to register: each connection brings its own buffer."""

    def new_conn(self, fd: int) -> Conn:
        """The state of a freshly accepted connection."""
        return Conn(fd, self.args.buffer_size)

    # -- user_data: how a CQE finds its request (what v1.3 changes) --------------

    def tag(self, kind: int, conn: Conn | None) -> int:
        """A fresh ``user_data`` for a request of ``kind`` on ``conn``."""
        self.next_id += 1
        self.requests[self.next_id] = Request(kind, conn)
        return self.next_id

    def untag(self, user_data: int) -> tuple[int, Conn | None]:
        """The ``(kind, conn)`` a CQE's ``user_data`` stands for."""
        req = self.requests.pop(user_data)
        return req.kind, req.conn

    def submit(self, op, kind: int, conn: Conn | None, *args, **kwargs) -> None:
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

    # -- the loop ------------------------------------------------------------------

    def handlers(self) -> dict:
        """The CQE handler for each request kind."""
        return {ACCEPT: self.on_accept, POLL: self.on_poll, READ: self.on_read,
                WRITE: self.on_write, STOP: self.on_stop}

    def serve(self) -> None:
        """Submit what is queued and wait for a CQE; handle the batch; repeat."""
        ring = self.ring
        handlers = self.handlers()
        untag = self.untag
        flush = self.flush
        stopper = self.stopper
        while not stopper.stopping:
            flush()
            ring.submit_and_wait(1)
            cqes = ring.copy_cqes_raw()
            if len(cqes) >= ring.cq_entries:
                self.cq_was_full()
            for user_data, res, flags in cqes:
                kind, conn = untag(user_data)
                handlers[kind](conn, res, flags)

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

    def flush(self) -> None:
        """Queue what the batch just handled left for later (nothing here)."""

    def on_stop(self, conn, res: int, flags: int) -> None:
        """The stop pipe is readable: a signal came (the loop checks the flag)."""
        try:
            os.read(self.stopper.fd, 64)
            self.stats.syscalls += 1
        except BlockingIOError:
            pass
        if not self.stopper.stopping:
            self.submit(ops.poll_add, STOP, None, self.stopper.fd, select.POLLIN)

    # -- accepting ----------------------------------------------------------------

    def arm_accept(self) -> None:
        """Ask to be told when the listening socket has a connection waiting."""
        self.submit(ops.poll_add, ACCEPT, None, self.listener.fileno(), select.POLLIN)

    def on_accept(self, conn, res: int, flags: int) -> None:
        """Readable listener: ``accept(2)`` what is waiting, then poll again."""
        stats = self.stats
        for _ in range(_ACCEPTS_PER_POLL):
            stats.syscalls += 1
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno in PAUSE_ACCEPT:
                    self.pause_accept()
                    return
                continue  # that client is gone (ECONNABORTED, ...); try the next
            self.open_conn(sock.detach())
        self.arm_accept()

    def pause_accept(self) -> None:
        """Out of descriptors: accept nothing until a connection closes.

        Retrying at once would fail the same way, over and over; descriptors
        only come back when we close one (see :meth:`close_conn`).
        """
        self.accept_paused = True
        self.stats.event("accept_paused")

    def open_conn(self, fd: int) -> None:
        """Start serving a new connection."""
        conn = self.new_conn(fd)
        self.conns[fd] = conn
        self.stats.connections += 1
        self.arm_read(conn)

    # -- one connection's cycle ------------------------------------------------------

    def arm_read(self, conn: Conn) -> None:
        """Wait for the client's next bytes: v1.0 polls first, then reads."""
        self.submit(ops.poll_add, POLL, conn, conn.fd, select.POLLIN)

    def on_poll(self, conn: Conn, res: int, flags: int) -> None:
        """Readable (or hung up, or failed): read, and let the read say which."""
        if res < 0:
            self.close_conn(conn)
            return
        self.submit(ops.read, READ, conn, conn.fd, conn.buf)

    def on_read(self, conn: Conn, res: int, flags: int) -> None:
        """Bytes arrived: write them back. 0 (end of stream) or an error: close."""
        if res <= 0:
            # Nothing of ours is unsent here: the read only ever starts after
            # the previous write finished. So EOF (a half-close included) and
            # a reset both mean we are done with this client.
            self.close_conn(conn)
            return
        self.stats.requests += 1
        self.stats.bytes += res
        conn.start, conn.end = 0, res
        self.write(conn)

    def write(self, conn: Conn) -> None:
        """Write back what is left of the last read.

        A plain ``write(2)`` on a socket raises SIGPIPE once the client has
        gone; Python ignores SIGPIPE, and from v1.5 on ``send`` says
        ``MSG_NOSIGNAL``.
        """
        self.submit(ops.write, WRITE, conn, conn.fd, conn.view[conn.start:conn.end])

    def on_write(self, conn: Conn, res: int, flags: int) -> None:
        """Written: the rest after a short write, else wait for more to read."""
        if res < 0:
            self.close_conn(conn)
            return
        conn.start += res
        if conn.start < conn.end:
            self.stats.event("short_writes")
            self.write(conn)
        else:
            self.arm_read(conn)

    def close_conn(self, conn: Conn) -> None:
        """Close a connection none of whose requests is in flight; resume accepting."""
        del self.conns[conn.fd]
        self.release(conn)
        os.close(conn.fd)
        self.stats.syscalls += 1
        self.resume_accept()

    def release(self, conn: Conn) -> None:
        """Give back what the connection holds besides its descriptor (nothing here)."""

    def resume_accept(self) -> None:
        """A descriptor was freed: if accepting was paused, arm it again."""
        if self.accept_paused:
            self.accept_paused = False
            self.arm_accept()

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
        """Release registered buffers (none here)."""
