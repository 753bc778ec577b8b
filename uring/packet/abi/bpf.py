"""The parts of ``<linux/bpf.h>`` (and ``<linux/if_link.h>``) that AF_XDP needs without libbpf.

To receive on an AF_XDP socket, an XDP program must redirect frames to it
through an ``XSKMAP``. Creating the map, loading the program and attaching it
are three ``bpf(2)`` commands, each reading its arguments from ``union
bpf_attr``. Only the members those commands use are declared; the union is
padded to its 6.18 size (168 bytes) and always passed whole and zeroed, so
every kernel sees zeros in whatever it knows beyond what we set.
"""

from __future__ import annotations

import ctypes
import platform
import struct

from ...abi._versioned import VersionedEnum, VersionedFlag, VersionedInt
from ...syscall import address_of, checked_syscall

u8, u32, u64, s16, s32 = (ctypes.c_uint8, ctypes.c_uint32, ctypes.c_uint64,
                          ctypes.c_int16, ctypes.c_int32)

__all__ = [
    "bpf_insn", "bpf_attr", "bpf_link_create_attr", "bpf_info_attr", "BPF_ATTR_SIZE",
    "BpfCmd", "BpfMapType", "BpfProgType", "BpfAttachType", "BpfLinkType", "BpfFunc",
    "BpfElemFlag", "BpfPseudo", "XdpAction", "XdpFlags", "IflaXdp", "XdpAttached",
    "BpfClass", "BpfSize", "BpfMode", "BpfSrc", "BpfAluOp", "BpfJmpOp",
    "BPF_OBJ_NAME_LEN", "BPF_F_XDP_HAS_FRAGS", "IFLA_XDP", "NLA_F_NESTED", "insn",
    "SYS_bpf", "sys_bpf",
]

# Unlike io_uring's, bpf's number predates the unified (asm-generic) table,
# so it differs between architectures.
SYS_bpf = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "loongarch64": 280}.get(
    platform.machine(), 321)
_bpf = checked_syscall("bpf", SYS_bpf, 3)


def sys_bpf(cmd: int, attr, size: int) -> int:
    """``bpf(2)`` (Linux 3.18): run ``cmd`` (a :class:`BpfCmd`) on ``attr``; return its result.

    ``attr`` is a ``bpf_attr`` (a ctypes object or an address) of ``size``
    bytes. Failures raise the ``OSError`` subclass for the errno. libbpf's
    ``sys_bpf`` does the same.
    """
    return _bpf(cmd, address_of(attr), size)

BPF_OBJ_NAME_LEN = VersionedInt(16, "4.15", "BPF_OBJ_NAME_LEN")


class bpf_insn(ctypes.Structure):
    """One eBPF instruction (3.18): 8 bytes; ``ld_imm64`` takes two slots.

    ``dst_reg`` is the low nibble of byte 1 and ``src_reg`` the high nibble
    (little-endian bitfields).
    """

    _since_ = "3.18"
    _fields_ = [("code", u8), ("dst_reg", u8, 4), ("src_reg", u8, 4), ("off", s16),
                ("imm", s32)]


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """Encode one ``struct bpf_insn`` as its 8 bytes (what ``BPF_PROG_LOAD`` reads)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


class _map_create(ctypes.Structure):
    _fields_ = [("map_type", u32), ("key_size", u32), ("value_size", u32),
                ("max_entries", u32), ("map_flags", u32), ("inner_map_fd", u32),
                ("numa_node", u32), ("map_name", ctypes.c_char * 16), ("map_ifindex", u32)]


class _map_elem(ctypes.Structure):
    _fields_ = [("map_fd", u32), ("_pad0", u32), ("key", u64), ("value", u64),
                ("flags", u64)]


class _prog_load(ctypes.Structure):
    _fields_ = [("prog_type", u32), ("insn_cnt", u32), ("insns", u64), ("license", u64),
                ("log_level", u32), ("log_size", u32), ("log_buf", u64),
                ("kern_version", u32), ("prog_flags", u32),
                ("prog_name", ctypes.c_char * 16), ("prog_ifindex", u32),
                ("expected_attach_type", u32)]


class bpf_link_create_attr(ctypes.Structure):
    """``bpf_attr.link_create`` (5.7; XDP links 5.9): program, target and attach type.

    ``target_ifindex`` shares its slot with ``target_fd``; ``flags`` takes
    ``XDP_FLAGS_SKB_MODE``/``DRV_MODE`` for XDP.
    """

    _since_ = "5.7"
    _fields_ = [("prog_fd", u32), ("target_ifindex", u32), ("attach_type", u32),
                ("flags", u32)]


class bpf_info_attr(ctypes.Structure):
    """``bpf_attr.info`` (4.13): ``BPF_OBJ_GET_INFO_BY_FD`` arguments."""

    _since_ = "4.13"
    _fields_ = [("bpf_fd", u32), ("info_len", u32), ("info", u64)]


BPF_ATTR_SIZE = 168  # sizeof(union bpf_attr) on 6.18 (144 in 6.1)


class bpf_attr(ctypes.Union):
    """``union bpf_attr`` (3.18): the argument block of every ``bpf(2)`` command.

    As in C, the members of ``BPF_MAP_CREATE`` (``map_type``, ...), of the
    ``*_ELEM`` commands (``map_fd``, ``key``, ``value``, ``flags``) and of
    ``BPF_PROG_LOAD`` (``prog_type``, ``insns``, ...) are reached directly;
    ``link_create`` and ``info`` are named. Pointers are ``u64`` addresses.
    """

    _since_ = "3.18"
    _anonymous_ = ("_create", "_elem", "_load")
    _fields_ = [("_create", _map_create), ("_elem", _map_elem), ("_load", _prog_load),
                ("link_create", bpf_link_create_attr), ("info", bpf_info_attr),
                ("_size", u8 * BPF_ATTR_SIZE)]


class BpfCmd(VersionedEnum):
    """``enum bpf_cmd``: the first argument of ``bpf(2)``."""

    BPF_MAP_CREATE = 0, "3.18"
    BPF_MAP_LOOKUP_ELEM = 1, "3.18"
    BPF_MAP_UPDATE_ELEM = 2, "3.18"
    BPF_MAP_DELETE_ELEM = 3, "3.18"
    BPF_MAP_GET_NEXT_KEY = 4, "3.18"
    BPF_PROG_LOAD = 5, "3.18"
    BPF_OBJ_PIN = 6, "4.4"
    BPF_OBJ_GET = 7, "4.4"
    BPF_PROG_ATTACH = 8, "4.10"
    BPF_PROG_DETACH = 9, "4.10"
    BPF_PROG_TEST_RUN = 10, "4.12"
    BPF_OBJ_GET_INFO_BY_FD = 15, "4.13"
    BPF_LINK_CREATE = 28, "5.7"
    BPF_LINK_UPDATE = 29, "5.7"
    BPF_LINK_DETACH = 34, "5.9"


class BpfMapType(VersionedEnum):
    """``enum bpf_map_type`` (the ones an XDP program redirects through)."""

    BPF_MAP_TYPE_ARRAY = 2, "3.19"
    BPF_MAP_TYPE_DEVMAP = 14, "4.14"
    BPF_MAP_TYPE_CPUMAP = 16, "4.15"
    # key: u32 queue id, value: u32 AF_XDP socket fd.
    BPF_MAP_TYPE_XSKMAP = 17, "4.18"


class BpfProgType(VersionedEnum):
    """``enum bpf_prog_type`` (only XDP here)."""

    BPF_PROG_TYPE_XDP = 6, "4.8"


class BpfAttachType(VersionedEnum):
    """``enum bpf_attach_type`` (only XDP here)."""

    BPF_XDP = 37, "5.9"


class BpfLinkType(VersionedEnum):
    """``enum bpf_link_type`` (only XDP here)."""

    BPF_LINK_TYPE_XDP = 6, "5.9"


class BpfFunc(VersionedEnum):
    """Helper function ids for ``BPF_CALL`` (``enum bpf_func_id``)."""

    BPF_FUNC_map_lookup_elem = 1, "3.18"
    BPF_FUNC_redirect = 23, "4.4"
    # The low bits of its flags argument are the action to return when the
    # map slot is empty (5.3); older kernels return XDP_ABORTED instead.
    BPF_FUNC_redirect_map = 51, "4.14"


class BpfElemFlag(VersionedEnum):
    """``flags`` of ``BPF_MAP_UPDATE_ELEM``."""

    BPF_ANY = 0, "3.18"
    BPF_NOEXIST = 1, "3.18"
    BPF_EXIST = 2, "3.18"


class BpfPseudo(VersionedEnum):
    """``src_reg`` values of ``ld_imm64`` that make ``imm`` a map reference."""

    BPF_PSEUDO_MAP_FD = 1, "3.18"
    BPF_PSEUDO_MAP_VALUE = 2, "5.5"


BPF_F_XDP_HAS_FRAGS = VersionedInt(1 << 5, "5.18", "BPF_F_XDP_HAS_FRAGS")


class XdpAction(VersionedEnum):
    """``enum xdp_action``: what an XDP program returns."""

    XDP_ABORTED = 0, "4.8"
    XDP_DROP = 1, "4.8"
    XDP_PASS = 2, "4.8"
    XDP_TX = 3, "4.8"
    XDP_REDIRECT = 4, "4.14"


class XdpFlags(VersionedFlag):
    """``XDP_FLAGS_*`` (``<linux/if_link.h>``): attach mode, also in ``link_create.flags``."""

    XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0, "4.11"
    XDP_FLAGS_SKB_MODE = 1 << 1, "4.12"  # generic XDP: any device, after the skb exists
    XDP_FLAGS_DRV_MODE = 1 << 2, "4.12"  # native XDP: in the driver's receive path
    XDP_FLAGS_HW_MODE = 1 << 3, "4.13"
    XDP_FLAGS_REPLACE = 1 << 4, "5.7"


IFLA_XDP = VersionedInt(43, "4.8", "IFLA_XDP")
NLA_F_NESTED = VersionedInt(1 << 15, "2.6.24", "NLA_F_NESTED")  # approx.


class IflaXdp(VersionedEnum):
    """Attributes nested in ``IFLA_XDP`` (rtnetlink attach, the alternative to links)."""

    IFLA_XDP_FD = 1, "4.8"
    IFLA_XDP_ATTACHED = 2, "4.8"
    IFLA_XDP_FLAGS = 3, "4.12"
    IFLA_XDP_PROG_ID = 4, "4.13"
    IFLA_XDP_EXPECTED_FD = 8, "5.7"


class XdpAttached(VersionedEnum):
    """``IFLA_XDP_ATTACHED`` values: where a program runs."""

    XDP_ATTACHED_NONE = 0, "4.13"
    XDP_ATTACHED_DRV = 1, "4.13"
    XDP_ATTACHED_SKB = 2, "4.13"
    XDP_ATTACHED_HW = 3, "4.13"
    XDP_ATTACHED_MULTI = 4, "4.19"


# Instruction encoding: code = class | size | mode (loads) or class | op | source.
class BpfClass(VersionedEnum):
    """Instruction classes (low 3 bits of ``code``)."""

    BPF_LD = 0x00, "3.18"
    BPF_LDX = 0x01, "3.18"
    BPF_ST = 0x02, "3.18"
    BPF_STX = 0x03, "3.18"
    BPF_ALU = 0x04, "3.18"
    BPF_JMP = 0x05, "3.18"
    BPF_JMP32 = 0x06, "5.1"
    BPF_ALU64 = 0x07, "3.18"


class BpfSize(VersionedEnum):
    """Load/store sizes (bits 3-4 of ``code``)."""

    BPF_W = 0x00, "3.18"
    BPF_H = 0x08, "3.18"
    BPF_B = 0x10, "3.18"
    BPF_DW = 0x18, "3.18"


class BpfMode(VersionedEnum):
    """Load/store modes (bits 5-7 of ``code``)."""

    BPF_IMM = 0x00, "3.18"
    BPF_ABS = 0x20, "3.18"
    BPF_IND = 0x40, "3.18"
    BPF_MEM = 0x60, "3.18"


class BpfSrc(VersionedEnum):
    """Operand source of ALU/JMP instructions (bit 3 of ``code``)."""

    BPF_K = 0x00, "3.18"
    BPF_X = 0x08, "3.18"


class BpfAluOp(VersionedEnum):
    """ALU operations (bits 4-7 of ``code``), the ones used here."""

    BPF_ADD = 0x00, "3.18"
    BPF_MOV = 0xB0, "3.18"


class BpfJmpOp(VersionedEnum):
    """Jump operations (bits 4-7 of ``code``), the ones used here."""

    BPF_JA = 0x00, "3.18"
    BPF_CALL = 0x80, "3.18"
    BPF_EXIT = 0x90, "3.18"


VERSIONED_CLASSES = (BpfCmd, BpfMapType, BpfProgType, BpfAttachType, BpfLinkType, BpfFunc,
                     BpfElemFlag, BpfPseudo, XdpAction, XdpFlags, IflaXdp, XdpAttached,
                     BpfClass, BpfSize, BpfMode, BpfSrc, BpfAluOp, BpfJmpOp)
STRUCTS = (bpf_insn, bpf_attr, bpf_link_create_attr, bpf_info_attr)

# Every member also under its C name, as <linux/bpf.h> spells it.
for _cls in VERSIONED_CLASSES:
    globals().update(_cls.__members__)
    __all__ += list(_cls.__members__)
del _cls
