"""``python -m uring.bench packets``: received packets per second of every receive path.

For each frame size, every available stack (:mod:`uring.packet.stacks`)
receives what the generator sends at full speed for ``--duration`` seconds,
in a fresh sender/receiver namespace pair (:mod:`uring.packet.netns`). The
stacks are interleaved — each repeat runs all of them at every size, in an
order rotated per repeat — so slow drifts of this shared machine hit them
all alike; each point is repeated ``--repeats`` times (5 by default) and
reported as median (min–max).

Figures: **rx pps** is the receiver's own count of distinct frames over the
time from its first to its last frame; **loss** is the share of the frames
the generator handed to the device that the receiver never counted (the
veth's ring, the socket queue or the AF_XDP ring overflowed). With the
default single receive CPU the kernel's NAPI thread and the receiver share
that CPU, as they share a core on a busy server.

Stacks the machine cannot run are listed with the reason (a helper not
built); a stack the kernel refuses (zcrx here: EOPNOTSUPP) is listed with
the kernel's answer, once. Results go to ``results/packets-<timestamp>/``:
``runs.csv`` (every run), ``summary.csv``, ``summary.md`` and ``packets.svg``.

    python -m uring.bench packets [--sizes 64,512,1500] [--repeats 5] [--duration 1]
                                  [--stacks recvmmsg,afxdp-c] [--queues 1] [--cores 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

from .. import _cli
from ..packet import netns, stacks
from ..packet.frames import check_size
from ..packet.lab import Point, StackError, flows_for, run_point
from .stats import fmt_spread, spread
from .svg import line_chart

__all__ = ["main", "build_parser", "plan"]


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options."""
    ap = _cli.make_parser("python -m uring.bench packets", __doc__)
    ap.add_argument("--sizes", default="64,512,1500",
                    help="frame sizes in bytes, without FCS, 60..1514 (default 64,512,1500)")
    ap.add_argument("--stacks", default="all",
                    help=f"comma-separated stacks (default all: {','.join(stacks.names())})")
    ap.add_argument("--repeats", type=_cli.int_range(1), default=5,
                    help="runs per point (default 5)")
    ap.add_argument("--duration", type=float, default=1.0,
                    help="seconds the generator sends per run (default 1)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="generator rate in frames/s (default 0: as fast as it can)")
    ap.add_argument("--queues", type=_cli.int_range(1, 64), default=1,
                    help="RX/TX queues per veth end (one NAPI thread each)")
    ap.add_argument("--cores", type=int, default=1,
                    help="CPUs for the receive side (NAPI threads spread over them; the "
                         "receiver runs on the first)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default results/packets-<timestamp>)")
    return ap


def plan(args: argparse.Namespace) -> tuple[list[int], list[str], dict[str, str]]:
    """Sizes, runnable stacks, and {stack: why not} for the others; ``ValueError`` on bad input."""
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes:
        raise ValueError(f"--sizes {args.sizes!r}: expected comma-separated frame sizes "
                         "in bytes, such as 64,512,1500")
    sizes = [check_size(s) for s in sizes]
    names = stacks.names() if args.stacks == "all" else \
        [s.strip() for s in args.stacks.split(",") if s.strip()]
    for name in names:
        stacks.get(name)
    if args.repeats < 1 or args.duration <= 0:
        raise ValueError("repeats must be >= 1 and duration > 0")
    cpus = sorted(os.sched_getaffinity(0))
    if args.cores < 1 or args.cores + 1 > max(len(cpus), 2):
        raise ValueError(f"--cores {args.cores}: this machine has {len(cpus)} CPUs, one of "
                         f"which the generator uses")
    skipped = {n: why for n in names if (why := stacks.unavailable(stacks.get(n)))}
    return sizes, [n for n in names if n not in skipped], skipped


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the files."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sizes, names, skipped = plan(args)
    except ValueError as e:
        parser.error(str(e))
    try:
        netns.check_prerequisites()
    except (PermissionError, FileNotFoundError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    out = args.out or Path("results") / time.strftime("packets-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    cpus = sorted(os.sched_getaffinity(0))
    tx_cpus = cpus[:1]
    rx_cpus = cpus[1:1 + args.cores] if len(cpus) > 1 else cpus
    for name, why in skipped.items():
        print(f"skipping {name}: {why}")
    refused: dict[str, str] = {}
    runs: list[dict] = []
    with netns.Topology(queues=args.queues, tx_cpus=tx_cpus, rx_cpus=rx_cpus) as topo:
        print(f"topology: {topo.tx_ns} -> {topo.rx_ns}, generator on CPU {tx_cpus}, "
              f"receive side on CPU {rx_cpus}, {args.queues} queue(s)"
              # Point.flows 0: run_point spreads the frames over this many flows.
              + (f", {flows_for(args.queues)} flows" if args.queues > 1 else ""))
        for rep in range(args.repeats):
            for size in sizes:
                active = [n for n in names if n not in refused]
                shift = rep % len(active) if active else 0
                for name in active[shift:] + active[:shift]:
                    row = _run_one(topo, name, size, args, refused)
                    if row is not None:
                        row["repeat"] = rep
                        runs.append(row)
                        print(f"  repeat {rep + 1}/{args.repeats} {size:>5} B {name:<15} "
                              f"{row['rx_pps']:>12,.0f} pps  loss {row['loss']:6.1%}",
                              flush=True)
    _write(out, sizes, names, runs, skipped, refused, args)
    return 0


def _run_one(topo, name: str, size: int, args, refused: dict) -> dict | None:
    point = Point(name, size=size, duration=args.duration, rate=args.rate, idle=0.5,
                  timeout=args.duration + 20)
    try:
        rx, gen = run_point(topo, point)
    except StackError as e:
        refused[name] = str(e)
        print(f"  {name}: not measured: {e}")
        return None
    received = rx.unique
    return {"stack": name, "size": size, "rx_pps": rx.pps, "received": received,
            "sent": gen.sent, "loss": 1 - received / gen.sent if gen.sent else 0.0,
            "gen_pps": gen.pps, "duplicates": rx.duplicates, "native": rx.native,
            "gen_native": gen.native}


def _write(out: Path, sizes, names, runs, skipped, refused, args) -> None:
    with open(out / "runs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["repeat", "stack", "size", "rx_pps", "received",
                                          "sent", "loss", "gen_pps", "duplicates", "native",
                                          "gen_native"])
        w.writeheader()
        w.writerows(runs)
    measured = [n for n in names if n not in refused]
    table = {}
    for name in measured:
        for size in sizes:
            rows = [r for r in runs if r["stack"] == name and r["size"] == size]
            table[name, size] = (spread(r["rx_pps"] for r in rows),
                                 spread(r["loss"] * 100 for r in rows))
    lines = [f"# Packet receive rate (rx packets/s, median (min–max) of {args.repeats}; "
             f"loss %, median)", "",
             "| stack | " + " | ".join(f"{s} B" for s in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["stack", "size", "rx_pps_median", "rx_pps_min", "rx_pps_max",
                    "loss_pct_median", "runs"])
        for name in measured:
            cells = []
            for size in sizes:
                pps, loss = table[name, size]
                cells.append(f"{fmt_spread(pps)}, loss {fmt_spread(loss, 1, False)}%")
                if pps is not None:
                    w.writerow([name, size, round(pps.median), round(pps.lo), round(pps.hi),
                                round(loss.median, 2), pps.n])
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for name, why in {**skipped, **refused}.items():
        # The kernel's refusal in its first sentence; the full text was printed above.
        lines.append(f"- {name}: not measured: {why.split('. ')[0]}.")
    if measured:
        line_chart(out / "packets.svg", "Received packets per second", "frame size (bytes)",
                   "rx packets/s (median)", sizes,
                   {n: [table[n, s][0].median if table[n, s][0] else None for s in sizes]
                    for n in measured})
        # The docs' benchmarks page shows summary.md, charts included, as written.
        lines += ["", "![received packets per second by frame size](packets.svg)"]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print()
    print(text)
    print(f"results: {out}/ (summary.md, summary.csv, runs.csv, packets.svg)")


if __name__ == "__main__":
    _cli.run(main)
