"""Fixtures of the packet-lab tests: root and tool checks, namespaces, native helpers.

Tests that build namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and
iproute2 + ethtool; they skip elsewhere with that reason. Every topology is
created by a fixture and removed by it, and the session ends by checking
that no namespace of this process is left behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/kernel_btf.py

from lab_env import lab_skip_reason  # noqa: E402
from uring import native  # noqa: E402
from uring.packet import netns  # noqa: E402


@pytest.fixture(scope="session")
def lab():
    """Skip unless namespaces can be built; at the end, assert none of ours is left."""
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    yield
    mine = [ns for ns in netns.list_namespaces() if f"-{os.getpid()}-" in ns]
    assert not mine, f"namespaces left behind: {mine}"


@pytest.fixture(scope="module")
def topo(lab):
    """A fresh sender/receiver topology for one test module."""
    with netns.Topology() as t:
        yield t


#: The packet lab's helpers in native_hot/ (packet.mk), by the name uring.native builds.
PACKET_HELPERS = ("pktgen", "xdp_rx", "zcrx_rx", "dpdk_rx")


@pytest.fixture(scope="session")
def built():
    """Build the native helpers once; map each name to why it is unavailable (None: built)."""
    return {name: native.why_unavailable(name) for name in PACKET_HELPERS}


@pytest.fixture
def need_native(built):
    """A function that skips the test when helper ``name`` could not be built, saying why."""
    def need(name: str) -> None:
        if built[name]:
            pytest.skip(built[name])
    return need
