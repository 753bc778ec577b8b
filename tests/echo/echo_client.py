"""Test helpers for the echo servers: a server subprocess and a many-connection client.

:class:`ServerProcess` runs ``python -m uring.echo --stage X --port 0`` and
reads its ``listening on`` line; :func:`exchange` drives any number of
connections at once with ``selectors`` and checks every echo byte for byte,
in order. Every wait is bounded by a deadline.
"""

from __future__ import annotations

import os
import random
import select
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from uring.echo.common import parse_summary

REPO = Path(__file__).resolve().parents[2]


class ServerProcess:
    """An echo server stage running as a child process."""

    def __init__(self, stage: str, *options: str, nofile: int | None = None,
                 startup_timeout: float = 30.0) -> None:
        self.stage = stage
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])

        def limit_files() -> None:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uring.echo", "--stage", stage, "--port", "0", *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env,
            preexec_fn=limit_files if nofile else None)
        self.pid = self.proc.pid
        self.stdout = b""
        line = self._read_line(startup_timeout)
        if not line.startswith("listening on "):
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"stage {stage} did not start: {line!r}\n{err.decode()}")
        host, port = line[len("listening on "):].rsplit(":", 1)
        self.address = (host, int(port))

    def _read_line(self, timeout: float) -> str:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.stdout:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"no line from stage {self.stage} within {timeout}s")
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            self.stdout += chunk
        line, _, self.stdout = self.stdout.partition(b"\n")
        return line.decode()

    def alive(self) -> bool:
        """True while the server process runs."""
        return self.proc.poll() is None

    def fd_count(self) -> int:
        """How many descriptors the server holds (``/proc/PID/fd``)."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss(self) -> int:
        """Resident memory of the server in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def wait_fd_count(self, expected: int, timeout: float = 10.0) -> int:
        """Wait until the server holds ``expected`` fds (or ``timeout``); return the count."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.fd_count()
            if n == expected or time.monotonic() > deadline:
                return n
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> dict:
        """Signal the server, wait for it, check it exited 0; return its summary tokens."""
        self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"stage {self.stage} did not stop on signal {sig}: "
                                 f"{err.decode()}")
        out = self.stdout + out
        assert self.proc.returncode == 0, (
            f"stage {self.stage} exited with {self.proc.returncode}:\n{err.decode()}")
        assert not err, f"stage {self.stage} wrote to stderr:\n{err.decode()}"
        lines = out.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("summary: "), lines
        return parse_summary(lines[0])

    def kill(self) -> None:
        """Kill the server if it still runs (cleanup after a failed test)."""
        if self.alive():
            self.proc.kill()
        self.proc.communicate()


class Conn:
    """One client connection's script: messages to send, the echo expected back."""

    def __init__(self, sock: socket.socket, messages: list[bytes], depth: int,
                 shut_wr: bool) -> None:
        self.sock = sock
        self.expected = b"".join(messages)
        self.view = memoryview(self.expected)
        self.ends = []
        end = 0
        for m in messages:
            end += len(m)
            self.ends.append(end)
        self.depth = depth
        self.shut_wr = shut_wr
        self.sent = 0
        self.received = 0
        self.answered = 0
        self.connected = False
        self.done = False
        self.wrote_eof = False

    def send_limit(self) -> int:
        """Bytes we may have sent: up to ``depth`` messages ahead of the echo."""
        if not self.ends:
            return 0
        if self.shut_wr:
            return self.ends[-1]
        return self.ends[min(self.answered + self.depth, len(self.ends)) - 1]


def connect_many(address, count: int, timeout: float = 30.0) -> list[socket.socket]:
    """``count`` connected blocking sockets (connects run concurrently)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            socks.append(s)
            # Without it, Nagle holds back a client's pipelined messages until
            # the server's (possibly delayed, 40 ms) ACK: slow, not wrong.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            s.connect_ex(address)
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_WRITE)
        left = count
        deadline = time.monotonic() + timeout
        while left:
            events = sel.select(max(0.0, deadline - time.monotonic()))
            if not events:
                raise AssertionError(f"{left} of {count} connects did not finish in {timeout}s")
            for key, _ in events:
                err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"connect: {os.strerror(err)}")
                sel.unregister(key.fileobj)
                left -= 1
        sel.close()
        for s in socks:
            s.setblocking(True)
        return socks
    except BaseException:
        for s in socks:
            s.close()
        raise


def exchange(address, scripts: list[list[bytes]], *, depth=1, shut_wr=False,
             socks: list[socket.socket] | None = None, timeout: float = 60.0,
             close: bool = True, already_sent: int = 0) -> None:
    """Run one connection per script concurrently and check every echo.

    Each connection sends its messages keeping at most ``depth`` of them
    unanswered (1: ping-pong; more: pipelined), and compares what comes back
    with what it sent, byte for byte and in order. With ``shut_wr`` it sends
    everything, shuts down its sending side and then expects the whole echo
    followed by the server's close. ``already_sent`` bytes of every script
    went out before the call (only their echo is awaited). ``depth`` and
    ``shut_wr`` may also be lists, one value per connection. Raises
    ``AssertionError`` naming the first connection that got a wrong byte,
    an early close, or nothing in time.
    """
    if socks is None:
        socks = connect_many(address, len(scripts), timeout)
    assert len(socks) == len(scripts)
    sel = selectors.DefaultSelector()
    conns = []
    for i, (s, messages) in enumerate(zip(socks, scripts)):
        s.setblocking(False)
        c = Conn(s, messages, depth[i] if isinstance(depth, list) else depth,
                 shut_wr[i] if isinstance(shut_wr, list) else shut_wr)
        c.sent = already_sent
        c.index = i
        conns.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    buf = bytearray(1 << 18)
    bview = memoryview(buf)
    left = sum(1 for c in conns if not _finished(c))
    for c in conns:
        if _finished(c):
            sel.unregister(c.sock)
    deadline = time.monotonic() + timeout
    try:
        while left:
            remaining = deadline - time.monotonic()
            events = sel.select(max(0.0, remaining)) if remaining > 0 else []
            if not events:
                stuck = [(c.index, c.sent, c.received, len(c.expected))
                         for c in conns if not _finished(c)]
                raise AssertionError(f"{len(stuck)} connections stuck after {timeout}s "
                                     f"(index, sent, received, total): {stuck[:5]}")
            for key, mask in events:
                c = key.data
                if mask & selectors.EVENT_WRITE:
                    limit = c.send_limit()
                    if c.sent < limit:
                        try:
                            c.sent += c.sock.send(c.view[c.sent:limit])
                        except BlockingIOError:
                            pass
                    if c.sent == len(c.expected) and c.shut_wr and not c.wrote_eof:
                        c.sock.shutdown(socket.SHUT_WR)
                        c.wrote_eof = True
                if mask & selectors.EVENT_READ:
                    try:
                        n = c.sock.recv_into(buf)
                    except BlockingIOError:
                        continue
                    if n == 0:
                        if c.received < len(c.expected):
                            raise AssertionError(
                                f"connection {c.index}: server closed after {c.received} "
                                f"of {len(c.expected)} bytes")
                        if c.shut_wr:
                            c.done = True  # the close we were waiting for
                    else:
                        start = c.received
                        if start + n > len(c.expected):
                            raise AssertionError(
                                f"connection {c.index}: {start + n - len(c.expected)} "
                                f"bytes more than sent")
                        if bview[:n] != c.view[start:start + n]:
                            bad = next(i for i in range(n) if buf[i] != c.expected[start + i])
                            raise AssertionError(
                                f"connection {c.index}: wrong byte at offset {start + bad}")
                        c.received += n
                        while c.answered < len(c.ends) and c.ends[c.answered] <= c.received:
                            c.answered += 1
                        if c.received == len(c.expected) and not c.shut_wr:
                            c.done = True
                if c.done:
                    sel.unregister(c.sock)
                    left -= 1
                elif c.sent >= c.send_limit() and (not c.shut_wr or c.wrote_eof):
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                else:
                    sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    finally:
        sel.close()
        if close:
            for s in socks:
                s.close()


def _finished(c: Conn) -> bool:
    return c.done or (not c.expected and not c.shut_wr)


def pattern(size: int, seed: int) -> bytes:
    """``size`` pseudo-random bytes, the same for the same ``seed``.

    Random rather than repeating, so that a chunk echoed out of order or
    twice can never look right.
    """
    return random.Random(seed).randbytes(size)
