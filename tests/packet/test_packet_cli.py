"""``python -m uring.packet``: lists the stacks, runs one end to end, and on bad input
(size out of range, an unbounded run, no root) says what is wrong and builds nothing."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from uring.packet import netns, stacks
from uring.packet.lab import repo_env

from lab_env import IS_ROOT


def packet_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m uring.packet ARGS``; ``.pid`` is the child's (it names its namespaces)."""
    with subprocess.Popen([sys.executable, "-m", "uring.packet", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=repo_env()) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            raise
    done = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    done.pid = child.pid
    return done


def left_behind(pid: int) -> list[str]:
    """Namespaces that process ``pid`` made and did not remove.

    Only its own: other runs of the lab on this machine may come and go meanwhile.
    """
    if not IS_ROOT:
        return []
    return [ns for ns in netns.list_namespaces() if ns.startswith(f"{netns.PREFIX}-{pid}-")]


def test_list_names_every_stack_and_why_one_cannot_run():
    out = packet_cli("list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == stacks.names()
    for line, stack in zip(lines, stacks.STACKS.values()):
        why = stacks.unavailable(stack)
        assert line.endswith(f"[{why}]") if why else "[" not in line, line


@pytest.mark.parametrize("args, message", [
    (["--size", "59", "--count", "1"], "size 59 is out of range"),
    (["--size", "1515", "--count", "1"], "size 1515 is out of range"),
    (["--size", "64"], "give --count or --duration"),
    (["--count", "1", "--queues", "0"], "queues must be an int in 1..64"),
])
def test_bad_input_is_a_clear_error_and_builds_nothing(args, message):
    out = packet_cli("run", "afxdp", *args)
    assert out.returncode == 2 and f"error: {message}" in out.stderr, out.stderr
    assert left_behind(out.pid) == []


def test_unknown_stack_is_refused_by_the_parser():
    out = packet_cli("run", "nosuch", "--count", "1")
    assert out.returncode == 2 and "invalid choice: 'nosuch'" in out.stderr


def test_without_root_a_run_says_so_and_builds_nothing():
    # As in test_packet_netns: the interpreter lives under /root, so root is
    # dropped inside the child after the imports.
    code = ("import os, sys\nfrom uring.packet.__main__ import main\n"
            "if os.geteuid() == 0:\n    os.setgid(65534)\n    os.setuid(65534)\n"
            "sys.exit(main(['run', 'afxdp', '--count', '10']))\n")
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=repo_env()) as child:
        stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 2, stdout + stderr
    assert "error: the packet lab needs root" in stderr
    assert left_behind(child.pid) == []


@pytest.mark.parametrize("stack", ["recvmmsg", "afxdp"])
def test_run_receives_every_frame_and_removes_its_namespaces(lab, stack):
    out = packet_cli("run", stack, "--count", "300", "--rate", "20000")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^sent +300 frames", out.stdout, re.M), out.stdout
    assert re.search(r"^received +300 distinct frames .* 0 duplicates", out.stdout, re.M)
    assert "loss     0.00%" in out.stdout
    assert left_behind(out.pid) == []
