"""``python -m uring.bench nop``: NOP round trips per second, library vs bare loop.

For each batch size, two loops run over the same kind of mapped ring, one after
the other and repeated, so machine drift hits both:

* **uring**: ``ops.nop`` × batch, ``ring.submit_and_wait(batch)``,
  ``ring.copy_cqes()`` — the library as a program uses it.
* **bare**: the floor for pure Python on this ring — one ``struct.pack_into``
  per SQE straight into the mapped SQE array, the SQ tail stored, one raw
  ``io_uring_enter``, one ``unpack_from`` per CQE and the CQ head stored.

The ratio (library time per NOP / bare time per NOP) is the library's overhead.
"""

from __future__ import annotations

import statistics
import struct
import time
from pathlib import Path

from .. import _cli, abi, ops
from ..ring import Ring
from ..syscall import io_uring_enter

_SQE = struct.Struct("<BBHiQQIIQHHIQQ")
_CQE = struct.Struct("<QiI")


def run_uring(ring: Ring, batch: int, total: int, raw: bool = True) -> float:
    """Seconds for ``total`` NOPs through the library, ``batch`` per enter.

    ``raw`` reaps with ``copy_cqes_raw`` (tuples), else ``copy_cqes`` (Cqe objects).
    """
    nop, submit_and_wait = ops.nop, ring.submit_and_wait
    copy_cqes = ring.copy_cqes_raw if raw else ring.copy_cqes
    rounds = total // batch
    t0 = time.perf_counter()
    for _ in range(rounds):
        for ud in range(batch):
            nop(ring, ud)
        submit_and_wait(batch)
        copy_cqes()
    return time.perf_counter() - t0


def run_bare(ring: Ring, batch: int, total: int) -> float:
    """Seconds for ``total`` NOPs with bare pack/unpack on ``ring``'s own mappings.

    Only reads ``ring``'s views and offsets: give it a ring used for nothing else.
    """
    sq, cq, sqes, cqes = ring._sq_u32, ring._cq_u32, ring._sqes, ring._cqes
    sq_tail_i, cq_head_i, cq_tail_i = ring._sq_ktail, ring._cq_khead, ring._cq_ktail
    sq_mask, cq_mask, fd = ring._sq_mask, ring._cq_mask, ring.fd
    pack, unpack = _SQE.pack_into, _CQE.unpack_from
    getevents = abi.IORING_ENTER_GETEVENTS
    tail, head = sq[sq_tail_i], cq[cq_head_i]
    rounds = total // batch
    t0 = time.perf_counter()
    for _ in range(rounds):
        for ud in range(batch):
            pack(sqes, (tail & sq_mask) << 6, 0, 0, 0, -1, 0, 0, 0, 0, ud, 0, 0, 0, 0, 0)
            tail = (tail + 1) & 0xFFFFFFFF
        sq[sq_tail_i] = tail
        io_uring_enter(fd, batch, batch, getevents)
        ctail = cq[cq_tail_i]
        while head != ctail:
            unpack(cqes, (head & cq_mask) << 4)
            head = (head + 1) & 0xFFFFFFFF
        cq[cq_head_i] = head
    return time.perf_counter() - t0


#: Width of a rate column: "99,999,999 (99,999,999-99,999,999)", up to 10^8 NOPs/s.
_W = 34


def _rate(total: int, times: list[float]) -> str:
    """``median (min-max)`` NOPs per second."""
    return (f"{total / statistics.median(times):,.0f} "
            f"({total / max(times):,.0f}-{total / min(times):,.0f})")


def _write(out: Path, header: str, rows: list[tuple]) -> None:
    """``summary.md`` in ``out``: the printed table as Markdown, for the docs' benchmarks page."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# NOP round trips per second", "", header, "",
             "| batch | uring | uring+Cqe | bare | ratio | +Cqe |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {' | '.join(str(c) for c in row)} |" for row in rows]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"\nresults: {out}/summary.md")


def main(argv: list[str] | None = None) -> int:
    """Print NOPs/s for the library (both reaping forms) and the bare loop per batch size."""
    parser = _cli.make_parser("python -m uring.bench nop", __doc__)
    parser.add_argument("--batches", type=_cli.int_list(1, 32768, "batch sizes"),
                        default=(1, 8, 32, 256),
                        help="comma-separated batch sizes, 1..32768 (default 1,8,32,256)")
    parser.add_argument("--total", type=_cli.int_range(1), default=200_000,
                        help="NOPs per measurement (default 200000)")
    parser.add_argument("--repeat", type=_cli.int_range(1), default=5,
                        help="measurements per point, median shown (default 5)")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the table to OUT/summary.md (e.g. docs/benchmarks/nop)")
    args = parser.parse_args(argv)
    batches = list(args.batches)
    header = (f"{args.total} NOPs per run, median (min-max) of {args.repeat} runs, the three "
              "loops interleaved. uring = ops.nop + submit_and_wait + copy_cqes_raw (tuples); "
              "uring+Cqe = the same with copy_cqes (Cqe objects); bare = "
              "struct.pack_into/unpack_from straight on the mapped rings. "
              "ratio = time per NOP / bare's.")
    print(f"NOP round trips per second: {header}\n")
    print(f"{'batch':>5}  {'uring':>{_W}}  {'uring+Cqe':>{_W}}  {'bare':>{_W}}  "
          f"{'ratio':>5}  {'+Cqe':>5}")
    rows = []
    # Separate rings of the same size, so no loop sees another's indices.
    size = max(batches)
    with Ring(size) as ring, Ring(size) as ring_cqe, Ring(size) as bare_ring:
        for batch in batches:
            total = max(batch, args.total // batch * batch)
            raw, named, bare = [], [], []
            for _ in range(args.repeat + 1):  # the first round warms up, and is dropped
                raw.append(run_uring(ring, batch, total, raw=True))
                named.append(run_uring(ring_cqe, batch, total, raw=False))
                bare.append(run_bare(bare_ring, batch, total))
            raw, named, bare = raw[1:], named[1:], bare[1:]
            b = statistics.median(bare)
            row = (batch, _rate(total, raw), _rate(total, named), _rate(total, bare),
                   f"{statistics.median(raw) / b:.2f}", f"{statistics.median(named) / b:.2f}")
            rows.append(row)
            print(f"{row[0]:>5}  {row[1]:>{_W}}  {row[2]:>{_W}}  {row[3]:>{_W}}  "
                  f"{row[4]:>5}  {row[5]:>5}", flush=True)
    if args.out is not None:
        _write(args.out, header, rows)
    return 0


if __name__ == "__main__":
    _cli.run(main)
