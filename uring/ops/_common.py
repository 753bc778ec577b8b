"""What every operation shares: the opcode table, the kernel-support gate, argument errors.

Each operation is a plain function decorated with :func:`operation`, which
records it in :data:`OPS` (opcode, liburing helper, kernel release) and appends
that line to its docstring -- the version comes from :mod:`uring.abi`, so the
docs cannot drift from the ABI table. The decorator returns the function
itself: calling an operation costs nothing extra.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import Callable, NamedTuple

from .._timespec import seconds_to_ns, split_ns
from ..abi import (
    IORING_FEAT_RECVSEND_BUNDLE,
    IORING_RECVSEND_BUNDLE,
    IOSQE_BUFFER_SELECT,
    IoringOp,
    kernel_timespec,
)
from ..errors import OperationUnsupported
from ..memory import export

__all__ = ["OPS", "OpSpec", "Feature", "DIRECT_DESCRIPTORS", "OperationUnsupported",
           "operation", "gate", "AT_FDCWD"]

#: ``dirfd`` meaning "relative to the current directory" (``<fcntl.h>``).
AT_FDCWD = -100

U16 = 0xFFFF
U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF

# What ring.prep raises when a value does not fit its SQE field.
PACK_ERRORS = (struct.error, OverflowError, TypeError)

class Feature(NamedTuple):
    """A capability newer than its opcode that has no single kernel constant."""

    name: str
    since: str


#: Direct descriptors by slot number (``file_index``) in open/accept/socket/close: 5.15.
DIRECT_DESCRIPTORS = Feature("direct descriptors (file_index)", "5.15")


class OpSpec(NamedTuple):
    """One row of the operation table."""

    name: str          #: the Python function's name, e.g. ``"recv_multishot"``
    opcode: int        #: ``IORING_OP_*``
    liburing: str      #: the matching liburing helper, e.g. ``"io_uring_prep_recv_multishot"``
    since: str         #: first kernel release that runs it (opcode or the flag it needs)
    feature: str       #: the flag that raised ``since`` above the opcode's, or ``""``
    function: Callable


#: Every operation, by function name, in definition order.
OPS: dict[str, OpSpec] = {}


def operation(opcode: IoringOp, liburing: str, *, needs=None):
    """Register the decorated function as the operation for ``opcode``.

    ``needs`` is the flag (e.g. ``IORING_RECV_MULTISHOT``) that makes this
    variant newer than the opcode itself; the docstring then names both.
    """
    def decorate(func):
        since = opcode.since
        line = f"liburing: ``{liburing}``; ``{opcode.name}``, Linux {opcode.since}."
        feature = ""
        if needs is not None:
            feature = needs.name
            since = needs.since
            label = needs.name if isinstance(needs, Feature) else f"``{needs.name}``"
            line = (f"liburing: ``{liburing}``; ``{opcode.name}`` (Linux {opcode.since})"
                    f" with {label}, Linux {needs.since}.")
        doc = (func.__doc__ or "").rstrip()
        func.__doc__ = f"{doc}\n\n    {line}\n"
        OPS[func.__name__] = OpSpec(func.__name__, int(opcode), liburing, since, feature,
                                    func)
        return func
    return decorate


class _Gate:
    """What the running kernel lacks, learned from the probe at first use.

    ``gate.missing``: the opcodes it does not support (``IORING_REGISTER_PROBE``).
    ``gate.too_old``: the names of operation variants (``"recv_multishot"``...)
    whose flag came in a newer release than the kernel's -- a flag cannot be
    probed, so the release number decides. Both are looked up by the
    operations, so after the first access they are plain instance attributes
    (``__getattr__`` only runs while they are unset). Where io_uring cannot be
    used at all both are empty: a :mod:`uring.sim` ring answers for itself.
    """

    def __getattr__(self, name: str):
        if name not in ("missing", "too_old"):
            raise AttributeError(name)
        from .. import probe
        info = probe.get()
        missing = too_old = frozenset()
        if info.usable:
            missing = frozenset(int(op) for op in IoringOp if int(op) not in info.ops)
            too_old = frozenset(spec.name for spec in OPS.values() if spec.feature
                                and _release(spec.since) > tuple(info.version))
        self.missing, self.too_old = missing, too_old
        return getattr(self, name)


def _release(since: str) -> tuple[int, int]:
    major, minor = since.split(".")[:2]
    return int(major), int(minor)


gate = _Gate()


def unsupported(opcode: int) -> OperationUnsupported:
    """The error for an operation this kernel lacks, naming the release that added it."""
    member = IoringOp(opcode)
    users = [spec.name for spec in OPS.values() if spec.opcode == opcode]
    return OperationUnsupported(
        errno.EOPNOTSUPP,
        f"{member.name} ({', '.join('ops.' + u for u in users) or 'this operation'}) needs"
        f" Linux {member.since}; this kernel ({os.uname().release}) does not support it")


def kernel_too_old(name: str) -> OperationUnsupported:
    """The error for an operation variant whose flag this kernel predates."""
    spec = OPS[name]
    return OperationUnsupported(
        errno.EOPNOTSUPP,
        f"ops.{name} needs {spec.feature} (Linux {spec.since}); this kernel"
        f" ({os.uname().release}) is older")


def no_bundles() -> OperationUnsupported:
    """The error for ``bundle=True`` on a ring without ``IORING_FEAT_RECVSEND_BUNDLE``."""
    return OperationUnsupported(
        errno.EOPNOTSUPP,
        f"bundle=True needs IORING_RECVSEND_BUNDLE (Linux {IORING_RECVSEND_BUNDLE.since});"
        " this ring does not report IORING_FEAT_RECVSEND_BUNDLE")


# -- argument errors, computed only after ring.prep refused a value ---------------------

_RANGES = {
    "user_data": (0, U64), "fd": (-2**31, 2**31 - 1), "sqe_flags": (0, 0xFF),
    "flags": (0, U32), "nbytes": (0, U32), "offset": (-1, U64), "buf_group": (0, U16),
    "buf_index": (0, U16), "file_index": (0, U32), "events": (0, U32), "count": (0, U32),
    "target_user_data": (0, U64), "new_user_data": (0, U64), "res": (-2**31, 2**31 - 1),
    "bid": (0, U16), "how": (0, 2), "backlog": (0, 2**31 - 1), "domain": (0, 2**31 - 1),
    "type": (0, 2**31 - 1), "protocol": (0, 2**31 - 1), "mode": (0, U32),
    "mask": (0, U32), "fd_in": (-2**31, 2**31 - 1), "fd_out": (-2**31, 2**31 - 1),
    "off_in": (-1, U64), "off_out": (-1, U64), "target_fd": (-2**31, 2**31 - 1),
    "source_slot": (0, U32), "target_slot": (0, U32), "cqe_flags": (0, U32),
    "dir_fd": (-2**31, 2**31 - 1), "opcode": (0, 0xFF), "zc_flags": (0, U16),
    "slot_offset": (0, U32), "size": (0, U32), "zcrx_id": (0, U32),
}


def invalid(error: Exception, **values) -> Exception:
    """Turn a packing error into a ``TypeError``/``ValueError`` naming the bad argument.

    Called only on the failure path, so operations pay nothing for it.
    """
    for name, value in values.items():
        lo, hi = _RANGES[name]
        if not isinstance(value, int):
            return TypeError(f"{name} must be an int, not {type(value).__name__}")
        if not lo <= value <= hi:
            return ValueError(f"{name} must be in {lo}..{hi}, not {value}")
    return error


def check_int(value, name: str) -> int:
    """``value`` if it is an int within the range of SQE field ``name``, else raise."""
    err = invalid(None, **{name: value})
    if err is not None:
        raise err
    return value


def position(offset, name: str = "offset") -> int:
    """A file offset for the SQE's u64 ``off``: ``-1`` ("current position") becomes 2**64-1."""
    if offset == -1:
        return U64
    if not isinstance(offset, int):
        raise TypeError(f"{name} must be an int, not {type(offset).__name__}")
    if not 0 <= offset <= U64:
        raise ValueError(f"{name} must be -1 (current position) or in 0..2**64-1,"
                         f" not {offset}")
    return offset


def length(nbytes, size: int, name: str = "buf") -> int:
    """The byte count to use: ``size`` of the buffer, or ``nbytes`` if it fits in it."""
    if nbytes is None:
        return size
    check_int(nbytes, "nbytes")
    if nbytes > size:
        raise ValueError(f"{name} holds {size} bytes, fewer than nbytes={nbytes}")
    return nbytes


_BUFFER_SELECT = int(IOSQE_BUFFER_SELECT)
_BUNDLE, _FEAT_BUNDLE = int(IORING_RECVSEND_BUNDLE), int(IORING_FEAT_RECVSEND_BUNDLE)


def buffer_or_group(ring, buf, nbytes, buf_group, bundle: bool, sqe_flags: int, ioprio: int,
                    writable: bool) -> tuple[int, int, object, int, int, int]:
    """The SQE fields for "this buffer, or one the kernel picks from a group".

    Returns ``(addr, len, holder, buf_group, sqe_flags, ioprio)``: ``holder``
    is :func:`uring.memory.export`'s, for the caller to hold with the request
    while ``addr`` is not 0 (None for a group: the group pins its own). The rules, the same
    for every operation that takes ``buf``/``nbytes``/``buf_group``/``bundle``
    (``read``, ``recv``, ``recv_multishot``, ``send``):

    * ``buf`` and ``buf_group`` exclude each other (``ValueError``).
    * With ``buf``: ``nbytes`` (default ``len(buf)``) may not exceed it.
    * With ``buf_group``: ``IOSQE_BUFFER_SELECT`` is set; ``nbytes`` caps the
      bytes put into (or sent from) the chosen buffer, and ``None`` (0) means
      the whole buffer -- since Linux 6.0; 5.7 to 5.19 then move 0 bytes, so
      pass ``nbytes`` there.
    * ``bundle=True`` (``IORING_RECVSEND_BUNDLE``, 6.10) needs ``buf_group``
      (``ValueError``) and a ring with ``IORING_FEAT_RECVSEND_BUNDLE``
      (:class:`OperationUnsupported`).
    """
    if buf_group is None:
        if bundle:
            raise ValueError("bundle=True needs buf_group: a bundle is several buffers of"
                             " a group")
        addr, size, holder = export(buf, writable)
        if nbytes is not None:
            size = length(nbytes, size)
        return addr, size, holder, 0, sqe_flags, ioprio
    if buf is not None:
        raise ValueError("pass either buf or buf_group (the kernel picks the buffer),"
                         " not both")
    # buf_group's range is checked by ring.prep (the caller's invalid() names it).
    size = 0 if nbytes is None else check_int(nbytes, "nbytes")
    if bundle:
        if not int(ring.features) & _FEAT_BUNDLE:
            raise no_bundles()
        ioprio |= _BUNDLE
    return 0, size, None, buf_group, sqe_flags | _BUFFER_SELECT, ioprio


def timespec(value, name: str = "ts") -> kernel_timespec:
    """A ``struct __kernel_timespec`` from seconds (int/float) or an existing one.

    Seconds are converted as ``Ring.wait`` converts its timeout (rounded to
    the nanosecond, carried into ``tv_sec``; ``ValueError`` if it does not fit
    the signed 64-bit ``tv_sec``). The kernel copies it when the SQE is
    submitted; the operations still keep it with the request until its final
    CQE, as liburing's callers must.
    """
    if isinstance(value, kernel_timespec):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be seconds (int or float) or a"
                        f" uring.abi.kernel_timespec, not {type(value).__name__}")
    ts = kernel_timespec()
    ts.tv_sec, ts.tv_nsec = split_ns(seconds_to_ns(value, name))
    return ts


def cstring(path, name: str = "path"):
    """A NUL-terminated C string (a ctypes buffer) for a ``str``/``bytes``/``PathLike`` path."""
    try:
        raw = os.fsencode(path)
    except TypeError:
        raise TypeError(f"{name} must be str, bytes or os.PathLike, not"
                        f" {type(path).__name__}") from None
    if b"\0" in raw:
        raise ValueError(f"{name} must not contain NUL bytes")
    return ctypes.create_string_buffer(raw)
