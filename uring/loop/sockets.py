"""Completion-based ``loop.sock_*``: the wait is an io_uring request, not a readiness poll.

The selector loop waits for readiness and then makes the system call; here
the request itself waits in the kernel: ``sock_recv`` is an
``IORING_OP_RECV``, ``sock_sendall`` a chain of ``IORING_OP_SEND``,
``sock_accept`` an ``IORING_OP_ACCEPT``, ``sock_connect`` an
``IORING_OP_CONNECT``. Like the stdlib, each first tries the plain
non-blocking call, so a socket that is already ready costs no loop iteration.

**Buffers.** They reach the kernel only through :mod:`uring.ops`, which
keeps them (``ring.keep``) until the request's final CQE; a caller's
``bytearray`` goes in as a ``memoryview``, whose export makes any resize
raise ``BufferError`` while the kernel may write into it.

**Cancellation.** Cancelling the awaiting task submits ``IORING_OP_ASYNC_CANCEL``
for the request; its buffer stays kept until its CQE arrives. If the request
completed anyway (the race every completion API has), nothing is lost: bytes
received are handed to the next ``sock_recv``/``sock_recv_into`` of that
socket, and an accepted connection to the next ``sock_accept``.
"""

from __future__ import annotations

import collections
import os
import socket
from asyncio import base_events

from .. import ops, probe

__all__ = ["CompletionSockets"]

_OPERATIONS = ("recv", "send", "accept", "connect", "async_cancel")
_CANCEL_UD = 0  # user_data of cancel requests; their CQEs carry nothing we need


def _error(res: int) -> OSError:
    """The ``OSError`` subclass for a negative CQE result (``OSError`` picks it by errno)."""
    return OSError(-res, os.strerror(-res))


class CompletionSockets:
    """Mixin for :class:`~uring.loop.EventLoop`: the ``sock_*`` methods as io_uring requests."""

    def _init_completion_sockets(self, enabled: bool) -> None:
        # RECV/SEND/ACCEPT/CONNECT came in 5.5-5.6; without one, readiness does it all.
        needed = {ops.OPS[name].opcode for name in _OPERATIONS}
        self._completion = enabled and needed <= set(probe.get().ops)
        # fd -> bytes / accepted (conn, address) that arrived for a cancelled request.
        self._late_data: dict[int, bytearray] = {}
        self._late_accepts: dict[int, collections.deque] = {}

    def _request(self, op, *args, on_late=None, submit_now=False, **kwargs):
        """Queue ``op(ring, user_data, *args)``; a future for its CQE's ``res``.

        The SQE goes to the kernel with the next loop iteration's
        ``io_uring_enter``, or at once with ``submit_now``. Cancelling the
        future cancels the request; ``on_late(res)`` receives the result of a
        request that completed although its future was cancelled.
        """
        self._check_closed()
        fut = self.create_future()
        sel = self._selector

        def complete(res, flags):
            if fut.done():
                if on_late is not None:
                    on_late(res)
            else:
                fut.set_result(res)

        ud = sel.new_user_data(complete)
        if submit_now:
            try:
                sel._prep(op, ud, *args, **kwargs)
            except BaseException:
                sel._completion_handlers.pop(ud, None)
                raise
            sel.ring.submit()
        else:
            sel.request(fut, op, ud, *args, **kwargs)

        def cancel(f):
            # Only a request already in the kernel needs cancelling; a queued
            # one is dropped by select() (see UringSelector.request).
            if (f.cancelled() and ud in sel._completion_handlers and not sel.ring.closed
                    and not any(r[2] == ud for r in sel._requests)):
                sel._prep(ops.async_cancel, _CANCEL_UD, ud)
        fut.add_done_callback(cancel)
        return fut

    def _check_sock(self, sock) -> None:
        # What the stdlib's sock_* methods check first.
        base_events._check_ssl_socket(sock)
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    async def sock_recv(self, sock, n: int) -> bytes:
        """Receive up to ``n`` bytes from ``sock`` (an ``IORING_OP_RECV`` when none are ready)."""
        if not self._completion:
            return await super().sock_recv(sock, n)
        self._check_sock(sock)
        fd = sock.fileno()
        late = self._late_data.get(fd)
        if late:
            data = bytes(late[:n])
            del late[:n]
            return data
        try:
            return sock.recv(n)
        except (BlockingIOError, InterruptedError):
            pass
        self._ensure_fd_no_transport(fd)
        buf = bytearray(n)
        res = await self._request(ops.recv, fd, memoryview(buf),
                                  on_late=lambda res: self._keep_late(fd, buf, res))
        if res < 0:
            raise _error(res)
        del buf[res:]
        return bytes(buf)

    async def sock_recv_into(self, sock, buf) -> int:
        """Receive into ``buf`` (which cannot be resized while the kernel may write to it)."""
        if not self._completion:
            return await super().sock_recv_into(sock, buf)
        self._check_sock(sock)
        fd = sock.fileno()
        view = memoryview(buf).cast("B")
        late = self._late_data.get(fd)
        if late:
            n = min(len(late), len(view))
            view[:n] = late[:n]
            del late[:n]
            return n
        try:
            return sock.recv_into(view)
        except (BlockingIOError, InterruptedError):
            pass
        self._ensure_fd_no_transport(fd)
        res = await self._request(ops.recv, fd, view,
                                  on_late=lambda res: self._keep_late(fd, view, res))
        if res < 0:
            raise _error(res)
        return res

    def _keep_late(self, fd: int, buf, res: int) -> None:
        if res > 0:
            self._late_data.setdefault(fd, bytearray()).extend(buf[:res])

    async def sock_sendall(self, sock, data) -> None:
        """Send all of ``data``: the first try inline, the rest as ``IORING_OP_SEND`` requests."""
        if not self._completion:
            return await super().sock_sendall(sock, data)
        self._check_sock(sock)
        try:
            n = sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        view = memoryview(data).cast("B")
        if n == len(view):
            return
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        while n < len(view):
            res = await self._request(ops.send, fd, view[n:], flags=socket.MSG_NOSIGNAL)
            if res < 0:
                raise _error(res)
            n += res

    async def sock_accept(self, sock):
        """Accept a connection: ``(conn, address)``, ``conn`` non-blocking (``IORING_OP_ACCEPT``)."""
        if not self._completion:
            return await super().sock_accept(sock)
        self._check_sock(sock)
        fd = sock.fileno()
        late = self._late_accepts.get(fd)
        if late:
            return late.popleft()
        try:
            conn, address = sock.accept()
            conn.setblocking(False)
            return conn, address
        except (BlockingIOError, InterruptedError):
            pass
        self._ensure_fd_no_transport(fd)
        peer = ops.SockaddrBuffer()

        def accepted(res):
            conn = socket.socket(sock.family, sock.type, sock.proto, fileno=res)
            conn.setblocking(False)
            return conn, peer.address()

        def late(res):
            if res >= 0:
                self._late_accepts.setdefault(fd, collections.deque()).append(accepted(res))

        res = await self._request(ops.accept, fd, flags=socket.SOCK_CLOEXEC, peer=peer,
                                  on_late=late)
        if res < 0:
            raise _error(res)
        return accepted(res)

    async def sock_connect(self, sock, address) -> None:
        """Connect ``sock`` to ``address`` (resolved as the stdlib does) with ``IORING_OP_CONNECT``."""
        if not self._completion:
            return await super().sock_connect(sock, address)
        self._check_sock(sock)
        if sock.family == socket.AF_UNIX and not isinstance(address, (str, bytes)):
            return await super().sock_connect(sock, address)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            resolved = await self._ensure_resolved(
                address, family=sock.family, type=sock.type, proto=sock.proto, loop=self)
            _, _, _, _, address = resolved[0]
        elif sock.family != socket.AF_UNIX:
            return await super().sock_connect(sock, address)
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        # Submitted at once: like the stdlib's connect(), the SYN leaves
        # before this coroutine first yields (callers may block on accept()).
        res = await self._request(ops.connect, fd, address, submit_now=True)
        if res < 0:
            raise _error(res)
