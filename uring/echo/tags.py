"""What a request is for, packed into its 64-bit ``user_data``: one codec for every stage.

The kernel never reads ``user_data``; it hands it back in the CQE. From
stage ``user_data`` (v1.3) on, the echo stages put the request itself
there, as liburing's ``examples/echo-server.c`` does
(``type << 56 | bid << 16 | fd``), with 32 bits for the descriptor::

    bits 63..56  kind  (a Kind: what the request is for)
    bits 55..32  bid   (the buffer a SEND sends from, or 0)
    bits 31..0   fd    (the connection's descriptor, or its slot in a file table)

:func:`pack` and :func:`unpack` are the whole codec. The loops that run per
CQE do the same arithmetic inline on the constants below, bound to locals.

>>> pack(Kind.WRITE, 17, bid=5) == Kind.WRITE << KIND_SHIFT | 5 << BID_SHIFT | 17
True
>>> unpack(pack(Kind.WRITE, 17, bid=5)) == (Kind.WRITE, 5, 17)
True
"""

from __future__ import annotations

import enum

__all__ = ["Kind", "pack", "unpack", "KIND_SHIFT", "BID_SHIFT", "BID_MASK", "FD_MASK",
           "NO_BID"]


class Kind(enum.IntEnum):
    """Every kind of request an echo stage submits (the top byte of ``user_data``)."""

    #: The listening socket: POLL_ADD (v1.0) or ACCEPT, single or multishot.
    ACCEPT = 1
    #: POLL_ADD on a connection before its READ (v1.0, v1.3 only).
    POLL = 2
    #: READ or RECV on a connection, single or multishot.
    READ = 3
    #: WRITE or SEND on a connection.
    WRITE = 4
    #: POLL_ADD on the pipe a signal makes readable (:class:`~uring.echo.common.Stopper`).
    STOP = 5
    #: PROVIDE_BUFFERS of a provided-buffer group (the group puts its ids in ``fd``).
    PROVIDE = 6
    #: ASYNC_CANCEL of another request (multishot RECV or ACCEPT).
    CANCEL = 7
    #: SEND_ZC; its result and its notification share the ``user_data``.
    SEND_ZC = 8
    #: CLOSE of a direct descriptor (a slot of the registered file table).
    CLOSE = 9


#: Where the kind starts.
KIND_SHIFT = 56
#: Where the buffer id starts ...
BID_SHIFT = 32
#: ... and its width: 24 bits, the 16 of a ring buffer id and room above them.
BID_MASK = 0xFFFFFF
#: The descriptor (or direct descriptor slot): the low 32 bits.
FD_MASK = 0xFFFFFFFF
#: The buffer id of a SEND that sends no ring buffer (a backlog): -1 masked to the field.
NO_BID = BID_MASK


def pack(kind: Kind, fd: int = 0, bid: int = 0) -> int:
    """The ``user_data`` of a request of ``kind`` on descriptor ``fd`` (buffer ``bid``).

    ``bid`` -1 (no buffer) becomes :data:`NO_BID`.
    """
    return kind << KIND_SHIFT | (bid & BID_MASK) << BID_SHIFT | fd & FD_MASK


def unpack(user_data: int) -> tuple[int, int, int]:
    """``(kind, bid, fd)`` of a ``user_data`` made by :func:`pack`."""
    return user_data >> KIND_SHIFT, user_data >> BID_SHIFT & BID_MASK, user_data & FD_MASK
