"""An unchanged asyncio program (everything_program.py) runs the same on uring.loop."""

import os
import subprocess
import sys

import pytest

from uring import probe

PROBE = probe.get()
pytestmark = pytest.mark.skipif(not PROBE.usable, reason=f"io_uring unusable: {PROBE.reason}")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXPECTED = ["streams: HELLO STREAMS", "subprocess: subprocess exit=0",
            "signal_handler: SIGUSR1", "udp: udp", "executor: worker thread"]


def run(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, ROOT]))
    out = subprocess.run([sys.executable, "-W", "error", *args], capture_output=True,
                         text=True, timeout=60, env=env, cwd=HERE)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    return out.stdout.splitlines()


def test_default_loop():
    assert run("everything_program.py") == EXPECTED + ["loop: asyncio.unix_events"]


def test_one_line_switch():
    lines = run("-c", "import everything_program, uring.loop;"
                      " uring.loop.run(everything_program.main())")
    assert lines == EXPECTED + ["loop: uring.loop.events"]


def test_policy():
    lines = run("-c", "import asyncio, everything_program, uring.loop;"
                      " asyncio.set_event_loop_policy(uring.loop.EventLoopPolicy());"
                      " asyncio.run(everything_program.main())")
    assert lines == EXPECTED + ["loop: uring.loop.events"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_loop_factory():
    lines = run("-c", "import asyncio, everything_program, uring.loop;"
                      " asyncio.run(everything_program.main(), loop_factory=uring.loop.EventLoop)")
    assert lines == EXPECTED + ["loop: uring.loop.events"]
