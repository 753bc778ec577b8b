"""The lab's frame generator: AF_PACKET + ``sendmmsg`` + ``PACKET_QDISC_BYPASS``.

::

    python -m uring.packet.gen --iface utx1a2b3c --dst-mac 02:75:72:00:00:02 \\
        --size 64 --count 100000 [--rate 50000] [--duration 2]

Frames (see :mod:`uring.packet.frames`) are written into one buffer of
``--batch`` frames and handed to the device with one ``sendmmsg(2)`` per
batch, after patching each frame's sequence number and checksum. The socket
skips the qdisc layer (``PACKET_QDISC_BYPASS``, 3.14), so frames go straight
to the veth's transmit function. Back-pressure comes back as two errors:

* ``EAGAIN``: the socket's send buffer is full of frames still queued on the
  veth's ring (they are charged to the socket until the receiver takes
  them): wait until ``poll`` says writable, then resend what was not sent;
* ``ENOBUFS``: the device refused the frame (its ring is full): yield
  briefly and resend. Counted separately in the result.

``--rate`` paces the batches (frames per second, 0 = as fast as possible),
``--count``/``--duration`` bound the run (at least one is required).
``--flows F`` sends frame ``seq`` from UDP source port ``--sport + seq % F``,
so a multi-queue device (``netns --queues N``) spreads them over its
queues by flow hash (:mod:`uring.packet.frames`, :mod:`uring.packet.netns`).

If ``native_hot/build/pktgen`` exists it runs instead (same options, same
result line) unless ``--native no``; without it this Python loop runs and
says so on stderr. The last stdout line is a JSON object with ``"event":
"sent"`` (:class:`~uring.packet.stats.GenResult`).
"""

from __future__ import annotations

import argparse
import errno
import os
import select
import socket
import sys
import time

from .. import _cli, native
from .abi.if_packet import PACKET_QDISC_BYPASS, SOL_PACKET
from .common import emit, ifindex, pin_cpu
from .frames import DEFAULT_PORT, Template
from .libc import MSG_DONTWAIT, MmsgBatch, sendmmsg
from .netns import RX_IP, RX_MAC, TX_IP, TX_MAC
from .stats import GenResult

__all__ = ["build_parser", "template_from_args", "send", "main", "STALL_SECONDS"]

#: Give up when the device takes nothing for this long (a receiver that died).
STALL_SECONDS = 5.0


def build_parser() -> argparse.ArgumentParser:
    """The generator's options (``native_hot/pktgen`` takes the same ones)."""
    ap = _cli.make_parser("python -m uring.packet.gen", __doc__)
    ap.add_argument("--iface", required=True, help="interface to send on")
    ap.add_argument("--size", type=int, default=64,
                    help="frame size without FCS, 60..MTU+14 (default 64)")
    ap.add_argument("--count", type=int, default=0, help="frames to send (0: no limit)")
    ap.add_argument("--duration", type=float, default=0.0,
                    help="seconds to send for (0: no limit)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="frames per second (0: as fast as possible)")
    ap.add_argument("--batch", type=int, default=64, help="frames per sendmmsg (1..1024)")
    ap.add_argument("--src-mac", default=TX_MAC)
    ap.add_argument("--dst-mac", default=RX_MAC)
    ap.add_argument("--src-ip", default=TX_IP)
    ap.add_argument("--dst-ip", default=RX_IP)
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="UDP destination port")
    ap.add_argument("--sport", type=int, default=DEFAULT_PORT,
                    help="UDP source port (the first one, with --flows)")
    ap.add_argument("--flows", type=int, default=1,
                    help="source ports to take turns on: frame seq leaves from "
                         "sport + seq %% flows (default 1)")
    ap.add_argument("--run-id", type=int, default=0, help="u32 stamped into every payload")
    ap.add_argument("--mtu", type=int, default=1500, help="MTU the size is checked against")
    ap.add_argument("--cpu", type=int, default=None, help="pin the sender to this CPU")
    ap.add_argument("--native", choices=("auto", "yes", "no"), default="auto",
                    help="run native_hot/build/pktgen (auto: if built)")
    return ap


def template_from_args(args: argparse.Namespace) -> Template:
    """Check the options and build the frame template (``ValueError`` on bad input)."""
    if args.count < 0 or args.duration < 0 or args.rate < 0:
        raise ValueError("count, duration and rate must not be negative")
    if not args.count and not args.duration:
        raise ValueError("give --count or --duration (or both): the run must be bounded")
    if not 1 <= args.batch <= 1024:
        raise ValueError(f"batch must be in 1..1024, not {args.batch}")
    return Template(args.size, src_mac=args.src_mac, dst_mac=args.dst_mac,
                    src_ip=args.src_ip, dst_ip=args.dst_ip, dport=args.port,
                    sport=args.sport, run_id=args.run_id, mtu=args.mtu, flows=args.flows)


def send(args: argparse.Namespace, tpl: Template) -> GenResult:
    """Send the frames the options ask for, from Python; return the counts."""
    ifindex(args.iface)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: never receives
    try:
        sock.bind((args.iface, 0))
        sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        return _send_loop(sock, args, tpl)
    finally:
        sock.close()


def _send_loop(sock: socket.socket, args: argparse.Namespace, tpl: Template) -> GenResult:
    fd, size = sock.fileno(), tpl.size
    batch = args.batch
    if args.rate:
        # Pace in slices of about a millisecond, so bursts stay short.
        batch = max(1, min(batch, int(args.rate / 1000)))
    msgs = MmsgBatch(batch, size)
    for i in range(batch):
        msgs.buf[i * size:(i + 1) * size] = tpl.frame0
    set_seq, buf = tpl.set_seq, msgs.buf
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    res = GenResult(native=False)
    count, rate = args.count, args.rate
    seq = 0
    t0 = time.monotonic()
    end = t0 + args.duration if args.duration else float("inf")
    last_progress = t0
    while True:
        n = batch if not count else min(batch, count - seq)
        if n <= 0:
            break
        now = time.monotonic()
        if now >= end:
            break
        if rate:
            due = t0 + seq / rate
            if due > now:
                time.sleep(due - now)
        for i in range(n):
            set_seq(buf, i * size, seq + i)
        done = 0
        while done < n:
            try:
                done += sendmmsg(fd, msgs.address(done), n - done, MSG_DONTWAIT)
                last_progress = time.monotonic()
                continue
            except BlockingIOError:
                res.eagain += 1
                poller.poll(10)
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                res.enobufs += 1
                os.sched_yield()
            now = time.monotonic()
            if now - last_progress > STALL_SECONDS:
                raise TimeoutError(f"the device took no frame for {STALL_SECONDS:.0f} s "
                                   f"({res.eagain} EAGAIN, {res.enobufs} ENOBUFS)")
            if now >= end:
                break
        seq += done
        if done < n:
            break
    res.seconds = time.monotonic() - t0
    res.sent = seq
    res.bytes = seq * size
    return res


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: run pktgen if built (and wanted), else the Python loop."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        tpl = template_from_args(args)
        ifindex(args.iface)
        pin_cpu(args.cpu)
    except (ValueError, OSError) as e:
        emit("error", message=str(e), kind=type(e).__name__)
        return 2
    note = ""
    if args.native != "no":
        path = native.binary("pktgen")
        if path is not None:
            # Same options, same output: the C loop simply replaces this process.
            sys.stdout.flush()
            os.execv(path, [str(path), *argv])
        note = native.why_unavailable("pktgen") + "; sending from Python"
        if args.native == "yes":
            emit("error", message=native.why_unavailable("pktgen"), kind="FileNotFoundError")
            return 2
        print(f"uring.packet.gen: {note}", file=sys.stderr, flush=True)
    try:
        res = send(args, tpl)
    except (ValueError, OSError) as e:
        emit("error", message=str(e), kind=type(e).__name__)
        return 2
    res.note = note
    print(res.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
