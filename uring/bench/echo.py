"""``python -m uring.bench echo``: the echo benchmark, io_uring stages against epoll, C and peers.

For every point (message size × clients) every server runs in turn, a fresh
process each time, pinned to one CPU while the load generator
(``native_hot/echo_load``, or the Python client where it cannot be built) runs
on another: N connections, each sending the message, waiting for the whole
echo, checking every byte, repeating, for the duration after a warm-up. The
servers are interleaved round-robin at every point and each point is repeated,
so drift hits all alike; the tables give medians with min–max.

Per run it records requests/s and latency (from the client), the server's CPU
time per round trip (``/proc/PID/task/*/schedstat`` over the measured window),
system calls per round trip (the server's own count from its summary line, or
``perf stat`` in a separate run for servers that do not count), and the rest of
the machine's load (``/proc/stat`` busy time not spent by server, client or
this runner); a run with more than ``--noise-threshold`` CPUs of other load is
re-run. Results go to ``results/echo-<timestamp>/``: ``summary.md`` (all
tables), ``echo.csv`` (one row per server and point), ``runs.csv`` (every run),
``rps-<size>.svg`` and ``cpu-<size>.svg``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import _cli, native
from ..echo.registry import STAGES
from .echo_report import (Run, aggregate, render_tables, targets_section, write_charts,
                          write_csv)
from .peers import PEERS
from .echo_servers import (C_SERVER, MALLOC_ENV, RunningServer, ServerFailed, ServerSpec,
                           available_servers)
from .proc import (PerfSyscalls, cpu_times, loadavg, perf_unavailable, pick_cpus, pin,
                   task_cpu_ns)

__all__ = ["main", "measure", "pick_client", "Plan", "DEFAULT_CLIENTS", "DEFAULT_SIZES"]

DEFAULT_CLIENTS = (1, 50, 150, 300, 500, 1000)
DEFAULT_SIZES = (128, 512, 1000)
QUICK = dict(clients=(50, 500), sizes=(128,), repeat=2, duration=0.3, warmup=0.15,
             max_reruns=1)
FULL = dict(clients=DEFAULT_CLIENTS, sizes=DEFAULT_SIZES, repeat=3, duration=2.0, warmup=1.0,
            max_reruns=2)


def pick_client(choice: str = "auto") -> tuple[list[str], str, str | None]:
    """(command prefix, "native" or "python", a note when falling back) for the load generator."""
    if choice in ("auto", "native"):
        path = native.binary("echo_load")
        if path is not None:
            return [str(path)], "native", None
        why = native.why_unavailable("echo_load")
        if choice == "native":
            raise SystemExit(f"echo: --client native: {why}")
        return ([sys.executable, "-m", "uring.bench.echo_client"], "python",
                f"{why}; using the Python client (uring.bench.echo_client), which costs "
                f"several times the C client's CPU per round trip: the client may be the "
                f"bottleneck, and requests/s understate fast servers")
    return [sys.executable, "-m", "uring.bench.echo_client"], "python", \
        "the Python client was chosen: the client may be the bottleneck"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    s = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime + s.ru_utime + s.ru_stime


def _run_client(prefix: list[str], address: str, clients: int, size: int, duration: float,
                warmup: float, server_pid: int, cpu: int | None) -> tuple[dict | None, str]:
    argv = prefix + ["--address", address, "--number", str(clients), "--length", str(size),
                     "--duration", str(duration), "--warmup", str(warmup),
                     "--server-pid", str(server_pid), "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pin(proc.pid, cpu)
    try:
        out, err = proc.communicate(timeout=duration + warmup + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, "client did not finish in time"
    lines = out.strip().splitlines()
    try:
        res = json.loads(lines[-1]) if lines else None
    except ValueError:
        res = None
    tail = " | ".join(err.strip().splitlines()[-3:])
    if res is None:
        return None, f"client exit status {proc.returncode}: {tail or 'no output'}"
    return res, tail


def measure(spec: ServerSpec, clients: int, size: int, *, repeat: int, duration: float,
            warmup: float, client: list[str], cpus: tuple[int | None, int | None],
            perf: bool = False, host: str = "127.0.0.1") -> Run:
    """One run of ``spec`` at one point: start it, load it, stop it, return the figures."""
    client_cpu, server_cpu = cpus
    run = Run(spec.name, spec.kind, clients, size, repeat,
              purpose="syscalls" if perf else "measure")
    try:
        server = RunningServer(spec, server_cpu, host)
    except ServerFailed as e:
        run.error = str(e)
        return run
    counter = None
    try:
        if perf:
            counter = PerfSyscalls(server.pid, client_cpu)
        run.load1 = loadavg()[0]
        ct0, s0, k0, t0 = cpu_times(), task_cpu_ns(server.pid), _children_cpu(), time.monotonic()
        res, err = _run_client(client, server.address, clients, size, duration, warmup,
                               server.pid, client_cpu)
        ct1, s1, k1, t1 = cpu_times(), task_cpu_ns(server.pid), _children_cpu(), time.monotonic()
        perf_count = counter.stop() if counter else None
    finally:
        if counter:
            counter.stop()
        summary, problem = server.stop()
    run.summary = " ".join(f"{k}={v}" for k, v in summary.items())
    if res is None:
        run.error = err + (f"; server: {problem}" if problem else "")
        return run
    rt, warm = res["round_trips"], res["warmup_round_trips"]
    run.rps, run.round_trips, run.warmup_round_trips = res["requests_per_s"], rt, warm
    run.p50_us, run.p99_us, run.p999_us = res["p50_us"], res["p99_us"], res["p999_us"]
    run.mismatches, run.errors = res["mismatches"], res["errors"]
    if rt and res.get("server_cpu_ns") is not None:
        run.server_cpu_us_per_rt = res["server_cpu_ns"] / 1e3 / rt
    if res["duration_s"] > 0:
        run.client_cpu_frac = res["client_cpu_s"] / res["duration_s"]
    if perf:
        if perf_count is not None and rt + warm:
            run.syscalls_per_rt, run.syscalls_source = perf_count / (rt + warm), "perf"
    elif spec.self_counts and "syscalls" in summary and rt + warm:
        run.syscalls_per_rt = int(summary["syscalls"]) / (rt + warm)
        run.syscalls_source = "self"
    # The machine's other load: busy CPU time nobody of ours accounts for.
    elapsed = t1 - t0
    d = ct1 - ct0
    ours = ((s1 or 0) - (s0 or 0)) / 1e9 + (k1 - k0)
    run.other_cpus = max(0.0, d.busy - ours) / elapsed if elapsed > 0 else None
    run.steal_cpus = d.steal / elapsed if elapsed > 0 else None
    problems = [p for p in (problem,) if p]
    if run.mismatches or run.errors:
        problems.append(f"{run.mismatches} mismatches, {run.errors} connection errors"
                        + (f" ({err})" if err else ""))
    run.error = "; ".join(problems)
    run.ok = not problems
    return run


def _stage_names() -> list[str]:
    return [s.name for s in STAGES]


def _server_names() -> list[str]:
    return _stage_names() + [C_SERVER] + list(PEERS)


def _names(known: Callable[[], list[str]], what: str) -> Callable[[str], list[str]]:
    """An argparse ``type``: comma-separated names, each one of ``known()``.

    An unknown name is refused here, before anything runs: a typo would
    otherwise cost a whole benchmark of the servers that were not asked for.
    """
    def convert(text: str) -> list[str]:
        names = [x.strip() for x in text.split(",") if x.strip()]
        unknown = [n for n in names if n not in known()]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(map(repr, unknown)) or repr(text)} "
                f"(known: {', '.join(known())})")
        return names

    convert.__name__ = what
    return convert


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m uring.bench echo``."""
    ap = _cli.make_parser("python -m uring.bench echo", __doc__)
    ap.add_argument("--stages", type=_names(_stage_names, "stage"), default=None,
                    help="uring stages to run (default: every stage `python -m uring.echo "
                         "--list` shows); the epoll stage always runs")
    ap.add_argument("--servers", type=_names(_server_names, "server"), default=None,
                    help="run only these servers (stage names, c-multishot, asyncio, "
                         "asyncio-streams, selectors, uvloop)")
    ap.add_argument("--clients", type=_cli.int_list(1, None, "client counts"), default=None,
                    help="client counts (default 1,50,150,300,500,1000)")
    ap.add_argument("--sizes", type=_cli.int_list(1, None, "message sizes"), default=None,
                    help="message sizes in bytes (default 128,512,1000)")
    ap.add_argument("--duration", type=_cli.number(0, strict=True), default=None,
                    help="measured seconds per run (default 2)")
    ap.add_argument("--warmup", type=_cli.number(0), default=None,
                    help="warm-up seconds before each measurement (default 1)")
    ap.add_argument("--repeat", type=_cli.int_range(1), default=None,
                    help="runs per point (default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="small matrix in about a minute: 50,500 clients × 128 B, "
                         "2 repeats of 0.3 s after 0.15 s warm-up")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default results/echo-<timestamp>)")
    ap.add_argument("--client", choices=("auto", "native", "python"), default="auto",
                    help="load generator: native_hot/echo_load or the Python one "
                         "(auto: native if it builds)")
    ap.add_argument("--no-perf", action="store_true",
                    help="skip the perf runs that count system calls of the servers that "
                         "do not count their own")
    ap.add_argument("--noise-threshold", type=_cli.number(0), default=0.25, metavar="CPUS",
                    help="re-run a run during which other work used more than this many "
                         "CPUs (default 0.25)")
    ap.add_argument("--max-reruns", type=_cli.int_range(0), default=None,
                    help="re-runs of a noisy run (default 2, 1 with --quick); the quietest "
                         "is kept")
    ap.add_argument("--host", type=_cli.host, default="127.0.0.1",
                    help="address the servers listen on (default 127.0.0.1)")
    return ap


def _machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    return {"kernel": platform.release(), "cpu": model, "cpus": os.cpu_count(),
            "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a run failed or any byte mismatched."""
    args = build_parser().parse_args(argv)
    affinity = os.sched_getaffinity(0)
    try:
        return _main(args, argv)
    finally:
        os.sched_setaffinity(0, affinity)   # this runner was pinned next to the client


@dataclass
class Plan:
    """What one benchmark run does: the matrix, the servers, the client, where output goes."""

    clients: tuple[int, ...]
    sizes: tuple[int, ...]
    repeat: int
    duration: float
    warmup: float
    max_reruns: int
    noise_threshold: float
    out: Path
    host: str
    specs: list[ServerSpec]
    client: list[str]
    client_kind: str
    cpus: tuple[int | None, int | None]
    perf_specs: list[ServerSpec]    # servers whose system calls perf counts
    notes: list[str]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _plan(args: argparse.Namespace) -> Plan | None:
    base = QUICK if args.quick else FULL
    specs, notes = available_servers(args.stages)
    if args.servers is not None:
        known = {s.name for s in specs}
        missing = [n for n in args.servers if n not in known]
        if missing:
            notes.append(f"requested servers not available: {', '.join(missing)}")
        specs = [s for s in specs if s.name in args.servers]
    if not specs:
        _say("echo: no server to benchmark: " + "; ".join(notes))
        return None
    prefix, client_kind, client_note = pick_client(args.client)
    if client_note:
        notes.append(client_note)
    cpus = pick_cpus()
    if cpus[0] is None:
        notes.append("one CPU only: server and client share it (not pinned)")
    uncounted = [s for s in specs if not s.self_counts]
    why_no_perf = None if args.no_perf or not uncounted else perf_unavailable()
    if args.no_perf:
        notes.append("--no-perf: system calls of servers that do not count their own: n/a")
    elif why_no_perf:
        notes.append(f"system calls of {', '.join(s.name for s in uncounted)}: n/a "
                     f"({why_no_perf})")
    return Plan(
        clients=args.clients or base["clients"], sizes=args.sizes or base["sizes"],
        repeat=args.repeat or base["repeat"],
        duration=args.duration if args.duration is not None else base["duration"],
        warmup=args.warmup if args.warmup is not None else base["warmup"],
        max_reruns=args.max_reruns if args.max_reruns is not None else base["max_reruns"],
        noise_threshold=args.noise_threshold,
        out=args.out or Path("results") / time.strftime("echo-%Y%m%d-%H%M%S"),
        host=args.host, specs=specs, client=prefix, client_kind=client_kind, cpus=cpus,
        perf_specs=[] if args.no_perf or why_no_perf else uncounted, notes=notes)


def _measure_quietly(plan: Plan, spec: ServerSpec, clients: int, size: int, rep: int) -> Run:
    """Measure; re-run while other load exceeds the threshold, keep the quietest good run."""
    best = None
    for attempt in range(1, plan.max_reruns + 2):
        run = measure(spec, clients, size, repeat=rep, duration=plan.duration,
                      warmup=plan.warmup, client=plan.client, cpus=plan.cpus, host=plan.host)
        run.attempt = attempt
        run.noisy = (run.other_cpus or 0) > plan.noise_threshold
        if best is None or (run.ok and (not best.ok or
                                        (run.other_cpus or 0) < (best.other_cpus or 0))):
            best = run
        if not run.ok or not run.noisy:
            break
        if attempt > plan.max_reruns:
            _say(f"echo:   noisy ({run.other_cpus:.2f} CPUs of other load), no re-run left "
                 f"(--max-reruns {plan.max_reruns}): the quietest run is kept")
        else:
            _say(f"echo:   noisy ({run.other_cpus:.2f} CPUs of other load), re-running "
                 f"({attempt}/{plan.max_reruns})")
    return best


#: Seconds a run takes besides warm-up and measurement (start and stop server and client).
_START_STOP_S = 0.5


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _run_matrix(plan: Plan) -> list[Run]:
    points = [(size, n) for size in plan.sizes for n in plan.clients]
    measured = len(points) * len(plan.specs) * plan.repeat
    total = measured + len(points) * len(plan.perf_specs)
    # A run: warm-up and measurement, plus starting and stopping two processes.
    per_run = plan.warmup + plan.duration + _START_STOP_S
    least = total * per_run
    most = least + measured * plan.max_reruns * per_run
    _say(f"echo: {len(plan.specs)} servers ({', '.join(s.name for s in plan.specs)}), "
         f"{len(points)} points × {plan.repeat} repeats, {plan.client_kind} client on CPU "
         f"{plan.cpus[0]}, servers on CPU {plan.cpus[1]}: {total} runs, about "
         f"{_minutes(least)}" + (f", up to {_minutes(most)} if every run is noisy and re-run "
                                 f"{plan.max_reruns} time(s)" if most > least else ""))
    runs: list[Run] = []
    broken: set[str] = set()
    done = 0
    t0 = time.monotonic()

    def left() -> str:
        # What the runs so far took, per run, times the runs still to go.
        elapsed = time.monotonic() - t0
        return f"  (about {_minutes(elapsed / done * (total - done))} left)" \
            if 0 < done < total else ""

    for size, n in points:
        for rep in range(plan.repeat):
            # Rotate the order each repeat: no server always runs first or last.
            k = rep % len(plan.specs)
            for spec in plan.specs[k:] + plan.specs[:k]:
                done += 1
                if spec.name in broken:
                    continue
                run = _measure_quietly(plan, spec, n, size, rep)
                runs.append(run)
                _say(f"[{done}/{total}] {spec.name:<16} {n:>5} clients × {size:>5} B: "
                     + (f"{run.rps:>10,.0f} req/s  {run.server_cpu_us_per_rt or 0:6.2f} µs "
                        f"CPU/rt  other {run.other_cpus or 0:.2f} CPUs"
                        if run.ok else f"FAILED: {run.error}") + left())
                if run.rps is None and not any(r.server == spec.name and r.ok for r in runs):
                    broken.add(spec.name)   # never started: do not try it again
                    _say(f"echo:   {spec.name} left out of the rest of this run")
        for spec in plan.perf_specs:
            done += 1
            if spec.name in broken:
                continue
            run = measure(spec, n, size, repeat=0, duration=plan.duration, warmup=plan.warmup,
                          client=plan.client, cpus=plan.cpus, perf=True, host=plan.host)
            runs.append(run)
            _say(f"[{done}/{total}] {spec.name:<16} {n:>5} clients × {size:>5} B: "
                 + (f"{run.syscalls_per_rt:.2f} syscalls/rt (perf)"
                    if run.syscalls_per_rt is not None else f"perf: {run.error or 'n/a'}")
                 + left())
    return runs


def _write_results(plan: Plan, runs: list[Run], command: str, started: str,
                   load_before: float) -> int:
    agg = aggregate(runs)
    servers = [s.name for s in plan.specs]
    refs = [r for r in ("epoll", C_SERVER) if r in servers]
    tables = render_tables(agg, servers, plan.sizes, plan.clients, refs)
    targets = targets_section(agg, servers, plan.sizes, plan.clients)
    write_csv(plan.out / "echo.csv", runs, agg)
    charts = write_charts(plan.out, agg, servers, plan.sizes, plan.clients)
    machine = _machine()
    failures = [r for r in runs if not r.ok]
    client = "native_hot/echo_load" if plan.client_kind == "native" else \
        "uring.bench.echo_client"
    header = [
        "# Echo benchmark", "",
        f"- started {started}; command: `python -m uring.bench echo {command}`",
        f"- machine: Linux {machine['kernel']}, {machine['cpus']} CPUs ({machine['cpu']}), "
        f"Python {machine['python']}",
        f"- client: {plan.client_kind} ({client}) on CPU {plan.cpus[0]}; each server on CPU "
        f"{plan.cpus[1]}, a fresh process per run, with "
        f"{' '.join(f'{k}={v}' for k, v in MALLOC_ENV.items())} (glibc; see "
        "uring.bench.echo_servers.MALLOC_ENV)",
        f"- {plan.duration:g} s measured after {plan.warmup:g} s warm-up, {plan.repeat} "
        f"repeats per point, servers interleaved round-robin",
        f"- load average before {load_before:.2f}, after {loadavg()[0]:.2f}; runs with "
        f"more than {plan.noise_threshold:g} CPUs of other load re-run "
        f"({sum(r.noisy for r in runs)} still noisy)",
    ] + [f"- note: {n}" for n in plan.notes] + [""]
    if failures:
        header += ["## Failed runs", ""] + [
            f"- {r.server} {r.clients} clients × {r.size} B (repeat {r.repeat}): {r.error}"
            for r in failures] + [""]
    charts_md = ["## Charts", ""] + [f"![{p.stem}]({p.name})" for p in charts] + [""]
    (plan.out / "summary.md").write_text("\n".join(header) + "\n" + tables + "\n" + targets
                                         + "\n" + "\n".join(charts_md))
    (plan.out / "meta.json").write_text(json.dumps({
        "machine": machine, "started": started, "command": command,
        "clients": plan.clients, "sizes": plan.sizes, "repeat": plan.repeat,
        "duration": plan.duration, "warmup": plan.warmup, "client": plan.client_kind,
        "cpus": plan.cpus, "servers": servers, "notes": plan.notes}, indent=2) + "\n")
    print(tables)
    print(targets)
    print(f"results: {plan.out}/ (summary.md, echo.csv, runs.csv, "
          f"{', '.join(p.name for p in charts)})")
    measured = [r for r in runs if r.purpose == "measure"]
    noisy = [r for r in measured if r.noisy]
    points = {(r.server, r.clients, r.size) for r in noisy}
    print(f"echo: {len(noisy)} of {len(measured)} runs ({len(points)} of {len(agg)} points) stayed "
          f"noisy after re-runs (more than {plan.noise_threshold:g} CPUs of other load); "
          f"{len(failures)} failed; report: {plan.out / 'summary.md'}")
    bad = [p for p in agg.values() if p.mismatches or p.errors]
    return 1 if failures or bad else 0


def _main(args: argparse.Namespace, argv: list[str] | None) -> int:
    plan = _plan(args)
    if plan is None:
        return 1
    for note in plan.notes:
        _say(f"echo: {note}")
    pin(os.getpid(), plan.cpus[0])   # keep this runner off the server's CPU
    plan.out.mkdir(parents=True, exist_ok=True)
    started, load_before = time.strftime("%Y-%m-%d %H:%M:%S"), loadavg()[0]
    runs = _run_matrix(plan)
    command = " ".join(argv if argv is not None else sys.argv[1:])
    return _write_results(plan, runs, command, started, load_before)
