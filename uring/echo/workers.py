"""``--workers N``: one server process per listening socket, one report for all of them.

Every worker is a forked child running its own server (and its own ring:
a ring belongs to the task that set it up, so rings are created after
``fork``) on its own ``SO_REUSEPORT`` listener; the kernel spreads the
connections over them. The parent only relays: the ready line once every
child can accept, SIGINT/SIGTERM to the children, their totals added up.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import sys
import traceback

from .common import EchoServer, Stopper, announce, run_server

__all__ = ["serve_workers"]


def serve_workers(cls: type[EchoServer], listeners: list[socket.socket],
                  args: argparse.Namespace) -> tuple[dict, bool]:
    """One process per listener (``--workers``): each its own server and ring.

    Children report on a pipe: ``ready`` once they accept, then their totals
    as ``key=value`` tokens when they stop. The parent prints the ready line
    once all are ready, forwards SIGINT/SIGTERM as SIGTERM, and returns the
    totals added up and whether every child exited with status 0. Rings are
    created in the children, after ``fork``: a ring belongs to the task that
    set it up.
    """
    name = listeners[0].getsockname()
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    pids = []
    for mine in listeners:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(rfd)
                for other in listeners:
                    if other is not mine:
                        other.close()
                totals = run_server(cls, mine, args, lambda: os.write(wfd, b"ready\n"))
                line = " ".join(f"{k}={v}" for k, v in totals.items()) + "\n"
                os.write(wfd, line.encode())
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        pids.append(pid)
    os.close(wfd)
    for s in listeners:
        s.close()

    reports: list[bytes] = []
    pending = b""
    ready = 0
    stopper = Stopper()
    try:
        # Lines from several children never interleave: each is one write()
        # shorter than PIPE_BUF, which the kernel keeps whole.
        while not stopper.stopping and not reports:
            readable, _, _ = select.select([rfd, stopper.fd], [], [])
            if rfd not in readable:
                continue
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line != b"ready":
                    reports.append(line)  # a worker stopped on its own
                    continue
                ready += 1
                if ready == len(pids):
                    announce(name)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        ok = all(os.waitpid(pid, 0)[1] == 0 for pid in pids)
    finally:
        stopper.close()
    while chunk := os.read(rfd, 65536):
        pending += chunk
    os.close(rfd)
    reports += [line for line in pending.split(b"\n") if line and line != b"ready"]

    totals: dict = dict(connections=0, requests=0, bytes=0, syscalls=0, cpu_s=0.0,
                        cpu_user_s=0.0, cpu_sys_s=0.0, elapsed_s=0.0)
    for line in reports:
        for key, value in (tok.split("=", 1) for tok in line.decode().split()):
            if key == "elapsed_s":
                totals[key] = max(totals[key], float(value))
            elif key.startswith("cpu_"):
                totals[key] += float(value)
            else:
                totals[key] = totals.get(key, 0) + int(value)
    return totals, ok and len(reports) == len(pids)
