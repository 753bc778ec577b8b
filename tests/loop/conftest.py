"""Count CPython's suites per loop: ``Default*`` classes versus their ``Uring*`` twins."""

from __future__ import annotations

import collections

_counts: dict = collections.defaultdict(collections.Counter)


def _loop_of(nodeid: str) -> str | None:
    parts = nodeid.split("::")
    if len(parts) < 3 or "test_cpython_" not in parts[0]:
        return None
    for prefix in ("Default", "Uring"):
        if parts[1].startswith(prefix):
            return prefix
    return None


def pytest_runtest_logreport(report) -> None:
    loop = _loop_of(report.nodeid)
    if loop is None or type(report).__name__ == "SubTestReport":
        return  # a subTest() is part of its test, counted once
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _counts[loop][report.outcome] += 1
    elif report.when == "teardown" and report.outcome == "failed":
        _counts[loop]["failed"] += 1


def pytest_terminal_summary(terminalreporter) -> None:
    if not _counts:
        return
    tr = terminalreporter
    tr.section("CPython asyncio suites: default loop vs uring.loop")
    tr.write_line(f"{'loop':<12}{'passed':>8}{'failed':>8}{'skipped':>9}")
    for loop, name in (("Default", "default"), ("Uring", "uring.loop")):
        c = _counts[loop]
        tr.write_line(f"{name:<12}{c['passed']:>8}{c['failed']:>8}{c['skipped']:>9}")
