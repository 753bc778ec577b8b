"""``<linux/if_xdp.h>`` in ctypes: AF_XDP sockets, their UMEM and their four rings.

An AF_XDP socket (4.18) receives frames that an XDP program redirected to it
through an ``XSKMAP``. The frames land in the UMEM, a memory area the process
registered; four single-producer/single-consumer rings, mapped from the
socket, pass UMEM addresses back and forth: the *fill* ring (process to
kernel: empty frames), the *RX* ring (kernel to process: received frames),
and TX/completion for sending.
"""

from __future__ import annotations

import ctypes

from ...abi._versioned import VersionedEnum, VersionedFlag, VersionedInt

u16, u32, u64 = ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64

__all__ = [
    "xdp_umem_reg", "xdp_ring_offset", "xdp_mmap_offsets", "sockaddr_xdp", "xdp_desc",
    "xdp_statistics", "xdp_options", "xdp_md",
    "XdpSockopt", "XdpBindFlag", "XdpRingFlag", "XdpUmemFlag", "XdpOptionsFlag",
    "XdpDescOption", "XdpMmapOffset",
    "AF_XDP", "SOL_XDP", "XSK_UNALIGNED_BUF_OFFSET_SHIFT", "XSK_UNALIGNED_BUF_ADDR_MASK",
    "XDP_PACKET_HEADROOM",
]


class xdp_umem_reg(ctypes.Structure):
    """``XDP_UMEM_REG`` argument (4.18): the UMEM area and how it is cut into chunks.

    ``chunk_size`` is a power of two from 2048 to the page size in aligned
    mode. ``tx_metadata_len`` (6.8) sits in what was tail padding; zero it.
    """

    _since_ = "4.18"
    _fields_ = [("addr", u64), ("len", u64), ("chunk_size", u32), ("headroom", u32),
                ("flags", u32), ("tx_metadata_len", u32)]


class xdp_ring_offset(ctypes.Structure):
    """Byte offsets of one ring's producer, consumer, descriptors and flags (4.18; flags 5.4)."""

    _since_ = "4.18"
    _fields_ = [("producer", u64), ("consumer", u64), ("desc", u64), ("flags", u64)]


class xdp_mmap_offsets(ctypes.Structure):
    """``XDP_MMAP_OFFSETS`` result (4.18): the layout of the RX, TX, fill and completion rings."""

    _since_ = "4.18"
    _fields_ = [("rx", xdp_ring_offset), ("tx", xdp_ring_offset), ("fr", xdp_ring_offset),
                ("cr", xdp_ring_offset)]


class sockaddr_xdp(ctypes.Structure):
    """The address an AF_XDP socket binds to (4.18): interface and queue.

    Python's ``socket.bind`` does not know this family; pass the 16 bytes to
    libc's ``bind()``.
    """

    _since_ = "4.18"
    _fields_ = [("sxdp_family", u16), ("sxdp_flags", u16), ("sxdp_ifindex", u32),
                ("sxdp_queue_id", u32), ("sxdp_shared_umem_fd", u32)]


class xdp_desc(ctypes.Structure):
    """An RX or TX ring entry (4.18): UMEM address and length of one frame.

    Fill and completion ring entries are bare ``__u64`` UMEM addresses.
    """

    _since_ = "4.18"
    _fields_ = [("addr", u64), ("len", u32), ("options", u32)]


class xdp_statistics(ctypes.Structure):
    """``XDP_STATISTICS`` result (4.18; the last three counters 5.9)."""

    _since_ = "4.18"
    _fields_ = [("rx_dropped", u64), ("rx_invalid_descs", u64), ("tx_invalid_descs", u64),
                ("rx_ring_full", u64), ("rx_fill_ring_empty_descs", u64),
                ("tx_ring_empty_descs", u64)]


class xdp_options(ctypes.Structure):
    """``XDP_OPTIONS`` result (5.3): ``XDP_OPTIONS_ZEROCOPY`` when bound in zero-copy mode."""

    _since_ = "5.3"
    _fields_ = [("flags", u32)]


class xdp_md(ctypes.Structure):
    """The context an XDP program receives in r1 (4.8; ``rx_queue_index`` 4.16).

    Pointer fields are 32-bit here; the verifier rewrites accesses to the
    kernel's real ``struct xdp_buff``.
    """

    _since_ = "4.8"
    _fields_ = [("data", u32), ("data_end", u32), ("data_meta", u32),
                ("ingress_ifindex", u32), ("rx_queue_index", u32), ("egress_ifindex", u32)]


AF_XDP = VersionedInt(44, "4.18", "AF_XDP")
SOL_XDP = VersionedInt(283, "4.18", "SOL_XDP")
XSK_UNALIGNED_BUF_OFFSET_SHIFT = VersionedInt(48, "5.4", "XSK_UNALIGNED_BUF_OFFSET_SHIFT")
XSK_UNALIGNED_BUF_ADDR_MASK = VersionedInt((1 << 48) - 1, "5.4", "XSK_UNALIGNED_BUF_ADDR_MASK")
# <linux/bpf.h>: bytes the kernel reserves in front of each frame; in copy
# mode an RX descriptor's addr is chunk base + this + the UMEM headroom.
XDP_PACKET_HEADROOM = VersionedInt(256, "4.8", "XDP_PACKET_HEADROOM")  # approx.


class XdpSockopt(VersionedEnum):
    """``SOL_XDP`` socket option names."""

    XDP_MMAP_OFFSETS = 1, "4.18"
    XDP_RX_RING = 2, "4.18"
    XDP_TX_RING = 3, "4.18"
    XDP_UMEM_REG = 4, "4.18"
    XDP_UMEM_FILL_RING = 5, "4.18"
    XDP_UMEM_COMPLETION_RING = 6, "4.18"
    XDP_STATISTICS = 7, "4.18"
    XDP_OPTIONS = 8, "5.3"
    XDP_MAX_TX_SKB_BUDGET = 9, "6.17"  # approx.


class XdpBindFlag(VersionedFlag):
    """``sockaddr_xdp.sxdp_flags``."""

    XDP_SHARED_UMEM = 1 << 0, "4.18"
    XDP_COPY = 1 << 1, "4.18"  # approx.
    XDP_ZEROCOPY = 1 << 2, "4.18"  # approx.
    XDP_USE_NEED_WAKEUP = 1 << 3, "5.4"
    XDP_USE_SG = 1 << 4, "6.6"


class XdpRingFlag(VersionedFlag):
    """The flags word of a ring (at ``xdp_ring_offset.flags``)."""

    # The kernel wants a syscall (poll, sendto, recvfrom) before it looks at
    # this ring again; only set when bound with XDP_USE_NEED_WAKEUP.
    XDP_RING_NEED_WAKEUP = 1 << 0, "5.4"


class XdpUmemFlag(VersionedFlag):
    """``xdp_umem_reg.flags``."""

    XDP_UMEM_UNALIGNED_CHUNK_FLAG = 1 << 0, "5.4"
    XDP_UMEM_TX_SW_CSUM = 1 << 1, "6.11"  # approx.
    XDP_UMEM_TX_METADATA_LEN = 1 << 2, "6.11"  # approx.


class XdpOptionsFlag(VersionedFlag):
    """``xdp_options.flags``."""

    XDP_OPTIONS_ZEROCOPY = 1 << 0, "5.3"


class XdpDescOption(VersionedFlag):
    """``xdp_desc.options``."""

    XDP_PKT_CONTD = 1 << 0, "6.6"
    XDP_TX_METADATA = 1 << 1, "6.8"


class XdpMmapOffset(VersionedEnum):
    """``mmap`` offsets (page offsets times the page size) of the four rings on the socket fd."""

    XDP_PGOFF_RX_RING = 0, "4.18"
    XDP_PGOFF_TX_RING = 0x80000000, "4.18"
    XDP_UMEM_PGOFF_FILL_RING = 0x100000000, "4.18"
    XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000, "4.18"


VERSIONED_CLASSES = (XdpSockopt, XdpBindFlag, XdpRingFlag, XdpUmemFlag, XdpOptionsFlag,
                     XdpDescOption, XdpMmapOffset)
STRUCTS = (xdp_umem_reg, xdp_ring_offset, xdp_mmap_offsets, sockaddr_xdp, xdp_desc,
           xdp_statistics, xdp_options, xdp_md)

# Every member also under its C name, as <linux/if_xdp.h> spells it.
for _cls in VERSIONED_CLASSES:
    globals().update(_cls.__members__)
    __all__ += list(_cls.__members__)
del _cls
