"""The servers of the echo benchmark: which exist here, how to start, pin and stop them.

Every server is a separate process started fresh for each measurement: the
``uring`` echo stages (``python -m uring.echo --stage NAME``, the ``epoll``
stage among them), the C reference server ``native_hot/echo_server`` and
the Python peers of :mod:`uring.bench.peers`. All of them print ``listening
on HOST:PORT`` when ready and a ``summary:`` line of ``key=value`` tokens
when SIGTERM stops them; the stages and the C server count their own system
calls there (``syscalls=N``).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from .. import native
from .peers import PEERS
from .peers import unavailable as peer_unavailable
from .proc import pin

__all__ = ["ServerSpec", "ServerFailed", "RunningServer", "uring_stages", "C_SERVER",
           "available_servers", "parse_summary", "MALLOC_ENV"]

#: The benchmark's name for the C reference server.
C_SERVER = "c-multishot"

#: Set for every server alike. glibc's malloc serves a large block from its
#: heap or from a fresh mmap by a threshold that moves with the process's
#: history, and gives heap memory back (brk) past a trim threshold that moves
#: with it. asyncio reads into a new 256 KiB bytes object per read
#: (``max_size``) and shrinks it to what arrived: over the mmap threshold
#: that is an mmap, an mremap and a munmap per read; on the heap under a low
#: trim threshold, two brk calls -- either way about 4x the CPU per round
#: trip -- and which one a fresh process got varied from run to run here.
#: Fixed thresholds (setting them also stops them moving), above that block,
#: make every run of every server alike.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20), "MALLOC_TRIM_THRESHOLD_": str(4 << 20)}


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: its name, kind (stage, c, peer) and command (no --port)."""

    name: str
    kind: str
    argv: tuple[str, ...]

    @property
    def self_counts(self) -> bool:
        """Whether its summary line carries its own system call count."""
        return self.kind in ("stage", "c")


class ServerFailed(RuntimeError):
    """A server did not start (or died): the message has its exit status and stderr."""


def uring_stages() -> tuple[list[str], str | None]:
    """The stage names ``python -m uring.echo --list`` prints, and why not if it cannot."""
    try:
        out = subprocess.run([sys.executable, "-m", "uring.echo", "--list"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [], f"python -m uring.echo --list failed: {e}"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return [], f"python -m uring.echo --list failed ({last})"
    names = [line.split()[0] for line in out.stdout.splitlines()
             if line.strip() and not line[0].isspace() and not line.startswith("#")]
    if not names:
        return [], "python -m uring.echo --list printed no stages"
    return names, None


def available_servers(stages: list[str] | None = None) -> tuple[list[ServerSpec], list[str]]:
    """Every server this machine can run, and a note for each one it cannot.

    ``stages`` chooses the uring stages (default: every listed stage); the
    ``epoll`` stage, the C reference and the peers are always included.
    """
    notes: list[str] = []
    specs: list[ServerSpec] = []
    listed, why = uring_stages()
    if why:
        notes.append(f"uring echo stages not benchmarked: {why}")
    else:
        chosen = listed if stages is None else stages
        unknown = [s for s in chosen if s not in listed]
        if unknown:
            notes.append(f"unknown stages skipped: {', '.join(unknown)} "
                         f"(known: {', '.join(listed)})")
        names = [s for s in chosen if s in listed and s != "epoll"]
        if "epoll" in listed:
            names.append("epoll")
        else:
            notes.append("uring.echo has no epoll stage: no epoll baseline")
        for name in names:
            specs.append(ServerSpec(name, "stage",
                                    (sys.executable, "-m", "uring.echo", "--stage", name)))
    binary = native.binary("echo_server")
    if binary is None:
        notes.append(f"C reference server not benchmarked: "
                     f"{native.why_unavailable('echo_server')}")
    else:
        specs.append(ServerSpec(C_SERVER, "c", (str(binary),)))
    for name, module in PEERS.items():
        why = peer_unavailable(name)
        if why:
            notes.append(f"peer {name} not benchmarked: {why}")
            continue
        specs.append(ServerSpec(name, "peer",
                                (sys.executable, "-m", f"uring.bench.peers.{module}")))
    return specs, notes


def parse_summary(text: str) -> dict[str, str]:
    """The ``key=value`` tokens of the last line of ``text`` that has any."""
    for line in reversed(text.strip().splitlines()):
        tokens = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if tokens:
            return tokens
    return {}


class RunningServer:
    """One started server process, pinned, ready to accept; :meth:`stop` it.

    The ready line is read from its stdout (a pipe: after it, a server only
    prints its summary); stderr goes to a temporary file so a chatty server
    never blocks on it.
    """

    def __init__(self, spec: ServerSpec, cpu: int | None, host: str = "127.0.0.1",
                 ready_timeout: float = 30.0) -> None:
        self.spec = spec
        self._stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(list(spec.argv) + ["--host", host, "--port", "0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env={**os.environ, **MALLOC_ENV})
        self.pid = self.proc.pid
        self.cpu = cpu
        pin(self.pid, cpu)
        try:
            line = self._read_line(ready_timeout)
            if not line.startswith("listening on "):
                raise ServerFailed(f"{spec.name}: expected 'listening on HOST:PORT', "
                                   f"got {line!r}{self._stderr_tail()}")
        except BaseException:
            self._kill()
            raise
        self.address = line[len("listening on "):].strip()
        host, _, port = self.address.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        pin(self.pid, cpu)   # threads started while it got ready

    def _read_line(self, timeout: float) -> str:
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerFailed(f"{self.spec.name}: not ready after {timeout:.0f} s"
                                       f"{self._stderr_tail()}")
                if sel.select(left):
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        self.proc.wait(5)
                        raise ServerFailed(f"{self.spec.name}: exited with status "
                                           f"{self.proc.returncode} before it was ready"
                                           f"{self._stderr_tail()}")
                    buf += chunk
        line, _, self._rest = buf.partition(b"\n")
        return line.decode(errors="replace")

    def _stderr_tail(self, lines: int = 3) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read().strip().splitlines()[-lines:]
        return (": " + " | ".join(tail)) if tail else ""

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def _kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()
        self._stderr.close()

    def stop(self, timeout: float = 15.0) -> tuple[dict[str, str], str | None]:
        """SIGTERM, wait; (its summary tokens, None) or (whatever it printed, the problem)."""
        problem = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                out, _ = self.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, _ = self.proc.communicate()
                problem = f"did not stop within {timeout:.0f} s of SIGTERM; killed"
        else:
            out, _ = self.proc.communicate()
            problem = f"died during the run (status {self.proc.returncode})"
        if problem is None and self.proc.returncode != 0:
            problem = f"exit status {self.proc.returncode} after SIGTERM"
        if problem:
            problem += self._stderr_tail()
        self._stderr.close()
        text = (self._rest + out).decode(errors="replace")
        return parse_summary(text), problem
