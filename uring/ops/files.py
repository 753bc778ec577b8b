"""File operations: nop, read/write (plain, fixed, vectored), fsync, open, close, statx, splice.

Every function has the same shape: ``ring`` first, then ``user_data``, then the
operation's own arguments, then keyword-only options (``sqe_flags`` is always
there, for ``IOSQE_*``); it fills one SQE and returns its slot index. Buffers
are passed as Python objects (see :func:`uring.memory.address`) and handed to
``ring.keep`` so they live until the request's final CQE.

``offset=-1`` means "the file's current position" (``IORING_FEAT_RW_CUR_POS``,
5.6), as ``os.read``/``os.write`` use; pipes and sockets need it.
"""

from __future__ import annotations

import ctypes
import os

from ..abi import (
    IORING_FILE_INDEX_ALLOC,
    IORING_FSYNC_DATASYNC,
    IORING_NOP_INJECT_RESULT,
    IORING_OP_CLOSE,
    IORING_OP_FILES_UPDATE,
    IORING_OP_FSYNC,
    IORING_OP_NOP,
    IORING_OP_OPENAT,
    IORING_OP_READ,
    IORING_OP_READ_FIXED,
    IORING_OP_READV,
    IORING_OP_SPLICE,
    IORING_OP_STATX,
    IORING_OP_TEE,
    IORING_OP_WRITE,
    IORING_OP_WRITE_FIXED,
    IORING_OP_WRITEV,
)
from ..memory import export, iovecs
from ._common import (
    AT_FDCWD,
    DIRECT_DESCRIPTORS,
    PACK_ERRORS,
    U32,
    buffer_or_group,
    check_int,
    cstring,
    gate,
    invalid,
    kernel_too_old,
    length,
    operation,
    position,
    unsupported,
)

__all__ = [
    "nop", "read", "write", "read_fixed", "write_fixed", "readv", "writev", "fsync",
    "openat", "openat_direct", "close", "close_direct", "statx", "struct_statx",
    "splice", "tee", "files_update", "STATX_BASIC_STATS", "direct_slot",
]

# Plain ints: IntEnum/IntFlag arithmetic goes through Python-level enum code,
# which would cost more than the rest of a hot operation.
_NOP, _READ, _WRITE = int(IORING_OP_NOP), int(IORING_OP_READ), int(IORING_OP_WRITE)
_READ_FIXED, _WRITE_FIXED = int(IORING_OP_READ_FIXED), int(IORING_OP_WRITE_FIXED)
_READV, _WRITEV, _FSYNC = int(IORING_OP_READV), int(IORING_OP_WRITEV), int(IORING_OP_FSYNC)
_OPENAT, _CLOSE, _STATX = int(IORING_OP_OPENAT), int(IORING_OP_CLOSE), int(IORING_OP_STATX)
_SPLICE, _TEE = int(IORING_OP_SPLICE), int(IORING_OP_TEE)
_FILES_UPDATE = int(IORING_OP_FILES_UPDATE)
_INJECT_RESULT = int(IORING_NOP_INJECT_RESULT)
_ALLOC = int(IORING_FILE_INDEX_ALLOC)

#: ``STATX_BASIC_STATS`` (``<linux/stat.h>``): everything ``stat(2)`` returns.
STATX_BASIC_STATS = 0x7FF


def direct_slot(file_index: int) -> int:
    """The SQE ``file_index`` for direct-descriptor slot ``file_index``.

    The field holds slot + 1 (0 means "not direct"); ``IORING_FILE_INDEX_ALLOC``
    (5.19) passes through and lets the kernel pick a free slot, returned in
    the CQE's ``res``.
    """
    if file_index == _ALLOC:
        return _ALLOC
    check_int(file_index, "file_index")
    if file_index >= _ALLOC - 1:
        raise ValueError(f"file_index must be a slot number or IORING_FILE_INDEX_ALLOC,"
                         f" not {file_index}")
    return file_index + 1


@operation(IORING_OP_NOP, "io_uring_prep_nop")
def nop(ring, user_data: int, *, result: int | None = None, sqe_flags: int = 0) -> int:
    """Do nothing and complete with ``res = 0``: the cheapest round trip through the ring.

    ``result`` makes the kernel complete it with that value instead
    (``IORING_NOP_INJECT_RESULT``, Linux 6.10), e.g. a negative errno to test
    error paths.
    """
    if _NOP in gate.missing:
        raise unsupported(_NOP)
    if result is not None:
        # Checked before the mask below, which would otherwise wrap an
        # out-of-range value into some other errno without a word.
        check_int(result, "res")
    try:
        if result is None:
            return ring.prep(_NOP, sqe_flags, 0, -1, 0, 0, 0, 0, user_data)
        return ring.prep(_NOP, sqe_flags, 0, -1, 0, 0, result & U32, _INJECT_RESULT,
                         user_data)
    except PACK_ERRORS as e:
        values = dict(user_data=user_data, sqe_flags=sqe_flags)
        if result is not None:
            values["res"] = result
        raise invalid(e, **values) from None


@operation(IORING_OP_READ, "io_uring_prep_read")
def read(ring, user_data: int, fd: int, buf, *, nbytes: int | None = None,
         offset: int = -1, flags: int = 0, buf_group: int | None = None,
         sqe_flags: int = 0) -> int:
    """Read up to ``nbytes`` (default ``len(buf)``) from ``fd`` at ``offset`` into ``buf``.

    ``flags`` are ``RWF_*`` (``preadv2``). With ``buf=None`` and ``buf_group``
    the kernel picks a provided buffer from that group (``IOSQE_BUFFER_SELECT``,
    5.7) and reports its id in the CQE; ``nbytes`` then caps the bytes read
    (default: the whole buffer, Linux 6.0). The rules are those of every
    buffer-or-group operation (:func:`uring.ops._common.buffer_or_group`).
    """
    if _READ in gate.missing:
        raise unsupported(_READ)
    addr, size, pin, group, sqe_flags, _ = buffer_or_group(
        ring, buf, nbytes, buf_group, False, sqe_flags, 0, True)
    try:
        slot = ring.prep(_READ, sqe_flags, 0, fd,
                         offset if offset >= 0 else position(offset), addr, size, flags,
                         user_data, group)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, offset=offset, flags=flags,
                      buf_group=group, sqe_flags=sqe_flags) from None
    if addr:
        ring._hold(user_data, pin)
    return slot


@operation(IORING_OP_WRITE, "io_uring_prep_write")
def write(ring, user_data: int, fd: int, buf, *, nbytes: int | None = None,
          offset: int = -1, flags: int = 0, sqe_flags: int = 0) -> int:
    """Write ``buf`` (or its first ``nbytes``) to ``fd`` at ``offset``; ``flags`` are ``RWF_*``."""
    if _WRITE in gate.missing:
        raise unsupported(_WRITE)
    addr, size, pin = export(buf)
    if nbytes is not None:
        size = length(nbytes, size)
    try:
        slot = ring.prep(_WRITE, sqe_flags, 0, fd,
                         offset if offset >= 0 else position(offset), addr, size, flags,
                         user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, offset=offset, flags=flags,
                      sqe_flags=sqe_flags) from None
    ring._hold(user_data, pin)
    return slot


def _fixed(opcode, ring, user_data, fd, buf, buf_index, nbytes, offset, sqe_flags,
           writable):
    if opcode in gate.missing:
        raise unsupported(opcode)
    addr, size, pin = export(buf, writable)
    if nbytes is not None:
        size = length(nbytes, size)
    try:
        slot = ring.prep(opcode, sqe_flags, 0, fd, position(offset), addr, size, 0, user_data,
                         buf_index)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, buf_index=buf_index, offset=offset,
                      sqe_flags=sqe_flags) from None
    ring._hold(user_data, pin)
    return slot


@operation(IORING_OP_READ_FIXED, "io_uring_prep_read_fixed")
def read_fixed(ring, user_data: int, fd: int, buf, buf_index: int, *,
               nbytes: int | None = None, offset: int = -1, sqe_flags: int = 0) -> int:
    """Read into ``buf``, which lies inside fixed buffer ``buf_index`` (see ``register_buffers``).

    The kernel checks that the range is inside the registered buffer
    (``-EFAULT`` otherwise) and skips pinning pages for this request.
    """
    return _fixed(_READ_FIXED, ring, user_data, fd, buf, buf_index, nbytes, offset,
                  sqe_flags, True)


@operation(IORING_OP_WRITE_FIXED, "io_uring_prep_write_fixed")
def write_fixed(ring, user_data: int, fd: int, buf, buf_index: int, *,
                nbytes: int | None = None, offset: int = -1, sqe_flags: int = 0) -> int:
    """Write from ``buf``, which lies inside fixed buffer ``buf_index``."""
    return _fixed(_WRITE_FIXED, ring, user_data, fd, buf, buf_index, nbytes, offset,
                  sqe_flags, False)


def _vectored(opcode, ring, user_data, fd, buffers, offset, flags, sqe_flags, writable):
    if opcode in gate.missing:
        raise unsupported(opcode)
    array = iovecs(buffers, writable)
    try:
        slot = ring.prep(opcode, sqe_flags, 0, fd, position(offset), ctypes.addressof(array),
                         len(array), flags, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, offset=offset, flags=flags,
                      sqe_flags=sqe_flags) from None
    # A snapshot of the buffers: the array holds an export of each (its
    # ``pins``), so the caller's list or generator no longer matters.
    ring._hold(user_data, array)
    return slot


@operation(IORING_OP_READV, "io_uring_prep_readv2")
def readv(ring, user_data: int, fd: int, buffers, *, offset: int = -1, flags: int = 0,
          sqe_flags: int = 0) -> int:
    """Read from ``fd`` into each of ``buffers`` in turn (``preadv2``); ``flags`` are ``RWF_*``."""
    return _vectored(_READV, ring, user_data, fd, buffers, offset, flags, sqe_flags, True)


@operation(IORING_OP_WRITEV, "io_uring_prep_writev2")
def writev(ring, user_data: int, fd: int, buffers, *, offset: int = -1, flags: int = 0,
           sqe_flags: int = 0) -> int:
    """Write each of ``buffers`` to ``fd`` in turn (``pwritev2``); ``flags`` are ``RWF_*``."""
    return _vectored(_WRITEV, ring, user_data, fd, buffers, offset, flags, sqe_flags,
                     False)


@operation(IORING_OP_FSYNC, "io_uring_prep_fsync")
def fsync(ring, user_data: int, fd: int, *, datasync: bool = False,
          sqe_flags: int = 0) -> int:
    """``fsync(fd)``, or ``fdatasync`` with ``datasync`` (``IORING_FSYNC_DATASYNC``).

    io_uring does not order it after earlier writes: link it after them
    (``IOSQE_IO_LINK``) or drain (``IOSQE_IO_DRAIN``) when that matters.
    """
    if _FSYNC in gate.missing:
        raise unsupported(_FSYNC)
    try:
        return ring.prep(_FSYNC, sqe_flags, 0, fd, 0, 0, 0,
                         IORING_FSYNC_DATASYNC if datasync else 0, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, sqe_flags=sqe_flags) from None


def _open(ring, user_data, path, flags, mode, dir_fd, file_index, sqe_flags):
    if _OPENAT in gate.missing:
        raise unsupported(_OPENAT)
    c_path = cstring(path)
    try:
        slot = ring.prep(_OPENAT, sqe_flags, 0, dir_fd, 0, ctypes.addressof(c_path), mode,
                         flags, user_data, 0, 0, file_index)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, dir_fd=dir_fd, flags=flags, mode=mode,
                      sqe_flags=sqe_flags) from None
    ring._hold(user_data, c_path)
    return slot


@operation(IORING_OP_OPENAT, "io_uring_prep_openat")
def openat(ring, user_data: int, path, flags: int = os.O_RDONLY, mode: int = 0o666, *,
           dir_fd: int = AT_FDCWD, sqe_flags: int = 0) -> int:
    """``openat(dir_fd, path, flags, mode)``; the CQE's ``res`` is the new fd.

    Unlike ``os.open`` nothing is added to ``flags``: pass ``os.O_CLOEXEC``
    if the fd should not leak into child processes.
    """
    return _open(ring, user_data, path, flags, mode, dir_fd, 0, sqe_flags)


@operation(IORING_OP_OPENAT, "io_uring_prep_openat_direct", needs=DIRECT_DESCRIPTORS)
def openat_direct(ring, user_data: int, path, flags: int = os.O_RDONLY, mode: int = 0o666,
                  *, file_index: int = _ALLOC, dir_fd: int = AT_FDCWD,
                  sqe_flags: int = 0) -> int:
    """Open ``path`` straight into direct-descriptor slot ``file_index`` (no fd is created).

    Slot numbers work since 5.15; the default ``IORING_FILE_INDEX_ALLOC``
    (5.19) lets the kernel choose and returns the slot in ``res``.
    ``O_CLOEXEC`` is refused (``-EINVAL``): a direct descriptor has no fd.
    """
    if "openat_direct" in gate.too_old:
        raise kernel_too_old("openat_direct")
    return _open(ring, user_data, path, flags, mode, dir_fd, direct_slot(file_index),
                 sqe_flags)


@operation(IORING_OP_CLOSE, "io_uring_prep_close")
def close(ring, user_data: int, fd: int, *, sqe_flags: int = 0) -> int:
    """``close(fd)``."""
    if _CLOSE in gate.missing:
        raise unsupported(_CLOSE)
    try:
        return ring.prep(_CLOSE, sqe_flags, 0, fd, 0, 0, 0, 0, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd=fd, sqe_flags=sqe_flags) from None


@operation(IORING_OP_CLOSE, "io_uring_prep_close_direct", needs=DIRECT_DESCRIPTORS)
def close_direct(ring, user_data: int, file_index: int, *, sqe_flags: int = 0) -> int:
    """Empty direct-descriptor slot ``file_index`` (5.15)."""
    if "close_direct" in gate.too_old:
        raise kernel_too_old("close_direct")
    if _CLOSE in gate.missing:
        raise unsupported(_CLOSE)
    if file_index == _ALLOC:
        raise ValueError("file_index must be a slot number, not IORING_FILE_INDEX_ALLOC")
    try:
        return ring.prep(_CLOSE, sqe_flags, 0, 0, 0, 0, 0, 0, user_data, 0, 0,
                         direct_slot(file_index))
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, sqe_flags=sqe_flags) from None


class statx_timestamp(ctypes.Structure):
    """``struct statx_timestamp`` (``<linux/stat.h>``)."""

    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_uint32),
                ("__reserved", ctypes.c_int32)]


class struct_statx(ctypes.Structure):
    """``struct statx`` (``<linux/stat.h>``, 256 bytes), filled by :func:`statx`.

    Named ``struct_statx`` because ``statx`` is the operation.
    """

    _fields_ = [
        ("stx_mask", ctypes.c_uint32), ("stx_blksize", ctypes.c_uint32),
        ("stx_attributes", ctypes.c_uint64), ("stx_nlink", ctypes.c_uint32),
        ("stx_uid", ctypes.c_uint32), ("stx_gid", ctypes.c_uint32),
        ("stx_mode", ctypes.c_uint16), ("__spare0", ctypes.c_uint16),
        ("stx_ino", ctypes.c_uint64), ("stx_size", ctypes.c_uint64),
        ("stx_blocks", ctypes.c_uint64), ("stx_attributes_mask", ctypes.c_uint64),
        ("stx_atime", statx_timestamp), ("stx_btime", statx_timestamp),
        ("stx_ctime", statx_timestamp), ("stx_mtime", statx_timestamp),
        ("stx_rdev_major", ctypes.c_uint32), ("stx_rdev_minor", ctypes.c_uint32),
        ("stx_dev_major", ctypes.c_uint32), ("stx_dev_minor", ctypes.c_uint32),
        ("stx_mnt_id", ctypes.c_uint64), ("stx_dio_mem_align", ctypes.c_uint32),
        ("stx_dio_offset_align", ctypes.c_uint32), ("__spare3", ctypes.c_uint64 * 12),
    ]


assert ctypes.sizeof(struct_statx) == 256


@operation(IORING_OP_STATX, "io_uring_prep_statx")
def statx(ring, user_data: int, path, statxbuf: struct_statx, *, dir_fd: int = AT_FDCWD,
          flags: int = 0, mask: int = STATX_BASIC_STATS, sqe_flags: int = 0) -> int:
    """``statx(dir_fd, path, flags, mask)`` into ``statxbuf`` (a :class:`struct_statx`).

    ``flags`` are ``AT_*`` (``AT_EMPTY_PATH`` with ``path=""`` stats ``dir_fd`` itself).
    """
    if _STATX in gate.missing:
        raise unsupported(_STATX)
    if not isinstance(statxbuf, struct_statx):
        raise TypeError(f"statxbuf must be a uring.ops.struct_statx, not"
                        f" {type(statxbuf).__name__}")
    c_path = cstring(path)
    try:
        slot = ring.prep(_STATX, sqe_flags, 0, dir_fd, ctypes.addressof(statxbuf),
                         ctypes.addressof(c_path), mask, flags, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, dir_fd=dir_fd, mask=mask, flags=flags,
                      sqe_flags=sqe_flags) from None
    ring._hold(user_data, (c_path, statxbuf))
    return slot


@operation(IORING_OP_SPLICE, "io_uring_prep_splice")
def splice(ring, user_data: int, fd_in: int, off_in: int, fd_out: int, off_out: int,
           nbytes: int, *, flags: int = 0, sqe_flags: int = 0) -> int:
    """Move ``nbytes`` from ``fd_in`` to ``fd_out`` without a user-space copy; one must be a pipe.

    An offset of ``-1`` means "no offset" (required for the pipe end).
    ``flags`` are ``SPLICE_F_*``; ``SPLICE_F_FD_IN_FIXED`` makes ``fd_in`` a
    direct-descriptor slot (``IOSQE_FIXED_FILE`` covers ``fd_out``).
    """
    if _SPLICE in gate.missing:
        raise unsupported(_SPLICE)
    try:
        # fd/off describe the output; splice_off_in shares addr, splice_fd_in file_index.
        return ring.prep(_SPLICE, sqe_flags, 0, fd_out, position(off_out, "off_out"),
                         position(off_in, "off_in"),
                         nbytes, flags, user_data, 0, 0, fd_in & U32)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd_in=fd_in, off_in=off_in, fd_out=fd_out,
                      off_out=off_out, nbytes=nbytes, flags=flags,
                      sqe_flags=sqe_flags) from None


@operation(IORING_OP_TEE, "io_uring_prep_tee")
def tee(ring, user_data: int, fd_in: int, fd_out: int, nbytes: int, *, flags: int = 0,
        sqe_flags: int = 0) -> int:
    """Copy up to ``nbytes`` from pipe ``fd_in`` into pipe ``fd_out`` without consuming them."""
    if _TEE in gate.missing:
        raise unsupported(_TEE)
    try:
        return ring.prep(_TEE, sqe_flags, 0, fd_out, 0, 0, nbytes, flags, user_data, 0, 0,
                         fd_in & U32)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, fd_in=fd_in, fd_out=fd_out, nbytes=nbytes,
                      flags=flags, sqe_flags=sqe_flags) from None


@operation(IORING_OP_FILES_UPDATE, "io_uring_prep_files_update")
def files_update(ring, user_data: int, fds, offset: int, *, sqe_flags: int = 0) -> int:
    """Put ``fds`` into direct-descriptor slots ``offset, offset+1, ...`` from inside the ring.

    The asynchronous twin of ``register.register_files_update``: ``-1`` empties
    a slot; ``offset=IORING_FILE_INDEX_ALLOC`` (5.19) lets the kernel pick and
    write the chosen slots back into ``fds`` when it is a ctypes ``c_int32``
    array (a list is copied into one). ``res`` is the count updated.
    """
    if _FILES_UPDATE in gate.missing:
        raise unsupported(_FILES_UPDATE)
    if isinstance(fds, ctypes.Array) and fds._type_ is ctypes.c_int32:
        array = fds
    else:
        values = list(fds)
        if not values or not all(isinstance(fd, int) for fd in values):
            raise TypeError("fds must be a non-empty sequence of ints")
        array = (ctypes.c_int32 * len(values))(*values)
    try:
        slot = ring.prep(_FILES_UPDATE, sqe_flags, 0, -1, offset, ctypes.addressof(array),
                         len(array), 0, user_data)
    except PACK_ERRORS as e:
        raise invalid(e, user_data=user_data, slot_offset=offset, sqe_flags=sqe_flags) from None
    ring._hold(user_data, array)
    return slot
