"""Properties of the ring logic, run against the simulated kernel (uring.sim).

The simulator lets us start every index anywhere (just below 2**32 in
particular), hold completions back and release them in any order, and overflow
the CQ on demand — the cases that are rare or slow to reach on a real kernel.
"""

import pytest
from hypothesis import given, settings, strategies as st

from uring import Ring, RingClosed, SubmissionQueueFull, abi
from uring.sim import SimKernel

U32 = 2**32
NOP = abi.IORING_OP_NOP


def nop(ring, user_data, flags=0):
    return ring.prep(NOP, flags, 0, -1, 0, 0, 0, 0, user_data)


starts = st.one_of(st.integers(0, U32 - 1), st.integers(U32 - 64, U32 - 1))
user_datas = st.integers(0, 2**64 - 1)


@settings(max_examples=150, deadline=None)
@given(start=starts, entries=st.sampled_from([1, 2, 4, 8, 16]),
       batches=st.lists(st.integers(1, 16), min_size=1, max_size=40), data=st.data())
def test_every_user_data_once_across_wraparound(start, entries, batches, data):
    with Ring(entries, kernel=SimKernel(start=start)) as ring:
        for size in batches:
            size = min(size, ring.sq_entries)
            uds = data.draw(st.lists(user_datas, min_size=size, max_size=size))
            for ud in uds:
                nop(ring, ud)
            assert ring.submit_and_wait(size) == size
            got = ring.copy_cqes()
            assert [c.user_data for c in got] == uds
            assert all(c.res == 0 for c in got)
        total = sum(min(b, ring.sq_entries) for b in batches)
        # The kernel's indices moved exactly as far as we submitted, mod 2**32.
        assert ring._sq_u32[ring._sq_khead] == (start + total) % U32
        assert ring._cq_u32[ring._cq_khead] == (start + total) % U32


@settings(max_examples=100, deadline=None)
@given(start=starts, entries=st.sampled_from([2, 4, 8]), extra=st.integers(1, 5))
def test_full_sq_raises_and_recovers(start, entries, extra):
    with Ring(entries, kernel=SimKernel(start=start)) as ring:
        for ud in range(ring.sq_entries):
            nop(ring, ud)
        assert ring.sq_space_left() == 0
        for _ in range(extra):
            with pytest.raises(SubmissionQueueFull):
                nop(ring, 999)
        ring.submit_and_wait(ring.sq_entries)
        assert ring.sq_space_left() == ring.sq_entries
        nop(ring, 1000)
        ring.submit_and_wait(1)
        uds = [c.user_data for c in ring.copy_cqes()]
        assert uds == list(range(ring.sq_entries)) + [1000]


@settings(max_examples=100, deadline=None)
@given(start=starts, n=st.integers(1, 64), data=st.data())
def test_completions_in_any_order_each_exactly_once(start, n, data):
    sim = SimKernel(start=start, defer=True)
    with Ring(64, kernel=sim) as ring:
        uds = data.draw(st.lists(user_datas, min_size=n, max_size=n, unique=True))
        for ud in uds:
            nop(ring, ud)
        ring.submit()
        assert ring.copy_cqes() == []
        order = data.draw(st.permutations(range(n)))
        seen = []
        while sim.pending:
            k = data.draw(st.integers(1, len(sim.pending)))
            sim.complete(order=data.draw(st.permutations(range(len(sim.pending))))[:k])
            seen += [c.user_data for c in ring.copy_cqes(max=data.draw(st.integers(1, 64)))]
        seen += [c.user_data for c in ring.copy_cqes()]
        assert sorted(seen) == sorted(uds)
        assert len(seen) == len(set(seen)) == n
        del order


@settings(max_examples=100, deadline=None)
@given(start=starts, cq_start=starts, entries=st.sampled_from([2, 4, 8]),
       rounds=st.integers(1, 12))
def test_cq_overflow_nodrop_keeps_order(start, cq_start, entries, rounds):
    """With IORING_FEAT_NODROP nothing is lost: copy_cqes flushes the backlog."""
    sim = SimKernel(start=start, cq_start=cq_start)
    with Ring(entries, kernel=sim) as ring:
        ud = 0
        for _ in range(rounds):
            for _ in range(ring.sq_entries):
                nop(ring, ud)
                ud += 1
            ring.submit()
        overflowed = ud > ring.cq_entries
        assert bool(ring.sq_flags & abi.IORING_SQ_CQ_OVERFLOW) == overflowed
        seen = []
        while True:
            batch = ring.copy_cqes()
            if not batch:
                break
            seen += [c.user_data for c in batch]
        assert seen == list(range(ud))
        assert not ring.sq_flags & abi.IORING_SQ_CQ_OVERFLOW
        assert ring.cq_overflow == 0


@settings(max_examples=50, deadline=None)
@given(start=starts, rounds=st.integers(1, 10))
def test_cq_overflow_without_nodrop_counts_losses(start, rounds):
    sim = SimKernel(start=start, nodrop=False)
    with Ring(4, kernel=sim) as ring:
        total = 0
        for _ in range(rounds):
            for _ in range(ring.sq_entries):
                nop(ring, total)
                total += 1
            ring.submit()
        got = ring.copy_cqes()
        assert len(got) == min(total, ring.cq_entries)
        assert ring.cq_overflow == total - len(got)
        assert [c.user_data for c in got] == list(range(len(got)))


@pytest.mark.parametrize("single_mmap", [True, False])
@pytest.mark.parametrize("flags", [0, abi.IORING_SETUP_NO_SQARRAY])
def test_mapping_layouts(single_mmap, flags):
    """One mapping (FEAT_SINGLE_MMAP) or two; with and without the SQ index array."""
    with Ring(8, flags=flags, kernel=SimKernel(single_mmap=single_mmap)) as ring:
        assert bool(ring.features & abi.IORING_FEAT_SINGLE_MMAP) == single_mmap
        for ud in range(8):
            nop(ring, ud)
        ring.submit_and_wait(8)
        assert [c.user_data for c in ring.copy_cqes()] == list(range(8))


def test_cqe_skip_success_posts_nothing():
    with Ring(4, kernel=SimKernel()) as ring:
        nop(ring, 1, abi.IOSQE_CQE_SKIP_SUCCESS)
        nop(ring, 2)
        ring.submit_and_wait(1)
        assert [c.user_data for c in ring.copy_cqes()] == [2]


def test_wait_with_timeout_returns_empty_when_nothing_completes():
    with Ring(4, kernel=SimKernel(defer=True)) as ring:
        assert ring.wait(1, timeout=0.01) == []


def test_use_after_close_raises():
    ring = Ring(4, kernel=SimKernel())
    ring.close()
    ring.close()  # twice is fine
    for call in (lambda: nop(ring, 1), ring.submit, ring.copy_cqes, ring.sq_space_left,
                 lambda: ring.wait(1), lambda: ring.register(0), lambda: ring.sqe(0)):
        with pytest.raises(RingClosed):
            call()
    assert "closed" in repr(ring)


def test_bad_entries_rejected_before_the_kernel():
    for bad in (0, -1, 32769, 2.0, "8"):
        with pytest.raises(ValueError, match="entries"):
            Ring(bad, kernel=SimKernel())


class _NoSetup(SimKernel):
    """A kernel that fails the test if a bad argument ever reached it."""

    def setup(self, entries, params):
        raise AssertionError("io_uring_setup was called")


def test_bad_params_rejected_before_the_kernel():
    """u32 fields of io_uring_params: out of range would wrap to another ring, silently."""
    for name, bad, error in (("flags", 1 << 40, ValueError), ("flags", "x", TypeError),
                             ("cq_entries", -1, ValueError), ("sq_thread_idle", -1, ValueError),
                             ("sq_thread_cpu", 2**32, ValueError), ("wq_fd", 1.5, TypeError)):
        with pytest.raises(error, match=name):
            Ring(4, kernel=_NoSetup(), **{name: bad})



# -- provided-buffer rings --------------------------------------------------------

def _select(ring, n, bgid=5, nbytes=0):
    """``n`` READs that pick a buffer from group ``bgid``; their CQEs."""
    from uring import ops
    for ud in range(n):
        ops.read(ring, ud, 0, None, nbytes=nbytes, buf_group=bgid)
    ring.submit_and_wait(n)
    return ring.copy_cqes()


def test_buffer_ring_empty_gives_enobufs_without_a_buffer():
    import errno
    from uring.buffers import BufferRing
    with Ring(4, kernel=SimKernel()) as ring:
        group = BufferRing(ring, 5, 2, 8, count=1)
        first, second = _select(ring, 2)
        assert (first.res, first.buffer_id, bytes(group.take(first))) == (8, 0, b"<0><0><0")
        assert (second.res, second.flags) == (-errno.ENOBUFS, 0)
        [none] = _select(ring, 1, bgid=6)   # no such group: no buffer either
        assert (none.res, none.flags) == (-errno.ENOBUFS, 0)
        group.recycle(0)
        [short] = _select(ring, 1, nbytes=3)  # the SQE's len caps the bytes taken
        assert (short.res, short.buffer_id, bytes(group.take(short))) == (3, 0, b"<0>")
        group.close()


def test_buffer_ring_head_wraps_at_2_16():
    from uring.buffers import BufferRing
    sim = SimKernel(pbuf_start=0xFFFE)
    with Ring(4, kernel=sim) as ring:
        group = BufferRing(ring, 5, 2, 4)
        assert group.tail == 0 and group.kernel_head() == 0xFFFE
        seen = []
        for _ in range(3):
            [cqe] = _select(ring, 1)
            seen.append(cqe.buffer_id)
            group.take(cqe)
            group.recycle(cqe.buffer_id)
        # Ring positions 0xfffe, 0xffff, 0 are slots 0, 1, 0: the ids come back in order.
        assert seen == [0, 1, 0]
        assert group.kernel_head() == 1 and group.tail == 3
        assert sim.pbuf_window(5) == [1, 0]
        group.close()


def test_buffer_ring_registration_checks_like_the_kernel():
    import errno
    from uring import register
    from uring.buffers import BufferRing
    with Ring(4, kernel=SimKernel()) as ring:
        for flags in (abi.IOU_PBUF_RING_MMAP, abi.IOU_PBUF_RING_INC):
            with pytest.raises(OSError, match="flags 0") as e:
                BufferRing(ring, 1, 4, 8, flags=flags)
            assert e.value.errno == errno.EINVAL
        group = BufferRing(ring, 1, 4, 8)
        with pytest.raises(OSError) as e:
            BufferRing(ring, 1, 4, 8)
        assert e.value.errno == errno.EEXIST
        group.close()
        for call in (lambda: register.unregister_pbuf_ring(ring, 1),
                     lambda: register.pbuf_status(ring, 1)):
            with pytest.raises(OSError) as e:
                call()
            assert e.value.errno == errno.ENOENT


def test_bundle_receive_needs_bundles_true():
    """Without ``bundles=True`` the sim is a kernel before 6.10: the flag is EINVAL."""
    import errno
    from uring.buffers import BufferRing
    with Ring(4, kernel=SimKernel()) as ring:
        group = BufferRing(ring, 1, 4, 8)
        ring.prep(abi.IORING_OP_RECV, abi.IOSQE_BUFFER_SELECT, abi.IORING_RECVSEND_BUNDLE,
                  0, 0, 0, 0, 0, 7, 1)
        ring.submit_and_wait(1)
        assert [(c.user_data, c.res, c.flags) for c in ring.copy_cqes()] == [(7, -errno.EINVAL, 0)]
        assert group.kernel_head() == 0
        group.close()
