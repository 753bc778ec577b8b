"""Two queues end to end: the generator's flows reach both, and every receiver gets all K.

The topology (``Topology(queues=2)``) maps every CPU to both TX queues
through XPS, so the kernel picks a frame's queue by its flow hash; the lab
gives the generator ``flows_for(2)`` flows. Per-queue counters of the
receiving veth (``ethtool -S``: ``rx_queue_<i>_xdp_packets``) show where the
frames went; receivers bound to queues (AF_XDP, DPDK) report their own
per-queue counts too. Counts and times are bounded; nothing is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from uring.packet import netns, stacks
from uring.packet.common import RxConfig
from uring.packet.lab import Point, flows_for, repo_env, run_point

from lab_env import native_params

QUEUES = 2
K = 3000
RATE = 30000

FRAME_STACKS = ["recvmmsg", "uring-recvmsg", "uring-recv", "tpacket-v3", "uring-packet",
                "afxdp", "afxdp-c", "dpdk-af_packet", "dpdk-af_xdp"]
# Every receiver with the C generator; the Python generator against two of them.
POINTS = [(name, "yes") for name in FRAME_STACKS] + [("recvmmsg", "no"), ("afxdp", "no")]


@pytest.fixture(scope="module")
def topo2(lab):
    """A two-queue sender/receiver topology for this module."""
    with netns.Topology(queues=QUEUES) as t:
        yield t


def send(topo, k, flows, native):
    argv = [sys.executable, "-m", "uring.packet.gen", "--iface", topo.tx_dev, "--count", str(k),
            "--rate", str(RATE), "--flows", str(flows), "--native", "yes" if native else "no"]
    out = subprocess.run(topo.tx_exec(argv), capture_output=True, text=True, timeout=60,
                         env=repo_env())
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def delta(before, after):
    return [b - a for a, b in zip(before, after)]


def test_every_cpu_may_send_on_every_tx_queue(topo2):
    paths = [f"/sys/class/net/{topo2.tx_dev}/queues/tx-{i}/xps_cpus" for i in range(QUEUES)]
    out = subprocess.run(topo2.tx_exec(["cat", *paths]), capture_output=True, text=True,
                         check=True).stdout.split()
    masks = {int(m.replace(",", ""), 16) for m in out}
    assert masks == {(1 << os.cpu_count()) - 1}


@pytest.mark.parametrize("use_native", native_params("pktgen"))
def test_generator_flows_reach_every_queue(topo2, need_native, use_native):
    if use_native:
        need_native("pktgen")
    k = 400
    before = topo2.rx_queue_packets()
    res = send(topo2, k, flows_for(QUEUES), use_native)
    per_queue = delta(before, topo2.rx_queue_packets())
    assert res["sent"] == k and res["native"] is use_native
    # Nothing else is sent on this link (no IPv6, static neighbours), so exactly k.
    assert sum(per_queue) == k and all(n > 0 for n in per_queue), per_queue


@pytest.mark.parametrize("use_native", native_params("pktgen"))
def test_one_flow_stays_on_one_queue(topo2, need_native, use_native):
    """Why --flows exists: frames alike in every header hash to the same queue."""
    if use_native:
        need_native("pktgen")
    before = topo2.rx_queue_packets()
    send(topo2, 200, 1, use_native)
    assert sorted(delta(before, topo2.rx_queue_packets())) == [0, 200]


def check_exact(rx, gen, k=K):
    assert gen.sent == k
    assert rx.unique == k and rx.packets == k, rx
    assert rx.duplicates == 0 and rx.foreign <= 16  # DPDK's af_packet sees our ICMP replies
    assert rx.stopped_by == "count"


@pytest.mark.parametrize("name, gen_native", POINTS, ids=[f"{n}-gen-{'c' if g == 'yes' else 'py'}"
                                                          for n, g in POINTS])
def test_receiver_gets_exactly_k_frames_from_both_queues(topo2, need_native, name, gen_native):
    stack = stacks.get(name)
    if stack.needs_native:
        need_native(stack.needs_native)
    if gen_native == "yes":
        need_native("pktgen")
    before = topo2.rx_queue_packets()
    rx, gen = run_point(topo2, Point(name, size=64, count=K, rate=RATE, gen_native=gen_native))
    per_queue = delta(before, topo2.rx_queue_packets())
    check_exact(rx, gen)
    assert rx.native == bool(stack.needs_native)
    assert all(n > 0 for n in per_queue) and sum(per_queue) >= K, per_queue
    if name.startswith("afxdp"):
        # One socket per queue, each got exactly what its queue carried.
        assert rx.extra["queues"] == [0, 1]
        assert [rx.extra["per_queue"][str(q)] for q in range(QUEUES)] == per_queue
    if name.startswith("dpdk"):
        assert len(rx.extra["per_dpdk_queue"]) == QUEUES
        assert sum(rx.extra["per_dpdk_queue"]) == K
    if name == "dpdk-af_xdp":
        # One net_af_xdp device per kernel queue, in queue order.
        assert rx.extra["per_dpdk_queue"] == per_queue
    assert not topo2.xdp_attached()


@pytest.mark.parametrize("use_native", native_params("xdp_rx"))
def test_afxdp_on_one_queue_gets_exactly_that_queues_frames(topo2, need_native, use_native):
    """--queue 1 --queues 1: the XSKMAP has only slot 1; queue 0's frames pass to the stack."""
    if use_native:
        need_native("xdp_rx")
    argv = [sys.executable, "-m", "uring.packet.rx_afxdp", "--iface", topo2.rx_dev,
            "--queue", "1", "--queues", "1", "--timeout", "30", "--idle", "1",
            "--native", "yes" if use_native else "no"]
    proc = subprocess.Popen(topo2.rx_exec(argv), stdout=subprocess.PIPE, text=True,
                            env=repo_env())
    try:
        assert json.loads(proc.stdout.readline())["event"] == "ready"
        before = topo2.rx_queue_packets()
        send(topo2, 400, flows_for(QUEUES), False)
        result = json.loads(proc.communicate(timeout=60)[0].strip().splitlines()[-1])
        per_queue = delta(before, topo2.rx_queue_packets())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert result["stopped_by"] == "idle" and result["extra"]["queues"] == [1]
    assert per_queue[0] > 0 and result["unique"] == result["packets"] == per_queue[1] > 0
    assert not topo2.xdp_attached()


def test_queue_ids_default_to_every_queue_and_refuse_missing_ones(topo2):
    code = ("import json, sys\nfrom uring.packet.common import RxConfig\n"
            "out = []\nfor q, n in ((0, 0), (1, 0), (0, 2), (1, 2)):\n"
            "    try:\n        out.append(RxConfig(sys.argv[1], queue=q, queues=n).queue_ids())\n"
            "    except ValueError as e:\n        out.append(str(e))\nprint(json.dumps(out))\n")
    out = subprocess.run(topo2.rx_exec([sys.executable, "-c", code, topo2.rx_dev]),
                         capture_output=True, text=True, timeout=60, env=repo_env())
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got[:3] == [[0, 1], [1], [0, 1]]
    assert f"{topo2.rx_dev} has RX queues 0..1; cannot receive on 2 queue(s) from queue 1" \
        == got[3]
    with pytest.raises(ValueError, match="queues in 0..64"):
        RxConfig("lo", queues=65)
