"""A tiny line-chart writer: stdlib only, one self-contained SVG file per chart.

The x axis is categorical (the client counts 1, 50, 150, ... evenly spaced, as
in the tables), the y axis linear from zero. One polyline per series, a gap
where a value is missing, and a legend at the right.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence
from xml.sax.saxutils import escape

__all__ = ["line_chart", "nice_ticks", "PALETTE"]

#: Distinguishable line colours (Okabe–Ito, then a few more), cycled.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
           "#000000", "#F0E442", "#882255", "#44AA99", "#999933", "#AA4499",
           "#332288", "#117733", "#661100", "#888888")


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (1-2-5 steps), about ``count`` of them."""
    if top <= 0 or math.isnan(top):
        return [0.0, 1.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _label(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def line_chart(path: str | Path, title: str, x_label: str, y_label: str,
               x_values: Sequence[object], series: Mapping[str, Sequence[float | None]],
               width: int = 760, height: int = 420,
               dashes: Mapping[str, str] | None = None) -> Path:
    """Write an SVG line chart to ``path`` and return the path.

    ``series`` maps a name to one y value per x value (None: no point there);
    ``dashes`` optionally gives a series an SVG ``stroke-dasharray`` (``"6 3"``),
    to set groups of lines apart.
    """
    dashes = dashes or {}
    left, right, top, bottom = 70, 190, 40, 55
    pw, ph = width - left - right, height - top - bottom
    ys = [y for vals in series.values() for y in vals if y is not None]
    ticks = nice_ticks(max(ys) if ys else 1.0)
    y_top = ticks[-1] or 1.0
    nx = len(x_values)

    def px(i: int) -> float:
        return left + (pw * (i + 0.5) / nx if nx else 0)

    def py(y: float) -> float:
        return top + ph - ph * y / y_top

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="15">'
           f'{escape(title)}</text>']
    for t in ticks:
        y = py(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{_label(t)}</text>')
    for i, x in enumerate(x_values):
        out.append(f'<text x="{px(i):.1f}" y="{top + ph + 18}" text-anchor="middle">'
                   f'{escape(str(x))}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
               f'stroke="#444"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 12}" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    out.append(f'<text transform="translate(16 {top + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    for k, (name, vals) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        dash = f' stroke-dasharray="{dashes[name]}"' if name in dashes else ""
        # A run of consecutive points is one polyline; a None breaks it.
        runs: list[list[str]] = [[]]
        for i, y in enumerate(vals):
            if y is None:
                runs.append([])
                continue
            runs[-1].append(f"{px(i):.1f},{py(y):.1f}")
            out.append(f'<circle cx="{px(i):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        for run in runs:
            if len(run) > 1:
                out.append(f'<polyline points="{" ".join(run)}" fill="none" '
                           f'stroke="{colour}" stroke-width="2"{dash}/>')
        ly = top + 10 + 18 * k
        out.append(f'<line x1="{left + pw + 12}" y1="{ly}" x2="{left + pw + 36}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="3"{dash}/>')
        out.append(f'<text x="{left + pw + 42}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    path = Path(path)
    path.write_text("\n".join(out) + "\n")
    return path
