"""Stage ``multishot``: arm once, complete many times -- the modern io_uring server.

The root of the armed-once family, beside the request-per-operation one
(:mod:`uring.echo.poll` to :mod:`uring.echo.buf_ring`) on the same
:class:`~uring.echo.ring_server.RingServer`. What changes, feature for
feature with liburing's ``examples/echo-server.c``:

* **Multishot accept** (5.19): one ACCEPT request posts a CQE per new
  connection, flagged ``IORING_CQE_F_MORE`` while it stays armed.
* **Multishot recv** over the buffer ring (6.0): one RECV per connection,
  armed once, posts a CQE per chunk of data, each in a buffer the kernel
  took from the ring. A CQE without ``F_MORE`` ends it (end of stream, an
  error, ``-ENOBUFS``, a cancel); we arm it again where that makes sense.
* **SINGLE_ISSUER + DEFER_TASKRUN** (6.1): completions are produced only
  when we ask for them, in our own ``io_uring_enter``, instead of
  interrupting us; ``COOP_TASKRUN`` (5.19) is the fallback, as in liburing.
  ``SUBMIT_ALL`` keeps one bad SQE from stopping a batch, a CQ eight times
  the SQ absorbs bursts of multishot CQEs, and the ring fd is registered so
  each enter skips the fd lookup.
* **Batching**: each loop iteration reads every ready CQE at once
  (:meth:`~uring.ring.Ring.copy_cqes_raw`), queues the SQEs they call for,
  publishes the buffers handed back with one store, and makes one
  ``io_uring_enter`` that both submits and waits.
* ``user_data`` packs kind, buffer id and descriptor (:mod:`uring.echo.tags`),
  as liburing's example does, but with 32 bits for the descriptor.

Receiving no longer waits for the send, so this stage does what the earlier
ones got for free from their one-request-per-connection cycle:

* **Order and short sends.** At most one SEND per connection is in flight.
  When one is, later data is copied to the connection's backlog and its
  buffer goes straight back to the ring; the backlog goes out in one SEND
  when the current one is done. A short send resubmits the rest. So a
  connection holds at most one buffer, and a slow reader cannot drain the
  ring for everybody else.
* **Backpressure.** When a connection's unsent echo reaches ``--max-unsent``
  its RECV is cancelled (``ASYNC_CANCEL``); it is armed again once the
  backlog is below half of that.
* **Closing.** A connection is closed only once neither its RECV nor a SEND
  is in flight, so no CQE can name a descriptor number already reused.

The hot path -- a RECV completion with data, a SEND completion that sent
everything -- allocates nothing Python could avoid: SQEs are written with
``ring.prep`` from precomputed buffer addresses (the buffer memory lives as
long as the ring, so nothing needs ``ring.keep``), and CQEs are plain tuples.
"""

from __future__ import annotations

import errno
import socket
from collections import deque

from .. import abi, ops, probe
from ..buffers import BufferRing
from ..memory import address
from ..ring import Ring, SubmissionQueueFull
from .buf_ring import ring_entries
from .ring_server import PAUSE_ACCEPT, RingServer, kernel_lacks
from .tags import BID_SHIFT, FD_MASK, KIND_SHIFT, Kind, pack

__all__ = ["Server", "Conn", "BGID", "setup_flags"]

#: Our one buffer group.
BGID = 0

_NOSIGNAL = socket.MSG_NOSIGNAL
_F_MORE = int(abi.IORING_CQE_F_MORE)
_F_BUFFER = int(abi.IORING_CQE_F_BUFFER)
_OP_SEND = int(abi.IORING_OP_SEND)
_READ = int(Kind.READ)
_WRITE = int(Kind.WRITE)
_SEND_TAG = pack(Kind.WRITE)


def setup_flags() -> int:
    """SUBMIT_ALL plus SINGLE_ISSUER + DEFER_TASKRUN where available, else COOP_TASKRUN."""
    info = probe.get()
    defer = abi.IORING_SETUP_SINGLE_ISSUER | abi.IORING_SETUP_DEFER_TASKRUN
    flags = int(abi.IORING_SETUP_SUBMIT_ALL)
    if info.has_setup_flag(defer):
        return flags | int(defer)
    return flags | int(abi.IORING_SETUP_COOP_TASKRUN)


class Conn:
    """One client of the multishot server.

    ``out_addr``/``out_left`` describe the SEND in flight (``out_left`` 0:
    none); it sends from ring buffer ``out_bid``, or from ``out_obj`` (a
    former backlog, kept alive here while the kernel reads it). ``pending``
    is the backlog queued behind it.
    """

    __slots__ = ("fd", "out_addr", "out_left", "out_bid", "out_obj", "pending",
                 "recv_armed", "cancelling", "paused", "starved", "eof", "dead")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.out_addr = 0
        self.out_left = 0
        self.out_bid = -1
        self.out_obj = None
        self.pending = bytearray()
        self.recv_armed = False   # a multishot RECV is in flight
        self.cancelling = False   # we asked the kernel to end it
        self.paused = False       # reading stopped: too much unsent
        self.starved = False      # waiting for the buffer ring to refill
        self.eof = False          # the client has shut down its sending side
        self.dead = False         # reset or failed: drop the echo, close

    def unsent(self) -> int:
        """Bytes of echo not yet handed to the kernel's socket."""
        return self.out_left + len(self.pending)


class Server(RingServer):
    """Multishot accept and recv over a buffer ring, batched, DEFER_TASKRUN."""

    OPTIONS = ("entries", "buffers", "buffer_size", "max_unsent")
    #: ``IOSQE_*`` flags of every SQE that names a connection (``fixed_files``
    #: names slots of its file table: ``IOSQE_FIXED_FILE``).
    SQE_FLAGS = 0

    @classmethod
    def unsupported(cls) -> str:
        """Needs multishot recv with a buffer ring (Linux 6.0)."""
        info = probe.get()
        for op in (abi.IORING_OP_POLL_ADD, abi.IORING_OP_ACCEPT, abi.IORING_OP_RECV,
                   abi.IORING_OP_SEND, abi.IORING_OP_ASYNC_CANCEL):
            reason = info.why_not_op(op)
            if reason:
                return reason
        return kernel_lacks(abi.IORING_RECV_MULTISHOT)

    def setup_ring(self) -> Ring:
        """Flags as liburing's example; a CQ 8x the SQ; the ring fd registered."""
        entries = self.args.entries
        ring = Ring(entries, flags=setup_flags(), cq_entries=max(8 * entries, 16))
        try:
            ring.register_ring_fd()
        except OSError:
            pass  # before 5.18: every enter looks the fd up, which only costs time
        return ring

    def setup(self) -> None:
        """A buffer ring of ``--buffers`` buffers, and every buffer's address computed once."""
        count, size = self.args.buffers, self.args.buffer_size
        self.group = BufferRing(self.ring, BGID, ring_entries(count), size, count=count)
        base = address(self.group.view)[0]
        self.addrs = [base + bid * size for bid in range(count)]
        self.views = [self.group.view[bid * size:(bid + 1) * size] for bid in range(count)]
        self.starved: deque[Conn] = deque()  # waiting for the ring to refill, oldest first
        self.returned = 0  # buffers staged since the last flush()
        self.max_unsent = self.args.max_unsent

    def tag(self, kind: Kind, conn: Conn | None) -> int:
        """``pack(kind, fd)`` (fd 0 for requests that belong to no connection)."""
        return pack(kind, conn.fd if conn is not None else 0)

    def new_conn(self, fd: int) -> Conn:
        """State for the connection on ``fd``."""
        return Conn(fd)

    def prep(self, opcode: int, flags: int, fd: int, addr: int, nbytes: int, op_flags: int,
             user_data: int) -> None:
        """``ring.prep`` for the hot path; when the SQ is full, make room first."""
        try:
            self.ring.prep(opcode, flags, 0, fd, 0, addr, nbytes, op_flags, user_data)
        except SubmissionQueueFull:
            self.make_room()
            self.ring.prep(opcode, flags, 0, fd, 0, addr, nbytes, op_flags, user_data)

    # -- the loop ------------------------------------------------------------------------

    def serve(self) -> None:
        """One ``io_uring_enter`` per iteration: submit, wait, then the whole batch of CQEs.

        The two completions of every echo -- a RECV that brought bytes to an
        idle connection, a SEND that sent them all -- are handled inline with
        names bound to locals; everything else goes through methods that
        later stages override. The inline paths do what :meth:`received`
        and :meth:`send_done` would, so they stand aside where a stage
        changes those: RECVs above :meth:`inline_limit` take
        :meth:`received`, and a stage that overrides :meth:`send_done`
        gets every completed SEND.
        """
        ring = self.ring
        prep = ring.prep
        wait = self.wait
        conns = self.conns
        addrs = self.addrs
        take_id = self.group.take_id
        add_many = self.group.add_many
        staged = []  # ids whose echo went out: staged in one call per batch
        back = staged.append
        received, sent, send_done = self.received, self.sent, self.send_done
        inline_done = type(self).send_done is Server.send_done
        stopper = self.stopper
        stats = self.stats
        cq_entries = ring.cq_entries
        fast_limit = self.inline_limit()
        sqe_flags = self.SQE_FLAGS
        requests = nbytes = 0
        try:
            while not stopper.stopping:
                if staged:
                    add_many(staged)
                    self.returned += len(staged)
                    staged.clear()
                self.flush()
                cqes = wait()
                if len(cqes) >= cq_entries:
                    self.cq_was_full()
                for cqe in cqes:
                    user_data, res, flags = cqe
                    kind = user_data >> KIND_SHIFT
                    if kind == _READ:
                        conn = conns[user_data & FD_MASK]
                        if (0 < res <= fast_limit and flags & _F_MORE and not conn.out_left
                                and not conn.pending and not conn.dead):
                            # Bytes for an idle connection: send them straight
                            # back from the buffer they arrived in.
                            bid = take_id(flags)
                            requests += 1
                            nbytes += res
                            fd = conn.fd
                            conn.out_bid = bid
                            conn.out_addr = addr = addrs[bid]
                            conn.out_left = res
                            send_ud = _SEND_TAG | bid << BID_SHIFT | fd
                            try:
                                prep(_OP_SEND, sqe_flags, 0, fd, 0, addr, res, _NOSIGNAL, send_ud)
                            except SubmissionQueueFull:
                                self.make_room()
                                prep(_OP_SEND, sqe_flags, 0, fd, 0, addr, res, _NOSIGNAL, send_ud)
                        elif res > 0:
                            received(conn, res, flags)
                            if not flags & _F_MORE:  # ended after data (old kernels, overflow)
                                self.recv_ended(conn, res, 0)
                        else:
                            self.recv_ended(conn, res, flags)
                    elif kind == _WRITE:
                        conn = conns[user_data & FD_MASK]
                        if (res == conn.out_left and not conn.pending and not conn.paused
                                and not conn.eof and not conn.dead and not conn.starved):
                            # All sent, nothing queued: the buffer goes back to
                            # the ring, the connection waits for more.
                            if inline_done and conn.out_bid >= 0:
                                back(conn.out_bid)
                                conn.out_bid = -1
                                conn.out_left = 0
                            else:
                                send_done(conn)
                        else:
                            sent(conn, res, flags)
                    else:
                        self.on_other(kind, user_data, res, flags)
        finally:
            stats.requests += requests
            stats.bytes += nbytes

    def inline_limit(self) -> int:
        """The largest receive the loop echoes inline: a buffer, sent as :meth:`start_send` does."""
        return self.args.buffer_size

    def wait(self) -> list:
        """Submit what the last batch queued and wait for at least one CQE; return them all."""
        self.ring.submit_and_wait(1)
        return self.ring.copy_cqes_raw()

    def flush(self) -> None:
        """Publish returned buffers (one store); re-arm connections that ran out of them."""
        if self.returned:
            self.group.advance()
            self.returned = 0
        if self.starved and self.group.in_kernel:
            starved, self.starved = self.starved, deque()
            for conn in starved:
                if conn.starved:  # else it was closed while it waited
                    conn.starved = False
                    self.settle(conn)

    # -- receiving -----------------------------------------------------------------------

    def arm_recv(self, conn: Conn) -> None:
        """Arm the connection's multishot RECV over the buffer ring."""
        conn.recv_armed = True
        self.submit(ops.recv_multishot, Kind.READ, conn, conn.fd, buf_group=BGID,
                    sqe_flags=self.SQE_FLAGS)

    def received(self, conn: Conn, res: int, flags: int) -> None:
        """``res`` bytes arrived in the buffer the CQE names: echo them, or queue a copy."""
        bid = self.group.take_id(flags)
        stats = self.stats
        stats.requests += 1
        stats.bytes += res
        if conn.dead:
            self.stage_buffer(bid)
        elif not conn.out_left and not conn.pending:
            # The common case: nothing queued, send straight from the buffer.
            conn.out_bid = bid
            conn.out_addr = self.addrs[bid]
            conn.out_left = res
            self.start_send(conn)
        else:
            # Behind a SEND in flight: copy, so the buffer goes back at once.
            conn.pending += self.views[bid][:res]
            self.stage_buffer(bid)
            if conn.unsent() >= self.max_unsent and not conn.paused:
                self.pause(conn)

    def stage_buffer(self, bid: int) -> None:
        """Stage ``bid`` for the ring; :meth:`flush` publishes the iteration's returns at once."""
        self.group.add(bid)
        self.returned += 1

    def recv_ended(self, conn: Conn, res: int, flags: int) -> None:
        """The multishot RECV posted its last CQE: find out why, then decide what next.

        ``res`` > 0: it ended right after delivering data (that CQE's buffer
        was handled by :meth:`received`); nothing is wrong, arm it again.
        """
        conn.recv_armed = False
        conn.cancelling = False
        if flags & _F_BUFFER:  # a buffer with no data in it: hand it straight back
            self.stage_buffer(self.group.take_id(flags))
        if res == 0:
            conn.eof = True
        elif res == -errno.ENOBUFS:
            self.stats.event("enobufs")
            conn.starved = True
            self.starved.append(conn)
        elif res == -errno.ECANCELED:
            pass  # we stopped it (backpressure, or the connection failed)
        elif res < 0:
            self.kill(conn)  # reset, or another error: this connection is over
        self.settle(conn)

    def pause(self, conn: Conn) -> None:
        """Too much unsent echo: cancel the RECV until the client reads some of it."""
        conn.paused = True
        self.stats.event("read_paused")
        self.cancel_recv(conn)

    def cancel_recv(self, conn: Conn) -> None:
        """Ask the kernel to end the connection's RECV (it then posts ``-ECANCELED``)."""
        if conn.recv_armed and not conn.cancelling:
            conn.cancelling = True
            self.submit(ops.async_cancel, Kind.CANCEL, conn, self.tag(Kind.READ, conn))

    # -- sending -------------------------------------------------------------------------

    def start_send(self, conn: Conn) -> None:
        """SEND ``out_left`` bytes at ``out_addr`` (``user_data`` names the buffer, if any)."""
        self.prep(_OP_SEND, self.SQE_FLAGS, conn.fd, conn.out_addr, conn.out_left, _NOSIGNAL,
                  pack(Kind.WRITE, conn.fd, conn.out_bid))

    def sent(self, conn: Conn, res: int, flags: int) -> None:
        """A SEND completed: the rest after a short one, else the backlog, else settle."""
        if res < 0:
            self.kill(conn)
        elif res < conn.out_left:
            self.stats.event("short_sends")
            conn.out_addr += res
            conn.out_left -= res
            self.start_send(conn)
            return
        self.send_done(conn)
        if conn.pending and not conn.dead:
            self.send_pending(conn)
        elif conn.paused or conn.eof or conn.dead or conn.starved:
            self.settle(conn)

    def send_done(self, conn: Conn) -> None:
        """The SEND in flight is over: release its buffer or backlog."""
        if conn.out_bid >= 0:
            self.stage_buffer(conn.out_bid)
            conn.out_bid = -1
        conn.out_obj = None
        conn.out_left = 0

    def send_pending(self, conn: Conn) -> None:
        """Send the whole backlog at once; a new one starts behind it."""
        data, conn.pending = conn.pending, bytearray()
        conn.out_obj = data  # alive, and never resized, until its SEND completes
        conn.out_addr, conn.out_left = address(data)
        self.start_send(conn)
        if conn.paused:
            self.settle(conn)

    # -- connection state --------------------------------------------------------------------

    def settle(self, conn: Conn) -> None:
        """After anything but the common case: resume reading, or close, or wait."""
        if conn.dead:
            if conn.recv_armed:
                self.cancel_recv(conn)
            elif not conn.out_left:
                self.close_conn(conn)
            return
        if conn.eof:
            if not conn.out_left and not conn.pending and not conn.recv_armed:
                self.close_conn(conn)
            return
        if conn.paused and conn.unsent() <= self.max_unsent // 2:
            conn.paused = False
        if not conn.recv_armed and not conn.paused and not conn.starved:
            self.arm_recv(conn)

    def kill(self, conn: Conn) -> None:
        """The connection failed: drop its backlog; it closes once nothing is in flight."""
        conn.dead = True
        conn.pending = bytearray()

    # -- accepting -----------------------------------------------------------------------------

    def arm_accept(self) -> None:
        """One multishot ACCEPT for all connections to come."""
        self.submit(ops.accept_multishot, Kind.ACCEPT, None, self.listener.fileno(),
                    flags=socket.SOCK_CLOEXEC)

    def on_accept(self, res: int, flags: int) -> None:
        """A new connection (or an error); re-arm if the multishot ended, unless out of fds."""
        if res >= 0:
            self.arm_recv(self.open_conn(res))
        if flags & _F_MORE:
            return
        if res < 0 and -res in PAUSE_ACCEPT:
            self.pause_accept()
        else:
            self.arm_accept()

    def release(self, conn: Conn) -> None:
        """At close: leave the starved queue (buffers went back as their SENDs completed)."""
        conn.starved = False

    def close_buffers(self) -> None:
        """Unregister the buffer ring, once the ring is gone."""
        self.group.close()
