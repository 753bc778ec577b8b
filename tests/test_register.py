"""Registration against the kernel: probe, files, fixed buffers, buffer rings, ring fd, eventfd."""

import ctypes
import errno
import gc
import os
import weakref

import pytest

from kernel_helpers import NEEDS_IO_URING, PROBE, complete
from uring import abi, ops, probe, register

pytestmark = NEEDS_IO_URING
FIXED = abi.IOSQE_FIXED_FILE


@pytest.fixture
def files(tmp_path):
    fds = []
    for name in ("a", "b", "c"):
        path = tmp_path / name
        path.write_bytes(name.encode() * 4)
        fds.append(os.open(path, os.O_RDONLY))
    yield fds
    for fd in fds:
        os.close(fd)


def read_slot(ring, slot):
    buf = bytearray(4)
    ops.read(ring, 99, slot, buf, offset=0, sqe_flags=FIXED)
    (cqe,) = complete(ring)
    return bytes(buf) if cqe.res == 4 else cqe.res


def test_probe_matches_the_library_probe(ring):
    supported = register.probe(ring)
    assert int(abi.IORING_OP_NOP) in supported
    assert supported == PROBE.ops


def test_register_files_dense(ring, files):
    register.register_files(ring, [files[0], -1, files[2]])
    assert read_slot(ring, 0) == b"aaaa"
    assert read_slot(ring, 1) == -errno.EBADF        # -1: an empty slot
    assert read_slot(ring, 2) == b"cccc"
    register.unregister_files(ring)
    assert read_slot(ring, 0) == -errno.EBADF
    with pytest.raises(TypeError, match=r"fds\[1\]"):
        register.register_files(ring, [files[0], "x"])
    with pytest.raises(ValueError, match="must not be empty"):
        register.register_files(ring, [])


def test_files_update_and_sparse_table(ring, files):
    register.register_files_sparse(ring, 4)
    assert register.register_files_update(ring, 1, [files[0], files[1]]) == 2
    assert read_slot(ring, 1) == b"aaaa" and read_slot(ring, 2) == b"bbbb"
    # -2 skips a slot, -1 empties one.
    assert register.register_files_update(ring, 1, [abi.IORING_REGISTER_FILES_SKIP, -1]) == 2
    assert read_slot(ring, 1) == b"aaaa" and read_slot(ring, 2) == -errno.EBADF
    with pytest.raises(ValueError, match="ops.files_update"):
        register.register_files_update(ring, abi.IORING_FILE_INDEX_ALLOC, [files[2]])


def test_file_alloc_range(ring, files):
    register.register_files_sparse(ring, 8)
    register.register_file_alloc_range(ring, 6, 2)
    # The kernel picks slots inside the range and writes them back into the array.
    fds = (ctypes.c_int32 * 2)(*files[:2])
    ops.files_update(ring, 1, fds, abi.IORING_FILE_INDEX_ALLOC)
    assert complete(ring) == [(1, 2, 0)]
    assert sorted(fds) == [6, 7]
    assert read_slot(ring, 6) in (b"aaaa", b"bbbb")
    ops.files_update(ring, 2, [files[2]], abi.IORING_FILE_INDEX_ALLOC)
    assert complete(ring) == [(2, -errno.ENFILE, 0)]  # the range is full


def test_register_buffers_keeps_them_alive(ring, tmp_path):
    class Buf(bytearray):
        pass

    bufs = [Buf(4096), Buf(4096)]
    refs = [weakref.ref(b) for b in bufs]
    register.register_buffers(ring, bufs)
    path = tmp_path / "x"
    path.write_bytes(b"fixed buffers")
    fd = os.open(path, os.O_RDONLY)
    try:
        ops.read_fixed(ring, 1, fd, bufs[1], 1, offset=0)
        assert complete(ring)[0].res == 13 and bufs[1][:13] == b"fixed buffers"
    finally:
        os.close(fd)
    del bufs
    gc.collect()
    assert all(r() is not None for r in refs)  # pinned while registered
    register.unregister_buffers(ring)
    gc.collect()
    # A request in flight may still use a fixed buffer after unregistration:
    # only the ring's close, once it proved the kernel done, lets them go.
    assert all(r() is not None for r in refs)
    with pytest.raises(TypeError, match="sequence of buffers"):
        register.register_buffers(ring, bytearray(10))
    ring.close()
    gc.collect()
    assert all(r() is None for r in refs)


def test_register_buffers_sparse(ring):
    register.register_buffers_sparse(ring, 4)
    ops.read_fixed(ring, 1, 0, bytearray(8), 2)  # nothing registered in slot 2
    assert complete(ring)[0].res == -errno.EFAULT


def test_pbuf_ring_register_status_unregister(ring):
    from uring.memory import anonymous_map
    mem = anonymous_map(8 * 16)
    addr = ctypes_address(mem)
    register.register_pbuf_ring(ring, 3, 8, addr, memory=mem)
    assert register.pbuf_status(ring, 3) == 0
    # A failing io_uring_register raises the OSError subclass Python maps the
    # errno to, with the call's name in the message.
    with pytest.raises(FileExistsError, match="io_uring_register") as info:
        register.register_pbuf_ring(ring, 3, 8, addr)  # the group exists already
    assert info.value.errno == errno.EEXIST
    register.unregister_pbuf_ring(ring, 3)
    with pytest.raises(FileNotFoundError) as info:
        register.pbuf_status(ring, 3)
    assert info.value.errno == errno.ENOENT
    with pytest.raises(ValueError, match="power of two"):
        register.register_pbuf_ring(ring, 4, 6, addr)
    with pytest.raises(ValueError, match="ring_addr is required"):
        register.register_pbuf_ring(ring, 4, 8)
    with pytest.raises(ValueError, match="ring_addr must be 0"):
        register.register_pbuf_ring(ring, 4, 8, addr, flags=abi.IOU_PBUF_RING_MMAP)


def ctypes_address(mem):
    from uring.memory import address
    return address(mem, True)[0]


def test_register_ring_fd(ring):
    index = register.register_ring_fd(ring)
    assert index >= 0
    ops.nop(ring, 5)
    assert complete(ring) == [(5, 0, 0)]


def test_eventfd(ring):
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    try:
        register.register_eventfd(ring, efd)
        ops.nop(ring, 1)
        complete(ring)
        assert os.eventfd_read(efd) >= 1
        register.unregister_eventfd(ring)
        ops.nop(ring, 2)
        complete(ring)
        with pytest.raises(BlockingIOError):
            os.eventfd_read(efd)
    finally:
        os.close(efd)


def test_eventfd_async_only(ring):
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    r, w = os.pipe()
    try:
        register.register_eventfd(ring, efd, async_only=True)
        ops.nop(ring, 1)  # completes inline: no signal
        complete(ring)
        with pytest.raises(BlockingIOError):
            os.eventfd_read(efd)
        # IOSQE_ASYNC: an io-wq worker blocks in the read and completes it.
        ops.read(ring, 2, r, bytearray(4), sqe_flags=abi.IOSQE_ASYNC)
        ring.submit()
        os.write(w, b"x")
        complete(ring)
        assert os.eventfd_read(efd) >= 1
    finally:
        for fd in (efd, r, w):
            os.close(fd)
