"""Buffer groups against the kernel: BufferRing (plain, kernel-mapped, incremental), v1."""

import errno
import os
import socket

import pytest

from kernel_helpers import NEEDS_IO_URING, PROBE, complete
from uring import abi, ops
from uring.buffers import (
    BufferOwnershipError,
    BufferRing,
    ProvidedBuffers,
    buf_more,
    buffer_id,
    more,
)

pytestmark = NEEDS_IO_URING

F_MORE = int(abi.IORING_CQE_F_MORE)
F_BUFFER = int(abi.IORING_CQE_F_BUFFER)
F_BUF_MORE = int(abi.IORING_CQE_F_BUF_MORE)


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


def read_chunks(ring, pipe, group, chunks, nbytes):
    """Write ``chunks`` into the pipe, read each with one buffer-select READ; return the CQEs."""
    r, w = pipe
    for i, chunk in enumerate(chunks):
        os.write(w, chunk)
        ops.read(ring, i, r, None, nbytes=nbytes, buf_group=group)
        # One at a time: each read must see exactly its own chunk.
        ring.submit()
    return complete(ring, len(chunks))


def test_cqe_flag_helpers():
    flags = 7 << 16 | F_BUFFER | F_MORE
    assert buffer_id(flags) == 7 and buffer_id(F_MORE) is None
    assert more(flags) and not more(F_BUFFER)
    assert buf_more(F_BUF_MORE) and not buf_more(flags)


def test_buffer_ring_take_and_recycle(ring, pipe):
    with BufferRing(ring, 1, 4, 32) as group:
        assert group.in_kernel == 4 and group.tail == 4
        cqes = read_chunks(ring, pipe, 1, [b"alpha", b"beta"], 32)
        views = [bytes(group.take(c)) for c in cqes]
        assert views == [b"alpha", b"beta"]
        assert sorted(group.held_by_program()) == [cqes[0].buffer_id, cqes[1].buffer_id]
        assert group.kernel_head() == 2
        group.add(cqes[0].buffer_id)
        group.add(cqes[1].buffer_id)
        assert group.tail == 4  # staged, not yet visible to the kernel
        group.advance()
        assert group.tail == 6 and group.in_kernel == 4


def test_buffer_ring_refuses_double_owners(ring, pipe):
    with BufferRing(ring, 2, 4, 16) as group:
        (cqe,) = read_chunks(ring, pipe, 2, [b"x"], 16)
        bid = cqe.buffer_id
        group.take(cqe)
        with pytest.raises(BufferOwnershipError, match="already holds"):
            group.take(cqe)                       # the same CQE twice
        group.recycle(bid)
        with pytest.raises(BufferOwnershipError, match="recycled twice"):
            group.recycle(bid)
        other = (bid + 1) % 4                     # still the kernel's
        with pytest.raises(BufferOwnershipError, match="belongs to the kernel"):
            group.recycle(other)
        with pytest.raises(ValueError, match="not in buffer group"):
            group.recycle(4)
        with pytest.raises(TypeError, match="bid must be an int"):
            group.recycle("0")
        with pytest.raises(ValueError, match="not in buffer group"):
            group.recycle(-1)
        with pytest.raises(ValueError, match="no buffer"):
            group.take((1, 5, 0))
        assert group.in_kernel == 4 and group.held_by_program() == []


def test_buffer_ring_take_id_is_take_without_the_view(ring, pipe):
    with BufferRing(ring, 4, 4, 16) as group:
        (cqe,) = read_chunks(ring, pipe, 4, [b"hot"], 16)
        bid = group.take_id(cqe.flags)
        assert bid == cqe.buffer_id and group.held_by_program() == [bid]
        assert bytes(group.view[bid * 16:bid * 16 + cqe.res]) == b"hot"
        with pytest.raises(BufferOwnershipError, match="already holds"):
            group.take_id(cqe.flags)              # handed over once only
        with pytest.raises(BufferOwnershipError, match="does not have"):
            group.take_id(9 << 16 | F_BUFFER)     # an id outside the group
        with pytest.raises(ValueError, match="no buffer"):
            group.take_id(bid << 16)              # no IORING_CQE_F_BUFFER
        group.recycle(bid)
        assert group.in_kernel == 4
    if PROBE.version >= (6, 12):
        with BufferRing(ring, 5, 2, 16, flags=abi.IOU_PBUF_RING_INC) as inc:
            with pytest.raises(ValueError, match="incremental"):
                inc.take_id(F_BUFFER)


def test_buffer_ring_add_many_stages_a_batch(ring, pipe):
    with BufferRing(ring, 6, 8, 16) as group:
        cqes = read_chunks(ring, pipe, 6, [b"a", b"b", b"c"], 16)
        bids = [group.take_id(c.flags) for c in cqes]
        with pytest.raises(BufferOwnershipError, match="belongs to the kernel"):
            group.add_many([bids[0], bids[1], bids[1]])   # the third is a second return
        assert group.held_by_program() == [bids[2]]       # the first two stayed staged
        group.add_many([bids[2]])
        group.advance()
        assert group.tail == 8 + 3 and group.in_kernel == 8
        # The ring entries point at the right buffers: read through them again.
        again = read_chunks(ring, pipe, 6, [b"x", b"y", b"z"], 16)
        assert [bytes(group.take(c)) for c in again] == [b"x", b"y", b"z"]


def test_buffer_ring_kernel_allocated_mmap(ring, pipe):
    with BufferRing(ring, 9, 8, 64, flags=abi.IOU_PBUF_RING_MMAP) as group:
        cqes = read_chunks(ring, pipe, 9, [b"kernel", b"memory"], 64)
        assert [bytes(group.take(c)) for c in cqes] == [b"kernel", b"memory"]
        for c in cqes:
            group.recycle(c.buffer_id)
        assert group.kernel_head() == 2 and group.tail == 10


def test_buffer_ring_incremental(ring, pipe):
    if PROBE.version < (6, 12):
        pytest.skip(f"IOU_PBUF_RING_INC needs Linux {abi.IOU_PBUF_RING_INC.since}")
    r, w = pipe
    with BufferRing(ring, 3, 2, 64, flags=abi.IOU_PBUF_RING_INC) as group:
        pieces = []
        for i in range(4):
            os.write(w, bytes([65 + i]) * 16)
            ops.read(ring, i, r, None, nbytes=16, buf_group=3)
            (cqe,) = complete(ring)
            assert cqe.buf_more == bool(cqe.flags & F_BUF_MORE) == buf_more(cqe.flags)
            pieces.append((cqe.buffer_id, cqe.buf_more, bytes(group.take(cqe))))
        # One buffer served all four reads; the last one used it up.
        assert {bid for bid, _, _ in pieces} == {pieces[0][0]}
        assert [m for _, m, _ in pieces] == [True, True, True, False]
        assert [d for _, _, d in pieces] == [b"A" * 16, b"B" * 16, b"C" * 16, b"D" * 16]
        assert bytes(group.view[pieces[0][0] * 64:][:64]) == b"A" * 16 + b"B" * 16 + b"C" * 16 \
            + b"D" * 16
        assert group.held_by_program() == [pieces[0][0]]
        group.recycle(pieces[0][0])


def test_recv_multishot_runs_dry_then_rearms(ring):
    a, b = socket.socketpair()
    with a, b, BufferRing(ring, 4, 2, 64) as group:
        ops.recv_multishot(ring, 1, b.fileno(), buf_group=4)
        ring.submit()
        got = []
        for msg in (b"one", b"two"):
            a.sendall(msg)
            (cqe,) = complete(ring)
            assert cqe.flags & F_MORE
            got.append((cqe.buffer_id, bytes(group.take(cqe))))  # not recycled yet
        a.sendall(b"three")
        (cqe,) = complete(ring)
        # The group is empty: the request ends, without F_MORE.
        assert cqe.res == -errno.ENOBUFS and not cqe.flags & (F_MORE | F_BUFFER)
        for bid, _ in got:
            group.add(bid)
        group.advance()
        ops.recv_multishot(ring, 2, b.fileno(), buf_group=4)  # re-arm
        (cqe,) = complete(ring)
        assert cqe.user_data == 2 and cqe.flags & F_MORE
        assert bytes(group.take(cqe)) == b"three"
        assert [d for _, d in got] == [b"one", b"two"]
        ops.async_cancel(ring, 3, 2)
        assert {c.user_data: c.res for c in complete(ring, 2)} == {2: -errno.ECANCELED, 3: 0}


def test_provided_buffers_v1(ring, pipe):
    group = ProvidedBuffers(ring, 5, 6, 16)
    cqes = read_chunks(ring, pipe, 5, [b"v1-%d" % i for i in range(6)], 16)
    assert [bytes(group.take(c)) for c in cqes] == [b"v1-%d" % i for i in range(6)]
    assert group.in_kernel == 0
    (dry,) = read_chunks(ring, pipe, 5, [b"none"], 16)
    assert dry.res == -errno.ENOBUFS
    os.read(pipe[0], 4)
    for bid in (5, 0, 2, 1):
        group.add(bid)
    with pytest.raises(BufferOwnershipError):
        group.add(1)
    assert group.advance() == 2   # runs 0-2 and 5: two PROVIDE_BUFFERS SQEs
    assert group.advance() == 0
    cqes = read_chunks(ring, pipe, 5, [b"again%d" % i for i in range(4)], 16)
    assert sorted(c.buffer_id for c in cqes) == [0, 1, 2, 5]
    for c in cqes:
        group.take(c)
    group.close()


def test_provided_buffers_failure_returns_ids(ring):
    group = ProvidedBuffers(ring, 6, 2, 16)
    ring.submit()
    # A made-up failed PROVIDE for id 1 gives it back to the program.
    zero = os.open("/dev/zero", os.O_RDONLY)
    try:
        ops.read(ring, 1, zero, None, nbytes=16, buf_group=6)
        (cqe,) = complete(ring)
        group.take(cqe)
        group.recycle(cqe.buffer_id)
        ring.submit()
        fake = (group.tag | cqe.buffer_id << 16 | 0, -errno.ENOMEM, 0)
        assert group.owns(fake) and not group.owns((1, 0, 0))
        with pytest.raises(OSError, match="PROVIDE_BUFFERS") as info:
            group.handle(fake)
        assert info.value.errno == errno.ENOMEM
        assert group.held_by_program() == [cqe.buffer_id]
    finally:
        os.close(zero)
    group.close()


def test_provided_buffers_close_removes_them(ring):
    group = ProvidedBuffers(ring, 7, 3, 16)
    ring.submit()
    group.close()
    ops.remove_buffers(ring, 1, 10, 7)
    assert complete(ring) == [(1, 0, 0)]  # nothing left in the group


def test_buffer_group_arguments(ring):
    with pytest.raises(ValueError, match="power of two"):
        BufferRing(ring, 1, 3, 16)
    with pytest.raises(ValueError, match="count"):
        BufferRing(ring, 1, 4, 16, count=5)
    with pytest.raises(ValueError, match="size"):
        BufferRing(ring, 1, 4, 0)
    with pytest.raises(ValueError, match="count"):
        ProvidedBuffers(ring, 1, 0, 16)
    with pytest.raises(ValueError, match="tag"):
        ProvidedBuffers(ring, 1, 1, 16, tag=5)
