"""What the packet-lab tests know of this machine: root, the tools, the helpers' ids.

A module of its own, not ``conftest.py``: test modules import these names, and
``from conftest import ...`` finds whichever directory's conftest pytest loaded
last (tests/echo has one too).
"""

from __future__ import annotations

import os
import shutil

import pytest

IS_ROOT = os.geteuid() == 0


def lab_skip_reason() -> str:
    """Why namespace tests cannot run here, or "" if they can."""
    if not IS_ROOT:
        return ("needs root: network namespaces and veth devices take CAP_SYS_ADMIN and "
                "CAP_NET_ADMIN")
    missing = [t for t in ("ip", "ethtool") if shutil.which(t) is None]
    if missing:
        return f"needs {' and '.join(missing)} (iproute2/ethtool; tools/setup-dev installs them)"
    return ""


def native_params(helper: str):
    """``[False, True]`` parametrization ids for 'without/with the native helper'."""
    return [pytest.param(False, id="python"), pytest.param(True, id=f"native-{helper}")]
