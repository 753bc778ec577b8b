"""Draw the pictures of the architecture page: ``python3 docs/img/draw.py``.

Each ring is drawn from its counters, with the arithmetic :class:`uring.ring.Ring`
uses (``slot = counter & mask``, ``count = (tail - head) & 0xffffffff``), so
the pictures show states the code can be in, counters just past 2**32 included.
``tests/test_docs.py`` checks that the committed SVGs match this script.
"""

from __future__ import annotations

import os
from html import escape

HERE = os.path.dirname(os.path.abspath(__file__))
U32 = 0xFFFFFFFF

# Who owns a slot, and its colour: the same four everywhere.
KERNEL = "#f4b183"      # the kernel may read or write it now
PROGRAM = "#9dc3e6"     # the program reads or writes it now
FILLING = "#c5e0b4"     # the program is writing it; not published yet
FREE = "#ededed"        # nobody's: free for the producer

FONT = "font-family='DejaVu Sans Mono, Menlo, Consolas, monospace'"


class Svg:
    """A few primitives writing SVG text; coordinates in pixels."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = []

    def rect(self, x, y, w, h, fill, stroke="#404040", rx=0) -> None:
        """A rectangle."""
        self.parts.append(f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='{rx}' "
                          f"fill='{fill}' stroke='{stroke}'/>")

    def text(self, x, y, s, size=12, anchor="middle", weight="normal", fill="#202020") -> None:
        """Text centred (or anchored) at x, baseline y."""
        self.parts.append(f"<text x='{x}' y='{y}' font-size='{size}' text-anchor='{anchor}' "
                          f"font-weight='{weight}' fill='{fill}' {FONT}>{escape(s)}</text>")

    def arrow(self, x1, y1, x2, y2, colour="#202020") -> None:
        """A line with an arrow head at (x2, y2)."""
        self.parts.append(f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='{colour}' "
                          f"stroke-width='1.5' marker-end='url(#head)'/>")

    def render(self) -> str:
        """The whole document."""
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' "
                f"height='{self.height}' viewBox='0 0 {self.width} {self.height}'>\n"
                "<defs><marker id='head' markerWidth='8' markerHeight='8' refX='7' refY='4' "
                "orient='auto'><path d='M0,0 L8,4 L0,8 z' fill='#202020'/></marker></defs>\n"
                f"<rect width='{self.width}' height='{self.height}' fill='white'/>\n"
                + "\n".join(self.parts) + "\n</svg>\n")


def slots(svg: Svg, x: int, y: int, entries: int, colour_of, label_of,
          cell: int = 64) -> None:
    """One row of ``entries`` slots, coloured and labelled slot by slot."""
    for slot in range(entries):
        svg.rect(x + slot * cell, y, cell, 40, colour_of(slot))
        svg.text(x + slot * cell + cell / 2, y + 16, f"{slot}", size=10, fill="#606060")
        svg.text(x + slot * cell + cell / 2, y + 32, label_of(slot), size=10)


def pointer(svg: Svg, x: int, y: int, counter: int, entries: int, name: str, above: bool,
            cell: int = 64) -> None:
    """An arrow to the slot boundary ``counter & mask``, labelled with the counter."""
    px = x + (counter & (entries - 1)) * cell
    if above:
        svg.arrow(px, y - 26, px, y - 2)
        svg.text(px, y - 30, f"{name} = {counter}", size=11)
    else:
        svg.arrow(px, y + 66, px, y + 42)
        svg.text(px, y + 80, f"{name} = {counter}", size=11)


def within(slot: int, head: int, count: int, entries: int) -> bool:
    """Whether ``slot`` is one of the ``count`` slots starting at counter ``head``."""
    return (slot - head) & (entries - 1) < count


def legend(svg: Svg, x: int, y: int, items) -> None:
    """Colour swatches with their meaning, in a row."""
    for colour, label in items:
        svg.rect(x, y - 11, 14, 14, colour)
        svg.text(x + 20, y, label, size=11, anchor="start")
        x += 30 + 7 * len(label)


def sq_picture() -> str:
    """SQ: the kernel has 3 published entries to consume, the program fills 2 more."""
    entries = 8
    head = 2**32 - 2            # the kernel's: next entry it consumes
    tail = 1                    # shared, ours: published up to here (wrapped past 2**32)
    local = 3                   # our private tail: prepared up to here, not published
    published = (tail - head) & U32
    filling = (local - tail) & U32
    svg = Svg(620, 300)
    svg.text(310, 22, f"SQ: {entries} SQE slots, ring_mask = {entries - 1}", size=14,
             weight="bold")
    x, y = 54, 80

    def colour(slot):
        if within(slot, head, published, entries):
            return KERNEL
        return FILLING if within(slot, tail, filling, entries) else FREE

    slots(svg, x, y, entries, colour, lambda slot: "SQE")
    pointer(svg, x, y, head, entries, "sq.head", above=True)
    pointer(svg, x, y, tail, entries, "sq.tail", above=False)
    lx = x + (local & (entries - 1)) * 64
    svg.arrow(lx, y - 26, lx, y - 2)
    svg.text(lx + 4, y - 30, f"prep() next: {local}", size=11, anchor="start")
    svg.text(310, 215, f"(tail - head) & 0xffffffff = {published} published: the kernel's "
             "to read", size=11)
    svg.text(310, 233, f"{filling} filled by prep(), made visible by the next submit()",
             size=11)
    svg.text(310, 251, f"{entries - published - filling} free: prep() may fill them",
             size=11)
    legend(svg, 40, 285, [(KERNEL, "kernel reads"), (FILLING, "program writes"),
                          (FREE, "free")])
    return svg.render()


def sqe_array_picture() -> str:
    """The SQ ring's index array and the separate SQE array it points into."""
    entries = 8
    head, tail, local = 2**32 - 1, 2, 3   # 3 published (7, 0, 1), slot 2 being filled
    published = (tail - head) & U32
    filling = (local - tail) & U32
    svg = Svg(620, 330)
    svg.text(310, 22, "SQ ring index array -> SQE array", size=14, weight="bold")
    x, top, bottom = 54, 80, 200

    def colour(slot):
        if within(slot, head, published, entries):
            return KERNEL
        return FILLING if within(slot, tail, filling, entries) else FREE

    svg.text(x - 6, top + 25, "array", size=11, anchor="end")
    slots(svg, x, top, entries, colour, lambda slot: f"-> {slot}")
    pointer(svg, x, top, head, entries, "sq.head", above=True)
    svg.text(x - 6, bottom + 25, "sqes", size=11, anchor="end")
    slots(svg, x, bottom, entries, colour, lambda slot: "64 B")
    for slot in range(entries):
        cx = x + slot * 64 + 32
        svg.arrow(cx, top + 42, cx, bottom - 2)
    pointer(svg, x, bottom, tail, entries, "sq.tail", above=False)
    svg.text(310, 300, "array[counter & mask] = SQE index; uring stores the identity once "
             "at setup", size=11)
    legend(svg, 40, 322, [(KERNEL, "kernel reads"), (FILLING, "program writes"),
                          (FREE, "free")])
    return svg.render()


def cq_picture() -> str:
    """CQ: 5 completions posted and not yet reaped; the rest free for the kernel."""
    entries = 16
    head = 2**32 - 3            # ours: next CQE to read
    tail = 2                    # kernel's: posted up to here
    ready = (tail - head) & U32
    cell = 36
    svg = Svg(660, 270)
    svg.text(330, 22, f"CQ: {entries} slots (twice the SQ), ring_mask = {entries - 1}",
             size=14, weight="bold")
    x, y = 42, 80
    slots(svg, x, y, entries,
          lambda slot: PROGRAM if within(slot, head, ready, entries) else FREE,
          lambda slot: "CQE", cell=cell)
    pointer(svg, x, y, head, entries, "cq.head", above=True, cell=cell)
    pointer(svg, x, y, tail, entries, "cq.tail", above=False, cell=cell)
    svg.text(330, 194, f"(tail - head) & 0xffffffff = {ready} CQEs for copy_cqes(): one "
             "acquire load of the tail,", size=11)
    svg.text(330, 212, "two slices (slots 13-15, then 0-1), one release store of the head",
             size=11)
    legend(svg, 40, 252, [(PROGRAM, "program reads"), (FREE, "free: the kernel posts here")])
    return svg.render()


def buf_ring_picture() -> str:
    """Buffer ring: the program adds buffers at the tail, the kernel takes from the head.

    Its counters are 16 bits wide (the tail is a u16 in the first entry's
    ``resv`` field), so they wrap at 2**16.
    """
    entries = 8
    head = 65534                # kernel's private head (u16; see IORING_REGISTER_PBUF_STATUS)
    tail = 2                    # ours: a u16 in the first entry's resv field
    available = (tail - head) & 0xFFFF
    svg = Svg(620, 300)
    svg.text(310, 22, f"Buffer ring: {entries} io_uring_buf entries (addr, len, bid)",
             size=14, weight="bold")
    x, y = 54, 80
    slots(svg, x, y, entries,
          lambda slot: KERNEL if within(slot, head, available, entries) else FREE,
          lambda slot: f"bid {(slot * 5 + 3) % 8}" if within(slot, head, available, entries)
          else "-")
    pointer(svg, x, y, head, entries, "kernel head", above=True)
    pointer(svg, x, y, tail, entries, "tail (ours)", above=False)
    svg.text(310, 200, f"(tail - head) & 0xffff = {available} buffers the kernel may pick.",
             size=11)
    svg.text(310, 218, "A receive takes the one at the head and names it in the CQE",
             size=11)
    svg.text(310, 236, "(flags >> 16 = bid). The program hands a buffer back by writing an",
             size=11)
    svg.text(310, 254, "entry at the tail and storing tail + 1 (release): no system call.",
             size=11)
    legend(svg, 40, 284, [(KERNEL, "kernel may pick"), (FREE, "free: add() writes here")])
    return svg.render()


def layers_picture() -> str:
    """The layers, each importing only those above it in the table (below it here)."""
    rows = [
        ("programs", "uring.echo · uring.loop · uring.packet · uring.bench · uring.probe",
         "#fff2cc"),
        ("buffers, registration", "uring.buffers · uring.register · uring.memory", "#e2f0d9"),
        ("operations", "uring.ops: one function per IORING_OP_*", "#e2f0d9"),
        ("ring memory", "uring.ring.Ring  (or uring.sim.SimKernel in its place)", "#deebf7"),
        ("syscalls, barriers, errors", "uring.syscall · uring.barrier · uring.errors", "#deebf7"),
        ("kernel ABI", "uring.abi: structs and constants, each with .since", "#ededed"),
    ]
    svg = Svg(640, 70 + 52 * len(rows) + 60)
    svg.text(320, 24, "uring's layers: each uses only the ones below it", size=14,
             weight="bold")
    y = 44
    for name, modules, colour in rows:
        svg.rect(40, y, 560, 42, colour, rx=6)
        svg.text(56, y + 18, name, size=12, anchor="start", weight="bold")
        svg.text(56, y + 34, modules, size=11, anchor="start")
        y += 52
    svg.rect(40, y + 8, 560, 42, "#404040", rx=6)
    svg.text(320, y + 34, "Linux: io_uring_setup / io_uring_enter / io_uring_register + mmap",
             size=12, fill="white")
    return svg.render()


PICTURES = {
    "layers.svg": layers_picture,
    "sq-ring.svg": sq_picture,
    "sqe-array.svg": sqe_array_picture,
    "cq-ring.svg": cq_picture,
    "buf-ring.svg": buf_ring_picture,
}


def main() -> None:
    """Write every picture next to this script."""
    for name, draw in PICTURES.items():
        with open(os.path.join(HERE, name), "w") as f:
            f.write(draw())


if __name__ == "__main__":
    main()
