"""The C helpers of the echo benchmark: native_hot/echo_load and native_hot/echo_server.

Each test is bounded to a few seconds (short durations, socket timeouts).
They need a C compiler; without one they skip saying so.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from uring import native, probe
from uring.bench.echo_client import check_echo
from uring.bench.echo_servers import C_SERVER, RunningServer, ServerSpec, parse_summary

NO_COMPILER = shutil.which("gcc") is None and shutil.which("cc") is None
PROBE = probe.get()


def _binary(name: str) -> Path:
    path = native.binary(name)
    if path is None:
        if NO_COMPILER:
            pytest.skip(f"no C compiler: {native.why_unavailable(name)}")
        pytest.fail(native.why_unavailable(name))
    return path


@pytest.fixture(scope="module")
def echo_load() -> Path:
    return _binary("echo_load")


@pytest.fixture(scope="module")
def echo_server_bin() -> Path:
    if not PROBE.usable:
        pytest.skip(f"io_uring unusable: {PROBE.reason}")
    return _binary("echo_server")


class _Handler(socketserver.BaseRequestHandler):
    corrupt_at: int | None = None   # flip the byte at this stream offset

    def handle(self) -> None:
        seen = 0
        try:
            while data := self.request.recv(65536):
                at = self.corrupt_at
                if at is not None and seen <= at < seen + len(data):
                    data = bytearray(data)
                    data[at - seen] ^= 0x01
                seen += len(data)
                self.request.sendall(data)
        except ConnectionError:
            pass    # the load generator closes with echoes in flight


class _Corrupting(_Handler):
    corrupt_at = 1000


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def python_echo(request):
    handler = getattr(request, "param", _Handler)
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


def _load(binary: Path, address, *extra: str, timeout: float = 30) -> tuple[int, dict | None, str]:
    out = subprocess.run([str(binary), "--address", f"{address[0]}:{address[1]}", "--json",
                          *extra], capture_output=True, text=True, timeout=timeout)
    lines = out.stdout.strip().splitlines()
    return out.returncode, json.loads(lines[-1]) if lines else None, out.stderr


def test_echo_load_against_a_python_echo_server(echo_load, python_echo):
    rc, res, err = _load(echo_load, python_echo, "--number", "4", "--length", "300",
                         "--duration", "0.5", "--warmup", "0.1")
    assert rc == 0, err
    assert res["mismatches"] == 0 and res["errors"] == 0
    assert res["round_trips"] > 0 and res["warmup_round_trips"] > 0
    assert res["bytes"] == res["round_trips"] * 300
    assert 0 < res["p50_us"] <= res["p99_us"] <= res["p999_us"]
    assert res["server_cpu_ns"] is None


def test_echo_load_reports_server_cpu(echo_load, python_echo):
    rc, res, err = _load(echo_load, python_echo, "--number", "2", "--length", "64",
                         "--duration", "0.3", "--warmup", "0", "--server-pid", str(os.getpid()))
    assert rc == 0, err
    assert res["server_cpu_ns"] > 0


@pytest.mark.parametrize("python_echo", [_Corrupting], indirect=True)
def test_echo_load_detects_a_corrupting_server(echo_load, python_echo):
    rc, res, err = _load(echo_load, python_echo, "--number", "3", "--length", "128",
                         "--duration", "0.3", "--warmup", "0")
    assert rc == 1
    # Byte 1000 of each stream is round 7's byte 104: every connection trips.
    assert res["mismatches"] == 3
    assert err.count("mismatch in round 7 at byte 104") == 3


def test_echo_load_fails_when_nobody_listens(echo_load):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]   # bound, never listening: connections are refused
        rc, res, err = _load(echo_load, ("127.0.0.1", port), "--number", "2",
                             "--duration", "0.2", "--connect-timeout", "0.3")
    assert rc == 1
    assert res is None and "connections established" in err


def test_echo_load_rejects_bad_arguments(echo_load):
    out = subprocess.run([str(echo_load), "--number", "3"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 2 and "usage" in out.stderr


def _c_server(binary: Path, *extra: str) -> RunningServer:
    return RunningServer(ServerSpec(C_SERVER, "c", (str(binary), *extra)), cpu=None)


def test_c_server_echoes_byte_exact_and_stops_with_a_summary(echo_server_bin):
    server = _c_server(echo_server_bin)
    try:
        checked = check_echo(server.host, server.port, clients=6, timeout=20)
    finally:
        summary, problem = server.stop()
    assert problem is None
    assert summary["server"] == C_SERVER
    assert int(summary["connections"]) == 6
    assert int(summary["bytes"]) == checked
    assert int(summary["requests"]) >= 6 * 5
    assert int(summary["enters"]) <= int(summary["syscalls"])


def test_c_server_survives_running_out_of_buffers(echo_server_bin, echo_load):
    # 16 buffers of 256 bytes for 20 clients of 4 KiB: ENOBUFS all the time.
    server = _c_server(echo_server_bin, "--buffers", "16", "--buffer-size", "256")
    try:
        rc, res, err = _load(echo_load, (server.host, server.port), "--number", "20",
                             "--length", "4096", "--duration", "0.5", "--warmup", "0.1")
        checked = check_echo(server.host, server.port, clients=3, timeout=20)
    finally:
        summary, problem = server.stop()
    assert rc == 0, err
    assert res["round_trips"] > 0 and res["mismatches"] == 0
    assert checked > 0 and problem is None
    assert int(summary["enobufs"]) > 0


def test_c_server_serves_1000_connections(echo_server_bin, echo_load):
    server = _c_server(echo_server_bin)
    try:
        rc, res, err = _load(echo_load, (server.host, server.port), "--number", "1000",
                             "--length", "128", "--duration", "0.5", "--warmup", "0.2")
    finally:
        summary, problem = server.stop()
    assert rc == 0, err
    assert res["mismatches"] == 0 and res["errors"] == 0 and res["round_trips"] >= 1000
    assert int(summary["connections"]) == 1000 and problem is None


def test_c_server_stops_reading_from_a_client_that_does_not_read(echo_server_bin):
    server = _c_server(echo_server_bin, "--max-unsent", "65536")
    hog = socket.create_connection((server.host, server.port), timeout=10)
    try:
        hog.setblocking(False)
        sent, block = 0, b"x" * 65536
        deadline = time.monotonic() + 5
        # Write until the kernel's buffers on both sides are full.
        while time.monotonic() < deadline:
            try:
                sent += hog.send(block)
            except BlockingIOError:
                time.sleep(0.05)
                try:
                    sent += hog.send(block)
                except BlockingIOError:
                    break
        assert sent > 65536
        # Everyone else is still served.
        assert check_echo(server.host, server.port, sizes=(1000, 70000), clients=2,
                          timeout=10) > 0
    finally:
        hog.close()
        summary, problem = server.stop()
    assert problem is None
    assert int(summary["read_paused"]) >= 1


def test_c_server_accepts_again_after_emfile(echo_server_bin):
    def low_nofile() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

    proc = subprocess.Popen([str(echo_server_bin), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=low_nofile)
    conns = []
    try:
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(50)]
        for c in conns:
            c.sendall(b"hi")
        # The first ones are served while later accepts fail with EMFILE...
        assert conns[0].recv(2) == b"hi"
        # ...and once descriptors are free again, accepting resumes.
        for c in conns[:20]:
            c.close()
        for c in conns[20:]:
            c.sendall(b"yo")
            got = b""
            while not got.endswith(b"yo"):
                got += c.recv(4)
            assert got in (b"yo", b"hiyo")
    finally:
        for c in conns:
            c.close()
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    summary = parse_summary(out)
    assert proc.returncode == 0, err
    assert summary["connections"] == "50" and int(summary["accept_paused"]) >= 1


def test_c_server_reports_a_port_in_use(echo_server_bin):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        out = subprocess.run([str(echo_server_bin), "--port", str(s.getsockname()[1])],
                             capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "bind" in out.stderr


def test_make_skips_a_target_whose_header_is_missing(tmp_path):
    if shutil.which("make") is None or NO_COMPILER:
        pytest.skip("needs make and a C compiler (gcc)")
    for name in ("Makefile", "echo_load.c"):
        shutil.copy(native.SOURCE_DIR / name, tmp_path / name)
    with open(tmp_path / "Makefile", "a") as f:
        f.write("$(eval $(call library,fake,echo_load.c,bpf/no_such_header.h,,libfake-dev))\n"
                "$(eval $(call program,copy,echo_load.c,,,))\n")
    # Only the targets whose sources were copied: build them by name.
    out = subprocess.run(["make", "-s", "-C", str(tmp_path), "try-fake", "try-copy"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "skipping fake: bpf/no_such_header.h not found (install libfake-dev)" in out.stdout
    assert (tmp_path / "build" / "copy").is_file()
    assert not (tmp_path / "build" / "libfake.so").exists()
    out = subprocess.run(["make", "-s", "-C", str(tmp_path), "fake"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert "cannot build fake: bpf/no_such_header.h not found" in out.stderr


def test_native_explains_an_unknown_helper():
    assert native.binary("no_such_helper") is None
    why = native.why_unavailable("no_such_helper")
    assert why and "no_such_helper" in why
    with pytest.raises(ValueError):
        native.why_unavailable("echo_load", kind="module")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
