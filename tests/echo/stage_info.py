"""What the echo tests know of the stages: names, classes, options.

A module of its own, not ``conftest.py``: test modules import these names, and
``from conftest import ...`` finds whichever directory's conftest pytest loaded
last (tests/packet has one too).
"""

from __future__ import annotations

from uring.echo import registry

STAGE_NAMES = [s.name for s in registry.STAGES]


def stage_class(name: str):
    """The ``Server`` class of stage ``name``."""
    return registry.find(name).load()


def stages_with(option: str) -> list[str]:
    """Names of the stages that take the per-stage option ``option``."""
    return [n for n in STAGE_NAMES if option in stage_class(n).OPTIONS]
