"""Finding (and building) the optional C hot loops of ``native_hot/``.

The packet lab runs entirely in Python. Four hot loops also exist in C,
built by the project's own build step (``tools/setup-dev`` runs ``make -C
native_hot``; the packet targets are in ``native_hot/packet.mk``):

* ``pktgen`` — the generator, an executable with the same options as
  ``python -m uring.packet.gen``;
* ``libxdp_rx.so`` — the AF_XDP receive loop, called through ctypes on rings
  Python set up;
* ``libzcrx_rx.so`` — the zero-copy receive completion/refill loop, same way;
* ``dpdk_rx`` — a DPDK receiver (an executable: DPDK owns its process), only
  where ``libdpdk`` is installed.

Where one is missing, its Python counterpart runs and says so (DPDK has no
Python counterpart: that stack is then reported unavailable).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["NATIVE_DIR", "SOURCE_DIR", "NAMES", "find", "missing_note", "build"]

SOURCE_DIR = Path(__file__).resolve().parents[2] / "native_hot"
#: Where built helpers are looked for; ``URING_NATIVE_DIR`` overrides it.
NATIVE_DIR = Path(os.environ.get("URING_NATIVE_DIR") or SOURCE_DIR / "build")
NAMES = ("pktgen", "libxdp_rx.so", "libzcrx_rx.so", "dpdk_rx")


def find(name: str) -> Path | None:
    """The built helper ``name`` (one of :data:`NAMES`), or None if it is not built."""
    if name not in NAMES:
        raise ValueError(f"unknown native helper {name!r}; known: {', '.join(NAMES)}")
    path = NATIVE_DIR / name
    return path if path.is_file() and os.access(path, os.R_OK) else None


def missing_note(name: str) -> str:
    """One sentence saying that ``name`` is not built and how to build it.

    The make command is named only where its sources are (a source checkout);
    an installed package has no ``native_hot/`` to point at.
    """
    if not (SOURCE_DIR / "packet.mk").is_file():
        return (f"{name} is not built (the C helpers build from a source checkout of uring; "
                f"URING_NATIVE_DIR may name a folder holding built ones)")
    how = "make -C native_hot -f packet.mk"
    if name == "dpdk_rx":
        how += "; needs the Debian packages dpdk and libdpdk-dev: tools/setup-dev as root"
    return f"native_hot/build/{name} is not built ({how})"


def build(timeout: float = 300) -> tuple[bool, str]:
    """Build the packet helpers with the system compiler; return (ok, output).

    Runs ``packet.mk`` (which also works alone, without ``native_hot/Makefile``)
    into :data:`NATIVE_DIR`. A missing compiler is reported, not raised.
    """
    if shutil.which("make") is None or shutil.which("cc") is None and \
            shutil.which("gcc") is None:
        return False, "make and a C compiler (gcc) are needed to build native_hot/"
    argv = ["make", "-s", "-C", str(SOURCE_DIR), "-f", "packet.mk", "packet",
            f"BUILD={NATIVE_DIR}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return out.returncode == 0, (out.stdout + out.stderr).strip()
