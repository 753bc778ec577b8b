"""The XDP side of AF_XDP, with nothing but ``bpf(2)``: an XSKMAP, a 6-instruction program, a link.

An AF_XDP socket only receives what an XDP program redirects to it. This
module builds that program by hand (libbpf/libxdp would compile and load it
from an ELF object; here the bytes are written out) and attaches it:

1. ``BPF_MAP_CREATE`` an ``XSKMAP`` (4.18): key = RX queue id, value = the
   AF_XDP socket's fd;
2. ``BPF_PROG_LOAD`` the program (``kernel-abi.md`` section 6)::

       r2 = ctx->rx_queue_index                  ; key
       r1 = &xsks_map                            ; ld_imm64, src_reg = BPF_PSEUDO_MAP_FD
       r3 = XDP_PASS                             ; action when the slot is empty (5.3)
       call bpf_redirect_map                     ; r0 = XDP_REDIRECT or XDP_PASS
       exit

3. ``BPF_LINK_CREATE`` (XDP links, 5.9) on the interface. The program stays
   attached exactly as long as the link fd is open: :meth:`XdpProgram.close`
   detaches it, and so does the kernel when the process dies, so no program
   is ever left behind on the device.

Frames on queues without a socket (or before the socket is in the map) go
on up the normal stack instead of being dropped.
"""

from __future__ import annotations

import ctypes
import errno
import os

from .abi.bpf import (
    BPF_ANY, BPF_ALU64, BPF_CALL, BPF_DW, BPF_EXIT, BPF_FUNC_redirect_map, BPF_IMM, BPF_JMP,
    BPF_K, BPF_LD, BPF_LDX, BPF_LINK_CREATE, BPF_MAP_CREATE, BPF_MAP_TYPE_XSKMAP,
    BPF_MAP_UPDATE_ELEM, BPF_MEM, BPF_MOV, BPF_PROG_LOAD, BPF_PROG_TYPE_XDP,
    BPF_PSEUDO_MAP_FD, BPF_W, BPF_XDP, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE, XDP_PASS,
    bpf_attr, insn, sys_bpf)
from .abi.if_xdp import xdp_md

__all__ = ["MODES", "XdpError", "redirect_program", "create_xskmap", "map_update",
           "load_program", "link_create", "XdpProgram"]

#: ``--xdp-mode`` to ``link_create.flags``: native (driver) XDP, generic (skb) XDP,
#: or 0 to let the kernel pick native where the driver has it.
MODES = {"native": XDP_FLAGS_DRV_MODE, "generic": XDP_FLAGS_SKB_MODE, "auto": 0}
_LOG_SIZE = 64 * 1024


class XdpError(OSError):
    """A ``bpf(2)`` step failed; the message names the step and, for loads, the verifier's log."""


def _bpf(cmd: int, attr: bpf_attr, what: str) -> int:
    try:
        return sys_bpf(cmd, attr, ctypes.sizeof(attr))
    except OSError as e:
        hint = ""
        if e.errno == errno.EPERM:
            hint = " (bpf(2) needs CAP_BPF/CAP_SYS_ADMIN, or root)"
        raise XdpError(e.errno, f"{what}: {os.strerror(e.errno)}{hint}") from None


def redirect_program(map_fd: int) -> bytes:
    """The program's 48 bytes: redirect each frame to the XSK in slot ``rx_queue_index``."""
    return b"".join([
        insn(BPF_LDX | BPF_MEM | BPF_W, dst=2, src=1, off=xdp_md.rx_queue_index.offset),
        insn(BPF_LD | BPF_DW | BPF_IMM, dst=1, src=BPF_PSEUDO_MAP_FD, imm=map_fd),
        insn(0, imm=0),  # second half of the 16-byte ld_imm64: high 32 bits of imm
        insn(BPF_ALU64 | BPF_MOV | BPF_K, dst=3, imm=XDP_PASS),
        insn(BPF_JMP | BPF_CALL, imm=BPF_FUNC_redirect_map),
        insn(BPF_JMP | BPF_EXIT),
    ])


def create_xskmap(max_entries: int, name: bytes = b"uring_xsks") -> int:
    """``BPF_MAP_CREATE`` an ``XSKMAP`` with ``max_entries`` queue slots; return its fd."""
    attr = bpf_attr()
    attr.map_type = BPF_MAP_TYPE_XSKMAP
    attr.key_size = attr.value_size = 4
    attr.max_entries = max_entries
    attr.map_name = name[:15]
    return _bpf(BPF_MAP_CREATE, attr, "BPF_MAP_CREATE(XSKMAP)")


def map_update(map_fd: int, key: int, value: int) -> None:
    """``BPF_MAP_UPDATE_ELEM`` with u32 key and value (XSKMAP: queue id -> socket fd)."""
    k, v = ctypes.c_uint32(key), ctypes.c_uint32(value)
    attr = bpf_attr()
    attr.map_fd = map_fd
    attr.key = ctypes.addressof(k)
    attr.value = ctypes.addressof(v)
    attr.flags = BPF_ANY
    _bpf(BPF_MAP_UPDATE_ELEM, attr, f"BPF_MAP_UPDATE_ELEM(key {key})")


def load_program(code: bytes, name: bytes = b"uring_xsk") -> int:
    """``BPF_PROG_LOAD`` an XDP program; return its fd.

    On refusal the verifier's log is in the exception message.
    """
    insns = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(_LOG_SIZE)
    attr = bpf_attr()
    attr.prog_type = BPF_PROG_TYPE_XDP
    attr.insn_cnt = len(code) // 8
    attr.insns = ctypes.addressof(insns)
    attr.license = ctypes.addressof(license)  # bpf_redirect_map is a GPL-only helper
    attr.log_level = 1
    attr.log_size = _LOG_SIZE
    attr.log_buf = ctypes.addressof(log)
    attr.prog_name = name[:15]
    attr.expected_attach_type = BPF_XDP
    try:
        return _bpf(BPF_PROG_LOAD, attr, "BPF_PROG_LOAD(XDP)")
    except XdpError as e:
        text = log.value.decode(errors="replace").strip()
        raise XdpError(e.errno, f"{e.strerror}; verifier log:\n{text}") from None


def link_create(prog_fd: int, ifindex: int, mode: str = "auto") -> int:
    """``BPF_LINK_CREATE`` the program on interface ``ifindex``; the link fd keeps it attached."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    attr = bpf_attr()
    attr.link_create.prog_fd = prog_fd
    attr.link_create.target_ifindex = ifindex
    attr.link_create.attach_type = BPF_XDP
    attr.link_create.flags = MODES[mode]
    try:
        return _bpf(BPF_LINK_CREATE, attr, f"BPF_LINK_CREATE(XDP, {mode} mode)")
    except XdpError as e:
        if e.errno == errno.EBUSY:
            raise XdpError(e.errno, f"{e.strerror}: another XDP program is attached to "
                                    f"interface {ifindex}") from None
        raise


class XdpProgram:
    """The redirect program attached to one interface, with its XSKMAP.

    ``with XdpProgram(ifindex, queues=1, mode="auto") as prog:`` then
    ``prog.add_socket(queue, xsk_fd)``. Closing detaches the program (by
    closing the link), then frees program and map.
    """

    def __init__(self, ifindex: int, queues: int = 1, mode: str = "auto") -> None:
        self.map_fd = self.prog_fd = self.link_fd = -1
        self.mode = mode
        try:
            self.map_fd = create_xskmap(max(queues, 1))
            self.prog_fd = load_program(redirect_program(self.map_fd))
            self.link_fd = link_create(self.prog_fd, ifindex, mode)
        except BaseException:
            self.close()
            raise

    def add_socket(self, queue: int, xsk_fd: int) -> None:
        """Send frames of RX queue ``queue`` to the AF_XDP socket ``xsk_fd``."""
        map_update(self.map_fd, queue, xsk_fd)

    def close(self) -> None:
        """Detach and free everything. Safe to call twice."""
        for name in ("link_fd", "prog_fd", "map_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def __enter__(self) -> "XdpProgram":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
