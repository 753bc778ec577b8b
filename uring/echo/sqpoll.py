"""Stage ``sqpoll``: a kernel thread takes the SQEs; we enter only to wait, or to wake it.

Even batched, ``multishot`` makes one ``io_uring_enter`` per loop
iteration, to submit. With ``IORING_SETUP_SQPOLL`` (5.1; without root since
5.11) the kernel starts a thread (``iou-sqp-PID``) that polls the SQ tail
and submits whatever we publish: submitting becomes a memory store. While
CQEs are ready the loop only reads the CQ and writes the SQ; it enters the
kernel when none is: with 20 clients on a 2-core VM, 0.12 to 0.17 system
calls per request, nearly all of them such waits (``idle_waits``). The
thread spins ``--sq-thread-idle`` milliseconds without work, then sleeps
and sets ``IORING_SQ_NEED_WAKEUP``; the next submit then enters once, with
``IORING_ENTER_SQ_WAKEUP``, to wake it (the ring does that).

The price is a CPU spent polling, and the flags that tune task work do not
apply: completions run in the SQ thread, so ``DEFER_TASKRUN`` and
``COOP_TASKRUN`` are refused with SQPOLL. ``SINGLE_ISSUER`` is kept.
"""

from __future__ import annotations

import os

from .. import abi, probe
from ..ring import Ring
from . import multishot

__all__ = ["Server"]

_SPINS = 1000  # polls of the SQ head before yielding the CPU to the SQ thread


class Server(multishot.Server):
    """Multishot with an SQ polling thread: enter only to wait, or to wake the thread."""

    OPTIONS = multishot.Server.OPTIONS + ("sq_thread_idle",)

    @classmethod
    def unsupported(cls) -> str:
        """Needs ``IORING_SETUP_SQPOLL`` usable by this user (root, or Linux 5.11)."""
        reason = super().unsupported()
        info = probe.get()
        if not reason and not info.has_setup_flag(abi.IORING_SETUP_SQPOLL):
            reason = f"this kernel ({info.release}) refuses IORING_SETUP_SQPOLL"
        return reason

    def setup_ring(self) -> Ring:
        """SQPOLL (+ SINGLE_ISSUER, SUBMIT_ALL), a CQ 8x the SQ, the ring fd registered."""
        entries = self.args.entries
        flags = abi.IORING_SETUP_SQPOLL | abi.IORING_SETUP_SUBMIT_ALL
        if probe.get().has_setup_flag(abi.IORING_SETUP_SINGLE_ISSUER):
            flags |= abi.IORING_SETUP_SINGLE_ISSUER
        ring = Ring(entries, flags=int(flags), cq_entries=max(8 * entries, 16),
                    sq_thread_idle=self.args.sq_thread_idle)
        try:
            ring.register_ring_fd()
        except OSError:
            pass
        return ring

    def wait(self) -> list:
        """Publish the SQ (the thread picks it up); enter to wait only if no CQE is ready."""
        ring = self.ring
        ring.submit()
        cqes = ring.copy_cqes_raw()
        if not cqes:
            self.stats.event("idle_waits")
            ring.submit_and_wait(1)
            cqes = ring.copy_cqes_raw()
        return cqes

    def make_room(self) -> None:
        """The SQ is full: publish it and let the SQ thread consume some.

        Submitting does not consume anything here; the thread does, on
        another CPU, so poll its progress and yield if it is slow.
        """
        self.stats.event("sq_full")
        ring = self.ring
        ring.submit()
        spins = 0
        while not ring.sq_space_left():
            spins += 1
            if spins >= _SPINS:
                os.sched_yield()
                self.stats.syscalls += 1
                spins = 0
