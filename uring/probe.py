"""What this kernel's io_uring can do: ``python -m uring.probe [--json]``.

Three sources, from oldest to newest kernel interface:

* ``io_uring_params.features`` after setup: the ``IORING_FEAT_*`` bits (5.4+).
* ``IORING_REGISTER_PROBE`` (5.6): which opcodes the kernel knows.
* ``IORING_REGISTER_QUERY`` (6.18): which setup, enter and SQE flags it accepts.
  On older kernels the setup flags are found by trying each one.

The library and its tests use :func:`get` (cached) to decide what to run, and
:func:`require_op` to refuse an operation with a message naming the kernel
version that added it.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import sys
from dataclasses import dataclass, field

from . import _cli, abi, syscall
from .abi import IoringFeat, IoringOp, IoringSetup
from .errors import OperationUnsupported
from .ring import Ring

__all__ = ["Probe", "OperationUnsupported", "get", "require_op", "probe_ring_ops",
           "kernel_version", "main"]


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """``(major, minor)`` of the running kernel (or of ``release``, e.g. ``"6.18.44-fc"``)."""
    release = release or os.uname().release
    parts = release.split("-")[0].split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _version_tuple(since: str) -> tuple[int, int]:
    major, minor = since.split(".")[:2]
    return int(major), int(minor)


def probe_ring_ops(ring) -> set[int]:
    """Opcodes the kernel behind ``ring`` supports (``IORING_REGISTER_PROBE``, 5.6)."""
    n = 256
    buf = (ctypes.c_uint8 * (ctypes.sizeof(abi.io_uring_probe)
                             + n * ctypes.sizeof(abi.io_uring_probe_op)))()
    ring.register(abi.IORING_REGISTER_PROBE, ctypes.addressof(buf), n)
    probe = abi.io_uring_probe.from_buffer(buf)
    ops = (abi.io_uring_probe_op * n).from_buffer(buf, ctypes.sizeof(abi.io_uring_probe))
    supported = {ops[i].op for i in range(probe.ops_len)
                 if ops[i].flags & abi.IO_URING_OP_SUPPORTED}
    del probe, ops
    return supported


# Setup flags that are only valid with companions (each verified on 6.18 to
# give EINVAL alone): try each flag together with what it needs.
_COMPANIONS = {
    "IORING_SETUP_SQ_AFF": "IORING_SETUP_SQPOLL",
    "IORING_SETUP_TASKRUN_FLAG": "IORING_SETUP_COOP_TASKRUN",
    "IORING_SETUP_DEFER_TASKRUN": "IORING_SETUP_SINGLE_ISSUER",
    "IORING_SETUP_HYBRID_IOPOLL": "IORING_SETUP_IOPOLL",
}
# Flags that need input we cannot give in a blind try (an fd, user memory).
_UNTRIABLE = {"IORING_SETUP_ATTACH_WQ", "IORING_SETUP_NO_MMAP",
              "IORING_SETUP_REGISTERED_FD_ONLY"}


def _try_setup(flags: int) -> bool:
    p = abi.io_uring_params()
    p.flags = flags
    if flags & abi.IORING_SETUP_CQSIZE:
        p.cq_entries = 8
    try:
        fd = syscall.io_uring_setup(4, p)
    except OSError as e:
        if e.errno == errno.EINVAL:
            return False
        raise
    os.close(fd)
    return True


def _query_setup_flags() -> int | None:
    """The accepted setup-flag mask from ``IORING_REGISTER_QUERY`` (6.18), or None."""
    if not hasattr(abi, "IORING_REGISTER_QUERY"):
        return None
    result = abi.io_uring_query_opcode()
    hdr = abi.io_uring_query_hdr()
    hdr.query_op = abi.IO_URING_QUERY_OPCODES
    hdr.query_data = ctypes.addressof(result)
    hdr.size = ctypes.sizeof(result)
    try:
        syscall.io_uring_register(-1, abi.IORING_REGISTER_QUERY, hdr, 0)
    except OSError:
        return None
    if hdr.result < 0:
        return None
    return result.ring_setup_flags


@dataclass
class Probe:
    """The facts :func:`get` gathered about this kernel's io_uring."""

    release: str
    version: tuple[int, int]
    usable: bool
    reason: str = ""
    features: int = 0
    ops: set[int] = field(default_factory=set)
    setup_flags: int = 0
    setup_flags_source: str = ""

    def has_op(self, op: int) -> bool:
        """True if the kernel supports opcode ``op``."""
        return op in self.ops

    def has_feature(self, feat: int) -> bool:
        """True if every ``IORING_FEAT_*`` bit in ``feat`` is set."""
        return self.features & feat == feat

    def has_setup_flag(self, flag: int) -> bool:
        """True if ``io_uring_setup`` accepts ``flag`` (with its required companions)."""
        return self.setup_flags & flag == flag

    def why_not_op(self, op: int) -> str:
        """Empty if ``op`` is supported, else a sentence naming the kernel that added it."""
        if not self.usable:
            return self.reason
        if op in self.ops:
            return ""
        member = IoringOp(op)
        return (f"{member.name} needs Linux {member.since}; "
                f"this kernel ({self.release}) does not support it")

    def as_dict(self) -> dict:
        """Everything, in plain types, for ``--json``."""
        return {
            "kernel": self.release,
            "usable": self.usable,
            "reason": self.reason,
            "features": {m.name: bool(self.features & m) for m in IoringFeat},
            "features_value": self.features,
            "opcodes": [{"name": m.name, "value": int(m), "since": m.since,
                         "supported": int(m) in self.ops} for m in IoringOp],
            "setup_flags": {m.name: bool(self.setup_flags & m) for m in IoringSetup},
            "setup_flags_source": self.setup_flags_source,
        }


@functools.lru_cache(maxsize=1)
def get() -> Probe:
    """Probe the running kernel once (cached): usable?, features, opcodes, setup flags."""
    release = os.uname().release
    version = kernel_version(release)
    try:
        ring = Ring(4)
    except OSError as e:
        reason = str(e) if isinstance(e, syscall.Unavailable) else f"io_uring_setup failed: {e}"
        return Probe(release, version, False, reason)
    with ring:
        ops = probe_ring_ops(ring)
        features = int(ring.features)
    mask = _query_setup_flags()
    source = "IORING_REGISTER_QUERY"
    if mask is None:
        source = "trial io_uring_setup per flag"
        mask = 0
        for m in IoringSetup:
            if m.name in _UNTRIABLE:
                continue
            extra = getattr(abi, _COMPANIONS.get(m.name, ""), 0)
            if _try_setup(m | extra):
                mask |= m
    return Probe(release, version, True, "", features, ops, mask, source)


def require_op(op: int) -> None:
    """Raise :class:`OperationUnsupported` naming the kernel version if ``op`` is missing."""
    probe = get()
    if op not in probe.ops:
        raise OperationUnsupported(errno.EOPNOTSUPP, probe.why_not_op(op))


def _print_report(probe: Probe, out) -> None:
    w = out.write
    w(f"kernel:   {probe.release}\n")
    if not probe.usable:
        w(f"io_uring: NOT usable\n  {probe.reason}\n")
        return
    w("io_uring: usable\n\nfeatures (io_uring_params.features = "
      f"{probe.features:#x}):\n")
    for m in IoringFeat:
        w(f"  {'yes' if probe.features & m else 'no ':3}  {m.name:32} since {m.since}\n")
    w(f"\nopcodes (IORING_REGISTER_PROBE: {len(probe.ops)} supported):\n")
    for m in IoringOp:
        w(f"  {int(m):3}  {'yes' if int(m) in probe.ops else 'no ':3}  {m.name:32} "
          f"since {m.since}\n")
    w(f"\nsetup flags accepted (from {probe.setup_flags_source}):\n")
    for m in IoringSetup:
        w(f"  {'yes' if probe.setup_flags & m else 'no ':3}  {m.name:32} since {m.since}\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m uring.probe``."""
    parser = _cli.make_parser("python -m uring.probe", __doc__)
    parser.add_argument("--json", action="store_true", help="print JSON for programs")
    args = parser.parse_args(argv)
    probe = get()
    if args.json:
        json.dump(probe.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_report(probe, sys.stdout)
    return 0 if probe.usable else 1


if __name__ == "__main__":
    _cli.run(main)
