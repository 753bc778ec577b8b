"""read, recv, recv_multishot and send take "a buffer, or a group" by one set of rules.

The rules are :func:`uring.ops._common.buffer_or_group`'s: ``buf`` and
``buf_group`` exclude each other, ``nbytes`` caps either (default: all of
``buf``, or the whole chosen buffer), ``bundle`` needs a group and the
feature bit. Here: each rule for each operation, the SQE fields they write,
and the kernel's answer to a group read without ``nbytes``.
"""

import os
import socket

import pytest

from kernel_helpers import NEEDS_IO_URING, complete
from uring import abi, ops
from uring.buffers import BufferRing

pytestmark = NEEDS_IO_URING

SELECT = int(abi.IOSQE_BUFFER_SELECT)


def read(ring, **kw):
    return ops.read(ring, 1, 0, kw.pop("buf", None), **kw)


def recv(ring, **kw):
    return ops.recv(ring, 1, 0, kw.pop("buf", None), **kw)


def send(ring, **kw):
    return ops.send(ring, 1, 0, kw.pop("buf", None), **kw)


OPERATIONS = {"read": read, "recv": recv, "send": send}
BUNDLED = {"recv": recv, "send": send}


@pytest.mark.parametrize("name", OPERATIONS)
def test_buf_and_buf_group_exclude_each_other(ring, name):
    with pytest.raises(ValueError, match="either buf or buf_group"):
        OPERATIONS[name](ring, buf=bytearray(8), buf_group=1)
    assert ring.sq_ready() == 0


@pytest.mark.parametrize("name", OPERATIONS)
def test_nbytes_may_not_exceed_buf(ring, name):
    with pytest.raises(ValueError, match="fewer than nbytes=9"):
        OPERATIONS[name](ring, buf=bytearray(8), nbytes=9)


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize("nbytes, expected", [(None, 0), (100, 100)])
def test_a_group_request_is_the_same_sqe_for_every_operation(ring, name, nbytes, expected):
    slot = OPERATIONS[name](ring, buf_group=7, nbytes=nbytes)
    sqe = ring.sqe(slot)
    assert (sqe.addr, sqe.len, sqe.buf_group, sqe.flags & SELECT) == (0, expected, 7, SELECT)
    del sqe


@pytest.mark.parametrize("name", BUNDLED)
def test_bundle_needs_a_group(ring, name):
    with pytest.raises(ValueError, match="bundle=True needs buf_group"):
        BUNDLED[name](ring, buf=bytearray(8), bundle=True)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundle_sets_the_flag_in_ioprio(ring, name):
    if not ring.features & abi.IORING_FEAT_RECVSEND_BUNDLE:
        pytest.skip("IORING_FEAT_RECVSEND_BUNDLE needs Linux 6.10")
    sqe = ring.sqe(BUNDLED[name](ring, buf_group=3, bundle=True))
    assert sqe.ioprio & abi.IORING_RECVSEND_BUNDLE
    del sqe


def test_recv_multishot_follows_the_same_rules(ring):
    sqe = ring.sqe(ops.recv_multishot(ring, 1, 0, buf_group=4))
    assert (sqe.len, sqe.buf_group, sqe.flags & SELECT) == (0, 4, SELECT)
    assert sqe.ioprio & abi.IORING_RECV_MULTISHOT
    del sqe


def test_group_read_without_nbytes_fills_the_whole_buffer(ring):
    # The kernel reads len 0 as "the chosen buffer's size" since 6.0; before,
    # such a read moved 0 bytes (so pass nbytes there).
    r, w = os.pipe()
    try:
        with BufferRing(ring, 11, 2, 16) as group:
            os.write(w, b"x" * 40)
            ops.read(ring, 5, r, None, buf_group=11)
            (cqe,) = complete(ring)
            assert cqe.res == 16 and cqe.buffer_id is not None
            assert bytes(group.take(cqe)) == b"x" * 16
    finally:
        os.close(r)
        os.close(w)


def test_group_recv_without_nbytes_fills_the_whole_buffer(ring):
    a, b = socket.socketpair()
    with a, b, BufferRing(ring, 12, 2, 8) as group:
        a.sendall(b"0123456789")
        ops.recv(ring, 6, b.fileno(), None, buf_group=12)
        (cqe,) = complete(ring)
        assert cqe.res == 8 and bytes(group.take(cqe)) == b"01234567"
