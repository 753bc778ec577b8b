"""The Ring against the real kernel: setup flags, mappings, waits, overflow, SQPOLL."""

import ctypes
import errno
import gc
import os
import socket
import time
import weakref

import pytest
from hypothesis import given, settings, strategies as st

from uring import Ring, RingClosed, SubmissionQueueFull, Unavailable, abi, probe, syscall
from uring.abi import IoringSetup as S

PROBE = probe.get()
pytestmark = pytest.mark.skipif(not PROBE.usable, reason=f"io_uring unusable: {PROBE.reason}")

NOP = abi.IORING_OP_NOP


def nop(ring, user_data, flags=0):
    return ring.prep(NOP, flags, 0, -1, 0, 0, 0, 0, user_data)


def timeout(ring, user_data, ts, count=0, flags=0):
    """IORING_OP_TIMEOUT by hand: addr = timespec, len = 1, off = completion count."""
    return ring.prep(abi.IORING_OP_TIMEOUT, 0, 0, -1, count, ctypes.addressof(ts), 1,
                     flags, user_data)


# Every valid combination the issue names, each with what it needs alongside.
FLAG_SETS = {
    "default": (0, {}),
    "sqpoll": (S.IORING_SETUP_SQPOLL, {"sq_thread_idle": 50}),
    "sqpoll_aff": (S.IORING_SETUP_SQPOLL, {"sq_thread_idle": 50, "sq_thread_cpu": 0}),
    "cqsize": (0, {"cq_entries": 64}),
    "clamp": (S.IORING_SETUP_CLAMP, {}),
    "submit_all": (S.IORING_SETUP_SUBMIT_ALL, {}),
    "coop_taskrun": (S.IORING_SETUP_COOP_TASKRUN, {}),
    "taskrun_flag": (S.IORING_SETUP_COOP_TASKRUN | S.IORING_SETUP_TASKRUN_FLAG, {}),
    "single_issuer": (S.IORING_SETUP_SINGLE_ISSUER, {}),
    "defer_taskrun": (S.IORING_SETUP_SINGLE_ISSUER | S.IORING_SETUP_DEFER_TASKRUN, {}),
    "defer_taskrun_flag": (S.IORING_SETUP_SINGLE_ISSUER | S.IORING_SETUP_DEFER_TASKRUN
                           | S.IORING_SETUP_TASKRUN_FLAG, {}),
    "no_sqarray": (S.IORING_SETUP_NO_SQARRAY, {}),
    "sqe128": (S.IORING_SETUP_SQE128, {}),
    "cqe32": (S.IORING_SETUP_CQE32, {}),
    "everything_compatible": (S.IORING_SETUP_SUBMIT_ALL | S.IORING_SETUP_SINGLE_ISSUER
                              | S.IORING_SETUP_DEFER_TASKRUN | S.IORING_SETUP_NO_SQARRAY
                              | S.IORING_SETUP_SQE128 | S.IORING_SETUP_CQE32, {"cq_entries": 32}),
}


@pytest.mark.parametrize("name", list(FLAG_SETS))
def test_setup_flag_combinations_round_trip_nops(name):
    flags, kw = FLAG_SETS[name]
    if not PROBE.has_setup_flag(flags):
        pytest.skip(f"kernel {PROBE.release} refuses {IoringSetup_names(flags)}")
    with Ring(8, flags=flags, **kw) as ring:
        assert ring.setup_flags & flags == flags
        if "cq_entries" in kw:
            assert ring.cq_entries == kw["cq_entries"]
        for round_ in range(5):  # more than the ring size in total: slots recycle
            uds = [round_ << 32 | i for i in range(ring.sq_entries)]
            for ud in uds:
                nop(ring, ud)
            ring.submit_and_wait(len(uds))
            got = []
            while len(got) < len(uds):
                got += ring.copy_cqes() or ring.wait(len(uds) - len(got), timeout=1)
            assert sorted(c.user_data for c in got) == uds
            assert all(c.res == 0 for c in got)
            if flags & S.IORING_SETUP_CQE32:
                assert all(len(c) == 5 for c in got)


def IoringSetup_names(flags):
    return "|".join(m.name for m in S if flags & m)


def test_single_mmap_and_offsets_match_kernel():
    with Ring(8) as ring:
        assert ring.features & abi.IORING_FEAT_SINGLE_MMAP
        # One mapping serves both rings, so the maps list deduplicates to two
        # objects (rings + SQEs).
        assert len({id(m) for m in ring._maps}) == 2
        assert ring.sq_entries == 8 and ring.cq_entries == 16


def test_full_sq_raises_then_recovers():
    with Ring(4) as ring:
        for ud in range(4):
            nop(ring, ud)
        with pytest.raises(SubmissionQueueFull, match="submit"):
            nop(ring, 4)
        assert ring.submit() == 4
        nop(ring, 4)
        ring.submit_and_wait(5)
        assert sorted(c.user_data for c in ring.copy_cqes()) == [0, 1, 2, 3, 4]


def test_wait_timeout_with_ext_arg():
    with Ring(4) as ring:
        t0 = time.monotonic()
        assert ring.wait(1, timeout=0.05) == []
        assert time.monotonic() - t0 < 5  # it returned; not a speed check
        ts = abi.kernel_timespec(0, 20_000_000)
        timeout(ring, 7, ts)
        got = ring.wait(1, timeout=5)
        assert [(c.user_data, c.res) for c in got] == [(7, -errno.ETIME)]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.booleans()), min_size=1, max_size=32,
                unique_by=lambda t: t[0]))
def test_random_batches_of_nops_and_timeouts(reqs):
    ts = abi.kernel_timespec(0, 1_000_000)
    with Ring(32) as ring:
        for ud, is_timeout in reqs:
            if is_timeout:
                timeout(ring, ud, ts)
            else:
                nop(ring, ud)
        ring.submit_and_wait(len(reqs))
        got = {}
        while len(got) < len(reqs):
            for c in ring.copy_cqes() or ring.wait(1, timeout=2):
                assert c.user_data not in got
                got[c.user_data] = c.res
        assert got == {ud: (-errno.ETIME if t else 0) for ud, t in reqs}


def test_cq_overflow_is_flushed_and_nothing_lost():
    with Ring(4, cq_entries=4) as ring:
        assert ring.features & abi.IORING_FEAT_NODROP
        for batch in range(5):  # 20 completions into a 4-entry CQ, none reaped
            for i in range(4):
                nop(ring, batch * 4 + i)
            ring.submit()
        assert ring.sq_flags & abi.IORING_SQ_CQ_OVERFLOW
        seen = []
        while len(seen) < 20:
            batch = ring.copy_cqes()
            assert batch, "overflowed CQEs were lost"
            seen += [c.user_data for c in batch]
        assert seen == list(range(20))
        assert not ring.sq_flags & abi.IORING_SQ_CQ_OVERFLOW
        assert ring.cq_overflow == 0


def test_sqpoll_submits_without_enter_and_wakes_up():
    if not PROBE.has_setup_flag(S.IORING_SETUP_SQPOLL):
        pytest.skip("kernel refuses IORING_SETUP_SQPOLL")
    with Ring(8, flags=S.IORING_SETUP_SQPOLL, sq_thread_idle=2000) as ring:
        nop(ring, 1)
        ring.submit()
        got = []
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            got = ring.copy_cqes()
        assert [c.user_data for c in got] == [1]
    # With a 1 ms idle time the thread goes to sleep and sets NEED_WAKEUP; the
    # next submit must see it (after the full fence) and enter to wake it.
    with Ring(8, flags=S.IORING_SETUP_SQPOLL, sq_thread_idle=1) as ring:
        nop(ring, 1)
        ring.submit_and_wait(1)
        ring.copy_cqes()
        deadline = time.monotonic() + 5
        while not ring.sq_flags & abi.IORING_SQ_NEED_WAKEUP and time.monotonic() < deadline:
            time.sleep(0.005)
        assert ring.sq_flags & abi.IORING_SQ_NEED_WAKEUP
        before = ring.enter_count
        nop(ring, 2)
        ring.submit()
        assert ring.enter_count == before + 1  # the wake-up enter
        assert [c.user_data for c in ring.wait(1, timeout=5)] == [2]


def test_taskrun_flag_makes_copy_cqes_run_task_work():
    flags = S.IORING_SETUP_COOP_TASKRUN | S.IORING_SETUP_TASKRUN_FLAG
    a, b = socket.socketpair()
    buf = bytearray(16)
    with a, b, Ring(4, flags=flags) as ring:
        addr = ctypes.addressof((ctypes.c_char * 16).from_buffer(buf))
        ring.prep(abi.IORING_OP_RECV, 0, 0, a.fileno(), 0, addr, 16, 0, 5)
        ring.keep(5, buf)
        ring.submit()
        b.send(b"hello")
        deadline = time.monotonic() + 5
        got = []
        while not got and time.monotonic() < deadline:
            got = ring.copy_cqes()  # must enter by itself when IORING_SQ_TASKRUN is set
        assert [(c.user_data, c.res) for c in got] == [(5, 5)]
        assert bytes(buf[:5]) == b"hello"


def test_defer_taskrun_completes_on_wait():
    flags = S.IORING_SETUP_SINGLE_ISSUER | S.IORING_SETUP_DEFER_TASKRUN
    a, b = socket.socketpair()
    buf = bytearray(16)
    with a, b, Ring(4, flags=flags) as ring:
        addr = ctypes.addressof((ctypes.c_char * 16).from_buffer(buf))
        ring.prep(abi.IORING_OP_RECV, 0, 0, a.fileno(), 0, addr, 16, 0, 5)
        ring.keep(5, buf)
        ring.submit()
        b.send(b"hi")
        time.sleep(0.05)
        assert ring.copy_cqes() == []  # deferred: nothing until we ask for events
        assert [(c.user_data, c.res) for c in ring.wait(1, timeout=5)] == [(5, 2)]


class Buf(bytearray):
    """A bytearray we can hold a weak reference to."""


def test_memory_of_inflight_request_stays_alive_until_its_cqe():
    r, w = os.pipe()
    with Ring(4) as ring:
        buf = Buf(64)
        alive = weakref.ref(buf)
        addr = ctypes.addressof((ctypes.c_char * 64).from_buffer(buf))
        ring.prep(abi.IORING_OP_READ, 0, 0, r, 0, addr, 64, 0, 9)
        ring.keep(9, buf)
        ring.submit()
        del buf
        gc.collect()
        assert alive() is not None, "buffer freed while the kernel may write into it"
        os.write(w, b"data")
        got = ring.wait(1, timeout=5)
        assert [(c.user_data, c.res) for c in got] == [(9, 4)]
        gc.collect()
        assert alive() is None, "buffer kept after its final CQE was reaped"
    os.close(r)
    os.close(w)


def test_multishot_keeps_memory_until_the_cqe_without_more():
    with Ring(4) as ring:
        ts = abi.kernel_timespec(0, 1_000_000)
        # A multishot timeout (6.4) fires 3 times: two CQEs with F_MORE, then the last.
        if not PROBE.has_op(abi.IORING_OP_TIMEOUT) or PROBE.version < (6, 4):
            pytest.skip("IORING_TIMEOUT_MULTISHOT needs Linux 6.4")
        timeout(ring, 3, ts, count=3, flags=abi.IORING_TIMEOUT_MULTISHOT)
        ring.keep(3, ts)
        ring.submit()
        seen = []
        while not seen or seen[-1].more:
            assert 3 in ring._keep
            seen += ring.wait(1, timeout=5)
        assert [c.more for c in seen] == [True, True, False]
        assert 3 not in ring._keep


def test_register_ring_fd_then_enter_through_it():
    with Ring(4) as ring:
        idx = ring.register_ring_fd()
        assert idx >= 0
        for ud in range(4):
            nop(ring, ud)
        ring.submit_and_wait(4)
        assert sorted(c.user_data for c in ring.copy_cqes()) == [0, 1, 2, 3]


def test_use_after_close_raises_instead_of_crashing():
    ring = Ring(4)
    ring.close()
    for call in (lambda: nop(ring, 1), ring.submit, ring.copy_cqes, lambda: ring.wait(1),
                 lambda: ring.register(abi.IORING_REGISTER_PROBE), lambda: ring.sqe(0),
                 lambda: ring.cq_overflow):
        with pytest.raises(RingClosed):
            call()


def test_sqe_view_reads_what_prep_wrote():
    with Ring(4) as ring:
        slot = ring.prep(NOP, abi.IOSQE_IO_LINK, 0, -1, 0, 0, 0, 0, 0xDEADBEEF)
        sqe = ring.sqe(slot)
        assert (sqe.opcode, sqe.flags, sqe.fd, sqe.user_data) == (NOP, abi.IOSQE_IO_LINK, -1,
                                                                  0xDEADBEEF)
        sqe.flags = 0
        del sqe
        ring.submit_and_wait(1)
        assert ring.copy_cqes()[0].user_data == 0xDEADBEEF


def test_syscall_errors_are_oserror_subclasses():
    with pytest.raises(OSError) as e:
        syscall.io_uring_enter(987654, 0, 0, 0)
    assert e.value.errno == errno.EBADF and "io_uring_enter" in str(e.value)
    with Ring(4) as ring, pytest.raises(OSError) as e:
        ring.register(999)
    assert e.value.errno == errno.EINVAL


@pytest.mark.parametrize("err,words", [
    (errno.ENOSYS, "5.1"), (errno.EPERM, "io_uring_disabled"), (errno.ENOMEM, "MEMLOCK")])
def test_unavailable_names_cause_and_fix(monkeypatch, err, words):
    def refuse(*args):
        ctypes.set_errno(err)
        return -1
    monkeypatch.setattr(syscall, "_syscall2", refuse)
    with pytest.raises(Unavailable, match=words) as e:
        Ring(4)
    assert e.value.errno == err and "Fix" in str(e.value)


def test_cqe_helpers():
    from uring import Cqe
    c = Cqe(1, -errno.ENOBUFS, 0)
    with pytest.raises(OSError) as e:
        c.result()
    assert e.value.errno == errno.ENOBUFS
    c = Cqe(1, 10, abi.IORING_CQE_F_BUFFER | abi.IORING_CQE_F_MORE | (7 << 16))
    assert (c.result(), c.buffer_id, c.more, c.notif) == (10, 7, True, False)
    assert Cqe(1, 0, 0).buffer_id is None
