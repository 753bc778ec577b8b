"""Every command-line tool answers bad input with one line, never a traceback.

The contract (``uring/_cli.py``): a bad value or an unknown name prints
argparse's usage, then one ``PROG: error: ...`` line naming the value and what
is accepted, on stderr, nothing on stdout, exit status 2; a failure at run
time (a busy port) is the one error line alone, exit status 1. Output cut
short by its reader ends quietly. ``--help`` is plain text, ``--version``
prints the package version, and ``python -m uring`` lists the tools.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import uring
from uring._cli import plain

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ["uring", "uring.probe", "uring.echo", "uring.bench", "uring.packet"]


def tool(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m ARGS`` from the top of the checkout, with this interpreter."""
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def assert_one_error_line(out: subprocess.CompletedProcess, status: int, *names: str) -> str:
    """The error contract; returns the error line, which must contain every one of ``names``."""
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == status, out.stderr
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1 and errors[0] == lines[-1], out.stderr
    if status == 2:
        # Everything before the error line is argparse's usage, wrapped.
        assert lines[0].startswith("usage: ") and all(
            line.startswith(" ") for line in lines[1:-1]), out.stderr
    else:
        assert len(lines) == 1, out.stderr
    for name in names:
        assert name in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("args, names", [
    (["uring.echo", "--stage", "multishot", "--port", "70000"], ["'70000'", "0 to 65535"]),
    (["uring.echo", "--stage", "multishot", "--port", "x"], ["'x'", "0 to 65535"]),
    (["uring.echo", "--stage", "multishot", "--buffers", "0"], ["--buffers", "'0'", "1 to"]),
    (["uring.echo", "--stage", "multishot", "--buffer-size", "0"], ["--buffer-size", "'0'"]),
    (["uring.echo", "--stage", "multishot", "--host", "nosuchhost"],
     ["'nosuchhost'", "IP address"]),
    (["uring.echo", "--stage", "multishot", "--workers", "0"], ["--workers", "'0'"]),
    (["uring.echo", "--stage", "nosuch"], ["'nosuch'", "multishot"]),
    (["uring.echo"], ["--stage is required"]),
    (["uring.bench", "nosuch"], ["'nosuch'", "nop"]),
    (["uring.bench"], ["echo, nop"]),
    (["uring.bench", "nop", "--batches", "x"], ["--batches", "'x'", "1 to 32768"]),
    (["uring.bench", "nop", "--total", "0"], ["--total", "'0'"]),
    (["uring.bench", "echo", "--stages", "nosuch"], ["unknown stage 'nosuch'", "multishot"]),
    (["uring.bench", "echo", "--servers", "multishot,nosuch"],
     ["unknown server 'nosuch'", "selectors"]),
    (["uring.bench", "echo", "--clients", "0"], ["--clients", "'0'"]),
    (["uring.bench", "echo", "--duration", "x"], ["--duration", "'x'"]),
    (["uring.bench", "echo", "--host", "nosuchhost"], ["'nosuchhost'"]),
    (["uring.bench", "packets", "--sizes", "x"], ["--sizes", "'x'"]),
    (["uring.bench", "packets", "--sizes", "59"], ["size 59", "60..1514"]),
    (["uring.bench", "packets", "--stacks", "nosuch"], ["'nosuch'", "recvmmsg"]),
    (["uring.bench", "tcp-rx", "--receivers", "nosuch"], ["'nosuch'", "uring, epoll"]),
    (["uring.bench", "tcp-rx", "--buffer-sizes", "x"], ["--buffer-sizes", "'x'"]),
    (["uring.packet", "run", "afxdp", "--size", "59", "--count", "1"], ["size 59"]),
    (["uring.packet", "run", "afxdp", "--count", "x"], ["--count", "'x'"]),
    (["uring.packet", "run", "nosuch"], ["'nosuch'"]),
    (["uring.packet"], ["required"]),
    (["uring.probe", "--nosuch"], ["--nosuch"]),
], ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0].startswith("uring") else "")
def test_bad_value_is_one_line_with_usage_and_status_2(args, names):
    assert_one_error_line(tool(*args), 2, *names)


@pytest.mark.parametrize("extra", [[], ["--workers", "2"]], ids=["one", "workers"])
def test_busy_port_is_one_line_and_status_1(extra):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = tool("uring.echo", "--stage", "epoll", "--port", str(port), *extra)
    assert_one_error_line(out, 1, f"127.0.0.1:{port}", "in use", "--port 0")


@pytest.mark.parametrize("args", [["uring.echo", "--list"], ["uring.probe"], ["uring"],
                                  ["uring.packet", "list"], ["uring.bench", "--help"]])
def test_a_reader_that_goes_away_ends_it_quietly(args):
    # The read end is closed before the tool writes anything: its first
    # write meets EPIPE, as in `| head -1` when head is quicker.
    with subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=ROOT) as child:
        child.stdout.close()
        err = child.stderr.read().decode()
        status = child.wait(timeout=60)
    assert err == "" and status == 1, err


@pytest.mark.parametrize("args", [[t] for t in TOOLS] + [
    ["uring.bench", name] for name in ("echo", "nop", "packets", "tcp-rx")])
def test_version(args):
    out = tool(*args, "--version")
    assert out.returncode == 0 and out.stdout == f"uring {uring.__version__}\n", out


def test_the_version_is_written_once():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = {attr = "uring.__version__"}' in pyproject
    assert not re.search(r'^version\s*=\s*"', pyproject, re.M)


_REST = re.compile(r"``|:(mod|func|class|meth|data|attr|ref|doc):`|\*\*|::$", re.M)


@pytest.mark.parametrize("args", [[t] for t in TOOLS] + [
    ["uring.bench", name] for name in ("echo", "nop", "packets", "tcp-rx")] + [
    ["uring.echo", "--stage", "multishot"], ["uring.packet", "run"]])
def test_help_is_plain_text(args):
    out = tool(*args, "--help")
    assert out.returncode == 0 and out.stderr == ""
    assert not _REST.search(out.stdout), _REST.search(out.stdout)


def test_echo_help_says_how_to_see_a_stages_options():
    assert "--stage NAME --help" in tool("uring.echo", "--help").stdout
    out = tool("uring.echo", "--stage", "multishot", "--help").stdout
    assert "options of stage multishot" in out and "--buffer-size" in out


def test_bench_help_says_what_each_benchmark_measures():
    out = tool("uring.bench", "--help").stdout
    for name, what in [("echo", "requests/s"), ("nop", "NOP"), ("packets", "packets/s"),
                       ("tcp-rx", "bandwidth")]:
        assert re.search(rf"^\s+{re.escape(name)}\s+.*{what}", out, re.M), (name, out)


def test_python_m_uring_lists_the_tools_one_line_each():
    out = tool("uring")
    assert out.returncode == 0 and out.stderr == ""
    for module in ("uring.probe", "uring.echo", "uring.bench", "uring.packet"):
        lines = [line for line in out.stdout.splitlines() if f"python -m {module} " in line]
        assert len(lines) == 1, (module, out.stdout)


def test_packet_list_marks_every_path():
    out = tool("uring.packet", "list")
    assert out.returncode == 0
    for line in out.stdout.splitlines():
        assert line.split()[1] in ("runnable", "unavailable"), line


def test_stop_summary_starts_its_own_line_on_a_terminal():
    # On a terminal, the ^C the tty echoes would otherwise share the line.
    master, slave = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "uring.echo", "--stage", "epoll",
                              "--port", "0"], stdout=slave, stderr=subprocess.PIPE, cwd=ROOT)
    os.close(slave)
    try:
        text = _read_until(master, "listening on", 30)
        child.send_signal(signal.SIGINT)
        text += _read_until(master, "elapsed_s=", 30)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
        os.close(master)
    assert re.search(r"listening on [^\n]*\r?\n\r?\nsummary: stage=epoll ", text), text


def _read_until(fd: int, marker: str, timeout: float) -> str:
    text, deadline = "", time.monotonic() + timeout
    while marker not in text and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            text += os.read(fd, 4096).decode()
    return text


@pytest.mark.parametrize("doc, text", [
    ("see :mod:`uring.ring` and :func:`~uring.ring.Ring.submit`", "see uring.ring and submit"),
    ("``--port 0`` picks **any** *free* port", "--port 0 picks any free port"),
    ("Usage::\n\n    python -m x", "Usage:\n\n    python -m x"),
    (":class:`the ring <uring.ring.Ring>`", "the ring"),
    ("3 × 4 * 5 stays", "3 × 4 * 5 stays"),
])
def test_plain_strips_rest_markup(doc, text):
    assert plain(doc) == text
