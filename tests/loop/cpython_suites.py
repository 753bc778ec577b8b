"""Load CPython's own asyncio test classes and make a uring.loop twin of each.

Each ``test_cpython_*.py`` module here puts two classes per stdlib class in
its namespace: ``Default<Name>`` (the stdlib class itself, on the default
loop) and ``Uring<Name>`` (the same tests on :class:`uring.loop.EventLoop`).
pytest collects both, and ``conftest.py`` prints their counts side by side.

Loop-parameterised classes (``create_event_loop``/``new_loop``) get the
uring loop from that method, as the stdlib's own ``SelectEventLoopTests``
get theirs; the others run with :class:`uring.loop.EventLoopPolicy` set
around the whole test (``run``), so ``asyncio.new_event_loop``,
``asyncio.run`` and ``IsolatedAsyncioTestCase`` create uring loops.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import sys
import unittest

import pytest

from uring import probe

PROBE = probe.get()


def stdlib_module(name: str):
    """``test.test_asyncio.<name>``, or skip the calling test module saying why not."""
    if not PROBE.usable:
        pytest.skip(f"io_uring unusable: {PROBE.reason}", allow_module_level=True)
    try:
        package = importlib.import_module("test.test_asyncio")
    except ImportError as e:
        pytest.skip(f"this interpreter ships no test.test_asyncio ({e}): install the"
                    " python3-test package (Debian) or use a full CPython build",
                    allow_module_level=True)
    if importlib.util.find_spec(f"{package.__name__}.{name}") is None:
        pytest.skip(f"Python {sys.version_info.major}.{sys.version_info.minor} has no"
                    f" test.test_asyncio.{name} (a newer Python added it)",
                    allow_module_level=True)
    try:
        return importlib.import_module(f"test.test_asyncio.{name}")
    except unittest.SkipTest as e:
        pytest.skip(f"test.test_asyncio.{name} skips itself here: {e}",
                    allow_module_level=True)


class _UringPolicy:
    """Run the whole test (setUp, asyncio runners, tearDown) with the uring policy."""

    def run(self, result=None):
        from uring.loop import EventLoopPolicy
        asyncio.set_event_loop_policy(EventLoopPolicy())
        try:
            return super().run(result)
        finally:
            asyncio.set_event_loop_policy(None)


def _uring_loop(self):
    from uring.loop import EventLoop
    return EventLoop()


def twins(namespace: dict, module, names=None, *, skips: dict | None = None,
          trim: dict | None = None) -> None:
    """Put ``Default<Name>`` and ``Uring<Name>`` in ``namespace`` for classes of ``module``.

    ``names`` (default: every ``TestCase`` class the module defines) are the
    stdlib classes; ``skips`` maps ``"Name.test_method"`` to the one-line
    reason why that test cannot pass on uring.loop (a kernel or Python limit);
    ``trim`` skips tests on both loops alike, to keep CI time in bounds.
    """
    skips = dict(skips or {})
    trim = dict(trim or {})
    if names is None:
        names = [n for n, obj in vars(module).items()
                 if isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                 and obj.__module__ == module.__name__ and not n.startswith("_")]
    for name in names:
        base = getattr(module, name)
        attrs = {"__module__": namespace["__name__"], "__qualname__": f"Uring{name}"}
        for factory in ("create_event_loop", "new_loop"):
            if hasattr(base, factory):
                attrs[factory] = _uring_loop
        both = {"__module__": namespace["__name__"], "__qualname__": f"Default{name}"}
        for key in [k for k in trim if k.startswith(name + ".")]:
            method = key.split(".", 1)[1]
            both[method] = attrs[method] = unittest.skip(trim.pop(key))(getattr(base, method))
        for key in [k for k in skips if k.startswith(name + ".")]:
            method = key.split(".", 1)[1]
            attrs[method] = unittest.skip(skips.pop(key))(getattr(base, method))
        namespace[f"Default{name}"] = type(f"Default{name}", (base,), both)
        namespace[f"Uring{name}"] = type(f"Uring{name}", (_UringPolicy, base), attrs)
    if skips or trim:
        raise LookupError(f"skips name tests that do not exist: {sorted(skips) + sorted(trim)}")
