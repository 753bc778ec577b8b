"""The stages, in the order the story is told: the table of contents of ``uring.echo``.

Each entry names a module in this package whose ``Server`` class is the
stage. Modules are imported only when a stage is run, so ``--list`` works on
any kernel.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["Stage", "STAGES", "find"]


@dataclass(frozen=True)
class Stage:
    """One echo server stage: its name, module and one-line description."""

    name: str
    module: str
    summary: str

    def load(self) -> type:
        """Import the stage's module and return its ``Server`` class."""
        return importlib.import_module(f"{__package__}.{self.module}").Server


STAGES: tuple[Stage, ...] = (
    Stage("epoll", "epoll",
          "baseline: select.epoll and non-blocking sockets, stdlib only"),
    Stage("poll", "poll",
          "v1.0: POLL_ADD for readiness, then read/write; a Python object per request"),
    Stage("user_data", "user_data",
          "v1.3: the request packed into the 64-bit user_data; no allocation per request"),
    Stage("fast_poll", "fast_poll",
          "v1.5: recv/send/accept issued directly, relying on IORING_FEAT_FAST_POLL"),
    Stage("provide_buffers", "provide_buffers",
          "v1.6: recv into buffers the kernel picks from a PROVIDE_BUFFERS group"),
    Stage("buf_ring", "buf_ring",
          "provided buffers in a registered buffer ring: giving one back is a memory write"),
    Stage("multishot", "multishot",
          "multishot accept + recv over a buffer ring, DEFER_TASKRUN, batched (liburing)"),
    Stage("bundle", "bundle",
          "multishot with recv bundles: one CQE for several buffers (6.10)"),
    Stage("fixed_files", "fixed_files",
          "multishot accept into a registered file table; SQEs name slots, not fds"),
    Stage("sqpoll", "sqpoll",
          "multishot with an SQ polling kernel thread: enters only to wait when no CQE is ready"),
    Stage("send_zc", "send_zc",
          "multishot with zero-copy sends (SEND_ZC) for large echoes (6.0)"),
)


def find(name: str) -> Stage:
    """The stage called ``name``; ``KeyError`` listing the known ones otherwise."""
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise KeyError(f"unknown stage {name!r}; known: {', '.join(s.name for s in STAGES)}")
