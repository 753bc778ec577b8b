"""The kernel ABI: ctypes structures and constants exactly as the kernel defines them.

Everything from :mod:`uring.abi.io_uring` (``<linux/io_uring.h>`` of Linux 6.18)
is re-exported here, plus :func:`since`, which tells which kernel release added
a constant or structure. Only io_uring's ABI is here: the packet lab's
(AF_PACKET, AF_XDP, bpf) is :mod:`uring.packet.abi`.
"""

from ._versioned import since
from .io_uring import *  # noqa: F401,F403 (the C names are the API)
from .io_uring import __all__ as _io_uring_all

__all__ = [*_io_uring_all, "since"]
