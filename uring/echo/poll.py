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

The stages of this family (``user_data``, ``fast_poll``, ``provide_buffers``,
``buf_ring``) derive from this :class:`Server` and override only the steps
they change; what every io_uring stage does alike (submitting, stopping,
pausing accepts, closing) is :class:`~uring.echo.ring_server.RingServer`.
"""

from __future__ import annotations

import select

from .. import abi, ops, probe
from .ring_server import PAUSE_ACCEPT, RingServer
from .tags import Kind

__all__ = ["Server", "Conn", "Request"]

# The request kinds under the names this module gave them before tags.py had them.
ACCEPT, POLL, READ, WRITE, STOP = Kind.ACCEPT, Kind.POLL, Kind.READ, Kind.WRITE, Kind.STOP

_ACCEPTS_PER_POLL = 64


class Conn:
    """One client: its descriptor, and the buffer its echo passes through.

    ``buf[start:end]`` holds bytes read and not yet written back.
    """

    __slots__ = ("fd", "buf", "view", "start", "end")

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.start = self.end = 0


class Request:
    """What one submitted SQE was for (v1.0 allocates one per request)."""

    __slots__ = ("kind", "conn")

    def __init__(self, kind: Kind, conn: Conn | None) -> None:
        self.kind = kind
        self.conn = conn


class Server(RingServer):
    """The v1.0 server: one request per operation, the root of its family."""

    OPTIONS = ("entries", "buffer_size")

    def __init__(self, listener, args, stopper) -> None:
        self.requests: dict[int, Request] = {}
        self.next_id = 0
        super().__init__(listener, args, stopper)

    @classmethod
    def unsupported(cls) -> str:
        """Empty if io_uring works here with POLL_ADD, READ and WRITE (Linux 5.6)."""
        info = probe.get()
        for op in (abi.IORING_OP_POLL_ADD, abi.IORING_OP_READ, abi.IORING_OP_WRITE):
            reason = info.why_not_op(op)
            if reason:
                return reason
        return ""

    def new_conn(self, fd: int) -> Conn:
        """The state of a freshly accepted connection: a buffer of ``--buffer-size``."""
        return Conn(fd, self.args.buffer_size)

    # -- user_data: how a CQE finds its request (what v1.3 changes) --------------

    def tag(self, kind: Kind, conn: Conn | None) -> int:
        """A fresh ``user_data`` for a request of ``kind`` on ``conn``."""
        self.next_id += 1
        self.requests[self.next_id] = Request(kind, conn)
        return self.next_id

    def untag(self, user_data: int) -> tuple[int, Conn | None]:
        """The ``(kind, conn)`` a CQE's ``user_data`` stands for."""
        req = self.requests.pop(user_data)
        return req.kind, req.conn

    # -- the loop ------------------------------------------------------------------

    def handlers(self) -> dict:
        """The CQE handler for each kind of request on a connection."""
        return {Kind.POLL: self.on_poll, Kind.READ: self.on_read, Kind.WRITE: self.on_write}

    def serve(self) -> None:
        """Submit what is queued and wait for a CQE; handle the batch; repeat."""
        ring = self.ring
        handlers = self.handlers()
        untag = self.untag
        on_other = self.on_other
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
                handler = handlers.get(kind)
                if handler is None:
                    on_other(kind, user_data, res, flags)
                else:
                    handler(conn, res, flags)

    def flush(self) -> None:
        """Queue what the batch just handled left for later (nothing here)."""

    # -- accepting ----------------------------------------------------------------

    def arm_accept(self) -> None:
        """Ask to be told when the listening socket has a connection waiting."""
        self.submit(ops.poll_add, Kind.ACCEPT, None, self.listener.fileno(), select.POLLIN)

    def on_accept(self, res: int, flags: int) -> None:
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
            self.arm_read(self.open_conn(sock.detach()))
        self.arm_accept()

    # -- one connection's cycle ------------------------------------------------------

    def arm_read(self, conn: Conn) -> None:
        """Wait for the client's next bytes: v1.0 polls first, then reads."""
        self.submit(ops.poll_add, Kind.POLL, conn, conn.fd, select.POLLIN)

    def on_poll(self, conn: Conn, res: int, flags: int) -> None:
        """Readable (or hung up, or failed): read, and let the read say which."""
        if res < 0:
            self.close_conn(conn)
            return
        self.submit(ops.read, Kind.READ, conn, conn.fd, conn.buf)

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
        self.submit(ops.write, Kind.WRITE, conn, conn.fd, conn.view[conn.start:conn.end])

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
