"""Control operations: polls, timeouts, cancellation, messages between rings, provided buffers.

These act on other requests (by ``user_data``), on time, or on the ring's
own bookkeeping rather than on data. Same shape as every operation.

Timeouts take seconds (``int``/``float``) or a ``uring.abi.kernel_timespec``;
the structure is kept alive with ``ring.keep`` until the final CQE. With
``IORING_TIMEOUT_ABS`` the value is a ``CLOCK_MONOTONIC`` time, the clock
``time.monotonic()`` reads.
"""

from __future__ import annotations

import ctypes

from ..abi import (
    IORING_ASYNC_CANCEL_FD,
    IORING_ASYNC_CANCEL_FD_FIXED,
    IORING_LINK_TIMEOUT_UPDATE,
    IORING_MSG_DATA,
    IORING_MSG_RING_FLAGS_PASS,
    IORING_MSG_SEND_FD,
    IORING_OP_ASYNC_CANCEL,
    IORING_OP_LINK_TIMEOUT,
    IORING_OP_MSG_RING,
    IORING_OP_POLL_ADD,
    IORING_OP_POLL_REMOVE,
    IORING_OP_PROVIDE_BUFFERS,
    IORING_OP_REMOVE_BUFFERS,
    IORING_OP_TIMEOUT,
    IORING_OP_TIMEOUT_REMOVE,
    IORING_POLL_ADD_MULTI,
    IORING_POLL_UPDATE_EVENTS,
    IORING_POLL_UPDATE_USER_DATA,
    IORING_TIMEOUT_MULTISHOT,
    IORING_TIMEOUT_UPDATE,
)
from ..memory import export
from ._common import (
    PACK_ERRORS,
    U32,
    check_int,
    gate,
    invalid,
    kernel_too_old,
    operation,
    timespec,
    unsupported,
)
from ..ring import open_ring
from .files import direct_slot

__all__ = [
    "poll_add", "poll_multishot", "poll_remove", "poll_update",
    "timeout", "timeout_multishot", "timeout_remove", "timeout_update", "link_timeout",
    "async_cancel", "async_cancel_fd", "msg_ring", "msg_ring_fd",
    "provide_buffers", "remove_buffers",
]

_POLL_ADD, _POLL_REMOVE = int(IORING_OP_POLL_ADD), int(IORING_OP_POLL_REMOVE)
_TIMEOUT, _TIMEOUT_REMOVE = int(IORING_OP_TIMEOUT), int(IORING_OP_TIMEOUT_REMOVE)
_LINK_TIMEOUT, _CANCEL = int(IORING_OP_LINK_TIMEOUT), int(IORING_OP_ASYNC_CANCEL)
_MSG_RING = int(IORING_OP_MSG_RING)
_PROVIDE, _REMOVE = int(IORING_OP_PROVIDE_BUFFERS), int(IORING_OP_REMOVE_BUFFERS)


# -- readiness ------------------------------------------------------------------

def _poll(ring, user_data, fd, events, command, sqe_flags):
    if _POLL_ADD in gate.missing:
        raise unsupported(_POLL_ADD)
    try:
        # The event mask is the 32-bit poll32_events; the command flags go in len.
        return ring.prep(_POLL_ADD, sqe_flags, 0, fd, 0, 0, command, events, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, events=events, sqe_flags=sqe_flags) from None


@operation(IORING_OP_POLL_ADD, "io_uring_prep_poll_add")
def poll_add(ring, user_data: int, fd: int, events: int, *, sqe_flags: int = 0) -> int:
    """Complete once ``fd`` is ready for ``events`` (``select.POLLIN``...); ``res`` is the mask."""
    return _poll(ring, user_data, fd, events, 0, sqe_flags)


@operation(IORING_OP_POLL_ADD, "io_uring_prep_poll_multishot", needs=IORING_POLL_ADD_MULTI)
def poll_multishot(ring, user_data: int, fd: int, events: int, *, sqe_flags: int = 0) -> int:
    """Post a CQE (with ``IORING_CQE_F_MORE``) every time ``fd`` becomes ready, until removed."""
    if "poll_multishot" in gate.too_old:
        raise kernel_too_old("poll_multishot")
    return _poll(ring, user_data, fd, events, int(IORING_POLL_ADD_MULTI), sqe_flags)


@operation(IORING_OP_POLL_REMOVE, "io_uring_prep_poll_remove")
def poll_remove(ring, user_data: int, target_user_data: int, *, sqe_flags: int = 0) -> int:
    """Cancel the poll request ``target_user_data``: it completes with ``-ECANCELED``.

    This request's ``res`` is 0, or ``-ENOENT`` if no such poll was armed.
    """
    if _POLL_REMOVE in gate.missing:
        raise unsupported(_POLL_REMOVE)
    try:
        return ring.prep(_POLL_REMOVE, sqe_flags, 0, -1, 0, target_user_data, 0, 0, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, target_user_data=target_user_data,
                      sqe_flags=sqe_flags) from None


@operation(IORING_OP_POLL_REMOVE, "io_uring_prep_poll_update", needs=IORING_POLL_UPDATE_EVENTS)
def poll_update(ring, user_data: int, target_user_data: int, *, events: int | None = None,
                new_user_data: int | None = None, multishot: bool = False,
                sqe_flags: int = 0) -> int:
    """Change an armed poll's event mask and/or ``user_data`` in place."""
    if "poll_update" in gate.too_old:
        raise kernel_too_old("poll_update")
    if _POLL_REMOVE in gate.missing:
        raise unsupported(_POLL_REMOVE)
    command = int(IORING_POLL_ADD_MULTI) if multishot else 0
    if events is not None:
        command |= int(IORING_POLL_UPDATE_EVENTS)
    if new_user_data is not None:
        command |= int(IORING_POLL_UPDATE_USER_DATA)
    try:
        return ring.prep(_POLL_REMOVE, sqe_flags, 0, -1, new_user_data or 0, target_user_data,
                         command, events or 0, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, target_user_data=target_user_data,
                      new_user_data=new_user_data or 0, events=events or 0,
                      sqe_flags=sqe_flags) from None


# -- timeouts ---------------------------------------------------------------------

def _timeout(ring, user_data, ts, count, flags, sqe_flags):
    if _TIMEOUT in gate.missing:
        raise unsupported(_TIMEOUT)
    check_int(count, "count")  # a u32 in the kernel, carried in the u64 off field
    spec = timespec(ts)
    try:
        slot = ring.prep(_TIMEOUT, sqe_flags, 0, -1, count, ctypes.addressof(spec), 1, flags,
                         user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, count=count, flags=flags,
                      sqe_flags=sqe_flags) from None
    ring._hold(user_data, spec)
    return slot


@operation(IORING_OP_TIMEOUT, "io_uring_prep_timeout")
def timeout(ring, user_data: int, ts, *, count: int = 0, flags: int = 0,
            sqe_flags: int = 0) -> int:
    """Complete after ``ts`` seconds with ``-ETIME``, or earlier after ``count`` other CQEs.

    ``count`` > 0 makes it complete with ``res`` 0 once that many other
    requests have completed. ``flags``: ``IORING_TIMEOUT_ABS`` (``ts`` is a
    ``CLOCK_MONOTONIC`` time), ``IORING_TIMEOUT_BOOTTIME``/``REALTIME`` (clock),
    ``IORING_TIMEOUT_ETIME_SUCCESS`` (5.16).
    """
    return _timeout(ring, user_data, ts, count, flags, sqe_flags)


@operation(IORING_OP_TIMEOUT, "io_uring_prep_timeout", needs=IORING_TIMEOUT_MULTISHOT)
def timeout_multishot(ring, user_data: int, ts, *, count: int = 0, flags: int = 0,
                      sqe_flags: int = 0) -> int:
    """A periodic timer: a CQE (``-ETIME``) every ``ts`` seconds, ``count`` times (0 = forever).

    All but the last CQE carry ``IORING_CQE_F_MORE``; an endless one ends only
    with :func:`timeout_remove`.
    """
    if "timeout_multishot" in gate.too_old:
        raise kernel_too_old("timeout_multishot")
    return _timeout(ring, user_data, ts, count, flags | int(IORING_TIMEOUT_MULTISHOT),
                    sqe_flags)


@operation(IORING_OP_TIMEOUT_REMOVE, "io_uring_prep_timeout_remove")
def timeout_remove(ring, user_data: int, target_user_data: int, *, flags: int = 0,
                   sqe_flags: int = 0) -> int:
    """Cancel timeout ``target_user_data``: it completes with ``-ECANCELED``, this with 0.

    ``-ENOENT`` if it is not armed, ``-EALREADY`` if it is already firing.
    """
    if _TIMEOUT_REMOVE in gate.missing:
        raise unsupported(_TIMEOUT_REMOVE)
    try:
        return ring.prep(_TIMEOUT_REMOVE, sqe_flags, 0, -1, 0, target_user_data, 0, flags,
                         user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, target_user_data=target_user_data, flags=flags,
                      sqe_flags=sqe_flags) from None


@operation(IORING_OP_TIMEOUT_REMOVE, "io_uring_prep_timeout_update",
           needs=IORING_TIMEOUT_UPDATE)
def timeout_update(ring, user_data: int, target_user_data: int, ts, *, flags: int = 0,
                   link: bool = False, sqe_flags: int = 0) -> int:
    """Re-arm timeout ``target_user_data`` to fire after ``ts`` instead.

    ``link=True`` updates a linked timeout (``IORING_LINK_TIMEOUT_UPDATE``, 5.15).
    """
    if "timeout_update" in gate.too_old:
        raise kernel_too_old("timeout_update")
    if _TIMEOUT_REMOVE in gate.missing:
        raise unsupported(_TIMEOUT_REMOVE)
    spec = timespec(ts)
    # IORING_TIMEOUT_UPDATE selects "update" over "remove"; the LINK flag then
    # picks the linked-timeout list (liburing io_uring_prep_link_timeout_update).
    mode = int(IORING_TIMEOUT_UPDATE)
    if link:
        mode |= int(IORING_LINK_TIMEOUT_UPDATE)
    try:
        # The new timespec goes in addr2 (off), the target in addr.
        slot = ring.prep(_TIMEOUT_REMOVE, sqe_flags, 0, -1, ctypes.addressof(spec),
                         target_user_data, 0, flags | mode, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, target_user_data=target_user_data, flags=flags,
                      sqe_flags=sqe_flags) from None
    ring._hold(user_data, spec)
    return slot


@operation(IORING_OP_LINK_TIMEOUT, "io_uring_prep_link_timeout")
def link_timeout(ring, user_data: int, ts, *, flags: int = 0, sqe_flags: int = 0) -> int:
    """Bound the request just before it (which must have ``IOSQE_IO_LINK``) to ``ts`` seconds.

    If time runs out the request is cancelled (``-ECANCELED``, or ``-EINTR``
    when it was already running) and this completes with ``-ETIME``; if the
    request finishes first, this completes with ``-ECANCELED``.
    """
    if _LINK_TIMEOUT in gate.missing:
        raise unsupported(_LINK_TIMEOUT)
    spec = timespec(ts)
    try:
        slot = ring.prep(_LINK_TIMEOUT, sqe_flags, 0, -1, 0, ctypes.addressof(spec), 1, flags,
                         user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, flags=flags, sqe_flags=sqe_flags) from None
    ring._hold(user_data, spec)
    return slot


# -- cancellation -------------------------------------------------------------------

@operation(IORING_OP_ASYNC_CANCEL, "io_uring_prep_cancel64")
def async_cancel(ring, user_data: int, target_user_data: int = 0, *, flags: int = 0,
                 sqe_flags: int = 0) -> int:
    """Cancel the request whose ``user_data`` is ``target_user_data``.

    ``res``: 0 if it was cancelled (it then completes with ``-ECANCELED``),
    ``-ENOENT`` if not found, ``-EALREADY`` if it was running and could only
    be asked to stop. ``flags``: ``IORING_ASYNC_CANCEL_ALL`` (5.19) cancels every
    match and returns the count; ``IORING_ASYNC_CANCEL_ANY`` (5.19) matches any
    request (``target_user_data`` is ignored); ``IORING_ASYNC_CANCEL_OP`` (6.6).
    """
    if _CANCEL in gate.missing:
        raise unsupported(_CANCEL)
    try:
        return ring.prep(_CANCEL, sqe_flags, 0, -1, 0, target_user_data, 0, flags, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, target_user_data=target_user_data, flags=flags,
                      sqe_flags=sqe_flags) from None


@operation(IORING_OP_ASYNC_CANCEL, "io_uring_prep_cancel_fd", needs=IORING_ASYNC_CANCEL_FD)
def async_cancel_fd(ring, user_data: int, fd: int, *, flags: int = 0, fixed: bool = False,
                    sqe_flags: int = 0) -> int:
    """Cancel the request(s) on file ``fd`` (``IORING_ASYNC_CANCEL_FD``).

    ``fixed`` means ``fd`` is a direct-descriptor slot (``_FD_FIXED``, 6.0);
    add ``IORING_ASYNC_CANCEL_ALL`` to ``flags`` to cancel all of them.
    """
    if "async_cancel_fd" in gate.too_old:
        raise kernel_too_old("async_cancel_fd")
    if _CANCEL in gate.missing:
        raise unsupported(_CANCEL)
    mode = int(IORING_ASYNC_CANCEL_FD)
    if fixed:
        mode |= int(IORING_ASYNC_CANCEL_FD_FIXED)
    try:
        return ring.prep(_CANCEL, sqe_flags, 0, fd, 0, 0, 0, flags | mode, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, flags=flags, sqe_flags=sqe_flags) from None


# -- messages between rings -----------------------------------------------------------

def _check_target(target_fd, target_user_data) -> None:
    """Refuse a CQE that would land on a request holding memory in another ring of ours.

    The target ring cannot tell the posted CQE from its own request's final
    CQE, which would release that request's buffers early (see Ring.keep).
    Only rings of this process are known; the fd may also be a registered
    ring index (IORING_MSG_RING with a fixed file), which this cannot check.
    """
    target = open_ring(target_fd) if isinstance(target_fd, int) else None
    if target is not None and target_user_data in target._keep:
        raise ValueError(f"target_user_data {target_user_data:#x} belongs to a request in"
                         " flight that holds memory in the target ring: its CQE would"
                         " release that request's buffers; use another user_data")


@operation(IORING_OP_MSG_RING, "io_uring_prep_msg_ring")
def msg_ring(ring, user_data: int, target_fd: int, res: int, target_user_data: int, *,
             flags: int = 0, cqe_flags: int | None = None, sqe_flags: int = 0) -> int:
    """Post a CQE ``(target_user_data, res)`` in the ring whose fd is ``target_fd``.

    This request completes with ``res`` 0 in the sending ring. ``cqe_flags``
    sets the target CQE's flags (``IORING_MSG_RING_FLAGS_PASS``, 6.3);
    ``flags`` may add ``IORING_MSG_RING_CQE_SKIP`` (6.0: no CQE in the target).
    """
    if _MSG_RING in gate.missing:
        raise unsupported(_MSG_RING)
    # Checked before the mask below, which would silently wrap it to 32 bits.
    check_int(res, "res")
    _check_target(target_fd, target_user_data)
    passed = 0
    if cqe_flags is not None:
        flags |= int(IORING_MSG_RING_FLAGS_PASS)
        passed = cqe_flags
    try:
        # addr = command, len = res, off = target user_data, file_index = passed flags.
        return ring.prep(_MSG_RING, sqe_flags, 0, target_fd, target_user_data,
                         int(IORING_MSG_DATA), res & U32, flags, user_data, 0, 0, passed)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, target_fd=target_fd, res=res,
                      target_user_data=target_user_data, flags=flags,
                      cqe_flags=passed, sqe_flags=sqe_flags) from None


@operation(IORING_OP_MSG_RING, "io_uring_prep_msg_ring_fd", needs=IORING_MSG_SEND_FD)
def msg_ring_fd(ring, user_data: int, target_fd: int, source_slot: int, target_slot: int,
                target_user_data: int, *, flags: int = 0, sqe_flags: int = 0) -> int:
    """Install this ring's direct descriptor ``source_slot`` into ``target_slot`` of another ring.

    ``target_slot=IORING_FILE_INDEX_ALLOC`` lets the target ring pick. The
    target ring gets a CQE for ``target_user_data`` whose ``res`` is the slot
    the kernel picked with ``IORING_FILE_INDEX_ALLOC``, and 0 when
    ``target_slot`` named one (a negative errno if the install failed); the
    file stays in this ring's table too.
    """
    if "msg_ring_fd" in gate.too_old:
        raise kernel_too_old("msg_ring_fd")
    if _MSG_RING in gate.missing:
        raise unsupported(_MSG_RING)
    check_int(source_slot, "source_slot")
    _check_target(target_fd, target_user_data)
    slot_field = direct_slot(target_slot)
    try:
        return ring.prep(_MSG_RING, sqe_flags, 0, target_fd, target_user_data,
                         int(IORING_MSG_SEND_FD), 0, flags, user_data, 0, 0, slot_field,
                         source_slot)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, target_fd=target_fd,
                      target_user_data=target_user_data, flags=flags,
                      sqe_flags=sqe_flags) from None


# -- provided buffers (v1) ----------------------------------------------------------------

@operation(IORING_OP_PROVIDE_BUFFERS, "io_uring_prep_provide_buffers")
def provide_buffers(ring, user_data: int, buf, size: int, count: int, bgid: int,
                    bid: int = 0, *, sqe_flags: int = 0) -> int:
    """Give ``count`` buffers of ``size`` bytes, laid end to end in ``buf``, to group ``bgid``.

    They get ids ``bid, bid+1, ...``. ``buf`` may be an int address when the
    caller owns the memory (as :class:`uring.buffers.ProvidedBuffers` does);
    otherwise it must hold ``size * count`` bytes. The kernel uses the memory
    long after this request completes, so a buffer object passed here is
    pinned (an export held) by the ring until :meth:`uring.ring.Ring.close`
    proves the kernel done with it. ``res`` is 0.
    """
    if _PROVIDE in gate.missing:
        raise unsupported(_PROVIDE)
    check_int(size, "size")
    check_int(count, "count")
    check_int(bid, "bid")
    pin = None
    if type(buf) is int:
        addr = buf
    else:
        addr, n, pin = export(buf, True)
        if n < size * count:
            raise ValueError(f"buf holds {n} bytes, fewer than size * count ="
                             f" {size * count}")
    if not 0 <= bid <= 0xFFFF or bid + count > 0x10000:
        raise ValueError(f"buffer ids bid..bid+count-1 must fit in 0..65535, not"
                         f" {bid}..{bid + count - 1}")
    try:
        # fd = how many, off = first id, buf_group = the group.
        slot = ring.prep(_PROVIDE, sqe_flags, 0, count, bid, addr, size, 0, user_data, bgid)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, count=count, buf_group=bgid,
                      sqe_flags=sqe_flags) from None
    if pin is not None:
        ring._pin(pin)  # the group, not this request, uses it: until the ring's close
    return slot


@operation(IORING_OP_REMOVE_BUFFERS, "io_uring_prep_remove_buffers")
def remove_buffers(ring, user_data: int, count: int, bgid: int, *, sqe_flags: int = 0) -> int:
    """Take up to ``count`` unused buffers back from group ``bgid``; ``res`` is how many.

    ``-ENOENT`` when the group does not exist (an emptied group gives 0).
    """
    if _REMOVE in gate.missing:
        raise unsupported(_REMOVE)
    # The count travels in the signed fd field, which would take a negative one.
    check_int(count, "count")
    try:
        return ring.prep(_REMOVE, sqe_flags, 0, count, 0, 0, 0, 0, user_data, bgid)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, count=count, buf_group=bgid,
                      sqe_flags=sqe_flags) from None
