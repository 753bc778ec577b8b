"""Socket operations: socket, bind, listen, connect, accept, send/recv, sendmsg/recvmsg, zero copy.

Same shape as every operation (``ring, user_data, <own arguments>, *,
<options>, sqe_flags``), returning the SQE slot.

**Provided buffers.** ``recv``/``recvmsg``/``send`` with ``buf_group=`` leave
the buffer choice to the kernel (``IOSQE_BUFFER_SELECT``): the CQE's flags
carry the buffer id (see :mod:`uring.buffers`). ``recv_multishot`` and
``recvmsg_multishot`` stay armed and post one CQE per arrival, each with
``IORING_CQE_F_MORE`` until the last; ``bundle=True`` (6.10) lets one CQE
cover several consecutive buffers of the group.

**Zero-copy receive** (``recv_zc``, 6.15) fills no buffer of the program's:
the NIC writes into an area registered with ``IORING_REGISTER_ZCRX_IFQ``
(see :mod:`uring.packet.rx_zcrx`), and each 32-byte CQE says where.

**Zero-copy sends** (``send_zc``, ``sendmsg_zc``) post two CQEs: the result,
with ``IORING_CQE_F_MORE``, then a notification with ``IORING_CQE_F_NOTIF``
once the kernel no longer reads the buffer. ``ring.keep`` holds the buffer
until that second, final CQE, so it cannot be freed while the NIC (or
loopback) still reads it.
"""

from __future__ import annotations

import ctypes

from ..abi import (
    IORING_ACCEPT_MULTISHOT,
    IORING_ACCEPT_POLL_FIRST,
    IORING_FILE_INDEX_ALLOC,
    IORING_OP_ACCEPT,
    IORING_OP_BIND,
    IORING_OP_CONNECT,
    IORING_OP_LISTEN,
    IORING_OP_RECV,
    IORING_OP_RECV_ZC,
    IORING_OP_RECVMSG,
    IORING_OP_SEND,
    IORING_OP_SEND_ZC,
    IORING_OP_SENDMSG,
    IORING_OP_SENDMSG_ZC,
    IORING_OP_SHUTDOWN,
    IORING_OP_SOCKET,
    IORING_RECV_MULTISHOT,
    IORING_RECVSEND_FIXED_BUF,
    IORING_RECVSEND_POLL_FIRST,
    IORING_SEND_ZC_REPORT_USAGE,
    IOSQE_BUFFER_SELECT,
)
from ..memory import export
from ._common import (
    DIRECT_DESCRIPTORS,
    PACK_ERRORS,
    U32,
    buffer_or_group,
    gate,
    invalid,
    kernel_too_old,
    length,
    operation,
    unsupported,
)
from .files import direct_slot
from .structs import Msghdr, SockaddrBuffer, sockaddr

__all__ = [
    "socket", "socket_direct", "connect", "bind", "listen", "shutdown",
    "accept", "accept_direct", "accept_multishot", "accept_multishot_direct",
    "send", "recv", "recv_multishot", "sendmsg", "recvmsg", "recvmsg_multishot",
    "send_zc", "sendmsg_zc", "recv_zc",
]

_SOCKET, _CONNECT, _BIND = int(IORING_OP_SOCKET), int(IORING_OP_CONNECT), int(IORING_OP_BIND)
_LISTEN, _SHUTDOWN, _ACCEPT = int(IORING_OP_LISTEN), int(IORING_OP_SHUTDOWN), int(IORING_OP_ACCEPT)
_SEND, _RECV = int(IORING_OP_SEND), int(IORING_OP_RECV)
_SENDMSG, _RECVMSG = int(IORING_OP_SENDMSG), int(IORING_OP_RECVMSG)
_SEND_ZC, _SENDMSG_ZC = int(IORING_OP_SEND_ZC), int(IORING_OP_SENDMSG_ZC)
_RECV_ZC = int(IORING_OP_RECV_ZC)
_BUFFER_SELECT = int(IOSQE_BUFFER_SELECT)
_POLL_FIRST, _MULTISHOT = int(IORING_RECVSEND_POLL_FIRST), int(IORING_RECV_MULTISHOT)
_FIXED_BUF = int(IORING_RECVSEND_FIXED_BUF)
_REPORT_USAGE = int(IORING_SEND_ZC_REPORT_USAGE)
_ACCEPT_MULTI, _ACCEPT_POLL_FIRST = int(IORING_ACCEPT_MULTISHOT), int(IORING_ACCEPT_POLL_FIRST)
_ALLOC = int(IORING_FILE_INDEX_ALLOC)


def _socket(ring, user_data, domain, type, protocol, file_index, sqe_flags):
    if _SOCKET in gate.missing:
        raise unsupported(_SOCKET)
    try:
        # fd = domain, off = type, len = protocol; rw_flags must stay 0.
        return ring.prep(_SOCKET, sqe_flags, 0, domain, type, 0, protocol, 0, user_data,
                         0, 0, file_index)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, domain=domain, type=type, protocol=protocol,
                      sqe_flags=sqe_flags) from None


@operation(IORING_OP_SOCKET, "io_uring_prep_socket")
def socket(ring, user_data: int, domain: int, type: int, protocol: int = 0, *,
           sqe_flags: int = 0) -> int:
    """``socket(domain, type, protocol)``; ``res`` is the new fd.

    ``type`` may include ``SOCK_NONBLOCK``/``SOCK_CLOEXEC``.
    """
    return _socket(ring, user_data, domain, type, protocol, 0, sqe_flags)


@operation(IORING_OP_SOCKET, "io_uring_prep_socket_direct", needs=IORING_FILE_INDEX_ALLOC)
def socket_direct(ring, user_data: int, domain: int, type: int, protocol: int = 0, *,
                  file_index: int = _ALLOC, sqe_flags: int = 0) -> int:
    """Create a socket straight into direct-descriptor slot ``file_index``.

    The default ``IORING_FILE_INDEX_ALLOC`` lets the kernel pick the slot,
    returned in ``res``. ``SOCK_CLOEXEC`` is refused (no fd exists).
    """
    if "socket_direct" in gate.too_old:
        raise kernel_too_old("socket_direct")
    return _socket(ring, user_data, domain, type, protocol, direct_slot(file_index),
                   sqe_flags)


def _with_address(opcode, ring, user_data, fd, address, sqe_flags):
    if opcode in gate.missing:
        raise unsupported(opcode)
    addr = sockaddr(address)
    try:
        slot = ring.prep(opcode, sqe_flags, 0, fd, ctypes.sizeof(addr),
                         ctypes.addressof(addr), 0, 0, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, sqe_flags=sqe_flags) from None
    ring._hold(user_data, addr)
    return slot


@operation(IORING_OP_CONNECT, "io_uring_prep_connect")
def connect(ring, user_data: int, fd: int, address, *, sqe_flags: int = 0) -> int:
    """``connect(fd, address)``; ``address`` as for the ``socket`` module (numeric hosts)."""
    return _with_address(_CONNECT, ring, user_data, fd, address, sqe_flags)


@operation(IORING_OP_BIND, "io_uring_prep_bind")
def bind(ring, user_data: int, fd: int, address, *, sqe_flags: int = 0) -> int:
    """``bind(fd, address)``."""
    return _with_address(_BIND, ring, user_data, fd, address, sqe_flags)


@operation(IORING_OP_LISTEN, "io_uring_prep_listen")
def listen(ring, user_data: int, fd: int, backlog: int, *, sqe_flags: int = 0) -> int:
    """``listen(fd, backlog)``."""
    if _LISTEN in gate.missing:
        raise unsupported(_LISTEN)
    try:
        return ring.prep(_LISTEN, sqe_flags, 0, fd, 0, 0, backlog, 0, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, backlog=backlog,
                      sqe_flags=sqe_flags) from None


@operation(IORING_OP_SHUTDOWN, "io_uring_prep_shutdown")
def shutdown(ring, user_data: int, fd: int, how: int, *, sqe_flags: int = 0) -> int:
    """``shutdown(fd, how)`` with ``socket.SHUT_RD``/``SHUT_WR``/``SHUT_RDWR``."""
    if _SHUTDOWN in gate.missing:
        raise unsupported(_SHUTDOWN)
    if how not in (0, 1, 2):
        raise ValueError(f"how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not {how!r}")
    try:
        return ring.prep(_SHUTDOWN, sqe_flags, 0, fd, 0, 0, how, 0, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, sqe_flags=sqe_flags) from None


def _accept(ring, user_data, fd, flags, peer, ioprio, file_index, sqe_flags):
    if _ACCEPT in gate.missing:
        raise unsupported(_ACCEPT)
    if peer is None:
        addr = addrlen = 0
    elif isinstance(peer, SockaddrBuffer):
        addr, addrlen = ctypes.addressof(peer.storage), ctypes.addressof(peer.addrlen)
    else:
        raise TypeError(f"peer must be a uring.ops.SockaddrBuffer or None, not"
                        f" {type(peer).__name__}")
    try:
        # addr = struct sockaddr *, off (addr2) = socklen_t *.
        slot = ring.prep(_ACCEPT, sqe_flags, ioprio, fd, addrlen, addr, 0, flags, user_data,
                         0, 0, file_index)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, flags=flags, sqe_flags=sqe_flags) from None
    if peer is not None:
        ring._hold(user_data, peer)
    return slot


@operation(IORING_OP_ACCEPT, "io_uring_prep_accept")
def accept(ring, user_data: int, fd: int, *, flags: int = 0,
           peer: SockaddrBuffer | None = None, poll_first: bool = False,
           sqe_flags: int = 0) -> int:
    """Accept one connection on listening socket ``fd``; ``res`` is the new fd.

    ``flags`` are ``SOCK_NONBLOCK``/``SOCK_CLOEXEC``. ``peer`` receives the
    client's address. ``poll_first`` (``IORING_ACCEPT_POLL_FIRST``, 6.10) skips
    the first non-blocking try when no connection is expected to be waiting.
    """
    return _accept(ring, user_data, fd, flags, peer, _ACCEPT_POLL_FIRST if poll_first else 0,
                   0, sqe_flags)


@operation(IORING_OP_ACCEPT, "io_uring_prep_accept_direct", needs=DIRECT_DESCRIPTORS)
def accept_direct(ring, user_data: int, fd: int, *, file_index: int = _ALLOC,
                  flags: int = 0, peer: SockaddrBuffer | None = None,
                  sqe_flags: int = 0) -> int:
    """Accept one connection into direct-descriptor slot ``file_index`` (no fd is created).

    With the default ``IORING_FILE_INDEX_ALLOC`` (5.19) the kernel picks a free
    slot in the allocation range and returns it in ``res`` (``-ENFILE`` when
    none is free). ``SOCK_CLOEXEC`` is refused.
    """
    if "accept_direct" in gate.too_old:
        raise kernel_too_old("accept_direct")
    return _accept(ring, user_data, fd, flags, peer, 0, direct_slot(file_index), sqe_flags)


@operation(IORING_OP_ACCEPT, "io_uring_prep_multishot_accept", needs=IORING_ACCEPT_MULTISHOT)
def accept_multishot(ring, user_data: int, fd: int, *, flags: int = 0,
                     sqe_flags: int = 0) -> int:
    """Accept connections until cancelled: one CQE (``res`` = new fd) per connection.

    Each CQE carries ``IORING_CQE_F_MORE`` while the request stays armed; a
    CQE without it (an error, or cancellation) ends it and must be re-armed.
    """
    if "accept_multishot" in gate.too_old:
        raise kernel_too_old("accept_multishot")
    return _accept(ring, user_data, fd, flags, None, _ACCEPT_MULTI, 0, sqe_flags)


@operation(IORING_OP_ACCEPT, "io_uring_prep_multishot_accept_direct",
           needs=IORING_ACCEPT_MULTISHOT)
def accept_multishot_direct(ring, user_data: int, fd: int, *, flags: int = 0,
                            sqe_flags: int = 0) -> int:
    """Multishot accept into kernel-chosen direct-descriptor slots (``IORING_FILE_INDEX_ALLOC``).

    ``res`` of each CQE is the slot; when the table (or the range set by
    ``register_file_alloc_range``) is full the request ends with ``-ENFILE``.
    """
    if "accept_multishot_direct" in gate.too_old:
        raise kernel_too_old("accept_multishot_direct")
    return _accept(ring, user_data, fd, flags, None, _ACCEPT_MULTI, _ALLOC, sqe_flags)


@operation(IORING_OP_SEND, "io_uring_prep_send")
def send(ring, user_data: int, fd: int, buf, *, nbytes: int | None = None, flags: int = 0,
         dest=None, buf_group: int | None = None, bundle: bool = False,
         poll_first: bool = False, sqe_flags: int = 0) -> int:
    """Send ``buf`` (or its first ``nbytes``) on socket ``fd``; ``flags`` are ``MSG_*``.

    ``dest`` makes it a ``sendto`` (the address goes in ``addr2``/``addr_len``,
    6.0 for plain SEND on current kernels). With ``buf=None`` and
    ``buf_group`` the data comes from provided buffers (6.10 with
    ``bundle=True``, which sends as many queued buffers as possible at once).
    ``poll_first`` is ``IORING_RECVSEND_POLL_FIRST`` (5.19). ``buf``,
    ``nbytes``, ``buf_group`` and ``bundle`` follow
    :func:`uring.ops._common.buffer_or_group`.
    """
    if _SEND in gate.missing:
        raise unsupported(_SEND)
    addr, size, pin, group, sqe_flags, ioprio = buffer_or_group(
        ring, buf, nbytes, buf_group, bundle, sqe_flags, _POLL_FIRST if poll_first else 0,
        False)
    if dest is None:
        try:
            slot = ring.prep(_SEND, sqe_flags, ioprio, fd, 0, addr, size, flags, user_data,
                             group)
        except PACK_ERRORS as e:
            raise invalid(e, user_data=user_data, fd=fd, flags=flags, buf_group=group,
                          sqe_flags=sqe_flags) from None
        if addr:
            ring._hold(user_data, pin)
        return slot
    to = sockaddr(dest, "dest")
    try:
        slot = ring.prep(_SEND, sqe_flags, ioprio, fd, ctypes.addressof(to), addr, size, flags,
                         user_data, group, 0, ctypes.sizeof(to))
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, flags=flags, buf_group=group,
                      sqe_flags=sqe_flags) from None
    ring._hold(user_data, (pin, to) if addr else to)
    return slot


@operation(IORING_OP_RECV, "io_uring_prep_recv")
def recv(ring, user_data: int, fd: int, buf, *, nbytes: int | None = None, flags: int = 0,
         buf_group: int | None = None, bundle: bool = False, poll_first: bool = False,
         sqe_flags: int = 0) -> int:
    """Receive up to ``nbytes`` (default ``len(buf)``) from socket ``fd`` into ``buf``.

    ``flags`` are ``MSG_*``. With ``buf=None`` and ``buf_group`` the kernel
    picks a provided buffer (``nbytes`` then caps the bytes taken, default the
    whole buffer); ``bundle=True`` (``IORING_RECVSEND_BUNDLE``, 6.10) may fill
    several. ``poll_first`` (``IORING_RECVSEND_POLL_FIRST``, 5.19) waits for
    data before trying, saving a failed attempt when none is expected yet.
    The buffer rules are :func:`uring.ops._common.buffer_or_group`'s.
    """
    if _RECV in gate.missing:
        raise unsupported(_RECV)
    addr, size, pin, group, sqe_flags, ioprio = buffer_or_group(
        ring, buf, nbytes, buf_group, bundle, sqe_flags, _POLL_FIRST if poll_first else 0,
        True)
    try:
        slot = ring.prep(_RECV, sqe_flags, ioprio, fd, 0, addr, size, flags, user_data, group)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, flags=flags, buf_group=group,
                      sqe_flags=sqe_flags) from None
    if addr:
        ring._hold(user_data, pin)
    return slot


@operation(IORING_OP_RECV, "io_uring_prep_recv_multishot", needs=IORING_RECV_MULTISHOT)
def recv_multishot(ring, user_data: int, fd: int, *, buf_group: int, flags: int = 0,
                   bundle: bool = False, poll_first: bool = False, nbytes: int = 0,
                   sqe_flags: int = 0) -> int:
    """Receive until cancelled, one CQE per provided buffer filled from group ``buf_group``.

    Every CQE has ``IORING_CQE_F_BUFFER`` and the buffer id; all but the last
    have ``IORING_CQE_F_MORE``. The request ends (no ``F_MORE``) at EOF
    (``res`` 0), on error, or with ``-ENOBUFS`` when the group runs dry: hand
    buffers back and submit it again. ``nbytes`` caps each CQE (0 = buffer size).
    """
    if "recv_multishot" in gate.too_old:
        raise kernel_too_old("recv_multishot")
    if _RECV in gate.missing:
        raise unsupported(_RECV)
    _, nbytes, _, group, sqe_flags, ioprio = buffer_or_group(
        ring, None, nbytes, buf_group, bundle, sqe_flags,
        _MULTISHOT | _POLL_FIRST if poll_first else _MULTISHOT, True)
    try:
        return ring.prep(_RECV, sqe_flags, ioprio, fd, 0, 0, nbytes, flags, user_data, group)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, flags=flags, buf_group=buf_group,
                      nbytes=nbytes, sqe_flags=sqe_flags) from None


def _msg(opcode, ring, user_data, fd, msg, flags, ioprio, group, sqe_flags):
    if opcode in gate.missing:
        raise unsupported(opcode)
    if not isinstance(msg, Msghdr):
        raise TypeError(f"msg must be a uring.ops.Msghdr, not {type(msg).__name__}")
    try:
        slot = ring.prep(opcode, sqe_flags, ioprio, fd, 0, ctypes.addressof(msg.struct), 1,
                         flags, user_data, group)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, flags=flags, buf_group=group,
                      sqe_flags=sqe_flags) from None
    ring._hold(user_data, msg)
    return slot


@operation(IORING_OP_SENDMSG, "io_uring_prep_sendmsg")
def sendmsg(ring, user_data: int, fd: int, msg: Msghdr, *, flags: int = 0,
            sqe_flags: int = 0) -> int:
    """``sendmsg(fd, msg, flags)``: buffers, address and ancillary data from a :class:`Msghdr`."""
    return _msg(_SENDMSG, ring, user_data, fd, msg, flags, 0, 0, sqe_flags)


@operation(IORING_OP_RECVMSG, "io_uring_prep_recvmsg")
def recvmsg(ring, user_data: int, fd: int, msg: Msghdr, *, flags: int = 0,
            buf_group: int | None = None, sqe_flags: int = 0) -> int:
    """``recvmsg(fd, msg, flags)`` into a :class:`Msghdr` built with ``writable=True``.

    With ``buf_group`` (and a Msghdr without buffers) the payload goes into
    a provided buffer instead.
    """
    if buf_group is None:
        return _msg(_RECVMSG, ring, user_data, fd, msg, flags, 0, 0, sqe_flags)
    return _msg(_RECVMSG, ring, user_data, fd, msg, flags, 0, buf_group,
                sqe_flags | _BUFFER_SELECT)


@operation(IORING_OP_RECVMSG, "io_uring_prep_recvmsg_multishot", needs=IORING_RECV_MULTISHOT)
def recvmsg_multishot(ring, user_data: int, fd: int, msg: Msghdr, *, buf_group: int,
                      flags: int = 0, sqe_flags: int = 0) -> int:
    """Receive datagrams until cancelled, each into a provided buffer of ``buf_group``.

    ``msg`` (no buffers) only sets how much room each buffer reserves for the
    sender's address (``name_size``) and control data (``control_size``).
    Each buffer then starts with a ``struct io_uring_recvmsg_out`` header:
    :func:`uring.recvmsg.parse` splits it into address, control and payload.
    """
    if "recvmsg_multishot" in gate.too_old:
        raise kernel_too_old("recvmsg_multishot")
    if isinstance(msg, Msghdr) and msg.buffers:
        raise ValueError("msg must have no buffers for multishot recvmsg: the payload"
                         " goes into the provided buffer")
    return _msg(_RECVMSG, ring, user_data, fd, msg, flags, _MULTISHOT, buf_group,
                sqe_flags | _BUFFER_SELECT)


@operation(IORING_OP_SEND_ZC, "io_uring_prep_send_zc")
def send_zc(ring, user_data: int, fd: int, buf, *, nbytes: int | None = None, flags: int = 0,
            dest=None, buf_index: int | None = None, report_usage: bool = False,
            poll_first: bool = False, sqe_flags: int = 0) -> int:
    """Send ``buf`` without copying it into the kernel: two CQEs (result, then notification).

    The first CQE is the send's result with ``IORING_CQE_F_MORE``; the second,
    with ``IORING_CQE_F_NOTIF`` and the same ``user_data``, says the buffer is
    free again -- ``ring.keep`` holds ``buf`` until then. ``buf_index`` sends
    from a fixed buffer (``IORING_RECVSEND_FIXED_BUF``) that must contain
    ``buf``. ``report_usage`` (``IORING_SEND_ZC_REPORT_USAGE``, 6.1) sets
    ``IORING_NOTIF_USAGE_ZC_COPIED`` in the notification's ``res`` when the
    kernel had to copy after all (always on loopback).
    """
    if _SEND_ZC in gate.missing:
        raise unsupported(_SEND_ZC)
    addr, size, pin = export(buf)
    if nbytes is not None:
        size = length(nbytes, size)
    ioprio = _POLL_FIRST if poll_first else 0
    if report_usage:
        ioprio |= _REPORT_USAGE
    index = 0
    if buf_index is not None:
        ioprio |= _FIXED_BUF
        index = buf_index
    to, to_addr, to_len = None, 0, 0
    if dest is not None:
        to = sockaddr(dest, "dest")
        to_addr, to_len = ctypes.addressof(to), ctypes.sizeof(to)
    try:
        slot = ring.prep(_SEND_ZC, sqe_flags, ioprio, fd, to_addr, addr, size, flags,
                         user_data, index, 0, to_len)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, flags=flags, buf_index=index,
                      sqe_flags=sqe_flags) from None
    ring._hold(user_data, (pin, to) if to is not None else pin)
    return slot


@operation(IORING_OP_SENDMSG_ZC, "io_uring_prep_sendmsg_zc")
def sendmsg_zc(ring, user_data: int, fd: int, msg: Msghdr, *, flags: int = 0,
               report_usage: bool = False, sqe_flags: int = 0) -> int:
    """Zero-copy ``sendmsg``: the same two-CQE protocol as :func:`send_zc`."""
    return _msg(_SENDMSG_ZC, ring, user_data, fd, msg, flags,
                _REPORT_USAGE if report_usage else 0, 0, sqe_flags)


@operation(IORING_OP_RECV_ZC, "io_uring_prep_rw(IORING_OP_RECV_ZC)")
def recv_zc(ring, user_data: int, fd: int, zcrx_id: int, *, nbytes: int = 0,
            multishot: bool = True, poll_first: bool = False, sqe_flags: int = 0) -> int:
    """Receive on TCP socket ``fd`` zero-copy, into the area of zcrx instance ``zcrx_id``.

    ``zcrx_id`` is what ``IORING_REGISTER_ZCRX_IFQ`` returned (``zcrx_id`` of
    ``io_uring_zcrx_ifq_reg``); that registration also demands the ring setup (32-byte CQEs, ``DEFER_TASKRUN``). Every data CQE
    is 32 bytes: ``res`` bytes at the area offset in its second half
    (``io_uring_zcrx_cqe``); the program returns that memory through the
    refill queue. No memory of the program's is named in the SQE, so nothing
    is kept alive per request.

    ``multishot`` (the default; ``IORING_RECV_MULTISHOT`` in ``ioprio``) keeps
    receiving until the socket ends, with no byte limit. A one-shot request
    (``multishot=False``) stops after ``nbytes`` (0 = no limit). The kernel
    refuses a byte limit on a multishot request, and ``nbytes`` of 2**32-1:
    both raise ``ValueError`` here. ``poll_first`` is
    ``IORING_RECVSEND_POLL_FIRST``. A ``zcrx_id`` the ring has not registered
    completes with ``-EINVAL``.
    """
    if _RECV_ZC in gate.missing:
        raise unsupported(_RECV_ZC)
    if multishot and nbytes:
        raise ValueError(f"a multishot recv_zc takes no byte limit (nbytes={nbytes!r});"
                         " pass multishot=False to stop after nbytes")
    if nbytes == U32:
        raise ValueError("nbytes must be below 2**32-1 (the kernel reserves that value)")
    ioprio = _MULTISHOT if multishot else 0
    if poll_first:
        ioprio |= _POLL_FIRST
    try:
        # addr, off (addr2) and addr3 must be 0 and msg_flags unset: the
        # kernel refuses anything else with -EINVAL. zcrx_ifq_idx is the u32
        # at offset 44, which prep calls file_index.
        return ring.prep(_RECV_ZC, sqe_flags, ioprio, fd, 0, 0, nbytes, 0, user_data,
                         file_index=zcrx_id)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, nbytes=nbytes, zcrx_id=zcrx_id,
                      sqe_flags=sqe_flags) from None
