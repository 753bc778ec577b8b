"""Markdown, as far as ``uring.bench`` writes it, turned into reST for the benchmarks page."""

from __future__ import annotations

import re

__all__ = ["markdown_to_rst"]


def markdown_to_rst(text: str, folder: str, levels: str = "-~^") -> str:
    """The markdown the benchmarks write (headings, lists, pipe tables, images) as reST.

    ``folder`` is the results folder relative to the docs source, for images.
    Only what ``uring.bench`` emits is understood; anything else passes as text.
    """
    out: list[str] = []
    lines = text.splitlines()
    i = 0

    def inline(s: str) -> str:
        # `code` -> ``code``; escape reST's own markup characters elsewhere.
        parts = re.split(r"(`[^`]+`)", s)
        done = []
        for part in parts:
            if part.startswith("`") and part.endswith("`") and len(part) > 1:
                done.append(f"``{part[1:-1]}``")
            else:
                done.append(re.sub(r"([*_|\\])", r"\\\1", part))
        return "".join(done)

    def cell(s: str) -> str:
        s = inline(s.strip())
        # A cell reading "-" or "1." would start a list inside the table.
        if re.match(r"^([-*+]|\d+\.)(\s|$)", s):
            s = "\\" + s
        return s or "\\ "

    while i < len(lines):
        line = lines[i]
        heading = re.match(r"^(#+)\s+(.*)$", line)
        image = re.match(r"^!\[([^\]]*)\]\(([^)]+)\)\s*$", line)
        if heading:
            title = inline(heading.group(2))
            char = levels[min(len(heading.group(1)), len(levels)) - 1]
            out += [title, char * max(len(title), 3), ""]
        elif image:
            out += [f".. figure:: /{folder}/{image.group(2)}", "   :width: 100%", "",
                    f"   {inline(image.group(1))}", ""]
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c for c in lines[i].strip().strip("|").split(" | ")]
                if not re.match(r"^[\s:|-]+$", lines[i]):
                    rows.append(cells)
                i += 1
            width = max(len(r) for r in rows)
            out += [".. list-table::", "   :header-rows: 1", ""]
            for row in rows:
                row = row + [""] * (width - len(row))
                out.append(f"   * - {cell(row[0])}")
                out += [f"     - {cell(c)}" for c in row[1:]]
            out.append("")
            continue
        elif line.startswith("- "):
            out.append(f"* {inline(line[2:])}")
        else:
            out.append(inline(line))
        i += 1
    return "\n".join(out) + "\n"
