"""What the benchmarks write is what the docs' benchmarks page shows: tables and charts.

The page (``.. uring-bench-results::`` in ``docs/benchmarks.rst``) renders each
results folder's ``summary.md``; a chart appears there only if ``summary.md``
names it. These tests feed the writers made-up runs (no benchmark runs here)
and check the files, and that the page's converter turns them into a table
and a figure whose file exists.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import re

import pytest

from uring import probe
from uring.bench import packets, tcp_rx

DOCS_EXT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "docs", "_ext")


def page_rst(folder) -> str:
    """``summary.md`` of ``folder`` as the benchmarks page converts it."""
    # The converter is plain Python (no Sphinx import): load that one file.
    spec = importlib.util.spec_from_file_location(
        "uring_docs_markdown", os.path.join(DOCS_EXT, "uring_docs", "markdown.py"))
    markdown = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(markdown)
    return markdown.markdown_to_rst((folder / "summary.md").read_text(),
                                    f"benchmarks/{folder.name}")


def figures(rst: str, folder) -> list[str]:
    """The figure files the converted page shows; each must exist in ``folder``."""
    names = re.findall(rf"^\.\. figure:: /benchmarks/{folder.name}/(\S+)$", rst, re.M)
    for name in names:
        assert (folder / name).read_text().startswith("<svg"), name
    return names


def test_packets_summary_has_its_table_and_chart(tmp_path, capsys):
    out = tmp_path / "packets"
    out.mkdir()
    runs = [{"repeat": rep, "stack": stack, "size": size, "rx_pps": pps * (1 + rep / 10),
             "received": 1000, "sent": 1100, "loss": 100 / 1100, "gen_pps": 2e6,
             "duplicates": 0, "native": False, "gen_native": True}
            for rep in range(3) for size in (64, 1500)
            for stack, pps in (("recvmmsg", 5e5), ("afxdp", 9e5))]
    packets._write(out, [64, 1500], ["recvmmsg", "afxdp"], runs,
                   {"dpdk-af_xdp": "native_hot/build/dpdk_rx is not built"},
                   {"zcrx": "zero-copy receive is not supported. More."},
                   argparse.Namespace(repeats=3))
    capsys.readouterr()
    summary = (out / "summary.md").read_text()
    assert "| afxdp | 990,000 (900,000–1,080,000), loss 9.1% |" in summary
    assert "- zcrx: not measured: zero-copy receive is not supported." in summary
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["stack"], r["size"]) for r in rows} == {
        (s, z) for s in ("recvmmsg", "afxdp") for z in ("64", "1500")}
    rst = page_rst(out)
    assert rst.count(".. list-table::") == 1 and "recvmmsg" in rst
    assert figures(rst, out) == ["packets.svg"]


def test_packets_summary_without_measured_stacks_has_no_chart(tmp_path, capsys):
    packets._write(tmp_path, [64], ["zcrx"], [], {}, {"zcrx": "refused. More."},
                   argparse.Namespace(repeats=1))
    capsys.readouterr()
    assert not (tmp_path / "packets.svg").exists()
    assert "packets.svg" not in (tmp_path / "summary.md").read_text()


def test_tcp_rx_summary_has_its_table_and_chart(tmp_path, capsys):
    out = tmp_path / "tcp-rx"
    out.mkdir()
    runs = [{"repeat": rep, "receiver": name, "buffer_size": 65536, "bytes": 10**9,
             "sent": 10**9, "seconds": 1.0, "cpu_s": cpu, "gbit_s": gbit,
             "cpu_s_per_gb": cpu}
            for rep in range(2) for name, gbit, cpu in (("uring", 20.0, 0.3),
                                                       ("epoll", 15.0, 0.5))]
    tcp_rx._write(out, ["uring", "epoll"], [65536], runs, 2)
    capsys.readouterr()
    summary = (out / "summary.md").read_text()
    assert "| uring | 65536 | 20.00" in summary and "| epoll | 65536 | 15.00" in summary
    with open(out / "runs.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    rst = page_rst(out)
    assert rst.count(".. list-table::") == 1
    assert figures(rst, out) == ["tcp-rx.svg"]


@pytest.mark.skipif(not probe.get().usable, reason=f"io_uring unusable: {probe.get().reason}")
def test_nop_summary_has_a_row_per_batch(tmp_path, capsys):
    from uring.bench import nop

    out = tmp_path / "nop"
    assert nop.main(["--batches", "1,8", "--total", "400", "--repeat", "1",
                     "--out", str(out)]) == 0
    capsys.readouterr()
    rows = [line for line in (out / "summary.md").read_text().splitlines()
            if re.match(r"\| \d+ \|", line)]
    assert [int(r.split("|")[1]) for r in rows] == [1, 8]
    rst = page_rst(out)
    assert "list-table" in rst and figures(rst, out) == []
