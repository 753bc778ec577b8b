"""The library's exceptions live in :mod:`uring.errors` and are the same class everywhere."""

import ast
import importlib
import inspect

import pytest

from uring import errors

#: Where programs import each exception from (besides uring.errors).
REEXPORTS = {
    "Unavailable": ["uring", "uring.syscall"],
    "OperationUnsupported": ["uring.probe", "uring.ops", "uring.ops._common"],
    "SubmissionQueueFull": ["uring", "uring.ring"],
    "RingClosed": ["uring", "uring.ring"],
    "BufferOwnershipError": ["uring.buffers", "uring.buffers._ownership"],
}


@pytest.mark.parametrize("name", errors.__all__)
def test_every_import_path_gives_the_same_class(name):
    cls = getattr(errors, name)
    assert cls.__module__ == "uring.errors"
    for module in REEXPORTS[name]:
        assert getattr(importlib.import_module(module), name) is cls, module


def test_every_exception_is_listed():
    defined = {n for n, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, BaseException)}
    assert defined == set(errors.__all__) == set(REEXPORTS)


def test_errors_imports_nothing_from_uring():
    # The bottom of the layers: ring, syscall, ops and buffers all import it.
    tree = ast.parse(inspect.getsource(errors))
    imported = [node.module or "." for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names]
    assert imported == ["__future__"]
