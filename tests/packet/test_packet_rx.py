"""Every receiver, with and without its native helper, gets exactly the K frames sent.

Each point runs the real thing: receiver in the rx namespace, generator in
the tx namespace, through :func:`uring.packet.lab.run_point`. The generator
is paced (``RATE``) so that no receiver has a reason to drop; counts and
time are bounded; nothing is timed.
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys

import pytest

from uring.packet import stacks
from uring.packet.lab import Point, StackError, repo_env, run_point

from lab_env import IS_ROOT

K = 3000
RATE = 30000

FRAME_STACKS = ["recvmmsg", "uring-recvmsg", "uring-recv", "tpacket-v3", "uring-packet",
                "afxdp", "afxdp-c", "dpdk-af_packet", "dpdk-af_xdp"]


def check_exact(rx, gen, k=K):
    assert gen.sent == k
    assert rx.unique == k and rx.packets == k, rx
    assert rx.duplicates == 0 and rx.foreign <= 16  # DPDK's af_packet sees our ICMP replies
    assert rx.stopped_by == "count"


# Every receiver with the native generator; the Python generator against two of them.
POINTS = [(name, "yes") for name in FRAME_STACKS] + [("recvmmsg", "no"), ("afxdp", "no")]


@pytest.mark.parametrize("name, gen_native", POINTS, ids=[f"{n}-gen-{'c' if g == 'yes' else 'py'}"
                                                          for n, g in POINTS])
def test_receiver_gets_exactly_k_frames(topo, built, need_native, name, gen_native):
    stack = stacks.get(name)
    if stack.needs_native:
        need_native(stack.needs_native)
    if gen_native == "yes":
        need_native("pktgen")
    rx, gen = run_point(topo, Point(name, size=64, count=K, rate=RATE, gen_native=gen_native))
    check_exact(rx, gen)
    assert rx.native == bool(stack.needs_native)
    assert not topo.xdp_attached()


@pytest.mark.parametrize("name", ["recvmmsg", "uring-recv", "tpacket-v3", "afxdp",
                                  "afxdp-c", "dpdk-af_xdp"])
@pytest.mark.parametrize("size", [60, 1514])
def test_smallest_and_largest_frames(topo, need_native, name, size):
    stack = stacks.get(name)
    if stack.needs_native:
        need_native(stack.needs_native)
    need_native("pktgen")
    rx, gen = run_point(topo, Point(name, size=size, count=500, rate=RATE))
    check_exact(rx, gen, 500)
    per_frame = rx.bytes / rx.packets
    assert per_frame == (size if stack.frames else size - 42)


def test_many_frames_cross_every_buffer_ring_wrap(topo, need_native):
    # 70000 > 2**16 buffer-ring positions: the u16 tail wraps at least once.
    need_native("pktgen")
    rx, gen = run_point(topo, Point("uring-recv", size=64, count=70000, rate=100000))
    assert gen.sent == 70000 and rx.duplicates == 0 and rx.foreign == 0
    assert rx.unique == rx.packets <= 70000


def test_afxdp_attaches_receives_and_detaches(topo, need_native):
    """While the receiver runs, the rx veth has our XDP program; afterwards it has none."""
    argv = [sys.executable, "-m", "uring.packet.rx_afxdp", "--iface", topo.rx_dev,
            "--count", "100", "--timeout", "20", "--native", "no"]
    proc = subprocess.Popen(topo.rx_exec(argv), stdout=subprocess.PIPE, text=True,
                            env=repo_env())
    try:
        assert json.loads(proc.stdout.readline())["event"] == "ready"
        info = topo.link_info("rx")
        assert info["xdp"]["prog"]["name"] == "uring_xsk"
        gen = subprocess.run(topo.tx_exec([sys.executable, "-m", "uring.packet.gen", "--iface",
                                           topo.tx_dev, "--count", "100", "--rate", "10000",
                                           "--native", "no"]),
                             capture_output=True, text=True, timeout=60, env=repo_env())
        assert gen.returncode == 0, gen.stdout + gen.stderr
        result = json.loads(proc.stdout.readline())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert result["unique"] == 100 and result["stopped_by"] == "count"
    assert not topo.xdp_attached()


def test_afxdp_detaches_even_when_killed(topo):
    argv = [sys.executable, "-m", "uring.packet.rx_afxdp", "--iface", topo.rx_dev,
            "--timeout", "30", "--native", "no"]
    proc = subprocess.Popen(topo.rx_exec(argv), stdout=subprocess.PIPE, text=True,
                            env=repo_env())
    assert json.loads(proc.stdout.readline())["event"] == "ready"
    assert topo.xdp_attached()
    proc.kill()  # SIGKILL: no cleanup code runs; closing the link fd detaches
    proc.wait(30)
    assert not topo.xdp_attached()


@pytest.mark.parametrize("mode", ["native", "generic"])
def test_afxdp_both_xdp_modes(topo, need_native, mode):
    need_native("pktgen")
    rx, gen = run_point(topo, Point("afxdp", count=500, rate=RATE,
                                    extra_args=["--xdp-mode", mode]))
    check_exact(rx, gen, 500)
    assert rx.extra["xdp_mode"] == mode


@pytest.mark.parametrize("name", ["zcrx", "zcrx-c"])
def test_zcrx_registration_reaches_the_kernel_and_reports_the_refusal(topo, need_native, name):
    if name == "zcrx-c":
        need_native("zcrx_rx")
    with pytest.raises(StackError) as err:
        run_point(topo, Point(name, count=10))
    assert err.value.errno == errno.EOPNOTSUPP  # from io_uring_register itself
    message = str(err.value)
    for words in ("IORING_REGISTER_ZCRX_IFQ", "header/data split", "queue-management API",
                  "bnxt_en", "mlx5", "driver veth"):
        assert words in message


@pytest.mark.parametrize("name", ["recvmmsg", "tpacket-v3", "afxdp", "uring-recv",
                                  "dpdk-af_packet"])
def test_unknown_interface_is_a_clear_error(topo, need_native, name):
    stack = stacks.get(name)
    if stack.needs_native:
        need_native(stack.needs_native)
    argv = [sys.executable, "-m", stack.module, "--iface", "nosuchdev0", "--count", "1",
            "--timeout", "5", *stack.args]
    out = subprocess.run(topo.rx_exec(argv), capture_output=True, text=True, timeout=60,
                         env=repo_env())
    assert out.returncode == 2
    event = json.loads(out.stdout.strip().splitlines()[-1])
    assert event["event"] == "error" and "unknown interface 'nosuchdev0'" in event["message"]
    assert not topo.xdp_attached()


def test_native_yes_without_the_helper_is_an_error_and_auto_falls_back(topo, tmp_path):
    env = {**repo_env(), "URING_NATIVE_DIR": str(tmp_path), "URING_NATIVE_BUILD": "no"}
    base = [sys.executable, "-m", "uring.packet.rx_afxdp", "--iface", topo.rx_dev,
            "--count", "1", "--timeout", "1"]
    out = subprocess.run(topo.rx_exec(base + ["--native", "yes"]), capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 2 and "libxdp_rx.so is not built" in out.stdout
    out = subprocess.run(topo.rx_exec(base + ["--native", "auto"]), capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["native"] is False and "receiving in Python" in result["note"]
    assert "libxdp_rx.so is not built" in out.stderr
    assert not topo.xdp_attached()


def test_signal_stops_a_receiver_with_its_result(topo):
    argv = [sys.executable, "-m", "uring.packet.rx_recvmmsg", "--iface", topo.rx_dev,
            "--timeout", "60"]
    proc = subprocess.Popen(topo.rx_exec(argv), stdout=subprocess.PIPE, text=True,
                            env=repo_env())
    assert json.loads(proc.stdout.readline())["event"] == "ready"
    proc.terminate()
    out = proc.communicate(timeout=30)[0]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["event"] == "result" and result["stopped_by"] == "signal 15"


@pytest.mark.parametrize("name", ["tpacket-v3", "afxdp", "uring-packet"])
def test_without_privileges_a_receiver_says_what_it_needs(name):
    """Without capabilities (as root, stripped by setpriv) the kernel refuses; we explain."""
    drop = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all"] if IS_ROOT else []
    if drop and shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to drop root's capabilities")
    stack = stacks.get(name)
    argv = [*drop, sys.executable, "-m", stack.module, "--iface", "lo", "--count", "1", "--timeout", "2", *stack.args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=repo_env())
    assert out.returncode == 2, out.stdout + out.stderr
    event = json.loads(out.stdout.strip().splitlines()[-1])
    assert event["event"] == "error" and "needs root" in event["message"], event
