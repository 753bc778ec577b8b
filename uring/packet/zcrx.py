"""The application's side of io_uring zero-copy receive (zcrx, 6.15): completions in, buffers back.

With zcrx the NIC writes TCP payload straight into an *area* of our memory.
Each ``RECV_ZC`` completion is a 32-byte CQE: ``res`` bytes were received,
and its second half (``struct io_uring_zcrx_cqe``) says where::

    big_cqe[0] = area id << 48 | offset of the bytes in the area

Those bytes are ours until we hand them back through the **refill queue**
(RQ), a ring of ``struct io_uring_zcrx_rqe {off, len}`` in a memory region
shared with the kernel: we write entries at our private tail, publish the
tail with a release store, and the kernel frees them up to its head (which
we load with acquire to know how much room there is). An entry's ``off`` is
the CQE's offset with the area-id bits replaced by the area's
``rq_area_token`` (returned at registration). Buffers not returned starve the
hardware queue, so a full RQ is never a reason to drop one: it waits in
:attr:`ZcrxConsumer.pending` until the kernel makes room.

Indices are free-running u32s; slots are ``index & (entries - 1)``. This
module only does that bookkeeping, on any memory: the kernel's region (see
:mod:`~uring.packet.rx_zcrx`) or the simulator's (:mod:`~uring.packet.zcrx_sim`),
which property tests drive through every wrap-around and full-queue case.
"""

from __future__ import annotations

import struct
from collections import deque

from ..abi import IORING_ZCRX_AREA_MASK, IORING_ZCRX_AREA_SHIFT
from ..barrier import load_acquire, store_release

__all__ = ["RefillQueue", "ZcrxConsumer", "StreamCheck", "AREA_OFFSET_MASK", "rqe_offset"]

_U32 = 0xFFFFFFFF
#: Bits of ``zcrx_cqe.off`` that are the offset inside the area.
AREA_OFFSET_MASK = ~int(IORING_ZCRX_AREA_MASK) & 0xFFFFFFFFFFFFFFFF
_RQE = struct.Struct("<QI4x")  # struct io_uring_zcrx_rqe: off, len, __pad


def rqe_offset(cqe_off: int, area_token: int) -> int:
    """The ``rqe.off`` that returns the buffer a CQE named: its area offset | the area's token."""
    return (cqe_off & AREA_OFFSET_MASK) | area_token


class RefillQueue:
    """The refill queue inside ``region`` (a writable buffer), laid out as the kernel said.

    ``head``, ``tail`` and ``rqes`` are byte offsets (``io_uring_zcrx_offsets``,
    filled in by ``IORING_REGISTER_ZCRX_IFQ``); ``entries`` is the rounded
    ``rq_entries`` the kernel wrote back.
    """

    def __init__(self, region, head: int, tail: int, rqes: int, entries: int) -> None:
        if entries < 1 or entries & (entries - 1):
            raise ValueError(f"entries must be a power of two, not {entries}")
        if head % 4 or tail % 4 or rqes % 8:
            raise ValueError("head/tail must be 4-byte and rqes 8-byte aligned")
        self.entries, self.mask = entries, entries - 1
        self._u32 = memoryview(region).cast("B").cast("I")
        self._head, self._tail_at = head // 4, tail // 4
        self._rqes = memoryview(region).cast("B")[rqes:rqes + entries * 16]
        # Our private tail: the kernel never writes it, so read it once (the
        # kernel starts at 0, a simulator anywhere) and keep it here.
        self.tail = self._u32[self._tail_at]
        self.published = self.tail

    def space(self) -> int:
        """How many entries can be written now (acquire load of the kernel's head)."""
        return self.entries - ((self.tail - load_acquire(self._u32, self._head)) & _U32)

    def write(self, off: int, length: int) -> None:
        """Write one entry at the private tail (the caller checked :meth:`space`)."""
        _RQE.pack_into(self._rqes, (self.tail & self.mask) << 4, off, length)
        self.tail = (self.tail + 1) & _U32

    def publish(self) -> None:
        """Release-store the tail: the entries are written before the kernel can see it."""
        if self.tail != self.published:
            store_release(self._u32, self._tail_at, self.tail)
            self.published = self.tail

    def release(self) -> None:
        """Drop the views of the region (before it is unmapped)."""
        self._rqes.release()
        self._u32.release()


class ZcrxConsumer:
    """Turns ``RECV_ZC`` CQEs into (area offset, length) pieces and returns them through the RQ.

    ``area`` is the receive area (a buffer), ``area_token`` the
    ``rq_area_token`` from registration. :meth:`handle` takes copied 32-byte
    CQEs (``(user_data, res, flags, big0, big1)``, as ``Ring.copy_cqes_raw``
    returns them on a ``CQE32`` ring) and yields a ``memoryview`` of each
    received piece; when the caller moves on, the piece is queued for
    return. :meth:`flush` writes what fits into the RQ and publishes once.
    """

    def __init__(self, area, area_token: int, rq: RefillQueue, user_data: int) -> None:
        self.area = memoryview(area).cast("B")
        self.token, self.rq, self.user_data = area_token, rq, user_data
        self.pending: deque = deque()  # (rqe off, len) waiting for RQ room
        self.cqes = self.bytes = 0
        self.ended = False  # the multishot request ended (a CQE without F_MORE)
        self.final_res = 0

    def handle(self, cqes, more_flag: int):
        """Yield a view of each piece; queue it for return once the caller has looked at it.

        Iterate to the end: a piece is queued when the loop asks for the next one.

        A CQE with ``res <= 0`` carries no data: 0 is EOF, ``-ENOSPC`` a
        length limit, others errors; without ``more_flag`` it ends the
        request (:attr:`ended`, :attr:`final_res`).
        """
        area, pending, token = self.area, self.pending, self.token
        for user_data, res, flags, big0, _ in cqes:
            if user_data != self.user_data:
                continue
            self.cqes += 1
            if not flags & more_flag:
                self.ended, self.final_res = True, res
            if res <= 0:
                continue
            start = big0 & AREA_OFFSET_MASK
            yield area[start:start + res]
            self.bytes += res
            pending.append((start | token, res))

    def flush(self) -> int:
        """Hand back as many pending pieces as the RQ has room for; return how many are left."""
        pending, rq = self.pending, self.rq
        room = rq.space()
        while pending and room:
            off, length = pending.popleft()
            rq.write(off, length)
            room -= 1
        rq.publish()
        return len(pending)

    @staticmethod
    def area_id(cqe_off: int) -> int:
        """The area id in a CQE's offset word (bits 48-63)."""
        return cqe_off >> IORING_ZCRX_AREA_SHIFT


class StreamCheck:
    """Verifies a TCP byte stream whose byte ``i`` is ``(i * 7 + seed) & 0xff``.

    ``feed(view)`` compares a received piece with what the stream must hold
    at that point (one ``memcmp``); :attr:`bad` counts mismatched pieces.
    7 is odd, so the pattern repeats every 256 bytes.
    """

    def __init__(self, seed: int = 0, longest: int = 1 << 20) -> None:
        period = bytes((i * 7 + seed) & 0xFF for i in range(256))
        self.pattern = memoryview(period * (longest // 256 + 2))
        self.offset = self.bad = 0
        self.longest = longest

    @staticmethod
    def make(seed: int, length: int) -> bytes:
        """The first ``length`` bytes of the stream (what a sender sends)."""
        return bytes((i * 7 + seed) & 0xFF for i in range(256)) * (length // 256) + \
            bytes((i * 7 + seed) & 0xFF for i in range(length % 256))

    def feed(self, piece) -> bool:
        """Check the next piece of the stream; return True if it matched."""
        n = len(piece)
        ok = True
        while n:
            take = min(n, self.longest)
            start = self.offset & 0xFF
            if self.pattern[start:start + take] != piece[len(piece) - n:len(piece) - n + take]:
                ok = False
            self.offset += take
            n -= take
        if not ok:
            self.bad += 1
        return ok
