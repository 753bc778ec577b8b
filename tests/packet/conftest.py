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
from uring.packet import native, netns  # noqa: E402


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


@pytest.fixture(scope="session")
def built():
    """Build the native helpers once; map each name to its path (None if not built)."""
    ok, out = native.build()
    return {name: native.find(name) for name in native.NAMES} | {"_log": out, "_ok": ok}


@pytest.fixture
def need_native(built):
    """A function that skips the test when helper ``name`` could not be built, saying why."""
    def need(name: str) -> Path:
        path = built.get(name)
        if path is None:
            pytest.skip(f"{native.missing_note(name)}; build output: {built['_log'][-300:]}")
        return path
    return need
