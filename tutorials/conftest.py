"""Run every ``>>>`` sample of the tutorials as a doctest, one test per tutorial.

pytest's own doctest plugin only collects ``test*.txt`` files unless told
otherwise on the command line; this hook collects ``tutorials/*.rst`` wherever
pytest is started, with the option flags the samples are written for.

A sample that reaches a kernel's refusal -- io_uring switched off
(:class:`uring.syscall.Unavailable`) or an operation the kernel lacks
(:class:`uring.probe.OperationUnsupported`) -- skips its tutorial with that
exception's message, which names the feature and the Linux release that added
it. Samples that need root say so with ``need_root()`` (from the doctest
namespace), which skips elsewhere.
"""

from __future__ import annotations

import doctest
import os

import pytest
from _pytest.doctest import DoctestTextfile

#: ``...`` matches anything (addresses, fd numbers), and line breaks in long
#: reprs do not matter.
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

HERE = os.path.dirname(os.path.abspath(__file__))


def _refusals() -> tuple[type, ...]:
    from uring.probe import OperationUnsupported
    from uring.syscall import Unavailable

    return (OperationUnsupported, Unavailable)


class TutorialFile(DoctestTextfile):
    """A tutorial: its samples run top to bottom in one namespace, like a session."""

    def collect(self):
        """The pytest doctest item, with our flags and refusals turned into skips."""
        for item in super().collect():
            runner = item.runner
            runner.optionflags |= OPTIONFLAGS
            report = runner.report_unexpected_exception
            path = self.path.name

            def skip_on_refusal(out, test, example, exc_info, report=report, path=path):
                if isinstance(exc_info[1], _refusals()):
                    pytest.skip(f"{path}:{example.lineno + 1}: {exc_info[1]}")
                report(out, test, example, exc_info)

            runner.report_unexpected_exception = skip_on_refusal
            yield item


def _is_tutorial(file_path) -> bool:
    return file_path.suffix == ".rst" and str(file_path.parent) == HERE


def pytest_collect_file(file_path, parent):
    """Collect ``tutorials/*.rst`` (and only those) as tutorials."""
    if _is_tutorial(file_path):
        return TutorialFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(hookwrapper=True, specname="pytest_collect_file")
def pytest_collect_file_tutorials_only(file_path, parent):
    """Drop pytest's own doctest collector for a tutorial named on the command line.

    pytest collects any ``.rst`` given explicitly as a plain doctest file;
    that copy would run a second time, without the flags and skips above.
    """
    outcome = yield
    if _is_tutorial(file_path):
        found = outcome.get_result()
        outcome.force_result([c for c in found if isinstance(c, TutorialFile)])


def need_root() -> None:
    """Skip the tutorial unless running as root (network namespaces, raw sockets)."""
    if os.geteuid() != 0:
        pytest.skip("this tutorial creates network namespaces: it needs root")


@pytest.fixture(autouse=True)
def _tutorial_namespace(doctest_namespace):
    """Names the tutorials may use without importing them (only ``need_root``)."""
    doctest_namespace["need_root"] = need_root
