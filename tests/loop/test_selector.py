"""UringSelector against the real kernel: level semantics, stale completions, fork, overflow."""

import os
import select
import selectors
import signal
import socket
import time

import pytest

from uring import Ring, ops, probe
from uring.loop import ForkedRingError, UringSelector

PROBE = probe.get()
pytestmark = pytest.mark.skipif(not PROBE.usable, reason=f"io_uring unusable: {PROBE.reason}")

R, W = selectors.EVENT_READ, selectors.EVENT_WRITE


@pytest.fixture
def sel():
    s = UringSelector()
    yield s
    s.close()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def ready(sel, timeout=0.5):
    return {key.fileobj: events for key, events in sel.select(timeout)}


def test_level_triggered_until_drained(sel, pair):
    a, b = pair
    sel.register(a, R, "data")
    assert ready(sel, 0) == {}
    b.send(b"xy")
    for _ in range(3):  # not read: reported every time, as epoll/poll do
        assert ready(sel) == {a: R}
    assert a.recv(1) == b"x"
    assert ready(sel) == {a: R}
    a.recv(1)
    assert ready(sel, 0.05) == {}


def test_one_enter_per_select(sel, pair):
    a, b = pair
    sel.register(a, R)
    sel.register(b, W)
    before = sel.ring.enter_count
    assert ready(sel) == {b: W}
    assert sel.ring.enter_count - before == 1
    before = sel.ring.enter_count
    assert ready(sel, 0.01) == {b: W}   # re-armed and reported in one enter
    assert sel.ring.enter_count - before == 1


def test_select_without_changes_or_timeout_makes_no_syscall(sel, pair):
    a, b = pair
    sel.register(a, R)
    sel.select(0)
    before = sel.ring.enter_count
    assert sel.select(0) == []
    assert sel.ring.enter_count == before


def test_timeout(sel, pair):
    sel.register(pair[0], R)
    t = time.monotonic()
    assert sel.select(0.05) == []
    assert time.monotonic() - t >= 0.045


def test_timeout_with_a_timeout_request(sel, pair):
    """The pre-5.11 path: a TIMEOUT request ends the wait, and a stale one ends nothing later."""
    a, b = pair
    sel.ext_arg = False
    sel.register(a, R)
    t = time.monotonic()
    assert sel.select(0.05) == []
    assert time.monotonic() - t >= 0.045
    b.send(b"x")
    assert ready(sel, 5) == {a: R}   # the timer it queued is removed
    a.recv(1)
    t = time.monotonic()
    assert sel.select(0.2) == []
    assert time.monotonic() - t >= 0.19


def test_modify_events_and_data(sel, pair):
    a, b = pair
    key = sel.register(a, R, 1)
    assert sel.modify(a, R, 2).data == 2
    assert sel.get_key(a).data == 2
    sel.modify(a, W)
    assert ready(sel) == {a: W}
    sel.modify(a, R | W)
    b.send(b"x")
    assert ready(sel) == {a: R | W}
    assert key.fileobj is a


def test_registration_errors(sel, pair):
    a, _ = pair
    with pytest.raises(ValueError):
        sel.register(a, 0)
    with pytest.raises(ValueError):
        sel.register(-1, R)
    sel.register(a, R)
    with pytest.raises(KeyError):
        sel.register(a, W)
    sel.unregister(a)
    with pytest.raises(KeyError):
        sel.unregister(a)
    with pytest.raises(KeyError):
        sel.modify(a, R)
    with pytest.raises(KeyError):
        sel.get_key(a)
    assert len(sel.get_map()) == 0


def test_stale_completion_of_a_reused_fd_is_dropped(sel):
    """A CQE of a removed poll never reaches the registration that reuses its fd."""
    a, b = socket.socketpair()
    sel.register(a, R)
    sel.select(0)
    (old_ud,) = sel._armed
    fd = a.fileno()
    a.close()   # closed while registered: the poll still holds the file
    sel.unregister(a)   # found by identity although fileno() is -1 now
    c, d = socket.socketpair()
    try:
        if c.fileno() != fd:
            c, d = d, c
        assert c.fileno() == fd
        sel.register(c, R)
        sel.select(0)
        # The old request's completion, as if it raced with its removal.
        ops.nop(sel.ring, old_ud, result=select.POLLIN)
        assert ready(sel, 0.05) == {}
        d.send(b"x")
        assert ready(sel) == {c: R}
    finally:
        for s in (b, c, d):
            s.close()


def test_peer_sees_close_after_unregister(sel, pair):
    """unregister submits POLL_REMOVE at once: the kernel drops its file reference."""
    a, b = pair
    sel.register(a, R)
    sel.select(0)
    sel.unregister(a)
    a.close()
    b.settimeout(2)
    assert b.recv(1) == b""


def test_closed_fd_is_reported(sel):
    """An fd closed before its poll was armed: the error reaches both directions."""
    a, b = socket.socketpair()
    fd = a.detach()
    sel.register(fd, R)
    os.close(fd)
    try:
        assert ready(sel) == {fd: R}
    finally:
        sel.unregister(fd)
        b.close()


def test_more_registrations_than_sq_and_cq_entries(pair):
    """Arming overflows the SQ (submitted in batches) and the CQ (NODROP keeps the rest)."""
    sel = UringSelector(Ring(4, cq_entries=8))
    pairs = [socket.socketpair() for _ in range(40)]
    try:
        for a, b in pairs:
            sel.register(b, W)
        assert set(ready(sel)) == {b for _, b in pairs}
        assert set(ready(sel)) == {b for _, b in pairs}
    finally:
        sel.close()
        for a, b in pairs:
            a.close()
            b.close()


def test_signal_during_wait_runs_handler_and_keeps_waiting(sel, pair):
    a, b = pair
    sel.register(a, R)
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *args: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        t = time.monotonic()
        assert sel.select(0.2) == []
        assert fired and time.monotonic() - t >= 0.19
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_signal_handler_exception_propagates(sel, pair):
    def boom(*args):
        raise KeyboardInterrupt
    sel.register(pair[0], R)
    old = signal.signal(signal.SIGALRM, boom)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        with pytest.raises(KeyboardInterrupt):
            sel.select(5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_close_with_polls_in_flight(pair):
    a, b = pair
    sel = UringSelector()
    sel.register(a, R)
    sel.register(b, R)
    sel.select(0)
    sel.close()
    assert sel.ring.closed and len(sel.get_map()) == 0
    with pytest.raises(RuntimeError):
        sel.register(a, R)


def test_forked_child_refuses_the_parents_ring(sel, pair):
    a, b = pair
    sel.register(a, R)
    sel.select(0)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            try:
                sel.select(0)
            except ForkedRingError:
                sel.close()   # drops the child's reference only
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    b.send(b"x")   # the parent's poll is still armed and works
    assert ready(sel) == {a: R}


def test_a_failing_completion_handler_loses_no_other_completion(sel, pair):
    a, b = pair
    seen = []

    def boom(res, flags):
        raise RuntimeError("handler failed")

    first = sel.new_user_data(boom)
    second = sel.new_user_data(lambda res, flags: seen.append(res))
    ops.nop(sel.ring, first)
    ops.nop(sel.ring, second)
    sel.register(b, W)
    with pytest.raises(RuntimeError, match="handler failed"):
        sel.select(1)
    assert seen == [0]
    assert ready(sel) == {b: W}   # its poll was re-armed: reported at the next select
