"""File operations against the real kernel, one test per operation, plus argument errors."""

import errno
import os
import stat

import pytest

from kernel_helpers import NEEDS_IO_URING, complete, needs
from uring import Ring, abi, ops, register
from uring.memory import BufferPool

pytestmark = NEEDS_IO_URING


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"hello, io_uring\n")
    return path


@needs("nop")
def test_nop(ring):
    ops.nop(ring, 7)
    assert complete(ring) == [(7, 0, 0)]


@needs("nop")
def test_nop_injected_result(ring):
    ops.nop(ring, 8, result=-errno.EAGAIN)
    (cqe,) = complete(ring)
    assert cqe.res == -errno.EAGAIN
    with pytest.raises(BlockingIOError):
        cqe.result()


@needs("read")
def test_read(ring, data_file):
    fd = os.open(data_file, os.O_RDONLY)
    try:
        buf = bytearray(64)
        ops.read(ring, 1, fd, buf, offset=0)
        (cqe,) = complete(ring)
        assert cqe.res == 16 and buf[:16] == b"hello, io_uring\n"
        # nbytes caps the read; offset -1 continues at the file position.
        os.lseek(fd, 7, os.SEEK_SET)
        ops.read(ring, 2, fd, buf, nbytes=3)
        assert complete(ring)[0].res == 3 and buf[:3] == b"io_"
    finally:
        os.close(fd)


@needs("write")
def test_write(ring, tmp_path):
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        ops.write(ring, 1, fd, b"abcdef", offset=0)
        ops.write(ring, 2, fd, memoryview(b"XYZ"), nbytes=2, offset=10)
        assert sorted(c.res for c in complete(ring, 2)) == [2, 6]
    finally:
        os.close(fd)
    assert path.read_bytes() == b"abcdef\0\0\0\0XY"


@needs("read_fixed", "write_fixed")
def test_read_write_fixed(ring, tmp_path):
    pool = BufferPool(2, 4096)
    register.register_buffers(ring, pool)
    path = tmp_path / "fixed"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        pool[0].view[:5] = b"fixed"
        ops.write_fixed(ring, 1, fd, pool[0], 0, nbytes=5, offset=0)
        assert complete(ring)[0].res == 5
        ops.read_fixed(ring, 2, fd, pool[1], 1, offset=0)
        assert complete(ring)[0].res == 5 and bytes(pool[1].view[:5]) == b"fixed"
        # A buffer outside the registered one is refused by the kernel.
        ops.read_fixed(ring, 3, fd, bytearray(16), 0, offset=0)
        assert complete(ring)[0].res == -errno.EFAULT
    finally:
        os.close(fd)
        register.unregister_buffers(ring)


@needs("readv", "writev")
def test_readv_writev(ring, tmp_path):
    path = tmp_path / "vec"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        ops.writev(ring, 1, fd, [b"one ", bytearray(b"two "), memoryview(b"three")], offset=0)
        assert complete(ring)[0].res == 13
        a, b = bytearray(4), bytearray(20)
        ops.readv(ring, 2, fd, [a, b], offset=0)
        assert complete(ring)[0].res == 13
        assert a == b"one " and b[:9] == b"two three"
    finally:
        os.close(fd)


@needs("fsync")
def test_fsync(ring, data_file):
    fd = os.open(data_file, os.O_WRONLY)
    try:
        ops.fsync(ring, 1, fd)
        ops.fsync(ring, 2, fd, datasync=True)
        assert [c.res for c in complete(ring, 2)] == [0, 0]
    finally:
        os.close(fd)
    ops.fsync(ring, 3, fd)  # closed fd
    assert complete(ring)[0].res == -errno.EBADF


@needs("openat", "close")
def test_openat_and_close(ring, data_file, tmp_path):
    ops.openat(ring, 1, data_file, os.O_RDONLY | os.O_CLOEXEC)
    fd = complete(ring)[0].result()
    assert os.read(fd, 5) == b"hello"
    ops.close(ring, 2, fd)
    assert complete(ring)[0].res == 0
    with pytest.raises(OSError):
        os.fstat(fd)
    # Relative to a directory fd, and a missing file.
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ops.openat(ring, 3, "data", dir_fd=dfd)
        ops.openat(ring, 4, "missing", dir_fd=dfd)
        by_ud = {c.user_data: c for c in complete(ring, 2)}
        assert by_ud[3].res >= 0 and by_ud[4].res == -errno.ENOENT
        os.close(by_ud[3].res)
    finally:
        os.close(dfd)


@needs("openat_direct", "close_direct", "read")
def test_openat_direct_and_close_direct(ring, data_file):
    register.register_files_sparse(ring, 4)
    ops.openat_direct(ring, 1, data_file, file_index=2)
    assert complete(ring)[0].res == 0
    ops.openat_direct(ring, 2, data_file)  # IORING_FILE_INDEX_ALLOC
    slot = complete(ring)[0].result()
    assert slot in (0, 1, 3)
    buf = bytearray(5)
    ops.read(ring, 3, 2, buf, offset=0, sqe_flags=abi.IOSQE_FIXED_FILE)
    assert complete(ring)[0].res == 5 and buf == b"hello"
    ops.close_direct(ring, 4, 2)
    assert complete(ring)[0].res == 0
    ops.read(ring, 5, 2, buf, offset=0, sqe_flags=abi.IOSQE_FIXED_FILE)
    assert complete(ring)[0].res == -errno.EBADF
    ops.close_direct(ring, 6, slot)
    assert complete(ring)[0].res == 0


@needs("statx")
def test_statx(ring, data_file):
    sx = ops.struct_statx()
    ops.statx(ring, 1, data_file, sx)
    assert complete(ring)[0].res == 0
    st = os.stat(data_file)
    assert sx.stx_size == 16 and sx.stx_ino == st.st_ino
    assert stat.S_ISREG(sx.stx_mode) and sx.stx_mask & 0x200  # STATX_SIZE
    with pytest.raises(TypeError, match="statxbuf"):
        ops.statx(ring, 2, data_file, bytearray(256))


@needs("splice", "tee")
def test_splice_and_tee(ring, data_file, tmp_path):
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    fd = os.open(data_file, os.O_RDONLY)
    out = os.open(tmp_path / "copy", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        ops.splice(ring, 1, fd, 0, w1, -1, 16)          # file -> pipe
        assert complete(ring)[0].res == 16
        ops.tee(ring, 2, r1, w2, 16)                    # pipe -> pipe, not consumed
        assert complete(ring)[0].res == 16
        ops.splice(ring, 3, r1, -1, out, 0, 16)         # pipe -> file
        assert complete(ring)[0].res == 16
        assert os.read(r2, 64) == b"hello, io_uring\n"
    finally:
        for f in (r1, w1, r2, w2, fd, out):
            os.close(f)
    assert (tmp_path / "copy").read_bytes() == b"hello, io_uring\n"


@needs("files_update")
def test_files_update(ring, data_file):
    register.register_files_sparse(ring, 2)
    fd = os.open(data_file, os.O_RDONLY)
    try:
        ops.files_update(ring, 1, [fd], 1)
        assert complete(ring)[0].res == 1
        buf = bytearray(5)
        ops.read(ring, 2, 1, buf, offset=0, sqe_flags=abi.IOSQE_FIXED_FILE)
        assert complete(ring)[0].res == 5 and buf == b"hello"
    finally:
        os.close(fd)


# -- argument errors: raised before anything is queued ------------------------------

def test_bad_arguments_name_the_argument(ring):
    before = ring.sq_ready()
    with pytest.raises(TypeError, match="buf is bytes"):
        ops.read(ring, 1, 0, b"immutable")
    with pytest.raises(TypeError, match="buf must be"):
        ops.write(ring, 1, 0, "text")
    with pytest.raises(ValueError, match="fewer than nbytes=9"):
        ops.read(ring, 1, 0, bytearray(8), nbytes=9)
    with pytest.raises(ValueError, match="user_data"):
        ops.nop(ring, -1)
    with pytest.raises(ValueError, match="user_data"):
        ops.nop(ring, 2**64)
    with pytest.raises(TypeError, match="fd must be an int"):
        ops.write(ring, 1, "3", b"x")
    with pytest.raises(ValueError, match="sqe_flags"):
        ops.nop(ring, 1, sqe_flags=256)
    with pytest.raises(ValueError, match="offset"):
        ops.write(ring, 1, 0, b"x", offset=-2)
    with pytest.raises(TypeError, match="path"):
        ops.openat(ring, 1, 42)
    with pytest.raises(ValueError, match="NUL"):
        ops.openat(ring, 1, "a\0b")
    with pytest.raises(TypeError, match=r"buffers\[1\]"):
        ops.writev(ring, 1, 0, [b"ok", 5])
    with pytest.raises(ValueError, match="file_index"):
        ops.openat_direct(ring, 1, "x", file_index=-1)
    with pytest.raises(ValueError, match="buf_group"):
        ops.read(ring, 1, 0, bytearray(4), nbytes=4, buf_group=1)
    assert ring.sq_ready() == before  # nothing was queued


def test_missing_operation_names_the_kernel_version(ring, monkeypatch):
    from uring.ops._common import gate
    monkeypatch.setattr(gate, "missing", frozenset({int(abi.IORING_OP_STATX)}))
    with pytest.raises(ops.OperationUnsupported, match=r"IORING_OP_STATX .*Linux 5\.6"):
        ops.statx(ring, 1, "/", ops.struct_statx())
    assert ring.sq_ready() == 0


def test_every_docstring_names_liburing_and_kernel_version():
    for spec in ops.OPS.values():
        doc = spec.function.__doc__
        assert spec.liburing in doc and f"Linux {spec.since}" in doc, spec.name
        assert spec.since == abi.since(spec.feature) if spec.feature.startswith("IORING") \
            else True


def test_buffers_stay_alive_until_the_final_cqe(ring, data_file):
    import gc
    import weakref

    class Buf(bytearray):
        pass

    fd = os.open(data_file, os.O_RDONLY)
    try:
        buf = Buf(16)
        ref = weakref.ref(buf)
        ops.read(ring, 1, fd, buf, offset=0)
        del buf
        gc.collect()
        assert ref() is not None  # ring.keep holds it while the request is in flight
        complete(ring)
        gc.collect()
        assert ref() is None
    finally:
        os.close(fd)


def test_operations_fill_sqes_for_the_simulator_too():
    from uring.sim import SimKernel
    with Ring(4, kernel=SimKernel(start=2**32 - 1)) as sim:
        ops.nop(sim, 1)
        ops.nop(sim, 2, result=-errno.EIO)
        ops.read(sim, 3, 0, bytearray(4))  # not simulated: the sim answers -EINVAL
        assert complete(sim, 3) == [(1, 0, 0), (2, -errno.EIO, 0), (3, -errno.EINVAL, 0)]


def test_variant_newer_than_the_kernel_names_its_flag(ring, monkeypatch):
    from uring.ops._common import gate
    monkeypatch.setattr(gate, "too_old", frozenset({"accept_multishot", "openat_direct"}))
    with pytest.raises(ops.OperationUnsupported,
                       match=r"ops.accept_multishot needs IORING_ACCEPT_MULTISHOT \(Linux 5\.19\)"):
        ops.accept_multishot(ring, 1, 0)
    with pytest.raises(ops.OperationUnsupported, match=r"direct descriptors .*Linux 5\.15"):
        ops.openat_direct(ring, 1, "x")
    ops.accept(ring, 2, 0)  # the plain operation is still there
    assert ring.sq_ready() == 1


def test_bundle_needs_the_feature_bit():
    from uring.sim import SimKernel
    with Ring(4, kernel=SimKernel()) as sim:  # reports no IORING_FEAT_RECVSEND_BUNDLE
        with pytest.raises(ops.OperationUnsupported, match=r"IORING_RECVSEND_BUNDLE .*6\.10"):
            ops.recv(sim, 1, 0, None, buf_group=1, bundle=True)
        with pytest.raises(ops.OperationUnsupported, match="IORING_RECVSEND_BUNDLE"):
            ops.recv_multishot(sim, 1, 0, buf_group=1, bundle=True)
        assert sim.sq_ready() == 0
