"""Lifetimes keyed per request: one user_data, one request holding memory (issue 10, items 6-9)."""

import gc
import os
import socket
import weakref

import pytest

from lifetime_helpers import PROBE, Buf, needs_io_uring, reap
from uring import Ring, abi, ops

pytestmark = needs_io_uring


def test_second_request_with_a_holding_user_data_is_refused():
    """Item 6: a NOP with the user_data of a pending recv would release the recv's buffer."""
    a, b = socket.socketpair()
    with a, b, Ring(8) as ring:
        buf = Buf(64)
        alive = weakref.ref(buf)
        ops.recv(ring, 5, a.fileno(), buf)
        with pytest.raises(ValueError, match="user_data 0x5 belongs to a request in flight"):
            ops.nop(ring, 5)
        with pytest.raises(ValueError, match="belongs to a request in flight"):
            ops.recv(ring, 5, a.fileno(), bytearray(8))
        ring.submit()
        del buf
        gc.collect()
        assert alive() is not None
        b.send(b"hello")
        (cqe,) = reap(ring, 1)
        assert cqe.user_data == 5 and cqe.res == 5
        gc.collect()
        assert alive() is None
        ops.nop(ring, 5)  # the request is over: its user_data is free again
        assert [c.user_data for c in reap(ring, 1)] == [5]


def test_keep_before_prep_attaches_to_the_next_request():
    r, w = os.pipe()
    try:
        with Ring(8) as ring:
            obj = Buf(16)
            alive = weakref.ref(obj)
            ring.keep(9, obj)  # announced: the next request with user_data 9 holds it
            ops.read(ring, 9, r, obj)
            with pytest.raises(ValueError):
                ops.nop(ring, 9)
            ring.submit()
            del obj
            gc.collect()
            assert alive() is not None
            os.write(w, b"abc")
            assert [(c.user_data, c.res) for c in reap(ring, 1)] == [(9, 3)]
            gc.collect()
            assert alive() is None
    finally:
        os.close(r)
        os.close(w)


def test_final_cqe_of_an_unsubmitted_holder_releases_nothing():
    """A NOP submitted first, then a holder prepared with the same user_data but not submitted."""
    r, w = os.pipe()
    try:
        with Ring(8) as ring:
            ops.nop(ring, 3)
            ring.submit()
            buf = Buf(16)
            alive = weakref.ref(buf)
            ops.read(ring, 3, r, buf)  # prepared, not submitted: the NOP's CQE is not its own
            del buf
            assert [c.user_data for c in ring.copy_cqes()] == [3] or \
                [c.user_data for c in reap(ring, 1)] == [3]
            gc.collect()
            assert alive() is not None
            ring.submit()
            os.write(w, b"x")
            assert [(c.user_data, c.res) for c in reap(ring, 1)] == [(3, 1)]
            gc.collect()
            assert alive() is None
    finally:
        os.close(r)
        os.close(w)


def test_msg_ring_refuses_a_user_data_the_target_holds():
    """Item 6: a msg_ring from another ring posts an arbitrary user_data."""
    if not PROBE.has_op(abi.IORING_OP_MSG_RING):
        pytest.skip("IORING_OP_MSG_RING needs Linux 5.18")
    a, b = socket.socketpair()
    with a, b, Ring(8) as target, Ring(8) as source:
        buf = Buf(32)
        alive = weakref.ref(buf)
        ops.recv(target, 77, a.fileno(), buf)
        target.submit()
        del buf
        with pytest.raises(ValueError, match="target_user_data 0x4d"):
            ops.msg_ring(source, 1, target.fd, 0, 77)
        ops.msg_ring(source, 1, target.fd, 0, 78)  # another user_data is fine
        source.submit_and_wait(1)
        gc.collect()
        assert alive() is not None
        assert [c.user_data for c in reap(target, 1)] == [78]
        gc.collect()
        assert alive() is not None  # still held: 78 was not its CQE


@pytest.mark.parametrize("bad", [-1, 0, 9, 2**32, 1.0])
def test_copy_cqes_max_must_be_1_to_cq_size(bad):
    """Item 7: max=-1 returned stale slots and moved the CQ head backwards."""
    with Ring(4, cq_entries=8) as ring:
        ops.nop(ring, 1)
        ring.submit_and_wait(1)
        with pytest.raises(ValueError, match="max must be None or an int in 1..8"):
            ring.copy_cqes(max=bad)
        with pytest.raises(ValueError):
            ring.copy_cqes_raw(max=bad)
        assert [c.user_data for c in ring.copy_cqes(max=8)] == [1]
        assert ring.cq_ready() == 0


@pytest.mark.parametrize("flag,name", [(1 << 18, "IORING_SETUP_CQE_MIXED"),
                                       (1 << 19, "IORING_SETUP_SQE_MIXED")])
def test_mixed_layouts_are_refused(flag, name):
    """Item 8: a CQE_MIXED ring's 32-byte CQEs were read as two 16-byte ones."""
    with pytest.raises(ValueError, match=name):
        Ring(4, flags=flag)


@pytest.mark.parametrize("form", ["generator", "cleared list"])
def test_readv_snapshots_its_buffers(form):
    """Item 9: readv kept the caller's object, not the buffers it listed."""
    r, w = os.pipe()
    try:
        with Ring(4) as ring:
            bufs = [Buf(4), Buf(4)]
            refs = [weakref.ref(b) for b in bufs]
            if form == "generator":
                ops.readv(ring, 1, r, (b for b in bufs))
            else:
                ops.readv(ring, 1, r, bufs)
                bufs.clear()
            ring.submit()
            del bufs
            gc.collect()
            assert all(ref() is not None for ref in refs)
            with pytest.raises(BufferError):
                refs[0]().extend(b"resize")
            got = [ref() for ref in refs]
            os.write(w, b"12345678")
            assert [(c.user_data, c.res) for c in reap(ring, 1)] == [(1, 8)]
            assert bytes(got[0]) + bytes(got[1]) == b"12345678"
    finally:
        os.close(r)
        os.close(w)
