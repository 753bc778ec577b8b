"""Polls, timeouts, links, cancellation, msg_ring, v1 buffers, SQE flags: the exact CQEs."""

import errno
import os
import select
import time

import pytest

from kernel_helpers import NEEDS_IO_URING, complete, needs
from uring import Ring, abi, ops, register

pytestmark = NEEDS_IO_URING

F_MORE = int(abi.IORING_CQE_F_MORE)
F_BUFFER = int(abi.IORING_CQE_F_BUFFER)
LINK, HARDLINK = abi.IOSQE_IO_LINK, abi.IOSQE_IO_HARDLINK
ETIME, ECANCELED = -errno.ETIME, -errno.ECANCELED


def results(cqes):
    return {c.user_data: c.res for c in cqes}


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


# -- readiness -----------------------------------------------------------------------

@needs("poll_add")
def test_poll_add(ring, pipe):
    r, w = pipe
    ops.poll_add(ring, 1, r, select.POLLIN)
    ring.submit()
    assert ring.copy_cqes() == []
    os.write(w, b"x")
    assert complete(ring) == [(1, select.POLLIN, 0)]


@needs("poll_multishot", "poll_remove")
def test_poll_multishot_and_remove(ring, pipe):
    r, w = pipe
    ops.poll_multishot(ring, 1, r, select.POLLIN)
    ring.submit()
    for _ in range(2):
        os.write(w, b"x")
        (cqe,) = complete(ring)
        assert cqe.res == select.POLLIN and cqe.flags & F_MORE
        os.read(r, 1)
    ops.poll_remove(ring, 2, 1)
    cqes = complete(ring, 2)
    assert results(cqes) == {1: ECANCELED, 2: 0}
    assert not [c for c in cqes if c.user_data == 1][0].flags & F_MORE
    ops.poll_remove(ring, 3, 1)  # nothing armed any more
    assert complete(ring) == [(3, -errno.ENOENT, 0)]


@needs("poll_add", "poll_update")
def test_poll_update(ring, pipe):
    r, w = pipe
    ops.poll_add(ring, 10, r, select.POLLIN)
    ops.poll_update(ring, 1, 10, new_user_data=11, events=select.POLLIN | select.POLLPRI)
    assert complete(ring) == [(1, 0, 0)]
    os.write(w, b"x")
    assert complete(ring) == [(11, select.POLLIN, 0)]


# -- timeouts ---------------------------------------------------------------------------

@needs("timeout")
def test_timeout_relative(ring):
    start = time.monotonic()
    ops.timeout(ring, 1, 0.02)
    assert complete(ring) == [(1, ETIME, 0)]
    assert time.monotonic() - start >= 0.015


@needs("timeout")
def test_timeout_absolute(ring):
    deadline = time.monotonic() + 0.02
    ops.timeout(ring, 1, deadline, flags=abi.IORING_TIMEOUT_ABS)
    assert complete(ring) == [(1, ETIME, 0)]
    assert time.monotonic() >= deadline - 0.001


@needs("timeout", "nop")
def test_timeout_completion_count(ring):
    ops.timeout(ring, 1, 10, count=2)
    ops.nop(ring, 2)
    ops.nop(ring, 3)
    # After two other completions the timeout completes with 0, not -ETIME.
    assert results(complete(ring, 3)) == {1: 0, 2: 0, 3: 0}


@needs("timeout_multishot")
def test_timeout_multishot(ring):
    ops.timeout_multishot(ring, 1, 0.005, count=3)
    cqes = complete(ring, 3)
    assert [(c.res, bool(c.flags & F_MORE)) for c in cqes] == [
        (ETIME, True), (ETIME, True), (ETIME, False)]


@needs("timeout", "timeout_remove")
def test_timeout_remove(ring):
    ops.timeout(ring, 1, 10)
    ops.timeout_remove(ring, 2, 1)
    assert results(complete(ring, 2)) == {1: ECANCELED, 2: 0}
    ops.timeout_remove(ring, 3, 1)
    assert complete(ring) == [(3, -errno.ENOENT, 0)]


@needs("timeout", "timeout_update")
def test_timeout_update(ring):
    ops.timeout(ring, 1, 10)
    ops.timeout_update(ring, 2, 1, 0.001)
    assert results(complete(ring, 2)) == {1: ETIME, 2: 0}


# -- links -------------------------------------------------------------------------------

@needs("nop", "write")
def test_link_chain_cancels_after_failure(ring):
    ops.nop(ring, 1, sqe_flags=LINK)
    ops.write(ring, 2, -1, b"x", sqe_flags=LINK)  # fails: EBADF
    ops.nop(ring, 3, sqe_flags=LINK)
    ops.nop(ring, 4)
    assert [tuple(c[:2]) for c in complete(ring, 4)] == [
        (1, 0), (2, -errno.EBADF), (3, ECANCELED), (4, ECANCELED)]


@needs("nop", "write")
def test_hardlink_chain_survives_failure(ring):
    ops.nop(ring, 1, sqe_flags=HARDLINK)
    ops.write(ring, 2, -1, b"x", sqe_flags=HARDLINK)
    ops.nop(ring, 3)
    assert [tuple(c[:2]) for c in complete(ring, 3)] == [(1, 0), (2, -errno.EBADF), (3, 0)]


@needs("read", "link_timeout")
def test_link_timeout_fires(ring, pipe):
    r, _ = pipe
    ops.read(ring, 1, r, bytearray(8), sqe_flags=LINK)
    ops.link_timeout(ring, 2, 0.01)
    assert results(complete(ring, 2)) == {1: ECANCELED, 2: ETIME}


@needs("nop", "link_timeout")
def test_link_timeout_cancelled_when_request_finishes_first(ring):
    ops.nop(ring, 1, sqe_flags=LINK)
    ops.link_timeout(ring, 2, 10)
    assert results(complete(ring, 2)) == {1: 0, 2: ECANCELED}


@needs("read", "link_timeout", "timeout_update")
def test_link_timeout_update(ring, pipe):
    r, _ = pipe
    ops.read(ring, 1, r, bytearray(8), sqe_flags=LINK)
    ops.link_timeout(ring, 2, 10)
    ring.submit()
    ops.timeout_update(ring, 3, 2, 0.001, link=True)
    assert results(complete(ring, 3)) == {1: ECANCELED, 2: ETIME, 3: 0}


# -- cancellation ------------------------------------------------------------------------

@needs("read", "async_cancel")
def test_async_cancel_by_user_data(ring, pipe):
    r, _ = pipe
    ops.read(ring, 1, r, bytearray(8))
    ring.submit()
    ops.async_cancel(ring, 2, 1)
    assert results(complete(ring, 2)) == {1: ECANCELED, 2: 0}
    ops.async_cancel(ring, 3, 1)
    assert complete(ring) == [(3, -errno.ENOENT, 0)]


@needs("read", "async_cancel_fd")
def test_async_cancel_by_fd_all(ring, pipe):
    r, _ = pipe
    other_r, other_w = os.pipe()
    try:
        ops.read(ring, 1, r, bytearray(8))
        ops.read(ring, 2, r, bytearray(8))
        ops.read(ring, 3, other_r, bytearray(8))
        ring.submit()
        ops.async_cancel_fd(ring, 4, r, flags=abi.IORING_ASYNC_CANCEL_ALL)
        # Both reads on r are cancelled; the count is the result.
        assert results(complete(ring, 3)) == {1: ECANCELED, 2: ECANCELED, 4: 2}
        os.write(other_w, b"ok")
        assert complete(ring) == [(3, 2, 0)]
    finally:
        os.close(other_r)
        os.close(other_w)


@needs("read", "async_cancel_fd")
def test_async_cancel_fixed_fd(ring, pipe):
    r, _ = pipe
    register.register_files(ring, [r])
    ops.read(ring, 1, 0, bytearray(8), sqe_flags=abi.IOSQE_FIXED_FILE)
    ring.submit()
    ops.async_cancel_fd(ring, 2, 0, fixed=True)
    assert results(complete(ring, 2)) == {1: ECANCELED, 2: 0}


@needs("read", "poll_add", "async_cancel")
def test_async_cancel_any_all(ring, pipe):
    r, _ = pipe
    ops.read(ring, 1, r, bytearray(8))
    ops.poll_add(ring, 2, r, select.POLLIN)
    ring.submit()
    ops.async_cancel(ring, 3, flags=abi.IORING_ASYNC_CANCEL_ANY | abi.IORING_ASYNC_CANCEL_ALL)
    assert results(complete(ring, 3)) == {1: ECANCELED, 2: ECANCELED, 3: 2}


# -- messages between rings -------------------------------------------------------------

@needs("msg_ring")
def test_msg_ring_data(ring):
    with Ring(8) as other:
        ops.msg_ring(ring, 1, other.fd, 42, 0xBEEF)
        ops.msg_ring(ring, 2, other.fd, -5, 0xCAFE, cqe_flags=0x1230000)
        assert results(complete(ring, 2)) == {1: 0, 2: 0}
        assert complete(other, 2) == [(0xBEEF, 42, 0), (0xCAFE, -5, 0x1230000)]


@needs("msg_ring_fd", "read")
def test_msg_ring_passes_a_direct_descriptor(ring, pipe):
    r, w = pipe
    register.register_files(ring, [r])
    with Ring(8) as other:
        register.register_files_sparse(other, 4)
        ops.msg_ring_fd(ring, 1, other.fd, 0, abi.IORING_FILE_INDEX_ALLOC, 0xF00D)
        assert complete(ring) == [(1, 0, 0)]
        (cqe,) = complete(other)
        assert cqe.user_data == 0xF00D and 0 <= cqe.res < 4
        os.write(w, b"moved")
        buf = bytearray(8)
        ops.read(other, 2, cqe.res, buf, sqe_flags=abi.IOSQE_FIXED_FILE)
        assert complete(other) == [(2, 5, 0)] and buf[:5] == b"moved"
        # A slot the sender names: the target's CQE says 0, not the slot.
        free = next(i for i in range(4) if i != cqe.res)
        ops.msg_ring_fd(ring, 3, other.fd, 0, free, 0xF00E)
        assert complete(ring) == [(3, 0, 0)]
        assert complete(other) == [(0xF00E, 0, 0)]


# -- provided buffers v1 ------------------------------------------------------------------

@needs("provide_buffers", "remove_buffers", "read")
def test_provide_and_remove_buffers(ring):
    memory = bytearray(4 * 16)
    ops.provide_buffers(ring, 1, memory, 16, 4, 9, 100)
    assert complete(ring) == [(1, 0, 0)]
    zero = os.open("/dev/zero", os.O_RDONLY)
    try:
        ops.read(ring, 2, zero, None, nbytes=16, buf_group=9)
        (cqe,) = complete(ring)
        assert cqe.res == 16 and cqe.flags & F_BUFFER and 100 <= cqe.buffer_id < 104
    finally:
        os.close(zero)
    ops.remove_buffers(ring, 3, 10, 9)
    assert complete(ring) == [(3, 3, 0)]   # the three left
    ops.remove_buffers(ring, 4, 1, 9)     # the group is empty now
    assert complete(ring) == [(4, 0, 0)]
    ops.remove_buffers(ring, 5, 1, 10)    # no such group
    assert complete(ring) == [(5, -errno.ENOENT, 0)]
    with pytest.raises(ValueError, match="fewer than size"):
        ops.provide_buffers(ring, 5, bytearray(10), 16, 1, 9)
    with pytest.raises(ValueError, match="65535"):
        ops.provide_buffers(ring, 5, bytearray(32), 16, 2, 9, 65535)


# -- SQE flags ---------------------------------------------------------------------------

@needs("read", "nop")
def test_io_drain_waits_for_everything_before(ring, pipe):
    r, w = pipe
    ops.read(ring, 1, r, bytearray(8))
    ops.nop(ring, 2, sqe_flags=abi.IOSQE_IO_DRAIN)
    ops.nop(ring, 3)
    ring.submit()
    time.sleep(0.01)
    assert ring.copy_cqes() == []  # the drained nop and all after it wait for the read
    os.write(w, b"go")
    assert [c.user_data for c in complete(ring, 3)] == [1, 2, 3]


@needs("read")
def test_io_async(ring, pipe, tmp_path):
    r, w = pipe
    ops.read(ring, 1, r, bytearray(8), sqe_flags=abi.IOSQE_ASYNC)  # blocks in io-wq
    ring.submit()
    os.write(w, b"async")
    assert complete(ring) == [(1, 5, 0)]


@needs("nop")
def test_cqe_skip_success(ring):
    ops.nop(ring, 1, sqe_flags=abi.IOSQE_CQE_SKIP_SUCCESS)
    ops.nop(ring, 2, result=-errno.EIO, sqe_flags=abi.IOSQE_CQE_SKIP_SUCCESS)
    ops.nop(ring, 3)
    # Only the failure and the plain nop post CQEs.
    assert complete(ring, 2) == [(2, -errno.EIO, 0), (3, 0, 0)]


@needs("read")
def test_fixed_file(ring, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"registered")
    fd = os.open(path, os.O_RDONLY)
    register.register_files(ring, [-1, fd])
    os.close(fd)  # the table holds its own reference
    buf = bytearray(10)
    ops.read(ring, 1, 1, buf, offset=0, sqe_flags=abi.IOSQE_FIXED_FILE)
    assert complete(ring) == [(1, 10, 0)] and buf == b"registered"
    ops.read(ring, 2, 0, buf, offset=0, sqe_flags=abi.IOSQE_FIXED_FILE)  # empty slot
    assert complete(ring) == [(2, -errno.EBADF, 0)]


def test_timeout_argument_errors(ring):
    with pytest.raises(ValueError, match="ts must be >= 0"):
        ops.timeout(ring, 1, -1)
    with pytest.raises(TypeError, match="ts must be seconds"):
        ops.timeout(ring, 1, "1s")
    with pytest.raises(ValueError, match="target_user_data"):
        ops.async_cancel(ring, 1, -3)
    assert ring.sq_ready() == 0


def test_out_of_range_values_are_refused_not_wrapped(ring):
    # Fields the operations mask or that sit in a signed SQE word: without a
    # check these reached the kernel as some other value.
    with pytest.raises(ValueError, match="res must be"):
        ops.msg_ring(ring, 1, ring.fd, 2**40, 7)
    with pytest.raises(ValueError, match="res must be"):
        ops.nop(ring, 1, result=2**31)
    with pytest.raises(ValueError, match="count must be"):
        ops.remove_buffers(ring, 1, -1, 9)
    with pytest.raises(TypeError, match="bid must be an int"):
        ops.provide_buffers(ring, 1, bytearray(32), 16, 2, 9, "0")
    with pytest.raises(ValueError, match="size must be"):
        ops.provide_buffers(ring, 1, bytearray(32), -16, 2, 9)
    assert ring.sq_ready() == 0


def test_timespec_objects_pass_through(ring):
    ts = abi.kernel_timespec(0, 1_000_000)
    ops.timeout(ring, 1, ts)
    assert complete(ring) == [(1, ETIME, 0)]
