"""The lab's test frames: Ethernet + IPv4 + UDP, with a sequence number in the payload.

Every frame of a run is the same template; only the 8-byte sequence number,
the UDP checksum and, with ``flows`` > 1, the UDP source port change.
Layout (offsets in the frame)::

     0  Ethernet  dst MAC, src MAC, type 0x0800                  14 bytes
    14  IPv4      20 bytes, no options, DF, TTL 64, proto 17      20 bytes
    34  UDP       sport, dport, length, checksum                   8 bytes
    42  payload   magic "URNG" | run id (u32) | seq (u64) | zeros  size - 42

All fields are big-endian (network order). Receivers that see whole frames
(AF_PACKET, AF_XDP, DPDK) find the payload at :data:`PAYLOAD_OFFSET`;
those on a UDP socket get the payload alone. The run id keeps frames of
another run (or a leftover from a previous one) from being counted.

The checksums are real: the receiving kernel verifies them and silently
drops a UDP datagram whose checksum is wrong. The IPv4 header never changes,
so its checksum is computed once; the UDP checksum is updated per frame by
adding the sequence number's four 16-bit words to the template's sum
(RFC 1624 incremental update), which costs a few integer operations.

**Flows.** A multi-queue device picks a queue per frame from a hash of its
addresses and ports (the kernel's flow hash, ``skb_get_hash``), so frames
that all look alike land on one queue. With ``flows=F`` the frame carrying
``seq`` leaves from source port ``sport + seq % F``: F flows, consecutive
frames in different ones. The port is one more 16-bit word of the checksum,
so it too is an incremental update: the sum grows by ``seq % F``.
"""

from __future__ import annotations

import socket
import struct

__all__ = [
    "ETH_HLEN", "IP_HLEN", "UDP_HLEN", "PAYLOAD_OFFSET", "SEQ_OFFSET", "MAGIC",
    "MIN_FRAME", "PAYLOAD_MIN", "DEFAULT_PORT", "max_frame", "check_size", "check_flows",
    "inet_checksum", "Template", "parse_payload", "parse_frame", "mac_bytes",
]

ETH_HLEN, IP_HLEN, UDP_HLEN = 14, 20, 8
PAYLOAD_OFFSET = ETH_HLEN + IP_HLEN + UDP_HLEN  # 42
MAGIC = 0x55524E47  # "URNG"
_PAYLOAD = struct.Struct("!IIQ")  # magic, run id, seq
PAYLOAD_MIN = _PAYLOAD.size  # 16
SEQ_OFFSET = PAYLOAD_OFFSET + 8  # the seq inside a frame
#: The smallest Ethernet frame without its 4-byte FCS (64 bytes on the wire).
MIN_FRAME = 60
DEFAULT_PORT = 9000
_ETH_P_IP = 0x0800
_IPPROTO_UDP = 17


def max_frame(mtu: int = 1500) -> int:
    """The largest frame (without FCS) a link with this MTU carries: ``mtu + 14``."""
    return mtu + ETH_HLEN


def check_size(size: int, mtu: int = 1500) -> int:
    """Return ``size`` if it is a valid frame size for this MTU, else raise ``ValueError``.

    Sizes are Ethernet frames as handed to the device, without the FCS: from
    :data:`MIN_FRAME` (60) to ``mtu + 14`` (1514 for the usual 1500).
    """
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"size must be an int, not {type(size).__name__}")
    if not MIN_FRAME <= size <= max_frame(mtu):
        raise ValueError(f"size {size} is out of range: frames are {MIN_FRAME}.."
                         f"{max_frame(mtu)} bytes (Ethernet without FCS, MTU {mtu})")
    return size


def check_flows(flows: int, sport: int = DEFAULT_PORT) -> int:
    """Return ``flows`` if ``sport .. sport + flows - 1`` are all valid ports, else raise."""
    if not isinstance(flows, int) or isinstance(flows, bool):
        raise TypeError(f"flows must be an int, not {type(flows).__name__}")
    if not 1 <= flows <= 65536 - sport:
        raise ValueError(f"flows must be in 1..{65536 - sport} (source ports {sport}.."
                         f"{sport + flows - 1} must stay below 65536), not {flows}")
    return flows


def inet_checksum(data: bytes, start: int = 0) -> int:
    """The Internet checksum (RFC 1071) of ``data``: ones' complement of the ones' complement sum.

    ``start`` is a partial sum to add (a pseudo-header's). Returns 16 bits.
    """
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total = start + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def mac_bytes(mac: str | bytes) -> bytes:
    """``"02:75:72:00:00:01"`` (or 6 raw bytes) as 6 bytes; ``ValueError`` otherwise."""
    if isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"a MAC address has 6 bytes, not {len(mac)}")
        return bytes(mac)
    parts = mac.split(":")
    try:
        raw = bytes(int(p, 16) for p in parts)
    except ValueError:
        raw = b""
    if len(parts) != 6 or len(raw) != 6 or any(len(p) not in (1, 2) for p in parts):
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


class Template:
    """All frames of one run: build them, or patch a copy in place for the next sequence number.

    ``size`` is the frame length (see :func:`check_size`); ``run_id`` a u32
    that receivers match so only this run's frames count; ``flows`` how many
    source ports (``sport .. sport + flows - 1``) the frames take turns on.
    """

    def __init__(self, size: int, *, src_mac: str, dst_mac: str, src_ip: str, dst_ip: str,
                 dport: int = DEFAULT_PORT, sport: int = DEFAULT_PORT, run_id: int = 0,
                 mtu: int = 1500, flows: int = 1) -> None:
        check_size(size, mtu)
        for name, port in (("dport", dport), ("sport", sport)):
            if not 1 <= port <= 65535:
                raise ValueError(f"{name} must be in 1..65535, not {port!r}")
        if not 0 <= run_id <= 0xFFFFFFFF:
            raise ValueError(f"run_id must be a u32, not {run_id!r}")
        check_flows(flows, sport)
        self.size, self.run_id, self.dport, self.sport = size, run_id, dport, sport
        self.flows = flows
        src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
        udp_len = size - ETH_HLEN - IP_HLEN
        eth = mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", _ETH_P_IP)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - ETH_HLEN, 0, 0x4000, 64,
                         _IPPROTO_UDP, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", inet_checksum(ip)) + ip[12:]
        payload = _PAYLOAD.pack(MAGIC, run_id, 0) + bytes(udp_len - UDP_HLEN - PAYLOAD_MIN)
        udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
        pseudo = src + dst + struct.pack("!BBH", 0, _IPPROTO_UDP, udp_len)
        # The template's ones' complement sum with seq = 0, not yet complemented.
        data = pseudo + udp + b"\0" * (len(udp) % 2)  # odd length: pad with a zero byte
        self._sum = _fold(sum(struct.unpack(f"!{len(data) // 2}H", data)))
        frame = bytearray(eth + ip + udp)
        self._pack_seq = struct.Struct("!Q").pack_into
        self._pack_u16 = struct.Struct("!H").pack_into
        self.set_seq(frame, 0, 0)
        self.frame0 = bytes(frame)

    def udp_checksum(self, seq: int) -> int:
        """The UDP checksum of the frame carrying ``seq`` (0 is sent as 0xffff, RFC 768)."""
        # seq % flows: the source port's rise over the template's (it never carries
        # past 0xffff, check_flows saw to that), one more word of the sum.
        total = self._sum + (seq >> 48) + ((seq >> 32) & 0xFFFF) + ((seq >> 16) & 0xFFFF) \
            + (seq & 0xFFFF) + seq % self.flows
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        return (~total & 0xFFFF) or 0xFFFF

    def source_port(self, seq: int) -> int:
        """The UDP source port of the frame carrying ``seq``: ``sport + seq % flows``."""
        return self.sport + seq % self.flows

    def set_seq(self, buf, offset: int, seq: int) -> None:
        """Turn the template copy at ``buf[offset:]`` into the frame carrying ``seq``."""
        self._pack_seq(buf, offset + SEQ_OFFSET, seq)
        if self.flows > 1:
            self._pack_u16(buf, offset + ETH_HLEN + IP_HLEN, self.sport + seq % self.flows)
        self._pack_u16(buf, offset + ETH_HLEN + IP_HLEN + 6, self.udp_checksum(seq))

    def frame(self, seq: int) -> bytes:
        """The whole frame carrying ``seq``."""
        buf = bytearray(self.frame0)
        self.set_seq(buf, 0, seq)
        return bytes(buf)


def parse_payload(buf, offset: int = 0) -> tuple[int, int] | None:
    """``(run_id, seq)`` from a payload starting at ``buf[offset]``, or None if it is not ours."""
    if len(buf) - offset < PAYLOAD_MIN:
        return None
    magic, run_id, seq = _PAYLOAD.unpack_from(buf, offset)
    if magic != MAGIC:
        return None
    return run_id, seq


def parse_frame(buf, offset: int = 0, length: int | None = None,
                dport: int = DEFAULT_PORT) -> tuple[int, int] | None:
    """``(run_id, seq)`` of the frame at ``buf[offset:]`` if it is a lab frame to ``dport``."""
    end = len(buf) if length is None else offset + length
    if end - offset < PAYLOAD_OFFSET + PAYLOAD_MIN:
        return None
    eth_type, = struct.unpack_from("!H", buf, offset + 12)
    if eth_type != _ETH_P_IP or buf[offset + ETH_HLEN] != 0x45 \
            or buf[offset + ETH_HLEN + 9] != _IPPROTO_UDP:
        return None
    port, = struct.unpack_from("!H", buf, offset + ETH_HLEN + IP_HLEN + 2)
    if port != dport:
        return None
    return parse_payload(buf, offset + PAYLOAD_OFFSET)
