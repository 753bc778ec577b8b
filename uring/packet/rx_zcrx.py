"""Receiver: io_uring zero-copy receive (zcrx, 6.15) — the full path, up to what the NIC allows.

Zero-copy receive makes the NIC put TCP payload straight into memory the
application registered, and hands it over in completions: no copy at all.
The steps (``Documentation/networking/iou-zcrx.rst``, liburing ``examples/zcrx.c``):

1. a ring with ``IORING_SETUP_DEFER_TASKRUN | SINGLE_ISSUER`` and 32-byte
   CQEs (``IORING_SETUP_CQE32``): the second half of each CQE says where
   the data is;
2. the **area**: page-aligned memory the NIC's RX queue will fill
   (``struct io_uring_zcrx_area_reg``);
3. the **refill queue** region: user memory
   (``IORING_MEM_REGION_TYPE_USER``) where we return buffers;
4. ``IORING_REGISTER_ZCRX_IFQ`` binds interface queue ``--queue`` to the
   ring; the kernel writes back the refill queue's layout, its rounded
   size, the area token and the zcrx id;
5. accept a TCP connection (the NIC must steer its flow to that queue) and
   submit ``IORING_OP_RECV_ZC`` (:func:`uring.ops.recv_zc`: multishot,
   ``zcrx_ifq_idx`` = the id);
6. for each CQE read ``res`` bytes at ``area + (off & ~AREA_MASK)``, then
   return them through the refill queue (:mod:`~uring.packet.zcrx`).

Step 4 needs a NIC driver with the netdev queue-management API and
header/data split; nothing on this machine (veth, lo, tap, virtio-net) has
them, so the kernel answers EOPNOTSUPP and :class:`~uring.packet.common.Unsupported`
says what is missing. The bookkeeping of steps 5-6 is exercised against a
simulated kernel side (:mod:`~uring.packet.zcrx_sim`). The sender is
:mod:`~uring.packet.tcp_send`; the stream it sends is verified piece by piece.

    python -m uring.packet.rx_zcrx --iface eth0 --queue 1 [--native yes]
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import select
import socket
import struct
import sys
import time
from typing import Callable

from .. import abi, native, ops
from ..memory import page_align
from ..ring import Ring
from .common import POLL_SLICE, RxConfig, Unsupported, ifindex, run_receiver
from .stats import RxResult
from .zcrx import RefillQueue, StreamCheck, ZcrxConsumer

__all__ = ["receive", "ZcrxIfq", "explain_refusal", "driver_name", "ring_flags",
           "AREA_SIZE", "RQ_ENTRIES", "USER_DATA", "NativeZcrx"]

AREA_SIZE = 4 << 20
RQ_ENTRIES = 4096
USER_DATA = 0x2C
_F_MORE = int(abi.IORING_CQE_F_MORE)


def ring_flags() -> int:
    """Setup flags zcrx needs: DEFER_TASKRUN (6.1) + SINGLE_ISSUER (6.0) + CQE32 (5.19)."""
    return (abi.IORING_SETUP_DEFER_TASKRUN | abi.IORING_SETUP_SINGLE_ISSUER
            | abi.IORING_SETUP_CQE32)


def driver_name(iface: str) -> str:
    """The interface's driver as ``ethtool -i`` reports it (``ETHTOOL_GDRVINFO``), or "?"."""
    info = ctypes.create_string_buffer(196)  # struct ethtool_drvinfo
    struct.pack_into("<I", info, 0, 3)  # cmd = ETHTOOL_GDRVINFO
    ifreq = struct.pack("16sP", iface.encode()[:15], ctypes.addressof(info))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s.fileno(), 0x8946, ifreq)  # SIOCETHTOOL
    except OSError:
        return "?"
    return info.raw[4:36].split(b"\0", 1)[0].decode(errors="replace") or "?"


def explain_refusal(err: int, iface: str, queue: int) -> str:
    """Why ``IORING_REGISTER_ZCRX_IFQ`` failed with ``err``, and what would make it work."""
    drv = driver_name(iface)
    where = f"{iface} queue {queue} (driver {drv})"
    if err == errno.EOPNOTSUPP:
        return (
            f"zero-copy receive is not supported on {where}: IORING_REGISTER_ZCRX_IFQ "
            f"reached the kernel and was refused with EOPNOTSUPP. zcrx needs a NIC whose "
            f"driver implements the netdev queue-management API (queue_mgmt_ops, to restart "
            f"one RX queue with a page-pool memory provider of unreadable netmem) and "
            f"header/data split on that queue (ethtool -G {iface} tcp-data-split on, "
            f"hds-thresh 0), with the flow steered to it (ethtool -N {iface} flow-type "
            f"tcp4 ... action {queue}; RSS excluding it). Drivers that have it: bnxt_en "
            f"(Broadcom, 6.15), mlx5 (NVIDIA ConnectX, about 6.16), gve (Google), fbnic "
            f"(Meta). veth, lo, tap and virtio-net have neither.")
    if err == errno.EPERM:
        return f"IORING_REGISTER_ZCRX_IFQ on {where} needs CAP_NET_ADMIN (EPERM)"
    if err == errno.EINVAL:
        return (f"IORING_REGISTER_ZCRX_IFQ on {where} refused with EINVAL: the ring must be "
                f"set up with DEFER_TASKRUN, SINGLE_ISSUER and CQE32, and hds-thresh must be "
                f"0 on the NIC")
    if err in (errno.EEXIST, errno.EBUSY):
        return (f"IORING_REGISTER_ZCRX_IFQ on {where}: the queue is in use (an XDP program "
                f"or AF_XDP socket, or another memory provider) ({os.strerror(err)})")
    if err in (errno.ERANGE, errno.ENODEV):
        return f"IORING_REGISTER_ZCRX_IFQ on {where}: no such RX queue ({os.strerror(err)})"
    if err == errno.ENOSYS:
        return "this kernel has no zcrx (6.15+ with CONFIG_IO_URING_ZCRX)"
    return f"IORING_REGISTER_ZCRX_IFQ on {where} failed: {os.strerror(err)}"


class ZcrxIfq:
    """An interface RX queue registered for zero-copy receive on ``ring``, with area and RQ.

    Raises :class:`~uring.packet.common.Unsupported` with :func:`explain_refusal`'s
    message when the kernel refuses.
    """

    def __init__(self, ring: Ring, ifidx: int, iface: str, queue: int = 0,
                 area_size: int = AREA_SIZE, rq_entries: int = RQ_ENTRIES) -> None:
        self.area = mmap.mmap(-1, page_align(area_size), mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                              mmap.PROT_READ | mmap.PROT_WRITE)
        # Room for the entries plus the head/tail page, as liburing sizes it.
        self.region = mmap.mmap(-1, page_align(rq_entries * 16 + mmap.PAGESIZE),
                                mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                                mmap.PROT_READ | mmap.PROT_WRITE)
        self.rq = None
        self.area_reg = abi.io_uring_zcrx_area_reg(addr=_addr(self.area), len=len(self.area))
        self.region_desc = abi.io_uring_region_desc(
            user_addr=_addr(self.region), size=len(self.region),
            flags=abi.IORING_MEM_REGION_TYPE_USER)
        self.reg = abi.io_uring_zcrx_ifq_reg(
            if_idx=ifidx, if_rxq=queue, rq_entries=rq_entries,
            area_ptr=ctypes.addressof(self.area_reg),
            region_ptr=ctypes.addressof(self.region_desc))
        try:
            ring.register(abi.IORING_REGISTER_ZCRX_IFQ, self.reg, 1)
        except OSError as e:
            self.close()
            raise Unsupported(e.errno, explain_refusal(e.errno, iface, queue)) from None
        off = self.reg.offsets
        self.rq = RefillQueue(self.region, off.head, off.tail, off.rqes, self.reg.rq_entries)
        self.token = self.area_reg.rq_area_token
        self.zcrx_id = self.reg.zcrx_id

    def close(self) -> None:
        """Free the memory (the ring's teardown unregisters the queue: 6.18 has no unregister)."""
        if self.rq is not None:
            self.rq.release()
            self.rq = None
        self.area.close()
        self.region.close()


def _addr(m: mmap.mmap) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(m))


class NativeZcrx:
    """The C loop (``libzcrx_rx.so``) over a CQ ring, a refill queue and an area given as addresses.

    ``cq`` is ``(head_addr, tail_addr, cqes_addr, mask)``, ``rq`` is
    ``(head_addr, tail_addr, rqes_addr, entries, tail)``. :meth:`process`
    consumes every visible CQE and returns buffers; counters are attributes
    of :attr:`args`.
    """

    class Args(ctypes.Structure):
        """Mirrors ``struct zcrx_args`` in ``native_hot/zcrx_rx.c``."""

        _fields_ = [("cq_head", ctypes.c_void_p), ("cq_tail", ctypes.c_void_p),
                    ("cqes", ctypes.c_void_p), ("cq_mask", ctypes.c_uint32),
                    ("rq_entries", ctypes.c_uint32), ("rq_head", ctypes.c_void_p),
                    ("rq_tail", ctypes.c_void_p), ("rqes", ctypes.c_void_p),
                    ("rq_tail_local", ctypes.c_uint32), ("seed", ctypes.c_uint32),
                    ("area", ctypes.c_void_p), ("token", ctypes.c_uint64),
                    ("user_data", ctypes.c_uint64), ("pend_off", ctypes.c_void_p),
                    ("pend_len", ctypes.c_void_p), ("pend_cap", ctypes.c_uint32),
                    ("pend_head", ctypes.c_uint32), ("pend_count", ctypes.c_uint32),
                    ("verify", ctypes.c_uint32), ("cqes_seen", ctypes.c_uint64),
                    ("bytes", ctypes.c_uint64), ("stream_offset", ctypes.c_uint64),
                    ("bad", ctypes.c_uint64), ("ended", ctypes.c_int32),
                    ("final_res", ctypes.c_int32)]

    def __init__(self, lib, cq: tuple, rq: tuple, area_addr: int, token: int, user_data: int,
                 seed: int = 0, verify: bool = True, pending: int = 1 << 16) -> None:
        self.lib = lib
        self._off = (ctypes.c_uint64 * pending)()
        self._len = (ctypes.c_uint32 * pending)()
        self.args = a = self.Args()
        a.cq_head, a.cq_tail, a.cqes, a.cq_mask = cq
        a.rq_head, a.rq_tail, a.rqes, a.rq_entries, a.rq_tail_local = rq
        a.area, a.token, a.user_data, a.seed, a.verify = area_addr, token, user_data, seed, \
            int(verify)
        a.pend_off, a.pend_len = ctypes.addressof(self._off), ctypes.addressof(self._len)
        a.pend_cap = pending

    @staticmethod
    def load():
        """The library through ctypes, or None if it is not built."""
        lib = native.library("zcrx_rx")
        if lib is None:
            return None
        lib.zcrx_process.argtypes = [ctypes.POINTER(NativeZcrx.Args)]
        lib.zcrx_process.restype = ctypes.c_int
        return lib

    def process(self) -> int:
        """One pass of the C loop; returns the number of CQEs consumed."""
        return self.lib.zcrx_process(ctypes.byref(self.args))


def _accept(cfg: RxConfig, listener: socket.socket) -> socket.socket | None:
    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    while not cfg.should_stop(0, 0.0, time.monotonic()):
        if poller.poll(POLL_SLICE * 1000):
            conn, _ = listener.accept()
            return conn
    return None


def receive(cfg: RxConfig, ready: Callable[[], None] = lambda: None) -> RxResult:
    """Register, accept one connection, receive its stream zero-copy; return the counts."""
    res = RxResult(stack="zcrx")
    lib = None
    if cfg.native != "no":
        lib = NativeZcrx.load()
        if lib is None and cfg.native == "yes":
            raise FileNotFoundError(native.why_unavailable("zcrx_rx"))
        if lib is None:
            res.note = native.why_unavailable("zcrx_rx") + "; receiving in Python"
    idx = ifindex(cfg.iface)
    with Ring(64, flags=ring_flags(), cq_entries=4096) as ring:
        ifq = ZcrxIfq(ring, idx, cfg.iface, cfg.queue)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                    cfg.iface.encode())
                listener.bind(("0.0.0.0", cfg.port))
                listener.listen(1)
                ready()
                conn = _accept(cfg, listener)
                if conn is None:
                    res.stopped_by = "no connection"
                    return res
                with conn:
                    ops.recv_zc(ring, USER_DATA, conn.fileno(), ifq.zcrx_id)
                    if lib is not None:
                        res.native, res.stack = True, "zcrx-c"
                        _native_loop(cfg, ring, ifq, lib, res)
                    else:
                        _python_loop(cfg, ring, ifq, res)
        finally:
            ifq.close()
    return res


def _python_loop(cfg: RxConfig, ring: Ring, ifq: ZcrxIfq, res: RxResult) -> None:
    consumer = ZcrxConsumer(ifq.area, ifq.token, ifq.rq, USER_DATA)
    check = StreamCheck(cfg.run_id & 0xFF)
    while True:
        ring.submit_and_wait(1, timeout=POLL_SLICE)
        cqes = ring.copy_cqes_raw()
        now = time.monotonic()
        for piece in consumer.handle(cqes, _F_MORE):
            check.feed(piece)
        consumer.flush()
        if cqes:
            res.first = res.first or now
            res.last = now
        res.packets, res.bytes = consumer.cqes, consumer.bytes
        if consumer.ended:
            res.stopped_by = "eof" if consumer.final_res == 0 else \
                f"ended: {os.strerror(-consumer.final_res)}"
            break
        res.stopped_by = cfg.should_stop(0, res.last, now)
        if res.stopped_by:
            break
    res.unique = res.packets
    res.extra = {"stream_mismatches": check.bad, "pending_returns": len(consumer.pending)}


def _native_loop(cfg: RxConfig, ring: Ring, ifq: ZcrxIfq, lib, res: RxResult) -> None:
    # The C loop reads the CQ through a mapping of its own (the same pages as
    # the Ring's), so from here on only it consumes completions; the Ring is
    # used to submit and to wait, never to copy CQEs.
    p = ring.params
    cq_map = mmap.mmap(ring.fd, p.cq_off.cqes + p.cq_entries * 32,
                       mmap.MAP_SHARED | mmap.MAP_POPULATE, mmap.PROT_READ | mmap.PROT_WRITE,
                       offset=abi.IORING_OFF_SQ_RING)
    base = _addr(cq_map)
    rq_base = _addr(ifq.region)
    off = ifq.reg.offsets
    nat = NativeZcrx(lib, (base + p.cq_off.head, base + p.cq_off.tail, base + p.cq_off.cqes,
                           p.cq_entries - 1),
                     (rq_base + off.head, rq_base + off.tail, rq_base + off.rqes,
                      ifq.reg.rq_entries, ifq.rq.tail),
                     _addr(ifq.area), ifq.token, USER_DATA, seed=cfg.run_id & 0xFF)
    try:
        while True:
            ring.submit_and_wait(1, timeout=POLL_SLICE)
            now = time.monotonic()
            if nat.process():
                res.first = res.first or now
                res.last = now
            a = nat.args
            res.packets, res.bytes = a.cqes_seen, a.bytes
            if a.ended:
                res.stopped_by = "eof" if a.final_res == 0 else \
                    f"ended: {os.strerror(-a.final_res)}"
                break
            res.stopped_by = cfg.should_stop(0, res.last, now)
            if res.stopped_by:
                break
        res.unique = res.packets
        res.extra = {"stream_mismatches": nat.args.bad,
                     "pending_returns": nat.args.pend_count}
    finally:
        cq_map.close()


if __name__ == "__main__":
    sys.exit(run_receiver("rx_zcrx", receive, description=__doc__))
