"""The topology helper: built as described, always torn down, unique per run, clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from uring.packet import netns
from uring.packet.netns import Topology

from lab_env import IS_ROOT


def run_in(ns: str, argv: list[str]) -> str:
    return subprocess.run(netns.ns_exec(ns, argv), capture_output=True, text=True,
                          check=True).stdout


def existing() -> set[str]:
    return set(netns.list_namespaces())


def test_topology_has_the_receive_core_setup(lab):
    with Topology() as t:
        assert {t.tx_ns, t.rx_ns} <= existing()
        assert "generic-receive-offload: on" in run_in(t.rx_ns, ["ethtool", "-k", t.rx_dev])
        assert "tcp-segmentation-offload: off" in run_in(t.tx_ns, ["ethtool", "-k", t.tx_dev])
        assert run_in(t.rx_ns, ["cat", f"/sys/class/net/{t.rx_dev}/threaded"]).strip() == "1"
        assert t.napi_pids
        for pid in t.napi_pids:
            with open(f"/proc/{pid}/comm") as f:
                assert f.read().startswith(f"napi/{t.rx_dev}-")
            assert os.sched_getaffinity(pid) <= set(t.rx_cpus)
        info = t.link_info("rx")
        assert info["address"] == netns.RX_MAC and info["operstate"] == "UP"
        assert t.rx_ifindex == info["ifindex"]
        assert not t.xdp_attached()
    assert not {t.tx_ns, t.rx_ns} & existing()
    assert t.rx_dev not in subprocess.run(["ip", "-br", "link"], capture_output=True,
                                          text=True).stdout


def test_torn_down_when_the_body_raises(lab):
    with pytest.raises(RuntimeError, match="boom"):
        with Topology() as t:
            names = {t.tx_ns, t.rx_ns}
            raise RuntimeError("boom")
    assert not names & existing()


def test_parallel_topologies_do_not_collide(lab):
    with Topology() as a, Topology() as b:
        assert len({a.tx_ns, a.rx_ns, b.tx_ns, b.rx_ns}) == 4
        assert a.rx_dev != b.rx_dev and not set(a.napi_pids) & set(b.napi_pids)
    assert not {a.tx_ns, b.tx_ns, a.rx_ns, b.rx_ns} & existing()


def test_two_queues_give_two_pinned_napi_threads(lab):
    with Topology(queues=2) as t:
        assert len(t.napi_pids) == 2
        info = t.link_info("rx")
        assert info["num_rx_queues"] == 2


SCRIPT = textwrap.dedent("""
    import sys, time
    from uring.packet.netns import Topology
    t = Topology()
    t.up()
    print(t.tx_ns, t.rx_ns, flush=True)
    if sys.argv[1] == "exit":
        sys.exit(3)          # no context manager: atexit tears down
    time.sleep(60)           # wait for the signal
""")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGHUP", "exit"])
def test_torn_down_on_signals_and_exit(lab, how):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, how], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        names = set(proc.stdout.readline().split())
        assert len(names) == 2 and names <= existing()
        if how != "exit":
            proc.send_signal(getattr(signal, how))
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not names & existing(), proc.stderr.read()


def test_command_line_up_list_down(lab):
    out = subprocess.run([sys.executable, "-m", "uring.packet.netns", "up", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    try:
        assert info["keep"] and {info["tx_ns"], info["rx_ns"]} <= existing()
        listed = subprocess.run([sys.executable, "-m", "uring.packet.netns", "list"],
                                capture_output=True, text=True).stdout.split()
        assert info["rx_ns"] in listed
    finally:
        out = subprocess.run([sys.executable, "-m", "uring.packet.netns", "down",
                              info["rx_ns"]], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not {info["tx_ns"], info["rx_ns"]} & existing()
    bad = subprocess.run([sys.executable, "-m", "uring.packet.netns", "down",
                          "uring-pkt-0-ffffff-rx"], capture_output=True, text=True)
    assert bad.returncode == 1 and "no such packet-lab namespace" in bad.stderr


def test_stale_namespaces_are_found_by_their_dead_owner(lab):
    with Topology() as t:
        # A namespace named after a pid that cannot exist is stale; ours is not.
        assert netns._stale(t.tx_ns.replace(f"-{os.getpid()}-", "-4194999-"))
        assert not netns._stale(t.tx_ns)


def test_non_root_gets_a_clear_error_and_nothing_is_created():
    before = existing() if IS_ROOT else set()
    # The interpreter lives under /root here, so drop root after start-up,
    # inside the child, before the topology is asked for.
    code = ("import os\nfrom uring.packet.netns import Topology\n"
            "if os.geteuid() == 0:\n    os.setgid(65534)\n    os.setuid(65534)\n"
            "try:\n    Topology().up()\n"
            "except PermissionError as e:\n    print('PermissionError:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert "PermissionError: the packet lab needs root" in out.stdout, out.stderr
    if IS_ROOT:
        assert existing() == before


def test_missing_tools_are_named(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="iproute2.*ethtool|apt-get install"):
        netns.check_prerequisites()


def test_bad_arguments():
    with pytest.raises(ValueError, match="queues"):
        Topology(queues=0)
    with pytest.raises(ValueError, match="tag"):
        Topology(tag="XYZ!")
    with pytest.raises(ValueError, match="not a packet-lab namespace"):
        netns.remove_namespaces(["default"])

