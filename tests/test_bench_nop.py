"""Smoke run of ``python -m uring.bench nop``: it runs and prints a row per batch size."""

import re

import pytest

from uring import probe
from uring.bench import nop

PROBE = probe.get()


@pytest.mark.skipif(not PROBE.usable, reason=f"io_uring unusable: {PROBE.reason}")
def test_nop_bench_prints_a_row_per_batch(capsys):
    assert nop.main(["--batches", "1,8", "--total", "400", "--repeat", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines()
            if re.match(r"\s+\d+\s", line)]
    assert [int(r.split()[0]) for r in rows] == [1, 8]
    for row in rows:
        ratios = [float(x) for x in row.split()[-2:]]
        assert all(r > 0 for r in ratios)


def test_nop_bench_refuses_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        nop.main(["--batches", "0"])
    assert "batches" in capsys.readouterr().err
