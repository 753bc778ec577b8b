"""Fixtures every test directory may use; helper functions are in ``kernel_helpers.py``."""

import pytest

from uring import Ring


@pytest.fixture
def ring():
    """A 64-entry ring on the real kernel, closed after the test.

    Modules needing another configuration define their own ``ring``
    (``tests/test_ops_configs.py`` runs one per setup flag set).
    """
    with Ring(64) as r:
        yield r
