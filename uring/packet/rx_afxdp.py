"""Receiver: AF_XDP in copy mode — UMEM, fill and RX rings through mmap, our own XDP program.

Set-up, in the order the kernel requires (``Documentation/networking/af_xdp.rst``):

1. ``socket(AF_XDP, SOCK_RAW, 0)`` and register the UMEM: an anonymous
   mapping of ``frames * frame_size`` bytes (``XDP_UMEM_REG``, 4.18); the
   kernel pins it (root's CAP_IPC_LOCK lifts RLIMIT_MEMLOCK);
2. size the fill and completion rings (both required before bind) and the
   RX ring, ask ``XDP_MMAP_OFFSETS`` where their words are, and ``mmap``
   each one from the socket at its fixed page offset;
3. put every UMEM frame's address on the fill ring;
4. ``bind()`` to (interface, queue) with ``XDP_COPY`` (veth has no zero-copy
   support: ``XDP_ZEROCOPY`` gives EOPNOTSUPP) and ``XDP_USE_NEED_WAKEUP``;
5. attach the redirect program (:mod:`uring.packet.xdp`) and put the socket
   in its XSKMAP at the queue's key.

Receiving: the kernel copies each frame into a frame it took from the fill
ring and posts ``{addr, len}`` on the RX ring. We read descriptors between
our consumer and the kernel's producer (an acquire load), give each frame
straight back through the fill ring, and publish both indices (release
stores) once per batch. Ring indices are free-running u32s; slots are
``index & (size - 1)``.

With ``--native yes`` (or ``auto`` when built) the same loop runs in C
(``native_hot/xdp_rx.c``, called through ctypes on the rings set up here).

    python -m uring.packet.rx_afxdp --iface urx1a2b3c --count 1000 [--xdp-mode generic]
"""

from __future__ import annotations

import ctypes
import mmap
import select
import socket
import struct
import sys
import time
from typing import Callable

from ..abi.if_xdp import (
    AF_XDP, SOL_XDP, XDP_COPY, XDP_MMAP_OFFSETS, XDP_PGOFF_RX_RING, XDP_RING_NEED_WAKEUP,
    XDP_RX_RING, XDP_STATISTICS, XDP_UMEM_COMPLETION_RING, XDP_UMEM_FILL_RING,
    XDP_UMEM_PGOFF_COMPLETION_RING, XDP_UMEM_PGOFF_FILL_RING, XDP_UMEM_REG,
    XDP_USE_NEED_WAKEUP, sockaddr_xdp, xdp_mmap_offsets, xdp_ring_offset, xdp_statistics,
    xdp_umem_reg)
from ..barrier import load_acquire, store_release
from . import native
from .common import POLL_SLICE, STOP, RxConfig, ifindex, run_receiver
from .frames import MAGIC
from .libc import bind_raw
from .stats import RxResult, SeqTracker
from .xdp import XdpProgram

__all__ = ["receive", "Ring", "XskSocket", "FRAMES", "FRAME_SIZE", "RX_SIZE"]

FRAMES = 4096  # UMEM frames: 8 MiB at 2 KiB each
FRAME_SIZE = 2048
RX_SIZE = 2048
_U32 = 0xFFFFFFFF
_DESC = struct.Struct("<QI4x")  # struct xdp_desc: addr, len, options
_UDP = struct.Struct("!H4xIIQ")  # dport .. seq, from offset 36 of the frame


class Ring:
    """One mapped AF_XDP ring: its producer/consumer/flags words and its entries.

    ``entry`` is 8 (fill/completion: bare u64 addresses) or 16 (RX/TX:
    ``struct xdp_desc``). :attr:`u32` indexes the words; :attr:`entries` is
    a view of the entry array (cast to ``Q`` for 8-byte entries).
    """

    def __init__(self, fd: int, off: xdp_ring_offset, size: int, entry: int,
                 pgoff: int) -> None:
        self.size, self.mask = size, size - 1
        self.map = mmap.mmap(fd, off.desc + size * entry, mmap.MAP_SHARED | mmap.MAP_POPULATE,
                             mmap.PROT_READ | mmap.PROT_WRITE, offset=pgoff)
        self.u32 = memoryview(self.map).cast("I")
        self.producer, self.consumer, self.flags = off.producer // 4, off.consumer // 4, \
            off.flags // 4
        raw = memoryview(self.map)[off.desc:off.desc + size * entry]
        self.entries = raw.cast("Q") if entry == 8 else raw
        self._raw = raw
        self.addr = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        self.off = off

    def close(self) -> None:
        """Release the views and unmap."""
        for view in (self.entries, self._raw, self.u32):
            view.release()
        self.map.close()


class XskSocket:
    """An AF_XDP socket bound to one interface queue, with its UMEM, fill and RX rings.

    The XDP program is not part of it (see :class:`~uring.packet.xdp.XdpProgram`).
    """

    def __init__(self, iface: str, queue: int = 0, frames: int = FRAMES,
                 frame_size: int = FRAME_SIZE, rx_size: int = RX_SIZE,
                 bind_flags: int = XDP_COPY | XDP_USE_NEED_WAKEUP) -> None:
        for name, v in (("frames", frames), ("frame_size", frame_size), ("rx_size", rx_size)):
            if v < 1 or v & (v - 1):
                raise ValueError(f"{name} must be a power of two, not {v}")
        self.ifindex, self.queue = ifindex(iface), queue
        self.frames, self.frame_size = frames, frame_size
        self.umem = mmap.mmap(-1, frames * frame_size, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                              mmap.PROT_READ | mmap.PROT_WRITE)
        self.umem_view = memoryview(self.umem)
        self.umem_addr = ctypes.addressof(ctypes.c_char.from_buffer(self.umem))
        self.sock = socket.socket(AF_XDP, socket.SOCK_RAW, 0)
        self.fill = self.comp = self.rx = None
        try:
            self._setup(rx_size, bind_flags)
        except BaseException:
            self.close()
            raise

    def _setup(self, rx_size: int, bind_flags: int) -> None:
        s, fd = self.sock, self.sock.fileno()
        reg = xdp_umem_reg(addr=self.umem_addr, len=len(self.umem), chunk_size=self.frame_size)
        s.setsockopt(SOL_XDP, XDP_UMEM_REG, bytes(reg))
        # The fill ring holds every frame at once, so it never overflows.
        s.setsockopt(SOL_XDP, XDP_UMEM_FILL_RING, self.frames)
        s.setsockopt(SOL_XDP, XDP_UMEM_COMPLETION_RING, 64)  # required, unused (no TX)
        s.setsockopt(SOL_XDP, XDP_RX_RING, rx_size)
        off = xdp_mmap_offsets.from_buffer_copy(
            s.getsockopt(SOL_XDP, XDP_MMAP_OFFSETS, ctypes.sizeof(xdp_mmap_offsets)))
        self.fill = Ring(fd, off.fr, self.frames, 8, XDP_UMEM_PGOFF_FILL_RING)
        self.comp = Ring(fd, off.cr, 64, 8, XDP_UMEM_PGOFF_COMPLETION_RING)
        self.rx = Ring(fd, off.rx, rx_size, 16, XDP_PGOFF_RX_RING)
        fill = self.fill
        for i in range(self.frames):
            fill.entries[i] = i * self.frame_size
        # Release: the addresses are written before the kernel sees the producer move.
        store_release(fill.u32, fill.producer, self.frames)
        bind_raw(fd, sockaddr_xdp(sxdp_family=AF_XDP, sxdp_flags=bind_flags,
                                  sxdp_ifindex=self.ifindex, sxdp_queue_id=self.queue))

    def fileno(self) -> int:
        """The socket's fd (what goes into the XSKMAP)."""
        return self.sock.fileno()

    def statistics(self) -> xdp_statistics:
        """``XDP_STATISTICS``: drops, invalid descriptors, ring-full and fill-empty events."""
        raw = self.sock.getsockopt(SOL_XDP, XDP_STATISTICS, ctypes.sizeof(xdp_statistics))
        return xdp_statistics.from_buffer_copy(raw.ljust(ctypes.sizeof(xdp_statistics), b"\0"))

    def close(self) -> None:
        """Unmap the rings, close the socket, free the UMEM."""
        for ring in (self.rx, self.comp, self.fill):
            if ring is not None:
                ring.close()
        self.rx = self.comp = self.fill = None
        self.sock.close()
        self.umem_view.release()
        self.umem.close()

    def __enter__(self) -> "XskSocket":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _python_loop(cfg: RxConfig, xsk: XskSocket, res: RxResult, tracker: SeqTracker) -> None:
    rx, fill = xsk.rx, xsk.fill
    rx_u32, fill_u32, descs, fill_q = rx.u32, fill.u32, rx.entries, fill.entries
    rx_mask, fill_mask = rx.mask, fill.mask
    chunk_mask = ~(xsk.frame_size - 1)
    umem = xsk.umem_view
    desc_unpack, udp_unpack = _DESC.unpack_from, _UDP.unpack_from
    add, run_id, port = tracker.add, cfg.run_id, cfg.port
    cons = rx_u32[rx.consumer]
    fill_prod = fill_u32[fill.producer]
    poller = select.poll()
    poller.register(xsk.fileno(), select.POLLIN)
    while True:
        # Acquire: descriptors up to the producer are written before it moved.
        n = (load_acquire(rx_u32, rx.producer) - cons) & _U32
        if not n:
            res.stopped_by = cfg.should_stop(tracker.unique, res.last, time.monotonic())
            if res.stopped_by:
                return
            # poll() both waits for RX and, with NEED_WAKEUP set on the fill
            # ring, tells the kernel new fill entries are there.
            poller.poll(POLL_SLICE * 1000)
            continue
        now = time.monotonic()
        if not res.packets:
            res.first = now
        for i in range(n):
            addr, length = desc_unpack(descs, ((cons + i) & rx_mask) << 4)
            if length >= 58:
                dport, magic, rid, seq = udp_unpack(umem, addr + 36)
                if dport == port and magic == MAGIC and rid == run_id:
                    add(seq)
                    res.packets += 1
                    res.bytes += length
                else:
                    res.foreign += 1
            else:
                res.foreign += 1
            # Frame done: straight back to the kernel (its chunk's base address).
            fill_q[(fill_prod + i) & fill_mask] = addr & chunk_mask
        fill_prod = (fill_prod + n) & _U32
        cons = (cons + n) & _U32
        # Release both: the reads of the frames and the new fill entries are done.
        store_release(fill_u32, fill.producer, fill_prod)
        store_release(rx_u32, rx.consumer, cons)
        if fill_u32[fill.flags] & XDP_RING_NEED_WAKEUP:
            poller.poll(0)
        res.last = now
        res.stopped_by = cfg.should_stop(tracker.unique, now, now)
        if res.stopped_by:
            return


class _SeqTracker(ctypes.Structure):
    # Mirrors struct seq_tracker in native_hot/packet_seq.h.
    _fields_ = [("bits", ctypes.c_void_p), ("nbits", ctypes.c_uint64),
                ("unique", ctypes.c_uint64), ("duplicates", ctypes.c_uint64),
                ("reordered", ctypes.c_uint64), ("highest", ctypes.c_int64)]


class _NativeArgs(ctypes.Structure):
    # Mirrors struct xdp_rx_args in native_hot/xdp_rx.c.
    _fields_ = [("rx", ctypes.c_void_p), ("fill", ctypes.c_void_p), ("umem", ctypes.c_void_p),
                ("rx_producer", ctypes.c_uint32), ("rx_consumer", ctypes.c_uint32),
                ("rx_desc", ctypes.c_uint32), ("fill_producer", ctypes.c_uint32),
                ("fill_flags", ctypes.c_uint32), ("fill_desc", ctypes.c_uint32),
                ("rx_mask", ctypes.c_uint32), ("fill_mask", ctypes.c_uint32),
                ("frame_size", ctypes.c_uint32), ("fd", ctypes.c_int),
                ("port", ctypes.c_uint32), ("run_id", ctypes.c_uint32),
                ("count", ctypes.c_uint64), ("started", ctypes.c_double),
                ("timeout", ctypes.c_double), ("idle", ctypes.c_double),
                ("slice", ctypes.c_double),
                ("packets", ctypes.c_uint64), ("bytes", ctypes.c_uint64),
                ("foreign", ctypes.c_uint64), ("first", ctypes.c_double),
                ("last", ctypes.c_double), ("seq", _SeqTracker)]


# What xdp_rx_loop returns: why it came back.
_NATIVE_STOP = {1: "count", 2: "timeout", 3: "idle", 0: ""}


def _native_loop(lib, cfg: RxConfig, xsk: XskSocket, res: RxResult) -> None:
    rx, fill = xsk.rx, xsk.fill
    a = _NativeArgs(rx=rx.addr, fill=fill.addr, umem=xsk.umem_addr,
                    rx_producer=rx.off.producer, rx_consumer=rx.off.consumer,
                    rx_desc=rx.off.desc, fill_producer=fill.off.producer,
                    fill_flags=fill.off.flags, fill_desc=fill.off.desc,
                    rx_mask=rx.mask, fill_mask=fill.mask, frame_size=xsk.frame_size,
                    fd=xsk.fileno(), port=cfg.port, run_id=cfg.run_id, count=cfg.count,
                    started=cfg.started, timeout=cfg.timeout, idle=cfg.idle,
                    slice=POLL_SLICE * 2)
    a.seq.highest = -1
    try:
        while True:
            # The C loop returns at least every `slice` seconds, so a signal
            # (which Python handles only between bytecodes) is seen promptly.
            rc = lib.xdp_rx_loop(ctypes.byref(a))
            if rc < 0:
                raise OSError(-rc, f"xdp_rx_loop: {__import__('os').strerror(-rc)}")
            if rc in _NATIVE_STOP and rc:
                res.stopped_by = _NATIVE_STOP[rc]
                break
            if STOP.set:
                res.stopped_by = f"signal {STOP.signum}"
                break
    finally:
        lib.xdp_rx_free(ctypes.byref(a))
    res.packets, res.bytes, res.foreign = a.packets, a.bytes, a.foreign
    res.unique, res.duplicates, res.reordered = a.seq.unique, a.seq.duplicates, \
        a.seq.reordered
    res.first, res.last = a.first, a.last


def load_native():
    """The C loop (``libxdp_rx.so``) through ctypes, or None if it is not built."""
    path = native.find("libxdp_rx.so")
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    lib.xdp_rx_loop.argtypes = [ctypes.POINTER(_NativeArgs)]
    lib.xdp_rx_loop.restype = ctypes.c_int
    lib.xdp_rx_free.argtypes = [ctypes.POINTER(_NativeArgs)]
    lib.xdp_rx_free.restype = None
    return lib


def receive(cfg: RxConfig, ready: Callable[[], None] = lambda: None) -> RxResult:
    """Attach, receive until a stop rule fires, detach; return the counts."""
    res = RxResult(stack="afxdp")
    lib = None
    if cfg.native != "no":
        lib = load_native()
        if lib is None:
            if cfg.native == "yes":
                raise FileNotFoundError(native.missing_note("libxdp_rx.so"))
            res.note = native.missing_note("libxdp_rx.so") + "; receiving in Python"
            print(f"rx_afxdp: {res.note}", file=sys.stderr, flush=True)
    tracker = SeqTracker(cfg.count)
    with XskSocket(cfg.iface, cfg.queue) as xsk, \
            XdpProgram(xsk.ifindex, cfg.queue + 1, cfg.xdp_mode) as prog:
        prog.add_socket(cfg.queue, xsk.fileno())
        res.extra["xdp_mode"] = cfg.xdp_mode
        ready()
        if lib is not None:
            res.native = True
            res.stack = "afxdp-c"
            _native_loop(lib, cfg, xsk, res)
        else:
            _python_loop(cfg, xsk, res, tracker)
            res.take(tracker)
        st = xsk.statistics()
        res.extra.update(rx_dropped=st.rx_dropped, rx_ring_full=st.rx_ring_full,
                         fill_ring_empty=st.rx_fill_ring_empty_descs)
    return res


if __name__ == "__main__":
    sys.exit(run_receiver("rx_afxdp", receive, description=__doc__))
