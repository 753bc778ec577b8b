"""The kernel ABI of the packet lab's receive paths, beside io_uring's.

Only :mod:`uring.packet` uses these, so they live here and :mod:`uring.abi`
holds io_uring's alone. Each module mirrors one kernel header, with the
release that added every constant (the same :mod:`uring.abi._versioned`
classes):

* :mod:`~uring.packet.abi.if_packet` -- ``<linux/if_packet.h>``: AF_PACKET,
  TPACKET_V3 rings;
* :mod:`~uring.packet.abi.if_xdp` -- ``<linux/if_xdp.h>``: AF_XDP sockets,
  UMEM and their rings;
* :mod:`~uring.packet.abi.bpf` -- the part of ``<linux/bpf.h>`` (and
  ``<linux/if_link.h>``) that loads and attaches an XDP program, and the
  ``bpf(2)`` system call itself (:func:`~uring.packet.abi.bpf.sys_bpf`).

Import the names from the module that mirrors their header.
"""

__all__: list[str] = []
