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

An AF_XDP socket is bound to one RX queue and sees only that queue's
frames, so on a multi-queue device there is one socket (steps 1-4) per
queue (``--queue``/``--queues``; all of them by default) and one program
whose XSKMAP holds them all, keyed by ``rx_queue_index``.

Receiving: the kernel copies each frame into a frame it took from the fill
ring and posts ``{addr, len}`` on the RX ring. We read descriptors between
our consumer and the kernel's producer (an acquire load), give each frame
straight back through the fill ring, and publish both indices (release
stores) once per batch, queue after queue; when every RX ring is empty, one
``poll`` waits on all the sockets. Ring indices are free-running u32s;
slots are ``index & (size - 1)``.

With ``--native yes`` (or ``auto`` when built) the same loop runs in C
(``native_hot/xdp_rx.c``, called through ctypes on the rings set up here).

    python -m uring.packet.rx_afxdp --iface urx1a2b3c --count 1000 [--xdp-mode generic]
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import select
import socket
import struct
import sys
import time
from typing import Callable

from .. import native
from ..barrier import load_acquire, store_release
from .abi.if_xdp import (
    AF_XDP, SOL_XDP, XDP_COPY, XDP_MMAP_OFFSETS, XDP_PGOFF_RX_RING, XDP_RING_NEED_WAKEUP,
    XDP_RX_RING, XDP_STATISTICS, XDP_UMEM_COMPLETION_RING, XDP_UMEM_FILL_RING,
    XDP_UMEM_PGOFF_COMPLETION_RING, XDP_UMEM_PGOFF_FILL_RING, XDP_UMEM_REG,
    XDP_USE_NEED_WAKEUP, sockaddr_xdp, xdp_mmap_offsets, xdp_ring_offset, xdp_statistics,
    xdp_umem_reg)
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


class _QueueState:
    """What the Python loop keeps per socket: its rings, our two indices, its count."""

    __slots__ = ("rx_u32", "descs", "fill_u32", "fill_q", "rx_mask", "fill_mask", "umem",
                 "chunk_mask", "rx_prod_i", "rx_cons_i", "fill_prod_i", "fill_flags_i",
                 "cons", "fill_prod", "packets")

    def __init__(self, xsk: XskSocket) -> None:
        rx, fill = xsk.rx, xsk.fill
        self.rx_u32, self.descs, self.rx_mask = rx.u32, rx.entries, rx.mask
        self.fill_u32, self.fill_q, self.fill_mask = fill.u32, fill.entries, fill.mask
        self.umem, self.chunk_mask = xsk.umem_view, ~(xsk.frame_size - 1)
        self.rx_prod_i, self.rx_cons_i = rx.producer, rx.consumer
        self.fill_prod_i, self.fill_flags_i = fill.producer, fill.flags
        # Our own indices: only we write the RX consumer and the fill producer.
        self.cons, self.fill_prod = rx.u32[rx.consumer], fill.u32[fill.producer]
        self.packets = 0  # this run's frames that came through this socket


def _python_loop(cfg: RxConfig, xsks: list[XskSocket], res: RxResult,
                 tracker: SeqTracker) -> list[int]:
    queues = [_QueueState(xsk) for xsk in xsks]
    desc_unpack, udp_unpack = _DESC.unpack_from, _UDP.unpack_from
    add, run_id, port = tracker.add, cfg.run_id, cfg.port
    poller = select.poll()
    for xsk in xsks:
        poller.register(xsk.fileno(), select.POLLIN)
    while True:
        got = 0
        for q in queues:
            cons, fill_prod = q.cons, q.fill_prod
            # Acquire: descriptors up to the producer are written before it moved.
            n = (load_acquire(q.rx_u32, q.rx_prod_i) - cons) & _U32
            if not n:
                continue
            if not res.packets:
                res.first = time.monotonic()
            descs, fill_q, umem = q.descs, q.fill_q, q.umem
            rx_mask, fill_mask, chunk_mask = q.rx_mask, q.fill_mask, q.chunk_mask
            seen = 0
            for i in range(n):
                addr, length = desc_unpack(descs, ((cons + i) & rx_mask) << 4)
                if length >= 58:
                    dport, magic, rid, seq = udp_unpack(umem, addr + 36)
                    if dport == port and magic == MAGIC and rid == run_id:
                        add(seq)
                        seen += 1
                        res.bytes += length
                    else:
                        res.foreign += 1
                else:
                    res.foreign += 1
                # Frame done: straight back to the kernel (its chunk's base address).
                fill_q[(fill_prod + i) & fill_mask] = addr & chunk_mask
            q.cons, q.fill_prod = (cons + n) & _U32, (fill_prod + n) & _U32
            # Release both: the reads of the frames and the new fill entries are done.
            store_release(q.fill_u32, q.fill_prod_i, q.fill_prod)
            store_release(q.rx_u32, q.rx_cons_i, q.cons)
            if q.fill_u32[q.fill_flags_i] & XDP_RING_NEED_WAKEUP:
                poller.poll(0)
            q.packets += seen
            res.packets += seen
            got += n
        now = time.monotonic()
        if got:
            res.last = now
        res.stopped_by = cfg.should_stop(tracker.unique, res.last, now)
        if res.stopped_by:
            return [q.packets for q in queues]
        if not got:
            # poll() both waits for RX on any queue and, with NEED_WAKEUP set
            # on a fill ring, tells the kernel new fill entries are there.
            poller.poll(POLL_SLICE * 1000)


class _SeqTracker(ctypes.Structure):
    # Mirrors struct seq_tracker in native_hot/packet_seq.h.
    _fields_ = [("bits", ctypes.c_void_p), ("nbits", ctypes.c_uint64),
                ("unique", ctypes.c_uint64), ("duplicates", ctypes.c_uint64),
                ("reordered", ctypes.c_uint64), ("highest", ctypes.c_int64)]


class _NativeQueue(ctypes.Structure):
    # Mirrors struct xdp_rx_queue in native_hot/xdp_rx.c: one socket's rings.
    _fields_ = [("rx", ctypes.c_void_p), ("fill", ctypes.c_void_p), ("umem", ctypes.c_void_p),
                ("rx_producer", ctypes.c_uint32), ("rx_consumer", ctypes.c_uint32),
                ("rx_desc", ctypes.c_uint32), ("fill_producer", ctypes.c_uint32),
                ("fill_flags", ctypes.c_uint32), ("fill_desc", ctypes.c_uint32),
                ("rx_mask", ctypes.c_uint32), ("fill_mask", ctypes.c_uint32),
                ("frame_size", ctypes.c_uint32), ("fd", ctypes.c_int),
                ("packets", ctypes.c_uint64)]


class _NativeArgs(ctypes.Structure):
    # Mirrors struct xdp_rx_args in native_hot/xdp_rx.c.
    _fields_ = [("queues", ctypes.POINTER(_NativeQueue)), ("nqueues", ctypes.c_uint32),
                ("port", ctypes.c_uint32), ("run_id", ctypes.c_uint32),
                ("count", ctypes.c_uint64), ("started", ctypes.c_double),
                ("timeout", ctypes.c_double), ("idle", ctypes.c_double),
                ("slice", ctypes.c_double),
                ("packets", ctypes.c_uint64), ("bytes", ctypes.c_uint64),
                ("foreign", ctypes.c_uint64), ("first", ctypes.c_double),
                ("last", ctypes.c_double), ("seq", _SeqTracker)]


# What xdp_rx_loop returns: why it came back.
_NATIVE_STOP = {1: "count", 2: "timeout", 3: "idle", 0: ""}


def _native_loop(lib, cfg: RxConfig, xsks: list[XskSocket], res: RxResult) -> list[int]:
    # The array stays referenced (here and through `a`) while C reads it.
    queues = (_NativeQueue * len(xsks))(*[
        _NativeQueue(rx=x.rx.addr, fill=x.fill.addr, umem=x.umem_addr,
                     rx_producer=x.rx.off.producer, rx_consumer=x.rx.off.consumer,
                     rx_desc=x.rx.off.desc, fill_producer=x.fill.off.producer,
                     fill_flags=x.fill.off.flags, fill_desc=x.fill.off.desc,
                     rx_mask=x.rx.mask, fill_mask=x.fill.mask, frame_size=x.frame_size,
                     fd=x.fileno()) for x in xsks])
    a = _NativeArgs(queues=queues, nqueues=len(xsks), port=cfg.port, run_id=cfg.run_id,
                    count=cfg.count, started=cfg.started, timeout=cfg.timeout,
                    idle=cfg.idle, slice=POLL_SLICE * 2)
    a.seq.highest = -1
    try:
        while True:
            # The C loop returns at least every `slice` seconds, so a signal
            # (which Python handles only between bytecodes) is seen promptly.
            rc = lib.xdp_rx_loop(ctypes.byref(a))
            if rc < 0:
                raise OSError(-rc, f"xdp_rx_loop: {os.strerror(-rc)}")
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
    return [q.packets for q in queues]


def load_native():
    """The C loop (``libxdp_rx.so``) through ctypes, or None if it is not built."""
    lib = native.library("xdp_rx")
    if lib is None:
        return None
    lib.xdp_rx_loop.argtypes = [ctypes.POINTER(_NativeArgs)]
    lib.xdp_rx_loop.restype = ctypes.c_int
    lib.xdp_rx_free.argtypes = [ctypes.POINTER(_NativeArgs)]
    lib.xdp_rx_free.restype = None
    return lib


def receive(cfg: RxConfig, ready: Callable[[], None] = lambda: None) -> RxResult:
    """Attach, receive on every asked-for queue until a stop rule fires, detach; return the counts.

    ``res.extra["per_queue"]`` maps each RX queue to the run's frames that
    came through its socket; the sequence numbers of all of them go to one
    tracker, so duplicates and gaps are found across queues.
    """
    res = RxResult(stack="afxdp")
    lib = None
    if cfg.native != "no":
        lib = load_native()
        if lib is None:
            if cfg.native == "yes":
                raise FileNotFoundError(native.why_unavailable("xdp_rx"))
            res.note = native.why_unavailable("xdp_rx") + "; receiving in Python"
            print(f"rx_afxdp: {res.note}", file=sys.stderr, flush=True)
    tracker = SeqTracker(cfg.count)
    queue_ids = cfg.queue_ids()
    with contextlib.ExitStack() as stack:
        # One socket per queue, each with a UMEM of its own rather than one
        # shared UMEM (XDP_SHARED_UMEM): a shared UMEM still needs a fill and
        # completion ring per queue (5.10) and a split of its frames between
        # them, while separate UMEMs keep every socket exactly the one-queue
        # case, at FRAMES * FRAME_SIZE (8 MiB) of pinned memory per queue.
        xsks = [stack.enter_context(XskSocket(cfg.iface, q)) for q in queue_ids]
        # Entered last, so closed first: the program is detached before the
        # sockets it redirects to go away.
        prog = stack.enter_context(XdpProgram(xsks[0].ifindex, queue_ids[-1] + 1,
                                              cfg.xdp_mode))
        for xsk in xsks:
            prog.add_socket(xsk.queue, xsk.fileno())
        res.extra["xdp_mode"] = cfg.xdp_mode
        res.extra["queues"] = queue_ids
        ready()
        if lib is not None:
            res.native = True
            res.stack = "afxdp-c"
            per_queue = _native_loop(lib, cfg, xsks, res)
        else:
            per_queue = _python_loop(cfg, xsks, res, tracker)
            res.take(tracker)
        res.extra["per_queue"] = {str(q): n for q, n in zip(queue_ids, per_queue)}
        stats = [x.statistics() for x in xsks]
        res.extra.update(rx_dropped=sum(st.rx_dropped for st in stats),
                         rx_ring_full=sum(st.rx_ring_full for st in stats),
                         fill_ring_empty=sum(st.rx_fill_ring_empty_descs for st in stats))
    return res


if __name__ == "__main__":
    sys.exit(run_receiver("rx_afxdp", receive, description=__doc__))
