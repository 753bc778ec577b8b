"""Receiver: DPDK on the lab's veth, through ``net_af_packet`` or ``net_af_xdp`` (a C helper).

DPDK drives NICs from user space with poll-mode drivers; a veth has no PCI
function to hand over, so the lab uses DPDK's two virtual devices that sit
on a kernel interface: ``net_af_packet`` (an AF_PACKET socket with a
PACKET_MMAP ring) and ``net_af_xdp`` (an AF_XDP socket with its own XDP
program, loaded through libxdp/libbpf). The receive loop is
``native_hot/dpdk_rx.c`` (DPDK owns its process, so it runs as a
subprocess); this module builds its EAL command line, runs it and relays
its ``ready`` and ``result`` lines. On a multi-queue device there is one
DPDK RX queue per kernel queue (``net_af_packet``: ``qpairs=N`` sockets in a
fanout group; ``net_af_xdp``: one device per queue, see :func:`eal_args`)
and ``dpdk_rx`` polls every one. There is no Python fallback: without
the helper (``dpkg -s libdpdk-dev``; ``make -C native_hot``) the stack is
unavailable and says so.

EAL options used: ``-l <cpu>`` (one lcore), ``--no-huge -m 256`` (anonymous
memory: this machine has no hugepages), ``--no-pci``, ``--file-prefix
uring-pkt-<pid>`` (its own runtime directory under /var/run/dpdk, so parallel
runs do not collide; removed afterwards — ``--in-memory`` would avoid it but
DPDK refuses it together with ``--no-huge``), ``--vdev``.

    python -m uring.packet.rx_dpdk --iface urx1a2b3c --extra net_af_xdp --count 1000
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable

from .. import native
from .common import STOP, RxConfig, Unsupported, run_receiver
from .lab import EventReader
from .stats import RxResult

__all__ = ["receive", "eal_args", "DEVICES", "mount_bpffs"]

DEVICES = ("net_af_packet", "net_af_xdp")


def eal_args(cfg: RxConfig, device: str, queues: list[int] | None = None) -> list[str]:
    """The EAL part of ``dpdk_rx``'s command line for ``device`` on ``cfg.iface``.

    ``queues`` are the kernel RX queues to cover (default
    :meth:`~uring.packet.common.RxConfig.queue_ids`); the device gets one
    DPDK RX queue for each, and ``dpdk_rx`` polls them all.
    """
    if device not in DEVICES:
        raise ValueError(f"DPDK device must be one of {', '.join(DEVICES)}, not {device!r}")
    queues = cfg.queue_ids() if queues is None else queues
    cpu = cfg.cpu if cfg.cpu is not None else min(os.sched_getaffinity(0))
    if device == "net_af_packet":
        # One AF_PACKET socket per queue pair, joined in a PACKET_FANOUT group
        # (hash mode) by the driver, so each frame reaches exactly one of them.
        # 8192 ring frames (16 MiB) per socket instead of 512: room for a burst
        # while the receive loop is off the CPU.
        vdevs = [f"net_af_packet0,iface={cfg.iface},qpairs={len(queues)},blocksz=4096,"
                 f"framesz=2048,framecnt=8192"]
    else:
        # One AF_XDP socket per kernel RX queue -- but one *device* per queue,
        # each with queue_count=1: DPDK 22.11's net_af_xdp refuses queue_count
        # above the interface's combined channel count (ETHTOOL_GCHANNELS), and
        # veth reports its queues as rx/tx channels, combined 0, which the driver
        # takes as 1 ("Specified queue count 2 is larger than combined queue
        # count 1"). The devices share one XDP program and XSKMAP (libxdp
        # reuses the one already on the interface); dpdk_rx polls them all.
        vdevs = [f"net_af_xdp{i},iface={cfg.iface},start_queue={q},queue_count=1"
                 for i, q in enumerate(queues)]
    return ["-l", str(cpu), "--no-huge", "-m", "256", "--no-pci",
            "--file-prefix", f"uring-pkt-{os.getpid()}", "--log-level", "lib.eal:error",
            *(arg for vdev in vdevs for arg in ("--vdev", vdev))]


def mount_bpffs() -> None:
    """Mount a BPF filesystem on /sys/fs/bpf if there is none.

    ``ip netns exec`` gives each command a fresh /sys without one, and
    libxdp (used by ``net_af_xdp``) pins its program dispatcher there. The
    mount lives in this command's private mount namespace only.
    """
    with open("/proc/mounts") as f:
        if any(line.split()[1:3] == ["/sys/fs/bpf", "bpf"] for line in f):
            return
    os.makedirs("/sys/fs/bpf", exist_ok=True)
    subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=True,
                   capture_output=True, timeout=10)


def receive(cfg: RxConfig, ready: Callable[[], None] = lambda: None) -> RxResult:
    """Run ``dpdk_rx`` on ``cfg.iface`` until it stops; return its counts."""
    device = cfg.extra or "net_af_packet"
    path = native.binary("dpdk_rx")
    if path is None:
        raise Unsupported(native.why_unavailable("dpdk_rx"))
    if device == "net_af_xdp":
        mount_bpffs()
    argv = [str(path), *eal_args(cfg, device), "--", "--port", str(cfg.port),
            "--run-id", str(cfg.run_id), "--count", str(cfg.count),
            "--timeout", str(max(cfg.timeout - 1, 1)), "--idle", str(cfg.idle)]
    # EAL logs go to a file, not a pipe nobody reads (a full pipe would stall dpdk_rx).
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
    proc.err_file = err
    reader = EventReader(proc.stdout)
    try:
        first = reader.read_events({"ready", "error"}, time.monotonic() + 30)[-1]
        if first["event"] == "error":
            raise Unsupported(f"DPDK {device}: {first['message']}: {_stderr(proc)}")
        ready()
        while True:
            try:
                last = reader.read_events({"result", "error"}, time.monotonic() + 0.2)[-1]
                break
            except TimeoutError:
                if STOP.set and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
        if last["event"] == "error":
            raise Unsupported(f"DPDK {device}: {last['message']}")
    except EOFError:
        raise Unsupported(f"DPDK {device}: dpdk_rx exited ({proc.wait()}) without a "
                             f"result: {_stderr(proc)}") from None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)
        err.close()
        shutil.rmtree(f"/var/run/dpdk/uring-pkt-{os.getpid()}", ignore_errors=True)
    res = RxResult.from_dict(last)
    res.stack, res.native = f"dpdk-{device[4:]}", True
    return res


def _stderr(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    proc.err_file.seek(0)
    return " ".join(proc.err_file.read().split())[-1500:]


if __name__ == "__main__":
    sys.exit(run_receiver("rx_dpdk", receive, description=__doc__))
