"""``io_uring_register(2)``: tables the kernel keeps for a ring, one function each.

Registering moves per-request work to setup time: a **registered file**
(direct descriptor) skips the fd table lookup and reference counting on every
request, a **fixed buffer** is pinned once instead of on every I/O, a **buffer
ring** lets the kernel pick a receive buffer without an SQE per buffer.

Every function takes the :class:`uring.ring.Ring` first and mirrors one
liburing ``io_uring_register_*`` helper (named in its docstring with the
kernel release that added the opcode). Memory the kernel keeps using after the
call returns -- fixed buffers, buffer-ring memory -- is pinned by the ring (a
buffer export held, see :func:`uring.memory.export`) per registration, and
stays pinned after it is unregistered: a request in flight may still use it.
:meth:`uring.ring.Ring.close` drops it once it has proven the kernel done,
or keeps it for the life of the process when it cannot.
"""

from __future__ import annotations

import ctypes

from . import abi
from .abi import (
    IORING_FILE_INDEX_ALLOC,
    IORING_REGISTER_BUFFERS,
    IORING_REGISTER_BUFFERS2,
    IORING_REGISTER_EVENTFD,
    IORING_REGISTER_EVENTFD_ASYNC,
    IORING_REGISTER_FILE_ALLOC_RANGE,
    IORING_REGISTER_FILES,
    IORING_REGISTER_FILES2,
    IORING_REGISTER_FILES_UPDATE,
    IORING_REGISTER_PBUF_RING,
    IORING_REGISTER_PBUF_STATUS,
    IORING_REGISTER_PROBE,
    IORING_RSRC_REGISTER_SPARSE,
    IORING_UNREGISTER_BUFFERS,
    IORING_UNREGISTER_EVENTFD,
    IORING_UNREGISTER_FILES,
    IORING_UNREGISTER_PBUF_RING,
    IO_URING_OP_SUPPORTED,
    IOU_PBUF_RING_INC,
    IOU_PBUF_RING_MMAP,
)
from .memory import iovecs

__all__ = [
    "probe",
    "register_files",
    "register_files_sparse",
    "register_files_update",
    "unregister_files",
    "register_file_alloc_range",
    "register_buffers",
    "register_buffers_sparse",
    "unregister_buffers",
    "register_pbuf_ring",
    "unregister_pbuf_ring",
    "pbuf_status",
    "register_ring_fd",
    "register_eventfd",
    "unregister_eventfd",
    "pin_memory",
    "unpin_memory",
]

def pin_memory(ring, key, obj) -> None:
    """Pin ``obj`` (memory the kernel uses beyond one request) to ``ring`` until its close.

    ``obj`` is kept per call -- one registration, never replaced by another
    under the same ``key`` (which only names the purpose) -- and should be a
    holder from :func:`uring.memory.export` (or an iovec array from
    :func:`uring.memory.iovecs`), so the memory can be neither freed nor
    moved. :meth:`uring.ring.Ring.close` drops it after proving the kernel is
    done with every request.
    """
    ring._pin(obj)


def unpin_memory(ring, key) -> None:
    """The registration ``key`` ended; its memory stays pinned until the ring's close.

    Unregistering does not end the requests already in flight that use the
    memory (a read into a fixed buffer, a receive that picked a group
    buffer), so nothing can be dropped here; this exists so every
    registration's end is visible at the call site.
    """


def _fd_array(fds, name: str = "fds"):
    try:
        values = list(fds)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of file descriptors (ints),"
                        f" not {type(fds).__name__}") from None
    if not values:
        raise ValueError(f"{name} must not be empty")
    for i, fd in enumerate(values):
        if not isinstance(fd, int):
            raise TypeError(f"{name}[{i}] must be an int, not {type(fd).__name__}")
        if not -2 <= fd < 2**31:
            raise ValueError(f"{name}[{i}] must be a file descriptor, -1 (empty slot) or"
                             f" -2 (IORING_REGISTER_FILES_SKIP), not {fd}")
    return (ctypes.c_int32 * len(values))(*values)


def _count(value, name: str, limit: int = 2**32 - 1) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= limit:
        raise ValueError(f"{name} must be in 0..{limit}, not {value}")
    return value


def probe(ring) -> set[int]:
    """The ``IORING_OP_*`` opcodes the ring's kernel supports (``IORING_REGISTER_PROBE``, 5.6).

    liburing: ``io_uring_get_probe_ring``.
    """
    buf = abi.probe_buffer(256)
    ring.register(IORING_REGISTER_PROBE, buf, 256)
    return {op.op for op in buf.ops[:buf.ops_len] if op.flags & IO_URING_OP_SUPPORTED}


# -- files -------------------------------------------------------------------------

def register_files(ring, fds) -> None:
    """Register ``fds`` as the ring's direct-descriptor table (``IORING_REGISTER_FILES``, 5.1).

    Slot *i* then stands for ``fds[i]`` in SQEs with ``IOSQE_FIXED_FILE``;
    ``-1`` leaves a slot empty (5.12: sparse). The kernel holds its own
    reference to each file, so closing the original fd later is fine.
    liburing: ``io_uring_register_files``.
    """
    array = _fd_array(fds)
    ring.register(IORING_REGISTER_FILES, array, len(array))


def register_files_sparse(ring, nr: int) -> None:
    """Register a table of ``nr`` empty slots (``IORING_REGISTER_FILES2`` + ``SPARSE``, 5.19).

    Slots are filled by direct accept/open/socket or :func:`register_files_update`.
    liburing: ``io_uring_register_files_sparse``.
    """
    _count(nr, "nr")
    reg = abi.io_uring_rsrc_register()
    reg.nr = nr
    reg.flags = IORING_RSRC_REGISTER_SPARSE
    ring.register(IORING_REGISTER_FILES2, reg, ctypes.sizeof(reg))


def register_files_update(ring, offset: int, fds) -> int:
    """Put ``fds`` into slots ``offset, offset+1, ...`` (``IORING_REGISTER_FILES_UPDATE``, 5.5).

    ``-1`` empties a slot, ``-2`` (``IORING_REGISTER_FILES_SKIP``) leaves it
    alone. Returns the number of slots updated. Letting the kernel pick slots
    (``IORING_FILE_INDEX_ALLOC``) only works through the ring, with
    :func:`uring.ops.files_update` (the register call says ``EOVERFLOW``).
    liburing: ``io_uring_register_files_update``.
    """
    _count(offset, "offset")
    if offset == IORING_FILE_INDEX_ALLOC:
        raise ValueError("offset=IORING_FILE_INDEX_ALLOC is only accepted by the"
                         " IORING_OP_FILES_UPDATE request: use uring.ops.files_update")
    array = _fd_array(fds)
    upd = abi.io_uring_files_update()
    upd.offset = offset
    upd.fds = ctypes.addressof(array)
    return ring.register(IORING_REGISTER_FILES_UPDATE, upd, len(array))


def unregister_files(ring) -> None:
    """Drop the whole direct-descriptor table (``IORING_UNREGISTER_FILES``, 5.1).

    liburing: ``io_uring_unregister_files``.
    """
    ring.register(IORING_UNREGISTER_FILES, None, 0)


def register_file_alloc_range(ring, offset: int, length: int) -> None:
    """Limit ``IORING_FILE_INDEX_ALLOC`` to slots ``[offset, offset+length)``.

    ``IORING_REGISTER_FILE_ALLOC_RANGE`` (6.0). Slots outside the range stay
    for the program to assign by number. liburing: ``io_uring_register_file_alloc_range``.
    """
    rng = abi.io_uring_file_index_range()
    rng.off = _count(offset, "offset")
    rng.len = _count(length, "length")
    ring.register(IORING_REGISTER_FILE_ALLOC_RANGE, rng, 0)


# -- fixed buffers -------------------------------------------------------------------

def register_buffers(ring, buffers) -> None:
    """Pin ``buffers`` as fixed buffers 0..n-1 (``IORING_REGISTER_BUFFERS``, 5.1).

    ``read_fixed``/``write_fixed``/``send_zc(buf_index=...)`` then name a buffer
    by index and skip pinning its pages per request. Each buffer is pinned
    (an export held) until the ring's close, even after
    :func:`unregister_buffers`: requests in flight may still use it. ``uring.memory.BufferPool``
    gives page-aligned buffers with precomputed addresses for this.
    liburing: ``io_uring_register_buffers``.
    """
    if isinstance(buffers, (bytes, bytearray, memoryview)):
        raise TypeError("buffers must be a sequence of buffers (e.g. [bytearray(4096)]),"
                        f" not one {type(buffers).__name__}")
    array = iovecs(buffers, writable=True, name="buffers")  # holds an export of each
    ring.register(IORING_REGISTER_BUFFERS, array, len(array))
    pin_memory(ring, "buffers", array)


def register_buffers_sparse(ring, nr: int) -> None:
    """Register ``nr`` empty fixed-buffer slots (``IORING_REGISTER_BUFFERS2`` + ``SPARSE``, 5.19).

    liburing: ``io_uring_register_buffers_sparse``.
    """
    _count(nr, "nr")
    reg = abi.io_uring_rsrc_register()
    reg.nr = nr
    reg.flags = IORING_RSRC_REGISTER_SPARSE
    ring.register(IORING_REGISTER_BUFFERS2, reg, ctypes.sizeof(reg))


def unregister_buffers(ring) -> None:
    """Unpin every fixed buffer (``IORING_UNREGISTER_BUFFERS``, 5.1).

    liburing: ``io_uring_unregister_buffers``.
    """
    ring.register(IORING_UNREGISTER_BUFFERS, None, 0)
    unpin_memory(ring, "buffers")


# -- provided-buffer rings -----------------------------------------------------------

def register_pbuf_ring(ring, bgid: int, entries: int, ring_addr: int = 0, *,
                       flags: int = 0, min_left: int = 0, memory=None) -> None:
    """Register a provided-buffer ring for group ``bgid`` (``IORING_REGISTER_PBUF_RING``, 5.19).

    ``entries`` is a power of two up to 32768. Either pass ``ring_addr``, the
    page-aligned address of ``16 * entries`` bytes the program allocated
    (``memory``, the objects owning the ring and its buffers, is pinned to
    the ring until its close: see :func:`pin_memory`),
    or pass ``flags=IOU_PBUF_RING_MMAP`` (6.4) and ``ring_addr=0``: the kernel
    allocates the ring and the program maps it from the ring fd at
    ``IORING_OFF_PBUF_RING | bgid << IORING_OFF_PBUF_SHIFT``.
    ``IOU_PBUF_RING_INC`` (6.12) enables incremental consumption; ``min_left``
    goes with it. :class:`uring.buffers.BufferRing` does all of this.
    liburing: ``io_uring_register_buf_ring``.
    """
    _count(bgid, "bgid", 0xFFFF)
    _count(entries, "entries", 32768)
    if entries == 0 or entries & (entries - 1):
        raise ValueError(f"entries must be a power of two in 1..32768, not {entries}")
    _count(flags, "flags", 0xFFFF)
    _count(ring_addr, "ring_addr", 2**64 - 1)
    if flags & IOU_PBUF_RING_MMAP:
        if ring_addr:
            raise ValueError("ring_addr must be 0 with IOU_PBUF_RING_MMAP (the kernel allocates)")
    elif not ring_addr:
        raise ValueError("ring_addr is required unless flags has IOU_PBUF_RING_MMAP")
    if min_left and not flags & IOU_PBUF_RING_INC:
        raise ValueError("min_left only applies with IOU_PBUF_RING_INC")
    reg = abi.io_uring_buf_reg()
    reg.ring_addr = ring_addr
    reg.ring_entries = entries
    reg.bgid = bgid
    reg.flags = flags
    reg.min_left = _count(min_left, "min_left")
    ring.register(IORING_REGISTER_PBUF_RING, reg, 1)
    if memory is not None:
        pin_memory(ring, ("pbuf", bgid), memory)


def unregister_pbuf_ring(ring, bgid: int) -> None:
    """Unregister buffer group ``bgid``'s ring (``IORING_UNREGISTER_PBUF_RING``, 5.19).

    liburing: ``io_uring_unregister_buf_ring``.
    """
    reg = abi.io_uring_buf_reg()
    reg.bgid = _count(bgid, "bgid", 0xFFFF)
    ring.register(IORING_UNREGISTER_PBUF_RING, reg, 1)
    unpin_memory(ring, ("pbuf", bgid))


def pbuf_status(ring, bgid: int) -> int:
    """The kernel's head of buffer ring ``bgid`` (``IORING_REGISTER_PBUF_STATUS``, 6.8).

    ``(tail - head) & 0xffff`` buffers are still available to the kernel.
    liburing: ``io_uring_buf_ring_head``.
    """
    status = abi.io_uring_buf_status()
    status.buf_group = _count(bgid, "bgid", 0xFFFF)
    ring.register(IORING_REGISTER_PBUF_STATUS, status, 1)
    return status.head


# -- the ring's own fd, eventfd ------------------------------------------------------

def register_ring_fd(ring) -> int:
    """Register the ring fd with itself (``IORING_REGISTER_RING_FDS``, 5.18); returns the index.

    From then on the ring enters with ``IORING_ENTER_REGISTERED_RING`` and the
    kernel skips the fd lookup on every ``io_uring_enter``. This is
    :meth:`uring.ring.Ring.register_ring_fd`, which must also switch the ring's
    own enter calls over. liburing: ``io_uring_register_ring_fd``.
    """
    return ring.register_ring_fd()


def register_eventfd(ring, fd: int, *, async_only: bool = False) -> None:
    """Signal eventfd ``fd`` whenever a CQE is posted (``IORING_REGISTER_EVENTFD``, 5.2).

    With ``async_only`` only for requests completed by an io-wq worker thread
    (``IORING_REGISTER_EVENTFD_ASYNC``, 5.6): blocking file I/O, ``IOSQE_ASYNC``;
    not inline completions, nor those driven by poll. This is how an event loop
    (epoll, asyncio) learns that the ring has completions.
    liburing: ``io_uring_register_eventfd`` / ``_async``.
    """
    if not isinstance(fd, int):
        raise TypeError(f"fd must be an int, not {type(fd).__name__}")
    value = ctypes.c_int32(fd)
    ring.register(IORING_REGISTER_EVENTFD_ASYNC if async_only else IORING_REGISTER_EVENTFD,
                  value, 1)


def unregister_eventfd(ring) -> None:
    """Stop signalling the registered eventfd (``IORING_UNREGISTER_EVENTFD``, 5.2).

    liburing: ``io_uring_unregister_eventfd``.
    """
    ring.register(IORING_UNREGISTER_EVENTFD, None, 0)
