"""Stage ``buf_ring``: the same provided buffers, handed back through a shared ring.

v1.6 paid an SQE (and the kernel's list walk) to give each buffer back.
Linux 5.19 replaced the list with a *buffer ring*
(``IORING_REGISTER_PBUF_RING``): an array of ``struct io_uring_buf`` in
memory both sides map, with a tail only the program moves and a head only
the kernel moves. Giving a buffer back is now a 16-byte memory write plus,
once per loop iteration, a release store of the tail -- no SQE, no system
call, no CQE. The RECV side does not change at all: it still names the
group with ``IOSQE_BUFFER_SELECT`` and learns the buffer id from the CQE.

Everything else is v1.6: :class:`~uring.buffers.BufferRing` speaks the same
``take`` / ``add`` / ``advance`` verbs as
:class:`~uring.buffers.ProvidedBuffers`, so this stage only swaps the group
and the way it is published.
"""

from __future__ import annotations

from .. import abi
from ..buffers import BufferRing
from . import provide_buffers
from .provide_buffers import BGID
from .ring_server import kernel_lacks

__all__ = ["Server", "ring_entries"]


def ring_entries(count: int) -> int:
    """Slots for ``count`` buffers: a buffer ring's size is a power of two."""
    return 1 << max(0, count - 1).bit_length()


class Server(provide_buffers.Server):
    """v1.6 with a registered buffer ring: a buffer goes back with a memory write."""

    @classmethod
    def unsupported(cls) -> str:
        """Needs ``IORING_REGISTER_PBUF_RING`` (Linux 5.19)."""
        return super().unsupported() or kernel_lacks(abi.IORING_REGISTER_PBUF_RING)

    def setup_group(self) -> BufferRing:
        """A buffer ring for group :data:`BGID`, filled with ``--buffers`` buffers."""
        count = self.args.buffers
        return BufferRing(self.ring, BGID, ring_entries(count), self.args.buffer_size,
                          count=count)

    def publish(self) -> None:
        """Publish the buffers handed back this iteration: one release store of the tail."""
        self.group.advance()
