"""The registry of receive paths ("stacks"): which module runs each, and what it needs.

A stack is a receiver module (``python -m <module>``) plus the options that
select a variant of it (``--native yes`` for its C hot loop, ``--extra
net_af_xdp`` for DPDK's AF_XDP driver). :func:`unavailable` says, without
running anything, why a stack cannot run here (a helper not built, a module
of the library missing); refusals only the kernel can give (zcrx on a NIC
without support) come back when the stack runs.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from .. import native

__all__ = ["Stack", "STACKS", "get", "unavailable", "names"]


@dataclass(frozen=True)
class Stack:
    """One receive path: a name, its module, its extra options, and what it needs."""

    name: str
    module: str
    description: str
    args: tuple[str, ...] = ("--native", "no")
    needs_native: str | None = None  # a native_hot helper it cannot run without
    needs_modules: tuple[str, ...] = ()  # library modules it imports
    frames: bool = False  # sees whole frames (vs UDP payloads)
    stream: bool = False  # reads a TCP stream from uring.packet.tcp_send, not frames


_URING = ("uring.ops", "uring.buffers")

STACKS: dict[str, Stack] = {s.name: s for s in (
    Stack("recvmmsg", "uring.packet.rx_recvmmsg", "UDP socket + recvmmsg (baseline)"),
    Stack("uring-recvmsg", "uring.packet.rx_uring_recvmsg",
          "io_uring multishot RECVMSG + buffer ring", needs_modules=_URING),
    Stack("uring-recv", "uring.packet.rx_uring_recv",
          "io_uring multishot RECV + buffer ring", needs_modules=_URING),
    Stack("tpacket-v3", "uring.packet.rx_tpacket_v3", "AF_PACKET TPACKET_V3 mmap ring",
          frames=True),
    Stack("uring-packet", "uring.packet.rx_uring_packet",
          "AF_PACKET read through io_uring (multishot RECV)", needs_modules=_URING,
          frames=True),
    Stack("afxdp", "uring.packet.rx_afxdp", "AF_XDP copy mode, Python loop", frames=True),
    Stack("afxdp-c", "uring.packet.rx_afxdp", "AF_XDP copy mode, C loop (libxdp_rx.so)",
          args=("--native", "yes"), needs_native="xdp_rx", frames=True),
    Stack("dpdk-af_packet", "uring.packet.rx_dpdk", "DPDK net_af_packet (C)",
          args=("--extra", "net_af_packet"), needs_native="dpdk_rx", frames=True),
    Stack("dpdk-af_xdp", "uring.packet.rx_dpdk", "DPDK net_af_xdp (C)",
          args=("--extra", "net_af_xdp"), needs_native="dpdk_rx", frames=True),
    Stack("zcrx", "uring.packet.rx_zcrx", "io_uring zero-copy receive, Python loop",
          needs_modules=_URING, stream=True),
    Stack("zcrx-c", "uring.packet.rx_zcrx", "io_uring zero-copy receive, C loop",
          args=("--native", "yes"), needs_native="zcrx_rx", needs_modules=_URING,
          stream=True),
)}


def names() -> list[str]:
    """Every stack name, in the registry's order."""
    return list(STACKS)


def get(name: str) -> Stack:
    """The stack called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return STACKS[name]
    except KeyError:
        raise ValueError(f"unknown stack {name!r}; known: {', '.join(STACKS)}") from None


def unavailable(stack: Stack) -> str:
    """Why ``stack`` cannot run here (a sentence), or "" if nothing is missing."""
    for mod in (stack.module, *stack.needs_modules):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} does not exist yet"
    if stack.needs_native:
        return native.why_unavailable(stack.needs_native) or ""
    return ""
