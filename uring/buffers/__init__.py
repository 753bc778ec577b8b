"""Buffer groups: memory the kernel picks from when a request has ``IOSQE_BUFFER_SELECT``.

* :class:`BufferRing` -- a provided-buffer ring (5.19): buffers go back to the
  kernel with a memory write. Use this.
* :class:`ProvidedBuffers` -- the first version (5.7): buffers go back with
  ``PROVIDE_BUFFERS`` SQEs, batched.

Both own one group: they set it up, decode the buffer id from a CQE
(:meth:`~BufferRing.take` returns a ``memoryview`` of the filled bytes), take
ids back (:meth:`~BufferRing.recycle`) and refuse, with
:class:`BufferOwnershipError`, to give an id to the kernel twice or to take
one the program already holds.

The CQE flag helpers below work on a raw ``flags`` word; :class:`uring.ring.Cqe`
offers the same as properties.
"""

from ..abi import (
    IORING_CQE_BUFFER_SHIFT,
    IORING_CQE_F_BUF_MORE,
    IORING_CQE_F_BUFFER,
    IORING_CQE_F_MORE,
)
from ._ownership import BufferOwnershipError
from .buf_ring import BufferRing
from .provided import ProvidedBuffers

__all__ = ["BufferRing", "ProvidedBuffers", "BufferOwnershipError", "buffer_id",
           "buf_more", "more"]

_F_BUFFER, _F_BUF_MORE = int(IORING_CQE_F_BUFFER), int(IORING_CQE_F_BUF_MORE)
_F_MORE, _SHIFT = int(IORING_CQE_F_MORE), int(IORING_CQE_BUFFER_SHIFT)


def buffer_id(flags: int) -> int | None:
    """The buffer id in a CQE's ``flags`` (``IORING_CQE_F_BUFFER``, 5.7), or None."""
    return flags >> _SHIFT if flags & _F_BUFFER else None


def buf_more(flags: int) -> bool:
    """``IORING_CQE_F_BUF_MORE`` (6.12): an incremental buffer was only partly filled."""
    return bool(flags & _F_BUF_MORE)


def more(flags: int) -> bool:
    """``IORING_CQE_F_MORE`` (5.13): the request stays armed; more CQEs follow."""
    return bool(flags & _F_MORE)
