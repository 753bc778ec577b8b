"""Turning echo benchmark runs into tables, CSV files, SVG charts and a markdown summary.

Tables follow the seed's layout: one row per message size, one column per
client count. A cell is the median over the repeats, with min–max in
parentheses where it matters (requests/s, server CPU per round trip).
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import svg
from .stats import Spread, fmt_number, fmt_spread, ratio, spread

__all__ = ["Run", "Point", "aggregate", "md_table", "render_tables", "write_csv",
           "write_charts", "targets_section"]


@dataclass
class Run:
    """One measurement: one fresh server process, one client run against it."""

    server: str
    kind: str
    clients: int
    size: int
    repeat: int
    purpose: str = "measure"        # or "syscalls": a perf run, figures not used for CPU
    attempt: int = 1
    ok: bool = False
    error: str = ""
    rps: float | None = None
    p50_us: float | None = None
    p99_us: float | None = None
    p999_us: float | None = None
    round_trips: int = 0
    warmup_round_trips: int = 0
    mismatches: int = 0
    errors: int = 0
    server_cpu_us_per_rt: float | None = None
    client_cpu_frac: float | None = None
    syscalls_per_rt: float | None = None
    syscalls_source: str = ""
    other_cpus: float | None = None
    steal_cpus: float | None = None
    load1: float | None = None
    noisy: bool = False
    summary: str = ""


@dataclass
class Point:
    """The runs of one server at one (clients, size) point, summarised."""

    server: str
    kind: str
    clients: int
    size: int
    rps: Spread | None
    cpu: Spread | None
    p50: Spread | None
    p99: Spread | None
    p999: Spread | None
    client_cpu: Spread | None
    syscalls: float | None
    syscalls_source: str
    mismatches: int
    errors: int
    failed: int
    noisy: int
    runs: int


def aggregate(runs: Iterable[Run]) -> dict[tuple[str, int, int], Point]:
    """Summarise runs per (server, clients, size)."""
    groups: dict[tuple[str, int, int], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.server, r.clients, r.size), []).append(r)
    points = {}
    for key, rs in groups.items():
        good = [r for r in rs if r.ok and r.purpose == "measure"]
        own = [r.syscalls_per_rt for r in good if r.syscalls_source == "self"]
        perf = [r.syscalls_per_rt for r in rs
                if r.ok and r.purpose == "syscalls" and r.syscalls_per_rt is not None]
        sys_spread = spread(own) or spread(perf)
        points[key] = Point(
            server=key[0], kind=rs[0].kind, clients=key[1], size=key[2],
            rps=spread(r.rps for r in good), cpu=spread(r.server_cpu_us_per_rt for r in good),
            p50=spread(r.p50_us for r in good), p99=spread(r.p99_us for r in good),
            p999=spread(r.p999_us for r in good),
            client_cpu=spread(r.client_cpu_frac for r in good),
            syscalls=sys_spread.median if sys_spread else None,
            syscalls_source="self" if own else ("perf" if perf else ""),
            mismatches=sum(r.mismatches for r in rs), errors=sum(r.errors for r in rs),
            failed=sum(not r.ok for r in rs), noisy=sum(r.noisy for r in good),
            runs=len(good))
    return points


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A markdown table, first column left-aligned, the others right-aligned."""
    rows = [list(r) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(
            (str(c).ljust(w) if i == 0 else str(c).rjust(w))
            for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    sep = "|" + "|".join((":" + "-" * (w + 1)) if i == 0 else ("-" * (w + 1) + ":")
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def _flag(p: Point) -> str:
    marks = ""
    if p.mismatches or p.errors:
        marks += " ✗"
    if p.failed:
        marks += " !"
    return marks


def _server_table(points, server: str, sizes, clients, cell: Callable[[Point], str]) -> str:
    rows = []
    for size in sizes:
        row = [f"{size} B"]
        for n in clients:
            p = points.get((server, n, size))
            row.append(cell(p) + _flag(p) if p else "–")
        rows.append(row)
    return md_table(["bytes \\ clients"] + [str(n) for n in clients], rows)


def _combined_table(points, servers, sizes, clients, cell: Callable[[Point], str]) -> str:
    rows = []
    for server in servers:
        for size in sizes:
            row = [f"{server} · {size} B"]
            for n in clients:
                p = points.get((server, n, size))
                row.append(cell(p) if p else "–")
            rows.append(row)
    return md_table(["server · bytes \\ clients"] + [str(n) for n in clients], rows)


def _ratio_table(points, servers, sizes, clients, ref: str,
                 value: Callable[[Point], float | None]) -> str:
    def cell_for(server, n, size) -> str:
        p, q = points.get((server, n, size)), points.get((ref, n, size))
        r = ratio(value(p) if p else None, value(q) if q else None)
        return f"{r:.2f}" if r is not None else "–"

    rows = [[f"{s} · {size} B"] + [cell_for(s, n, size) for n in clients]
            for s in servers if s != ref for size in sizes]
    return md_table(["server · bytes \\ clients"] + [str(n) for n in clients], rows)


def _median(s: Spread | None) -> float | None:
    return s.median if s else None


def render_tables(points: dict, servers: Sequence[str], sizes: Sequence[int],
                  clients: Sequence[int], references: Sequence[str]) -> str:
    """All tables as markdown: per-server requests/s, then the other figures, then ratios."""
    out = ["## Requests per second (median, min–max over the repeats)", "",
           "✗ = mismatches or connection errors at that point, ! = a run failed.", ""]
    for server in servers:
        out += [f"### {server}", "",
                _server_table(points, server, sizes, clients, lambda p: fmt_spread(p.rps)), ""]
    out += ["## Server CPU µs per round trip (median, min–max)", "",
            "From /proc/PID/task/*/schedstat over the measured window: the figure that "
            "does not depend on which side saturates its core first.", "",
            _combined_table(points, servers, sizes, clients, lambda p: fmt_spread(p.cpu)), "",
            "## System calls per round trip", "",
            "The stages and the C server count their own (summary line, whole run incl. "
            "warm-up); the others are counted by `perf stat -e raw_syscalls:sys_enter` in "
            "a separate run (perf slows every system call, so it stays out of the "
            "measured runs). n/a: no count available.", "",
            _combined_table(points, servers, sizes, clients,
                            lambda p: fmt_number(p.syscalls, 2)), "",
            "## Latency p50 / p99 (µs, medians)", "",
            _combined_table(points, servers, sizes, clients,
                            lambda p: f"{fmt_number(_median(p.p50))} / "
                                      f"{fmt_number(_median(p.p99))}"), "",
            "## Client CPU (fraction of its core over the window, median)", "",
            "Near 1.0 the load generator is the bottleneck: requests/s then bunch "
            "together and only the server CPU figure still separates the servers.", "",
            _combined_table(points, servers, sizes, clients,
                            lambda p: fmt_number(_median(p.client_cpu), 2)), ""]
    for ref in references:
        if ref not in servers:
            continue
        out += [f"## Relative to {ref}", "",
                f"Server CPU per round trip ÷ {ref}'s (below 1: cheaper than {ref}).", "",
                _ratio_table(points, servers, sizes, clients, ref, lambda p: _median(p.cpu)),
                "", f"Requests/s ÷ {ref}'s (above 1: faster than {ref}).", "",
                _ratio_table(points, servers, sizes, clients, ref, lambda p: _median(p.rps)),
                ""]
    return "\n".join(out)


def write_csv(path: Path, runs: Sequence[Run], points: dict) -> tuple[Path, Path]:
    """``runs.csv`` (every measurement) and ``path`` (one row per server and point)."""
    runs_path = path.with_name("runs.csv")
    fields = [f.name for f in dataclasses.fields(Run)]
    with open(runs_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in runs:
            w.writerow(dataclasses.asdict(r))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["server", "kind", "bytes", "clients", "runs", "requests_per_s",
                    "requests_per_s_min", "requests_per_s_max", "server_cpu_us_per_rt",
                    "server_cpu_us_per_rt_min", "server_cpu_us_per_rt_max", "p50_us",
                    "p99_us", "p999_us", "syscalls_per_rt", "syscalls_source",
                    "client_cpu_frac", "mismatches", "errors", "failed_runs", "noisy_runs"])

        def g(s: Spread | None, attr: str = "median") -> str:
            return "" if s is None else f"{getattr(s, attr):.6g}"

        for p in sorted(points.values(), key=lambda p: (p.server, p.size, p.clients)):
            w.writerow([p.server, p.kind, p.size, p.clients, p.runs, g(p.rps),
                        g(p.rps, "lo"), g(p.rps, "hi"), g(p.cpu), g(p.cpu, "lo"),
                        g(p.cpu, "hi"), g(p.p50), g(p.p99), g(p.p999),
                        "" if p.syscalls is None else f"{p.syscalls:.6g}", p.syscalls_source,
                        g(p.client_cpu), p.mismatches, p.errors, p.failed, p.noisy])
    return runs_path, path


def write_charts(folder: Path, points: dict, servers: Sequence[str], sizes: Sequence[int],
                 clients: Sequence[int]) -> list[Path]:
    """Per message size: requests/s and server CPU per round trip against clients.

    Stages are solid lines, the Python peers dashed, the C reference and the
    epoll baseline dotted.
    """
    kinds = {p.server: p.kind for p in points.values()}
    dashes = {s: "7 4" if kinds.get(s) == "peer" else "2 3" for s in servers
              if kinds.get(s) in ("peer", "c") or s == "epoll"}
    paths = []
    for size in sizes:
        for metric, title, ylabel, get in (
                ("rps", f"Echo requests/s, {size}-byte messages", "requests/s",
                 lambda p: _median(p.rps)),
                ("cpu", f"Server CPU per round trip, {size}-byte messages",
                 "µs per round trip", lambda p: _median(p.cpu))):
            series = {s: [get(points[(s, n, size)]) if (s, n, size) in points else None
                          for n in clients] for s in servers}
            paths.append(svg.line_chart(folder / f"{metric}-{size}.svg", title, "clients",
                                        ylabel, list(clients), series, dashes=dashes))
    return paths


def targets_section(points: dict, servers: Sequence[str], sizes: Sequence[int],
                    clients: Sequence[int]) -> str:
    """Issue 5's targets for the ``multishot`` stage, checked on these figures (if it ran)."""
    lines = ["## Targets", ""]
    bad = [p for p in points.values() if p.mismatches or p.errors]
    lines.append("- Zero mismatches at every point: " +
                 ("met" if not bad else "NOT met: " + ", ".join(
                     f"{p.server} {p.clients}×{p.size} B ({p.mismatches} mismatches, "
                     f"{p.errors} errors)" for p in bad)))
    if "multishot" not in servers:
        lines.append("- The `multishot` stage did not run: its targets are not checked.")
        return "\n".join(lines) + "\n"
    kinds = {p.server: p.kind for p in points.values()}
    peers = [s for s in servers if kinds.get(s) == "peer" or s == "epoll"]
    checks = []
    for n in (50, 300, 1000):
        for size in (128, 1000):
            m = points.get(("multishot", n, size))
            if n not in clients or size not in sizes or not m or not m.cpu:
                continue
            worse = [s for s in peers
                     if (q := points.get((s, n, size))) and q.cpu and q.cpu.median <= m.cpu.median]
            c = points.get(("c-multishot", n, size))
            rel = ratio(m.cpu.median, c.cpu.median if c and c.cpu else None)
            checks.append((n, size, worse, rel))
    if checks:
        for n, size, worse, rel in checks:
            lines.append(f"- {n} clients × {size} B: CPU/round trip below every Python peer: "
                         + ("yes" if not worse else f"no (not below {', '.join(worse)})")
                         + "; vs C reference: "
                         + (f"{rel:.2f}× ({'within' if rel <= 1.2 else 'outside'} 1.2×)"
                            if rel is not None else "n/a"))
    else:
        lines.append("- CPU targets need 50/300/1000 clients × 128/1000 B: not in this matrix.")
    sc = [(n, size, p.syscalls) for (s, n, size), p in points.items()
          if s == "multishot" and n >= 50 and p.syscalls is not None]
    if sc:
        worst = max(sc, key=lambda t: t[2])
        lines.append(f"- At most 0.1 system calls per round trip at ≥ 50 clients: "
                     f"{'met' if worst[2] <= 0.1 else 'NOT met'} (highest "
                     f"{worst[2]:.3f} at {worst[0]} clients × {worst[1]} B)")
    return "\n".join(lines) + "\n"
