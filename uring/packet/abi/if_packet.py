"""``<linux/if_packet.h>`` and the bits of ``<linux/if_ether.h>`` AF_PACKET needs, in ctypes.

AF_PACKET sockets see whole link-layer frames. With ``PACKET_RX_RING`` and
``TPACKET_V3`` (3.2) the kernel copies frames into a ring of blocks shared
with the process through ``mmap``, and hands over a whole block at a time:
one wake-up for many frames. The structures keep the kernel's names and
layout; constants are grouped into families whose members carry ``.since``.

Versions before 3.0 come from changelogs and are marked approx.
"""

from __future__ import annotations

import ctypes

from ...abi._versioned import VersionedEnum, VersionedFlag, VersionedInt

u8, u16, u32, u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64

__all__ = [
    "tpacket_req3", "tpacket_bd_ts", "tpacket_hdr_v1", "tpacket_bd_header_u",
    "tpacket_block_desc", "tpacket_hdr_variant1", "tpacket3_hdr", "sockaddr_ll",
    "tpacket_stats_v3", "fanout_args",
    "PacketSockopt", "TpacketVersion", "TpStatus", "PacketType", "PacketFanout",
    "PacketFanoutFlag", "EthP",
    "AF_PACKET", "SOL_PACKET", "TPACKET_ALIGNMENT", "TP_FT_REQ_FILL_RXHASH",
    "PACKET_MR_PROMISC", "tpacket_align",
]


# ---------------------------------------------------------------------------
# Structures
# ---------------------------------------------------------------------------

class tpacket_req3(ctypes.Structure):
    """``PACKET_RX_RING``/``PACKET_TX_RING`` argument for ``TPACKET_V3`` (3.2): the ring's shape.

    ``tp_block_size`` is a multiple of the page size; ``tp_frame_nr`` must equal
    ``tp_block_size // tp_frame_size * tp_block_nr`` even though V3 packs frames
    by their real size. ``tp_retire_blk_tov`` (ms) hands over a partly filled
    block after that long.
    """

    _since_ = "3.2"
    _fields_ = [("tp_block_size", ctypes.c_uint), ("tp_block_nr", ctypes.c_uint),
                ("tp_frame_size", ctypes.c_uint), ("tp_frame_nr", ctypes.c_uint),
                ("tp_retire_blk_tov", ctypes.c_uint), ("tp_sizeof_priv", ctypes.c_uint),
                ("tp_feature_req_word", ctypes.c_uint)]


class tpacket_bd_ts(ctypes.Structure):
    """Block timestamp (3.2): seconds and micro- or nanoseconds (``ts_usec``/``ts_nsec`` union)."""

    class _frac(ctypes.Union):
        _fields_ = [("ts_usec", ctypes.c_uint), ("ts_nsec", ctypes.c_uint)]

    _since_ = "3.2"
    _anonymous_ = ("_u",)
    _fields_ = [("ts_sec", ctypes.c_uint), ("_u", _frac)]


class tpacket_hdr_v1(ctypes.Structure):
    """Body of a ``TPACKET_V3`` block header (3.2).

    ``block_status`` is the hand-over word: the kernel sets ``TP_STATUS_USER``
    when the block is ours, we store ``TP_STATUS_KERNEL`` (0) to give it back.
    """

    _since_ = "3.2"
    _fields_ = [("block_status", u32), ("num_pkts", u32), ("offset_to_first_pkt", u32),
                ("blk_len", u32), ("seq_num", u64), ("ts_first_pkt", tpacket_bd_ts),
                ("ts_last_pkt", tpacket_bd_ts)]


class tpacket_bd_header_u(ctypes.Union):
    """``union tpacket_bd_header_u`` (3.2): only ``bh1`` exists so far."""

    _since_ = "3.2"
    _fields_ = [("bh1", tpacket_hdr_v1)]


class tpacket_block_desc(ctypes.Structure):
    """The 48-byte header at the start of every ``TPACKET_V3`` block (3.2)."""

    _since_ = "3.2"
    _fields_ = [("version", u32), ("offset_to_priv", u32), ("hdr", tpacket_bd_header_u)]


class tpacket_hdr_variant1(ctypes.Structure):
    """Per-frame extras of ``TPACKET_V3`` (3.2): RX hash and VLAN tag."""

    _since_ = "3.2"
    _fields_ = [("tp_rxhash", u32), ("tp_vlan_tci", u32), ("tp_vlan_tpid", u16),
                ("tp_padding", u16)]


class tpacket3_hdr(ctypes.Structure):
    """Header in front of each frame inside a ``TPACKET_V3`` block (3.2).

    The frame starts ``tp_mac`` bytes after this header and is ``tp_snaplen``
    bytes long; the next header is ``tp_next_offset`` bytes on (0 on the last).
    """

    class _variant(ctypes.Union):
        _fields_ = [("hv1", tpacket_hdr_variant1)]

    _since_ = "3.2"
    _anonymous_ = ("_u",)
    _fields_ = [("tp_next_offset", u32), ("tp_sec", u32), ("tp_nsec", u32),
                ("tp_snaplen", u32), ("tp_len", u32), ("tp_status", u32),
                ("tp_mac", u16), ("tp_net", u16), ("_u", _variant), ("tp_padding", u8 * 8)]


class sockaddr_ll(ctypes.Structure):
    """Link-layer socket address (2.2): ``sll_protocol`` is in network byte order."""

    _since_ = "2.2"
    _fields_ = [("sll_family", ctypes.c_ushort), ("sll_protocol", u16),
                ("sll_ifindex", ctypes.c_int), ("sll_hatype", ctypes.c_ushort),
                ("sll_pkttype", ctypes.c_ubyte), ("sll_halen", ctypes.c_ubyte),
                ("sll_addr", ctypes.c_ubyte * 8)]


class tpacket_stats_v3(ctypes.Structure):
    """``PACKET_STATISTICS`` result on a V3 socket (3.2); reading it resets the counters."""

    _since_ = "3.2"
    _fields_ = [("tp_packets", ctypes.c_uint), ("tp_drops", ctypes.c_uint),
                ("tp_freeze_q_cnt", ctypes.c_uint)]


class fanout_args(ctypes.Structure):
    """``PACKET_FANOUT`` argument in its long form (5.19 approx.)."""

    _since_ = "5.19"
    _fields_ = [("id", u16), ("type_flags", u16), ("max_num_members", u32)]


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

AF_PACKET = VersionedInt(17, "2.2", "AF_PACKET")
SOL_PACKET = VersionedInt(263, "2.2", "SOL_PACKET")
TPACKET_ALIGNMENT = VersionedInt(16, "2.6.27", "TPACKET_ALIGNMENT")  # approx.
TP_FT_REQ_FILL_RXHASH = VersionedInt(1, "3.2", "TP_FT_REQ_FILL_RXHASH")
PACKET_MR_PROMISC = VersionedInt(1, "2.2", "PACKET_MR_PROMISC")


def tpacket_align(x: int) -> int:
    """``TPACKET_ALIGN(x)``: round up to the 16-byte alignment of ring frames."""
    return (x + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1)


class PacketSockopt(VersionedEnum):
    """``SOL_PACKET`` socket option names."""

    PACKET_ADD_MEMBERSHIP = 1, "2.2"
    PACKET_DROP_MEMBERSHIP = 2, "2.2"
    PACKET_RX_RING = 5, "2.4"  # approx.
    PACKET_STATISTICS = 6, "2.4"  # approx.
    PACKET_AUXDATA = 8, "2.6.21"  # approx.
    PACKET_VERSION = 10, "2.6.27"  # approx.
    PACKET_HDRLEN = 11, "2.6.27"  # approx.
    PACKET_RESERVE = 12, "2.6.27"  # approx.
    PACKET_TX_RING = 13, "2.6.31"  # approx.
    PACKET_LOSS = 14, "2.6.31"  # approx.
    PACKET_TIMESTAMP = 17, "2.6.36"  # approx.
    PACKET_FANOUT = 18, "3.1"
    # Frames go straight to the driver's xmit, skipping the qdisc layer: no
    # queueing, and a full device queue shows up as ENOBUFS at the sender.
    PACKET_QDISC_BYPASS = 20, "3.14"
    PACKET_FANOUT_DATA = 22, "4.5"  # approx.
    PACKET_IGNORE_OUTGOING = 23, "4.20"
    PACKET_VNET_HDR_SZ = 24, "6.2"


class TpacketVersion(VersionedEnum):
    """``enum tpacket_versions``: the value of ``PACKET_VERSION``; set it before the ring."""

    TPACKET_V1 = 0, "2.6.27"  # approx.
    TPACKET_V2 = 1, "2.6.27"  # approx.
    TPACKET_V3 = 2, "3.2"


class TpStatus(VersionedFlag):
    """``TP_STATUS_*``: a V3 block's ``block_status`` or a frame's ``tp_status``."""

    TP_STATUS_KERNEL = 0, "2.4"  # approx.
    TP_STATUS_USER = 1 << 0, "2.4"  # approx.
    TP_STATUS_COPY = 1 << 1, "2.6.27"  # approx.
    TP_STATUS_LOSING = 1 << 2, "2.6.27"  # approx.
    TP_STATUS_CSUMNOTREADY = 1 << 3, "2.6.27"  # approx.
    TP_STATUS_VLAN_VALID = 1 << 4, "2.6.27"  # approx.
    TP_STATUS_BLK_TMO = 1 << 5, "3.2"
    TP_STATUS_VLAN_TPID_VALID = 1 << 6, "3.14"  # approx.
    TP_STATUS_CSUM_VALID = 1 << 7, "3.18"  # approx.
    TP_STATUS_TS_SOFTWARE = 1 << 29, "3.5"  # approx.
    TP_STATUS_TS_SYS_HARDWARE = 1 << 30, "3.5"  # approx.
    TP_STATUS_TS_RAW_HARDWARE = 1 << 31, "3.5"  # approx.


class PacketType(VersionedEnum):
    """``sockaddr_ll.sll_pkttype``: who the frame was addressed to."""

    PACKET_HOST = 0, "2.2"
    PACKET_BROADCAST = 1, "2.2"
    PACKET_MULTICAST = 2, "2.2"
    PACKET_OTHERHOST = 3, "2.2"
    PACKET_OUTGOING = 4, "2.2"


class PacketFanout(VersionedEnum):
    """``PACKET_FANOUT`` modes: how frames are spread over the sockets of a group."""

    PACKET_FANOUT_HASH = 0, "3.1"
    PACKET_FANOUT_LB = 1, "3.1"
    PACKET_FANOUT_CPU = 2, "3.1"
    PACKET_FANOUT_ROLLOVER = 3, "3.10"  # approx.
    PACKET_FANOUT_RND = 4, "3.14"  # approx.
    PACKET_FANOUT_QM = 5, "3.14"  # approx.
    PACKET_FANOUT_CBPF = 6, "4.3"  # approx.
    PACKET_FANOUT_EBPF = 7, "4.3"  # approx.


class PacketFanoutFlag(VersionedFlag):
    """Flags OR'ed into the ``PACKET_FANOUT`` type (upper 16 bits of the option value)."""

    PACKET_FANOUT_FLAG_ROLLOVER = 0x1000, "3.10"  # approx.
    PACKET_FANOUT_FLAG_UNIQUEID = 0x2000, "4.12"  # approx.
    PACKET_FANOUT_FLAG_IGNORE_OUTGOING = 0x4000, "6.3"  # approx.
    PACKET_FANOUT_FLAG_DEFRAG = 0x8000, "3.1"


class EthP(VersionedEnum):
    """``ETH_P_*`` (``<linux/if_ether.h>``): EtherTypes, passed through ``htons()``."""

    ETH_P_ALL = 0x0003, "2.2"
    ETH_P_IP = 0x0800, "2.2"
    ETH_P_ARP = 0x0806, "2.2"
    ETH_P_IPV6 = 0x86DD, "2.2"


VERSIONED_CLASSES = (PacketSockopt, TpacketVersion, TpStatus, PacketType, PacketFanout,
                     PacketFanoutFlag, EthP)
STRUCTS = (tpacket_req3, tpacket_bd_ts, tpacket_hdr_v1, tpacket_bd_header_u,
           tpacket_block_desc, tpacket_hdr_variant1, tpacket3_hdr, sockaddr_ll,
           tpacket_stats_v3, fanout_args)

# Every member also under its C name, as <linux/if_packet.h> spells it.
for _cls in VERSIONED_CLASSES:
    globals().update(_cls.__members__)
    __all__ += list(_cls.__members__)
del _cls
