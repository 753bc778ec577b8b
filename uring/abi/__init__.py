"""The kernel ABI: ctypes structures and constants exactly as the kernel defines them.

Everything from :mod:`uring.abi.io_uring` (``<linux/io_uring.h>`` of Linux 6.18)
is re-exported here, plus :func:`since`, which tells which kernel release added
a constant or structure. AF_XDP, AF_PACKET and bpf definitions live in their
own modules (``uring.abi.if_xdp``, ...) and are imported from there.
"""

from ._versioned import since
from .io_uring import *  # noqa: F401,F403 (the C names are the API)
from .io_uring import __all__ as _io_uring_all

__all__ = [*_io_uring_all, "since"]
