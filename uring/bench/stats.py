"""Small statistics for repeated measurements: median with min–max, percentiles, ratios."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = ["Spread", "spread", "percentile", "ratio", "fmt_number", "fmt_spread"]


@dataclass(frozen=True)
class Spread:
    """Median, minimum and maximum of some repeated measurements (``n`` of them)."""

    median: float
    lo: float
    hi: float
    n: int

    @property
    def rel_range(self) -> float:
        """(max − min) / median: how far the repeats disagree (0 when they agree)."""
        return (self.hi - self.lo) / self.median if self.median else 0.0


def spread(values: Iterable[float | None]) -> Spread | None:
    """The :class:`Spread` of the values that are not None (or NaN); None if there are none."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return None
    return Spread(statistics.median(vals), min(vals), max(vals), len(vals))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, nearest rank; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[i]


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_number(x: float | None, digits: int | None = None) -> str:
    """A figure for a table: thousands separators for big ones, a few digits for small ones.

    ``digits`` forces that many decimals; missing values print as ``n/a``.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if digits is not None:
        return f"{x:,.{digits}f}"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt_spread(s: Spread | None, digits: int | None = None, with_range: bool = True) -> str:
    """``median (min–max)`` or just the median; ``n/a`` when there is nothing."""
    if s is None:
        return "n/a"
    text = fmt_number(s.median, digits)
    if with_range and s.n > 1:
        text += f" ({fmt_number(s.lo, digits)}–{fmt_number(s.hi, digits)})"
    return text
