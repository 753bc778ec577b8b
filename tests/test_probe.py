"""The feature probe: what it prints, and the errors it gives for missing operations."""

import json
import subprocess
import sys

import pytest

from uring import Ring, abi, probe

PROBE = probe.get()


def run(*args):
    return subprocess.run([sys.executable, "-m", "uring.probe", *args],
                          capture_output=True, text=True, timeout=60)


def test_kernel_version_parsing():
    assert probe.kernel_version("6.18.44-fc-v669") == (6, 18)
    assert probe.kernel_version("5.4.0") == (5, 4)
    assert probe.kernel_version("6.1") == (6, 1)


def test_text_report_names_everything():
    out = run()
    assert out.returncode == (0 if PROBE.usable else 1), out.stderr
    assert PROBE.release in out.stdout
    if PROBE.usable:
        for m in abi.IoringOp:
            assert m.name in out.stdout
        for m in abi.IoringFeat:
            assert m.name in out.stdout
        assert "IORING_SETUP_SQPOLL" in out.stdout
    else:
        assert "NOT usable" in out.stdout


def test_json_report_matches_a_ring_of_our_own():
    out = run("--json")
    data = json.loads(out.stdout)
    assert data["kernel"] == PROBE.release
    assert len(data["opcodes"]) == len(abi.IoringOp)
    if not PROBE.usable:
        pytest.skip(f"io_uring unusable: {PROBE.reason}")
    with Ring(4) as ring:
        assert data["features_value"] == int(ring.features)
        ops = probe.probe_ring_ops(ring)
    assert {o["value"] for o in data["opcodes"] if o["supported"]} == ops
    assert abi.IORING_OP_NOP in ops
    assert all(o["since"].count(".") >= 1 for o in data["opcodes"])
    assert data["setup_flags"]["IORING_SETUP_SQPOLL"] is True


def test_require_op_names_the_kernel_version(monkeypatch):
    fake = probe.Probe("5.4.0", (5, 4), True, ops={abi.IORING_OP_NOP})
    monkeypatch.setattr(probe, "get", lambda: fake)
    probe.require_op(abi.IORING_OP_NOP)
    with pytest.raises(probe.OperationUnsupported, match=r"IORING_OP_RECV_ZC needs Linux 6\.15"):
        probe.require_op(abi.IORING_OP_RECV_ZC)


def test_unusable_probe_reports_reason(monkeypatch):
    from uring import syscall

    def refuse(*args):
        import ctypes
        ctypes.set_errno(1)
        return -1
    monkeypatch.setattr(syscall, "_syscall2", refuse)
    probe.get.cache_clear()
    try:
        p = probe.get()
    finally:
        monkeypatch.undo()
        probe.get.cache_clear()
    assert not p.usable and "io_uring_disabled" in p.reason
    assert "io_uring_disabled" in p.why_not_op(abi.IORING_OP_NOP)
