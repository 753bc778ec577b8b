"""A provided-buffer ring (``IORING_REGISTER_PBUF_RING``, 5.19): the kernel picks, we recycle.

The ring is an array of ``entries`` 16-byte ``struct io_uring_buf`` (address,
length, buffer id) plus a u16 **tail** that overlays the reserved field of
entry 0. The program writes entries at ``tail, tail+1, ...`` and then publishes
them with one release store of the new tail; the kernel keeps its **head**
privately and takes one entry per buffer it fills, reporting the id in the
CQE (``IORING_CQE_F_BUFFER``, ``flags >> 16``). Handing a buffer back is a
memory write -- no system call, no SQE -- which is why buffer rings replaced
``PROVIDE_BUFFERS``.

Head and tail are free-running 16-bit counters: they wrap at 2**16 and pick a
slot with ``& (entries - 1)``. :class:`BufferRing` owns the group: the ring
memory, one page-aligned anonymous mapping for all buffers, and the
:mod:`ownership <uring.buffers._ownership>` of every id.
"""

from __future__ import annotations

import mmap
import struct
from array import array

from ..abi import (
    IORING_CQE_BUFFER_SHIFT,
    IORING_CQE_F_BUF_MORE,
    IORING_CQE_F_BUFFER,
    IORING_OFF_PBUF_RING,
    IORING_OFF_PBUF_SHIFT,
    IOU_PBUF_RING_INC,
    IOU_PBUF_RING_MMAP,
)
from ..barrier import store_release
from ..memory import Buffer, anonymous_map, export
from ..register import pbuf_status, register_pbuf_ring, unregister_pbuf_ring
from ._group import _BufferGroup, selected_id
from ._ownership import (
    KERNEL,
    PROGRAM,
    BufferOwnershipError,
    Ownership,
    claim_group,
    record_group,
    release_group,
)

__all__ = ["BufferRing"]

# struct io_uring_buf without its last field: addr u64, len u32, bid u16.
_ENTRY = struct.Struct("<QIH")
_TAIL = 7  # u16 index of io_uring_buf_ring.tail (byte offset 14)
_U16 = 0xFFFF
_F_BUFFER = int(IORING_CQE_F_BUFFER)
_F_BUF_MORE = int(IORING_CQE_F_BUF_MORE)
_SHIFT = int(IORING_CQE_BUFFER_SHIFT)


class BufferRing(_BufferGroup):
    """Buffer group ``bgid``: a ring of ``entries`` slots, ``count`` buffers of ``size`` bytes.

    ``count`` defaults to ``entries`` (the most a ring can hold). ``flags``:
    ``IOU_PBUF_RING_MMAP`` (6.4) has the kernel allocate the ring, which is then
    mapped from the ring fd at ``IORING_OFF_PBUF_RING | bgid << IORING_OFF_PBUF_SHIFT``;
    ``IOU_PBUF_RING_INC`` (6.12) lets one buffer serve several receives
    (``IORING_CQE_F_BUF_MORE`` while it is not used up). On construction every
    buffer is added and published.

    Per CQE with ``IORING_CQE_F_BUFFER``: :meth:`take` (or :meth:`take_bundle`
    for ``bundle`` receives) returns a ``memoryview`` of the filled bytes and
    makes the program the buffer's owner; :meth:`recycle` (or :meth:`add` for
    many, then one :meth:`advance`) hands it back. The view aliases the
    buffer: copy what must outlive the recycle.
    """

    def __init__(self, ring, bgid: int, entries: int, size: int, *, flags: int = 0,
                 count: int | None = None, min_left: int = 0) -> None:
        if not isinstance(entries, int) or not 1 <= entries <= 32768 or entries & (entries - 1):
            raise ValueError(f"entries must be a power of two in 1..32768, not {entries!r}")
        if not isinstance(size, int) or not 1 <= size <= 0xFFFFFFFF:
            raise ValueError(f"size must be an int in 1..2**32-1, not {size!r}")
        count = entries if count is None else count
        if not isinstance(count, int) or not 1 <= count <= entries:
            raise ValueError(f"count must be in 1..entries ({entries}), not {count!r}")
        self.ring = ring
        self.bgid = bgid
        self.entries = entries
        self.size = size
        self.count = count
        self.flags = flags
        self.mask = entries - 1
        self.incremental = bool(flags & IOU_PBUF_RING_INC)
        self.closed = True  # until registered
        # A live BufferRing on bgid: the kernel refuses the registration (EEXIST).
        claim_group(ring, bgid, self, kernel_refuses=BufferRing)
        self._setup(ring, bgid, entries, flags, min_left, count, size)
        record_group(ring, bgid, self)
        self.closed = False
        for bid in range(count):
            self.add(bid)
        self.advance()

    def _setup(self, ring, bgid, entries, flags, min_left, count, size) -> None:
        self.data = Buffer(count * size)
        self.view = self.data.view
        self._base = self.data.address
        ring_bytes = entries * 16
        if flags & IOU_PBUF_RING_MMAP:
            # The buffers stay pinned to the ring until its close, even if
            # this object is closed or dropped: a request that already picked
            # a buffer may still write into it.
            register_pbuf_ring(ring, bgid, entries, 0, flags=flags, min_left=min_left,
                               memory=self.data.pin)
            try:
                self._mem = mmap.mmap(ring.fd, ring_bytes, mmap.MAP_SHARED | mmap.MAP_POPULATE,
                                      mmap.PROT_READ | mmap.PROT_WRITE,
                                      offset=IORING_OFF_PBUF_RING | bgid << IORING_OFF_PBUF_SHIFT)
            except BaseException:
                unregister_pbuf_ring(ring, bgid)
                raise
        else:
            self._mem = anonymous_map(ring_bytes)
            ring_addr, _, ring_pin = export(self._mem, True)
            register_pbuf_ring(ring, bgid, entries, ring_addr, flags=flags,
                               min_left=min_left, memory=(self.data.pin, ring_pin))
        self._u16 = memoryview(self._mem).cast("H")
        # The kernel starts its head at 0 and reads our tail, which is 0 in
        # fresh memory; a simulated kernel may start both elsewhere (to test the
        # 2**16 wrap), so read the tail rather than assume it.
        self._tail = self._u16[_TAIL]
        self._staged = 0
        self._own = Ownership(count, bgid)
        self._owner = self._own.owner
        self._pos = [0] * count              # ring position each id was last added at
        self._slots = array("H", [0] * entries)  # id added at each slot (bundles)
        self._offset = [0] * count           # bytes already used (incremental rings)
        # Each id's struct io_uring_buf but its last field: the u16 resv at
        # offset 14 is never written -- in entry 0 it is the ring's tail.
        self._entries = [_ENTRY.pack(self._base + bid * size, size, bid) for bid in range(count)]

    # -- giving buffers to the kernel --------------------------------------------------

    def add(self, bid: int) -> None:
        """Stage buffer ``bid`` for the kernel; it is published by :meth:`advance`.

        liburing: ``io_uring_buf_ring_add``. Raises :class:`BufferOwnershipError`
        if the kernel already owns ``bid``.
        """
        self.add_many((bid,))

    def add_many(self, bids) -> None:
        """:meth:`add` each id of ``bids`` in turn: the form for a batch of returns.

        The loop keeps the ring's fields in locals and writes each entry from
        bytes computed at setup (a buffer's address, length and id never
        change), which is what a server returning a buffer per echo wants.
        An id the program does not hold raises; those before it stay staged.
        """
        owner = self._owner
        entry = self._entries
        mem = self._mem
        pos_of = self._pos
        slots = self._slots
        mask = self.mask
        start = pos = self._tail + self._staged
        for bid in bids:
            try:
                free = owner[bid] == PROGRAM and bid >= 0
            except (TypeError, IndexError):  # not an int, or past the group's ids
                free = False
            if not free:
                self._staged += pos - start
                raise self._own.refusal(bid)
            owner[bid] = KERNEL
            slot = pos & mask
            mem[slot << 4:(slot << 4) + 14] = entry[bid]
            pos_of[bid] = pos & _U16
            slots[slot] = bid
            pos += 1
        self._staged += pos - start
        if self.incremental:
            for bid in bids:
                self._offset[bid] = 0

    def advance(self) -> None:
        """Publish every staged buffer with one release store of the tail.

        liburing: ``io_uring_buf_ring_advance``. Release: the entries written by
        :meth:`add` must be visible before the kernel can see the new tail.
        """
        if self._staged:
            self._tail = (self._tail + self._staged) & _U16
            self._staged = 0
            store_release(self._u16, _TAIL, self._tail)

    # -- taking buffers from CQEs ------------------------------------------------------

    def take(self, cqe) -> memoryview:
        """The bytes a CQE put into its buffer; the program owns the buffer from now on.

        ``cqe`` is a :class:`uring.ring.Cqe` (or any ``(user_data, res, flags)``).
        In an incremental ring a CQE with ``IORING_CQE_F_BUF_MORE`` returns the
        new bytes but leaves the buffer with the kernel, which keeps filling
        it; the CQE without it hands the buffer over.
        """
        res, flags = cqe[1], cqe[2]
        bid = selected_id(flags)
        n = res if res > 0 else 0
        start = bid * self.size
        if self.incremental:
            return self._take_incremental(bid, n, flags, start)
        self._own.to_program(bid)
        return self.view[start:start + n]

    def take_id(self, flags: int) -> int:
        """:meth:`take` for hot loops: the program owns the CQE's buffer; return its id.

        Takes the CQE's ``flags`` and builds no view, for a caller that knows
        where its buffers are (the echo servers send straight from them).
        Plain rings only: in an incremental ring a CQE may leave the buffer
        with the kernel, which :meth:`take` handles.
        """
        bid = flags >> _SHIFT
        owner = self._owner
        if flags & _F_BUFFER and bid < self.count and owner[bid] == KERNEL \
                and not self.incremental:
            owner[bid] = PROGRAM
            return bid
        if self.incremental:
            raise ValueError("take_id is for plain rings; incremental rings use take()")
        self.take((0, 0, flags))  # raises the precise error
        return bid

    def _take_incremental(self, bid, n, flags, start) -> memoryview:
        if bid >= self.count or self._own.owner[bid] != KERNEL:
            self._own.to_program(bid)  # raises the precise error
        offset = self._offset[bid]
        if flags & _F_BUF_MORE:
            self._offset[bid] = offset + n
        else:
            self._own.to_program(bid)
            self._offset[bid] = 0
        return self.view[start + offset:start + offset + n]

    def take_bundle(self, cqe) -> list[tuple[int, memoryview]]:
        """For a bundle receive: ``[(bid, bytes_view), ...]`` for every buffer the CQE filled.

        A bundle CQE names its first buffer; the data continues in the buffers
        at the following ring positions, each filled completely but the last.
        The program owns all of them afterwards.
        """
        res, flags = cqe[1], cqe[2]
        first = selected_id(flags)
        if self.incremental:
            raise ValueError("take_bundle is for plain rings; incremental rings use take()")
        if first >= self.count:
            self._own.to_program(first)
        remaining = res if res > 0 else 0
        nbufs = max(1, -(-remaining // self.size))
        pos = self._pos[first]
        if self._slots[pos & self.mask] != first:
            raise BufferOwnershipError(f"buffer {first} is not where it was added in the ring")
        out = []
        for i in range(nbufs):
            bid = self._slots[(pos + i) & self.mask]
            self._own.to_program(bid)
            n = min(self.size, remaining)
            start = bid * self.size
            out.append((bid, self.view[start:start + n]))
            remaining -= n
        return out

    # -- state -----------------------------------------------------------------------

    @property
    def tail(self) -> int:
        """The last published tail (u16, free-running)."""
        return self._tail

    def kernel_head(self) -> int:
        """The kernel's private head (``IORING_REGISTER_PBUF_STATUS``, 6.8)."""
        return pbuf_status(self.ring, self.bgid)

    def close(self) -> None:
        """Unregister the group. Safe to call twice.

        A request that already picked one of the buffers may still write into
        it, so the buffers (and a ring the program allocated) stay pinned to
        the ring until :meth:`uring.ring.Ring.close` proves the kernel done.
        With ``IOU_PBUF_RING_MMAP`` the mapping of the kernel's ring is closed
        here: it refers to the ring fd and would keep the ring alive.
        """
        if self.closed:
            return
        self.closed = True
        release_group(self.ring, self.bgid, self)
        try:
            if not getattr(self.ring, "closed", False):
                unregister_pbuf_ring(self.ring, self.bgid)
        finally:
            self._unmap_ring()

    def _unmap_ring(self) -> str | None:
        self._u16.release()
        if not self.flags & IOU_PBUF_RING_MMAP:
            return None
        try:
            self._mem.close()
        except BufferError:
            return (f"the IOU_PBUF_RING_MMAP mapping of buffer group {self.bgid} is still"
                    " exported and keeps the ring fd alive")
        return None

    def _ring_closing(self) -> str | None:
        """Called by ``Ring.close`` once no request is left: drop the mapping of the ring fd."""
        if self.closed:
            return None
        self.closed = True
        return self._unmap_ring()

    def __repr__(self) -> str:
        return (f"<BufferRing bgid={self.bgid} entries={self.entries} count={self.count}"
                f" size={self.size} in_kernel={self.in_kernel} tail={self._tail}>")
