"""Provided buffers, first version (``IORING_OP_PROVIDE_BUFFERS``, Linux 5.7).

Before buffer rings, a program gave buffers to a group with SQEs: one
``PROVIDE_BUFFERS`` request hands the kernel ``n`` buffers laid end to end with
consecutive ids, and the kernel keeps them in a list until requests with
``IOSQE_BUFFER_SELECT`` pick them. Handing a buffer back costs an SQE (and,
unless skipped, a CQE), so :class:`ProvidedBuffers` batches:
:meth:`~ProvidedBuffers.add` stages ids and :meth:`~ProvidedBuffers.advance`
prepares one SQE per run of consecutive ids -- the same two verbs as a buffer
ring's. The kernel does not check for an id provided twice -- the classic bug
of early io_uring echo servers -- so the ownership of every id is tracked here.
"""

from __future__ import annotations

from ..abi import IOSQE_CQE_SKIP_SUCCESS
from ..memory import Buffer
from ..ops.control import provide_buffers, remove_buffers
from ..register import pin_memory, unpin_memory
from ._group import _BufferGroup, selected_id
from ._ownership import Ownership, claim_group, record_group, release_group

__all__ = ["ProvidedBuffers"]

_SKIP = int(IOSQE_CQE_SKIP_SUCCESS)
# Default tag for the group's own requests: high bits that user_data schemes
# such as "type << 56 | ..." leave alone are hard to guarantee, so make it
# explicit and configurable.
_DEFAULT_TAG = 0x7B0F << 48
# Low 32 bits of close()'s REMOVE_BUFFERS: first id 65535 with 65536 buffers,
# a run no PROVIDE can have.
_REMOVE_ALL = 0xFFFFFFFF


class ProvidedBuffers(_BufferGroup):
    """Buffer group ``bgid`` of ``count`` buffers of ``size`` bytes, given with ``PROVIDE_BUFFERS``.

    The constructor prepares the first SQE (all ids); it travels with the
    next ``ring.submit()``, and requests submitted after it in the same batch
    already see the buffers. The group's own SQEs carry
    ``IOSQE_CQE_SKIP_SUCCESS`` (5.17), so success costs no CQE; a failure posts
    one whose ``user_data`` satisfies :meth:`owns` -- pass it to
    :meth:`handle`. Their ``user_data`` is ``tag | first_id << 16 | n - 1``.
    """

    def __init__(self, ring, bgid: int, count: int, size: int, *,
                 tag: int = _DEFAULT_TAG) -> None:
        if not isinstance(count, int) or not 1 <= count <= 0x10000:
            raise ValueError(f"count must be in 1..65536, not {count!r}")
        if not isinstance(size, int) or not 1 <= size <= 0xFFFFFFFF:
            raise ValueError(f"size must be in 1..2**32-1, not {size!r}")
        if not isinstance(bgid, int) or not 0 <= bgid <= 0xFFFF:
            raise ValueError(f"bgid must be in 0..65535, not {bgid!r}")
        if tag & 0xFFFFFFFF:
            raise ValueError("tag must leave the low 32 bits zero (they carry the ids)")
        self.ring = ring
        self.bgid = bgid
        self.count = count
        self.size = size
        self.tag = tag
        self.closed = True  # until claimed
        claim_group(ring, bgid, self)
        self.data = Buffer(count * size)
        record_group(ring, bgid, self)
        self.view = self.data.view
        self._base = self.data.address
        self._own = Ownership(count, bgid)
        self._staged: list[int] = []
        self.closed = False
        # The kernel writes into these buffers long after the PROVIDE request
        # completed, and after close() into any a request already picked: the
        # ring pins them (an export) until its own close proves it done.
        pin_memory(ring, ("provided", bgid), self.data.pin)
        for bid in range(count):
            self.add(bid)
        self.advance()

    def add(self, bid: int) -> None:
        """Stage ``bid`` to be given back by the next :meth:`advance`.

        Raises :class:`~uring.buffers.BufferOwnershipError` if the kernel already owns it.
        """
        self._own.to_kernel(bid)
        self._staged.append(bid)

    def advance(self) -> int:
        """Prepare one ``PROVIDE_BUFFERS`` SQE per run of consecutive staged ids; return how many.

        Submit them (``ring.submit()``) before the requests that should see
        the buffers. If the SQ fills up, the rest stay staged for the next call.
        """
        if not self._staged:
            return 0
        ids = sorted(self._staged)
        runs = []
        start = prev = ids[0]
        for bid in ids[1:]:
            if bid != prev + 1:
                runs.append((start, prev - start + 1))
                start = bid
            prev = bid
        runs.append((start, prev - start + 1))
        done = 0
        sent = set()
        try:
            for first, n in runs:
                provide_buffers(self.ring, self.tag | first << 16 | (n - 1),
                                self._base + first * self.size, self.size, n, self.bgid,
                                first, sqe_flags=_SKIP)
                done += 1
                sent.update(range(first, first + n))
        finally:
            self._staged = [bid for bid in self._staged if bid not in sent]
        return done

    def owns(self, cqe) -> bool:
        """True if ``cqe`` belongs to one of this group's own requests."""
        return cqe[0] & ~0xFFFFFFFF == self.tag

    def handle(self, cqe) -> None:
        """Process a CQE of the group's own requests: a failed provide gives the ids back.

        Raises the ``OSError`` for the failure after restoring the ids to the
        program (so they can be recycled again).
        """
        if cqe[0] & 0xFFFFFFFF == _REMOVE_ALL:
            return  # close()'s REMOVE_BUFFERS; -ENOENT just means none were left
        first, n = (cqe[0] >> 16) & 0xFFFF, (cqe[0] & 0xFFFF) + 1
        if cqe[1] < 0:
            for bid in range(first, first + n):
                self._own.to_program(bid)
            err = -cqe[1]
            raise OSError(err, f"PROVIDE_BUFFERS of ids {first}..{first + n - 1} to group"
                               f" {self.bgid} failed")

    def take(self, cqe) -> memoryview:
        """The bytes a CQE put into its buffer; the program owns the buffer from now on."""
        bid = selected_id(cqe[2])
        self._own.to_program(bid)
        res = cqe[1]
        start = bid * self.size
        return self.view[start:start + (res if res > 0 else 0)]

    def close(self) -> None:
        """Prepare a ``REMOVE_BUFFERS`` SQE for the buffers the kernel still has, and submit it.

        ``REMOVE_BUFFERS`` runs inline at submission, so once this returns the
        kernel holds none of them; those a request already picked may still
        be written, so the memory stays pinned to the ring until its close.
        """
        if self.closed:
            return
        self.closed = True
        release_group(self.ring, self.bgid, self)
        if getattr(self.ring, "closed", False):
            unpin_memory(self.ring, ("provided", self.bgid))
            return
        staged = set(self._staged)
        provided = self._own.in_kernel - len(staged)
        if provided:
            remove_buffers(self.ring, self.tag | _REMOVE_ALL, provided, self.bgid, sqe_flags=_SKIP)
            self.ring.submit()
        unpin_memory(self.ring, ("provided", self.bgid))

    def _ring_closing(self) -> None:
        """Called by ``Ring.close`` once no request is left: the ring's teardown removes the group."""
        self.closed = True

    def __repr__(self) -> str:
        return (f"<ProvidedBuffers bgid={self.bgid} count={self.count} size={self.size}"
                f" in_kernel={self.in_kernel}>")
