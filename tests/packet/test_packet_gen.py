"""The generator, in Python and in C: exactly the frames asked for, byte for byte; clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from uring.packet import frames, netns

from lab_env import native_params

# Captures every IPv4 frame on the receiving veth until K arrived or 10 s passed.
CAPTURE = textwrap.dedent("""
    import socket, sys, time
    dev, k = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((dev, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.settimeout(0.2)
    print("ready", flush=True)
    got, end = [], time.monotonic() + 10
    while len(got) < k and time.monotonic() < end:
        try:
            got.append(s.recv(4096).hex())
        except socket.timeout:
            pass
    print(" ".join(got), flush=True)
""")


def gen(topo, *args, native=False):
    argv = [sys.executable, "-m", "uring.packet.gen", "--iface", topo.tx_dev,
            "--native", "yes" if native else "no", *map(str, args)]
    return subprocess.run(topo.tx_exec(argv), capture_output=True, text=True, timeout=60)


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def send_and_capture(topo, k: int, use_native: bool, *args):
    """Send ``k`` frames with ``args`` while the receiver captures them: ``(gen run, hex frames)``."""
    cap = subprocess.Popen(topo.rx_exec([sys.executable, "-c", CAPTURE, topo.rx_dev, str(k)]),
                           stdout=subprocess.PIPE, text=True)
    try:
        assert cap.stdout.readline().strip() == "ready"
        out = gen(topo, *args, "--count", k, native=use_native)
        assert out.returncode == 0, out.stdout + out.stderr
        return out, cap.communicate(timeout=30)[0].split()
    finally:
        if cap.poll() is None:
            cap.kill()


@pytest.mark.parametrize("use_native", native_params("pktgen"))
@pytest.mark.parametrize("size", [60, 64, 333, 1514])
def test_sends_exactly_k_frames_byte_for_byte(topo, need_native, use_native, size):
    if use_native:
        need_native("pktgen")
    k = 40
    out, captured = send_and_capture(topo, k, use_native, "--size", size, "--run-id", 99)
    res = last_json(out.stdout)
    assert res["event"] == "sent" and res["sent"] == k and res["native"] is use_native
    assert res["bytes"] == k * size
    if not use_native:
        assert "native_hot/build/pktgen" not in out.stderr  # --native no: no note needed
    tpl = frames.Template(size, src_mac=netns.TX_MAC, dst_mac=netns.RX_MAC,
                          src_ip=netns.TX_IP, dst_ip=netns.RX_IP, run_id=99)
    assert [bytes.fromhex(h) for h in captured] == [tpl.frame(i) for i in range(k)]


@pytest.mark.parametrize("use_native", native_params("pktgen"))
@pytest.mark.parametrize("size", [60, 1514])
def test_flows_take_turns_on_source_ports_byte_for_byte(topo, need_native, use_native, size):
    """--flows 5 from --sport 65530: ports 65530..65534 in turn, checksums right, C == Python."""
    if use_native:
        need_native("pktgen")
    k = 40
    _, captured = send_and_capture(topo, k, use_native, "--size", size, "--run-id", 99,
                                   "--sport", 65530, "--flows", 5)
    tpl = frames.Template(size, src_mac=netns.TX_MAC, dst_mac=netns.RX_MAC,
                          src_ip=netns.TX_IP, dst_ip=netns.RX_IP, run_id=99, sport=65530,
                          flows=5)
    assert [bytes.fromhex(h) for h in captured] == [tpl.frame(i) for i in range(k)]
    assert {tpl.source_port(i) for i in range(k)} == set(range(65530, 65535))


@pytest.mark.parametrize("use_native", native_params("pktgen"))
def test_rate_and_duration_bound_the_run(topo, need_native, use_native):
    if use_native:
        need_native("pktgen")
    out = gen(topo, "--duration", 0.3, "--rate", 2000, native=use_native)
    assert out.returncode == 0, out.stdout + out.stderr
    res = last_json(out.stdout)
    # Paced at 2000/s for 0.3 s: at most about 600 frames (no timing assert on the low side).
    assert 0 < res["sent"] <= 700


@pytest.mark.parametrize("use_native", native_params("pktgen"))
@pytest.mark.parametrize("args, message", [
    (["--size", 59, "--count", 1], "size 59 is out of range"),
    (["--size", 1515, "--count", 1], "size 1515 is out of range"),
    (["--size", 64], "the run must be bounded"),
    (["--flows", 0, "--count", 1], "flows must be in 1..56536"),
    (["--sport", 65535, "--flows", 2, "--count", 1], "flows must be in 1..1 (source ports"),
])
def test_bad_input_is_a_clear_error(topo, need_native, use_native, args, message):
    if use_native:
        need_native("pktgen")
    out = gen(topo, *args, native=use_native)
    assert out.returncode == 2
    res = last_json(out.stdout)
    assert res["event"] == "error" and message in res["message"]


@pytest.mark.parametrize("use_native", native_params("pktgen"))
def test_unknown_interface(topo, need_native, use_native):
    if use_native:
        need_native("pktgen")
    argv = [sys.executable, "-m", "uring.packet.gen", "--iface", "nosuchdev0", "--count", "1",
            "--native", "yes" if use_native else "no"]
    out = subprocess.run(topo.tx_exec(argv), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "unknown interface" in last_json(out.stdout)["message"]


def test_python_fallback_says_so(topo, monkeypatch, tmp_path):
    argv = [sys.executable, "-m", "uring.packet.gen", "--iface", topo.tx_dev, "--count", "3"]
    out = subprocess.run(topo.tx_exec(argv), capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "URING_NATIVE_DIR": str(tmp_path),
                              "URING_NATIVE_BUILD": "no"})
    assert out.returncode == 0
    assert "pktgen is not built" in out.stderr and "sending from Python" in out.stderr
    res = last_json(out.stdout)
    assert res["native"] is False and "not built" in res["note"]
