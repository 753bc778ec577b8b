"""A pure-Python stand-in for the kernel side of io_uring.

:class:`SimKernel` lays out the shared memory exactly as Linux does (``struct
io_rings``: SQ and CQ head/tail at 0/4/8/12, masks, entries, flags, then the CQE
array at 64 and the SQ index array after it), hands out anonymous mappings in
place of the ring fd's, and implements ``enter`` by walking the SQ ring and
posting CQEs the way the kernel does. Give it to :class:`uring.Ring` as
``kernel=`` and the very same user-side code runs against it::

    >>> from uring import Ring, ops
    >>> from uring.sim import SimKernel
    >>> with Ring(4, kernel=SimKernel(start=2**32 - 2)) as ring:
    ...     for ud in range(3):
    ...         _ = ops.nop(ring, ud)
    ...     _ = ring.submit_and_wait(3)
    ...     [c.user_data for c in ring.copy_cqes()]
    [0, 1, 2]

Things the real kernel makes hard to reach on demand are one argument away:
indices that start just below 2**32 (``start``), completions held back and
released in any order (``defer``), and a CQ that overflows (post more than
``cq_entries``; with ``nodrop`` the extra CQEs wait in an overflow list as with
``IORING_FEAT_NODROP``, without it they are counted in ``cq.overflow`` and lost).
It executes ``IORING_OP_NOP`` (and ``IORING_NOP_INJECT_RESULT``) and, from
**provided-buffer rings**, ``IORING_OP_READ`` and ``IORING_OP_RECV`` with
``IOSQE_BUFFER_SELECT``; any other request completes with ``-EINVAL``, so a
test sees the same error a kernel without that opcode would give.

Buffer rings work as in Linux 6.18: ``register(IORING_REGISTER_PBUF_RING)``
takes ring memory the program allocated (``IOU_PBUF_RING_MMAP`` and
``IOU_PBUF_RING_INC`` are refused with ``EINVAL``), the simulated kernel
keeps each group's u16 head to itself, and a request that selects a buffer
loads the program's tail (an acquire) and reads the entry at its head. The
16-bit counters start at ``pbuf_start``, so a test reaches the 2**16 wrap
at once; ``IORING_REGISTER_PBUF_STATUS`` reads the head back.

The data comes from a **source**, since there is no file or socket behind the
fd (which is not looked at): a function ``source(fd, user_data, most)``
returning the bytes the request receives, of which the sim keeps at most
``most``. The default is an endless one, :func:`payload`: every request gets
all it may take, which is its SQE ``len`` or the buffer's length, whichever is
smaller (``len`` 0 meaning the buffer's length), as the kernel decides. With
``bundles=True`` the sim also reports ``IORING_FEAT_RECVSEND_BUNDLE`` and a
RECV with ``IORING_RECVSEND_BUNDLE`` fills consecutive buffers in one CQE::

    >>> from uring.buffers import BufferRing
    >>> with Ring(4, kernel=SimKernel(pbuf_start=2**16 - 1, bundles=True)) as ring:
    ...     group = BufferRing(ring, 7, 4, 8)
    ...     _ = ops.read(ring, 1, 0, None, nbytes=5, buf_group=7)
    ...     _ = ops.recv(ring, 2, 0, None, nbytes=20, buf_group=7, bundle=True)
    ...     _ = ring.submit_and_wait(2)
    ...     one, two = ring.copy_cqes()
    ...     bytes(group.take(one)), [(bid, bytes(v)) for bid, v in group.take_bundle(two)]
    ...     group.kernel_head()
    ...     group.close()
    (b'<1><1', [(1, b'<2><2><2'), (2, b'><2><2><')])
    2

The 20 bytes asked for map buffers 1 and 2 whole and would need only 4 bytes
of buffer 3; since 6.16 (and in the stable kernels it went back to) Linux
leaves such a truncated end piece out of a bundle, and so does the sim. The
same holds when the *socket* holds less than the buffers would take: Linux
maps for ``msg_inq``, so a source that gives fewer bytes gets whole buffers
only, the rest stays queued for that fd's next receive, and the CQE carries
``IORING_CQE_F_SOCK_NONEMPTY``.

Program memory is reached as the kernel reaches it, never by dereferencing a
pointer: an address that is not mapped, or a read-only page written to, gives
``-EFAULT`` in the CQE (or ``OSError(EFAULT)`` from ``register``), as Linux
does, instead of crashing the interpreter.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import mmap
import os
import struct
from typing import Callable

from . import abi
from .abi import (
    IORING_CQE_BUFFER_SHIFT,
    IORING_CQE_F_BUFFER,
    IORING_CQE_F_SOCK_NONEMPTY,
    IORING_ENTER_EXT_ARG,
    IORING_ENTER_GETEVENTS,
    IORING_RECVSEND_BUNDLE,
    IORING_RECVSEND_POLL_FIRST,
    IORING_SETUP_CQSIZE,
    IORING_SETUP_NO_SQARRAY,
    IORING_SQ_CQ_OVERFLOW,
    IOSQE_BUFFER_SELECT,
    IOSQE_CQE_SKIP_SUCCESS,
    IOU_PBUF_RING_INC,
    IOU_PBUF_RING_MMAP,
)

__all__ = ["SimKernel", "SIM_FEATURES", "payload"]

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
_SQE_HEAD = struct.Struct("<BBHiQQIIQH")     # the first 42 bytes of an SQE, to buf_index
_CQE = struct.Struct("<QiI")
_BUF = struct.Struct("<QIH")                 # struct io_uring_buf: addr, len, bid
_BUF_TAIL = 7                                # u16 index of io_uring_buf_ring.tail
_F_BUFFER = int(IORING_CQE_F_BUFFER)
_BUFFER_SHIFT = int(IORING_CQE_BUFFER_SHIFT)
_BUFFER_SELECT = int(IOSQE_BUFFER_SELECT)
_BUNDLE = int(IORING_RECVSEND_BUNDLE)
_POLL_FIRST = int(IORING_RECVSEND_POLL_FIRST)
_SOCK_NONEMPTY = int(IORING_CQE_F_SOCK_NONEMPTY)
_PBUF_FLAGS = int(IOU_PBUF_RING_MMAP | IOU_PBUF_RING_INC)
# The kernel's bounds on one bundle (io_uring/kbuf.c): at most UIO_MAXIOV
# buffers looked at, and PEEK_MAX_IMPORT mapped for one receive.
_UIO_MAXIOV, _PEEK_MAX_IMPORT = 1024, 256
_INT_MAX = 2**31 - 1

# Offsets of struct io_rings (the kernel's layout, as reported by BTF on 6.18).
_SQ_HEAD, _SQ_TAIL, _CQ_HEAD, _CQ_TAIL = 0, 4, 8, 12
_SQ_MASK, _CQ_MASK, _SQ_ENTRIES, _CQ_ENTRIES = 16, 20, 24, 28
_SQ_DROPPED, _SQ_FLAGS, _CQ_FLAGS, _CQ_OVERFLOW = 32, 36, 40, 44
_CQES = 64

#: Features the simulator offers: one mapping for both rings, no dropped CQEs
#: (unless ``nodrop=False``), and waits with a timeout.
SIM_FEATURES = (abi.IORING_FEAT_SINGLE_MMAP | abi.IORING_FEAT_NODROP
                | abi.IORING_FEAT_EXT_ARG)

_fds = itertools.count(1 << 20)  # fake descriptors, far above real ones


def _roundup_pow2(n: int) -> int:
    return 1 << (n - 1).bit_length()


def payload(user_data: int, length: int) -> bytes:
    """The simulator's data for request ``user_data``: ``<user_data>`` repeated, cut to ``length``.

    The default source of :class:`SimKernel`, so a test can tell from the bytes
    which request filled a buffer, and where in its data each piece belongs::

        >>> payload(7, 10)
        b'<7><7><7><'
    """
    unit = b"<%d>" % user_data
    return (unit * (length // len(unit) + 1))[:length]


def _endless(fd: int, user_data: int, most: int) -> bytes:
    return payload(user_data, most)


# -- user memory, as the kernel reaches it -------------------------------------
#
# The kernel never dereferences a user pointer directly: copy_from_user and
# copy_to_user fault safely and the system call returns -EFAULT. A simulator
# that used ctypes.memmove or from_address on a program's address would crash
# the interpreter instead. process_vm_readv/writev on our own pid are the same
# safe copies (they respect page protections, as copy_to_user does: a write
# into a read-only mapping faults); where seccomp forbids them, /proc/self/mem
# still fails with EIO rather than crashing (but writes through protections).

class _iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


_libc = ctypes.CDLL(None, use_errno=True)
_process_vm = {}
for _name in ("process_vm_readv", "process_vm_writev"):
    _fn = getattr(_libc, _name, None)
    if _fn is not None:
        _fn.argtypes = [ctypes.c_int, ctypes.POINTER(_iovec), ctypes.c_ulong,
                        ctypes.POINTER(_iovec), ctypes.c_ulong, ctypes.c_ulong]
        _fn.restype = ctypes.c_ssize_t
        _process_vm[_name] = _fn
del _name, _fn


def _user_copy(name: str, local, addr: int, n: int) -> None:
    """Move ``n`` bytes between ``local`` (a ctypes buffer) and user address ``addr``."""
    if not n:
        return
    if not addr:
        raise OSError(errno.EFAULT, "the simulator was given a NULL address")
    fn = _process_vm.get(name)
    if fn is not None:
        here = _iovec(ctypes.addressof(local), n)
        there = _iovec(addr, n)
        done = fn(os.getpid(), ctypes.byref(here), 1, ctypes.byref(there), 1, 0)
        if done == n:
            return
        err = ctypes.get_errno() if done < 0 else errno.EFAULT
        if err not in (errno.ENOSYS, errno.EPERM):
            raise OSError(errno.EFAULT, f"bad address {addr:#x} ({n} bytes)")
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        try:
            if name == "process_vm_readv":
                data = os.pread(mem.fileno(), n, addr)
                if len(data) != n:
                    raise OSError(errno.EFAULT, "short read")
                ctypes.memmove(local, data, n)
            elif os.pwrite(mem.fileno(), bytes(local)[:n], addr) != n:
                raise OSError(errno.EFAULT, "short write")
        except OSError:
            raise OSError(errno.EFAULT, f"bad address {addr:#x} ({n} bytes)") from None


def copy_from_user(addr: int, n: int) -> bytes:
    """The ``n`` bytes at ``addr``, or ``OSError(EFAULT)`` if they cannot be read."""
    local = ctypes.create_string_buffer(n)
    _user_copy("process_vm_readv", local, addr, n)
    return local.raw


def copy_to_user(addr: int, data: bytes) -> None:
    """Store ``data`` at ``addr``, or raise ``OSError(EFAULT)`` if it cannot be written."""
    local = ctypes.create_string_buffer(bytes(data), len(data))
    _user_copy("process_vm_writev", local, addr, len(data))


def _arg_address(arg) -> int:
    if arg is None:
        raise OSError(errno.EFAULT, "io_uring_register: arg is NULL")
    return arg if isinstance(arg, int) else ctypes.addressof(arg)


def _struct_at(cls, arg):
    """A copy of the ``io_uring_register`` argument ``arg`` (ctypes object or address).

    ``EFAULT`` if it cannot be read, as from the kernel's copy_from_user.
    """
    return cls.from_buffer_copy(copy_from_user(_arg_address(arg), ctypes.sizeof(cls)))


def _struct_store(arg, obj) -> None:
    """Write ``obj`` back to the argument's memory (the kernel's copy_to_user)."""
    copy_to_user(_arg_address(arg), bytes(obj))


class _BufferList:
    """One ring-mapped buffer group, the kernel's ``struct io_buffer_list``.

    The ring memory is the program's: the sim reads the entries and the tail
    the program writes there, and keeps the head to itself, as Linux does.
    Every access is a safe copy (:func:`copy_from_user`): a ring the program
    unmapped gives ``EFAULT`` here, never a crash.
    """

    def __init__(self, addr: int, entries: int, head: int) -> None:
        self.addr = addr
        self.mask = entries - 1
        self.entries = entries
        self.head = head

    def tail(self) -> int:
        """The program's u16 tail (``io_uring_buf_ring.tail``, at byte 14)."""
        # The copy is a system call: a full barrier, at least the acquire the
        # kernel's smp_load_acquire(&br->tail) gives, so the entries the
        # program wrote before its release store of the tail are visible.
        return struct.unpack("<H", copy_from_user(self.addr + 2 * _BUF_TAIL, 2))[0]

    def available(self) -> int:
        """Published entries not yet taken: ``tail - head`` (u16)."""
        n = (self.tail() - self.head) & _U16
        if n > self.entries:
            raise AssertionError(f"program published {n} buffers in a ring of {self.entries}")
        return n

    def entry(self, i: int) -> tuple[int, int, int]:
        """``(addr, len, bid)`` of the entry ``i`` places after the head."""
        at = self.addr + ((self.head + i) & self.mask) * 16
        return _BUF.unpack_from(copy_from_user(at, _BUF.size))

    def set_len(self, i: int, length: int) -> None:
        """Store entry ``i``'s ``len``, as the kernel does when it truncates one."""
        copy_to_user(self.addr + ((self.head + i) & self.mask) * 16 + 8,
                     struct.pack("<I", length))

class SimKernel:
    """The kernel side of one simulated ring (create one per :class:`uring.Ring`).

    ``start`` is the initial value of all four indices; ``cq_start`` overrides
    it for the CQ. With ``defer=True`` every request stays in :attr:`pending`
    until :meth:`complete` posts it (or a wait needs it); a request that
    selects a buffer has taken and filled it already, as a kernel has once the
    data arrived, and only its CQE waits.

    Buffer rings: ``pbuf_start`` is where every group's u16 head and tail
    start (the sim stores it as the tail in the program's ring memory at
    registration, as if that many buffers had passed already; a real kernel
    starts at 0). ``source(fd, user_data, most)`` gives each READ or RECV its
    bytes (default :func:`payload`, never short). ``bundles=True`` reports
    ``IORING_FEAT_RECVSEND_BUNDLE`` and runs bundle receives, which fail
    with ``-EINVAL`` without it, as on a kernel before 6.10.
    """

    def __init__(self, *, start: int = 0, cq_start: int | None = None, defer: bool = False,
                 nodrop: bool = True, single_mmap: bool = True, pbuf_start: int = 0,
                 source: Callable[[int, int, int], bytes] | None = None,
                 bundles: bool = False) -> None:
        self.start = start & _U32
        self.cq_start = self.start if cq_start is None else cq_start & _U32
        self.defer = defer
        self.nodrop = nodrop
        self.single_mmap = single_mmap
        self.pbuf_start = pbuf_start & _U16
        self.source = _endless if source is None else source
        self.bundles = bundles
        self._groups: dict[int, _BufferList] = {}   # bgid -> its ring
        self._queued: dict[int, bytes] = {}   # fd -> bytes a receive left behind
        self.pending: list[tuple[int, int, int]] = []   # (user_data, res, flags)
        self.overflow: list[tuple[int, int, int]] = []
        self.submitted = 0
        self.enters = 0
        self.fd = None
        self._rings = self._sqes = None

    # -- the kernel interface Ring uses ----------------------------------------

    def setup(self, entries: int, p) -> int:
        """``io_uring_setup``: size the rings, lay out memory, fill ``p``'s offsets."""
        if self.fd is not None:
            raise OSError(errno.EBUSY, "a SimKernel backs one ring; make another")
        sq = _roundup_pow2(entries)
        cq = _roundup_pow2(p.cq_entries) if p.flags & IORING_SETUP_CQSIZE else 2 * sq
        if p.flags & IORING_SETUP_CQSIZE and p.cq_entries < sq:
            raise OSError(errno.EINVAL, "io_uring_setup: cq_entries < sq_entries")
        self.sq_entries, self.cq_entries = sq, cq
        self.setup_flags = p.flags
        self.no_sqarray = bool(p.flags & IORING_SETUP_NO_SQARRAY)
        # The SQ index array follows the CQEs, 64-byte aligned (as in the kernel).
        array = (_CQES + cq * 16 + 63) & ~63
        size = array + (0 if self.no_sqarray else sq * 4)
        self._rings = mmap.mmap(-1, size)
        self._sqes = mmap.mmap(-1, sq * 64)
        self.u32 = memoryview(self._rings).cast("I")
        u = self.u32
        u[_SQ_HEAD // 4] = u[_SQ_TAIL // 4] = self.start
        u[_CQ_HEAD // 4] = u[_CQ_TAIL // 4] = self.cq_start
        u[_SQ_MASK // 4], u[_CQ_MASK // 4] = sq - 1, cq - 1
        u[_SQ_ENTRIES // 4], u[_CQ_ENTRIES // 4] = sq, cq
        p.sq_entries, p.cq_entries = sq, cq
        p.features = SIM_FEATURES
        if not self.nodrop:
            p.features &= ~abi.IORING_FEAT_NODROP
        if self.bundles:
            p.features |= abi.IORING_FEAT_RECVSEND_BUNDLE
        if not self.single_mmap:
            # As before 5.4: the program maps the SQ and CQ rings separately
            # (here they are two views of one allocation, as in the kernel).
            p.features &= ~abi.IORING_FEAT_SINGLE_MMAP
        so, co = p.sq_off, p.cq_off
        so.head, so.tail, so.ring_mask, so.ring_entries = _SQ_HEAD, _SQ_TAIL, _SQ_MASK, _SQ_ENTRIES
        so.flags, so.dropped, so.array = _SQ_FLAGS, _SQ_DROPPED, 0 if self.no_sqarray else array
        co.head, co.tail, co.ring_mask, co.ring_entries = _CQ_HEAD, _CQ_TAIL, _CQ_MASK, _CQ_ENTRIES
        co.overflow, co.cqes, co.flags = _CQ_OVERFLOW, _CQES, _CQ_FLAGS
        self._array = array
        self.fd = next(_fds)
        return self.fd

    def mmap(self, fd: int, length: int, offset: int):
        """Hand out the ring memory (one mapping for SQ and CQ) or the SQE array."""
        self._check_fd(fd)
        m = self._sqes if offset == abi.IORING_OFF_SQES else self._rings
        if length > len(m):
            raise OSError(errno.EINVAL, f"mmap: {length} bytes asked, {len(m)} exist")
        return m

    def enter(self, fd: int, to_submit: int, min_complete: int, flags: int,
              arg=None, argsz: int = 0) -> int:
        """``io_uring_enter``: consume up to ``to_submit`` SQEs, then maybe post/wait."""
        self._check_fd(fd)
        self.enters += 1
        done = self._consume(to_submit)
        if flags & IORING_ENTER_GETEVENTS:
            self._flush_overflow()
            while self._cq_ready() < min_complete and self.pending:
                self.complete(1)
                self._flush_overflow()
            if self._cq_ready() < min_complete:
                if flags & IORING_ENTER_EXT_ARG:
                    raise OSError(errno.ETIME, "io_uring_enter: timed out (simulated)")
                raise OSError(errno.EDEADLK, "io_uring_enter would wait forever: "
                              "nothing is in flight in the simulator")
        return done

    def register(self, fd: int, opcode: int, arg=None, nr_args: int = 0) -> int:
        """``io_uring_register``: ``IORING_REGISTER_PROBE`` and the buffer-ring opcodes.

        The probe reports NOP, the one opcode simulated in every form.
        ``IORING_REGISTER_PBUF_RING`` / ``IORING_UNREGISTER_PBUF_RING`` (5.19)
        and ``IORING_REGISTER_PBUF_STATUS`` (6.8) check their argument as
        Linux does and fail with the same errno. Other opcodes: ``EINVAL``.
        """
        self._check_fd(fd)
        if opcode in (abi.IORING_REGISTER_PBUF_RING, abi.IORING_UNREGISTER_PBUF_RING,
                      abi.IORING_REGISTER_PBUF_STATUS):
            if nr_args != 1:
                raise OSError(errno.EINVAL, f"io_uring_register: nr_args must be 1, not {nr_args}")
            if opcode == abi.IORING_REGISTER_PBUF_STATUS:
                status = _struct_at(abi.io_uring_buf_status, arg)
                self._pbuf_status(status)
                _struct_store(arg, status)
                return 0
            reg = _struct_at(abi.io_uring_buf_reg, arg)
            if opcode == abi.IORING_REGISTER_PBUF_RING:
                return self._register_pbuf_ring(reg)
            return self._unregister_pbuf_ring(reg)
        if opcode == abi.IORING_REGISTER_PROBE:
            probe = abi.io_uring_probe()
            probe.last_op = abi.IORING_OP_NOP
            probe.ops_len = 1
            op = abi.io_uring_probe_op()
            op.op, op.flags = abi.IORING_OP_NOP, abi.IO_URING_OP_SUPPORTED
            _struct_store(arg, bytes(probe) + bytes(op))
            return 0
        raise OSError(errno.EINVAL, f"io_uring_register: opcode {opcode} not simulated")

    def close(self, fd: int) -> None:
        """Close the simulated ring fd (its buffer groups go with it)."""
        self._check_fd(fd)
        self._groups.clear()
        self.u32.release()
        self.fd = -1

    def pbuf_window(self, bgid: int) -> list[int]:
        """The buffer ids group ``bgid`` offers, in the order the sim will take them.

        Ring positions head .. tail-1, read from the program's memory: what a
        test compares with the ids the program believes the kernel holds.
        ``KeyError`` if no ring is registered for ``bgid``.
        """
        group = self._groups[bgid]
        return [group.entry(i)[2] for i in range(group.available())]

    # -- buffer rings (io_uring/kbuf.c) -----------------------------------------

    def _register_pbuf_ring(self, reg) -> int:
        if any(reg.resv) or reg.min_left:
            raise OSError(errno.EINVAL, "IORING_REGISTER_PBUF_RING: reserved fields must be 0")
        if reg.flags & ~_PBUF_FLAGS:
            raise OSError(errno.EINVAL, f"IORING_REGISTER_PBUF_RING: unknown flags {reg.flags:#x}")
        if reg.flags:
            raise OSError(errno.EINVAL, "IORING_REGISTER_PBUF_RING: the simulator takes only"
                          " program-allocated rings (flags 0), not IOU_PBUF_RING_MMAP or"
                          " IOU_PBUF_RING_INC")
        entries = reg.ring_entries
        if not 0 < entries < 65536 or entries & (entries - 1):
            raise OSError(errno.EINVAL, "IORING_REGISTER_PBUF_RING: ring_entries must be a"
                          f" power of two below 65536, not {entries}")
        if reg.bgid in self._groups:
            raise OSError(errno.EEXIST, f"IORING_REGISTER_PBUF_RING: group {reg.bgid} exists")
        if not reg.ring_addr:
            raise OSError(errno.EFAULT, "IORING_REGISTER_PBUF_RING: ring_addr is NULL")
        if reg.ring_addr & (mmap.PAGESIZE - 1):
            raise OSError(errno.EINVAL, "IORING_REGISTER_PBUF_RING: ring_addr must be"
                          " page-aligned")
        # The kernel pins the ring's pages here (io_pin_pages): memory the
        # program cannot read and write fails now with EFAULT.
        ring = copy_from_user(reg.ring_addr, entries * 16)
        group = _BufferList(reg.ring_addr, entries, self.pbuf_start)
        # The register call is a system call, a full barrier: the program
        # reads this tail after it returns, no ordering needed beyond that.
        copy_to_user(reg.ring_addr, ring[:14] + struct.pack("<H", self.pbuf_start))
        self._groups[reg.bgid] = group
        return 0

    def _unregister_pbuf_ring(self, reg) -> int:
        if any(reg.resv) or reg.flags:
            raise OSError(errno.EINVAL, "IORING_UNREGISTER_PBUF_RING: flags and reserved"
                          " fields must be 0")
        if self._groups.pop(reg.bgid, None) is None:
            raise OSError(errno.ENOENT, f"IORING_UNREGISTER_PBUF_RING: no group {reg.bgid}")
        return 0

    def _pbuf_status(self, status) -> int:
        if any(status.resv):
            raise OSError(errno.EINVAL, "IORING_REGISTER_PBUF_STATUS: reserved fields must be 0")
        group = self._groups.get(status.buf_group)
        if group is None:
            raise OSError(errno.ENOENT, f"IORING_REGISTER_PBUF_STATUS: no group"
                          f" {status.buf_group}")
        status.head = group.head
        return 0

    def _receive(self, fd: int, user_data: int, most: int) -> bytes:
        """What a receive of at most ``most`` bytes finds on ``fd``.

        Bytes a bundle left behind (:meth:`_select_bundle`) come first, as
        they would from a socket's queue; only when none wait is the source
        asked.
        """
        queued = self._queued.pop(fd, b"")
        if not queued:
            return self.source(fd, user_data, most)[:most]
        if len(queued) > most:
            self._queued[fd] = queued[most:]
        return queued[:most]

    def _unreceive(self, fd: int, data: bytes) -> None:
        """Put ``data`` back at the front of ``fd``'s queue (it was not taken)."""
        if data:
            self._queued[fd] = data + self._queued.get(fd, b"")

    def _nonempty(self, fd: int) -> int:
        # io_recv_finish: IORING_CQE_F_SOCK_NONEMPTY when msg_inq > 0 after
        # the receive. The sim knows only of bytes a receive left behind.
        return _SOCK_NONEMPTY if self._queued.get(fd) else 0

    def _select(self, opcode: int, fd: int, len_: int, user_data: int,
                bgid: int) -> tuple[int, int]:
        """One buffer from group ``bgid``'s head, filled: ``(res, cqe flags)``.

        io_ring_buffer_select: an SQE ``len`` of 0, or one larger than the
        buffer, means the buffer's length.
        """
        group = self._groups.get(bgid)
        # No such group is no buffer, as for an empty ring.
        if group is None or not group.available():
            return -errno.ENOBUFS, 0
        addr, length, bid = group.entry(0)
        most = length if not len_ or len_ > length else len_
        data = self._receive(fd, user_data, most)
        recv = opcode == abi.IORING_OP_RECV
        if recv and not data:
            # A receive of 0 bytes (EOF) puts the buffer back (io_kbuf_recycle):
            # the head does not move and the CQE names no buffer. A READ of 0
            # bytes still uses it up (kiocb_done puts it, F_BUFFER set).
            return 0, 0
        try:
            copy_to_user(addr, data)
        except OSError:
            if recv:
                # The copy faulted: the data stays queued and the buffer goes
                # back (io_recv recycles it when nothing was received).
                self._unreceive(fd, data)
                return -errno.EFAULT, 0
            # A READ from a file that cannot poll committed its buffer when
            # it selected it (io_ring_buffer_select): the CQE names it.
            group.head = (group.head + 1) & _U16
            return -errno.EFAULT, _F_BUFFER | bid << _BUFFER_SHIFT
        group.head = (group.head + 1) & _U16
        nonempty = self._nonempty(fd) if recv else 0
        return len(data), _F_BUFFER | bid << _BUFFER_SHIFT | nonempty

    @staticmethod
    def _peek(group: _BufferList, avail: int, max_len: int):
        """The buffers io_ring_buffers_peek maps for ``max_len`` bytes.

        Returns ``(iovs, first_len)``: ``iovs`` as ``(addr, len, bid)``, and
        the length the first buffer is cut to when ``max_len`` is smaller
        (else None). Never more than 256 buffers, nor more than ``max_len``
        needs at the first buffer's size.
        """
        first = group.entry(0)[1]
        iovs, first_len = [], None
        for i in range(min(avail, -(-max_len // first), _PEEK_MAX_IMPORT)):
            addr, length, bid = group.entry(i)
            if length > max_len:
                if iovs:
                    # Since 6.16 a truncated end piece is left out: more data
                    # will come, better to stop at the last full buffer.
                    break
                length = first_len = max_len
            iovs.append((addr, length, bid))
            max_len -= length
            if not max_len:
                break
        return iovs, first_len

    def _select_bundle(self, fd: int, len_: int, user_data: int,
                       bgid: int) -> tuple[int, int]:
        """Consecutive buffers from ``bgid``'s head, filled in order (6.10 bundles).

        io_recv_buf_select maps buffers for ``len`` bytes, or with ``len`` 0
        for as many as the socket holds (``msg_inq``), never more than 256.
        The sim learns what the socket holds by asking the source for what
        the first mapping could take; when that is less, it maps again for
        that much, as the kernel would have from ``msg_inq``, so only whole
        buffers are taken and what is left stays queued, reported with
        ``IORING_CQE_F_SOCK_NONEMPTY``. The CQE names the first buffer, and
        the head moves past every buffer the data reached (io_bundle_nbufs).
        """
        group = self._groups.get(bgid)
        avail = 0 if group is None else min(group.available(), _UIO_MAXIOV)
        if not avail or not group.entry(0)[1]:
            return -errno.ENOBUFS, 0
        iovs, first_len = self._peek(group, avail, len_ or _INT_MAX)
        mapped = sum(length for _, length, _ in iovs)
        data = self._receive(fd, user_data, mapped)
        if not data:
            return 0, 0   # EOF: the buffers go back, as for a single receive
        if 1 < len(data) < mapped:
            # The kernel sizes the mapping by msg_inq when it is above 1:
            # min_not_zero(sr->len, msg_inq).
            inq = len(data) if not len_ else min(len_, len(data))
            iovs, first_len = self._peek(group, avail, inq)
            taken = sum(length for _, length, _ in iovs)
            self._unreceive(fd, data[taken:])
            data = data[:taken]
        done = used = 0
        try:
            for addr, length, _ in iovs:
                if done == len(data):
                    break
                piece = data[done:done + length]
                copy_to_user(addr, piece)
                done += len(piece)
                used += 1
        except OSError:
            self._unreceive(fd, data)
            return -errno.EFAULT, 0
        if first_len is not None:
            group.set_len(0, first_len)
        group.head = (group.head + used) & _U16
        return len(data), _F_BUFFER | iovs[0][2] << _BUFFER_SHIFT | self._nonempty(fd)

    # -- the simulated kernel at work -------------------------------------------

    def _check_fd(self, fd: int) -> None:
        if fd != self.fd or fd in (None, -1):
            raise OSError(errno.EBADF, f"fd {fd} is not this simulator's ring")

    def _consume(self, to_submit: int) -> int:
        u = self.u32
        head = u[_SQ_HEAD // 4]
        tail = u[_SQ_TAIL // 4]   # written by the program (its release store)
        n = min(to_submit, (tail - head) & _U32)
        if n > self.sq_entries:
            raise AssertionError(f"program published {n} SQEs in a ring of {self.sq_entries}")
        mask = self.sq_entries - 1
        for i in range(n):
            pos = (head + i) & _U32
            slot = pos & mask if self.no_sqarray else u[self._array // 4 + (pos & mask)]
            if slot >= self.sq_entries:
                u[_SQ_DROPPED // 4] = (u[_SQ_DROPPED // 4] + 1) & _U32
                continue
            self._execute(*_SQE_HEAD.unpack_from(self._sqes, slot * 64))
        u[_SQ_HEAD // 4] = (head + n) & _U32
        self.submitted += n
        return n

    def _execute(self, opcode, flags, ioprio, fd, off, addr, len_, op_flags, user_data,
                 buf_index) -> None:
        cflags = 0
        if opcode == abi.IORING_OP_NOP:
            res = 0
            if op_flags & abi.IORING_NOP_INJECT_RESULT:
                res = ctypes.c_int32(len_).value
        elif not flags & _BUFFER_SELECT:
            # Other opcodes, and READ/RECV into a buffer the program names: not simulated.
            res = -errno.EINVAL
        elif opcode == abi.IORING_OP_READ:
            res, cflags = self._select(opcode, fd, len_, user_data, buf_index)
        elif opcode == abi.IORING_OP_RECV:
            # For RECV, ioprio holds IORING_RECVSEND_* flags; one the kernel
            # does not know (or the sim does not run: IORING_RECV_MULTISHOT) is EINVAL.
            known = _POLL_FIRST | (_BUNDLE if self.bundles else 0)
            if ioprio & ~known:
                res = -errno.EINVAL
            elif ioprio & _BUNDLE:
                res, cflags = self._select_bundle(fd, len_, user_data, buf_index)
            else:
                res, cflags = self._select(opcode, fd, len_, user_data, buf_index)
        else:
            res = -errno.EINVAL
        if flags & IOSQE_CQE_SKIP_SUCCESS and res >= 0:
            return
        if self.defer:
            self.pending.append((user_data, res, cflags))
        else:
            self._post(user_data, res, cflags)

    def complete(self, count: int | None = None, order=None) -> int:
        """Post held-back completions: the first ``count``, or those at indices ``order``."""
        if order is None:
            order = range(len(self.pending) if count is None else min(count, len(self.pending)))
        order = list(order)
        picked = [self.pending[i] for i in order]
        for i in sorted(set(order), reverse=True):
            del self.pending[i]
        for cqe in picked:
            self._post(*cqe)
        return len(picked)

    def _cq_ready(self) -> int:
        return (self.u32[_CQ_TAIL // 4] - self.u32[_CQ_HEAD // 4]) & _U32

    def _post(self, user_data: int, res: int, flags: int) -> None:
        u = self.u32
        if self.overflow or self._cq_ready() >= self.cq_entries:
            # The CQ is full (or older overflowed CQEs must come first, to keep order).
            if self.nodrop:
                self.overflow.append((user_data, res, flags))
                u[_SQ_FLAGS // 4] |= IORING_SQ_CQ_OVERFLOW
            else:
                u[_CQ_OVERFLOW // 4] = (u[_CQ_OVERFLOW // 4] + 1) & _U32
            return
        tail = u[_CQ_TAIL // 4]
        _CQE.pack_into(self._rings, _CQES + (tail & (self.cq_entries - 1)) * 16,
                       user_data, res, flags)
        u[_CQ_TAIL // 4] = (tail + 1) & _U32   # the kernel's release store

    def _flush_overflow(self) -> None:
        backlog, self.overflow = self.overflow, []
        for cqe in backlog:
            self._post(*cqe)
        if not self.overflow:
            self.u32[_SQ_FLAGS // 4] &= ~IORING_SQ_CQ_OVERFLOW & _U32
