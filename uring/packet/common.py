"""What every receiver shares: its options, the stop rules, the ready line and the result line.

A receiver module defines ``receive(cfg, ready) -> RxResult`` and ends with
``sys.exit(run_receiver("name", receive))``. This module gives it:

* :class:`RxConfig`, filled from the command line (:func:`rx_parser`):
  interface, UDP port, run id, how many frames to wait for, time limits,
  CPU, whether to use the C hot loop, which RX queues (receivers bound to
  a queue — AF_XDP, DPDK — take ``--queues`` of them from ``--queue`` on,
  by default every queue the device has: :meth:`RxConfig.queue_ids`);
* the **stop rules** every receive loop checks (:meth:`RxConfig.should_stop`):
  ``--count`` frames arrived, no frame for ``--idle`` seconds after the
  first, ``--timeout`` seconds in all, or SIGINT/SIGTERM. Every wait in a
  receive loop is bounded (:data:`POLL_SLICE`) so the rules are checked;
* the protocol with the process that started it: one JSON line
  ``{"event": "ready"}`` once the receiver can take frames (socket bound,
  XDP program attached), and one ``{"event": "result", ...}`` line at the
  end (:class:`~uring.packet.stats.RxResult`). Errors print
  ``{"event": "error", "message": ...}`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import time
import traceback
from dataclasses import dataclass
from typing import Callable

from .. import _cli
from .frames import DEFAULT_PORT
from .stats import RxResult

__all__ = ["POLL_SLICE", "RxConfig", "Unsupported", "ifindex", "rx_queue_count", "pin_cpu",
           "emit", "rx_parser", "config_from_args", "run_receiver", "StopFlag", "STOP"]

#: Longest single wait inside a receive loop, in seconds.
POLL_SLICE = 0.05


class Unsupported(OSError):
    """The kernel or the device refused a receive path; the message says what is missing."""


class StopFlag:
    """Set by SIGINT/SIGTERM; receive loops check it between bounded waits."""

    __slots__ = ("set", "signum")

    def __init__(self) -> None:
        self.set = False
        self.signum = 0

    def trip(self, signum: int, frame=None) -> None:
        """Signal handler: remember the signal, let the loop end itself."""
        self.set = True
        self.signum = signum


STOP = StopFlag()


def ifindex(name: str) -> int:
    """Index of interface ``name`` in this network namespace; ``ValueError`` naming it if absent."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        have = ", ".join(n for _, n in socket.if_nameindex())
        raise ValueError(f"unknown interface {name!r} in this network namespace "
                         f"(there are: {have})") from None


def rx_queue_count(name: str) -> int:
    """How many RX queues interface ``name`` has now (``real_num_rx_queues``).

    Counted from ``/sys/class/net/<name>/queues/rx-*``, which shows this
    network namespace's devices when sysfs was mounted in it (``ip netns
    exec`` does that). ``ValueError`` if the directory is not there.
    """
    path = f"/sys/class/net/{name}/queues"
    try:
        entries = os.listdir(path)
    except OSError:
        raise ValueError(f"cannot count the RX queues of {name!r}: no {path} (is /sys "
                         f"mounted in this network namespace? `ip netns exec` does it)") from None
    return sum(1 for e in entries if e.startswith("rx-")) or 1


def pin_cpu(cpu: int | None) -> None:
    """Run this process on ``cpu`` only (no-op for None); ``ValueError`` for a CPU not allowed."""
    if cpu is None:
        return
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        raise ValueError(f"cpu {cpu} is not one of this process's CPUs {sorted(allowed)}")
    os.sched_setaffinity(0, {cpu})


def emit(event: str, **data) -> None:
    """Print one JSON event line and flush it (the parent reads line by line)."""
    print(json.dumps({"event": event, **data}), flush=True)


@dataclass
class RxConfig:
    """A receiver's settings; see :func:`rx_parser` for what each means."""

    iface: str
    port: int = DEFAULT_PORT
    run_id: int = 0
    count: int = 0
    timeout: float = 10.0
    idle: float = 1.0
    cpu: int | None = None
    native: str = "auto"
    batch: int = 64
    xdp_mode: str = "auto"
    queue: int = 0
    queues: int = 0
    extra: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be in 1..65535, not {self.port!r}")
        if not 0 <= self.run_id <= 0xFFFFFFFF:
            raise ValueError(f"run_id must be a u32, not {self.run_id!r}")
        if self.count < 0 or self.timeout <= 0 or self.idle <= 0:
            raise ValueError("count must be >= 0, timeout and idle > 0")
        if self.native not in ("auto", "yes", "no"):
            raise ValueError(f"native must be auto, yes or no, not {self.native!r}")
        if not 1 <= self.batch <= 4096:
            raise ValueError(f"batch must be in 1..4096, not {self.batch!r}")
        if self.queue < 0 or not 0 <= self.queues <= 64:
            raise ValueError(f"queue must be >= 0 and queues in 0..64, not {self.queue!r} "
                             f"and {self.queues!r}")
        self.started = time.monotonic()

    def queue_ids(self) -> list[int]:
        """The RX queues to receive on: ``queues`` of them from ``queue`` on.

        ``queues`` 0 means every queue the interface has from ``queue`` on
        (:func:`rx_queue_count`). ``ValueError`` for queues it does not have.
        """
        have = rx_queue_count(self.iface)
        want = self.queues or have - self.queue
        if want < 1 or self.queue + want > have:
            raise ValueError(f"{self.iface} has RX queues 0..{have - 1}; cannot receive on "
                             f"{want} queue(s) from queue {self.queue}")
        return list(range(self.queue, self.queue + want))

    def should_stop(self, unique: int, last: float, now: float) -> str:
        """The rule that ends the run now, or "" to go on (see the module docstring).

        ``unique`` is the number of distinct frames so far, ``last`` the
        ``time.monotonic()`` stamp of the latest one (0 before the first).
        """
        if self.count and unique >= self.count:
            return "count"
        if STOP.set:
            return f"signal {STOP.signum}"
        if now - self.started >= self.timeout:
            return "timeout"
        if last and now - last >= self.idle:
            return "idle"
        return ""


def rx_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options every receiver takes."""
    ap = _cli.make_parser(prog, description)
    ap.add_argument("--iface", required=True, help="interface to receive on")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="UDP destination port")
    ap.add_argument("--run-id", type=int, default=0, help="only count frames of this run id")
    ap.add_argument("--count", type=int, default=0,
                    help="stop once this many distinct frames arrived (0: no limit)")
    ap.add_argument("--timeout", type=float, default=10.0, help="stop after this many seconds")
    ap.add_argument("--idle", type=float, default=1.0,
                    help="stop this many seconds after the last frame")
    ap.add_argument("--cpu", type=int, default=None, help="pin the receiver to this CPU")
    ap.add_argument("--native", choices=("auto", "yes", "no"), default="auto",
                    help="use the C hot loop from native_hot/ (auto: if built)")
    ap.add_argument("--batch", type=int, default=64, help="frames per system call / batch")
    ap.add_argument("--xdp-mode", choices=("auto", "native", "generic"), default="auto",
                    help="AF_XDP/DPDK: XDP attach mode")
    ap.add_argument("--queue", type=int, default=0,
                    help="RX queue (zcrx), or the first of --queues (AF_XDP, DPDK)")
    ap.add_argument("--queues", type=int, default=0,
                    help="AF_XDP/DPDK: RX queues to receive on, from --queue on (0: all)")
    ap.add_argument("--extra", default="", help="DPDK: net_af_packet or net_af_xdp")
    return ap


def config_from_args(args: argparse.Namespace) -> RxConfig:
    """:class:`RxConfig` from parsed :func:`rx_parser` options."""
    return RxConfig(iface=args.iface, port=args.port, run_id=args.run_id, count=args.count,
                    timeout=args.timeout, idle=args.idle, cpu=args.cpu, native=args.native,
                    batch=args.batch, xdp_mode=args.xdp_mode, queue=args.queue,
                    queues=args.queues, extra=args.extra)


def run_receiver(stack: str, receive: Callable[[RxConfig, Callable[[], None]], RxResult],
                 argv: list[str] | None = None, description: str = "") -> int:
    """Command-line entry point of a receiver module: parse, receive, print the result.

    Exit status 0 with a result line; 2 with an error line (bad options,
    unknown interface, a refusal by the kernel).
    """
    args = rx_parser(f"python -m uring.packet.{stack}", description).parse_args(argv)
    signal.signal(signal.SIGTERM, STOP.trip)
    signal.signal(signal.SIGINT, STOP.trip)
    try:
        cfg = config_from_args(args)
        ifindex(cfg.iface)
        pin_cpu(cfg.cpu)
        result = receive(cfg, lambda: emit("ready", stack=stack))
    except PermissionError as e:
        emit("error", stack=stack, errno=e.errno, kind=type(e).__name__,
             message=f"{stack} needs root (CAP_NET_RAW for packet sockets, CAP_NET_ADMIN "
                     f"and CAP_BPF for XDP, CAP_IPC_LOCK for large pinned memory): {e}")
        return 2
    except (OSError, ValueError) as e:
        emit("error", stack=stack, message=str(e), errno=getattr(e, "errno", None),
             kind=type(e).__name__)
        return 2
    except Exception as e:  # an unexpected failure: report it on the protocol too
        emit("error", stack=stack, message=f"{type(e).__name__}: {e}", errno=None,
             kind=type(e).__name__, trace=traceback.format_exc())
        return 2
    print(result.to_json(), flush=True)
    return 0

