"""What every peer server shares: the command line, the listening socket, the ready line."""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import time

__all__ = ["parse_args", "listen", "announce", "print_summary"]


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """``--host`` (default 127.0.0.1) and ``--port`` (default 6666; 0 picks one)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6666)
    return ap.parse_args(argv)


def listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening TCP socket with TCP_NODELAY (inherited by accepted sockets)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(socket.SOMAXCONN)
    sock.setblocking(False)
    return sock


def announce(sock: socket.socket) -> None:
    """Print the ready line ``listening on HOST:PORT`` and flush it."""
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    print(f"listening on {host}:{port}", flush=True)


def print_summary(server: str, connections: int, started: float) -> None:
    """The ``summary:`` line of ``key=value`` tokens printed when the server stops."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    print(f"summary: server={server} connections={connections} "
          f"cpu_s={r.ru_utime + r.ru_stime:.3f} elapsed_s={time.monotonic() - started:.3f}",
          flush=True)
    sys.stdout.flush()
