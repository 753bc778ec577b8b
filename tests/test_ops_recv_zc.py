"""ops.recv_zc (IORING_OP_RECV_ZC, 6.15): the SQE it writes and the kernel's answer here.

Zero-copy receive needs a zcrx instance (``IORING_REGISTER_ZCRX_IFQ``) on a
NIC queue with header/data split; nothing on this machine has one (veth, lo
and virtio-net are refused: ``tests/packet/test_packet_rx.py``). So the
tests stop where the kernel does: every byte of the SQE, the argument
errors, and the CQE the kernel posts for a request naming no registered
instance on a ring set up as zcrx requires.
"""

import errno
import socket

import pytest

from kernel_helpers import NEEDS_IO_URING, PROBE, complete, needs
from uring import Ring, abi, ops

pytestmark = NEEDS_IO_URING

ZCRX_SETUP = (abi.IORING_SETUP_DEFER_TASKRUN | abi.IORING_SETUP_SINGLE_ISSUER
              | abi.IORING_SETUP_CQE32)


def expected_sqe(fd, zcrx_id, *, ioprio, nbytes=0, user_data=1):
    sqe = abi.io_uring_sqe(opcode=abi.IORING_OP_RECV_ZC, ioprio=ioprio, fd=fd, len=nbytes,
                           user_data=user_data)
    sqe.zcrx_ifq_idx = zcrx_id
    return bytes(sqe)


def test_multishot_sqe_bytes(ring):
    slot = ops.recv_zc(ring, 0x2C, 7, 3)
    got = bytes(ring.sqe(slot))
    assert got == expected_sqe(7, 3, ioprio=abi.IORING_RECV_MULTISHOT, user_data=0x2C)
    assert got[0] == 58 and got[2:4] == b"\x02\x00" and got[44:48] == b"\x03\0\0\0"


def test_one_shot_and_poll_first_sqe_bytes(ring):
    slot = ops.recv_zc(ring, 5, 9, 0, nbytes=4096, multishot=False, poll_first=True)
    assert bytes(ring.sqe(slot)) == expected_sqe(
        9, 0, ioprio=abi.IORING_RECVSEND_POLL_FIRST, nbytes=4096, user_data=5)


def test_refusals_queue_nothing(ring):
    with pytest.raises(ValueError, match="multishot recv_zc takes no byte limit"):
        ops.recv_zc(ring, 1, 3, 0, nbytes=10)
    with pytest.raises(ValueError, match="2\\*\\*32-1"):
        ops.recv_zc(ring, 1, 3, 0, nbytes=2**32 - 1, multishot=False)
    with pytest.raises(ValueError, match="zcrx_id"):
        ops.recv_zc(ring, 1, 3, -1)
    with pytest.raises(TypeError, match="zcrx_id"):
        ops.recv_zc(ring, 1, 3, "0")
    assert ring.sq_ready() == 0


def test_operation_table_names_the_opcode_and_release():
    spec = ops.OPS["recv_zc"]
    assert (spec.opcode, spec.since) == (58, "6.15")
    assert "Linux 6.15" in ops.recv_zc.__doc__


@needs("recv_zc")
def test_kernel_refuses_an_unregistered_zcrx_instance():
    if not PROBE.has_setup_flag(ZCRX_SETUP):
        pytest.skip(f"this kernel does not accept {abi.IoringSetup(ZCRX_SETUP)!r}")
    a, b = socket.socketpair()
    with Ring(8, flags=ZCRX_SETUP) as ring, a, b:
        ops.recv_zc(ring, 0x2C, b.fileno(), 0)
        (cqe,) = complete(ring)
        # io_recvzc_prep looks the id up among the ring's zcrx instances first.
        assert (cqe.user_data, cqe.res) == (0x2C, -errno.EINVAL)
