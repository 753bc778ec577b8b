"""Frames and sequence tracking, without a network: checksums, parsing, counting."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uring.packet import frames
from uring.packet.stats import RxResult, SeqTracker


def make(size=64, run_id=7, **kw):
    return frames.Template(size, src_mac="02:75:72:00:00:01", dst_mac="02:75:72:00:00:02",
                           src_ip="10.201.0.1", dst_ip="10.201.0.2", run_id=run_id, **kw)


def full_udp_checksum_ok(frame: bytes) -> bool:
    """Verify the UDP checksum from scratch, as a receiving kernel does."""
    ip = frame[14:34]
    udp = frame[34:]
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    return frames.inet_checksum(pseudo + udp) == 0


@settings(max_examples=200, deadline=None)
@given(size=st.integers(frames.MIN_FRAME, 1514), seq=st.integers(0, 2**64 - 1),
       run_id=st.integers(0, 2**32 - 1))
def test_every_frame_has_right_checksums_and_parses_back(size, seq, run_id):
    tpl = make(size, run_id)
    f = tpl.frame(seq)
    assert len(f) == size
    assert frames.inet_checksum(f[14:34]) == 0  # IPv4 header checksum
    assert full_udp_checksum_ok(f)
    assert struct.unpack_from("!H", f, 40)[0] != 0  # 0 means "no checksum" in UDP
    assert frames.parse_frame(f) == (run_id, seq)
    assert frames.parse_payload(f, frames.PAYLOAD_OFFSET) == (run_id, seq)
    assert struct.unpack_from("!H", f, 16)[0] == size - 14  # IP total length
    assert struct.unpack_from("!H", f, 38)[0] == size - 34  # UDP length


def test_set_seq_patches_a_copy_in_place():
    tpl = make(100)
    buf = bytearray(300) + bytearray(tpl.frame0)
    tpl.set_seq(buf, 300, 12345)
    assert bytes(buf[300:]) == tpl.frame(12345)


def test_header_fields():
    f = make(64).frame(1)
    assert f[:6] == bytes.fromhex("027572000002") and f[6:12] == bytes.fromhex("027572000001")
    assert f[12:14] == b"\x08\x00" and f[14] == 0x45 and f[23] == 17
    assert socket.inet_ntoa(f[26:30]) == "10.201.0.1"
    assert socket.inet_ntoa(f[30:34]) == "10.201.0.2"
    assert struct.unpack_from("!HH", f, 34) == (frames.DEFAULT_PORT, frames.DEFAULT_PORT)


@pytest.mark.parametrize("size", [0, 59, 1515, 100000])
def test_size_out_of_range_is_a_clear_error(size):
    with pytest.raises(ValueError, match=r"size .* out of range: frames are 60\.\.1514"):
        make(size)


def test_other_bad_input():
    with pytest.raises(TypeError):
        frames.check_size(64.0)
    with pytest.raises(ValueError, match="MAC"):
        frames.Template(64, src_mac="02:75:72:00:00", dst_mac="02:75:72:00:00:02",
                        src_ip="10.0.0.1", dst_ip="10.0.0.2")
    with pytest.raises(ValueError, match="dport"):
        make(64, dport=0)
    assert frames.check_size(9014, mtu=9000) == 9014


def test_foreign_frames_do_not_parse():
    f = bytearray(make(64).frame(3))
    assert frames.parse_frame(f, dport=9001) is None
    g = bytearray(f)
    g[42] ^= 1  # magic
    assert frames.parse_frame(g) is None
    g = bytearray(f)
    g[12:14] = b"\x86\xdd"  # IPv6
    assert frames.parse_frame(g) is None
    assert frames.parse_frame(f[:50]) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), max_size=300), st.integers(0, 6000))
def test_seq_tracker_against_a_set(seqs, count):
    tracker = SeqTracker(expected=64)
    seen, highest, reordered = set(), -1, 0
    for s in seqs:
        new = tracker.add(s)
        assert new == (s not in seen)
        if new:
            if s < highest:
                reordered += 1
            highest = max(highest, s)
        seen.add(s)
    assert tracker.unique == len(seen)
    assert tracker.duplicates == len(seqs) - len(seen)
    assert tracker.reordered == reordered
    assert tracker.missing(count) == count - len({s for s in seen if s < count})


def test_rx_result_round_trip():
    r = RxResult(stack="x", packets=11, first=1.0, last=2.0)
    assert r.pps == 10.0
    import json
    back = RxResult.from_dict(json.loads(r.to_json()))
    assert back == r


@settings(max_examples=200, deadline=None)
@given(size=st.integers(frames.MIN_FRAME, 1514), seq=st.integers(0, 2**64 - 1),
       flows=st.integers(1, 64), sport=st.integers(1, 65536 - 64))
def test_flows_take_turns_on_source_ports_with_right_checksums(size, seq, flows, sport):
    tpl = make(size, flows=flows, sport=sport)
    f = tpl.frame(seq)
    assert struct.unpack_from("!H", f, 34)[0] == sport + seq % flows == tpl.source_port(seq)
    assert full_udp_checksum_ok(f)
    assert frames.parse_frame(f) == (7, seq)
    # Patching a copy of another frame in place gives the same bytes.
    buf = bytearray(tpl.frame((seq + 1) % 2**64))
    tpl.set_seq(buf, 0, seq)
    assert bytes(buf) == f


def test_one_flow_is_the_plain_template():
    assert make(flows=1).frame(5) == make().frame(5)


@pytest.mark.parametrize("flows, sport, message", [
    (0, 9000, "flows must be in 1..56536"),
    (2, 65535, "flows must be in 1..1 (source ports 65535..65536"),
])
def test_bad_flows_are_a_clear_error(flows, sport, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        make(flows=flows, sport=sport)
    with pytest.raises(TypeError, match="flows must be an int"):
        make(flows=2.0)
