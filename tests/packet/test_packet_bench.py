"""Both benchmarks run end to end (tiny settings) and write tables; TCP receivers are exact."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from uring.bench import tcp_rx as bench_tcp
from uring.packet import netns
from uring.packet.lab import repo_env


@pytest.mark.parametrize("receiver", ["uring", "epoll"])
@pytest.mark.parametrize("buffer_size", [4096, 65536])
def test_tcp_receivers_get_every_byte_in_order(receiver, buffer_size):
    r = bench_tcp.run_once(receiver, 3_000_001, buffer_size, 16, 1 << 15, (0, 0), verify=True)
    assert r["bytes"] == r["sent"] == 3_000_001
    assert r["mismatches"] == 0


def test_tcp_rx_benchmark_writes_its_table(tmp_path):
    out = subprocess.run([sys.executable, "-m", "uring.bench", "tcp-rx", "--repeats", "1",
                          "--bytes", "20000000", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env=repo_env())
    assert out.returncode == 0, out.stderr
    assert "| uring | 65536 |" in out.stdout and "| epoll | 65536 |" in out.stdout
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert {r["receiver"] for r in rows} == {"uring", "epoll"}
    assert all(int(r["bytes"]) == 20_000_000 for r in rows)
    assert (tmp_path / "tcp-rx.svg").read_text().startswith("<svg")


def test_packets_benchmark_writes_its_table(lab, tmp_path, need_native):
    need_native("pktgen")
    before = set(netns.list_namespaces())
    out = subprocess.run([sys.executable, "-m", "uring.bench", "packets", "--sizes", "64,512",
                          "--repeats", "2", "--duration", "0.2",
                          "--stacks", "recvmmsg,tpacket-v3,zcrx", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env=repo_env())
    assert out.returncode == 0, out.stderr
    assert "| recvmmsg |" in out.stdout and "| tpacket-v3 |" in out.stdout
    assert "zcrx: not measured: [Errno 95] zero-copy receive is not supported" in out.stdout
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert len(rows) == 2 * 2 * 2  # repeats x sizes x measured stacks
    # Interleaved: the second repeat starts with the other stack.
    firsts = [r["stack"] for r in rows if r["size"] == "64"]
    assert firsts[:2] == ["recvmmsg", "tpacket-v3"] and firsts[2:] == ["tpacket-v3", "recvmmsg"]
    assert all(float(r["rx_pps"]) > 0 and 0 <= float(r["loss"]) <= 1 for r in rows)
    assert (tmp_path / "packets.svg").exists() and (tmp_path / "summary.csv").exists()
    assert set(netns.list_namespaces()) <= before  # the benchmark removed its own


@pytest.mark.parametrize("args, message", [
    (["--sizes", "59"], "size 59 is out of range"),
    (["--stacks", "nosuch"], "unknown stack 'nosuch'"),
    (["--cores", "64"], "--cores 64"),
])
def test_packets_benchmark_bad_input(args, message):
    out = subprocess.run([sys.executable, "-m", "uring.bench", "packets", *args],
                         capture_output=True, text=True, timeout=60, env=repo_env())
    assert out.returncode == 2 and message in out.stderr
