"""The optional C helpers of ``native_hot/``: find them, build them on first use.

Python never needs them; benchmarks use them where they exist (the echo load
generator, the C reference server, the packet lab's hot loops) and say so
where they do not. A helper is built with ``make -C native_hot NAME`` the first
time a process asks for it, if a C compiler is there; ``make`` itself decides
whether the build is up to date. Built files live in ``native_hot/build/``, or
in the directory ``URING_NATIVE_DIR`` names. With ``URING_NATIVE_BUILD=no``
nothing is built: only helpers already there are used.

* :func:`binary` — an executable helper (``echo_load``, ``echo_server``, and
  the packet lab's ``pktgen`` and ``dpdk_rx``);
* :func:`library` — a shared library for ctypes (``build/libNAME.so``: the
  packet lab's ``xdp_rx`` and ``zcrx_rx``);
* :func:`why_unavailable` — the reason a helper cannot be had, in one sentence.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import subprocess
import threading
from pathlib import Path

__all__ = ["SOURCE_DIR", "BUILD_DIR", "BUILD_ON_USE", "binary", "library", "library_path",
           "why_unavailable", "build"]

#: The C sources and their Makefile (present in a source checkout only).
SOURCE_DIR = Path(__file__).resolve().parent.parent / "native_hot"
#: Where built helpers go and are looked for.
BUILD_DIR = Path(os.environ.get("URING_NATIVE_DIR") or SOURCE_DIR / "build")
#: False when ``URING_NATIVE_BUILD`` is ``no`` (or ``0``): use what is built, build nothing.
BUILD_ON_USE = os.environ.get("URING_NATIVE_BUILD", "yes").lower() not in ("no", "0")

_BUILD_TIMEOUT = 300.0
_lock = threading.Lock()
_reasons: dict[str, str | None] = {}   # name -> None (built) or why not
_libraries: dict[str, ctypes.CDLL] = {}


def _output_path(name: str, kind: str | None) -> Path:
    """Where helper ``name`` of ``kind`` is built; for kind None, the file that exists."""
    if kind is None:
        return next((p for p in (_output_path(name, "binary"), _output_path(name, "library"))
                     if p.is_file()), _output_path(name, "binary"))
    return BUILD_DIR / (f"lib{name}.so" if kind == "library" else name)


def _compiler() -> str | None:
    cc = os.environ.get("CC") or "gcc"
    return shutil.which(cc) or shutil.which("cc")


def build(name: str) -> tuple[bool, str]:
    """Run ``make -C native_hot NAME`` now; return (success, make's output).

    Serialised across processes with a lock file in :data:`BUILD_DIR`, so two
    test processes never write the same file at once. Missing ``make`` or
    compiler is reported in the output, not raised.
    """
    if not (SOURCE_DIR / "Makefile").is_file():
        return False, f"no native_hot/Makefile under {SOURCE_DIR.parent} (not a source checkout)"
    if shutil.which("make") is None:
        return False, "make is not installed (Debian: apt-get install make)"
    if _compiler() is None:
        return False, "no C compiler: gcc is not installed (Debian: apt-get install gcc)"
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    argv = ["make", "-s", "--no-print-directory", "-C", str(SOURCE_DIR), name,
            f"BUILD={BUILD_DIR}"]
    with open(BUILD_DIR / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            out = subprocess.run(argv, capture_output=True, text=True,
                                 timeout=_BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            return False, f"make {name} took longer than {_BUILD_TIMEOUT:.0f} s"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return out.returncode == 0, (out.stdout + out.stderr).strip()


def _ensure(name: str, kind: str | None) -> Path | None:
    with _lock:
        path = _output_path(name, kind)
        if name not in _reasons and not BUILD_ON_USE:
            how = (f"build it with: make -C native_hot {name}"
                   if (SOURCE_DIR / "Makefile").is_file() else
                   "the C helpers build from a source checkout of uring; URING_NATIVE_DIR"
                   " may name a folder holding built ones")
            _reasons[name] = None if path.is_file() else (
                f"native_hot/build/{path.name} is not built (URING_NATIVE_BUILD=no; {how})")
        if name not in _reasons:
            ok, output = build(name)
            path = _output_path(name, kind)
            if ok and path.is_file():
                _reasons[name] = None
            elif path.is_file() and not (SOURCE_DIR / "Makefile").is_file():
                _reasons[name] = None   # built earlier; nothing here to rebuild it from
            else:
                lines = output.splitlines()
                why = next((line for line in lines if "cannot build" in line),
                           lines[-1] if lines else "make failed without a message")
                if ok:
                    why = f"make {name} succeeded but {path} is missing"
                _reasons[name] = f"native_hot/{name} is unavailable: {why}"
        return path if _reasons[name] is None else None


def binary(name: str) -> Path | None:
    """The executable ``native_hot/build/NAME``, built first if needed; None if unavailable.

    :func:`why_unavailable` then says why (no compiler, a missing -dev
    package, a build error).
    """
    return _ensure(name, "binary")


def library_path(name: str) -> Path | None:
    """The shared library ``native_hot/build/libNAME.so``, built first if needed; or None."""
    return _ensure(name, "library")


def library(name: str) -> ctypes.CDLL | None:
    """``libNAME.so`` from ``native_hot/`` loaded with ctypes (once per process), or None."""
    path = library_path(name)
    if path is None:
        return None
    with _lock:
        if name not in _libraries:
            try:
                _libraries[name] = ctypes.CDLL(str(path), use_errno=True)
            except OSError as e:
                _reasons[name] = f"{path} did not load: {e}"
                return None
        return _libraries[name]


def why_unavailable(name: str, kind: str | None = None) -> str | None:
    """Why the helper ``name`` cannot be used, or None if it can.

    Tries to build it first if no one has asked for it yet in this process;
    ``kind`` is ``"binary"``, ``"library"``, or None for whichever ``make
    NAME`` builds.
    """
    if kind not in (None, "binary", "library"):
        raise ValueError(f"kind must be 'binary' or 'library', not {kind!r}")
    _ensure(name, kind)
    with _lock:
        return _reasons[name]
