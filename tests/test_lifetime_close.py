"""close() proves the kernel is done, or keeps the memory for the life of the process.

Issue 10, items 1-5.
"""

import gc
import os
import socket
import threading
import time
import weakref

import pytest

import uring.ring
from lifetime_helpers import PROBE, Buf, close_proves_done, needs_io_uring
from uring import Ring, abi, ops
from uring.buffers import BufferRing

pytestmark = needs_io_uring


def pending_recv(ring, sock, user_data=1):
    buf = Buf(64)
    ops.recv(ring, user_data, sock.fileno(), buf)
    ring.submit()
    return weakref.ref(buf)


def pending_group_recv(ring, sock, bgid=9):
    """A recv into a buffer group whose memory is a plain bytearray (held by no request)."""
    mem = Buf(4 * 64)
    ops.provide_buffers(ring, 100, mem, 64, 4, bgid)
    ops.recv(ring, 101, sock.fileno(), None, buf_group=bgid)
    ring.submit()
    assert [c.user_data for c in ring.wait(1, timeout=5)] == [100]  # the PROVIDE
    return weakref.ref(mem)


def test_close_cancels_and_releases_after_proof():
    a, b = socket.socketpair()
    with a, b:
        ring = Ring(8)
        alive = pending_recv(ring, a)
        gc.collect()
        assert alive() is not None
        close_proves_done(ring, a, b, alive)


def test_close_unregisters_the_registered_ring_fd():
    """Item 1: the registered slot kept the ring (and the pending recv) alive."""
    if PROBE.version < (5, 18):
        pytest.skip("IORING_REGISTER_RING_FDS needs Linux 5.18")
    a, b = socket.socketpair()
    with a, b:
        ring = Ring(8)
        ring.register_ring_fd()
        alive = pending_recv(ring, a)
        close_proves_done(ring, a, b, alive)
    # The 17th registered ring of a thread got EBUSY when close() left slots taken.
    for _ in range(20):
        with Ring(2) as r:
            r.register_ring_fd()


def test_close_in_parent_after_fork_keeps_memory():
    """Item 2: a forked child holding the ring fd kept the ring alive past close()."""
    a, b = socket.socketpair()
    with a, b:
        ring = Ring(8)
        alive = pending_group_recv(ring, a)
        parked = len(uring.ring._immortal)
        pid = os.fork()
        if pid == 0:  # the child holds the inherited ring briefly and exits
            time.sleep(0.2)
            os._exit(0)
        try:
            with pytest.warns(ResourceWarning, match="forked"):
                ring.close()
            gc.collect()
            assert alive() is not None  # the group's memory: kept for the life of the process
            assert len(uring.ring._immortal) == parked + 1
        finally:
            os.waitpid(pid, 0)


def test_close_closes_a_buffer_ring_mmap_mapping():
    """Item 3: an IOU_PBUF_RING_MMAP mapping held the ring fd open past close()."""
    if PROBE.version < (6, 4):
        pytest.skip("IOU_PBUF_RING_MMAP needs Linux 6.4")
    a, b = socket.socketpair()
    with a, b:
        ring = Ring(8)
        group = BufferRing(ring, 2, 4, 128, flags=abi.IOU_PBUF_RING_MMAP)
        alive = pending_recv(ring, a)
        close_proves_done(ring, a, b, alive)
        assert group.closed


def test_close_while_another_thread_waits_parks_the_memory():
    """Item 4: a thread blocked in wait() holds the ring file; close() cannot prove it done."""
    a, b = socket.socketpair()
    with a, b:
        ring = Ring(8)
        alive = pending_group_recv(ring, a)
        errors = []

        def waiter():
            try:
                ring.wait(1, timeout=1.0)
            except Exception as e:  # RingClosed, or a CQE of the cancellation
                errors.append(e)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.1)
        with pytest.warns(ResourceWarning, match="other thread"):
            ring.close()
        t.join(5)
        assert not t.is_alive()
        gc.collect()
        assert alive() is not None  # kept for the life of the process


def test_close_with_a_live_sqe_view_refuses_and_changes_nothing():
    """Item 5: close() raised BufferError half-way and left a half-closed ring."""
    with Ring(4) as ring:
        slot = ops.nop(ring, 1)
        view = ring.sqe(slot)
        view.user_data = 2
        with pytest.raises(BufferError, match="sqe"):
            ring.close()
        assert not ring.closed
        del view
        ring.submit_and_wait(1)
        assert [c.user_data for c in ring.copy_cqes()] == [2]
    assert ring.closed
