"""A pure-Python stand-in for the kernel side of io_uring.

:class:`SimKernel` lays out the shared memory exactly as Linux does (``struct
io_rings``: SQ and CQ head/tail at 0/4/8/12, masks, entries, flags, then the CQE
array at 64 and the SQ index array after it), hands out anonymous mappings in
place of the ring fd's, and implements ``enter`` by walking the SQ ring and
posting CQEs the way the kernel does. Give it to :class:`uring.Ring` as
``kernel=`` and the very same user-side code runs against it::

    >>> from uring import Ring, ops
    >>> from uring.sim import SimKernel
    >>> with Ring(4, kernel=SimKernel(start=2**32 - 2)) as ring:
    ...     for ud in range(3):
    ...         _ = ops.nop(ring, ud)
    ...     _ = ring.submit_and_wait(3)
    ...     [c.user_data for c in ring.copy_cqes()]
    [0, 1, 2]

Things the real kernel makes hard to reach on demand are one argument away:
indices that start just below 2**32 (``start``), completions held back and
released in any order (``defer``), and a CQ that overflows (post more than
``cq_entries``; with ``nodrop`` the extra CQEs wait in an overflow list as with
``IORING_FEAT_NODROP``, without it they are counted in ``cq.overflow`` and lost).
It executes ``IORING_OP_NOP`` (and ``IORING_NOP_INJECT_RESULT``); any other
opcode completes with ``-EINVAL``, so a test sees the same error a kernel
without that opcode would give.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import mmap
import struct

from . import abi
from .abi import (
    IORING_ENTER_EXT_ARG,
    IORING_ENTER_GETEVENTS,
    IORING_SETUP_CQSIZE,
    IORING_SETUP_NO_SQARRAY,
    IORING_SQ_CQ_OVERFLOW,
    IOSQE_CQE_SKIP_SUCCESS,
)

__all__ = ["SimKernel", "SIM_FEATURES"]

_U32 = 0xFFFFFFFF
_SQE_HEAD = struct.Struct("<BBHiQQIIQ")      # the first 40 bytes of an SQE
_CQE = struct.Struct("<QiI")

# Offsets of struct io_rings (the kernel's layout, as reported by BTF on 6.18).
_SQ_HEAD, _SQ_TAIL, _CQ_HEAD, _CQ_TAIL = 0, 4, 8, 12
_SQ_MASK, _CQ_MASK, _SQ_ENTRIES, _CQ_ENTRIES = 16, 20, 24, 28
_SQ_DROPPED, _SQ_FLAGS, _CQ_FLAGS, _CQ_OVERFLOW = 32, 36, 40, 44
_CQES = 64

#: Features the simulator offers: one mapping for both rings, no dropped CQEs
#: (unless ``nodrop=False``), and waits with a timeout.
SIM_FEATURES = (abi.IORING_FEAT_SINGLE_MMAP | abi.IORING_FEAT_NODROP
                | abi.IORING_FEAT_EXT_ARG)

_fds = itertools.count(1 << 20)  # fake descriptors, far above real ones


def _roundup_pow2(n: int) -> int:
    return 1 << (n - 1).bit_length()


class SimKernel:
    """The kernel side of one simulated ring (create one per :class:`uring.Ring`).

    ``start`` is the initial value of all four indices; ``cq_start`` overrides
    it for the CQ. With ``defer=True`` every request stays in :attr:`pending`
    until :meth:`complete` posts it (or a wait needs it).
    """

    def __init__(self, *, start: int = 0, cq_start: int | None = None, defer: bool = False,
                 nodrop: bool = True, single_mmap: bool = True) -> None:
        self.start = start & _U32
        self.cq_start = self.start if cq_start is None else cq_start & _U32
        self.defer = defer
        self.nodrop = nodrop
        self.single_mmap = single_mmap
        self.pending: list[tuple[int, int, int]] = []   # (user_data, res, flags)
        self.overflow: list[tuple[int, int, int]] = []
        self.submitted = 0
        self.enters = 0
        self.fd = None
        self._rings = self._sqes = None

    # -- the kernel interface Ring uses ----------------------------------------

    def setup(self, entries: int, p) -> int:
        """``io_uring_setup``: size the rings, lay out memory, fill ``p``'s offsets."""
        if self.fd is not None:
            raise OSError(errno.EBUSY, "a SimKernel backs one ring; make another")
        sq = _roundup_pow2(entries)
        cq = _roundup_pow2(p.cq_entries) if p.flags & IORING_SETUP_CQSIZE else 2 * sq
        if p.flags & IORING_SETUP_CQSIZE and p.cq_entries < sq:
            raise OSError(errno.EINVAL, "io_uring_setup: cq_entries < sq_entries")
        self.sq_entries, self.cq_entries = sq, cq
        self.setup_flags = p.flags
        self.no_sqarray = bool(p.flags & IORING_SETUP_NO_SQARRAY)
        # The SQ index array follows the CQEs, 64-byte aligned (as in the kernel).
        array = (_CQES + cq * 16 + 63) & ~63
        size = array + (0 if self.no_sqarray else sq * 4)
        self._rings = mmap.mmap(-1, size)
        self._sqes = mmap.mmap(-1, sq * 64)
        self.u32 = memoryview(self._rings).cast("I")
        u = self.u32
        u[_SQ_HEAD // 4] = u[_SQ_TAIL // 4] = self.start
        u[_CQ_HEAD // 4] = u[_CQ_TAIL // 4] = self.cq_start
        u[_SQ_MASK // 4], u[_CQ_MASK // 4] = sq - 1, cq - 1
        u[_SQ_ENTRIES // 4], u[_CQ_ENTRIES // 4] = sq, cq
        p.sq_entries, p.cq_entries = sq, cq
        p.features = SIM_FEATURES
        if not self.nodrop:
            p.features &= ~abi.IORING_FEAT_NODROP
        if not self.single_mmap:
            # As before 5.4: the program maps the SQ and CQ rings separately
            # (here they are two views of one allocation, as in the kernel).
            p.features &= ~abi.IORING_FEAT_SINGLE_MMAP
        so, co = p.sq_off, p.cq_off
        so.head, so.tail, so.ring_mask, so.ring_entries = _SQ_HEAD, _SQ_TAIL, _SQ_MASK, _SQ_ENTRIES
        so.flags, so.dropped, so.array = _SQ_FLAGS, _SQ_DROPPED, 0 if self.no_sqarray else array
        co.head, co.tail, co.ring_mask, co.ring_entries = _CQ_HEAD, _CQ_TAIL, _CQ_MASK, _CQ_ENTRIES
        co.overflow, co.cqes, co.flags = _CQ_OVERFLOW, _CQES, _CQ_FLAGS
        self._array = array
        self.fd = next(_fds)
        return self.fd

    def mmap(self, fd: int, length: int, offset: int):
        """Hand out the ring memory (one mapping for SQ and CQ) or the SQE array."""
        self._check_fd(fd)
        m = self._sqes if offset == abi.IORING_OFF_SQES else self._rings
        if length > len(m):
            raise OSError(errno.EINVAL, f"mmap: {length} bytes asked, {len(m)} exist")
        return m

    def enter(self, fd: int, to_submit: int, min_complete: int, flags: int,
              arg=None, argsz: int = 0) -> int:
        """``io_uring_enter``: consume up to ``to_submit`` SQEs, then maybe post/wait."""
        self._check_fd(fd)
        self.enters += 1
        done = self._consume(to_submit)
        if flags & IORING_ENTER_GETEVENTS:
            self._flush_overflow()
            while self._cq_ready() < min_complete and self.pending:
                self.complete(1)
                self._flush_overflow()
            if self._cq_ready() < min_complete:
                if flags & IORING_ENTER_EXT_ARG:
                    raise OSError(errno.ETIME, "io_uring_enter: timed out (simulated)")
                raise OSError(errno.EDEADLK, "io_uring_enter would wait forever: "
                              "nothing is in flight in the simulator")
        return done

    def register(self, fd: int, opcode: int, arg=None, nr_args: int = 0) -> int:
        """``io_uring_register``: only ``IORING_REGISTER_PROBE`` (NOP is supported)."""
        self._check_fd(fd)
        if opcode == abi.IORING_REGISTER_PROBE:
            probe = abi.io_uring_probe.from_address(arg if isinstance(arg, int)
                                                    else ctypes.addressof(arg))
            probe.last_op = abi.IORING_OP_NOP
            probe.ops_len = 1
            op = abi.io_uring_probe_op.from_address(
                ctypes.addressof(probe) + ctypes.sizeof(abi.io_uring_probe))
            op.op, op.flags = abi.IORING_OP_NOP, abi.IO_URING_OP_SUPPORTED
            return 0
        raise OSError(errno.EINVAL, f"io_uring_register: opcode {opcode} not simulated")

    def close(self, fd: int) -> None:
        """Close the simulated ring fd."""
        self._check_fd(fd)
        self.u32.release()
        self.fd = -1

    # -- the simulated kernel at work -------------------------------------------

    def _check_fd(self, fd: int) -> None:
        if fd != self.fd or fd in (None, -1):
            raise OSError(errno.EBADF, f"fd {fd} is not this simulator's ring")

    def _consume(self, to_submit: int) -> int:
        u = self.u32
        head = u[_SQ_HEAD // 4]
        tail = u[_SQ_TAIL // 4]   # written by the program (its release store)
        n = min(to_submit, (tail - head) & _U32)
        if n > self.sq_entries:
            raise AssertionError(f"program published {n} SQEs in a ring of {self.sq_entries}")
        mask = self.sq_entries - 1
        for i in range(n):
            pos = (head + i) & _U32
            slot = pos & mask if self.no_sqarray else u[self._array // 4 + (pos & mask)]
            if slot >= self.sq_entries:
                u[_SQ_DROPPED // 4] = (u[_SQ_DROPPED // 4] + 1) & _U32
                continue
            self._execute(*_SQE_HEAD.unpack_from(self._sqes, slot * 64))
        u[_SQ_HEAD // 4] = (head + n) & _U32
        self.submitted += n
        return n

    def _execute(self, opcode, flags, ioprio, fd, off, addr, len_, op_flags, user_data) -> None:
        if opcode == abi.IORING_OP_NOP:
            res = 0
            if op_flags & abi.IORING_NOP_INJECT_RESULT:
                res = ctypes.c_int32(len_).value
        else:
            res = -errno.EINVAL
        if flags & IOSQE_CQE_SKIP_SUCCESS and res >= 0:
            return
        if self.defer:
            self.pending.append((user_data, res, 0))
        else:
            self._post(user_data, res, 0)

    def complete(self, count: int | None = None, order=None) -> int:
        """Post held-back completions: the first ``count``, or those at indices ``order``."""
        if order is None:
            order = range(len(self.pending) if count is None else min(count, len(self.pending)))
        order = list(order)
        picked = [self.pending[i] for i in order]
        for i in sorted(set(order), reverse=True):
            del self.pending[i]
        for cqe in picked:
            self._post(*cqe)
        return len(picked)

    def _cq_ready(self) -> int:
        return (self.u32[_CQ_TAIL // 4] - self.u32[_CQ_HEAD // 4]) & _U32

    def _post(self, user_data: int, res: int, flags: int) -> None:
        u = self.u32
        if self.overflow or self._cq_ready() >= self.cq_entries:
            # The CQ is full (or older overflowed CQEs must come first, to keep order).
            if self.nodrop:
                self.overflow.append((user_data, res, flags))
                u[_SQ_FLAGS // 4] |= IORING_SQ_CQ_OVERFLOW
            else:
                u[_CQ_OVERFLOW // 4] = (u[_CQ_OVERFLOW // 4] + 1) & _U32
            return
        tail = u[_CQ_TAIL // 4]
        _CQE.pack_into(self._rings, _CQES + (tail & (self.cq_entries - 1)) * 16,
                       user_data, res, flags)
        u[_CQ_TAIL // 4] = (tail + 1) & _U32   # the kernel's release store

    def _flush_overflow(self) -> None:
        backlog, self.overflow = self.overflow, []
        for cqe in backlog:
            self._post(*cqe)
        if not self.overflow:
            self.u32[_SQ_FLAGS // 4] &= ~IORING_SQ_CQ_OVERFLOW & _U32
