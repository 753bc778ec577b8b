"""Socket addresses and ``struct msghdr`` as the kernel reads them.

The ``socket`` module converts addresses inside its own calls; io_uring
needs them as memory that stays put until the request completes. So
:func:`sockaddr` packs a Python address (``("127.0.0.1", 80)``,
``("::1", 80, 0, 0)``, ``"/path"`` or ``"\\0abstract"``) into a ctypes buffer,
:class:`SockaddrBuffer` receives one (accept, recvmsg), and :class:`Msghdr`
bundles the buffers, address and ancillary data of a ``sendmsg``/``recvmsg``.
"""

from __future__ import annotations

import ctypes
import socket
import struct

from ..memory import iovecs

__all__ = ["sockaddr", "decode_sockaddr", "SockaddrBuffer", "msghdr", "Msghdr",
           "SOCKADDR_STORAGE_SIZE", "parse_cmsgs"]

#: ``sizeof(struct sockaddr_storage)``: room for any address family.
SOCKADDR_STORAGE_SIZE = 128

_FAMILY = struct.Struct("=H")      # sa_family_t, host order


# struct sockaddr_in/_in6 mix byte orders (family in host order, port and
# flowinfo in network order), so they are packed piece by piece.
def _pack_in(port: int, packed: bytes) -> bytes:
    return _FAMILY.pack(socket.AF_INET) + struct.pack("!H", port) + packed + bytes(8)


def _pack_in6(port: int, flowinfo: int, packed: bytes, scope_id: int) -> bytes:
    return (_FAMILY.pack(socket.AF_INET6) + struct.pack("!HI", port, flowinfo) + packed
            + struct.pack("=I", scope_id))


def _encode(address, name: str) -> bytes:
    if isinstance(address, (str, bytes)):
        path = address.encode() if isinstance(address, str) else address
        if len(path) > 107:
            raise ValueError(f"{name}: AF_UNIX path longer than 107 bytes")
        # An abstract name (leading NUL) is counted exactly; a path gets its NUL.
        return _FAMILY.pack(socket.AF_UNIX) + path + (b"" if path[:1] == b"\0" else b"\0")
    if not isinstance(address, tuple) or len(address) not in (2, 4):
        raise TypeError(f"{name} must be (host, port), (host, port, flowinfo, scope_id)"
                        f" or an AF_UNIX path, not {address!r}")
    host, port = address[0], address[1]
    if not isinstance(host, str) or not isinstance(port, int) or not 0 <= port <= 0xFFFF:
        raise ValueError(f"{name} must hold a numeric host string and a port in 0..65535,"
                         f" not {address!r}")
    if len(address) == 2 and ":" not in host:
        try:
            return _pack_in(port, socket.inet_pton(socket.AF_INET, host or "0.0.0.0"))
        except OSError:
            raise ValueError(f"{name}: {host!r} is not a numeric IPv4 address (io_uring"
                             " does not resolve names; use socket.getaddrinfo first)") from None
    flowinfo, scope_id = (address[2], address[3]) if len(address) == 4 else (0, 0)
    try:
        packed = socket.inet_pton(socket.AF_INET6, host or "::")
    except OSError:
        raise ValueError(f"{name}: {host!r} is not a numeric IPv6 address") from None
    return _pack_in6(port, flowinfo, packed, scope_id)


def sockaddr(address, name: str = "address"):
    """Pack ``address`` into a ctypes ``char[]`` holding the ``struct sockaddr_*``.

    ``ctypes.sizeof`` of the result is the ``socklen_t`` to pass with it.
    """
    raw = _encode(address, name)
    return (ctypes.c_char * len(raw)).from_buffer_copy(raw)


def decode_sockaddr(raw: bytes):
    """The Python address for a ``struct sockaddr_*``, as the ``socket`` module gives it."""
    if len(raw) < 2:
        return None
    family = _FAMILY.unpack_from(raw)[0]
    if family == socket.AF_INET and len(raw) >= 8:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), struct.unpack_from("!H", raw, 2)[0]
    if family == socket.AF_INET6 and len(raw) >= 28:
        port, flowinfo = struct.unpack_from("!HI", raw, 2)
        scope_id = struct.unpack_from("=I", raw, 24)[0]
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flowinfo, scope_id
    if family == socket.AF_UNIX:
        path = bytes(raw[2:])
        if path[:1] == b"\0":
            return path
        return path.split(b"\0", 1)[0].decode(errors="surrogateescape")
    return family, bytes(raw[2:])


class SockaddrBuffer:
    """Room for an address the kernel writes (accept's peer), plus its ``socklen_t``.

    ``addrlen`` goes in as the room and comes back as the address's size;
    :meth:`address` decodes it after the CQE arrived.
    """

    __slots__ = ("storage", "addrlen")

    def __init__(self) -> None:
        self.storage = (ctypes.c_char * SOCKADDR_STORAGE_SIZE)()
        self.addrlen = ctypes.c_uint32(SOCKADDR_STORAGE_SIZE)

    def reset(self) -> None:
        """Make it ready for reuse by another request."""
        self.addrlen.value = SOCKADDR_STORAGE_SIZE

    def address(self):
        """The decoded address (``(host, port)``, ...)."""
        n = min(self.addrlen.value, SOCKADDR_STORAGE_SIZE)
        return decode_sockaddr(self.storage.raw[:n])


class msghdr(ctypes.Structure):
    """``struct msghdr`` (``<sys/socket.h>``, 56 bytes on LP64)."""

    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.c_void_p), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


# struct cmsghdr: size_t cmsg_len, int cmsg_level, int cmsg_type (native layout).
_CMSGHDR = struct.Struct("@Nii")


def _pack_cmsgs(ancillary) -> bytes:
    out = bytearray()
    for item in ancillary:
        try:
            level, kind, data = item
            data = bytes(data)
        except (TypeError, ValueError):
            raise TypeError("ancillary items must be (level, type, data) tuples, as for"
                            " socket.sendmsg") from None
        # struct cmsghdr: size_t cmsg_len, int cmsg_level, int cmsg_type, data,
        # padded to CMSG_SPACE so the next header is aligned.
        header = _CMSGHDR.pack(socket.CMSG_LEN(len(data)), level, kind)
        out += header + data + bytes(socket.CMSG_SPACE(len(data)) - len(header) - len(data))
    return bytes(out)


class Msghdr:
    """A ``struct msghdr`` together with the memory it points to.

    For ``sendmsg``: ``Msghdr(buffers, address=..., ancillary=[(level, type, data)])``.
    For ``recvmsg``: ``Msghdr(buffers, name_size=SOCKADDR_STORAGE_SIZE,
    control_size=n, writable=True)``, then :meth:`address`, :meth:`ancillary` and
    :attr:`flags` after the CQE. For multishot ``recvmsg`` pass no buffers:
    only ``name_size`` and ``control_size`` matter (they lay out each provided
    buffer, see :mod:`uring.recvmsg`).

    The kernel reads the structure when the request is issued; the operations
    keep the whole object alive until the final CQE.
    """

    def __init__(self, buffers=(), *, address=None, ancillary=(), name_size: int = 0,
                 control_size: int = 0, writable: bool = False) -> None:
        self.struct = msghdr()
        self.buffers = tuple(buffers)
        self.iov = iovecs(self.buffers, writable) if self.buffers else None
        if self.iov is not None:
            self.struct.msg_iov = ctypes.addressof(self.iov)
            self.struct.msg_iovlen = len(self.iov)
        if address is not None:
            if name_size:
                raise ValueError("pass address (to send to) or name_size (to receive"
                                 " into), not both")
            self.name = sockaddr(address)
        elif name_size:
            self.name = (ctypes.c_char * name_size)()
        else:
            self.name = None
        if self.name is not None:
            self.struct.msg_name = ctypes.addressof(self.name)
            self.struct.msg_namelen = ctypes.sizeof(self.name)
        control = _pack_cmsgs(ancillary) if ancillary else b""
        if control and control_size:
            raise ValueError("pass ancillary (to send) or control_size (to receive), not both")
        if control:
            self.control = (ctypes.c_char * len(control)).from_buffer_copy(control)
        elif control_size:
            self.control = (ctypes.c_char * control_size)()
        else:
            self.control = None
        if self.control is not None:
            self.struct.msg_control = ctypes.addressof(self.control)
            self.struct.msg_controllen = ctypes.sizeof(self.control)

    @property
    def name_size(self) -> int:
        """Room reserved for the peer address (``msg_namelen`` before the call)."""
        return 0 if self.name is None else ctypes.sizeof(self.name)

    @property
    def control_size(self) -> int:
        """Room reserved for ancillary data (``msg_controllen`` before the call)."""
        return 0 if self.control is None else ctypes.sizeof(self.control)

    @property
    def flags(self) -> int:
        """``msg_flags`` the kernel set (``MSG_TRUNC``, ``MSG_CTRUNC``, ...)."""
        return self.struct.msg_flags

    def address(self):
        """The sender's address after a ``recvmsg`` completed (``None`` if none)."""
        if self.name is None:
            return None
        n = min(self.struct.msg_namelen, ctypes.sizeof(self.name))
        return decode_sockaddr(self.name.raw[:n])

    def ancillary(self) -> list:
        """Received control messages as ``[(level, type, data)]``, like ``socket.recvmsg``."""
        if self.control is None:
            return []
        return parse_cmsgs(self.control.raw[:self.struct.msg_controllen])


def parse_cmsgs(raw: bytes) -> list:
    """Split a control buffer into ``[(level, type, data)]``."""
    out = []
    header = _CMSGHDR.size
    pos = 0
    while pos + header <= len(raw):
        length, level, kind = _CMSGHDR.unpack_from(raw, pos)
        if length < header or pos + length > len(raw):
            break
        out.append((level, kind, bytes(raw[pos + header:pos + length])))
        pos += socket.CMSG_SPACE(length - header)
    return out
