"""Echo server on :mod:`selectors` with non-blocking sockets, callbacks in the key data.

``python -m uring.bench.peers.selectors_echo [--host H] [--port P]``: the
pattern of the :mod:`selectors` documentation, plus what it leaves out —
short sends kept and retried when writable, and reading paused while more
than :data:`MAX_UNSENT` bytes wait to go back to a client.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time

from .common import announce, listen, parse_args, print_summary

__all__ = ["MAX_UNSENT", "main"]

#: Stop reading from a client while this much of its echo is unsent.
MAX_UNSENT = 1 << 20

_R, _W = selectors.EVENT_READ, selectors.EVENT_WRITE


class _Conn:
    __slots__ = ("sock", "out", "eof", "events", "sel", "live")

    def __init__(self, sock: socket.socket, sel: selectors.BaseSelector,
                 live: set) -> None:
        self.sock, self.sel, self.live = sock, sel, live
        live.add(self)
        self.out = bytearray()
        self.eof = False
        self.events = _R
        sel.register(sock, _R, self.ready)

    def ready(self, mask: int) -> None:
        if mask & _R:
            self.read()
        if mask & _W and self.sock.fileno() >= 0:
            self.write()

    def read(self) -> None:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            return self.close()
        if not data:
            self.eof = True
            return self.close() if not self.out else self.want(_W)
        if self.out:
            self.out += data
        else:
            try:
                n = self.sock.send(data)
            except BlockingIOError:
                n = 0
            except OSError:
                return self.close()
            if n < len(data):
                self.out += data[n:]
        if self.out:
            self.want(_W if len(self.out) > MAX_UNSENT else _R | _W)

    def write(self) -> None:
        try:
            n = self.sock.send(self.out)
        except BlockingIOError:
            return
        except OSError:
            return self.close()
        del self.out[:n]
        if not self.out:
            return self.close() if self.eof else self.want(_R)
        if not self.eof and len(self.out) <= MAX_UNSENT // 2:
            self.want(_R | _W)

    def want(self, events: int) -> None:
        if events != self.events:
            self.sel.modify(self.sock, events, self.ready)
            self.events = events

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.sel.unregister(self.sock)
            self.sock.close()
            self.live.discard(self)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = parse_args("selectors echo server", argv)
    sel = selectors.DefaultSelector()
    lsock = listen(args.host, args.port)
    live: set[_Conn] = set()
    accepted = 0
    running = True

    def accept(mask: int) -> None:
        nonlocal accepted
        for _ in range(64):     # a burst of connections at a time
            try:
                sock, _ = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:     # EMFILE and friends: try again on the next event
                return
            sock.setblocking(False)
            _Conn(sock, sel, live)
            accepted += 1

    def stop(mask: int) -> None:
        nonlocal running
        running = False

    # The C-level signal handler writes to this pipe, which wakes select().
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: None)
    sel.register(rfd, _R, stop)
    sel.register(lsock, _R, accept)
    announce(lsock)
    started = time.monotonic()
    while running:
        for key, mask in sel.select():
            key.data(mask)
    for conn in list(live):
        conn.close()
    lsock.close()
    sel.close()
    print_summary("selectors", accepted, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
