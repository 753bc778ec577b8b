"""What every echo stage shares, written once: socket, options, statistics, signals.

A stage is a class deriving from :class:`EchoServer` that only says how it
moves bytes. Everything around that lives here:

* the listening socket (:func:`open_listeners`), one per worker with
  ``SO_REUSEPORT`` when ``--workers`` asks for several processes
  (:mod:`uring.echo.workers` runs those);
* the command line (:func:`main`): ``--stage``, ``--host``, ``--port``,
  ``--list``, ``--workers`` and the per-stage options a stage names in
  :attr:`EchoServer.OPTIONS` (``--entries``, ``--buffers``, ...);
* :class:`Stats` and the one-line ``summary:`` printed at exit, made of
  ``key=value`` tokens so scripts can parse it;
* :class:`Stopper`: SIGINT and SIGTERM stop a server cleanly, even one asleep
  in ``epoll_wait`` or ``io_uring_enter``, and the process exits with status 0.

The ready line ``listening on HOST:PORT`` is printed (and flushed) once the
server can accept; with ``--port 0`` it names the port the kernel picked.
"""

from __future__ import annotations

import abc
import argparse
import os
import resource
import signal
import socket
import sys
import time

__all__ = [
    "EchoServer",
    "Stats",
    "Stopper",
    "OPTIONS",
    "open_listeners",
    "run_server",
    "announce",
    "format_summary",
    "parse_summary",
    "build_parser",
    "main",
]

#: Per-stage options: name -> (flag, argparse keywords). A stage lists the
#: names it uses in :attr:`EchoServer.OPTIONS`; only those are accepted.
OPTIONS: dict[str, tuple[str, dict]] = {
    "entries": ("--entries", dict(
        type=int, default=256, metavar="N",
        help="SQ entries of the ring; the CQ gets twice as many (default 256)")),
    "buffers": ("--buffers", dict(
        type=int, default=1024, metavar="N",
        help="number of buffers the kernel receives into (default 1024)")),
    "buffer_size": ("--buffer-size", dict(
        type=int, default=4096, metavar="BYTES",
        help="size of each receive buffer (default 4096)")),
    "max_unsent": ("--max-unsent", dict(
        type=int, default=1 << 20, metavar="BYTES",
        help="stop reading from a client once this much of its echo is waiting "
             "to be sent, resume below half of it (default 1 MiB)")),
    "zc_threshold": ("--zc-threshold", dict(
        type=int, default=2048, metavar="BYTES",
        help="send with SEND_ZC when at least this many bytes go out at once "
             "(default 2048)")),
    "files": ("--files", dict(
        type=int, default=0, metavar="N",
        help="slots in the registered file table (default: the RLIMIT_NOFILE soft "
             "limit, the most the kernel allows)")),
    "sq_thread_idle": ("--sq-thread-idle", dict(
        type=int, default=1000, metavar="MS",
        help="milliseconds the SQPOLL thread spins without work before it sleeps "
             "(default 1000)")),
}


class Stats:
    """What a server counts while it runs; the summary line is made from it.

    ``requests`` counts receive completions that carried data (one per chunk
    the kernel handed over), ``bytes`` the bytes received (and echoed).
    ``syscalls`` holds the system calls the stage made itself besides
    ``io_uring_enter`` (``accept``, ``close``, ``epoll_wait``, ``recv``, ...);
    uring stages add their ring's :attr:`~uring.ring.Ring.enter_count`.
    ``events`` counts rare conditions by name (``accept_paused`` after
    EMFILE, ``enobufs``, ``read_paused``, ``sq_full``, ...), so a run shows
    which of its slow paths it took.
    """

    __slots__ = ("connections", "requests", "bytes", "syscalls", "events")

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.bytes = 0
        self.syscalls = 0
        self.events: dict[str, int] = {}

    def event(self, name: str, n: int = 1) -> None:
        """Count ``n`` occurrences of the rare condition ``name``."""
        self.events[name] = self.events.get(name, 0) + n


class Stopper:
    """Turns SIGINT and SIGTERM into a flag plus a readable pipe.

    The Python handler only sets :attr:`stopping`. ``signal.set_wakeup_fd``
    makes the C-level handler write a byte to the pipe as well, so a loop
    asleep in the kernel wakes through one of its own descriptors: the epoll
    stage registers :attr:`fd` with epoll, uring stages keep a poll request on
    it. (A uring wait interrupted by a signal is retried by :class:`Ring`,
    as PEP 475 prescribes, so the flag alone would not wake it.)
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.stopping = False
        self.fd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_wakeup = signal.set_wakeup_fd(self._wfd, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def _handle(self, signum, frame) -> None:
        self.stopping = True

    def close(self) -> None:
        """Restore the previous handlers and close the pipe."""
        for s, old in self._old.items():
            signal.signal(s, old)
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self.fd)
        os.close(self._wfd)


class EchoServer(abc.ABC):
    """An echo server stage: construct it ready to accept, :meth:`serve`, :meth:`close`.

    Subclasses set :attr:`OPTIONS` to the per-stage options they read from
    ``args`` and implement :meth:`serve` and :meth:`close`.
    """

    #: Names from :data:`OPTIONS` this stage accepts on the command line.
    OPTIONS: tuple[str, ...] = ()

    def __init__(self, listener: socket.socket, args: argparse.Namespace,
                 stopper: Stopper) -> None:
        self.listener = listener
        self.args = args
        self.stopper = stopper
        self.stats = Stats()

    @classmethod
    def unsupported(cls) -> str:
        """Empty if this kernel can run the stage, else why not (feature and kernel version)."""
        return ""

    @abc.abstractmethod
    def serve(self) -> None:
        """Echo until :attr:`stopper` says stop; return normally then."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close every connection and release kernel resources (rings, buffers)."""

    def syscalls(self) -> int:
        """System calls made so far (the stage's own count)."""
        return self.stats.syscalls


def open_listeners(host: str, port: int, count: int = 1,
                   backlog: int = socket.SOMAXCONN) -> list[socket.socket]:
    """``count`` non-blocking listening TCP sockets on ``host:port``.

    With several, all share the port through ``SO_REUSEPORT`` and the kernel
    spreads incoming connections over them; with ``port`` 0 the first one
    picks the port and the others join it. ``TCP_NODELAY`` is set here
    because Linux copies it to every accepted socket, sparing a
    ``setsockopt`` per connection: an echo is a reply, and Nagle's algorithm
    would hold back a short one while the previous is unacknowledged.
    """
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(family, socket.SOCK_STREAM)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.bind((host, port))
            port = s.getsockname()[1]
            s.listen(backlog)
            s.setblocking(False)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def format_summary(stage: str, workers: int, totals: dict) -> str:
    """The ``summary:`` line: ``key=value`` tokens separated by spaces.

    ``totals`` has ``connections``, ``requests``, ``bytes``, ``syscalls``,
    ``cpu_s`` (of which ``cpu_user_s`` and ``cpu_sys_s``), ``elapsed_s`` and
    any event counts, which follow in name order.
    """
    t = dict(totals)
    requests = t.pop("requests")
    syscalls = t.pop("syscalls")
    cpu_s = t.pop("cpu_s")
    cpu_user_s = t.pop("cpu_user_s", 0.0)
    cpu_sys_s = t.pop("cpu_sys_s", 0.0)
    per_request = syscalls / requests if requests else 0.0
    cpu_us = cpu_s * 1e6 / requests if requests else 0.0
    line = (f"summary: stage={stage} workers={workers} connections={t.pop('connections')} "
            f"requests={requests} bytes={t.pop('bytes')} syscalls={syscalls} "
            f"syscalls_per_request={per_request:.3f} cpu_s={cpu_s:.3f} "
            f"cpu_user_s={cpu_user_s:.3f} cpu_sys_s={cpu_sys_s:.3f} "
            f"cpu_us_per_request={cpu_us:.2f} elapsed_s={t.pop('elapsed_s'):.3f}")
    return " ".join([line] + [f"{k}={v}" for k, v in sorted(t.items())])


def parse_summary(line: str) -> dict[str, str]:
    """The ``key=value`` tokens of a ``summary:`` line as a dict of strings."""
    if not line.startswith("summary:"):
        raise ValueError(f"not a summary line: {line!r}")
    return dict(tok.split("=", 1) for tok in line.split()[1:])


def _cpu_seconds() -> tuple[float, float]:
    # getrusage has microsecond resolution; os.times() counts 10 ms ticks.
    # RUSAGE_SELF covers every thread, the kernel's io_uring threads included.
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def run_server(cls: type[EchoServer], listener: socket.socket, args: argparse.Namespace,
               ready) -> dict:
    """Run one server in this process until a signal stops it; return its totals.

    ``ready()`` is called once it can accept. The totals are what
    :func:`format_summary` takes.
    """
    stopper = Stopper()
    try:
        server = cls(listener, args, stopper)
        try:
            ready()
            (user0, sys0), t0 = _cpu_seconds(), time.monotonic()
            server.serve()
        finally:
            server.close()
        s = server.stats
        user, system = _cpu_seconds()
        return dict(s.events, connections=s.connections, requests=s.requests, bytes=s.bytes,
                    syscalls=server.syscalls(), cpu_s=user - user0 + system - sys0,
                    cpu_user_s=user - user0, cpu_sys_s=system - sys0,
                    elapsed_s=time.monotonic() - t0)
    finally:
        listener.close()
        stopper.close()


def announce(listener_name: tuple) -> None:
    """Print the ready line, ``listening on HOST:PORT``, for the listener's address."""
    host, port = listener_name[0], listener_name[1]
    print(f"listening on {host}:{port}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The options every stage has; a stage's own are added by :func:`main`."""
    p = argparse.ArgumentParser(
        prog="python -m uring.echo",
        description="Echo servers retelling io_uring's history one stage at a time.")
    p.add_argument("--stage", help="which server to run (see --list)")
    p.add_argument("--list", action="store_true", help="list the stages and exit")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=6666,
                   help="port to listen on; 0 picks a free one (default 6666)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes sharing the port with SO_REUSEPORT, one server each")
    p.add_argument("--listen-backlog", type=int, default=socket.SOMAXCONN, metavar="N",
                   help=f"listen(2) backlog (default {socket.SOMAXCONN})")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m uring.echo``: parse options, run the stage, print the summary."""
    from . import registry

    parser = build_parser()
    # A first pass finds the stage (without acting on --help), so that the
    # full parser, and --help, know that stage's own options.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--stage")
    pre.add_argument("--list", action="store_true")
    first, _ = pre.parse_known_args(argv)
    if first.list:
        width = max(len(s.name) for s in registry.STAGES)
        for s in registry.STAGES:
            print(f"{s.name:<{width}}  {s.summary}")
        return 0
    if first.stage is None:
        parser.parse_known_args(argv)  # --help still works without a stage
        parser.error("--stage is required (see --list)")
    try:
        stage = registry.find(first.stage)
    except KeyError as e:
        parser.error(str(e.args[0]))
    cls = stage.load()
    group = parser.add_argument_group(f"options of stage {stage.name}")
    for option in cls.OPTIONS:
        flag, kwargs = OPTIONS[option]
        group.add_argument(flag, dest=option, **kwargs)
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    reason = cls.unsupported()
    if reason:
        print(f"stage {stage.name} cannot run on this kernel: {reason}", file=sys.stderr)
        return 2

    listeners = open_listeners(args.host, args.port, args.workers, args.listen_backlog)
    if args.workers == 1:
        name = listeners[0].getsockname()
        totals, ok = run_server(cls, listeners[0], args, lambda: announce(name)), True
    else:
        from .workers import serve_workers   # here: workers imports this module

        totals, ok = serve_workers(cls, listeners, args)
    # On a terminal the ^C the tty echoed ends the line: the summary gets its own.
    print("\n" * sys.stdout.isatty() + format_summary(stage.name, args.workers, totals),
          flush=True)
    return 0 if ok else 1
