"""The few libc socket calls Python's ``socket`` module lacks, through ctypes.

``sendmmsg(2)`` and ``recvmmsg(2)`` (2.6.33/3.0) move a whole batch of
datagrams or frames per system call; ``bind(2)`` with a raw address is needed
for address families Python does not know (AF_XDP). Errors raise ``OSError``
with errno, like the ``socket`` module's own calls.
"""

from __future__ import annotations

import ctypes
import os

from ..memory import iovec

__all__ = ["msghdr", "mmsghdr", "MSG_DONTWAIT", "MSG_WAITFORONE", "sendmmsg", "recvmmsg",
           "bind_raw", "MmsgBatch"]

MSG_DONTWAIT = 0x40
MSG_WAITFORONE = 0x10000

_libc = ctypes.CDLL(None, use_errno=True)


class msghdr(ctypes.Structure):
    """``struct msghdr`` (``<sys/socket.h>``, x86-64/aarch64 layout)."""

    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class mmsghdr(ctypes.Structure):
    """``struct mmsghdr``: one message of a batch and, after the call, its byte count."""

    _fields_ = [("msg_hdr", msghdr), ("msg_len", ctypes.c_uint)]


_sendmmsg = _libc.sendmmsg
_sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_sendmmsg.restype = ctypes.c_int
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                      ctypes.c_void_p]
_recvmmsg.restype = ctypes.c_int
_bind = _libc.bind
_bind.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
_bind.restype = ctypes.c_int


def _raise(name: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{name}: {os.strerror(err)}")


def sendmmsg(fd: int, msgs_addr: int, n: int, flags: int = 0) -> int:
    """``sendmmsg(2)``: send ``n`` messages from the ``mmsghdr`` array at ``msgs_addr``.

    Returns how many were sent (possibly fewer than ``n``); raises ``OSError``
    only when the first one fails (``BlockingIOError`` for EAGAIN, errno
    ENOBUFS when the device queue is full).
    """
    ret = _sendmmsg(fd, msgs_addr, n, flags)
    if ret < 0:
        _raise("sendmmsg")
    return ret


def recvmmsg(fd: int, msgs_addr: int, n: int, flags: int = 0) -> int:
    """``recvmmsg(2)``: receive up to ``n`` messages into the ``mmsghdr`` array at ``msgs_addr``.

    Returns how many arrived; each ``msg_len`` holds its size.
    """
    ret = _recvmmsg(fd, msgs_addr, n, flags, None)
    if ret < 0:
        _raise("recvmmsg")
    return ret


def bind_raw(fd: int, addr: ctypes.Structure) -> None:
    """``bind(2)`` with a socket address given as a ctypes structure (e.g. ``sockaddr_xdp``)."""
    if _bind(fd, ctypes.addressof(addr), ctypes.sizeof(addr)) < 0:
        _raise("bind")


class MmsgBatch:
    """``n`` messages of one buffer each, carved out of one contiguous buffer of ``n * size``.

    ``buf`` (a ``bytearray``) holds message ``i`` at ``i * size``; ``msgs`` is
    the ``mmsghdr`` array pointing there, and :meth:`address` the address of
    message ``i`` to hand to :func:`sendmmsg`/:func:`recvmmsg`. The kernel
    only writes ``msg_len`` (and ``msg_flags``), so the array is reusable as is.
    """

    def __init__(self, n: int, size: int) -> None:
        if n < 1 or size < 1:
            raise ValueError(f"need n >= 1 and size >= 1, not {n}, {size}")
        self.n, self.size = n, size
        self.buf = bytearray(n * size)
        self._cbuf = (ctypes.c_char * len(self.buf)).from_buffer(self.buf)
        base = ctypes.addressof(self._cbuf)
        self.iov = (iovec * n)()
        self.msgs = (mmsghdr * n)()
        for i in range(n):
            self.iov[i].iov_base = base + i * size
            self.iov[i].iov_len = size
            hdr = self.msgs[i].msg_hdr
            hdr.msg_iov = ctypes.pointer(self.iov[i])
            hdr.msg_iovlen = 1
        self._base = ctypes.addressof(self.msgs)
        self._stride = ctypes.sizeof(mmsghdr)
        self.view = memoryview(self.buf)

    def address(self, i: int = 0) -> int:
        """Address of message ``i`` in the ``mmsghdr`` array."""
        return self._base + i * self._stride

    def lengths(self, count: int) -> list[int]:
        """``msg_len`` of the first ``count`` messages after a receive."""
        msgs = self.msgs
        return [msgs[i].msg_len for i in range(count)]
