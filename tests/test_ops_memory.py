"""uring.memory: buffer addresses for every accepted type, the refusals, page-aligned buffers."""

import ctypes
import mmap

import pytest

from uring import memory
from uring.memory import PAGE_SIZE, Buffer, BufferPool, address, iovecs


def through_ctypes(addr, n):
    return ctypes.string_at(addr, n)


@pytest.mark.parametrize("make", [
    lambda: bytearray(b"abcdef"),
    lambda: memoryview(bytearray(b"xxabcdef"))[2:],
    lambda: (ctypes.c_char * 6).from_buffer_copy(b"abcdef"),
])
def test_writable_types_point_at_their_bytes(make):
    buf = make()
    addr, n = address(buf, True)
    assert n == 6 and through_ctypes(addr, n) == b"abcdef"


def test_mmap_and_readonly_types():
    m = mmap.mmap(-1, 4096)
    m[:3] = b"map"
    addr, n = address(m, True)
    assert n == 4096 and through_ctypes(addr, 3) == b"map"
    data = b"immutable"
    addr, n = address(data)
    assert n == 9 and through_ctypes(addr, n) == data
    view = memoryview(b"__readonly")[2:]
    addr, n = address(view)
    assert through_ctypes(addr, n) == b"readonly"
    ro = mmap.mmap(-1, 4096, prot=mmap.PROT_READ)
    assert address(ro)[1] == 4096
    with pytest.raises(TypeError, match="read-only mmap"):
        address(ro, True, "dst")


def test_structures_and_multibyte_views():
    ts = ctypes.c_uint64(0x0102030405060708)
    addr, n = address(ts, True)
    assert n == 8 and addr == ctypes.addressof(ts)
    ints = memoryview(bytearray(16)).cast("I")
    assert address(ints, True)[1] == 16


def test_refusals_name_the_argument():
    with pytest.raises(TypeError, match="^dst is bytes"):
        address(b"x", True, "dst")
    with pytest.raises(TypeError, match="^dst is a read-only memoryview"):
        address(memoryview(b"x"), True, "dst")
    with pytest.raises(TypeError, match="^src must be a C-contiguous"):
        address(memoryview(bytearray(8))[::2], False, "src")
    with pytest.raises(TypeError, match="^src must be a bytearray"):
        address([1, 2, 3], False, "src")
    with pytest.raises(TypeError, match="^src is None"):
        address(None, False, "src")
    with pytest.raises(TypeError, match="pointer"):
        address(ctypes.pointer(ctypes.c_int(1)), False, "src")


def test_empty_buffers_have_no_address():
    assert address(bytearray()) == (0, 0)
    assert address(b"")[1] == 0


def test_buffer_and_pool_are_page_aligned():
    b = Buffer(100)
    assert b.address % PAGE_SIZE == 0 and len(b) == 100 and address(b) == (b.address, 100)
    b.view[:4] = b"page"
    assert through_ctypes(b.address, 4) == b"page"
    pool = BufferPool(3, 1000)
    assert pool[0].address % PAGE_SIZE == 0
    assert [c.address - pool[0].address for c in pool] == [0, 1000, 2000]
    pool[2].view[:5] = b"chunk"
    assert through_ctypes(pool[2].address, 5) == b"chunk"
    array = pool.iovecs()
    assert [(v.iov_base, v.iov_len) for v in array] == [(c.address, 1000) for c in pool]
    b.close()
    with pytest.raises(ValueError):
        Buffer(0)


def test_iovecs():
    a, b = bytearray(b"one"), b"two!"
    array = iovecs([a, b])
    assert [through_ctypes(v.iov_base, v.iov_len) for v in array] == [b"one", b"two!"]
    with pytest.raises(TypeError, match=r"bufs\[1\] is bytes"):
        iovecs([a, b], writable=True, name="bufs")
    with pytest.raises(ValueError, match="empty"):
        iovecs([])
    assert memory.page_align(1) == PAGE_SIZE
