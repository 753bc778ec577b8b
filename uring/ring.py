"""The ring: io_uring_setup, the shared memory mappings, submission and completion.

Follow a request through this file:

1. :meth:`Ring.prep` claims the next free slot of the **SQE array** and writes
   the 64-byte ``struct io_uring_sqe`` into it with a single ``struct`` pack.
2. :meth:`Ring.submit` publishes the new **SQ tail** (a release store), then
   calls ``io_uring_enter(2)`` so the kernel consumes the entries. The slot
   becomes ours again once the kernel's **SQ head** has passed it.
3. The kernel writes a 16-byte ``struct io_uring_cqe`` into the **CQ ring** and
   moves the **CQ tail**. :meth:`Ring.copy_cqes` loads the tail once (acquire),
   copies every CQE up to it, and stores the new **CQ head** once (release).

Indices are free-running unsigned 32-bit counters: they wrap at 2**32 and are
turned into slots with ``& ring_mask``; "how many" is always ``(a - b) & 0xffffffff``.

The same code runs against the kernel and against :mod:`uring.sim`, which
speaks the same memory protocol; what differs is the ``kernel`` object that
sets up, maps and enters (see :class:`LinuxKernel`).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import os
import struct
import threading
import time
import types
import warnings
import weakref
from collections import namedtuple

from . import abi, syscall
from ._timespec import seconds_to_ns, split_ns
from .abi import (
    IORING_ASYNC_CANCEL_ALL,
    IORING_ASYNC_CANCEL_ANY,
    IORING_CQE_F_MORE,
    IORING_ENTER_ABS_TIMER,
    IORING_ENTER_EXT_ARG,
    IORING_ENTER_GETEVENTS,
    IORING_ENTER_REGISTERED_RING,
    IORING_ENTER_SQ_WAKEUP,
    IORING_FEAT_EXT_ARG,
    IORING_FEAT_MIN_TIMEOUT,
    IORING_FEAT_SINGLE_MMAP,
    IORING_OFF_CQ_RING,
    IORING_OFF_SQ_RING,
    IORING_OFF_SQES,
    IORING_OP_ASYNC_CANCEL,
    IORING_REGISTER_SYNC_CANCEL,
    IORING_SETUP_CQE32,
    IORING_SETUP_CQE_MIXED,
    IORING_SETUP_CQSIZE,
    IORING_SETUP_IOPOLL,
    IORING_SETUP_NO_SQARRAY,
    IORING_SETUP_SQ_AFF,
    IORING_SETUP_SQE128,
    IORING_SETUP_SQPOLL,
    IORING_SQ_CQ_OVERFLOW,
    IORING_SQ_NEED_WAKEUP,
    IORING_SQ_TASKRUN,
    IORING_UNREGISTER_RING_FDS,
    IoringFeat,
    IoringSetup,
)
from .barrier import STRONGLY_ORDERED, load_acquire, smp_mb, store_release
from .errors import RingClosed, SubmissionQueueFull

__all__ = [
    "Ring",
    "Cqe",
    "Cqe32",
    "LinuxKernel",
    "SubmissionQueueFull",
    "RingClosed",
]

_U32 = 0xFFFFFFFF

# struct io_uring_sqe, field by field (see abi.io_uring_sqe): opcode, flags,
# ioprio, fd, off, addr, len, op_flags, user_data, buf_index, personality,
# file_index, addr3, __pad2. '<' means no padding; the sum is 64 bytes.
_SQE = struct.Struct("<BBHiQQIIQHHIQQ")
# The same for IORING_SETUP_SQE128: the 64 pad bytes ('x') clear the command
# area in the same pack, so no field keeps a stale value there either.
_SQE128 = struct.Struct("<BBHiQQIIQHHIQQ64x")
_U64_AT = struct.Struct("<Q").unpack_from  # one SQE's user_data (offset 32)
# struct io_uring_cqe: user_data, res, flags (16 bytes); CQE32 adds big_cqe[2].
_CQE = struct.Struct("<QiI")
_CQE32 = struct.Struct("<QiIQQ")
assert _SQE.size == 64 and _SQE128.size == 128 and _CQE.size == 16 and _CQE32.size == 32

# Setup flags whose ring layout this class does not parse (see _refuse_layouts).
# SQE_MIXED (1 << 19) is from 6.19, newer than uring.abi.
_UNPARSED_SETUP = (
    (int(IORING_SETUP_CQE_MIXED), "IORING_SETUP_CQE_MIXED",
     "16- and 32-byte CQEs mixed in one ring (IORING_CQE_F_32): Ring reads fixed-size CQEs"),
    (1 << 19, "IORING_SETUP_SQE_MIXED",
     "64- and 128-byte SQEs mixed in one ring: Ring writes fixed-size SQEs"),
)

# A keep entry's marker while the request it is for has not been prepared yet
# (keep() called before prep()); see Ring.keep.
_ANTICIPATED = -1

#: Objects the kernel might still touch after a close that could not prove it
#: is done (see Ring.close): kept here, and so alive, for the life of the process.
_immortal: list = []


def _park(objects, reasons, warn: bool = True) -> None:
    """Keep ``objects`` for the life of the process, and say why in a ResourceWarning."""
    _immortal.append(objects)
    if warn:
        warnings.warn("uring: the kernel may still use memory of a closed Ring ("
                      + "; ".join(reasons) + "); its buffers are kept alive for the life"
                      " of the process instead of being freed", ResourceWarning, stacklevel=3)


# Forks of this process since import: a ring set up before a fork may be held
# by the child (the fd and the mappings are inherited), so closing it in the
# parent no longer tears it down.
_forks = 0


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_parent=_count_fork)

# Open rings of this process by fd, so ops.msg_ring can refuse to post a CQE
# whose user_data a target ring's request holds memory under.
_open_rings: "weakref.WeakValueDictionary[int, Ring]" = weakref.WeakValueDictionary()


def open_ring(fd: int):
    """The open :class:`Ring` of this process whose fd is ``fd``, or None."""
    return _open_rings.get(fd)

# sigmask_sz in io_uring_getevents_arg: the kernel's sigset size, _NSIG / 8.
_KERNEL_SIGSET_SIZE = 8

# Plain ints for the hot paths. An operator between an int and an IntFlag
# member runs the flag class's Python-level __rand__/__ror__ and builds a new
# member: about 2 us each on CPython 3.11, against 0.07 us for two ints.
_F_MORE = int(IORING_CQE_F_MORE)
_SQ_NEED_WAKEUP = int(IORING_SQ_NEED_WAKEUP)
_SQ_NEEDS_ENTER = int(IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)
_ENTER_GETEVENTS = int(IORING_ENTER_GETEVENTS)
_ENTER_SQ_WAKEUP = int(IORING_ENTER_SQ_WAKEUP)
_ENTER_REGISTERED_RING = int(IORING_ENTER_REGISTERED_RING)
_U64 = 0xFFFFFFFFFFFFFFFF


class _CqeMethods:
    """Accessors shared by :class:`Cqe` and :class:`Cqe32`."""

    __slots__ = ()

    def result(self) -> int:
        """``res``, or raise the ``OSError`` subclass for ``-res`` when it is negative."""
        res = self[1]
        if res < 0:
            raise OSError(-res, f"{os.strerror(-res)} (user_data={self[0]:#x})")
        return res

    @property
    def more(self) -> bool:
        """``IORING_CQE_F_MORE`` (5.13): the request stays armed; more CQEs will follow.

        A multishot request has ended when a CQE arrives without it.
        """
        return bool(self[2] & abi.IORING_CQE_F_MORE)

    @property
    def buffer_id(self) -> int | None:
        """The provided buffer's id (``flags >> 16``) if ``IORING_CQE_F_BUFFER`` (5.7) is set."""
        flags = self[2]
        if flags & abi.IORING_CQE_F_BUFFER:
            return flags >> abi.IORING_CQE_BUFFER_SHIFT
        return None

    @property
    def buf_more(self) -> bool:
        """``IORING_CQE_F_BUF_MORE`` (6.12): an incremental buffer was only partly used."""
        return bool(self[2] & abi.IORING_CQE_F_BUF_MORE)

    @property
    def sock_nonempty(self) -> bool:
        """``IORING_CQE_F_SOCK_NONEMPTY`` (5.19): the socket had more data after this receive."""
        return bool(self[2] & abi.IORING_CQE_F_SOCK_NONEMPTY)

    @property
    def notif(self) -> bool:
        """``IORING_CQE_F_NOTIF`` (6.0): a zero-copy send's buffer may be reused now."""
        return bool(self[2] & abi.IORING_CQE_F_NOTIF)


class Cqe(_CqeMethods, namedtuple("Cqe", "user_data res flags")):
    """A copied ``struct io_uring_cqe``: ``(user_data, res, flags)``.

    It is a copy, so it stays valid after the CQ head moves on.
    """

    __slots__ = ()


class Cqe32(_CqeMethods, namedtuple("Cqe32", "user_data res flags big0 big1")):
    """A copied 32-byte CQE (``IORING_SETUP_CQE32``): the 16 bytes plus ``big_cqe[0..1]``."""

    __slots__ = ()


def _check_u32(value, name: str) -> None:
    """Raise ``TypeError``/``ValueError`` naming ``name`` unless ``value`` fits a u32."""
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _U32:
        raise ValueError(f"{name} must be in 0..2**32-1, not {value!r}")


class LinuxKernel:
    """The real kernel: system calls and ``mmap`` of the ring fd.

    :class:`Ring` talks to its kernel only through these five methods, so the
    simulator can stand in for this class.
    """

    setup = staticmethod(syscall.io_uring_setup)
    enter = staticmethod(syscall.io_uring_enter)
    register = staticmethod(syscall.io_uring_register)

    @staticmethod
    def mmap(fd: int, length: int, offset: int) -> mmap.mmap:
        """Map ``length`` bytes of the ring at ``offset`` (an ``IORING_OFF_*`` value).

        MAP_POPULATE faults the pages in now, so the first submission does not.
        """
        return mmap.mmap(fd, length, mmap.MAP_SHARED | mmap.MAP_POPULATE,
                         mmap.PROT_READ | mmap.PROT_WRITE, offset=offset)

    @staticmethod
    def close(fd: int) -> None:
        """Close the ring fd; the kernel tears the ring down once nothing refers to it."""
        os.close(fd)


def _make_prep(sqe: struct.Struct, shift: int, qualname: str):
    """Build :meth:`Ring.prep` for slots of ``1 << shift`` bytes packed with ``sqe``.

    One definition serves the 64-byte and the 128-byte (``IORING_SETUP_SQE128``)
    layouts; the struct's ``pack_into`` and the shift are closure constants,
    so the hot path has no size test and no global lookups.
    """
    pack_into = sqe.pack_into

    def prep(self, opcode: int, flags: int, ioprio: int, fd: int, off: int, addr: int,
             len: int, op_flags: int, user_data: int, buf_index: int = 0,
             personality: int = 0, file_index: int = 0, addr3: int = 0) -> int:
        tail = self._sqe_tail
        if tail == self._sq_limit:
            self._sq_refresh_limit(tail)
        if user_data in self._keep:
            # The user_data of a request that holds memory: allowed only for
            # the request a keep() announced (see Ring.keep).
            self._claim(user_data, tail)
        slot = tail & self._sq_mask
        pack_into(self._sqes, slot << shift, opcode, flags, ioprio, fd, off, addr, len,
                  op_flags, user_data, buf_index, personality, file_index, addr3, 0)
        self._sqe_tail = (tail + 1) & _U32
        return slot

    prep.__doc__ = _PREP_DOC
    prep.__qualname__ = qualname  # autodoc documents it as the method it is
    return prep


_PREP_DOC = """Fill the next free SQE with these fields and return its slot index.

        Arguments follow ``struct io_uring_sqe`` in order: ``flags`` is the
        ``IOSQE_*`` byte, ``op_flags`` the per-op 32-bit word at offset 28
        (``rw_flags``, ``msg_flags``, ...), ``buf_index`` the u16 at 40 (also
        ``buf_group``), ``file_index`` the u32 at 44 (also ``splice_fd_in``).
        All 64 bytes (128 with ``IORING_SETUP_SQE128``) are written, so no
        field keeps a stale value from the slot's previous use. The entry is
        not visible to the kernel until :meth:`submit`. Raises
        :class:`SubmissionQueueFull` when no slot is free, and ``ValueError``
        when ``user_data`` is that of a request in flight that holds memory
        (see :meth:`keep`).
        """


class Ring:
    """An io_uring instance: the ring fd, the mapped SQ/CQ rings and SQE array.

    ``entries`` is the SQ size (the kernel rounds it up to a power of two; the
    CQ gets twice as many unless ``cq_entries`` is given). ``flags`` is any
    valid combination of ``IORING_SETUP_*``; ``sq_thread_cpu`` and
    ``sq_thread_idle`` (ms) go with ``IORING_SETUP_SQPOLL``; ``wq_fd`` with
    ``IORING_SETUP_ATTACH_WQ``. Use it as a context manager, or call :meth:`close`.

    A full SQ is not flushed behind your back: :meth:`prep` raises
    :class:`SubmissionQueueFull`, so the moment of every ``io_uring_enter`` is
    the caller's choice (and visible in :attr:`enter_count`).
    """

    def __init__(self, entries: int = 256, *, flags: int = 0, cq_entries: int | None = None,
                 sq_thread_cpu: int | None = None, sq_thread_idle: int | None = None,
                 wq_fd: int | None = None, kernel=None) -> None:
        if not isinstance(entries, int) or not 1 <= entries <= 32768:
            raise ValueError(f"entries must be an int in 1..32768, not {entries!r}")
        # io_uring_params holds these as u32: ctypes would silently keep the
        # low 32 bits of a larger or negative value and set up another ring.
        for name, value in (("flags", flags), ("cq_entries", cq_entries),
                            ("sq_thread_cpu", sq_thread_cpu),
                            ("sq_thread_idle", sq_thread_idle), ("wq_fd", wq_fd)):
            if value is not None:
                _check_u32(value, name)
        _refuse_layouts(flags)
        self._closed = True  # until fully set up, so close()/__del__ are safe
        self._maps: list = []
        self.kernel = kernel if kernel is not None else LinuxKernel()
        p = abi.io_uring_params()
        p.flags = flags
        if cq_entries is not None:
            p.flags |= IORING_SETUP_CQSIZE
            p.cq_entries = cq_entries
        if sq_thread_cpu is not None:
            p.flags |= IORING_SETUP_SQ_AFF
            p.sq_thread_cpu = sq_thread_cpu
        if sq_thread_idle is not None:
            p.sq_thread_idle = sq_thread_idle
        if wq_fd is not None:
            p.wq_fd = wq_fd
        self.fd = self.kernel.setup(entries, p)
        self.params = p
        try:
            self._map_rings(p)
        except BaseException:
            self.kernel.close(self.fd)
            self._unmap()
            raise
        self._closed = False
        _open_rings[self.fd] = self

    # -- setup -----------------------------------------------------------------

    def _map_rings(self, p) -> None:
        self.setup_flags = IoringSetup(p.flags)
        self.features = IoringFeat(p.features)
        self.sq_entries = p.sq_entries
        self.cq_entries = p.cq_entries
        self._sqpoll = bool(p.flags & IORING_SETUP_SQPOLL)
        self._iopoll = bool(p.flags & IORING_SETUP_IOPOLL)
        # SQE128/CQE32 double the entry size: slot i starts at i << shift.
        self._sqe_shift = 7 if p.flags & IORING_SETUP_SQE128 else 6
        self._cqe_size = 32 if p.flags & IORING_SETUP_CQE32 else 16
        self._cqe_struct = _CQE32 if p.flags & IORING_SETUP_CQE32 else _CQE
        # tuple.__new__ bound by partial builds each Cqe in C; Cqe._make
        # would run a Python-level function per CQE.
        self._cqe_make = functools.partial(
            tuple.__new__, Cqe32 if p.flags & IORING_SETUP_CQE32 else Cqe)
        no_sqarray = bool(p.flags & IORING_SETUP_NO_SQARRAY)

        # Sizes as liburing computes them (src/setup.c): with NO_SQARRAY the
        # kernel reports sq_off.array = 0 and there is no index array.
        sq_size = p.sq_off.array + p.sq_entries * 4
        cq_size = p.cq_off.cqes + p.cq_entries * self._cqe_size
        if p.features & IORING_FEAT_SINGLE_MMAP:
            # 5.4+: SQ and CQ rings live in one allocation; map it once.
            sq_size = cq_size = max(sq_size, cq_size)
            sq_map = cq_map = self._mmap(sq_size, IORING_OFF_SQ_RING)
        else:
            sq_map = self._mmap(sq_size, IORING_OFF_SQ_RING)
            cq_map = self._mmap(cq_size, IORING_OFF_CQ_RING)
        sqes_map = self._mmap(p.sq_entries << self._sqe_shift, IORING_OFF_SQES)

        # u32 views for the indices: one aligned 4-byte load/store per access
        # (see barrier.py). Offsets from the kernel are in bytes.
        self._sq_u32 = memoryview(sq_map).cast("I")
        self._cq_u32 = memoryview(cq_map).cast("I")
        so, co = p.sq_off, p.cq_off
        self._sq_khead, self._sq_ktail = so.head // 4, so.tail // 4
        self._sq_kflags, self._sq_kdropped = so.flags // 4, so.dropped // 4
        self._cq_khead, self._cq_ktail = co.head // 4, co.tail // 4
        self._cq_koverflow = co.overflow // 4
        self._sq_mask = self._sq_u32[so.ring_mask // 4]
        self._cq_mask = self._cq_u32[co.ring_mask // 4]
        self._sqes = memoryview(sqes_map)
        self._cqes = memoryview(cq_map)[co.cqes:co.cqes + p.cq_entries * self._cqe_size]

        if not no_sqarray:
            # The SQ array maps ring positions to SQE slots. We always use the
            # identity, so fill it once here and never touch it again (as
            # liburing does since 2.2); the kernel reads it on every submit.
            array = memoryview(sq_map)[so.array:so.array + p.sq_entries * 4].cast("I")
            for i in range(p.sq_entries):
                array[i] = i
            array.release()

        # Our private copies. The kernel starts every index at 0, the simulator
        # anywhere: read them rather than assume.
        self._sqe_tail = self._sq_u32[self._sq_ktail]   # next slot to fill
        self._sqe_head = self._sqe_tail                  # last tail published
        self._sqe_first = self._sqe_tail                 # no SQE was filled before this
        self._sq_head_seen = load_acquire(self._sq_u32, self._sq_khead)
        # prep() compares the tail with this one number instead of doing the
        # arithmetic each time: the tail at which the SQ would be full.
        self._sq_limit = (self._sq_head_seen + p.sq_entries) & _U32
        if self._sqe_shift == 7:
            # SQE128 slots are twice as large; an instance attribute shadows
            # the class's 64-byte prep so the common path has no size test.
            self.prep = types.MethodType(_prep128, self)
        self._cq_head = self._cq_u32[self._cq_khead]
        # user_data -> [marker, objects...] for each request that holds memory
        # (see keep()); registrations' memory in _pins; live buffer groups by id.
        self._keep: dict[int, list] = {}
        self._pins: list = []
        self._groups: dict = {}
        self._sqe_views: list = []     # weak references to sqe() views
        self._waiters: list = []       # one entry per thread inside io_uring_enter
        self._pid = os.getpid()
        self._forks = _forks
        self._ring_fd_index: int | None = None
        self._ring_fd_thread: int | None = None
        self._enter_fd = self.fd
        self._enter_flags = 0
        self.enter_count = 0
        self._wait_arg = abi.io_uring_getevents_arg()
        self._wait_ts = abi.kernel_timespec()
        # IORING_ENTER_ABS_TIMER came with IORING_FEAT_MIN_TIMEOUT (both 6.12).
        self._abs_timer = bool(p.features & IORING_FEAT_MIN_TIMEOUT)

    def _mmap(self, length: int, offset: int):
        m = self.kernel.mmap(self.fd, length, offset)
        self._maps.append(m)
        return m

    # -- submission --------------------------------------------------------------

    prep = _make_prep(_SQE, 6, "Ring.prep")

    def _sq_refresh_limit(self, tail: int) -> None:
        """Called when our cached view says the SQ is full: look at the kernel's head."""
        self._check_open()
        # The kernel may have consumed more since we last looked.
        self._sq_head_seen = load_acquire(self._sq_u32, self._sq_khead)
        self._sq_limit = (self._sq_head_seen + self.sq_entries) & _U32
        if tail == self._sq_limit:
            raise SubmissionQueueFull(
                f"all {self.sq_entries} SQEs are queued; call submit() first")

    def sqe(self, slot: int) -> abi.io_uring_sqe:
        """A ctypes view of SQE ``slot`` (as returned by :meth:`prep`) to adjust fields.

        The view reads and writes the mapped memory directly, so it pins the
        mapping: :meth:`close` refuses with ``BufferError`` (changing nothing)
        while a view is alive. Drop it once the fields are set.
        """
        self._check_open()
        if not isinstance(slot, int) or not 0 <= slot < self.sq_entries:
            raise ValueError(f"slot must be in 0..{self.sq_entries - 1}, not {slot!r}")
        view = abi.io_uring_sqe.from_buffer(self._sqes, slot << self._sqe_shift)
        views = self._sqe_views
        views[:] = [ref for ref in views if ref() is not None]
        views.append(weakref.ref(view))
        return view

    def sq_space_left(self) -> int:
        """How many SQEs :meth:`prep` can fill before it raises :class:`SubmissionQueueFull`."""
        self._check_open()
        self._sq_head_seen = load_acquire(self._sq_u32, self._sq_khead)
        self._sq_limit = (self._sq_head_seen + self.sq_entries) & _U32
        return self.sq_entries - ((self._sqe_tail - self._sq_head_seen) & _U32)

    def sq_ready(self) -> int:
        """SQEs filled by :meth:`prep` and not yet published by :meth:`submit`."""
        return (self._sqe_tail - self._sqe_head) & _U32

    # -- what the kernel may touch: one entry per request ---------------------------

    def keep(self, user_data: int, obj) -> None:
        """Keep ``obj`` alive until the request ``user_data`` is over.

        The kernel reads or writes a buffer by address for as long as the
        request runs; if Python freed it meanwhile the kernel would scribble on
        reused memory. Pass a *holder* (:func:`uring.memory.export`) rather
        than the buffer itself when the buffer could be resized or closed: the
        holder's export makes that raise ``BufferError``. The operations in
        :mod:`uring.ops` do all of this themselves.

        The rule the ring enforces: **user_data is a request's identity.**
        Objects are held per request, under its ``user_data``, and released by
        that request's final CQE (the first one without ``IORING_CQE_F_MORE``:
        for a multishot request or a zero-copy send, the last one). While a
        request holds memory, no other request may use its ``user_data``:
        :meth:`prep` raises ``ValueError`` for a second one (a NOP included,
        whose CQE would otherwise release the first request's memory), and so
        does ``keep`` for another request. Call ``keep`` right after
        :meth:`prep` (it then attaches to that request) or right before it
        (it then attaches to the next request prepared with this
        ``user_data``). A final CQE that arrives while the holder is not even
        submitted yet releases nothing. What the ring cannot see, and you must
        avoid: a request that holds nothing and was submitted *before* the
        holder with the same ``user_data``, and a CQE posted into this ring by
        another process's ``MSG_RING`` (``ops.msg_ring`` refuses such a
        ``user_data`` between rings of this process). A holder submitted with
        ``IOSQE_CQE_SKIP_SUCCESS`` posts no CQE when it succeeds, so its
        objects stay until :meth:`close` -- which cannot tell it from a request
        still running, and after its timeout keeps them for good.
        """
        self._check_open()
        keep = self._keep
        held = keep.get(user_data)
        tail = self._sqe_tail
        if held is None:
            if not isinstance(user_data, int) or not 0 <= user_data <= 0xFFFFFFFFFFFFFFFF:
                raise ValueError(f"user_data must be an int in 0..2**64-1, not {user_data!r}")
            last = _U64_AT(self._sqes, (((tail - 1) & self._sq_mask) << self._sqe_shift) + 32)
            just_prepped = tail != self._sqe_first and last[0] == user_data
            keep[user_data] = [tail if just_prepped else _ANTICIPATED, obj]
        elif held[0] == tail or held[0] == _ANTICIPATED:
            held.append(obj)
        else:
            raise ValueError(self._busy(user_data))

    def _hold(self, user_data: int, obj) -> None:
        """:meth:`keep` for the request :meth:`prep` has just filled (the operations' form)."""
        held = self._keep.get(user_data)
        if held is None:
            self._keep[user_data] = [self._sqe_tail, obj]
        else:  # prep() allowed it: this is the request the entry is for
            held.append(obj)

    def _claim(self, user_data: int, tail: int) -> None:
        held = self._keep[user_data]
        if held[0] != _ANTICIPATED:
            raise ValueError(self._busy(user_data))
        held[0] = (tail + 1) & _U32

    @staticmethod
    def _busy(user_data) -> str:
        return (f"user_data {user_data:#x} belongs to a request in flight that holds memory"
                " (ring.keep): give each request its own user_data until its final CQE"
                " arrived, so that CQE cannot release another request's buffers")

    def _pin(self, obj) -> None:
        """Keep ``obj`` (memory of a registration or buffer group) until :meth:`close`.

        A request in flight may still use such memory after it was
        unregistered, so nothing is dropped before the close proves the
        kernel is done.
        """
        self._check_open()
        self._pins.append(obj)

    def _flush_sq(self) -> int:
        """Publish the filled SQEs; return how many the kernel has not consumed yet."""
        tail = self._sqe_tail
        if tail != self._sqe_head:
            # Release: the SQE bytes written by prep() must be visible before
            # the kernel can see the new tail (liburing __io_uring_flush_sq).
            store_release(self._sq_u32, self._sq_ktail, tail)
            self._sqe_head = tail
        if self._sqpoll:
            # The SQPOLL thread moves the head concurrently.
            return (tail - load_acquire(self._sq_u32, self._sq_khead)) & _U32
        return (tail - self._sq_u32[self._sq_khead]) & _U32

    def submit(self) -> int:
        """Publish every prepared SQE and tell the kernel; return how many it consumed.

        Without SQPOLL this is one ``io_uring_enter``. With SQPOLL the kernel
        thread picks entries up by itself: we only enter to wake it when it has
        gone to sleep (``IORING_SQ_NEED_WAKEUP``), and then return the number
        of entries published.
        """
        return self._submit(0, None)

    def submit_and_wait(self, wait_nr: int = 1, timeout: float | None = None) -> int:
        """Submit, then wait until at least ``wait_nr`` CQEs are ready (one syscall).

        With ``timeout`` (seconds, needs ``IORING_FEAT_EXT_ARG``, 5.11) the wait
        ends early; the return value is still the number of SQEs consumed.
        The timeout is a deadline: signals arriving meanwhile (each an
        ``EINTR`` retry) do not extend it. ``wait_nr`` must fit the kernel's
        u32 and ``timeout`` a timespec, else ``ValueError``.
        """
        return self._submit(wait_nr, timeout)

    def _submit(self, wait_nr: int, timeout: float | None) -> int:
        if self._closed:
            raise RingClosed("this Ring is closed")
        if wait_nr and not 0 <= wait_nr <= _U32:
            _check_u32(wait_nr, "wait_nr")
        if timeout is not None:
            seconds_to_ns(timeout, "timeout")  # refused before anything is submitted
        pending = self._flush_sq()
        flags = self._enter_flags
        to_submit = pending
        if self._sqpoll:
            if STRONGLY_ORDERED:
                # Full fence between our tail store and the flags load: the
                # SQPOLL thread sets NEED_WAKEUP and then re-reads the tail
                # before it sleeps; with the fence one of us is sure to see the
                # other's store (liburing sq_ring_needs_enter). TSO alone would
                # allow our load to pass our store and both to miss.
                smp_mb()
                if self._sq_u32[self._sq_kflags] & _SQ_NEED_WAKEUP:
                    flags |= _ENTER_SQ_WAKEUP
                elif not wait_nr and not self._cq_needs_flush():
                    return pending
            else:
                # Pure Python has no full fence on weakly ordered CPUs (see
                # barrier.py): a missed NEED_WAKEUP would leave the SQEs unread
                # while the thread sleeps. So always ask for the wake-up. The
                # cost: one io_uring_enter per submit, as without SQPOLL (the
                # kernel thread still does the submission work).
                flags |= _ENTER_SQ_WAKEUP
        need_events = wait_nr or self._iopoll or self._cq_needs_flush()
        if need_events:
            flags |= _ENTER_GETEVENTS
        elif not to_submit and not flags & _ENTER_SQ_WAKEUP:
            return 0
        if timeout is not None and wait_nr:
            submitted = self._enter_timeout(to_submit, wait_nr, flags, timeout)
        else:
            submitted = self._enter(to_submit, wait_nr, flags)
        return pending if self._sqpoll else submitted

    def _cq_needs_flush(self) -> bool:
        # IORING_SQ_CQ_OVERFLOW (about 5.9): CQEs wait in the kernel's overflow list
        # and only an enter with GETEVENTS moves them into the CQ ring.
        # IORING_SQ_TASKRUN (5.19, with TASKRUN_FLAG): completions are queued
        # as task work that only runs when we enter.
        return bool(self._sq_u32[self._sq_kflags] & _SQ_NEEDS_ENTER)

    def _enter(self, to_submit: int, min_complete: int, flags: int, arg=None,
               argsz: int = 0) -> int:
        waiters = self._waiters
        waiters.append(None)  # close() from another thread must know we are in here
        try:
            while True:
                self.enter_count += 1
                try:
                    return self.kernel.enter(self._enter_fd, to_submit, min_complete, flags,
                                             arg, argsz)
                except InterruptedError:
                    # A signal arrived while we slept. Python has run its handler
                    # by now (it may have raised, ending this loop); otherwise
                    # retry, as PEP 475 does for the stdlib's own system calls.
                    continue
        finally:
            waiters.pop()

    def _enter_timeout(self, to_submit: int, wait_nr: int, flags: int, timeout: float) -> int:
        total = seconds_to_ns(timeout, "timeout")
        if not self.features & IORING_FEAT_EXT_ARG:
            raise OSError(errno.EOPNOTSUPP,
                          "waiting with a timeout needs IORING_FEAT_EXT_ARG (Linux 5.11)")
        ts, arg = self._wait_ts, self._wait_arg
        arg.sigmask = 0
        arg.sigmask_sz = _KERNEL_SIGSET_SIZE
        arg.ts = ctypes.addressof(ts)
        flags |= int(IORING_ENTER_EXT_ARG)
        # A deadline, not a duration: a retry after EINTR must not start the
        # full timeout again, or a steady signal keeps the wait alive forever.
        deadline = time.monotonic_ns() + total
        absolute = self._abs_timer
        if absolute:
            # 6.12: the kernel takes the deadline itself, on the ring's clock
            # (CLOCK_MONOTONIC unless IORING_REGISTER_CLOCK changed it), the
            # clock time.monotonic_ns() reads.
            flags |= int(IORING_ENTER_ABS_TIMER)
            ts.tv_sec, ts.tv_nsec = split_ns(deadline)
        waiters = self._waiters
        waiters.append(None)
        try:
            while True:
                if not absolute:
                    ts.tv_sec, ts.tv_nsec = split_ns(max(0, deadline - time.monotonic_ns()))
                self.enter_count += 1
                try:
                    return self.kernel.enter(self._enter_fd, to_submit, wait_nr, flags, arg,
                                             ctypes.sizeof(arg))
                except InterruptedError:
                    if time.monotonic_ns() >= deadline:
                        return 0
                except OSError as e:
                    if e.errno == errno.ETIME:  # the deadline passed first: nothing is wrong
                        return 0
                    raise
        finally:
            waiters.pop()

    # -- completion ----------------------------------------------------------------

    def cq_ready(self) -> int:
        """How many CQEs are waiting in the CQ ring right now."""
        self._check_open()
        return (load_acquire(self._cq_u32, self._cq_ktail) - self._cq_head) & _U32

    def copy_cqes(self, max: int | None = None) -> list:
        """Copy out the ready CQEs (at most ``max``) as :class:`Cqe` objects.

        One acquire load of the tail, one copy, one release store of the head,
        however many CQEs there are. If the ring is empty but the kernel holds
        overflowed CQEs or pending task work, enter once to collect them.
        """
        return list(map(self._cqe_make, self.copy_cqes_raw(max)))

    def copy_cqes_raw(self, max: int | None = None) -> list:
        """:meth:`copy_cqes` as plain ``(user_data, res, flags)`` tuples: the hot-loop form.

        The tuples come straight out of ``struct.iter_unpack`` in C; building a
        :class:`Cqe` around each costs about as much again (see ``python -m
        uring.bench nop``). ``Cqe(*t)`` wraps one when you want the helpers.
        ``max`` is None (all) or 1..``cq_entries``.
        """
        self._check_open()
        if max is not None and (type(max) is not int or not 1 <= max <= self.cq_entries):
            raise ValueError(f"max must be None or an int in 1..{self.cq_entries} (the CQ"
                             f" size), not {max!r}")
        head = self._cq_head
        # Acquire: the CQE bytes the kernel wrote before moving the tail must
        # not be read before the tail itself.
        tail = load_acquire(self._cq_u32, self._cq_ktail)
        if tail == head and self._cq_needs_flush():
            self._enter(0, 0, _ENTER_GETEVENTS | self._enter_flags)
            tail = load_acquire(self._cq_u32, self._cq_ktail)
        n = (tail - head) & _U32
        if not n:
            return []
        if n > self.cq_entries:
            # The kernel never publishes more than a ring's worth: the shared
            # indices were overwritten. Refuse rather than read stale slots.
            raise RuntimeError(f"CQ tail {tail} is {n} entries past head {head}, more than"
                               f" the {self.cq_entries} the ring holds")
        if max is not None and n > max:
            n = max
        size = self._cqe_size
        start = (head & self._cq_mask) * size
        end = start + n * size
        it = self._cqe_struct.iter_unpack
        cqes = self._cqes
        if end <= len(cqes):
            out = list(it(cqes[start:end]))
        else:  # the batch wraps around the end of the CQE array
            out = list(it(cqes[start:]))
            out += it(cqes[:end - len(cqes)])
        self._cq_head = (head + n) & _U32
        # Release: our reads of those CQEs are done before the kernel may reuse the slots.
        store_release(self._cq_u32, self._cq_khead, self._cq_head)
        if self._keep:
            self._release_kept(out)
        return out

    def _release_kept(self, cqes) -> None:
        keep = self._keep
        for cqe in cqes:
            if not cqe[2] & _F_MORE:
                held = keep.pop(cqe[0], None)
                if held is not None and self._not_submitted(held[0]):
                    # The holder has not reached the kernel: this final CQE is
                    # another request's (one that held nothing).
                    keep[cqe[0]] = held

    def _not_submitted(self, marker: int) -> bool:
        """True if the request of a keep entry is still unpublished (or not yet prepared)."""
        if marker == _ANTICIPATED:
            return True
        unpublished = (self._sqe_tail - self._sqe_head) & _U32
        return ((marker - 1 - self._sqe_head) & _U32) < unpublished

    def wait(self, wait_nr: int = 1, timeout: float | None = None) -> list:
        """Return ready CQEs, waiting until there are at least ``wait_nr``.

        Submits anything prepared as part of the same ``io_uring_enter``. With
        ``timeout`` (seconds) it may return fewer, possibly none.
        """
        self._check_open()
        if not isinstance(wait_nr, int) or not 0 <= wait_nr <= _U32:
            _check_u32(wait_nr, "wait_nr")
        if timeout is not None:
            seconds_to_ns(timeout, "timeout")  # refused even when no wait is needed
        if self.cq_ready() < wait_nr or self.sq_ready():
            self._submit(wait_nr, timeout)
        return self.copy_cqes()

    @property
    def cq_overflow(self) -> int:
        """The kernel's count of CQEs lost for good (only without ``IORING_FEAT_NODROP``)."""
        self._check_open()
        return self._cq_u32[self._cq_koverflow]

    @property
    def sq_dropped(self) -> int:
        """The kernel's count of invalid SQEs it skipped."""
        self._check_open()
        return self._sq_u32[self._sq_kdropped]

    @property
    def sq_flags(self) -> int:
        """The ``IORING_SQ_*`` flags word the kernel publishes in the SQ ring."""
        self._check_open()
        return self._sq_u32[self._sq_kflags]

    # -- registration --------------------------------------------------------------

    def register(self, opcode: int, arg=None, nr_args: int = 0) -> int:
        """``io_uring_register(2)`` on this ring (``arg``: ctypes object, address or None)."""
        self._check_open()
        return self.kernel.register(self.fd, opcode, arg, nr_args)

    def register_ring_fd(self) -> int:
        """Register the ring fd with itself (``IORING_REGISTER_RING_FDS``, 5.18).

        Later ``io_uring_enter`` calls pass the registered index with
        ``IORING_ENTER_REGISTERED_RING`` and skip the fd table lookup (fdget/fdput).
        Returns the index.
        """
        upd = abi.io_uring_rsrc_update()
        upd.offset = 0xFFFFFFFF  # -1: let the kernel pick a free slot
        upd.data = self.fd
        if self._ring_fd_index is not None:
            return self._ring_fd_index
        self.register(abi.IORING_REGISTER_RING_FDS, upd, 1)
        # The slot belongs to this thread (the kernel keeps it per task) and
        # holds its own reference to the ring: close() unregisters it.
        self._ring_fd_index = upd.offset
        self._ring_fd_thread = threading.get_ident()
        self._enter_fd = upd.offset
        self._enter_flags |= _ENTER_REGISTERED_RING
        return upd.offset

    # -- lifetime ------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise RingClosed("this Ring is closed")

    def _unmap(self) -> list:
        """Release our views and unmap; return the mappings that could not be closed."""
        for name in ("_sq_u32", "_cq_u32", "_sqes", "_cqes"):
            view = self.__dict__.pop(name, None)
            if view is not None:
                view.release()
        stuck = []
        for m in {id(m): m for m in self._maps}.values():
            try:
                m.close()
            except BufferError:  # an sqe() view still points into it
                stuck.append(m)
        self._maps = []
        return stuck

    def close(self, timeout: float = 5.0) -> None:
        """Cancel every request, wait until the kernel is done, then unmap and close.

        Safe to call twice. Raises ``BufferError``, changing nothing, while a
        view from :meth:`sqe` is alive. Otherwise, in order: the registered
        ring fd is unregistered; every request is cancelled synchronously
        (``IORING_REGISTER_SYNC_CANCEL`` with ``IORING_ASYNC_CANCEL_ANY``, 6.0)
        until the kernel finds none left; the CQ is drained (each final CQE
        releases what its request held), waiting at most ``timeout`` seconds
        for requests that cannot stop at once; buffer groups mapped from the
        ring fd are unmapped; the rings are unmapped and the fd closed. Only
        then are the objects held for requests (:meth:`keep`) and
        registrations dropped.

        When the kernel's being done cannot be proven -- a forked child may
        hold the ring, another thread is blocked in :meth:`wait`, the ring fd
        was registered by another thread, a request outlived ``timeout``, a
        mapping could not be closed, or the kernel lacks synchronous
        cancellation -- those objects are kept for the life of the process
        instead, with a ``ResourceWarning`` saying why. Closed in a forked
        child, the ring is only unmapped and its fd closed there (the parent's
        requests are not cancelled) and the child's copies are kept quietly.
        """
        if self._closed:
            return
        if any(ref() is not None for ref in self._sqe_views):
            raise BufferError("a view returned by ring.sqe() is still alive and points into"
                              " the SQE mapping; drop it before close() (nothing was changed)")
        self._shutdown(timeout)

    def _shutdown(self, timeout: float) -> None:
        reasons: list[str] = []
        child = os.getpid() != self._pid
        if not child:
            if self._waiters:
                reasons.append(f"{len(self._waiters)} other thread(s) are inside"
                               " io_uring_enter on it (wait/submit_and_wait)")
            if self._forks != _forks:
                reasons.append("the process forked since the ring was set up, and a child"
                               " may still hold the ring fd and mappings")
            self._unregister_ring_fd(reasons)
            self._quiesce(timeout, reasons)
            for group in list(self._groups.values()):
                why = group._ring_closing()
                if why:
                    reasons.append(why)
        self._groups = {}
        self._closed = True
        _open_rings.pop(self.fd, None)
        # Any method that runs after this point finds the views gone and
        # raises RingClosed instead of touching unmapped memory.
        self._sqe_tail = self._sq_limit = 0  # prep() finds the SQ "full" and checks
        self.sq_entries = 0
        held = (list(self._keep.values()), self._pins)
        self._keep, self._pins = {}, []
        try:
            self.kernel.close(self.fd)
        finally:
            stuck = self._unmap()
            if stuck:
                reasons.append("a view from ring.sqe() still maps the ring")
                held += (stuck,)
            if child:
                _park(held, reasons, warn=False)
            elif reasons:
                _park(held, reasons)

    def _unregister_ring_fd(self, reasons: list) -> None:
        index = self._ring_fd_index
        if index is None:
            return
        self._ring_fd_index = None
        self._enter_fd = self.fd
        self._enter_flags &= ~_ENTER_REGISTERED_RING
        if self._ring_fd_thread != threading.get_ident():
            reasons.append("its fd was registered (register_ring_fd) by another thread,"
                           " whose registration keeps the ring alive until that thread exits")
            return
        upd = abi.io_uring_rsrc_update()
        upd.offset = index
        try:
            done = self.kernel.register(self.fd, IORING_UNREGISTER_RING_FDS, upd, 1)
        except OSError as e:
            reasons.append(f"IORING_UNREGISTER_RING_FDS failed ({e})")
            return
        if done != 1:
            reasons.append("IORING_UNREGISTER_RING_FDS did not find the registered ring fd")

    def _quiesce(self, timeout: float, reasons: list) -> None:
        """Cancel everything and drain the CQ until the kernel is provably done, or give up."""
        deadline = time.monotonic() + timeout
        linux = isinstance(self.kernel, LinuxKernel)
        reg = abi.io_uring_sync_cancel_reg()
        reg.flags = IORING_ASYNC_CANCEL_ANY
        reg.fd = -1
        sync = linux
        while True:
            found = 0
            if sync:
                try:
                    # Cancels every request it can find and returns how many.
                    # One an io-wq worker is already running is only asked to
                    # stop and may go uncounted: see _iowq_busy below.
                    found = self.kernel.register(self.fd, IORING_REGISTER_SYNC_CANCEL, reg, 1)
                except OSError as e:
                    sync = False
                    if e.errno != errno.EINVAL:
                        reasons.append(f"IORING_REGISTER_SYNC_CANCEL failed ({e})")
                    elif self._pins:  # before 6.0; held requests are still waited for
                        reasons.append("this kernel lacks IORING_REGISTER_SYNC_CANCEL (6.0),"
                                       " so requests that hold no buffer of their own"
                                       " (buffer groups, fixed buffers) cannot be proven done")
                    found = self._cancel_all_async(reasons)
            self._drain()
            if not found and not self._keep:
                # Requests that hold nothing of their own but read into a
                # group or a fixed buffer (the pins) matter too. The kernel's
                # cancellation does not count a request an io-wq worker is
                # already running (it is only told to stop), so wait until
                # every worker of this process is idle.
                if not (self._pins and linux and _iowq_busy()):
                    return
            if time.monotonic() >= deadline:
                if self._keep:
                    reasons.append(f"{len(self._keep)} request(s) holding memory had not"
                                   f" completed {timeout} s after being cancelled")
                else:
                    reasons.append(f"an io-wq worker of this process was still busy"
                                   f" {timeout} s after the cancellation")
                return
            time.sleep(0.001)  # a cancelled request is completing: let it

    def _cancel_all_async(self, reasons: list) -> int:
        """Before 6.0: one ``ASYNC_CANCEL`` with ``ANY | ALL`` (5.19) through the SQ."""
        try:
            self.prep(int(IORING_OP_ASYNC_CANCEL), 0, 0, -1, 0, 0, 0,
                      int(IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL), _U64)
            self._submit(0, None)
        except (OSError, ValueError, SubmissionQueueFull) as e:
            reasons.append(f"the cancellation could not be submitted ({e})")
        return 0

    def _drain(self) -> None:
        """Run pending task work, flush overflowed CQEs and reap every CQE."""
        # The shared head is the one the kernel goes by; code that reaped
        # through the mapping itself (uring.bench's bare loop) moved it.
        self._cq_head = self._cq_u32[self._cq_khead]
        try:
            self._enter(0, 0, _ENTER_GETEVENTS | self._enter_flags)
        except OSError:
            pass
        while self.copy_cqes_raw():
            pass

    def __enter__(self) -> "Ring":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            # Garbage collected without close(): same proof, and an sqe()
            # view still alive parks the mappings instead of failing.
            self._shutdown(1.0)

    def __repr__(self) -> str:
        if self._closed:
            return "<Ring closed>"
        return (f"<Ring fd={self.fd} sq_entries={self.sq_entries} "
                f"cq_entries={self.cq_entries} flags={self.setup_flags!r}>")


_prep128 = _make_prep(_SQE128, 7, "Ring.prep")


def _iowq_busy() -> bool:
    """True if an io-wq worker thread of this process (``iou-wrk-*``) is not idle.

    An idle worker waits in ``io_wq_worker`` (its ``wchan``); any other place,
    or a worker we cannot inspect, counts as busy.
    """
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return True
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if not f.read().startswith("iou-wrk-"):
                    continue
            with open(f"/proc/self/task/{tid}/wchan") as f:
                if f.read().strip() != "io_wq_worker":
                    return True
        except FileNotFoundError:
            continue  # the thread exited meanwhile
        except OSError:
            return True
    return False


def _refuse_layouts(flags: int) -> None:
    """Refuse setup flags whose SQE or CQE layout :class:`Ring` does not parse.

    A CQE_MIXED ring posts 32-byte CQEs among 16-byte ones: read as fixed
    16-byte CQEs, the second half of a big one would look like a completion
    (and release a request's buffers).
    """
    for bit, name, why in _UNPARSED_SETUP:
        if flags & bit:
            raise ValueError(f"{name} is not supported by uring.Ring ({why})")
