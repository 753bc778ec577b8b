"""``<linux/io_uring.h>`` (and ``<linux/io_uring/query.h>``) of Linux 6.18, in ctypes.

Structures keep the kernel's names, field names and exact layout (x86-64 and
aarch64 agree); unions the kernel declares anonymously are anonymous here too,
so ``sqe.addr``, ``sqe.buf_group`` and ``sqe.file_index`` work as in C.
Constants are grouped into ``IntEnum``/``IntFlag`` families whose members carry
``.since``, the kernel release that added them, and every member is also a
module-level name spelled as in C (``IORING_OP_RECV``, ``IOSQE_BUFFER_SELECT``).

Nothing newer than 6.18 is here. Versions are upstream releases; the few marked
"approx." in comments come from changelogs rather than a check and may be one
release off.
"""

from __future__ import annotations

import ctypes
import functools

from ._versioned import VersionedEnum, VersionedFlag, VersionedInt

u8, u16, u32, u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64
s32, s64 = ctypes.c_int32, ctypes.c_int64


# ---------------------------------------------------------------------------
# Submission and completion queue entries
# ---------------------------------------------------------------------------

class _sqe_cmd_op(ctypes.Structure):
    _fields_ = [("cmd_op", u32), ("__pad1", u32)]


class _sqe_off(ctypes.Union):
    _anonymous_ = ("_cmd",)
    _fields_ = [("off", u64), ("addr2", u64), ("_cmd", _sqe_cmd_op)]


class _sqe_sockopt(ctypes.Structure):
    _fields_ = [("level", u32), ("optname", u32)]


class _sqe_addr(ctypes.Union):
    _anonymous_ = ("_sockopt",)
    _fields_ = [("addr", u64), ("splice_off_in", u64), ("_sockopt", _sqe_sockopt)]


class _sqe_op_flags(ctypes.Union):
    # One 32-bit word, named after the opcode that reads it. rw_flags was a
    # __kernel_rwf_t (int) until the kernel made it __u32; same bits either way.
    _fields_ = [(name, u32) for name in (
        "rw_flags", "fsync_flags")] + [("poll_events", u16)] + [(name, u32) for name in (
        "poll32_events", "sync_range_flags", "msg_flags", "timeout_flags",
        "accept_flags", "cancel_flags", "open_flags", "statx_flags",
        "fadvise_advice", "splice_flags", "rename_flags", "unlink_flags",
        "hardlink_flags", "xattr_flags", "msg_ring_flags", "uring_cmd_flags",
        "waitid_flags", "futex_flags", "install_fd_flags", "nop_flags", "pipe_flags")]


class _sqe_buf(ctypes.Union):
    _pack_ = 1
    _fields_ = [("buf_index", u16), ("buf_group", u16)]


class _sqe_addr_len(ctypes.Structure):
    _fields_ = [("addr_len", u16), ("__pad3", u16 * 1)]


class _sqe_write_stream(ctypes.Structure):
    _fields_ = [("write_stream", u8), ("__pad4", u8 * 3)]


class _sqe_file_index(ctypes.Union):
    _anonymous_ = ("_addr_len", "_write_stream")
    _fields_ = [("splice_fd_in", s32), ("file_index", u32), ("zcrx_ifq_idx", u32),
                ("optlen", u32), ("_addr_len", _sqe_addr_len),
                ("_write_stream", _sqe_write_stream)]


class _sqe_addr3(ctypes.Structure):
    _fields_ = [("addr3", u64), ("__pad2", u64 * 1)]


class _sqe_attr(ctypes.Structure):
    _fields_ = [("attr_ptr", u64), ("attr_type_mask", u64)]


class _sqe_tail(ctypes.Union):
    _anonymous_ = ("_addr3", "_attr")
    _fields_ = [("_addr3", _sqe_addr3), ("_attr", _sqe_attr), ("optval", u64),
                # With IORING_SETUP_SQE128 the SQE is 128 bytes and cmd is the
                # 80 bytes from here to the end (URING_CMD payload).
                ("cmd", u8 * 0)]


class io_uring_sqe(ctypes.Structure):
    """Submission queue entry (5.1): 64 bytes, 128 with ``IORING_SETUP_SQE128``.

    Offsets 8, 16, 28, 40, 44 and 48 are unions whose member names say which
    opcodes use them. ``file_index`` holds a direct-descriptor slot **plus
    one** (0 means "not direct"), or ``IORING_FILE_INDEX_ALLOC``.
    """

    _since_ = "5.1"
    _anonymous_ = ("_off", "_addr", "_op_flags", "_buf", "_file_index", "_tail")
    _fields_ = [
        ("opcode", u8),
        ("flags", u8),
        ("ioprio", u16),
        ("fd", s32),
        ("_off", _sqe_off),
        ("_addr", _sqe_addr),
        ("len", u32),
        ("_op_flags", _sqe_op_flags),
        ("user_data", u64),
        ("_buf", _sqe_buf),
        ("personality", u16),
        ("_file_index", _sqe_file_index),
        ("_tail", _sqe_tail),
    ]


class io_uring_cqe(ctypes.Structure):
    """Completion queue entry (5.1): 16 bytes.

    ``big_cqe`` is the kernel's flexible array: empty here, 16 more bytes in
    rings set up with ``IORING_SETUP_CQE32`` (see :class:`io_uring_cqe32`).
    """

    _since_ = "5.1"
    _fields_ = [("user_data", u64), ("res", s32), ("flags", u32), ("big_cqe", u64 * 0)]


class io_uring_cqe32(ctypes.Structure):
    """A 32-byte CQE (``IORING_SETUP_CQE32``, 5.19; or ``IORING_CQE_F_32`` in CQE_MIXED rings).

    Not a kernel type: it is ``struct io_uring_cqe`` with ``big_cqe[2]`` filled
    in, e.g. ``struct io_uring_zcrx_cqe`` for zero-copy receive.
    """

    _since_ = "5.19"
    _fields_ = [("user_data", u64), ("res", s32), ("flags", u32), ("big_cqe", u64 * 2)]


# ---------------------------------------------------------------------------
# io_uring_setup(2)
# ---------------------------------------------------------------------------

class io_sqring_offsets(ctypes.Structure):
    """Byte offsets of the SQ ring words inside its mmap (5.1), filled in by the kernel.

    ``user_addr`` was ``resv2`` before 6.5; with ``IORING_SETUP_NO_MMAP`` it
    is an input: the address of the memory for the SQE array.
    """

    _since_ = "5.1"
    _fields_ = [("head", u32), ("tail", u32), ("ring_mask", u32), ("ring_entries", u32),
                ("flags", u32), ("dropped", u32), ("array", u32), ("resv1", u32),
                ("user_addr", u64)]


class io_cqring_offsets(ctypes.Structure):
    """Byte offsets of the CQ ring words inside its mmap (5.1), filled in by the kernel.

    ``flags`` is 0 before 5.8 (no CQ flags word). ``user_addr`` was ``resv2``
    before 6.5; with ``IORING_SETUP_NO_MMAP`` it is the address of the rings.
    """

    _since_ = "5.1"
    _fields_ = [("head", u32), ("tail", u32), ("ring_mask", u32), ("ring_entries", u32),
                ("overflow", u32), ("cqes", u32), ("flags", u32), ("resv1", u32),
                ("user_addr", u64)]


class io_uring_params(ctypes.Structure):
    """Argument of ``io_uring_setup(2)`` (5.1): flags in, sizes, features and offsets out."""

    _since_ = "5.1"
    _fields_ = [("sq_entries", u32), ("cq_entries", u32), ("flags", u32),
                ("sq_thread_cpu", u32), ("sq_thread_idle", u32), ("features", u32),
                ("wq_fd", u32), ("resv", u32 * 3),
                ("sq_off", io_sqring_offsets), ("cq_off", io_cqring_offsets)]


# ---------------------------------------------------------------------------
# io_uring_register(2) arguments
# ---------------------------------------------------------------------------

class io_uring_files_update(ctypes.Structure):
    """``IORING_REGISTER_FILES_UPDATE`` argument (5.5); superseded by ``io_uring_rsrc_update``."""

    _since_ = "5.5"
    _fields_ = [("offset", u32), ("resv", u32), ("fds", u64)]


class io_uring_region_desc(ctypes.Structure):
    """A memory region (6.13): user memory, or kernel memory to mmap at ``mmap_offset``."""

    _since_ = "6.13"
    _fields_ = [("user_addr", u64), ("size", u64), ("flags", u32), ("id", u32),
                ("mmap_offset", u64), ("__resv", u64 * 4)]


class io_uring_mem_region_reg(ctypes.Structure):
    """``IORING_REGISTER_MEM_REGION`` argument (6.13); ``region_uptr`` points to a region_desc."""

    _since_ = "6.13"
    _fields_ = [("region_uptr", u64), ("flags", u64), ("__resv", u64 * 2)]


class io_uring_rsrc_register(ctypes.Structure):
    """FILES2/BUFFERS2 registration argument (5.13); ``flags`` was ``resv`` before 5.19."""

    _since_ = "5.13"
    _fields_ = [("nr", u32), ("flags", u32), ("resv2", u64), ("data", u64), ("tags", u64)]


class io_uring_rsrc_update(ctypes.Structure):
    """One registered-resource update (5.13), e.g. for ``IORING_REGISTER_RING_FDS``."""

    _since_ = "5.13"
    _fields_ = [("offset", u32), ("resv", u32), ("data", u64)]


class io_uring_rsrc_update2(ctypes.Structure):
    """``IORING_REGISTER_FILES_UPDATE2``/``BUFFERS_UPDATE`` argument (5.13), with tags."""

    _since_ = "5.13"
    _fields_ = [("offset", u32), ("resv", u32), ("data", u64), ("tags", u64),
                ("nr", u32), ("resv2", u32)]


class io_uring_probe_op(ctypes.Structure):
    """One opcode's entry in ``io_uring_probe.ops`` (5.6)."""

    _since_ = "5.6"
    _fields_ = [("op", u8), ("resv", u8), ("flags", u16), ("resv2", u32)]


class io_uring_probe(ctypes.Structure):
    """``IORING_REGISTER_PROBE`` result header (5.6); ``ops`` is a flexible array.

    Use :func:`probe_buffer` to get one with room for the ops.
    """

    _since_ = "5.6"
    _fields_ = [("last_op", u8), ("ops_len", u8), ("resv", u16), ("resv2", u32 * 3),
                ("ops", io_uring_probe_op * 0)]


@functools.lru_cache(maxsize=None)
def _probe_type(n: int) -> type:
    return type(f"io_uring_probe_{n}", (ctypes.Structure,), {
        "_fields_": io_uring_probe._fields_[:-1] + [("ops", io_uring_probe_op * n)],
        "_since_": io_uring_probe._since_,
        "__doc__": f"``struct io_uring_probe`` with room for {n} ops.",
    })


def probe_buffer(n: int = 256) -> ctypes.Structure:
    """A zeroed ``io_uring_probe`` with ``ops[n]``: pass it with ``nr_args = n`` (at most 256)."""
    if not 0 < n <= 256:
        raise ValueError(f"n must be in 1..256 (the kernel caps the probe at 256 ops), got {n}")
    return _probe_type(n)()


class io_uring_restriction(ctypes.Structure):
    """One ``IORING_REGISTER_RESTRICTIONS`` entry (5.10)."""

    class _op(ctypes.Union):
        _fields_ = [("register_op", u8), ("sqe_op", u8), ("sqe_flags", u8)]

    _since_ = "5.10"
    _anonymous_ = ("_u",)
    _fields_ = [("opcode", u16), ("_u", _op), ("resv", u8), ("resv2", u32 * 3)]


class io_uring_clock_register(ctypes.Structure):
    """``IORING_REGISTER_CLOCK`` argument (6.12): the clock used for wait timeouts."""

    _since_ = "6.12"
    _fields_ = [("clockid", u32), ("__resv", u32 * 3)]


class io_uring_clone_buffers(ctypes.Structure):
    """``IORING_REGISTER_CLONE_BUFFERS`` argument (6.12; ranges 6.13)."""

    _since_ = "6.12"
    _fields_ = [("src_fd", u32), ("flags", u32), ("src_off", u32), ("dst_off", u32),
                ("nr", u32), ("pad", u32 * 3)]


# ---------------------------------------------------------------------------
# Provided buffers
# ---------------------------------------------------------------------------

class io_uring_buf(ctypes.Structure):
    """One provided buffer in a buffer ring (5.19); ``bid`` comes back in ``cqe.flags >> 16``."""

    _since_ = "5.19"
    _fields_ = [("addr", u64), ("len", u32), ("bid", u16), ("resv", u16)]


class _buf_ring_head(ctypes.Structure):
    _fields_ = [("resv1", u64), ("resv2", u32), ("resv3", u16), ("tail", u16)]


class _buf_ring_union(ctypes.Union):
    _anonymous_ = ("_head",)
    _fields_ = [("_head", _buf_ring_head), ("bufs", io_uring_buf * 0)]


class io_uring_buf_ring(ctypes.Structure):
    """Header of a provided-buffer ring (5.19), overlaying ``bufs[0]``.

    The u16 ``tail`` sits in ``bufs[0].resv``, so a ring of N buffers is exactly
    16·N bytes and entry 0 is still a normal buffer slot. The application owns
    the tail (store it with release semantics); the kernel keeps the head.
    """

    _since_ = "5.19"
    _anonymous_ = ("_u",)
    _fields_ = [("_u", _buf_ring_union)]


class io_uring_buf_reg(ctypes.Structure):
    """``IORING_(UN)REGISTER_PBUF_RING`` argument (5.19).

    ``flags`` was ``pad`` before 6.4. ``min_left`` (with ``IOU_PBUF_RING_INC``)
    is in this 6.18 build but not in every 6.18.y; older kernels have
    ``__u64 resv[3]`` from offset 16, zero either way.
    """

    _since_ = "5.19"
    _fields_ = [("ring_addr", u64), ("ring_entries", u32), ("bgid", u16), ("flags", u16),
                ("min_left", u32), ("resv", u32 * 5)]


class io_uring_buf_status(ctypes.Structure):
    """``IORING_REGISTER_PBUF_STATUS`` argument (6.8): reads the kernel's head of a buffer ring."""

    _since_ = "6.8"
    _fields_ = [("buf_group", u32), ("head", u32), ("resv", u32 * 8)]


class io_uring_napi(ctypes.Structure):
    """``IORING_(UN)REGISTER_NAPI`` argument (6.9; ``opcode``/``op_param`` 6.14)."""

    _since_ = "6.9"
    _fields_ = [("busy_poll_to", u32), ("prefer_busy_poll", u8), ("opcode", u8),
                ("pad", u8 * 2), ("op_param", u32), ("resv", u32)]


# ---------------------------------------------------------------------------
# io_uring_enter(2) arguments and misc
# ---------------------------------------------------------------------------

class kernel_timespec(ctypes.Structure):
    """The kernel's ``struct __kernel_timespec`` (64-bit seconds on every architecture).

    A name with two leading underscores cannot be imported as a Python
    identifier, hence ``kernel_timespec``. Used by timeouts and wait arguments.
    """

    _fields_ = [("tv_sec", s64), ("tv_nsec", ctypes.c_longlong)]


class io_uring_reg_wait(ctypes.Structure):
    """A wait argument stored in a registered region (6.13), for ``IORING_ENTER_EXT_ARG_REG``."""

    _since_ = "6.13"
    _fields_ = [("ts", kernel_timespec), ("min_wait_usec", u32), ("flags", u32),
                ("sigmask", u64), ("sigmask_sz", u32), ("pad", u32 * 3), ("pad2", u64 * 2)]


class io_uring_getevents_arg(ctypes.Structure):
    """``io_uring_enter`` argument with ``IORING_ENTER_EXT_ARG`` (5.11); pass ``argsz = 24``.

    ``min_wait_usec`` was ``pad`` before 6.12.
    """

    _since_ = "5.11"
    _fields_ = [("sigmask", u64), ("sigmask_sz", u32), ("min_wait_usec", u32), ("ts", u64)]


class io_uring_sync_cancel_reg(ctypes.Structure):
    """``IORING_REGISTER_SYNC_CANCEL`` argument (6.0); ``opcode`` (6.6) used to be padding."""

    _since_ = "6.0"
    _fields_ = [("addr", u64), ("fd", s32), ("flags", u32), ("timeout", kernel_timespec),
                ("opcode", u8), ("pad", u8 * 7), ("pad2", u64 * 3)]


class io_uring_file_index_range(ctypes.Structure):
    """``IORING_REGISTER_FILE_ALLOC_RANGE`` argument (6.0): slots ``[off, off + len)``."""

    _since_ = "6.0"
    _fields_ = [("off", u32), ("len", u32), ("resv", u64)]


class io_uring_recvmsg_out(ctypes.Structure):
    """Header the kernel writes at the start of each buffer of a multishot RECVMSG (6.0).

    The buffer then holds the name, the control data and the payload, with
    the name and control sizes taken from the ``msghdr`` given at submission.
    """

    _since_ = "6.0"
    _fields_ = [("namelen", u32), ("controllen", u32), ("payloadlen", u32), ("flags", u32)]


# ---------------------------------------------------------------------------
# Zero-copy receive (zcrx)
# ---------------------------------------------------------------------------

class io_uring_zcrx_rqe(ctypes.Structure):
    """Refill-queue entry (6.15): hands a received zcrx buffer back to the kernel."""

    _since_ = "6.15"
    _fields_ = [("off", u64), ("len", u32), ("__pad", u32)]


class io_uring_zcrx_cqe(ctypes.Structure):
    """Second half of a 32-byte zcrx CQE (6.15): ``off`` = area id << 48 | offset in the area."""

    _since_ = "6.15"
    _fields_ = [("off", u64), ("__pad", u64)]


class io_uring_zcrx_offsets(ctypes.Structure):
    """Byte offsets of the refill queue's head, tail and entries inside its region (6.15)."""

    _since_ = "6.15"
    _fields_ = [("head", u32), ("tail", u32), ("rqes", u32), ("__resv2", u32),
                ("__resv", u64 * 2)]


class io_uring_zcrx_area_reg(ctypes.Structure):
    """The memory area zcrx receives into (6.15; ``flags``/``dmabuf_fd`` 6.16)."""

    _since_ = "6.15"
    _fields_ = [("addr", u64), ("len", u64), ("rq_area_token", u64), ("flags", u32),
                ("dmabuf_fd", u32), ("__resv2", u64 * 2)]


class io_uring_zcrx_ifq_reg(ctypes.Structure):
    """``IORING_REGISTER_ZCRX_IFQ`` argument (6.15): binds a NIC RX queue to the ring."""

    _since_ = "6.15"
    _fields_ = [("if_idx", u32), ("if_rxq", u32), ("rq_entries", u32), ("flags", u32),
                ("area_ptr", u64), ("region_ptr", u64), ("offsets", io_uring_zcrx_offsets),
                ("zcrx_id", u32), ("__resv2", u32), ("__resv", u64 * 3)]


class io_uring_attr_pi(ctypes.Structure):
    """Protection-information attribute for read/write (6.14), via ``sqe.attr_ptr``."""

    _since_ = "6.14"
    _fields_ = [("flags", u16), ("app_tag", u16), ("len", u32), ("addr", u64),
                ("seed", u64), ("rsvd", u64)]


# ---------------------------------------------------------------------------
# IORING_REGISTER_QUERY (<linux/io_uring/query.h>)
# ---------------------------------------------------------------------------

class io_uring_query_hdr(ctypes.Structure):
    """One ``IORING_REGISTER_QUERY`` request (6.18); chain several through ``next_entry``."""

    _since_ = "6.18"
    _fields_ = [("next_entry", u64), ("query_data", u64), ("query_op", u32), ("size", u32),
                ("result", s32), ("__resv", u32 * 3)]


class io_uring_query_opcode(ctypes.Structure):
    """Result of ``IO_URING_QUERY_OPCODES`` (6.18): what this kernel supports, no ring needed."""

    _since_ = "6.18"
    _fields_ = [("nr_request_opcodes", u32), ("nr_register_opcodes", u32),
                ("feature_flags", u64), ("ring_setup_flags", u64), ("enter_flags", u64),
                ("sqe_flags", u64), ("nr_query_opcodes", u32), ("__pad", u32)]


# ---------------------------------------------------------------------------
# Opcodes
# ---------------------------------------------------------------------------

class IoringOp(VersionedEnum):
    """``enum io_uring_op``: the request opcode in ``sqe.opcode``."""

    IORING_OP_NOP = 0, "5.1"
    IORING_OP_READV = 1, "5.1"
    IORING_OP_WRITEV = 2, "5.1"
    IORING_OP_FSYNC = 3, "5.1"
    IORING_OP_READ_FIXED = 4, "5.1"
    IORING_OP_WRITE_FIXED = 5, "5.1"
    IORING_OP_POLL_ADD = 6, "5.1"
    IORING_OP_POLL_REMOVE = 7, "5.1"
    IORING_OP_SYNC_FILE_RANGE = 8, "5.2"
    IORING_OP_SENDMSG = 9, "5.3"
    IORING_OP_RECVMSG = 10, "5.3"
    IORING_OP_TIMEOUT = 11, "5.4"
    IORING_OP_TIMEOUT_REMOVE = 12, "5.5"
    IORING_OP_ACCEPT = 13, "5.5"
    IORING_OP_ASYNC_CANCEL = 14, "5.5"
    IORING_OP_LINK_TIMEOUT = 15, "5.5"
    IORING_OP_CONNECT = 16, "5.5"
    IORING_OP_FALLOCATE = 17, "5.6"
    IORING_OP_OPENAT = 18, "5.6"
    IORING_OP_CLOSE = 19, "5.6"
    IORING_OP_FILES_UPDATE = 20, "5.6"
    IORING_OP_STATX = 21, "5.6"
    IORING_OP_READ = 22, "5.6"
    IORING_OP_WRITE = 23, "5.6"
    IORING_OP_FADVISE = 24, "5.6"
    IORING_OP_MADVISE = 25, "5.6"
    IORING_OP_SEND = 26, "5.6"
    IORING_OP_RECV = 27, "5.6"
    IORING_OP_OPENAT2 = 28, "5.6"
    IORING_OP_EPOLL_CTL = 29, "5.6"
    IORING_OP_SPLICE = 30, "5.7"
    IORING_OP_PROVIDE_BUFFERS = 31, "5.7"
    IORING_OP_REMOVE_BUFFERS = 32, "5.7"
    IORING_OP_TEE = 33, "5.8"
    IORING_OP_SHUTDOWN = 34, "5.11"
    IORING_OP_RENAMEAT = 35, "5.11"
    IORING_OP_UNLINKAT = 36, "5.11"
    IORING_OP_MKDIRAT = 37, "5.15"
    IORING_OP_SYMLINKAT = 38, "5.15"
    IORING_OP_LINKAT = 39, "5.15"
    IORING_OP_MSG_RING = 40, "5.18"
    IORING_OP_FSETXATTR = 41, "5.19"
    IORING_OP_SETXATTR = 42, "5.19"
    IORING_OP_FGETXATTR = 43, "5.19"
    IORING_OP_GETXATTR = 44, "5.19"
    IORING_OP_SOCKET = 45, "5.19"
    IORING_OP_URING_CMD = 46, "5.19"
    IORING_OP_SEND_ZC = 47, "6.0"
    IORING_OP_SENDMSG_ZC = 48, "6.1"
    IORING_OP_READ_MULTISHOT = 49, "6.7"
    IORING_OP_WAITID = 50, "6.7"
    IORING_OP_FUTEX_WAIT = 51, "6.7"
    IORING_OP_FUTEX_WAKE = 52, "6.7"
    IORING_OP_FUTEX_WAITV = 53, "6.7"
    IORING_OP_FIXED_FD_INSTALL = 54, "6.8"
    IORING_OP_FTRUNCATE = 55, "6.9"
    IORING_OP_BIND = 56, "6.11"
    IORING_OP_LISTEN = 57, "6.11"
    IORING_OP_RECV_ZC = 58, "6.15"
    IORING_OP_EPOLL_WAIT = 59, "6.15"
    IORING_OP_READV_FIXED = 60, "6.15"
    IORING_OP_WRITEV_FIXED = 61, "6.15"
    IORING_OP_PIPE = 62, "6.16"


class IoringRegisterOp(VersionedEnum):
    """``enum io_uring_register_op``: the ``opcode`` argument of ``io_uring_register(2)``.

    ``IORING_REGISTER_USE_REGISTERED_RING`` (6.3), a bit OR-ed into the
    opcode, is a separate constant.
    """

    IORING_REGISTER_BUFFERS = 0, "5.1"
    IORING_UNREGISTER_BUFFERS = 1, "5.1"
    IORING_REGISTER_FILES = 2, "5.1"
    IORING_UNREGISTER_FILES = 3, "5.1"
    IORING_REGISTER_EVENTFD = 4, "5.2"
    IORING_UNREGISTER_EVENTFD = 5, "5.2"
    IORING_REGISTER_FILES_UPDATE = 6, "5.5"
    IORING_REGISTER_EVENTFD_ASYNC = 7, "5.6"
    IORING_REGISTER_PROBE = 8, "5.6"
    IORING_REGISTER_PERSONALITY = 9, "5.6"
    IORING_UNREGISTER_PERSONALITY = 10, "5.6"
    IORING_REGISTER_RESTRICTIONS = 11, "5.10"
    IORING_REGISTER_ENABLE_RINGS = 12, "5.10"
    IORING_REGISTER_FILES2 = 13, "5.13"
    IORING_REGISTER_FILES_UPDATE2 = 14, "5.13"
    IORING_REGISTER_BUFFERS2 = 15, "5.13"
    IORING_REGISTER_BUFFERS_UPDATE = 16, "5.13"
    IORING_REGISTER_IOWQ_AFF = 17, "5.14"
    IORING_UNREGISTER_IOWQ_AFF = 18, "5.14"
    IORING_REGISTER_IOWQ_MAX_WORKERS = 19, "5.15"
    IORING_REGISTER_RING_FDS = 20, "5.18"
    IORING_UNREGISTER_RING_FDS = 21, "5.18"
    IORING_REGISTER_PBUF_RING = 22, "5.19"
    IORING_UNREGISTER_PBUF_RING = 23, "5.19"
    IORING_REGISTER_SYNC_CANCEL = 24, "6.0"
    IORING_REGISTER_FILE_ALLOC_RANGE = 25, "6.0"
    IORING_REGISTER_PBUF_STATUS = 26, "6.8"
    IORING_REGISTER_NAPI = 27, "6.9"
    IORING_UNREGISTER_NAPI = 28, "6.9"
    IORING_REGISTER_CLOCK = 29, "6.12"
    IORING_REGISTER_CLONE_BUFFERS = 30, "6.12"
    IORING_REGISTER_SEND_MSG_RING = 31, "6.13"
    # 32 was reserved in 6.13/6.14 and got its meaning in 6.15.
    IORING_REGISTER_ZCRX_IFQ = 32, "6.15"
    IORING_REGISTER_RESIZE_RINGS = 33, "6.13"
    IORING_REGISTER_MEM_REGION = 34, "6.13"
    IORING_REGISTER_QUERY = 35, "6.18"


# ---------------------------------------------------------------------------
# io_uring_setup / io_uring_enter flags and ring flags
# ---------------------------------------------------------------------------

class IoringSetup(VersionedFlag):
    """``IORING_SETUP_*``: ``io_uring_params.flags``."""

    IORING_SETUP_IOPOLL = 1 << 0, "5.1"
    IORING_SETUP_SQPOLL = 1 << 1, "5.1"
    IORING_SETUP_SQ_AFF = 1 << 2, "5.1"
    IORING_SETUP_CQSIZE = 1 << 3, "5.5"
    IORING_SETUP_CLAMP = 1 << 4, "5.6"
    IORING_SETUP_ATTACH_WQ = 1 << 5, "5.6"
    IORING_SETUP_R_DISABLED = 1 << 6, "5.10"
    IORING_SETUP_SUBMIT_ALL = 1 << 7, "5.18"
    IORING_SETUP_COOP_TASKRUN = 1 << 8, "5.19"
    IORING_SETUP_TASKRUN_FLAG = 1 << 9, "5.19"
    IORING_SETUP_SQE128 = 1 << 10, "5.19"
    IORING_SETUP_CQE32 = 1 << 11, "5.19"
    IORING_SETUP_SINGLE_ISSUER = 1 << 12, "6.0"
    IORING_SETUP_DEFER_TASKRUN = 1 << 13, "6.1"
    IORING_SETUP_NO_MMAP = 1 << 14, "6.5"
    IORING_SETUP_REGISTERED_FD_ONLY = 1 << 15, "6.5"
    IORING_SETUP_NO_SQARRAY = 1 << 16, "6.6"
    IORING_SETUP_HYBRID_IOPOLL = 1 << 17, "6.13"
    IORING_SETUP_CQE_MIXED = 1 << 18, "6.18"


class IoringFeat(VersionedFlag):
    """``IORING_FEAT_*``: ``io_uring_params.features``, what the kernel says it can do."""

    IORING_FEAT_SINGLE_MMAP = 1 << 0, "5.4"
    IORING_FEAT_NODROP = 1 << 1, "5.5"
    IORING_FEAT_SUBMIT_STABLE = 1 << 2, "5.5"
    IORING_FEAT_RW_CUR_POS = 1 << 3, "5.6"
    IORING_FEAT_CUR_PERSONALITY = 1 << 4, "5.6"
    IORING_FEAT_FAST_POLL = 1 << 5, "5.7"
    IORING_FEAT_POLL_32BITS = 1 << 6, "5.9"
    IORING_FEAT_SQPOLL_NONFIXED = 1 << 7, "5.11"
    IORING_FEAT_EXT_ARG = 1 << 8, "5.11"
    IORING_FEAT_NATIVE_WORKERS = 1 << 9, "5.12"
    IORING_FEAT_RSRC_TAGS = 1 << 10, "5.13"
    IORING_FEAT_CQE_SKIP = 1 << 11, "5.17"
    IORING_FEAT_LINKED_FILE = 1 << 12, "5.17"
    IORING_FEAT_REG_REG_RING = 1 << 13, "6.3"
    IORING_FEAT_RECVSEND_BUNDLE = 1 << 14, "6.10"
    IORING_FEAT_MIN_TIMEOUT = 1 << 15, "6.12"
    IORING_FEAT_RW_ATTR = 1 << 16, "6.14"
    IORING_FEAT_NO_IOWAIT = 1 << 17, "6.15"


class IoringEnter(VersionedFlag):
    """``IORING_ENTER_*``: the ``flags`` argument of ``io_uring_enter(2)``."""

    IORING_ENTER_GETEVENTS = 1 << 0, "5.1"
    IORING_ENTER_SQ_WAKEUP = 1 << 1, "5.1"
    IORING_ENTER_SQ_WAIT = 1 << 2, "5.10"
    IORING_ENTER_EXT_ARG = 1 << 3, "5.11"
    IORING_ENTER_REGISTERED_RING = 1 << 4, "5.18"
    IORING_ENTER_ABS_TIMER = 1 << 5, "6.12"
    IORING_ENTER_EXT_ARG_REG = 1 << 6, "6.13"
    IORING_ENTER_NO_IOWAIT = 1 << 7, "6.15"


class IosqeFlagsBit(VersionedEnum):
    """``enum io_uring_sqe_flags_bit``: bit numbers of the ``IOSQE_*`` flags."""

    IOSQE_FIXED_FILE_BIT = 0, "5.1"
    IOSQE_IO_DRAIN_BIT = 1, "5.2"
    IOSQE_IO_LINK_BIT = 2, "5.3"
    IOSQE_IO_HARDLINK_BIT = 3, "5.5"
    IOSQE_ASYNC_BIT = 4, "5.6"
    IOSQE_BUFFER_SELECT_BIT = 5, "5.7"
    IOSQE_CQE_SKIP_SUCCESS_BIT = 6, "5.17"


class IosqeFlags(VersionedFlag):
    """``IOSQE_*``: ``sqe.flags``, how a request is issued and linked."""

    IOSQE_FIXED_FILE = 1 << 0, "5.1"
    IOSQE_IO_DRAIN = 1 << 1, "5.2"
    IOSQE_IO_LINK = 1 << 2, "5.3"
    IOSQE_IO_HARDLINK = 1 << 3, "5.5"
    IOSQE_ASYNC = 1 << 4, "5.6"
    IOSQE_BUFFER_SELECT = 1 << 5, "5.7"
    IOSQE_CQE_SKIP_SUCCESS = 1 << 6, "5.17"


class IoringCqeFlags(VersionedFlag):
    """``IORING_CQE_F_*``: ``cqe.flags`` (the upper 16 bits carry a buffer id with F_BUFFER)."""

    IORING_CQE_F_BUFFER = 1 << 0, "5.7"
    IORING_CQE_F_MORE = 1 << 1, "5.13"
    IORING_CQE_F_SOCK_NONEMPTY = 1 << 2, "5.19"
    IORING_CQE_F_NOTIF = 1 << 3, "6.0"
    IORING_CQE_F_BUF_MORE = 1 << 4, "6.12"
    # A filler CQE that keeps a 32-byte CQE from wrapping in a CQE_MIXED ring.
    IORING_CQE_F_SKIP = 1 << 5, "6.18"
    IORING_CQE_F_32 = 1 << 15, "6.18"
    # Only on SOCKET_URING_OP_TX_TIMESTAMP completions: bit 16 is not a buffer id there.
    IORING_CQE_F_TSTAMP_HW = 1 << 16, "6.17"


class IoringSqFlags(VersionedFlag):
    """``IORING_SQ_*``: the SQ ring's ``flags`` word, written by the kernel."""

    IORING_SQ_NEED_WAKEUP = 1 << 0, "5.1"
    IORING_SQ_CQ_OVERFLOW = 1 << 1, "5.9"  # approx.
    IORING_SQ_TASKRUN = 1 << 2, "5.19"


class IoringCqFlags(VersionedFlag):
    """``IORING_CQ_*``: the CQ ring's ``flags`` word, written by the application."""

    IORING_CQ_EVENTFD_DISABLED = 1 << 0, "5.8"


class IoringOff(VersionedEnum):
    """``IORING_OFF_*``: mmap offsets on the ring fd that select what gets mapped.

    Regions the kernel allocates (6.13+: registered wait region, zcrx refill
    queue) are mapped at the offset it reports in ``io_uring_region_desc.mmap_offset``.
    """

    IORING_OFF_SQ_RING = 0, "5.1"
    IORING_OFF_CQ_RING = 0x8000000, "5.1"
    IORING_OFF_SQES = 0x10000000, "5.1"
    # | bgid << IORING_OFF_PBUF_SHIFT, for buffer rings registered with IOU_PBUF_RING_MMAP
    IORING_OFF_PBUF_RING = 0x80000000, "6.4"


# ---------------------------------------------------------------------------
# Per-opcode flag words
# ---------------------------------------------------------------------------

class IoringFsync(VersionedFlag):
    """``sqe.fsync_flags`` of ``IORING_OP_FSYNC``."""

    IORING_FSYNC_DATASYNC = 1 << 0, "5.1"


class IoringTimeout(VersionedFlag):
    """``sqe.timeout_flags`` of TIMEOUT, TIMEOUT_REMOVE and LINK_TIMEOUT."""

    IORING_TIMEOUT_ABS = 1 << 0, "5.5"
    IORING_TIMEOUT_UPDATE = 1 << 1, "5.11"
    IORING_TIMEOUT_BOOTTIME = 1 << 2, "5.15"
    IORING_TIMEOUT_REALTIME = 1 << 3, "5.15"
    IORING_LINK_TIMEOUT_UPDATE = 1 << 4, "5.15"
    IORING_TIMEOUT_ETIME_SUCCESS = 1 << 5, "5.16"
    IORING_TIMEOUT_MULTISHOT = 1 << 6, "6.4"
    IORING_TIMEOUT_CLOCK_MASK = (1 << 2) | (1 << 3), "5.15"
    IORING_TIMEOUT_UPDATE_MASK = (1 << 1) | (1 << 4), "5.15"


class IoringSplice(VersionedFlag):
    """``sqe.splice_flags`` bits io_uring adds to splice(2)'s flags."""

    # The input fd (splice_fd_in) is a fixed-file index.
    SPLICE_F_FD_IN_FIXED = 1 << 31, "5.7"


class IoringPoll(VersionedFlag):
    """POLL_ADD/POLL_REMOVE command flags, in ``sqe.len`` (the event mask: ``poll32_events``)."""

    IORING_POLL_ADD_MULTI = 1 << 0, "5.13"
    IORING_POLL_UPDATE_EVENTS = 1 << 1, "5.13"
    IORING_POLL_UPDATE_USER_DATA = 1 << 2, "5.13"
    IORING_POLL_ADD_LEVEL = 1 << 3, "6.0"


class IoringAsyncCancel(VersionedFlag):
    """``sqe.cancel_flags`` of ASYNC_CANCEL, and ``io_uring_sync_cancel_reg.flags``."""

    IORING_ASYNC_CANCEL_ALL = 1 << 0, "5.19"
    IORING_ASYNC_CANCEL_FD = 1 << 1, "5.19"
    IORING_ASYNC_CANCEL_ANY = 1 << 2, "5.19"
    IORING_ASYNC_CANCEL_FD_FIXED = 1 << 3, "6.0"
    IORING_ASYNC_CANCEL_USERDATA = 1 << 4, "6.6"
    # The opcode to match goes in sqe.len.
    IORING_ASYNC_CANCEL_OP = 1 << 5, "6.6"


class IoringRecvSend(VersionedFlag):
    """Send/recv flags, in ``sqe.ioprio`` (``msg_flags`` holds the ``MSG_*`` flags)."""

    IORING_RECVSEND_POLL_FIRST = 1 << 0, "5.19"
    IORING_RECV_MULTISHOT = 1 << 1, "6.0"
    IORING_RECVSEND_FIXED_BUF = 1 << 2, "6.0"
    IORING_SEND_ZC_REPORT_USAGE = 1 << 3, "6.1"
    # Needs IOSQE_BUFFER_SELECT: one request sends/receives several provided buffers.
    IORING_RECVSEND_BUNDLE = 1 << 4, "6.10"
    IORING_SEND_VECTORIZED = 1 << 5, "6.17"


class IoringNotifUsage(VersionedFlag):
    """Bits of ``cqe.res`` in a SEND_ZC notification CQE (with ``IORING_SEND_ZC_REPORT_USAGE``)."""

    # Set when the kernel had to copy (at least part of) the data after all.
    IORING_NOTIF_USAGE_ZC_COPIED = 1 << 31, "6.1"


class IoringAccept(VersionedFlag):
    """Accept flags, in ``sqe.ioprio`` (``accept_flags`` holds ``SOCK_NONBLOCK|SOCK_CLOEXEC``)."""

    IORING_ACCEPT_MULTISHOT = 1 << 0, "5.19"
    IORING_ACCEPT_DONTWAIT = 1 << 1, "6.10"
    IORING_ACCEPT_POLL_FIRST = 1 << 2, "6.10"


class IoringMsgRingCmd(VersionedEnum):
    """``enum io_uring_msg_ring_flags``: the MSG_RING command, in ``sqe.addr``."""

    IORING_MSG_DATA = 0, "5.18"
    IORING_MSG_SEND_FD = 1, "6.0"


class IoringMsgRing(VersionedFlag):
    """``sqe.msg_ring_flags`` of MSG_RING."""

    IORING_MSG_RING_CQE_SKIP = 1 << 0, "6.0"
    # The target CQE's flags are taken from sqe.file_index.
    IORING_MSG_RING_FLAGS_PASS = 1 << 1, "6.3"


class IoringFixedFdInstall(VersionedFlag):
    """``sqe.install_fd_flags`` of FIXED_FD_INSTALL."""

    IORING_FIXED_FD_NO_CLOEXEC = 1 << 0, "6.8"


class IoringNop(VersionedFlag):
    """``sqe.nop_flags`` of NOP: ways to exercise io_uring's own paths without I/O."""

    IORING_NOP_INJECT_RESULT = 1 << 0, "6.10"  # approx.
    IORING_NOP_FILE = 1 << 1, "6.13"  # approx.
    IORING_NOP_FIXED_FILE = 1 << 2, "6.13"  # approx.
    IORING_NOP_FIXED_BUFFER = 1 << 3, "6.13"  # approx.
    IORING_NOP_TW = 1 << 4, "6.16"  # approx.
    IORING_NOP_CQE32 = 1 << 5, "6.18"


class IoringUringCmd(VersionedFlag):
    """``sqe.uring_cmd_flags`` of URING_CMD (the top 8 bits are the kernel's)."""

    IORING_URING_CMD_FIXED = 1 << 0, "6.1"


class IoringRsrcRegister(VersionedFlag):
    """``io_uring_rsrc_register.flags``."""

    # Register nr empty slots without passing an array of -1s.
    IORING_RSRC_REGISTER_SPARSE = 1 << 0, "5.19"


class IoUringOpFlags(VersionedFlag):
    """``io_uring_probe_op.flags``."""

    IO_URING_OP_SUPPORTED = 1 << 0, "5.6"


class IoringRestriction(VersionedEnum):
    """``enum io_uring_register_restriction_op``: ``io_uring_restriction.opcode``."""

    IORING_RESTRICTION_REGISTER_OP = 0, "5.10"
    IORING_RESTRICTION_SQE_OP = 1, "5.10"
    IORING_RESTRICTION_SQE_FLAGS_ALLOWED = 2, "5.10"
    IORING_RESTRICTION_SQE_FLAGS_REQUIRED = 3, "5.10"


class IoWqType(VersionedEnum):
    """``enum io_wq_type``: index into ``IORING_REGISTER_IOWQ_MAX_WORKERS``'s two counts."""

    IO_WQ_BOUND = 0, "5.15"
    IO_WQ_UNBOUND = 1, "5.15"


class IoringRegisterClone(VersionedFlag):
    """``io_uring_clone_buffers.flags``."""

    IORING_REGISTER_SRC_REGISTERED = 1 << 0, "6.12"
    IORING_REGISTER_DST_REPLACE = 1 << 1, "6.13"


class IouPbufRing(VersionedFlag):
    """``enum io_uring_register_pbuf_ring_flags``: ``io_uring_buf_reg.flags``."""

    # The kernel allocates the ring; mmap it at IORING_OFF_PBUF_RING | bgid << 16.
    IOU_PBUF_RING_MMAP = 1, "6.4"
    # Buffers are consumed a piece at a time (IORING_CQE_F_BUF_MORE).
    IOU_PBUF_RING_INC = 2, "6.12"


class IoUringNapiOp(VersionedEnum):
    """``enum io_uring_napi_op``: ``io_uring_napi.opcode``."""

    IO_URING_NAPI_REGISTER_OP = 0, "6.14"  # approx.
    IO_URING_NAPI_STATIC_ADD_ID = 1, "6.14"  # approx.
    IO_URING_NAPI_STATIC_DEL_ID = 2, "6.14"  # approx.


class IoUringNapiTracking(VersionedEnum):
    """``enum io_uring_napi_tracking_strategy``: ``io_uring_napi.op_param`` when registering."""

    IO_URING_NAPI_TRACKING_DYNAMIC = 0, "6.14"  # approx.
    IO_URING_NAPI_TRACKING_STATIC = 1, "6.14"  # approx.
    IO_URING_NAPI_TRACKING_INACTIVE = 255, "6.14"  # approx.


class IoringMemRegionType(VersionedFlag):
    """``io_uring_region_desc.flags``."""

    IORING_MEM_REGION_TYPE_USER = 1, "6.13"


class IoringMemRegionReg(VersionedFlag):
    """``io_uring_mem_region_reg.flags``."""

    IORING_MEM_REGION_REG_WAIT_ARG = 1, "6.13"


class IoringRegWait(VersionedFlag):
    """``io_uring_reg_wait.flags``."""

    IORING_REG_WAIT_TS = 1 << 0, "6.13"


class SocketUringOp(VersionedEnum):
    """``enum io_uring_socket_op``: ``sqe.cmd_op`` of URING_CMD on a socket."""

    SOCKET_URING_OP_SIOCINQ = 0, "6.7"  # approx.
    SOCKET_URING_OP_SIOCOUTQ = 1, "6.7"  # approx.
    SOCKET_URING_OP_GETSOCKOPT = 2, "6.7"
    SOCKET_URING_OP_SETSOCKOPT = 3, "6.7"
    SOCKET_URING_OP_TX_TIMESTAMP = 4, "6.17"


class IoringZcrxArea(VersionedFlag):
    """``enum io_uring_zcrx_area_flags``: ``io_uring_zcrx_area_reg.flags``."""

    IORING_ZCRX_AREA_DMABUF = 1, "6.16"


class IoringRwAttr(VersionedFlag):
    """Attribute bits in ``sqe.attr_type_mask`` of read/write."""

    IORING_RW_ATTR_FLAG_PI = 1 << 0, "6.14"


class IoUringQueryOp(VersionedEnum):
    """``io_uring_query_hdr.query_op``."""

    IO_URING_QUERY_OPCODES = 0, "6.18"


# ---------------------------------------------------------------------------
# Lone constants: shifts, masks and sentinels
# ---------------------------------------------------------------------------

# file_index value asking the kernel to pick a free direct-descriptor slot.
IORING_FILE_INDEX_ALLOC = VersionedInt(0xFFFFFFFF, "5.19", "IORING_FILE_INDEX_ALLOC")
IORING_CQE_BUFFER_SHIFT = VersionedInt(16, "5.7", "IORING_CQE_BUFFER_SHIFT")
IORING_OFF_PBUF_SHIFT = VersionedInt(16, "6.4", "IORING_OFF_PBUF_SHIFT")
IORING_OFF_MMAP_MASK = VersionedInt(0xF8000000, "6.4", "IORING_OFF_MMAP_MASK")
IORING_REGISTER_USE_REGISTERED_RING = VersionedInt(
    1 << 31, "6.3", "IORING_REGISTER_USE_REGISTERED_RING")
# fd value that leaves a slot alone in a files update.
IORING_REGISTER_FILES_SKIP = VersionedInt(-2, "5.12", "IORING_REGISTER_FILES_SKIP")
IORING_URING_CMD_MASK = VersionedInt(
    IoringUringCmd.IORING_URING_CMD_FIXED, "6.2", "IORING_URING_CMD_MASK")  # approx.
IORING_TIMESTAMP_HW_SHIFT = VersionedInt(16, "6.17", "IORING_TIMESTAMP_HW_SHIFT")
IORING_TIMESTAMP_TYPE_SHIFT = VersionedInt(17, "6.17", "IORING_TIMESTAMP_TYPE_SHIFT")
IORING_ZCRX_AREA_SHIFT = VersionedInt(48, "6.15", "IORING_ZCRX_AREA_SHIFT")
IORING_ZCRX_AREA_MASK = VersionedInt(
    ~((1 << 48) - 1) & 0xFFFFFFFFFFFFFFFF, "6.15", "IORING_ZCRX_AREA_MASK")

VERSIONED_CLASSES = (
    IoringOp, IoringRegisterOp, IoringSetup, IoringFeat, IoringEnter, IosqeFlagsBit,
    IosqeFlags, IoringCqeFlags, IoringSqFlags, IoringCqFlags, IoringOff, IoringFsync,
    IoringTimeout, IoringSplice, IoringPoll, IoringAsyncCancel, IoringRecvSend,
    IoringNotifUsage, IoringAccept, IoringMsgRingCmd, IoringMsgRing, IoringFixedFdInstall,
    IoringNop, IoringUringCmd, IoringRsrcRegister, IoUringOpFlags, IoringRestriction,
    IoWqType, IoringRegisterClone, IouPbufRing, IoUringNapiOp, IoUringNapiTracking,
    IoringMemRegionType, IoringMemRegionReg, IoringRegWait, SocketUringOp, IoringZcrxArea,
    IoringRwAttr, IoUringQueryOp,
)

STRUCTS = (
    io_uring_sqe, io_uring_cqe, io_uring_cqe32, io_sqring_offsets, io_cqring_offsets,
    io_uring_params, io_uring_files_update, io_uring_region_desc, io_uring_mem_region_reg,
    io_uring_rsrc_register, io_uring_rsrc_update, io_uring_rsrc_update2, io_uring_probe_op,
    io_uring_probe, io_uring_restriction, io_uring_clock_register, io_uring_clone_buffers,
    io_uring_buf, io_uring_buf_ring, io_uring_buf_reg, io_uring_buf_status, io_uring_napi,
    kernel_timespec, io_uring_reg_wait, io_uring_getevents_arg, io_uring_sync_cancel_reg,
    io_uring_file_index_range, io_uring_recvmsg_out, io_uring_zcrx_rqe, io_uring_zcrx_cqe,
    io_uring_zcrx_offsets, io_uring_zcrx_area_reg, io_uring_zcrx_ifq_reg, io_uring_attr_pi,
    io_uring_query_hdr, io_uring_query_opcode,
)

# Every member is also a module-level name spelled as in the C header, so C code
# and man pages translate line by line (IORING_OP_RECV, IOSQE_BUFFER_SELECT, ...).
_member_names = []
for _cls in VERSIONED_CLASSES:
    for _name, _member in _cls.__members__.items():
        globals()[_name] = _member
        _member_names.append(_name)

__all__ = [
    *(cls.__name__ for cls in STRUCTS), *(cls.__name__ for cls in VERSIONED_CLASSES),
    *_member_names, *(name for name, value in list(globals().items())
                      if isinstance(value, VersionedInt)),
    "probe_buffer", "VERSIONED_CLASSES", "STRUCTS",
]
del _cls, _name, _member, _member_names
