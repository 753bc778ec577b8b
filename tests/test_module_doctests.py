"""The ``>>>`` samples in the package's own docstrings run too (the API reference shows them).

Every module under ``uring/`` is imported and its doctests run; a module
without samples contributes none. Samples that reach a kernel's refusal would
skip as in the tutorials, but those here run on the simulator.
"""

import doctest
import importlib
import pkgutil

import pytest

import uring


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(uring.__path__, "uring.")
                  if not m.name.endswith("__main__"))


def _with_samples() -> list[str]:
    finder = doctest.DocTestFinder()
    names = []
    for name in _modules():
        module = importlib.import_module(name)
        if any(t.examples for t in finder.find(module, name)):
            names.append(name)
    return names


@pytest.mark.parametrize("name", _with_samples())
def test_docstring_samples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} samples in {name} failed"
