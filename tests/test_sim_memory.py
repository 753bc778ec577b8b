"""The simulator touches program memory as the kernel does: -EFAULT, never a crash.

Before, :mod:`uring.sim` read and wrote program addresses with ctypes, so an
address the program got wrong (an unmapped page, a read-only mapping) killed
the interpreter with SIGSEGV where Linux answers ``EFAULT``. Each case runs in
a forked child, so that a crash shows up as a failed test, not a dead run.
And a bundle receive takes only whole buffers when the socket holds less than
they would take, leaving the rest queued and saying so, as Linux does.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
import traceback

import pytest

from uring import Ring, ops, register
from uring.abi import IORING_CQE_F_BUFFER, IORING_CQE_BUFFER_SHIFT
from uring.buffers import BufferRing
from uring.memory import anonymous_map, address
from uring.sim import SimKernel, payload

BGID = 3


def in_child(fn) -> None:
    """Run ``fn`` in a forked child; fail with what went wrong there (exception or signal)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's exit code
        os.close(r)
        code = 0
        try:
            fn()
        except BaseException:
            os.write(w, traceback.format_exc().encode()[-4000:])
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        report = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        pytest.fail(f"the simulator crashed the interpreter: signal {os.WTERMSIG(status)}")
    assert os.WEXITSTATUS(status) == 0, report


def unmapped_page() -> int:
    """The address of a page no program can map: the top page, kernel space.

    (A page unmapped just now would do until the next mapping reuses it,
    which may be the very next one.)
    """
    return 2**64 - mmap.PAGESIZE


def hand_made_ring(entries: int, bufs: list[tuple[int, int, int]]):
    """Buffer ring memory with the entries ``(addr, len, bid)`` already written."""
    mem = anonymous_map(entries * 16)
    for i, entry in enumerate(bufs):
        struct.pack_into("<QIH", mem, i * 16, *entry)
    return mem


def publish(mem, tail: int) -> None:
    struct.pack_into("<H", mem, 14, tail)


def test_register_pbuf_ring_at_an_unmapped_address_is_efault():
    def child():
        with Ring(4, kernel=SimKernel()) as ring:
            with pytest.raises(OSError) as err:
                register.register_pbuf_ring(ring, BGID, 4, unmapped_page())
            assert err.value.errno == errno.EFAULT
    in_child(child)


def test_register_argument_at_an_unmapped_address_is_efault():
    def child():
        from uring.abi import IORING_REGISTER_PBUF_STATUS, IORING_REGISTER_PROBE
        with Ring(4, kernel=SimKernel()) as ring:
            for opcode in (IORING_REGISTER_PBUF_STATUS, IORING_REGISTER_PROBE):
                with pytest.raises(OSError) as err:
                    ring.register(opcode, unmapped_page(), 1)
                assert err.value.errno == errno.EFAULT
    in_child(child)


@pytest.mark.parametrize("where", ["unmapped", "read-only"])
def test_receive_into_a_bad_buffer_is_efault_and_keeps_the_buffer(where):
    def child():
        if where == "unmapped":
            bad, keep = unmapped_page(), None
        else:
            keep = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ)
            bad = address(keep)[0]
        with Ring(4, kernel=SimKernel()) as ring:
            mem = hand_made_ring(4, [(bad, 64, 0)])
            register.register_pbuf_ring(ring, BGID, 4, address(mem, True)[0], memory=mem)
            publish(mem, 1)
            ops.recv(ring, 1, 0, None, buf_group=BGID)
            ring.submit_and_wait(1)
            (cqe,) = ring.copy_cqes()
            # io_recv recycles the buffer when nothing was received: no F_BUFFER.
            assert (cqe.res, cqe.flags) == (-errno.EFAULT, 0)
            assert register.pbuf_status(ring, BGID) == 0
            # A READ from a file that cannot poll used its buffer up at selection.
            ops.read(ring, 2, 0, None, nbytes=64, buf_group=BGID)
            ring.submit_and_wait(1)
            (cqe,) = ring.copy_cqes()
            assert cqe.res == -errno.EFAULT
            assert cqe.flags == IORING_CQE_F_BUFFER | 0 << IORING_CQE_BUFFER_SHIFT
            assert register.pbuf_status(ring, BGID) == 1
            if keep is not None:
                assert keep[:8] == bytes(8)   # the read-only page was not written
    in_child(child)


def test_bundle_takes_whole_buffers_and_leaves_the_rest_queued():
    queue = {5: payload(9, 20)}   # the socket on fd 5 holds 20 bytes

    def source(fd, user_data, most):
        data = queue.pop(fd, b"")
        return data[:most]

    with Ring(4, kernel=SimKernel(bundles=True, source=source)) as ring:
        group = BufferRing(ring, BGID, 8, 8)
        ops.recv(ring, 1, 5, None, buf_group=BGID, bundle=True)
        ring.submit_and_wait(1)
        (cqe,) = ring.copy_cqes()
        # Linux maps for msg_inq (20): 8 + 8, and leaves the 4-byte end piece
        # queued rather than cut a third buffer to it.
        assert cqe.res == 16 and cqe.sock_nonempty
        assert b"".join(bytes(v) for _, v in group.take_bundle(cqe)) == payload(9, 20)[:16]
        ops.recv(ring, 2, 5, None, buf_group=BGID, bundle=True)
        ring.submit_and_wait(1)
        (cqe,) = ring.copy_cqes()
        # What is left is less than one buffer: the first is cut to it.
        assert cqe.res == 4 and not cqe.sock_nonempty
        assert b"".join(bytes(v) for _, v in group.take_bundle(cqe)) == payload(9, 20)[16:]
        group.close()


def test_single_receive_reports_bytes_a_bundle_left_behind():
    queue = {5: b"x" * 20}

    def source(fd, user_data, most):
        return queue.pop(fd, b"")[:most]

    with Ring(4, kernel=SimKernel(bundles=True, source=source)) as ring:
        group = BufferRing(ring, BGID, 8, 8)
        ops.recv(ring, 1, 5, None, buf_group=BGID, bundle=True)
        ops.recv(ring, 2, 5, None, buf_group=BGID)
        ops.recv(ring, 3, 5, None, buf_group=BGID)
        ring.submit_and_wait(3)
        one, two, three = ring.copy_cqes()
        assert (one.res, one.sock_nonempty) == (16, True)
        assert (two.res, two.sock_nonempty) == (4, False)
        assert (three.res, three.flags) == (0, 0)   # EOF: no buffer taken
        group.close()
