"""uring: io_uring from Python through ctypes, mmap and struct — nothing else.

The layers, each importing only those above it:

* :mod:`uring.errors` — the library's own exceptions (imports nothing).
* :mod:`uring.abi` — the kernel's structures and constants, with the version that added each.
* :mod:`uring.syscall` — ``io_uring_setup``/``enter``/``register``.
* :mod:`uring.ring` — :class:`Ring`: the mapped rings, submission and completion.
* :mod:`uring.ops` — one function per operation, filling an SQE.
* :mod:`uring.buffers`, :mod:`uring.register` — provided buffers, buffer rings, registration.
* :mod:`uring.sim` — a pure-Python kernel stand-in for tests and tutorials.
* :mod:`uring.probe` — what the running kernel supports.
"""

from .errors import RingClosed, SubmissionQueueFull, Unavailable
from .ring import Cqe, Cqe32, Ring

__all__ = ["Ring", "Cqe", "Cqe32", "RingClosed", "SubmissionQueueFull", "Unavailable"]
__version__ = "0.1.0"
