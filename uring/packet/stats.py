"""Counting what a receiver got: packets, bytes, and which sequence numbers, exactly once.

Every receiver feeds each of its frames' sequence numbers to a
:class:`SeqTracker`. It keeps one bit per sequence number (a ``bytearray``
that grows as needed), so it tells apart a frame seen for the first time, a
duplicate, and one that arrived after a higher number (reordered), and at
the end how many of ``0..count-1`` never came. Results travel between
processes as one JSON line (:class:`RxResult`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields

__all__ = ["SeqTracker", "RxResult", "GenResult", "MAX_SEQ_TRACKED", "now"]

#: Sequence numbers above this are counted but not tracked (a 256 MiB bitmap).
MAX_SEQ_TRACKED = 1 << 31


class SeqTracker:
    """One bit per sequence number seen; counts unique, duplicate and reordered frames."""

    __slots__ = ("_bits", "unique", "duplicates", "reordered", "untracked", "highest")

    def __init__(self, expected: int = 0) -> None:
        self._bits = bytearray((expected + 7) >> 3)
        self.unique = self.duplicates = self.reordered = self.untracked = 0
        self.highest = -1

    def add(self, seq: int) -> bool:
        """Record ``seq``; return True if it was new."""
        if seq >= MAX_SEQ_TRACKED:
            self.untracked += 1
            return True
        idx = seq >> 3
        bits = self._bits
        if idx >= len(bits):
            bits.extend(bytes(max(idx + 1 - len(bits), len(bits))))
        mask = 1 << (seq & 7)
        if bits[idx] & mask:
            self.duplicates += 1
            return False
        bits[idx] |= mask
        self.unique += 1
        if seq < self.highest:
            self.reordered += 1
        else:
            self.highest = seq
        return True

    def missing(self, count: int) -> int:
        """How many of the sequence numbers ``0..count-1`` were never seen."""
        seen = 0
        full, rest = divmod(count, 8)
        bits = self._bits
        limit = min(full, len(bits))
        seen = sum(bin(b).count("1") for b in bits[:limit]) if limit else 0
        if rest and full < len(bits):
            seen += bin(bits[full] & ((1 << rest) - 1)).count("1")
        return count - seen


@dataclass
class RxResult:
    """What a receiver reports when it stops (one JSON object).

    ``packets``/``bytes`` count this run's frames (``bytes`` as the receiver
    saw them: whole frames for frame receivers, UDP payloads for socket
    receivers); ``foreign`` counts anything else that arrived; ``first`` and
    ``last`` are ``time.monotonic()`` stamps of the first and last frame, so
    ``pps`` is the rate while frames flowed. ``native`` says whether a C hot
    loop did the receiving; ``note`` explains a fallback or a refusal.
    """

    stack: str
    packets: int = 0
    bytes: int = 0
    unique: int = 0
    duplicates: int = 0
    reordered: int = 0
    foreign: int = 0
    first: float = 0.0
    last: float = 0.0
    native: bool = False
    stopped_by: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        """Seconds from the first frame to the last one."""
        return max(self.last - self.first, 0.0)

    @property
    def pps(self) -> float:
        """Frames per second while frames flowed (0 with fewer than two frames)."""
        return (self.packets - 1) / self.elapsed if self.packets > 1 and self.elapsed else 0.0

    def take(self, tracker: SeqTracker) -> "RxResult":
        """Copy the tracker's counts in; returns self."""
        self.unique = tracker.unique + tracker.untracked
        self.duplicates = tracker.duplicates
        self.reordered = tracker.reordered
        return self

    def to_json(self) -> str:
        """One line of JSON with an ``"event": "result"`` marker."""
        return json.dumps({"event": "result", **asdict(self)})

    @classmethod
    def from_dict(cls, data: dict) -> "RxResult":
        """Rebuild from :meth:`to_json`'s object (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class GenResult:
    """What the generator reports: frames handed to the device and how it went."""

    sent: int = 0
    bytes: int = 0
    seconds: float = 0.0
    enobufs: int = 0
    eagain: int = 0
    native: bool = False
    note: str = ""

    @property
    def pps(self) -> float:
        """Frames sent per second."""
        return self.sent / self.seconds if self.seconds else 0.0

    def to_json(self) -> str:
        """One line of JSON with an ``"event": "sent"`` marker."""
        return json.dumps({"event": "sent", **asdict(self)})

    @classmethod
    def from_dict(cls, data: dict) -> "GenResult":
        """Rebuild from :meth:`to_json`'s object (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def now() -> float:
    """The clock all stamps use: ``time.monotonic()`` (same clock in every process)."""
    return time.monotonic()
