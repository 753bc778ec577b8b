"""The same operations on differently configured rings (as tokio-rs/io-uring's test runner does).

SQPOLL submits from a kernel thread, DEFER_TASKRUN posts completions only when
we enter, SQE128/CQE32 double the entry sizes, NO_SQARRAY drops the index
array: none of that may change what an operation does.
"""

import errno
import os
import socket

import pytest

import kernel_helpers
from kernel_helpers import NEEDS_IO_URING, PROBE
from uring import Ring, abi, ops
from uring.abi import IoringSetup as S
from uring.buffers import BufferRing

pytestmark = NEEDS_IO_URING

CONFIGS = {
    "default": (0, {}),
    "sqpoll": (S.IORING_SETUP_SQPOLL, {"sq_thread_idle": 20}),
    "coop_taskrun": (S.IORING_SETUP_COOP_TASKRUN | S.IORING_SETUP_TASKRUN_FLAG, {}),
    "defer_taskrun": (S.IORING_SETUP_SINGLE_ISSUER | S.IORING_SETUP_DEFER_TASKRUN, {}),
    "sqe128_cqe32": (S.IORING_SETUP_SQE128 | S.IORING_SETUP_CQE32, {}),
    "no_sqarray": (S.IORING_SETUP_NO_SQARRAY, {}),
}


@pytest.fixture(params=sorted(CONFIGS))
def ring(request):
    flags, kwargs = CONFIGS[request.param]
    if not PROBE.has_setup_flag(flags):
        pytest.skip(f"this kernel does not accept {S(flags)!r}")
    with Ring(32, flags=flags, **kwargs) as r:
        yield r


def complete(ring, n=1):
    """``kernel_helpers.complete`` as plain (user_data, res, flags) tuples (CQE32 has more)."""
    return [tuple(c[:3]) for c in kernel_helpers.complete(ring, n)]


def test_files(ring, tmp_path):
    path = tmp_path / "f"
    ops.nop(ring, 1)
    ops.openat(ring, 2, path, os.O_RDWR | os.O_CREAT, 0o600)
    cqes = dict((c[0], c[1]) for c in complete(ring, 2))
    fd = cqes[2]
    assert cqes[1] == 0 and fd >= 0
    ops.write(ring, 3, fd, b"configured", offset=0, sqe_flags=abi.IOSQE_IO_LINK)
    ops.fsync(ring, 4, fd, sqe_flags=abi.IOSQE_IO_LINK)
    buf = bytearray(10)
    ops.read(ring, 5, fd, buf, offset=0, sqe_flags=abi.IOSQE_IO_LINK)
    ops.close(ring, 6, fd)
    assert complete(ring, 4) == [(3, 10, 0), (4, 0, 0), (5, 10, 0), (6, 0, 0)]
    assert buf == b"configured"


def test_multishot_recv_with_buffer_ring(ring):
    a, b = socket.socketpair()
    with a, b, BufferRing(ring, 1, 2, 32) as group:
        ops.recv_multishot(ring, 1, b.fileno(), buf_group=1)
        ring.submit()
        for msg in (b"one", b"two"):
            a.sendall(msg)
            ((ud, res, flags),) = complete(ring)
            assert flags & abi.IORING_CQE_F_MORE and res == len(msg)
            assert bytes(group.take((ud, res, flags))) == msg
        a.sendall(b"dry")
        ((_, res, flags),) = complete(ring)
        assert res == -errno.ENOBUFS and not flags & abi.IORING_CQE_F_MORE


def test_link_timeout_and_cancel(ring):
    r, w = os.pipe()
    try:
        ops.read(ring, 1, r, bytearray(4), sqe_flags=abi.IOSQE_IO_LINK)
        ops.link_timeout(ring, 2, 0.01)
        assert sorted(complete(ring, 2)) == [(1, -errno.ECANCELED, 0), (2, -errno.ETIME, 0)]
        ops.poll_add(ring, 3, r, 1)
        ring.submit()
        ops.async_cancel(ring, 4, 3)
        assert sorted(complete(ring, 2)) == [(3, -errno.ECANCELED, 0), (4, 0, 0)]
    finally:
        os.close(r)
        os.close(w)


def test_send_zc(ring):
    with socket.create_server(("127.0.0.1", 0)) as srv:
        with socket.create_connection(srv.getsockname()) as c:
            conn, _ = srv.accept()
            with conn:
                ops.send_zc(ring, 1, c.fileno(), b"zc" * 8)
                cqes = complete(ring, 2)
                assert cqes[0][1] == 16 and cqes[1][2] & abi.IORING_CQE_F_NOTIF
                assert conn.recv(64) == b"zc" * 8
