"""The echo benchmark's Python side: peers, the Python client, helpers and a smoke run.

Every test is bounded to seconds: short runs, socket timeouts.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from uring import native, probe
from uring.bench import __main__ as bench_main
from uring.bench import echo, echo_client, proc, stats, svg
from uring.bench.echo_report import Run, aggregate, md_table
from uring.bench.echo_servers import (C_SERVER, RunningServer, ServerFailed, ServerSpec,
                                      parse_summary, uring_stages)
from uring.bench.peers import PEERS, unavailable

PROBE = probe.get()


def _peer(name: str) -> ServerSpec:
    return ServerSpec(name, "peer", (sys.executable, "-m", f"uring.bench.peers.{PEERS[name]}"))


@pytest.mark.parametrize("name", list(PEERS))
def test_peer_echoes_byte_exact_and_stops_cleanly(name):
    why = unavailable(name)
    if why:
        pytest.skip(why)
    server = RunningServer(_peer(name), cpu=None)
    try:
        checked = echo_client.check_echo(server.host, server.port, clients=4, timeout=20)
    finally:
        summary, problem = server.stop()
    assert checked == 4 * sum((1, 100, 4096, 65537, 1 << 20))
    assert problem is None
    assert summary["server"] == name and summary["connections"] == "4"


def test_a_server_that_fails_to_start_is_reported():
    spec = ServerSpec("broken", "peer", (sys.executable, "-c", "import sys; sys.exit(3)"))
    with pytest.raises(ServerFailed, match="exited with status 3"):
        RunningServer(spec, cpu=None)


def test_python_client_against_the_selectors_peer():
    server = RunningServer(_peer("selectors"), cpu=None)
    try:
        res = echo_client.run(server.host, server.port, number=5, length=700, duration=0.3,
                              warmup=0.1, server_pid=server.pid)
    finally:
        server.stop()
    assert res["mismatches"] == 0 and res["errors"] == 0
    assert res["round_trips"] > 0 and res["bytes"] == 700 * res["round_trips"]
    assert res["server_cpu_ns"] > 0
    assert 0 < res["p50_us"] <= res["p99_us"]


def test_python_client_detects_a_wrong_echo():
    # A server that answers every message with zeros of the same length.
    code = ("import socket,sys\n"
            "s=socket.create_server(('127.0.0.1',0)); print('listening on 127.0.0.1:%d'"
            " % s.getsockname()[1], flush=True)\n"
            "c,_=s.accept()\n"
            "while d:=c.recv(65536): c.sendall(bytes(len(d)))\n")
    server = RunningServer(ServerSpec("zeros", "peer", (sys.executable, "-c", code)), cpu=None)
    try:
        res = echo_client.run(server.host, server.port, number=1, length=64, duration=0.2,
                              warmup=0)
    finally:
        server.proc.kill()
        server.stop()
    assert res["mismatches"] == 1 and res["round_trips"] == 0


def test_without_uring_echo_the_other_servers_still_run(monkeypatch):
    from uring.bench import echo_servers

    real_run = subprocess.run

    def no_stages(argv, **kw):
        if argv[1:] != ["-m", "uring.echo", "--list"]:
            return real_run(argv, **kw)
        return subprocess.CompletedProcess(argv, 1, "", "No module named uring.echo\n")

    monkeypatch.setattr(echo_servers.subprocess, "run", no_stages)
    specs, notes = echo_servers.available_servers()
    assert {"selectors", "asyncio", "asyncio-streams"} <= {s.name for s in specs}
    assert not [s for s in specs if s.kind == "stage"]
    assert any("No module named uring.echo" in n for n in notes)


def test_parse_summary_takes_the_last_line_with_tokens():
    text = "listening on 127.0.0.1:1\nnoise\nsummary: stage=x syscalls=12 requests=3\n\n"
    assert parse_summary(text) == {"stage": "x", "syscalls": "12", "requests": "3"}
    assert parse_summary("nothing here\n") == {}


def test_stats_spread_and_percentile():
    s = stats.spread([3.0, None, 1.0, 2.0, float("nan")])
    assert (s.median, s.lo, s.hi, s.n) == (2.0, 1.0, 3.0, 3)
    assert stats.spread([None]) is None
    assert stats.percentile([1, 2, 3, 4], 0.5) == 2
    assert stats.percentile([1, 2, 3, 4], 0.99) == 4
    assert stats.fmt_spread(s) == "2.00 (1.00–3.00)"
    assert stats.fmt_number(123456.7) == "123,457"
    assert stats.ratio(1, 0) is None


def test_svg_chart_is_well_formed(tmp_path):
    assert svg.nice_ticks(93) == [0, 20, 40, 60, 80, 100]
    path = svg.line_chart(tmp_path / "c.svg", "t <&>", "clients", "req/s", [1, 50, 1000],
                          {"a": [1.0, None, 3.0], "b": [2.0, 2.5, None]})
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    texts = [t.text for t in root.iter() if t.tag.endswith("text")]
    assert "t <&>" in texts and "a" in texts and "b" in texts
    # No run of two consecutive points for "a": no polyline for it.
    assert len([e for e in root.iter() if e.tag.endswith("polyline")]) == 1


def test_aggregate_uses_medians_and_own_syscall_counts():
    runs = [Run("s", "stage", 50, 128, rep, ok=True, rps=r, server_cpu_us_per_rt=c,
                syscalls_per_rt=sc, syscalls_source="self")
            for rep, (r, c, sc) in enumerate([(10.0, 5.0, 0.1), (30.0, 7.0, 0.3),
                                              (20.0, 6.0, 0.2)])]
    runs.append(Run("s", "stage", 50, 128, 3, ok=False, error="boom"))
    p = aggregate(runs)[("s", 50, 128)]
    assert p.rps.median == 20.0 and p.cpu.lo == 5.0 and p.syscalls == 0.2
    assert p.failed == 1 and p.runs == 3 and p.syscalls_source == "self"
    assert md_table(["a", "b"], [["x", "1"]]).splitlines()[1] == "|:--|--:|"


def test_proc_readings():
    assert proc.task_cpu_ns(os.getpid()) > 0
    assert proc.task_cpu_ns(2 ** 22 + 12345) is None
    assert proc.cpu_times().busy > 0
    assert len(proc.loadavg()) == 3
    client_cpu, server_cpu = proc.pick_cpus()
    assert client_cpu != server_cpu or client_cpu is None


def test_bench_dispatcher(capsys):
    assert bench_main.main(["no-such-bench"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    assert bench_main.main([]) == 2
    out = subprocess.run([sys.executable, "-m", "uring.bench", "echo", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--quick" in out.stdout


def _smoke_servers() -> list[str]:
    names = ["selectors"]
    if native.binary("echo_server") is not None and PROBE.usable:
        names.append(C_SERVER)
    stages, _ = uring_stages()
    if "epoll" in stages:
        names.append("epoll")
    return names


def test_runner_smoke(tmp_path, capsys):
    affinity = os.sched_getaffinity(0)
    servers = _smoke_servers()
    out = tmp_path / "res"
    rc = echo.main(["--servers", ",".join(servers), "--clients", "5", "--sizes", "128",
                    "--repeat", "1", "--duration", "0.5", "--warmup", "0.1",
                    "--max-reruns", "0", "--out", str(out)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    with open(out / "echo.csv") as f:
        rows = {r["server"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(servers)
    for row in rows.values():
        assert float(row["requests_per_s"]) > 0
        assert float(row["server_cpu_us_per_rt"]) > 0
        assert row["mismatches"] == "0" and row["errors"] == "0"
    for name in servers:
        if name != "selectors":     # the stages and the C server count their own
            assert rows[name]["syscalls_source"] == "self"
            assert float(rows[name]["syscalls_per_rt"]) > 0
    summary = (out / "summary.md").read_text()
    assert "## Requests per second" in summary and "### selectors" in summary
    assert "| bytes \\ clients |" in summary
    for name in ("rps-128.svg", "cpu-128.svg", "runs.csv", "meta.json"):
        assert (out / name).is_file()
    ET.parse(out / "rps-128.svg")
    assert "### selectors" in printed.out
    assert os.sched_getaffinity(0) == affinity    # the runner's pinning is undone


def test_runner_with_the_python_client_says_it_may_be_the_bottleneck(tmp_path):
    out = tmp_path / "res"
    rc = echo.main(["--servers", "selectors", "--client", "python", "--clients", "3",
                    "--sizes", "200", "--repeat", "1", "--duration", "0.3", "--warmup", "0.1",
                    "--no-perf", "--max-reruns", "0", "--out", str(out)])
    assert rc == 0
    summary = (out / "summary.md").read_text()
    assert "client may be the bottleneck" in summary
    assert "client: python" in summary


def test_runner_refuses_an_unknown_server_before_running(capsys):
    with pytest.raises(SystemExit) as exit_:
        echo.main(["--servers", "no-such-server", "--out", "/nonexistent/x"])
    assert exit_.value.code == 2
    assert "unknown server 'no-such-server'" in capsys.readouterr().err
