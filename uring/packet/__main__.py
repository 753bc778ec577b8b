"""``python -m uring.packet``: list the receive paths, or run one end to end.

::

    python -m uring.packet list
    python -m uring.packet run afxdp --size 64 --count 100000 [--rate 200000]
    python -m uring.packet run recvmmsg --duration 2

``run`` builds a fresh sender/receiver namespace pair, runs the receiver and
the generator (:func:`uring.packet.lab.run_point`), prints both results and
tears everything down, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

from . import netns, stacks
from .frames import check_size
from .lab import Point, StackError, run_point


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m uring.packet", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the receive paths and whether they can run here")
    run = sub.add_parser("run", help="run one receive path against the generator")
    run.add_argument("stack", choices=stacks.names())
    run.add_argument("--size", type=int, default=64)
    run.add_argument("--count", type=int, default=0)
    run.add_argument("--duration", type=float, default=0.0)
    run.add_argument("--rate", type=float, default=0.0)
    run.add_argument("--queues", type=int, default=1)
    args = ap.parse_args(argv)
    if args.cmd == "list":
        for stack in stacks.STACKS.values():
            why = stacks.unavailable(stack)
            print(f"{stack.name:<15} {stack.description}" + (f"  [{why}]" if why else ""))
        return 0
    try:
        check_size(args.size)
        if not args.count and not args.duration:
            raise ValueError("give --count or --duration")
        with netns.Topology(queues=args.queues) as topo:
            rx, gen = run_point(topo, Point(args.stack, size=args.size, count=args.count,
                                            duration=args.duration, rate=args.rate))
    except (ValueError, PermissionError, FileNotFoundError, StackError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"sent     {gen.sent:>12,} frames in {gen.seconds:.3f} s ({gen.pps:,.0f}/s)"
          f"{' [C]' if gen.native else ' [Python]'}")
    print(f"received {rx.unique:>12,} distinct frames ({rx.pps:,.0f}/s), "
          f"{rx.duplicates} duplicates, {rx.reordered} reordered, {rx.foreign} foreign"
          f"{' [C]' if rx.native else ' [Python]'}")
    if gen.sent:
        print(f"loss     {1 - rx.unique / gen.sent:.2%}")
    for note in (gen.note, rx.note):
        if note:
            print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
