"""What the real-kernel tests share: the probe, the skip rules, and waiting for CQEs.

A module of its own, imported by name (``from kernel_helpers import ...``),
not ``conftest.py``: pytest imports every directory's ``conftest.py`` under
that one module name, so ``from conftest import ...`` finds whichever was
loaded last. The ``ring`` fixture is in ``tests/conftest.py``.
"""

from __future__ import annotations

import pytest

from uring import ops, probe

#: What this kernel's io_uring can do (cached by :func:`uring.probe.get`).
PROBE = probe.get()

#: ``pytestmark`` of a module whose every test needs a working io_uring.
NEEDS_IO_URING = pytest.mark.skipif(not PROBE.usable,
                                    reason=f"io_uring unusable: {PROBE.reason}")


def needs(*names: str):
    """Skip with the probe's reason where the kernel lacks an operation of :data:`uring.ops.OPS`."""
    reasons = [PROBE.why_not_op(ops.OPS[name].opcode) for name in names]
    reasons = [why for why in reasons if why]
    return pytest.mark.skipif(bool(reasons), reason="; ".join(reasons))


def complete(ring, n: int = 1) -> list:
    """Submit, then collect exactly ``n`` CQEs (bounded: every wait has a timeout)."""
    out = []
    for _ in range(50):
        ring.submit_and_wait(n - len(out), timeout=2)
        out += ring.copy_cqes()
        if len(out) >= n:
            return out
    raise AssertionError(f"only {len(out)} of {n} CQEs arrived: {out}")
