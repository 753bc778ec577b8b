"""Timeouts and counts that do not fit are refused; a timed wait ends; SQPOLL wakes (items 15-16)."""

import time

import pytest

import uring.ring
from lifetime_helpers import needs_io_uring, steady_signal
from uring import Ring, abi, ops

pytestmark = needs_io_uring


def test_timed_wait_ends_under_a_steady_signal():
    """Item 15: each EINTR retry restarted the full relative timeout."""
    with steady_signal() as fired, Ring(4) as ring:
        t0 = time.monotonic()
        assert ring.wait(1, timeout=0.5) == []
        elapsed = time.monotonic() - t0
        t0 = time.monotonic()
        assert ring.submit_and_wait(1, timeout=0.3) == 0
        elapsed2 = time.monotonic() - t0
    assert fired[0] > 10
    assert elapsed < 1.5 and elapsed2 < 1.3, (elapsed, elapsed2)


def test_relative_timeout_path_also_ends(monkeypatch):
    """Before 6.12 (no IORING_ENTER_ABS_TIMER) the remaining time is recomputed."""
    with steady_signal(), Ring(4) as ring:
        ring._abs_timer = False
        t0 = time.monotonic()
        assert ring.wait(1, timeout=0.4) == []
        elapsed = time.monotonic() - t0
    assert elapsed < 1.2


@pytest.mark.parametrize("call", [
    lambda r: r.wait(2**64),
    lambda r: r.wait(2**32),
    lambda r: r.wait(-1),
    lambda r: r.wait(1, timeout=2**64 + 1),
    lambda r: r.wait(1, timeout=2**63),
    lambda r: r.wait(1, timeout=float("inf")),
    lambda r: r.wait(1, timeout=float("nan")),
    lambda r: r.wait(0, timeout=-1),
    lambda r: r.submit_and_wait(2**64),
    lambda r: r.submit_and_wait(1, timeout=2**64 + 1),
    lambda r: ops.timeout(r, 1, 2**64),
    lambda r: ops.timeout(r, 1, 1, count=2**32),
    lambda r: ops.link_timeout(r, 1, 2**63),
])
def test_values_that_do_not_fit_are_refused(call):
    """Item 16: they were truncated into another timeout or count."""
    with Ring(4) as ring:
        with pytest.raises(ValueError):
            call(ring)
        assert ring.sq_ready() == 0


def test_float_timeouts_round_with_carry():
    with Ring(4) as ring:
        ops.timeout(ring, 1, 0.9999999999)
        assert ring._keep[1][1].tv_sec == 1 and ring._keep[1][1].tv_nsec == 0
        ops.timeout(ring, 2, 2**63 - 1)  # the largest tv_sec fits
        ops.async_cancel(ring, 3, 1)
        ops.async_cancel(ring, 4, 2)
        ring.submit_and_wait(4)


def test_sqpoll_always_wakes_without_a_full_fence(monkeypatch):
    """On weakly ordered CPUs every submit enters with IORING_ENTER_SQ_WAKEUP."""
    monkeypatch.setattr(uring.ring, "STRONGLY_ORDERED", False, raising=False)
    try:
        ring = Ring(4, flags=abi.IORING_SETUP_SQPOLL, sq_thread_idle=2000)
    except OSError as e:
        pytest.skip(f"SQPOLL refused here: {e}")
    with ring:
        before = ring.enter_count
        for ud in range(3):
            ops.nop(ring, ud)
            ring.submit()
        assert ring.enter_count == before + 3
        seen = []
        while len(seen) < 3:
            seen += ring.wait(1, timeout=5)
        assert sorted(c.user_data for c in seen) == [0, 1, 2]
