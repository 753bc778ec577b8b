"""The receive loop shared by the io_uring receivers: one multishot request, one buffer ring.

A multishot receive (RECV or RECVMSG with ``IORING_RECV_MULTISHOT``, 6.0) is
submitted once and then posts one CQE per datagram or frame, each naming the
provided buffer (``IORING_CQE_F_BUFFER``) the kernel filled from a buffer
ring (:class:`uring.buffers.BufferRing`). :func:`batches` drives it:

* it waits for :data:`WAIT_FOR` completions, at most :data:`BATCH_WAIT`
  seconds (so the stop rules are checked), and copies out every ready CQE
  at once;
* it yields ``(time, [buffer views])`` for the receiver to count;
* when the receiver asks for the next batch, the buffers go back to the ring
  (one tail store for the whole batch);
* a CQE without ``IORING_CQE_F_MORE`` means the request ended — usually
  ``-ENOBUFS`` when every buffer was in use at once — so it is armed again
  after the buffers are back.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Callable, Iterator

from ..abi import (IORING_CQE_BUFFER_SHIFT, IORING_CQE_F_BUFFER, IORING_CQE_F_MORE,
                   IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER)
from ..buffers import BufferRing
from ..ring import Ring
from .common import RxConfig
from .stats import RxResult, SeqTracker

__all__ = ["open_ring", "batches", "ENTRIES", "CQ_ENTRIES", "BUFFERS", "BUF_SIZE", "BGID",
           "USER_DATA", "WAIT_FOR", "BATCH_WAIT"]

ENTRIES = 64
CQ_ENTRIES = 4096  # room for every buffer's CQE and more
BUFFERS = 1024
BUF_SIZE = 2048
BGID = 0
USER_DATA = 1
WAIT_FOR = 64       # completions one wait asks for ...
BATCH_WAIT = 0.002  # ... for at most this many seconds

_F_BUFFER, _F_MORE = int(IORING_CQE_F_BUFFER), int(IORING_CQE_F_MORE)
_SHIFT = int(IORING_CQE_BUFFER_SHIFT)


def open_ring() -> tuple[Ring, BufferRing]:
    """A ring and its buffer group :data:`BGID` of :data:`BUFFERS` x :data:`BUF_SIZE` bytes.

    ``DEFER_TASKRUN`` (6.1, with ``SINGLE_ISSUER``): completions are posted only
    when we enter the kernel to wait, in one batch, instead of interrupting the
    receive loop whenever a frame arrives.
    """
    ring = Ring(ENTRIES, cq_entries=CQ_ENTRIES,
                flags=IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN)
    try:
        return ring, BufferRing(ring, BGID, BUFFERS, BUF_SIZE)
    except BaseException:
        ring.close()
        raise


def batches(cfg: RxConfig, res: RxResult, tracker: SeqTracker, ring: Ring, bufs: BufferRing,
            arm: Callable[[], None]) -> Iterator[tuple[float, list]]:
    """Yield ``(time.monotonic(), views)`` per batch of completions until a stop rule fires.

    ``arm()`` prepares the multishot SQE (it is submitted by the next wait).
    Sets ``res.stopped_by`` before returning.
    """
    arm()
    take = bufs.take
    while True:
        if not ring.cq_ready():
            # Wait for a batch, not the first frame: each return to Python
            # costs more than the frames it brings, and with DEFER_TASKRUN
            # the kernel posts them all in this one enter. The time-out
            # ends a short batch (the stream's tail, a slow sender).
            ring.submit_and_wait(WAIT_FOR, timeout=BATCH_WAIT)
        cqes = ring.copy_cqes_raw()
        now = time.monotonic()
        if not cqes:
            res.stopped_by = cfg.should_stop(tracker.unique, res.last, now)
            if res.stopped_by:
                return
            continue
        views, bids, rearm = [], [], False
        for cqe in cqes:
            flags = cqe[2]
            if flags & _F_BUFFER:
                views.append(take(cqe))
                bids.append(flags >> _SHIFT)
            elif cqe[1] < 0 and cqe[1] != -errno.ENOBUFS:
                raise OSError(-cqe[1], f"multishot receive: {os.strerror(-cqe[1])}")
            if not flags & _F_MORE:
                rearm = True
        yield now, views
        del views
        bufs.add_many(bids)
        bufs.advance()
        if rearm:
            arm()
        res.stopped_by = cfg.should_stop(tracker.unique, res.last, now)
        if res.stopped_by:
            return
