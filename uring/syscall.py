"""The system calls io_uring is built on, called through libc's ``syscall(2)``.

io_uring has no libc wrappers (glibc never added them), so we call ``syscall()``
with the numbers by hand, exactly as liburing does in ``src/syscall.h``. Every
failure becomes an :class:`OSError` subclass picked by errno (``FileNotFoundError``
for ENOENT, ``BlockingIOError`` for EAGAIN, ...), with the call's name in the
message. io_uring being switched off altogether raises :class:`Unavailable`.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Callable

from .errors import Unavailable

__all__ = [
    "Unavailable",
    "SYS_io_uring_setup",
    "SYS_io_uring_enter",
    "SYS_io_uring_register",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "address_of",
    "checked_syscall",
]

# The three io_uring numbers were allocated in the unified (asm-generic) number
# space in 5.1, so they are the same on every architecture.
SYS_io_uring_setup = 425
SYS_io_uring_enter = 426
SYS_io_uring_register = 427

_libc = ctypes.CDLL(None, use_errno=True)


def _syscall_fn(nargs: int):
    """A handle on libc's ``syscall()`` taking the number and ``nargs`` longs.

    Without argtypes ctypes would pass Python ints as C ``int`` and cut every
    pointer above 2**31 in half. ``syscall()`` is variadic, but on the 64-bit
    Linux ABIs integer varargs travel in the same registers as fixed ones, so a
    fixed prototype is safe. Indexing the library (not attribute access) gives
    a fresh function object each time, so each prototype is independent.
    """
    fn = _libc["syscall"]
    fn.argtypes = [ctypes.c_long] * (nargs + 1)
    fn.restype = ctypes.c_long
    return fn


_syscall2 = _syscall_fn(2)
_syscall4 = _syscall_fn(4)
_syscall6 = _syscall_fn(6)


_UNAVAILABLE_HINTS = {
    errno.ENOSYS: (
        "io_uring_setup(2) does not exist: the kernel is older than 5.1 or was built "
        "without CONFIG_IO_URING. Fix: run on Linux 5.1 or newer (5.19+ for everything "
        "uring shows) with io_uring enabled."),
    errno.EPERM: (
        "io_uring_setup(2) was refused (EPERM): either the sysctl kernel.io_uring_disabled "
        "is 2 (disabled for everyone) or 1 and this user is not in kernel.io_uring_group, "
        "or a container's seccomp profile blocks io_uring (Docker's default does). Fix: "
        "`sysctl -w kernel.io_uring_disabled=0` as root, or run the container with a "
        "seccomp profile that allows io_uring_setup/enter/register."),
    errno.ENOMEM: (
        "io_uring_setup(2) could not lock memory for the rings (ENOMEM): kernels before "
        "5.12 charge ring memory to RLIMIT_MEMLOCK. Fix: raise `ulimit -l`, use fewer "
        "entries, or run a kernel >= 5.12 where rings are charged to the memory cgroup."),
}


def _check(name: str, ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return ret


def address_of(obj) -> int:
    """Address of a ctypes object, or 0 for ``None``; plain ints pass through.

    System call arguments that are pointers accept any of the three, so callers
    can hand over a structure, a raw address they computed, or nothing.
    """
    if obj is None:
        return 0
    if isinstance(obj, int):
        return obj
    return ctypes.addressof(obj)


def io_uring_setup(entries: int, params) -> int:
    """``io_uring_setup(2)`` (Linux 5.1): create a ring, fill ``params``, return its fd.

    ``params`` is an ``io_uring_params`` structure: its input fields (flags,
    ``sq_thread_idle``, ...) are read by the kernel, its output fields (the ring
    offsets, ``features``) are written back in place.
    """
    ret = _syscall2(SYS_io_uring_setup, entries, ctypes.addressof(params))
    if ret < 0:
        err = ctypes.get_errno()
        if err in _UNAVAILABLE_HINTS:
            raise Unavailable(err, _UNAVAILABLE_HINTS[err])
        raise OSError(err, f"io_uring_setup: {os.strerror(err)}")
    return ret


def io_uring_enter(fd: int, to_submit: int, min_complete: int, flags: int,
                   arg=None, argsz: int = 0) -> int:
    """``io_uring_enter(2)`` (Linux 5.1): submit SQEs and/or wait for completions.

    Returns the number of SQEs the kernel consumed. ``arg`` is a signal mask, or
    with ``IORING_ENTER_EXT_ARG`` an ``io_uring_getevents_arg`` (5.11); pass it as
    a ctypes object or an address. Errors when waiting are part of the protocol
    and come back as ordinary exceptions, with the class Python gives each
    errno: ``InterruptedError`` (EINTR, retry), a plain ``OSError`` with errno
    ``ETIME`` (the EXT_ARG timeout passed; Python keeps ``TimeoutError`` for
    ETIMEDOUT), ``BlockingIOError`` (EAGAIN) and a plain ``OSError`` with errno
    ``EBUSY`` (before 5.19: too many completions pending to submit more).
    """
    return _check("io_uring_enter", _syscall6(SYS_io_uring_enter, fd, to_submit, min_complete,
                                              flags, address_of(arg), argsz))


def io_uring_register(fd: int, opcode: int, arg=None, nr_args: int = 0) -> int:
    """``io_uring_register(2)`` (Linux 5.1): register files, buffers, rings, probes...

    ``arg`` is a ctypes object, an address, or ``None``; its meaning and that of
    ``nr_args`` depend on ``opcode`` (an ``IORING_REGISTER_*`` value).
    """
    return _check("io_uring_register", _syscall4(SYS_io_uring_register, fd, opcode,
                                                 address_of(arg), nr_args))


def checked_syscall(name: str, number: int, nargs: int) -> Callable[..., int]:
    """A function making system call ``number`` with ``nargs`` integer arguments.

    It returns the call's result, or raises the ``OSError`` subclass for its
    errno with ``name`` in the message, like the io_uring calls here. For the
    other system calls libc does not wrap (the packet lab's ``bpf(2)``);
    pointer arguments go in as addresses (:func:`address_of`).
    """
    fn = _syscall_fn(nargs)

    def call(*args: int) -> int:
        return _check(name, fn(number, *args))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{name}(2)`` (system call {number}) through libc's ``syscall()``."
    return call
