"""Receiver: AF_PACKET with a ``TPACKET_V3`` RX ring, read straight from shared memory.

The kernel copies every frame into the next free *block* of a ring mapped
into our address space and hands over a whole block at once (when it is
full, or ``tp_retire_blk_tov`` ms after its first frame): the receive loop
makes no system call per frame, and one ``poll`` per block at most.

Block protocol (``Documentation/networking/packet_mmap.rst``): block ``i``
starts at ``i * block_size`` with a ``tpacket_block_desc``; it is ours while
``block_status & TP_STATUS_USER``. Its ``num_pkts`` frames are chained by
``tpacket3_hdr.tp_next_offset`` from ``offset_to_first_pkt``; each frame
begins ``tp_mac`` bytes after its header. Storing ``TP_STATUS_KERNEL`` (0)
hands the block back. Blocks are used strictly in order.

The socket sees frames after GRO and before IP, so the IP stack still runs
for each of them (nothing listens on the port: they end there).

    python -m uring.packet.rx_tpacket_v3 --iface urx1a2b3c --count 1000
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

from ..barrier import load_acquire, store_release
from .abi.if_packet import (
    ETH_P_IP, PACKET_RX_RING, PACKET_STATISTICS, PACKET_VERSION, SOL_PACKET, TP_STATUS_KERNEL,
    TP_STATUS_USER, TPACKET_V3, tpacket_block_desc, tpacket_hdr_v1, tpacket_req3,
    tpacket_stats_v3, tpacket3_hdr)
from .common import POLL_SLICE, RxConfig, run_receiver
from .frames import MAGIC
from .stats import RxResult, SeqTracker

__all__ = ["receive", "RxRing", "BLOCK_SIZE", "BLOCK_NR", "RETIRE_MS"]

BLOCK_SIZE = 1 << 18  # 256 KiB: a power-of-two number of pages wastes nothing
BLOCK_NR = 64  # 16 MiB of ring
RETIRE_MS = 10  # hand over a partly filled block after 10 ms
_FRAME_SIZE = 2048  # V3 packs frames by size; this only has to divide the block

# Byte offsets taken from the ctypes declarations, so they cannot drift.
_BH = tpacket_block_desc.hdr.offset
_STATUS = _BH + tpacket_hdr_v1.block_status.offset  # 8
_NUM_PKTS = _BH + tpacket_hdr_v1.num_pkts.offset  # 12
_FIRST = _BH + tpacket_hdr_v1.offset_to_first_pkt.offset  # 16
_HDR = struct.Struct("<I8xI8xH")  # tp_next_offset, tp_snaplen, tp_mac (offsets 0, 12, 24)
assert (tpacket3_hdr.tp_next_offset.offset, tpacket3_hdr.tp_snaplen.offset,
        tpacket3_hdr.tp_mac.offset) == (0, 12, 24)
# From the UDP destination port to the end of our payload: dport, len, csum, magic, run, seq.
_UDP = struct.Struct("!H4xIIQ")
_DPORT_OFF = 36


class RxRing:
    """An AF_PACKET socket on one interface with its TPACKET_V3 ring mapped."""

    def __init__(self, iface: str, block_size: int = BLOCK_SIZE, block_nr: int = BLOCK_NR,
                 retire_ms: int = RETIRE_MS) -> None:
        if block_size % mmap.PAGESIZE or block_size % _FRAME_SIZE:
            raise ValueError(f"block_size must be a multiple of {mmap.PAGESIZE} and "
                             f"{_FRAME_SIZE}, not {block_size}")
        self.block_size, self.block_nr = block_size, block_nr
        # Only IPv4 frames are queued to us: ETH_P_IP in network order.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        try:
            # The version must be chosen before the ring exists.
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            req = tpacket_req3(tp_block_size=block_size, tp_block_nr=block_nr,
                               tp_frame_size=_FRAME_SIZE,
                               tp_frame_nr=block_size // _FRAME_SIZE * block_nr,
                               tp_retire_blk_tov=retire_ms)
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, bytes(req))
            self.map = mmap.mmap(self.sock.fileno(), block_size * block_nr, mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE)
            # Bind last: frames start arriving only into a ready ring.
            self.sock.bind((iface, ETH_P_IP))
        except BaseException:
            self.sock.close()
            raise
        self.view = memoryview(self.map)
        # One aligned u32 access per status word (see uring.barrier), never a byte slice.
        self.words = self.view.cast("I")

    def status_index(self, block: int) -> int:
        """Index of block ``block``'s ``block_status`` in :attr:`words`."""
        return (block * self.block_size + _STATUS) // 4

    def statistics(self) -> tpacket_stats_v3:
        """``PACKET_STATISTICS``: frames seen and dropped since the last call (resets them)."""
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, ctypes.sizeof(tpacket_stats_v3))
        return tpacket_stats_v3.from_buffer_copy(raw)

    def close(self) -> None:
        """Unmap the ring and close the socket."""
        self.words.release()
        self.view.release()
        self.map.close()
        self.sock.close()

    def __enter__(self) -> "RxRing":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def receive(cfg: RxConfig, ready: Callable[[], None] = lambda: None) -> RxResult:
    """Receive until a stop rule fires; return the counts."""
    res = RxResult(stack="tpacket-v3")
    tracker = SeqTracker(cfg.count)
    add = tracker.add
    run_id, port = cfg.run_id, cfg.port
    hdr_unpack, udp_unpack = _HDR.unpack_from, _UDP.unpack_from
    with RxRing(cfg.iface) as ring:
        view, words, bs = ring.view, ring.words, ring.block_size
        poller = select.poll()
        poller.register(ring.sock.fileno(), select.POLLIN | select.POLLERR)
        block = 0
        ready()
        while True:
            status_at = ring.status_index(block)
            # Acquire: the kernel wrote the frames before it set TP_STATUS_USER.
            if not load_acquire(words, status_at) & TP_STATUS_USER:
                res.stopped_by = cfg.should_stop(tracker.unique, res.last, time.monotonic())
                if res.stopped_by:
                    break
                poller.poll(POLL_SLICE * 1000)
                continue
            now = time.monotonic()
            base = block * bs
            off = base + words[(base + _FIRST) // 4]
            for _ in range(words[(base + _NUM_PKTS) // 4]):
                nxt, snaplen, mac = hdr_unpack(view, off)
                frame = off + mac
                if snaplen >= 58:
                    dport, magic, rid, seq = udp_unpack(view, frame + _DPORT_OFF)
                    if dport == port and magic == MAGIC and rid == run_id:
                        add(seq)
                        res.packets += 1
                        res.bytes += snaplen
                    else:
                        res.foreign += 1
                else:
                    res.foreign += 1
                off += nxt
            # Release: we are done reading the block before the kernel may refill it.
            store_release(words, status_at, TP_STATUS_KERNEL)
            block = (block + 1) % ring.block_nr
            if res.packets and not res.first:
                res.first = now
            res.last = now
            res.stopped_by = cfg.should_stop(tracker.unique, now, now)
            if res.stopped_by:
                break
        stats = ring.statistics()
        res.extra = {"kernel_packets": stats.tp_packets, "kernel_drops": stats.tp_drops,
                     "freeze_q_cnt": stats.tp_freeze_q_cnt}
    return res.take(tracker)


if __name__ == "__main__":
    sys.exit(run_receiver("rx_tpacket_v3", receive, description=__doc__))
