"""Reading the buffers of a multishot ``RECVMSG`` (``struct io_uring_recvmsg_out``, Linux 6.0).

A multishot ``recvmsg`` cannot return a ``struct msghdr`` per datagram, so the
kernel writes everything into the provided buffer it picked::

    [io_uring_recvmsg_out: 16 bytes][name: name_size][control: control_size][payload ...]

``name_size`` and ``control_size`` are the room reserved by the ``msghdr``
given at submission (``uring.ops.Msghdr(name_size=..., control_size=...)``),
the same for every buffer; the header says how much of each was really used
(``namelen`` may exceed the room: the name was truncated) and how many
payload bytes the receive returned (``payloadlen``). A datagram longer than
the room left is cut, with ``MSG_TRUNC`` in ``flags``; submit the request with
``flags=socket.MSG_TRUNC`` and ``payloadlen`` is the datagram's full length
(the socket's ``recvmsg`` return value, as in ``recv(2)``). The CQE's ``res`` is the number of
bytes used in the buffer. liburing: ``io_uring_recvmsg_validate``,
``io_uring_recvmsg_name``, ``io_uring_recvmsg_cmsg_firsthdr``,
``io_uring_recvmsg_payload``, ``io_uring_recvmsg_payload_length``.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

from .abi import io_uring_recvmsg_out
from .ops.structs import decode_sockaddr, parse_cmsgs

__all__ = ["RecvmsgOut", "parse", "HEADER_SIZE"]

_HEADER = struct.Struct("<IIII")  # namelen, controllen, payloadlen, flags
#: ``sizeof(struct io_uring_recvmsg_out)``.
HEADER_SIZE = _HEADER.size
assert HEADER_SIZE == __import__("ctypes").sizeof(io_uring_recvmsg_out)


class RecvmsgOut(NamedTuple):
    """One datagram as a multishot ``recvmsg`` laid it out in a provided buffer."""

    namelen: int        #: bytes of the sender's address the kernel had (may exceed the room)
    controllen: int     #: bytes of control data written
    payloadlen: int     #: bytes received (the full datagram length with ``MSG_TRUNC`` in flags)
    flags: int          #: ``MSG_*`` flags of the receive (``MSG_TRUNC``, ``MSG_CTRUNC``...)
    name: memoryview    #: the address bytes present (at most the reserved room)
    control: memoryview  #: the control bytes present
    payload: memoryview  #: the datagram bytes present

    @property
    def address(self):
        """The sender's address decoded (``(host, port)`` for UDP over IPv4)."""
        return decode_sockaddr(bytes(self.name))

    @property
    def truncated(self) -> bool:
        """True if the datagram did not fit in the buffer (``MSG_TRUNC``)."""
        return bool(self.flags & socket.MSG_TRUNC) or self.payloadlen > len(self.payload)

    def ancillary(self) -> list:
        """Control messages as ``[(level, type, data)]``."""
        return parse_cmsgs(bytes(self.control))


def parse(buf, name_size: int, control_size: int = 0) -> RecvmsgOut:
    """Split ``buf`` (the ``res`` bytes of one CQE, e.g. from ``BufferRing.take``) into its parts.

    ``name_size``/``control_size`` are the room the submitted ``Msghdr``
    reserved (its ``name_size`` and ``control_size`` properties); a
    ``uring.ops.Msghdr`` may be passed as ``name_size`` to take both from it.
    Raises ``ValueError`` if ``buf`` is too short to hold the layout.
    """
    if hasattr(name_size, "name_size"):
        name_size, control_size = name_size.name_size, name_size.control_size
    view = memoryview(buf).cast("B") if not isinstance(buf, memoryview) else buf
    start = HEADER_SIZE + name_size + control_size
    if len(view) < start:
        raise ValueError(f"buffer of {len(view)} bytes cannot hold the recvmsg_out header,"
                         f" a {name_size}-byte name and {control_size} bytes of control data")
    namelen, controllen, payloadlen, flags = _HEADER.unpack_from(view)
    name = view[HEADER_SIZE:HEADER_SIZE + min(namelen, name_size)]
    control_at = HEADER_SIZE + name_size
    control = view[control_at:control_at + min(controllen, control_size)]
    return RecvmsgOut(namelen, controllen, payloadlen, flags, name, control, view[start:])
