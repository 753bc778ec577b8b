"""A simulated kernel side of zcrx, so the refill bookkeeping can be tested on any machine.

No NIC here supports zero-copy receive, so the kernel's half of the
protocol is played by :class:`ZcrxKernelSim` over plain memory laid out
exactly as the kernel lays it out:

* the **area**, cut into pages ("net_iovs"); a piece of received data
  lives inside one page, and several pieces may share a page, each holding
  a user reference to it (``user_refs``, as ``io_zcrx_get_niov_uref`` does);
* the **refill queue** region: u32 head at 0, u32 tail at 4, entries from 64
  (what 6.18 reports on x86-64);
* a **CQ ring** of 32-byte CQEs (u32 head at 0, u32 tail at 4, entries from
  64), which the simulator fills the way the kernel does and the
  application reads either with :meth:`SimCq.copy_cqes_raw` (the Python
  consumer) or directly (the C loop in ``native_hot/zcrx_rx.c``).

:meth:`ZcrxKernelSim.post` "receives" bytes of a TCP stream into the area
and posts a CQE; :meth:`ZcrxKernelSim.refill` consumes refill entries as
``io_zcrx_ring_refill`` does, and raises :class:`ZcrxProtocolError` for
anything the real kernel would reject or that would corrupt data: a wrong
area token, an offset outside the area, a page returned more often than it
was handed out. Indices may start anywhere, to cross the 2**32 wrap.
"""

from __future__ import annotations

import struct
from collections import deque

from ..abi import IORING_CQE_F_MORE, IORING_ZCRX_AREA_SHIFT
from ..barrier import load_acquire, store_release
from .zcrx import AREA_OFFSET_MASK, StreamCheck

__all__ = ["ZcrxProtocolError", "SimCq", "ZcrxKernelSim", "RQ_HEAD", "RQ_TAIL", "RQ_RQES",
           "CQ_HEAD", "CQ_TAIL", "CQ_CQES"]

RQ_HEAD, RQ_TAIL, RQ_RQES = 0, 4, 64
CQ_HEAD, CQ_TAIL, CQ_CQES = 0, 4, 64
_U32 = 0xFFFFFFFF
_RQE = struct.Struct("<QI4x")
_CQE32 = struct.Struct("<QiIQQ")


class ZcrxProtocolError(AssertionError):
    """The application broke the refill protocol (the real kernel would misbehave or refuse)."""


class SimCq:
    """A CQ ring of 32-byte CQEs in plain memory: the simulator produces, the app consumes."""

    def __init__(self, entries: int, start: int = 0) -> None:
        if entries < 1 or entries & (entries - 1):
            raise ValueError(f"entries must be a power of two, not {entries}")
        self.entries, self.mask = entries, entries - 1
        self.mem = bytearray(CQ_CQES + entries * 32)
        self.u32 = memoryview(self.mem).cast("I")
        self.u32[CQ_HEAD // 4] = self.u32[CQ_TAIL // 4] = start & _U32
        self.overflow: deque = deque()  # CQEs waiting for room, like the kernel's backlog

    def space(self) -> int:
        """Free CQE slots from the producer's side."""
        return self.entries - ((self.u32[CQ_TAIL // 4] - load_acquire(self.u32, CQ_HEAD // 4))
                               & _U32)

    def post(self, cqe: tuple) -> None:
        """Write one CQE (or keep it in the overflow list when the ring is full)."""
        self.overflow.append(cqe)
        self.flush()

    def flush(self) -> None:
        """Move overflowed CQEs into the ring while there is room; publish the tail."""
        tail = self.u32[CQ_TAIL // 4]
        room = self.space()
        while self.overflow and room:
            _CQE32.pack_into(self.mem, CQ_CQES + (tail & self.mask) * 32, *self.overflow.popleft())
            tail = (tail + 1) & _U32
            room -= 1
        store_release(self.u32, CQ_TAIL // 4, tail)

    def copy_cqes_raw(self) -> list:
        """The application's side, like ``Ring.copy_cqes_raw`` on a CQE32 ring."""
        head = self.u32[CQ_HEAD // 4]
        tail = load_acquire(self.u32, CQ_TAIL // 4)
        out = [_CQE32.unpack_from(self.mem, CQ_CQES + ((head + i) & self.mask) * 32)
               for i in range((tail - head) & _U32)]
        store_release(self.u32, CQ_HEAD // 4, tail)
        return out


class ZcrxKernelSim:
    """The kernel's half of zcrx over plain memory (see the module docstring).

    ``pages`` pages of ``page`` bytes make the area; ``rq_entries`` the
    refill queue; ``start`` the initial RQ head/tail (and ``cq_start`` the
    CQ's) so tests can cross the 2**32 wrap; ``seed`` the stream pattern.
    """

    def __init__(self, pages: int = 16, page: int = 4096, rq_entries: int = 8,
                 cq_entries: int = 16, area_id: int = 0, start: int = 0, cq_start: int = 0,
                 seed: int = 0, user_data: int = 1) -> None:
        if rq_entries < 1 or rq_entries & (rq_entries - 1):
            raise ValueError(f"rq_entries must be a power of two, not {rq_entries}")
        self.page, self.pages = page, pages
        self.area = bytearray(pages * page)
        self.area_id = area_id
        self.token = area_id << IORING_ZCRX_AREA_SHIFT  # rq_area_token
        self.rq_entries = rq_entries
        self.region = bytearray(RQ_RQES + rq_entries * 16)
        self._rq_u32 = memoryview(self.region).cast("I")
        self._rq_u32[RQ_HEAD // 4] = self._rq_u32[RQ_TAIL // 4] = start & _U32
        self.head = start & _U32  # the kernel's cached head
        self.cq = SimCq(cq_entries, cq_start)
        self.user_data = user_data
        self.free: deque = deque(range(pages))  # pages the kernel may fill
        self.user_refs = [0] * pages  # pieces handed out and not yet returned, per page
        self.current = -1  # page being filled (small pieces share a page)
        self.fill = 0  # bytes used in the current page
        self.stream = StreamCheck(seed)
        self.sent = 0  # stream bytes posted
        self.posted = self.returned = 0  # pieces

    # -- the receive side ----------------------------------------------------------

    def post(self, length: int) -> bool:
        """Receive the next ``length`` bytes (1..page) of the stream; False if no page is free."""
        if not 1 <= length <= self.page:
            raise ValueError(f"length must be in 1..{self.page}, not {length}")
        if self.current < 0 or self.fill + length > self.page:
            if self.current >= 0 and self.user_refs[self.current] == 0:
                self.free.append(self.current)
            if not self.free:
                self.current = -1
                return False
            self.current, self.fill = self.free.popleft(), 0
        start = self.current * self.page + self.fill
        self.area[start:start + length] = self._stream(length)
        self.fill += length
        self.user_refs[self.current] += 1
        self.posted += 1
        self.cq.post((self.user_data, length, int(IORING_CQE_F_MORE),
                      self.token | start, 0))
        return True

    def _stream(self, length: int) -> bytes:
        pattern = self.stream.pattern
        at = self.sent & 0xFF
        self.sent += length
        return bytes(pattern[at:at + length])

    def end(self, res: int = 0) -> None:
        """Post the request's final CQE (no ``F_MORE``): ``res`` 0 = EOF."""
        self.cq.post((self.user_data, res, 0, 0, 0))

    # -- the refill side -------------------------------------------------------------

    def refill(self, limit: int | None = None) -> int:
        """Consume up to ``limit`` refill entries (default: all published); return how many."""
        tail = load_acquire(self._rq_u32, RQ_TAIL // 4)
        avail = (tail - self.head) & _U32
        if avail > self.rq_entries:
            raise ZcrxProtocolError(f"the app published {avail} entries into a queue of "
                                    f"{self.rq_entries}: it overwrote entries not yet consumed")
        n = avail if limit is None else min(avail, limit)
        for _ in range(n):
            off, length = _RQE.unpack_from(self.region, RQ_RQES +
                                           (self.head & (self.rq_entries - 1)) * 16)
            self._return(off, length)
            self.head = (self.head + 1) & _U32
        # Release: the entries are read before the app may reuse their slots.
        store_release(self._rq_u32, RQ_HEAD // 4, self.head)
        return n

    def _return(self, off: int, length: int) -> None:
        if off >> IORING_ZCRX_AREA_SHIFT != self.area_id:
            raise ZcrxProtocolError(f"refill entry with area id {off >> IORING_ZCRX_AREA_SHIFT},"
                                    f" expected {self.area_id} (use rq_area_token)")
        where = off & AREA_OFFSET_MASK
        page = where // self.page
        if page >= self.pages or where % self.page + length > self.page or length <= 0:
            raise ZcrxProtocolError(f"refill entry off={where} len={length} is not a piece "
                                    f"of the area")
        if self.user_refs[page] <= 0:
            raise ZcrxProtocolError(f"page {page} returned more often than it was handed out")
        self.user_refs[page] -= 1
        self.returned += 1
        if self.user_refs[page] == 0 and page != self.current:
            self.free.append(page)

    # -- checks ------------------------------------------------------------------------

    def check(self) -> None:
        """Every page is free, being filled, or held by the app; none is free twice."""
        if len(set(self.free)) != len(self.free):
            raise ZcrxProtocolError("a page is on the free list twice")
        for page in range(self.pages):
            held = self.user_refs[page] > 0
            if held and page in self.free:
                raise ZcrxProtocolError(f"page {page} is free while the app holds it")
            if not held and page not in self.free and page != self.current:
                raise ZcrxProtocolError(f"page {page} leaked: nobody holds it")
        if self.posted - self.returned != sum(self.user_refs):
            raise ZcrxProtocolError("pieces handed out minus returned != references held")

    @property
    def rq_offsets(self) -> tuple[int, int, int]:
        """``(head, tail, rqes)`` byte offsets, as ``io_uring_zcrx_offsets`` would say."""
        return RQ_HEAD, RQ_TAIL, RQ_RQES
