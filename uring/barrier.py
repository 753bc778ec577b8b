"""Memory ordering between this process and the kernel, in one place.

The rings are shared memory written concurrently by two parties. Each side
publishes work by storing an index (the SQ tail, the CQ head, a buffer ring's
tail) *after* writing the entries it covers, and consumes work by loading the
other side's index *before* reading the entries. So every index we load is an
**acquire** (later reads may not move before it) and every index we store is a
**release** (earlier writes may not move after it). This mirrors liburing's
``barrier.h``: ``io_uring_smp_load_acquire``/``io_uring_smp_store_release``.

Why the helpers below are plain loads and stores:

* On x86-64 (TSO) the hardware never reorders a load with a later load, or a
  store with an earlier store, so acquire loads and release stores are ordinary
  ``mov`` instructions; only a store followed by a load of *another* location
  can be reordered, which is what :func:`smp_mb` is for.
* A compiler could still reorder, but CPython executes each subscript as
  separate calls into the interpreter that no compiler can move memory accesses
  across, and each access is a single aligned 2- or 4-byte ``mov`` on a
  ``memoryview`` cast to ``'H'``/``'I'`` — never torn. (``struct.unpack_from``
  with ``'<I'`` is *not* used for indices: it assembles the value byte by byte.)
* On weakly ordered CPUs (arm64, riscv64, POWER) acquire and release need
  ``ldar``/``stlr`` or a ``dmb ish``, which pure Python cannot emit.
  :func:`smp_mb` then supplies the strongest ordering the standard library
  offers: a lock round trip, whose acquire (``ldaxr``/``casa``) and release
  (``stlr``) give the acquire/release helpers below their ordering. It is
  *not* a full fence there: an earlier plain store may still pass a later
  load, so code that needs store-then-load ordering (the SQPOLL wake-up
  check in :meth:`uring.ring.Ring.submit`) must not rely on it where
  :data:`STRONGLY_ORDERED` is False -- the ring then always asks for the
  wake-up instead. uring is exercised on x86-64.
"""

from __future__ import annotations

import platform
import threading

__all__ = ["STRONGLY_ORDERED", "load_acquire", "store_release", "smp_mb"]

#: True where plain loads are acquires and plain stores are releases (TSO).
STRONGLY_ORDERED = platform.machine() in ("x86_64", "AMD64", "i686", "i386")

# A lock round trip executes a locked read-modify-write (``lock cmpxchg`` on
# x86-64 inside the pthread/semaphore code), which is a full fence there: the
# one reordering TSO allows, a store passing a later load, cannot cross it.
_fence_lock = threading.Lock()


def smp_mb() -> None:
    """Full memory barrier (liburing ``io_uring_smp_mb``) on x86-64; weaker elsewhere.

    Needed where we store one location and then load another that the kernel
    may have stored before reading ours: the SQ tail then ``IORING_SQ_NEED_WAKEUP``.
    On weakly ordered CPUs it only orders like an acquire plus a release (see
    the module docstring), so callers must not use it as a full fence there.
    """
    _fence_lock.acquire()
    _fence_lock.release()


if STRONGLY_ORDERED:
    def load_acquire(view: memoryview, index: int) -> int:
        """Load ``view[index]`` with acquire semantics (a plain load on TSO)."""
        return view[index]

    def store_release(view: memoryview, index: int, value: int) -> None:
        """Store ``view[index] = value`` with release semantics (a plain store on TSO)."""
        view[index] = value
else:
    def load_acquire(view: memoryview, index: int) -> int:
        """Load ``view[index]``, then a barrier so later reads stay after it."""
        value = view[index]
        smp_mb()
        return value

    def store_release(view: memoryview, index: int, value: int) -> None:
        """A barrier so earlier writes are visible, then store ``view[index] = value``."""
        smp_mb()
        view[index] = value
