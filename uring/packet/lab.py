"""Running one measurement: a receiver in the rx namespace, the generator in the tx namespace.

:func:`run_point` starts the receiver (``python -m <stack module>`` pinned to
the receive CPU), waits for its ``ready`` line, runs the generator pinned to
the send CPU, then waits for the receiver to stop by itself (``--count``
reached, or ``--idle`` seconds without a frame) and reads both JSON result
lines. Every wait is bounded; a receiver that does not stop in time gets
SIGTERM, then SIGKILL. A receiver that reports an error (an unknown
interface, a refusal by the kernel) raises :class:`StackError` with its
message.

On a topology with several queues the receiver is told to take every one
(``--queues``) and the generator spreads its frames over
:data:`FLOWS_PER_QUEUE` flows per queue (``--flows``): the kernel hashes
each flow to a queue with a per-boot random key, so with only one flow per
queue two of them would land on the same queue about half the time (two
queues), and a queue would get nothing.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .frames import DEFAULT_PORT
from .netns import Topology
from .stacks import Stack, get
from .stats import GenResult, RxResult

__all__ = ["StackError", "Point", "run_point", "EventReader", "repo_env", "READY_TIMEOUT",
           "FLOWS_PER_QUEUE", "flows_for"]

READY_TIMEOUT = 30.0
#: Flows the generator uses per queue of a multi-queue topology (see the module docstring).
FLOWS_PER_QUEUE = 8
_REPO = Path(__file__).resolve().parents[2]


class StackError(RuntimeError):
    """A receiver or the generator reported an error; ``errno`` is the kernel's when it had one."""

    def __init__(self, message: str, errno: int | None = None, stack: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.stack = stack


def repo_env() -> dict[str, str]:
    """This environment with the repository on ``PYTHONPATH`` (children run ``-m uring...``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO), env.get("PYTHONPATH")) if p)
    return env


@dataclass
class Point:
    """One measurement's settings: which stack, what frames, how many, how long.

    ``flows`` is the generator's ``--flows`` (0: :func:`flows_for` the topology).
    """

    stack: str
    size: int = 64
    count: int = 0
    duration: float = 0.0
    rate: float = 0.0
    gen_native: str = "auto"
    idle: float = 1.0
    timeout: float = 0.0
    batch: int = 64
    flows: int = 0
    extra_args: list[str] = field(default_factory=list)


def flows_for(queues: int) -> int:
    """How many flows spread frames over ``queues`` queues: 1 for one, else 8 per queue."""
    return 1 if queues <= 1 else FLOWS_PER_QUEUE * queues


class EventReader:
    """Reads a child's stdout lines on a thread, so waits for them can have a deadline."""

    def __init__(self, stream) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def join(self, timeout: float) -> None:
        """Wait (bounded) for the child's output to end."""
        self._thread.join(timeout)

    def read_events(self, until: set[str], deadline: float) -> list[dict]:
        """JSON event lines up to one whose ``event`` is in ``until``; other output is skipped.

        Raises ``TimeoutError`` at ``deadline`` (``time.monotonic()``) and
        ``EOFError`` when the child closed its output first.
        """
        events = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the receiver in time")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)  # stay at end of file for later calls
                raise EOFError("the receiver exited without a result")
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            events.append(event)
            if event.get("event") in until:
                return events


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_point(topo: Topology, point: Point) -> tuple[RxResult, GenResult]:
    """Measure one point; return the receiver's and the generator's results."""
    stack: Stack = get(point.stack)
    run_id = secrets.randbits(32)
    if point.timeout:
        timeout = point.timeout
    else:
        timeout = (point.duration or 0) + (point.count / point.rate if point.rate else 0) + 30
    rx_argv = [sys.executable, "-m", stack.module, "--iface", topo.rx_dev,
               "--run-id", str(run_id), "--count", str(point.count),
               "--timeout", str(timeout), "--idle", str(point.idle),
               "--cpu", str(topo.rx_cpus[0]), "--batch", str(point.batch),
               "--queues", str(topo.queues), *stack.args, *point.extra_args]
    env = repo_env()
    with tempfile.TemporaryFile("w+") as rx_err:
        rx = subprocess.Popen(topo.rx_exec(rx_argv), stdout=subprocess.PIPE, stderr=rx_err,
                              text=True, env=env)
        reader = EventReader(rx.stdout)
        try:
            try:
                events = reader.read_events({"ready", "error"},
                                            time.monotonic() + READY_TIMEOUT)
            except (TimeoutError, EOFError) as e:
                rx_err.seek(0)
                raise StackError(f"{stack.name}: {e}: {rx_err.read()[-2000:]}",
                                 stack=stack.name) from None
            if events[-1]["event"] == "error":
                raise StackError(events[-1]["message"], events[-1].get("errno"), stack.name)
            gen = (_stream if stack.stream else _generate)(topo, point, run_id, env)
            try:
                events = reader.read_events({"result", "error"},
                                            time.monotonic() + point.idle + 30)
            except TimeoutError:
                _stop(rx)
                events = reader.read_events({"result", "error"}, time.monotonic() + 10)
            except EOFError as e:
                rx_err.seek(0)
                raise StackError(f"{stack.name}: {e}: {rx_err.read()[-2000:]}",
                                 stack=stack.name) from None
            last = events[-1]
            if last["event"] == "error":
                raise StackError(last["message"], last.get("errno"), stack.name)
            return RxResult.from_dict(last), gen
        finally:
            _stop(rx)
            reader.join(5)
            rx.stdout.close()


def _stream(topo: Topology, point: Point, run_id: int, env: dict) -> GenResult:
    # Stream receivers (zcrx) read TCP: send count * size bytes (or for duration).
    argv = [sys.executable, "-m", "uring.packet.tcp_send", "--host", topo.rx_ip,
            "--port", str(DEFAULT_PORT), "--bytes", str(point.count * point.size),
            "--duration", str(point.duration), "--seed", str(run_id & 0xFF),
            "--cpu", str(topo.tx_cpus[0])]
    out = subprocess.run(topo.tx_exec(argv), capture_output=True, text=True, env=env,
                         timeout=(point.duration or 0) + 60)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    data = json.loads(lines[-1]) if lines else {"event": "error", "message": out.stderr}
    if data.get("event") != "sent":
        raise StackError(f"tcp_send: {data.get('message')}")
    return GenResult.from_dict(data)


def _generate(topo: Topology, point: Point, run_id: int, env: dict) -> GenResult:
    argv = [sys.executable, "-m", "uring.packet.gen", "--iface", topo.tx_dev,
            "--size", str(point.size), "--count", str(point.count),
            "--duration", str(point.duration), "--rate", str(point.rate),
            "--run-id", str(run_id), "--cpu", str(topo.tx_cpus[0]),
            "--native", point.gen_native, "--mtu", str(topo.mtu),
            "--flows", str(point.flows or flows_for(topo.queues))]
    limit = (point.duration or 0) + (point.count / point.rate if point.rate else 0) + 60
    out = subprocess.run(topo.tx_exec(argv), capture_output=True, text=True, env=env,
                         timeout=limit)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise StackError(f"generator failed ({out.returncode}): {out.stderr[-2000:]}")
    data = json.loads(lines[-1])
    if data.get("event") != "sent":
        raise StackError(f"generator: {data.get('message')}")
    res = GenResult.from_dict(data)
    if not res.note and out.stderr.strip():
        res.note = out.stderr.strip().splitlines()[-1]
    return res
