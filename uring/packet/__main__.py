"""``python -m uring.packet``: list the receive paths, or run one end to end.

::

    python -m uring.packet list
    python -m uring.packet run afxdp --size 64 --count 100000 [--rate 200000]
    python -m uring.packet run recvmmsg --duration 2

``list`` says of each path whether it can run here (``runnable``) or what it
lacks (``unavailable``, with the reason). ``run`` needs root: it builds a
fresh sender/receiver namespace pair, runs the receiver and the generator
(:func:`uring.packet.lab.run_point`), prints both results and tears
everything down, also on Ctrl-C.
"""

from __future__ import annotations

import sys

from .. import _cli
from . import netns, stacks
from .frames import check_size
from .lab import Point, StackError, run_point


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = _cli.make_parser("python -m uring.packet", __doc__)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="{list,run}")
    sub.add_parser("list", help="the receive paths and whether they can run here")
    run = sub.add_parser("run", help="run one receive path against the generator (root)",
                         description="Run one receive path against the generator in a fresh "
                                     "namespace pair; give --count or --duration.")
    run.add_argument("stack", choices=stacks.names(), metavar="STACK",
                     help=f"the receive path: {', '.join(stacks.names())}")
    run.add_argument("--size", type=int, default=64,
                     help="frame size in bytes, without FCS, 60..1514 (default 64)")
    run.add_argument("--count", type=_cli.int_range(0), default=0,
                     help="frames to send (0: send for --duration instead)")
    run.add_argument("--duration", type=_cli.number(0), default=0.0,
                     help="seconds to send (0: send --count frames instead)")
    run.add_argument("--rate", type=_cli.number(0), default=0.0,
                     help="frames per second (default 0: as fast as the generator can)")
    run.add_argument("--queues", type=int, default=1,
                     help="RX/TX queues of each veth end, 1..64 (default 1)")
    args = ap.parse_args(argv)
    if args.cmd == "list":
        width = max(len(name) for name in stacks.STACKS)
        for stack in stacks.STACKS.values():
            why = stacks.unavailable(stack)
            print(f"{stack.name:<{width}}  {'unavailable' if why else 'runnable':<11}  "
                  f"{stack.description}" + (f"  [{why}]" if why else ""))
        return 0
    try:
        check_size(args.size)
        if not args.count and not args.duration:
            raise ValueError("give --count or --duration")
    except ValueError as e:
        run.error(str(e))
    try:
        with netns.Topology(queues=args.queues) as topo:
            rx, gen = run_point(topo, Point(args.stack, size=args.size, count=args.count,
                                            duration=args.duration, rate=args.rate))
    except ValueError as e:
        run.error(str(e))
    except (PermissionError, FileNotFoundError, StackError) as e:
        print(f"{run.prog}: error: {e}", file=sys.stderr)
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
    _cli.run(main)
