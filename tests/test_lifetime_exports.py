"""Exports, not objects: what the kernel may touch can be neither resized, closed nor freed.

Issue 10, items 10-14.
"""

import ctypes
import gc
import mmap
import os
import socket
import weakref

import pytest

from lifetime_helpers import Buf, canaries, intact, needs_io_uring, reap
from uring import Ring, abi, ops
from uring.buffers import BufferRing, ProvidedBuffers
from uring.memory import Buffer

pytestmark = needs_io_uring


@pytest.mark.parametrize("idiom", ["bytearray", "with memoryview"])
def test_bytearray_cannot_be_resized_while_the_kernel_owns_it(idiom):
    """Item 10, including the ``with memoryview(ba) as mv:`` idiom."""
    a, b = socket.socketpair()
    with a, b, Ring(4) as ring:
        ba = bytearray(64)
        if idiom == "bytearray":
            ops.recv(ring, 1, a.fileno(), ba)
        else:
            with memoryview(ba) as mv:
                ops.recv(ring, 1, a.fileno(), mv)
        ring.submit()
        with pytest.raises(BufferError):
            ba.extend(bytes(4096))
        with pytest.raises(BufferError):
            del ba[:]
        b.send(b"data")
        assert reap(ring, 1)[0].res == 4
        assert ba[:4] == b"data"
        ba.extend(bytes(10))  # the request is over: resizing is fine again


def test_msghdr_buffers_are_exported_when_it_is_built():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b, Ring(4) as ring:
        ba = bytearray(32)
        msg = ops.Msghdr([ba], writable=True)
        with pytest.raises(BufferError):
            ba.extend(bytes(4096))
        ops.recvmsg(ring, 2, a.fileno(), msg)
        ring.submit()
        b.send(b"dgram")
        assert reap(ring, 1)[0].res == 5
        assert ba[:5] == b"dgram"


def test_closed_buffer_and_mmap_are_refused():
    """Item 11: a closed Buffer or mmap still yielded its old address."""
    a, b = socket.socketpair()
    with a, b, Ring(4) as ring:
        buf = Buffer(4096)
        buf.close()
        with pytest.raises(ValueError, match="closed uring.memory.Buffer"):
            ops.recv(ring, 1, a.fileno(), buf)
        m = mmap.mmap(-1, 4096)
        m.close()
        with pytest.raises(ValueError, match="closed mmap"):
            ops.recv(ring, 1, a.fileno(), m)
        assert ring.sq_ready() == 0


def test_buffer_and_mmap_cannot_be_closed_while_in_flight():
    a, b = socket.socketpair()
    with a, b, Ring(4) as ring:
        buf = Buffer(4096)
        m = mmap.mmap(-1, 4096)
        ops.recv(ring, 1, a.fileno(), buf)
        ops.recv(ring, 2, b.fileno(), m)
        ring.submit()
        with pytest.raises(BufferError, match="still in use"):
            buf.close()
        assert not buf.closed and buf.view is not None
        with pytest.raises(BufferError):
            m.close()
        b.send(b"one")
        a.send(b"two")
        assert sorted((c.user_data, c.res) for c in reap(ring, 2)) == [(1, 3), (2, 3)]
        assert bytes(buf.view[:3]) == b"one" and m[:3] == b"two"
        buf.close()
        m.close()


def test_buffer_ring_close_keeps_a_picked_buffer():
    """Item 12: an io-wq read already picked a ring buffer when the group is closed."""
    r, w = os.pipe()
    try:
        with Ring(8) as ring:
            group = BufferRing(ring, 3, 4, 256)
            data = weakref.ref(group.data.mem)  # the mapping itself
            # IOSQE_ASYNC: an io-wq worker picks (commits) a buffer, then blocks on the pipe.
            ops.read(ring, 1, r, None, buf_group=3, nbytes=256, sqe_flags=abi.IOSQE_ASYNC)
            ring.submit()
            import time
            time.sleep(0.05)
            group.close()
            with pytest.raises(BufferError):
                group.data.close()
            del group
            gc.collect()
            assert data() is not None, "the group's buffers were freed under a picked read"
            cs = canaries(256 * 4)
            os.write(w, b"Z" * 200)
            cqes = reap(ring, 1)
            assert cqes[0].res == 200 and cqes[0].buffer_id is not None
            assert intact(cs)
    finally:
        os.close(r)
        os.close(w)


def test_second_provided_buffers_on_a_live_group_is_refused():
    """Item 13: two ProvidedBuffers on one bgid, the pin keyed by the group id."""
    with Ring(8) as ring:
        first = ProvidedBuffers(ring, 5, 4, 64)
        ring.submit()
        with pytest.raises(ValueError, match="buffer group 5 is already live"):
            ProvidedBuffers(ring, 5, 4, 64)
        first.close()
        second = ProvidedBuffers(ring, 5, 4, 64)  # the first is closed: fine
        second.close()


def test_provide_buffers_pins_a_plain_bytearray():
    """Item 13: a bytearray passed to ops.provide_buffers was freed at the PROVIDE's CQE."""
    a, b = socket.socketpair()
    with a, b:
        ring = Ring(8)
        mem = Buf(4 * 64)
        alive = weakref.ref(mem)
        ops.provide_buffers(ring, 1, mem, 64, 4, 7)
        assert reap(ring, 1)[0].res == 0
        with pytest.raises(BufferError):
            mem.extend(b"x")
        del mem
        gc.collect()
        assert alive() is not None, "group memory freed after the PROVIDE's CQE"
        ops.recv(ring, 2, a.fileno(), None, buf_group=7)
        ring.submit()
        b.send(b"into the group")
        cqe = reap(ring, 1)[0]
        assert cqe.res == 14 and cqe.buffer_id is not None
        assert alive() is not None
        ring.close()
        gc.collect()
        assert alive() is None  # the close proved the kernel done


@pytest.mark.parametrize("make", [lambda: ctypes.c_char_p(b"abc"), lambda: ctypes.c_void_p(1),
                                  lambda: ctypes.py_object(object()),
                                  lambda: ctypes.c_wchar_p("x")])
def test_pointer_valued_ctypes_are_refused(make):
    """Item 14: the kernel overwrote the pointer, and reading it segfaulted."""
    a, b = socket.socketpair()
    with a, b, Ring(4) as ring:
        with pytest.raises(TypeError, match="pointer-valued"):
            ops.recv(ring, 1, a.fileno(), make())
        with pytest.raises(TypeError, match="pointer"):
            ops.send(ring, 1, a.fileno(), make())
        assert ring.sq_ready() == 0


def test_structure_with_a_pointer_field_is_refused_for_writes():
    class Holder(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("n", ctypes.c_int)]

    a, b = socket.socketpair()
    with a, b, Ring(4) as ring:
        with pytest.raises(TypeError, match="pointer-valued fields"):
            ops.recv(ring, 1, a.fileno(), Holder())
        ops.send(ring, 2, a.fileno(), Holder())  # the kernel only reads it: fine
        assert reap(ring, 1)[0].user_data == 2
