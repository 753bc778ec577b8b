"""Stage ``epoll``: the baseline, ``select.epoll`` and non-blocking sockets, stdlib only.

What a careful Python programmer writes without io_uring, and what every
other stage is measured against. Level-triggered epoll tells us which
sockets are ready; each readable event costs one ``recv`` and, when the
client keeps up, one ``send`` straight away. Echo the client has not taken
yet waits in a per-connection ``bytearray`` and goes out on ``EPOLLOUT``.

Every system call is a Python call here, so the stage counts them one by
one: ``epoll_wait``, ``accept4``, ``ioctl(FIONBIO)``, ``epoll_ctl``,
``recv``, ``send``, ``close``. That count is the number io_uring sets out to
shrink.
"""

from __future__ import annotations

import errno
import select
import socket

from .common import EchoServer

__all__ = ["Server"]

_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_NOSIGNAL = socket.MSG_NOSIGNAL  # EPIPE as an error, never SIGPIPE
#: accept errors that mean "no descriptor (or memory) for now": wait until we close one.
_PAUSE_ACCEPT = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
_ACCEPTS_PER_EVENT = 64


class Conn:
    """One client: its socket, the echo it has not taken yet, what epoll watches."""

    __slots__ = ("sock", "unsent", "events", "reading", "eof")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.unsent = bytearray()
        self.events = _IN
        self.reading = True
        self.eof = False


class Server(EchoServer):
    """The epoll echo server."""

    OPTIONS = ("buffer_size", "max_unsent")

    def __init__(self, listener, args, stopper) -> None:
        super().__init__(listener, args, stopper)
        self.epoll = select.epoll()
        self.buf = bytearray(args.buffer_size)
        self.view = memoryview(self.buf)
        self.max_unsent = args.max_unsent
        self.conns: dict[int, Conn] = {}
        self.accepting = True
        self.epoll.register(listener.fileno(), _IN)
        self.epoll.register(stopper.fd, _IN)

    def serve(self) -> None:
        """Wait for readiness, handle every ready socket, repeat until stopped."""
        poll = self.epoll.poll
        conns = self.conns
        lfd = self.listener.fileno()
        stats = self.stats
        while not self.stopper.stopping:
            events = poll()
            stats.syscalls += 1
            for fd, mask in events:
                conn = conns.get(fd)
                if conn is None:
                    if fd == lfd:
                        self.accept()
                    continue
                # HUP and ERR come whether asked for or not; the recv or send
                # they provoke reports what happened.
                if mask & (_IN | select.EPOLLHUP | select.EPOLLERR) and conn.reading:
                    self.on_readable(conn)
                elif mask & (_OUT | select.EPOLLHUP | select.EPOLLERR):
                    self.on_writable(conn)

    def accept(self) -> None:
        """Accept what is waiting; on EMFILE stop watching the listener until a close."""
        stats = self.stats
        for _ in range(_ACCEPTS_PER_EVENT):
            stats.syscalls += 1
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in _PAUSE_ACCEPT:
                    # Level-triggered: left registered, the listener would
                    # wake us at once, forever. Descriptors free up only
                    # when we close a connection, and close() resumes.
                    self.epoll.modify(self.listener.fileno(), 0)
                    stats.syscalls += 1
                    self.accepting = False
                    stats.event("accept_paused")
                    return
                continue  # that client is gone (ECONNABORTED, ...); the next may not be
            sock.setblocking(False)
            self.epoll.register(sock.fileno(), _IN)
            stats.syscalls += 2
            self.conns[sock.fileno()] = Conn(sock)
            stats.connections += 1

    def on_readable(self, conn: Conn) -> None:
        """One recv; echo it at once if nothing is queued before it, else queue it."""
        stats = self.stats
        stats.syscalls += 1
        try:
            n = conn.sock.recv_into(self.buf)
        except BlockingIOError:
            return
        except OSError:
            self.close_conn(conn)
            return
        if n == 0:  # the client shut down its side: finish the echo, then close
            conn.eof = True
            conn.reading = False
            if not conn.unsent:
                self.close_conn(conn)
            else:
                self.update(conn)
            return
        stats.requests += 1
        stats.bytes += n
        data = self.view[:n]
        if conn.unsent:
            conn.unsent += data  # in order: behind what is already waiting
        else:
            stats.syscalls += 1
            try:
                sent = conn.sock.send(data, _NOSIGNAL)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.close_conn(conn)
                return
            if sent == n:
                return
            conn.unsent += data[sent:]
        self.update(conn)

    def on_writable(self, conn: Conn) -> None:
        """Send what is queued; close after the last byte if the client has finished."""
        self.stats.syscalls += 1
        try:
            sent = conn.sock.send(conn.unsent, _NOSIGNAL)
        except BlockingIOError:
            return
        except OSError:
            self.close_conn(conn)
            return
        del conn.unsent[:sent]
        if conn.eof and not conn.unsent:
            self.close_conn(conn)
        else:
            self.update(conn)

    def update(self, conn: Conn) -> None:
        """Watch for what the connection needs now: reading stops above ``--max-unsent``.

        A client that sends but never reads would otherwise make us buffer
        everything it sends; with reading paused the kernel's socket buffers
        fill and TCP flow control stops the client. Reading resumes below
        half the bound, so a client hovering at the bound does not cost an
        ``epoll_ctl`` per recv.
        """
        unsent = len(conn.unsent)
        if conn.reading:
            if unsent >= self.max_unsent:
                conn.reading = False
                self.stats.event("read_paused")
        elif not conn.eof and unsent <= self.max_unsent // 2:
            conn.reading = True
        events = (_IN if conn.reading else 0) | (_OUT if unsent else 0)
        if events != conn.events:
            conn.events = events
            self.epoll.modify(conn.sock.fileno(), events)
            self.stats.syscalls += 1

    def close_conn(self, conn: Conn) -> None:
        """Close a connection (close() also drops it from the epoll set); resume accepting."""
        del self.conns[conn.sock.fileno()]
        conn.sock.close()
        self.stats.syscalls += 1
        if not self.accepting:
            self.accepting = True
            self.epoll.modify(self.listener.fileno(), _IN)
            self.stats.syscalls += 1

    def close(self) -> None:
        """Close every connection and the epoll instance (at shutdown)."""
        for conn in self.conns.values():
            conn.sock.close()
        self.conns.clear()
        self.epoll.close()
