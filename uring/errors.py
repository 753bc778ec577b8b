"""Every exception the library raises of its own, in one place.

This module imports nothing from uring, so any layer may raise these; each is
also re-exported where programs met it first (:mod:`uring`, :mod:`uring.ring`,
:mod:`uring.syscall`, :mod:`uring.probe`, :mod:`uring.ops`,
:mod:`uring.buffers`), and it is the same class everywhere.

Errors the kernel reports for one request are not here: a negative ``res``
becomes the ``OSError`` subclass Python gives its errno
(:meth:`uring.ring.Cqe.result`).

=============================  =================  ==========================================
exception                      base               raised when
=============================  =================  ==========================================
:class:`Unavailable`           ``OSError``        io_uring cannot be set up at all (ENOSYS,
                                                  EPERM, ENOMEM at ``io_uring_setup``)
:class:`OperationUnsupported`  ``OSError``        the running kernel lacks an operation or
                                                  a feature (the message names the release)
:class:`SubmissionQueueFull`   ``RuntimeError``   every SQE slot is still the kernel's
:class:`RingClosed`            ``ValueError``     the ring was used after ``close()``
:class:`BufferOwnershipError`  ``RuntimeError``   a buffer id would get two owners
=============================  =================  ==========================================
"""

from __future__ import annotations

__all__ = ["Unavailable", "OperationUnsupported", "SubmissionQueueFull", "RingClosed",
           "BufferOwnershipError"]


class Unavailable(OSError):
    """io_uring cannot be used on this system at all; the message says why and how to fix it."""


class OperationUnsupported(OSError):
    """The running kernel lacks an io_uring operation or feature."""


class SubmissionQueueFull(RuntimeError):
    """Every SQE slot holds an entry the kernel has not consumed yet.

    :meth:`uring.ring.Ring.prep` never hands out a slot the kernel may still
    read. Submit what is queued (:meth:`uring.ring.Ring.submit`) and try again;
    :meth:`uring.ring.Ring.sq_space_left` tells how many slots are free.
    """


class RingClosed(ValueError):
    """The ring was closed: its memory is unmapped and its fd is gone."""


class BufferOwnershipError(RuntimeError):
    """A buffer id was handed to an owner that already has it (or to the wrong one)."""
