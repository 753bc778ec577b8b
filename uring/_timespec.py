"""Seconds to ``struct __kernel_timespec``: the one conversion the ring and the operations share.

``tv_sec`` is a signed 64-bit field and ``tv_nsec`` must stay below 10**9. A
float is rounded to the nearest nanosecond and a rounding that reaches a whole
second carries into ``tv_sec`` (``0.9999999999`` is ``(1, 0)``, not
``(0, 1000000000)``, which the kernel refuses with ``EINVAL``). A value that
does not fit -- negative, NaN, infinite, or more than 2**63-1 seconds -- raises
``ValueError`` instead of being truncated into another timeout.
"""

from __future__ import annotations

import math

__all__ = ["seconds_to_ns", "split_ns", "TV_SEC_MAX"]

#: The largest ``tv_sec`` a ``__kernel_timespec`` holds (``__s64``).
TV_SEC_MAX = 2**63 - 1
_NS = 1_000_000_000


def seconds_to_ns(value, name: str = "timeout") -> int:
    """``value`` seconds (``int`` or ``float``) as whole nanoseconds, checked to fit a timespec."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be seconds (int or float), not {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, not {value!r}")
        whole = math.floor(value)
        ns = int(whole) * _NS + round((value - whole) * _NS)
    else:
        ns = value * _NS
    if ns < 0:
        raise ValueError(f"{name} must be >= 0 seconds, not {value!r}")
    if ns // _NS > TV_SEC_MAX:
        raise ValueError(f"{name} must be at most 2**63-1 seconds (the timespec's tv_sec),"
                         f" not {value!r}")
    return ns


def split_ns(ns: int) -> tuple[int, int]:
    """``(tv_sec, tv_nsec)`` for ``ns`` nanoseconds."""
    return divmod(ns, _NS)
