"""``python -m uring.bench tcp-rx``: TCP receive bandwidth, io_uring multishot RECV vs epoll.

The receivers are :mod:`uring.packet.tcp_rx` (``uring``: one multishot RECV
into a buffer ring; ``epoll``: ``epoll_wait`` + ``recv_into``), each reading
one connection from :mod:`uring.packet.tcp_send` over loopback to EOF. The
sender runs on one CPU and the receiver on another; the receivers are
interleaved (order rotated each repeat) and each point repeated
``--repeats`` times (5 by default), reported as median (min–max).

Figures: **Gbit/s** over the time from the receiver's first byte to EOF;
**CPU s/GB**: the receiver's own CPU time (user + system, all its threads)
over that span, per 10^9 bytes. On loopback the sender's CPU also carries the
TCP receive processing (softirq), so the receiver's figure is the cost of
getting bytes from the socket into the program. Results go to
``results/tcp-rx-<timestamp>/`` (``runs.csv``, ``summary.md``, ``tcp-rx.svg``).

    python -m uring.bench tcp-rx [--repeats 5] [--bytes 2000000000] [--buffer-sizes 65536]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from .. import _cli
from ..packet.lab import EventReader, repo_env
from .stats import fmt_spread, spread
from .svg import line_chart

__all__ = ["main", "build_parser", "run_once"]

RECEIVERS = ("uring", "epoll")


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options."""
    ap = _cli.make_parser("python -m uring.bench tcp-rx", __doc__)
    ap.add_argument("--receivers", type=_receivers, default=list(RECEIVERS),
                    help="comma-separated: uring, epoll (default both)")
    ap.add_argument("--repeats", type=_cli.int_range(1), default=5,
                    help="runs per point (default 5)")
    ap.add_argument("--bytes", type=_cli.int_range(1), default=2_000_000_000,
                    help="bytes per run (default 2000000000)")
    ap.add_argument("--buffer-sizes", type=_cli.int_list(1, 2**31 - 1, "buffer sizes"),
                    default=(65536,),
                    help="receive buffer sizes to compare, comma-separated (default 65536)")
    ap.add_argument("--buffers", type=_cli.int_range(1, 32768), default=64,
                    help="buffers in the io_uring buffer ring, 1..32768 (default 64)")
    ap.add_argument("--chunk", type=_cli.int_range(1), default=1 << 16,
                    help="sender bytes per send() (default 65536)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default results/tcp-rx-<timestamp>)")
    return ap


def _receivers(text: str) -> list[str]:
    names = [r.strip() for r in text.split(",") if r.strip()]
    if not names or any(r not in RECEIVERS for r in names):
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r} (expected a comma-separated choice of "
            f"{', '.join(RECEIVERS)})")
    return names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(receiver: str, nbytes: int, buffer_size: int, buffers: int, chunk: int,
             cpus: tuple[int, int], verify: bool = False) -> dict:
    """One run: start the receiver, send ``nbytes`` over loopback, return its result line."""
    port = _free_port()
    env = repo_env()
    rx_argv = [sys.executable, "-m", "uring.packet.tcp_rx", receiver, "--port", str(port),
               "--buffer-size", str(buffer_size), "--buffers", str(buffers),
               "--cpu", str(cpus[1]), "--timeout", "120"] + (["--verify"] if verify else [])
    rx = subprocess.Popen(rx_argv, stdout=subprocess.PIPE, text=True, env=env)
    reader = EventReader(rx.stdout)
    try:
        ready = reader.read_events({"ready", "error"}, time.monotonic() + 30)[-1]
        if ready["event"] == "error":
            raise RuntimeError(f"{receiver}: {ready['message']}")
        tx = subprocess.run([sys.executable, "-m", "uring.packet.tcp_send", "--host",
                             "127.0.0.1", "--port", str(port), "--bytes", str(nbytes),
                             "--chunk", str(chunk), "--cpu", str(cpus[0])],
                            capture_output=True, text=True, env=env, timeout=300)
        if tx.returncode:
            raise RuntimeError(f"tcp_send failed: {tx.stdout}{tx.stderr}")
        result = reader.read_events({"result", "error"}, time.monotonic() + 120)[-1]
        if result["event"] == "error":
            raise RuntimeError(f"{receiver}: {result['message']}")
        result["sent"] = json.loads(tx.stdout.strip().splitlines()[-1])["sent"]
        return result
    finally:
        if rx.poll() is None:
            rx.kill()
        rx.wait()
        reader.join(5)
        rx.stdout.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the files."""
    args = build_parser().parse_args(argv)
    receivers, sizes = args.receivers, list(args.buffer_sizes)
    cpus = sorted(os.sched_getaffinity(0))
    pair = (cpus[0], cpus[1] if len(cpus) > 1 else cpus[0])
    out = args.out or Path("results") / time.strftime("tcp-rx-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    print(f"sender on CPU {pair[0]}, receiver on CPU {pair[1]}, {args.bytes:,} bytes per run")
    runs = []
    for rep in range(args.repeats):
        for size in sizes:
            order = receivers[rep % len(receivers):] + receivers[:rep % len(receivers)]
            for name in order:
                r = run_once(name, args.bytes, size, args.buffers, args.chunk, pair)
                gbps = r["bytes"] * 8 / r["seconds"] / 1e9 if r["seconds"] else 0.0
                cpu_per_gb = r["cpu"] / (r["bytes"] / 1e9) if r["bytes"] else 0.0
                runs.append({"repeat": rep, "receiver": name, "buffer_size": size,
                             "bytes": r["bytes"], "sent": r["sent"], "seconds": r["seconds"],
                             "cpu_s": r["cpu"], "gbit_s": gbps, "cpu_s_per_gb": cpu_per_gb})
                print(f"  repeat {rep + 1}/{args.repeats} {name:<6} buffers {size:>7} B "
                      f"{gbps:6.2f} Gbit/s  {cpu_per_gb:.3f} CPU s/GB", flush=True)
    _write(out, receivers, sizes, runs, args.repeats)
    return 0


def _write(out: Path, receivers: list[str], sizes: list[int], runs: list[dict],
           repeats: int) -> None:
    with open(out / "runs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(runs[0]))
        w.writeheader()
        w.writerows(runs)
    lines = [f"# TCP receive over loopback (median (min–max) of {repeats})", "",
             "| receiver | buffer size | Gbit/s | receiver CPU s/GB |", "|---|---|---|---|"]
    series = {}
    for name in receivers:
        series[name] = []
        for size in sizes:
            rows = [r for r in runs if r["receiver"] == name and r["buffer_size"] == size]
            g, c = spread(r["gbit_s"] for r in rows), spread(r["cpu_s_per_gb"] for r in rows)
            lines.append(f"| {name} | {size} | {fmt_spread(g, 2)} | {fmt_spread(c, 3)} |")
            series[name].append(g.median if g else None)
    line_chart(out / "tcp-rx.svg", "TCP receive bandwidth over loopback", "buffer size (bytes)",
               "Gbit/s (median)", sizes, series)
    # The docs' benchmarks page shows summary.md, charts included, as written.
    lines += ["", "![TCP receive bandwidth by buffer size](tcp-rx.svg)"]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print()
    print(text)
    print(f"results: {out}/ (summary.md, runs.csv, tcp-rx.svg)")


if __name__ == "__main__":
    _cli.run(main)
