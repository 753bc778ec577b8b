"""What the benchmarks read from ``/proc`` and ``perf``: CPU time, load, pinning, syscalls.

* :func:`task_cpu_ns` — a process's CPU time from ``/proc/PID/task/*/schedstat``
  (nanoseconds on CPU, summed over its threads, io_uring's SQPOLL and io-wq
  threads included: they are threads of the process since Linux 5.12);
* :func:`cpu_times` / :func:`loadavg` — the whole machine, to tell how much
  else ran during a measurement;
* :func:`pick_cpus` / :func:`pin` — one CPU for the server, another for the
  client;
* :func:`perf_unavailable` / :class:`PerfSyscalls` — system calls of a process
  counted by ``perf stat -e raw_syscalls:sys_enter -p PID``.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

__all__ = ["task_cpu_ns", "CpuTimes", "cpu_times", "loadavg", "pick_cpus", "pin",
           "perf_unavailable", "PerfSyscalls"]


def task_cpu_ns(pid: int) -> int | None:
    """Nanoseconds ``pid`` has run on a CPU, all its threads together; None if it is gone.

    ``schedstat``'s first field is the scheduler's own account (exact, not
    tick-sampled like ``/proc/PID/stat``). A thread that exits between the
    directory listing and the read is skipped; its time is then missing,
    so sample a process whose threads live as long as the measurement.
    """
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU time in seconds since boot, from the ``cpu`` line of ``/proc/stat``."""

    busy: float     # user + nice + system + irq + softirq
    idle: float     # idle + iowait
    steal: float    # taken by the hypervisor for other guests

    def __sub__(self, other: "CpuTimes") -> "CpuTimes":
        return CpuTimes(self.busy - other.busy, self.idle - other.idle,
                        self.steal - other.steal)


def cpu_times() -> CpuTimes:
    """The ``cpu`` line of ``/proc/stat`` (all CPUs), in seconds."""
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    fields += [0] * (8 - len(fields))
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return CpuTimes((user + nice + system + irq + softirq) / hz, (idle + iowait) / hz,
                    steal / hz)


def loadavg() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    with open("/proc/loadavg") as f:
        a, b, c = f.read().split()[:3]
    return float(a), float(b), float(c)


def pick_cpus() -> tuple[int | None, int | None]:
    """(client CPU, server CPU): the first and last CPU this process may use.

    (None, None) on a single CPU, where pinning both to it would only
    serialise them.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[-1]


def pin(pid: int, cpu: int | None) -> bool:
    """Pin every thread of ``pid`` to ``cpu`` (None: leave it); False if one could not be.

    Threads created later inherit the mask. Kernel-owned threads of the
    process (io_uring's io-wq and SQPOLL workers) refuse with EINVAL and keep
    their own placement; that is not counted as a failure.
    """
    if cpu is None:
        return True
    ok = True
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return False
    for tid in tids:
        try:
            os.sched_setaffinity(tid, {cpu})
        except ProcessLookupError:
            continue
        except OSError as e:
            if e.errno != errno.EINVAL:   # a PF_NO_SETAFFINITY kernel thread
                ok = False
    return ok


def perf_unavailable() -> str | None:
    """None if ``perf stat -e raw_syscalls:sys_enter`` works here, else why not."""
    if shutil.which("perf") is None:
        return "perf is not installed (Debian: linux-perf)"
    try:
        out = subprocess.run(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter",
                              "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"perf stat failed: {e}"
    if out.returncode != 0 or _perf_count(out.stderr) is None:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return f"perf stat -e raw_syscalls:sys_enter does not work here: {last}"
    return None


def _perf_count(text: str) -> int | None:
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("raw_syscalls:sys_enter"):
            try:
                return int(fields[0])
            except ValueError:
                return None
    return None


class PerfSyscalls:
    """Count the system calls of a running process with ``perf stat``, from start to stop.

    Enabling the ``raw_syscalls`` tracepoint slows every system call on the
    machine a little (the slow syscall entry path), so keep it out of the
    runs whose CPU time is measured.
    """

    def __init__(self, pid: int, cpu: int | None = None, settle: float = 0.3) -> None:
        fd, self._path = tempfile.mkstemp(prefix="perf-", suffix=".csv")
        os.close(fd)
        self._proc = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-o", self._path, "-e", "raw_syscalls:sys_enter",
             "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        pin(self._proc.pid, cpu)
        # perf prints nothing once attached; give it the time it takes to.
        time.sleep(settle)
        self._count: int | None = None
        self._stopped = False

    def stop(self) -> int | None:
        """Stop counting; the number of system calls, or None if perf failed.

        Calling it again returns the same number.
        """
        if self._stopped:
            return self._count
        self._stopped = True
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            return None
        try:
            with open(self._path) as f:
                self._count = _perf_count(f.read())
            return self._count
        finally:
            os.unlink(self._path)
