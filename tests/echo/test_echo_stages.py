"""Correctness of every echo stage: the same list, run against each registered stage.

Each test starts the stage as a subprocess on a free port, drives it with
real clients and checks the echo byte for byte. At the end the server must
still run, hold no more descriptors than before the clients came, stop on a
signal with status 0 and print a summary that agrees with what was sent.
"""

from __future__ import annotations

import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from echo_client import REPO, connect_many, exchange, pattern
from stage_info import STAGE_NAMES, stage_class, stages_with


def settle(server, baseline: int) -> None:
    """Every client is gone: the server must be back to its own descriptors."""
    assert server.alive(), "the server died"
    n = server.wait_fd_count(baseline)
    assert n == baseline, f"{n - baseline} descriptors leaked"


def test_list_shows_every_stage():
    out = subprocess.run([sys.executable, "-m", "uring.echo", "--list"], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    names = [line.split()[0] for line in out.splitlines()]
    assert names == STAGE_NAMES
    assert all(len(line.split(None, 1)) == 2 for line in out.splitlines())


def test_thousand_clients(stage, start_server):
    server = start_server(stage)
    baseline = server.fd_count()
    scripts = [[pattern(1 + (i * 37 + k * 11) % 200, i * 3 + k) for k in range(3)]
               for i in range(1000)]
    exchange(server.address, scripts)
    settle(server, baseline)
    summary = server.stop()
    assert int(summary["connections"]) == 1000
    assert int(summary["bytes"]) == sum(len(m) for s in scripts for m in s)
    assert int(summary["requests"]) >= 3000
    assert int(summary["syscalls"]) > 0


def test_message_sizes_up_to_a_mebibyte(stage, start_server):
    """1 byte to 1 MiB, larger than any buffer: partial receives and short sends."""
    server = start_server(stage)
    baseline = server.fd_count()
    sizes = [1, 4095, 4096, 4097, 65536, 300_001, 1 << 20, 1]
    scripts = [[pattern(n, 100 * c + i) for i, n in enumerate(sizes)] for c in range(4)]
    exchange(server.address, scripts)
    settle(server, baseline)
    summary = server.stop()
    assert int(summary["bytes"]) == 4 * sum(sizes)


def test_pipelined_clients(stage, start_server):
    """Many messages in flight per connection; the echo keeps their order."""
    server = start_server(stage)
    baseline = server.fd_count()
    scripts = [[pattern(1 + (c * 7919 + i * 104729) % 20000, c * 1000 + i) for i in range(40)]
               for c in range(20)]
    exchange(server.address, scripts, depth=40)
    exchange(server.address, scripts[:5], depth=3)
    settle(server, baseline)
    server.stop()


def test_half_close_gets_the_rest_then_the_close(stage, start_server):
    server = start_server(stage)
    baseline = server.fd_count()
    scripts = [[pattern(n, n)] for n in (1, 5000, 200_000, 1 << 20)]
    exchange(server.address, scripts, shut_wr=True)
    settle(server, baseline)
    server.stop()


def test_reset_mid_message_costs_only_that_connection(stage, start_server):
    server = start_server(stage)
    baseline = server.fd_count()
    steady = connect_many(server.address, 10)
    for round_ in range(5):
        doomed = connect_many(server.address, 4)
        for i, s in enumerate(doomed):
            s.sendall(pattern(100_000 + i, round_))  # half of a message, echo unread
        scripts = [[pattern(3000, round_ * 10 + c)] * 3 for c in range(10)]
        exchange(server.address, scripts, socks=steady, close=False)
        for s in doomed:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST: with linger 0 and unread data the kernel aborts
    exchange(server.address, [[pattern(10, c)] for c in range(10)], socks=steady)
    settle(server, baseline)
    server.stop()


def test_client_that_never_reads_is_bounded(stage, start_server):
    """The server stops reading from a client whose echo piles up; others carry on."""
    max_unsent = 256 * 1024
    options = ["--max-unsent", str(max_unsent)] if "max_unsent" in _options(stage) else []
    server = start_server(stage, *options)
    baseline = server.fd_count()
    rss_before = server.rss()
    cap = 64 << 20
    (hog,) = connect_many(server.address, 1)
    hog.setblocking(False)
    data = pattern(cap, 7)
    view = memoryview(data)
    sent = 0
    last_progress = time.monotonic()
    while sent < cap and time.monotonic() - last_progress < 0.5:
        try:
            sent += hog.send(view[sent:sent + (1 << 20)])
            last_progress = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    assert sent < cap, "the server kept reading from a client that never reads"
    exchange(server.address, [[pattern(2000, c)] * 5 for c in range(20)])
    growth = server.rss() - rss_before
    assert growth < 16 << 20, f"server memory grew by {growth} bytes"
    # Now the client reads: everything it managed to send comes back, in order.
    exchange(server.address, [[data[:sent]]], socks=[hog], already_sent=sent)
    settle(server, baseline)
    summary = server.stop()
    if options:  # stages that queue echo must have paused reading
        assert int(summary.get("read_paused", 0)) >= 1, summary


def test_accept_survives_emfile(stage, start_server):
    """Out of descriptors: existing clients are served, accepting resumes after closes."""
    limit = 48
    server = start_server(stage, nofile=limit)
    summary = check_accept_pauses(server, limit + 16)
    assert int(summary.get("accept_paused", 0)) >= 1


def check_accept_pauses(server, count: int) -> dict:
    """Connect ``count`` clients, more than the server can take at once, and check that
    the accepted ones are served while the rest wait, and that the rest are served
    once the first ones leave. Returns the server's summary."""
    baseline = server.fd_count()
    socks = connect_many(server.address, count)
    for i, s in enumerate(socks):
        s.sendall(struct.pack("!I", i))
    index = {s: i for i, s in enumerate(socks)}
    served = _wait_answers(socks, index, timeout=10)
    assert served, "no client was served"
    assert len(served) < len(socks), "the limit did not bite"
    waiting = [s for s in socks if s not in served]
    # The accepted ones keep being served while the others wait.
    exchange(server.address, [[pattern(5000, i)] * 3 for i in range(len(served))],
             socks=list(served), close=False)
    for s in served:
        s.close()
    rest = _wait_answers(waiting, index, timeout=20)
    assert set(rest) == set(waiting), f"{len(waiting) - len(rest)} clients never served"
    for s in waiting:
        s.close()
    settle(server, baseline)
    summary = server.stop()
    assert int(summary["connections"]) == len(socks)
    return summary


def _wait_answers(socks, index, timeout: float):
    """The sockets whose 4-byte greeting came back; waits until no more arrive for 0.5 s."""
    import selectors
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    got = {}
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while len(got) < len(socks) and time.monotonic() < deadline:
        events = sel.select(0.05)
        for key, _ in events:
            s = key.fileobj
            data = s.recv(4)
            assert len(data) == 4, f"short or no greeting: {data!r}"
            got[s] = data
            sel.unregister(s)
            quiet_since = time.monotonic()
        if not events and got and time.monotonic() - quiet_since > 0.5:
            break
    sel.close()
    for s, data in got.items():
        assert struct.unpack("!I", data)[0] == index[s]
    return list(got)


def _options(stage: str) -> tuple[str, ...]:
    return stage_class(stage).OPTIONS


@pytest.mark.parametrize("stage_name", stages_with("buffers"))
def test_running_out_of_buffers(stage_name, start_server):
    server = start_server(stage_name, "--buffers", "4")
    baseline = server.fd_count()
    scripts = [[pattern(1 + (c * 31 + i * 977) % 6000, c * 100 + i) for i in range(10)]
               for c in range(50)]
    exchange(server.address, scripts, depth=4)
    settle(server, baseline)
    summary = server.stop()
    assert int(summary.get("enobufs", 0)) >= 1, summary


@pytest.mark.parametrize("stage_name", stages_with("entries"))
def test_tiny_rings_overflow_and_keep_serving(stage_name, start_server):
    server = start_server(stage_name, "--entries", "2")
    baseline = server.fd_count()
    scripts = [[pattern(1 + (c * 13 + i * 301) % 3000, c * 100 + i) for i in range(5)]
               for c in range(200)]
    exchange(server.address, scripts, depth=5)
    settle(server, baseline)
    summary = server.stop()
    assert int(summary.get("cq_overflow", 0)) >= 1, summary


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_cleanly(stage, start_server, sig):
    server = start_server(stage)
    socks = connect_many(server.address, 5)
    exchange(server.address, [[b"ping"]] * 5, socks=socks, close=False)
    summary = server.stop(sig)
    for s in socks:  # the server closed them on its way out
        s.settimeout(10)
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
        s.close()
    assert int(summary["connections"]) == 5


def test_workers_share_the_port(stage, start_server):
    server = start_server(stage, "--workers", "2")
    exchange(server.address, [[pattern(100, c)] * 3 for c in range(40)])
    summary = server.stop()
    assert summary["workers"] == "2"
    assert int(summary["connections"]) == 40
    assert int(summary["requests"]) >= 120


def test_unknown_stage_is_an_error():
    r = subprocess.run([sys.executable, "-m", "uring.echo", "--stage", "no-such-stage"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "unknown stage" in r.stderr and "epoll" in r.stderr


def test_random_mix_of_clients(stage, start_server):
    """Pipelined, half-closing, resetting and briefly stalled clients at once, with
    small limits so that reading pauses and buffers run out: the state machines
    of every stage meet their rare paths together."""
    rng = random.Random(stage)
    options = {"max_unsent": ["--max-unsent", "32768"], "buffers": ["--buffers", "16"]}
    args = [a for name in _options(stage) for a in options.get(name, [])]
    server = start_server(stage, *args)
    baseline = server.fd_count()
    stop = threading.Event()
    errors = []

    def resetters() -> None:
        # Clients that send part of a message, maybe read a little, then reset.
        rng = random.Random(stage + " resets")
        try:
            while not stop.is_set():
                (s,) = connect_many(server.address, 1)
                s.sendall(pattern(rng.randint(1, 200_000), rng.randint(0, 1 << 30)))
                if rng.random() < 0.5:
                    s.recv(rng.randint(1, 5000))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
        except OSError as e:  # the server must never refuse us
            errors.append(e)

    thread = threading.Thread(target=resetters)
    thread.start()
    try:
        for round_ in range(3):
            n = 30
            scripts = [[pattern(rng.choice((1, rng.randint(1, 300), rng.randint(1, 70_000))),
                                round_ * 10_000 + c * 100 + i)
                        for i in range(rng.randint(1, 12))] for c in range(n)]
            exchange(server.address, scripts, depth=[rng.randint(1, 8) for _ in range(n)],
                     shut_wr=[rng.random() < 0.3 for _ in range(n)])
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    settle(server, baseline)
    server.stop()
