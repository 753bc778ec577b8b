"""uring.abi against the kernel's own definitions.

Three independent authorities, each where it applies:

* Debian's 6.1 ``<linux/io_uring.h>``, compiled with gcc: every struct, field
  and constant it defines (one C program for the whole module);
* tables copied from shared/reference/kernel-abi.md for what 6.1 lacks;
* the running kernel: its BTF (struct layouts and enum values of exactly this
  kernel), ``io_uring_setup`` and ``IORING_REGISTER_QUERY``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import shutil
import subprocess

import pytest

import uring.abi as abi
from uring import syscall
from uring.abi import io_uring as abi_mod
from uring.abi._versioned import VersionedFlag, VersionedInt, version_key

HEADER_61 = "/usr/include/linux/io_uring.h"
C_NAMES = {"kernel_timespec": "__kernel_timespec"}  # ours -> the kernel's struct name

# Structs of the 6.1 header, checked by compiling against it.
STRUCTS_61 = [
    "io_uring_sqe", "io_uring_cqe", "io_sqring_offsets", "io_cqring_offsets",
    "io_uring_params", "io_uring_files_update", "io_uring_rsrc_register",
    "io_uring_rsrc_update", "io_uring_rsrc_update2", "io_uring_probe_op", "io_uring_probe",
    "io_uring_restriction", "io_uring_buf", "io_uring_buf_ring", "io_uring_buf_reg",
    "io_uring_getevents_arg", "io_uring_sync_cancel_reg", "io_uring_file_index_range",
    "io_uring_recvmsg_out", "kernel_timespec",
]

# Fields whose 6.1 name differs (ours -> 6.1's).
RENAMED_IN_61 = {
    ("io_sqring_offsets", "user_addr"): "resv2",
    ("io_cqring_offsets", "user_addr"): "resv2",
    ("io_uring_getevents_arg", "min_wait_usec"): "pad",
    ("io_uring_buf_reg", "flags"): "pad",
}

# Fields of 6.1 structs added (or re-laid out) after 6.1: (offset, size) from kernel-abi.md §2.
NEW_FIELDS = {
    "io_uring_sqe": {
        "level": (16, 4), "optname": (20, 4),
        "waitid_flags": (28, 4), "futex_flags": (28, 4), "install_fd_flags": (28, 4),
        "nop_flags": (28, 4), "pipe_flags": (28, 4),
        "zcrx_ifq_idx": (44, 4), "optlen": (44, 4), "write_stream": (44, 1),
        "__pad4": (45, 3),  # not in the reference table; from the 6.18 BTF
        "attr_ptr": (48, 8), "attr_type_mask": (56, 8), "optval": (48, 8),
    },
    # 6.1: __u64 resv[3] at 16
    "io_uring_buf_reg": {"min_left": (16, 4), "resv": (20, 20)},
    # 6.1: __u64 pad[4] at 32
    "io_uring_sync_cancel_reg": {"opcode": (32, 1), "pad": (33, 7), "pad2": (40, 24)},
}

# Structs newer than 6.1: (sizeof, {field: (offset, size)}) from kernel-abi.md §2;
# io_uring_clock_register, io_uring_clone_buffers and io_uring_attr_pi are not
# tabulated there and were copied from the 6.18 BTF.
NEW_STRUCTS = {
    "io_uring_cqe32": (32, {"user_data": (0, 8), "res": (8, 4), "flags": (12, 4),
                            "big_cqe": (16, 16)}),
    "io_uring_region_desc": (64, {"user_addr": (0, 8), "size": (8, 8), "flags": (16, 4),
                                  "id": (20, 4), "mmap_offset": (24, 8), "__resv": (32, 32)}),
    "io_uring_mem_region_reg": (32, {"region_uptr": (0, 8), "flags": (8, 8),
                                     "__resv": (16, 16)}),
    "io_uring_clock_register": (16, {"clockid": (0, 4), "__resv": (4, 12)}),
    "io_uring_clone_buffers": (32, {"src_fd": (0, 4), "flags": (4, 4), "src_off": (8, 4),
                                    "dst_off": (12, 4), "nr": (16, 4), "pad": (20, 12)}),
    "io_uring_buf_status": (40, {"buf_group": (0, 4), "head": (4, 4), "resv": (8, 32)}),
    "io_uring_napi": (16, {"busy_poll_to": (0, 4), "prefer_busy_poll": (4, 1),
                           "opcode": (5, 1), "pad": (6, 2), "op_param": (8, 4),
                           "resv": (12, 4)}),
    "io_uring_reg_wait": (64, {"ts": (0, 16), "min_wait_usec": (16, 4), "flags": (20, 4),
                               "sigmask": (24, 8), "sigmask_sz": (32, 4), "pad": (36, 12),
                               "pad2": (48, 16)}),
    "io_uring_zcrx_rqe": (16, {"off": (0, 8), "len": (8, 4), "__pad": (12, 4)}),
    "io_uring_zcrx_cqe": (16, {"off": (0, 8), "__pad": (8, 8)}),
    "io_uring_zcrx_offsets": (32, {"head": (0, 4), "tail": (4, 4), "rqes": (8, 4),
                                   "__resv2": (12, 4), "__resv": (16, 16)}),
    "io_uring_zcrx_area_reg": (48, {"addr": (0, 8), "len": (8, 8), "rq_area_token": (16, 8),
                                    "flags": (24, 4), "dmabuf_fd": (28, 4),
                                    "__resv2": (32, 16)}),
    "io_uring_zcrx_ifq_reg": (96, {"if_idx": (0, 4), "if_rxq": (4, 4), "rq_entries": (8, 4),
                                   "flags": (12, 4), "area_ptr": (16, 8),
                                   "region_ptr": (24, 8), "offsets": (32, 32),
                                   "zcrx_id": (64, 4), "__resv2": (68, 4),
                                   "__resv": (72, 24)}),
    "io_uring_attr_pi": (32, {"flags": (0, 2), "app_tag": (2, 2), "len": (4, 4),
                              "addr": (8, 8), "seed": (16, 8), "rsvd": (24, 8)}),
    "io_uring_query_hdr": (40, {"next_entry": (0, 8), "query_data": (8, 8),
                                "query_op": (16, 4), "size": (20, 4), "result": (24, 4),
                                "__resv": (28, 12)}),
    "io_uring_query_opcode": (48, {"nr_request_opcodes": (0, 4),
                                   "nr_register_opcodes": (4, 4), "feature_flags": (8, 8),
                                   "ring_setup_flags": (16, 8), "enter_flags": (24, 8),
                                   "sqe_flags": (32, 8), "nr_query_opcodes": (40, 4),
                                   "__pad": (44, 4)}),
}

# Constants the 6.1 header lacks, with values from kernel-abi.md §3 (the napi
# enums are not in it and were copied from the 6.18 BTF).
NEW_CONSTANTS = {
    "IORING_OP_READ_MULTISHOT": 49, "IORING_OP_WAITID": 50, "IORING_OP_FUTEX_WAIT": 51,
    "IORING_OP_FUTEX_WAKE": 52, "IORING_OP_FUTEX_WAITV": 53,
    "IORING_OP_FIXED_FD_INSTALL": 54, "IORING_OP_FTRUNCATE": 55, "IORING_OP_BIND": 56,
    "IORING_OP_LISTEN": 57, "IORING_OP_RECV_ZC": 58, "IORING_OP_EPOLL_WAIT": 59,
    "IORING_OP_READV_FIXED": 60, "IORING_OP_WRITEV_FIXED": 61, "IORING_OP_PIPE": 62,
    "IORING_REGISTER_PBUF_STATUS": 26, "IORING_REGISTER_NAPI": 27,
    "IORING_UNREGISTER_NAPI": 28, "IORING_REGISTER_CLOCK": 29,
    "IORING_REGISTER_CLONE_BUFFERS": 30, "IORING_REGISTER_SEND_MSG_RING": 31,
    "IORING_REGISTER_ZCRX_IFQ": 32, "IORING_REGISTER_RESIZE_RINGS": 33,
    "IORING_REGISTER_MEM_REGION": 34, "IORING_REGISTER_QUERY": 35,
    "IORING_REGISTER_USE_REGISTERED_RING": 1 << 31,
    "IORING_REGISTER_SRC_REGISTERED": 1, "IORING_REGISTER_DST_REPLACE": 2,
    "IORING_SETUP_NO_MMAP": 1 << 14, "IORING_SETUP_REGISTERED_FD_ONLY": 1 << 15,
    "IORING_SETUP_NO_SQARRAY": 1 << 16, "IORING_SETUP_HYBRID_IOPOLL": 1 << 17,
    "IORING_SETUP_CQE_MIXED": 1 << 18,
    "IORING_FEAT_REG_REG_RING": 1 << 13, "IORING_FEAT_RECVSEND_BUNDLE": 1 << 14,
    "IORING_FEAT_MIN_TIMEOUT": 1 << 15, "IORING_FEAT_RW_ATTR": 1 << 16,
    "IORING_FEAT_NO_IOWAIT": 1 << 17,
    "IORING_ENTER_ABS_TIMER": 1 << 5, "IORING_ENTER_EXT_ARG_REG": 1 << 6,
    "IORING_ENTER_NO_IOWAIT": 1 << 7,
    "IORING_CQE_F_BUF_MORE": 1 << 4, "IORING_CQE_F_SKIP": 1 << 5, "IORING_CQE_F_32": 1 << 15,
    "IORING_CQE_F_TSTAMP_HW": 1 << 16,
    "IORING_TIMESTAMP_HW_SHIFT": 16, "IORING_TIMESTAMP_TYPE_SHIFT": 17,
    "IORING_OFF_PBUF_RING": 0x80000000, "IORING_OFF_PBUF_SHIFT": 16,
    "IORING_TIMEOUT_MULTISHOT": 1 << 6,
    "IORING_RECVSEND_BUNDLE": 1 << 4, "IORING_SEND_VECTORIZED": 1 << 5,
    "IORING_ACCEPT_DONTWAIT": 1 << 1, "IORING_ACCEPT_POLL_FIRST": 1 << 2,
    "IORING_MSG_RING_FLAGS_PASS": 1 << 1, "IORING_FIXED_FD_NO_CLOEXEC": 1,
    "IORING_NOP_INJECT_RESULT": 1 << 0, "IORING_NOP_FILE": 1 << 1,
    "IORING_NOP_FIXED_FILE": 1 << 2, "IORING_NOP_FIXED_BUFFER": 1 << 3,
    "IORING_NOP_TW": 1 << 4, "IORING_NOP_CQE32": 1 << 5,
    "IORING_URING_CMD_MASK": 1,
    "IOU_PBUF_RING_MMAP": 1, "IOU_PBUF_RING_INC": 2,
    "IORING_MEM_REGION_TYPE_USER": 1, "IORING_MEM_REGION_REG_WAIT_ARG": 1,
    "IORING_REG_WAIT_TS": 1, "IO_URING_QUERY_OPCODES": 0,
    "SOCKET_URING_OP_SIOCINQ": 0, "SOCKET_URING_OP_SIOCOUTQ": 1,
    "SOCKET_URING_OP_GETSOCKOPT": 2, "SOCKET_URING_OP_SETSOCKOPT": 3,
    "SOCKET_URING_OP_TX_TIMESTAMP": 4,
    "IORING_RW_ATTR_FLAG_PI": 1,
    "IORING_ZCRX_AREA_SHIFT": 48, "IORING_ZCRX_AREA_MASK": 0xFFFF000000000000,
    "IORING_ZCRX_AREA_DMABUF": 1,
    "IO_URING_NAPI_REGISTER_OP": 0, "IO_URING_NAPI_STATIC_ADD_ID": 1,
    "IO_URING_NAPI_STATIC_DEL_ID": 2, "IO_URING_NAPI_TRACKING_DYNAMIC": 0,
    "IO_URING_NAPI_TRACKING_STATIC": 1, "IO_URING_NAPI_TRACKING_INACTIVE": 255,
}

# In the 6.1.y header although upstream added them later (stable back-ports).
BACKPORTED_TO_61 = {"IORING_OFF_MMAP_MASK", "IORING_ASYNC_CANCEL_USERDATA",
                    "IORING_ASYNC_CANCEL_OP"}


def all_constants() -> dict[str, int]:
    """Every constant uring.abi defines, by kernel name."""
    names = {name: member for cls in abi.VERSIONED_CLASSES
             for name, member in cls.__members__.items()}
    names.update((v.name, v) for v in vars(abi_mod).values() if isinstance(v, VersionedInt))
    return names


def ctypes_layout(cls, base: int = 0):
    """``[(field, offset, size)]`` of a ctypes structure, anonymous members flattened."""
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for name, ctype in cls._fields_:
        offset = base + getattr(cls, name).offset
        if name in anonymous:
            yield from ctypes_layout(ctype, offset)
        else:
            yield name, offset, ctypes.sizeof(ctype)


def _fields_61(struct_name: str):
    new = NEW_FIELDS.get(struct_name, {})
    return [(name, RENAMED_IN_61.get((struct_name, name), name), off, size)
            for name, off, size in ctypes_layout(getattr(abi, struct_name)) if name not in new]


def header_61_code() -> str:
    with open(HEADER_61) as f:
        return re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)


def names_in_61_header() -> set[str]:
    code = header_61_code()
    return {name for name in all_constants() if re.search(rf"\b{name}\b", code)}


# ---------------------------------------------------------------------------
# The C program: sizeof/offsetof/values as the 6.1 header sees them
# ---------------------------------------------------------------------------

def _c_program(constants: list[str]) -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <linux/io_uring.h>",
             "int main(void) {"]
    for struct_name in STRUCTS_61:
        c_type = f"struct {C_NAMES.get(struct_name, struct_name)}"
        lines.append(f'printf("S {struct_name} %zu\\n", sizeof({c_type}));')
        for name, c_name, _off, size in _fields_61(struct_name):
            # Flexible arrays have no sizeof in C; their offset is what matters.
            c_size = f"sizeof((({c_type} *)0)->{c_name})" if size else "(size_t)0"
            lines.append(f'printf("F {struct_name} {name} %zu %zu\\n", '
                         f"offsetof({c_type}, {c_name}), {c_size});")
    for name in constants:
        lines.append(f'printf("C {name} %lld\\n", (long long)({name}));')
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def header_61(tmp_path_factory):
    """What gcc + Debian's 6.1 header say: sizes, field offsets/sizes and constant values."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found: the 6.1-header cross-check compiles a C program")
    if not os.path.exists(HEADER_61):
        pytest.skip(f"{HEADER_61} not found: install the kernel headers (linux-libc-dev)")
    constants = sorted(names_in_61_header())
    workdir = tmp_path_factory.mktemp("abi_layout")
    source, binary = workdir / "abi_layout.c", workdir / "abi_layout"
    source.write_text(_c_program(constants))
    build = subprocess.run([gcc, "-std=gnu11", "-Wall", "-Werror", "-o", str(binary),
                            str(source)], capture_output=True, text=True)
    if build.returncode:
        pytest.fail(f"{source} does not compile against the 6.1 header:\n{build.stderr}")
    out = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    sizes, fields, values = {}, {}, {}
    for line in out.splitlines():
        kind, *rest = line.split()
        if kind == "S":
            sizes[rest[0]] = int(rest[1])
        elif kind == "F":
            fields[rest[0], rest[1]] = (int(rest[2]), int(rest[3]))
        else:
            values[rest[0]] = int(rest[1])
    return sizes, fields, values


# ---------------------------------------------------------------------------
# Basic shape
# ---------------------------------------------------------------------------

def test_core_sizes():
    assert ctypes.sizeof(abi.io_uring_params) == 120
    assert ctypes.sizeof(abi.io_uring_sqe) == 64
    assert ctypes.sizeof(abi.io_uring_cqe) == 16
    assert ctypes.sizeof(abi.io_uring_cqe32) == 32


def test_opcodes_are_0_to_62_without_gaps():
    assert sorted(int(op) for op in abi.IoringOp) == list(range(63))
    assert len(abi.IoringOp.__members__) == 63


def test_register_opcodes_are_0_to_35_without_gaps():
    assert sorted(int(op) for op in abi.IoringRegisterOp) == list(range(36))
    assert abi.IORING_REGISTER_USE_REGISTERED_RING not in set(abi.IoringRegisterOp)


def test_every_since_is_a_version_between_5_1_and_6_18():
    versions = {name: c.since for name, c in all_constants().items()}
    versions.update((s.__name__, s._since_) for s in abi.STRUCTS if hasattr(s, "_since_"))
    for name, version in versions.items():
        assert re.fullmatch(r"[1-9]\d*\.\d+", version), (name, version)
        assert (5, 1) <= version_key(version) <= (6, 18), (name, version)


def test_every_struct_but_the_generic_timespec_has_a_since():
    assert [s.__name__ for s in abi.STRUCTS if not hasattr(s, "_since_")] == [
        "kernel_timespec"]


def test_no_member_is_an_alias():
    # An IntEnum member with a duplicate value silently becomes an alias of the
    # first one, and would then report the other constant's name and version.
    for cls in abi.VERSIONED_CLASSES:
        for name, member in cls.__members__.items():
            assert member.name == name, (cls.__name__, name, member.name)


def test_members_are_exported_under_their_kernel_names():
    exported = set(abi.__all__)
    for name, constant in all_constants().items():
        assert getattr(abi, name) is constant
        assert name in exported
    for name in abi.__all__:
        assert hasattr(abi, name), name
    assert "since" in exported


def test_since_lookups():
    assert abi.since("IORING_OP_SEND_ZC") == "6.0"
    assert abi.since(abi.IORING_RECVSEND_BUNDLE) == "6.10"
    assert abi.since(abi.IORING_OFF_PBUF_SHIFT) == "6.4"
    assert abi.since(abi.io_uring_zcrx_ifq_reg) == "6.15"
    assert abi.since(abi.io_uring_buf_reg()) == "5.19"
    # A combination needs the newest of its flags; unknown bits have no answer.
    assert abi.since(abi.IOSQE_IO_LINK | abi.IOSQE_CQE_SKIP_SUCCESS) == "5.17"
    assert abi.IoringSetup(1 << 30).since is None
    assert abi.IoringSetup(0).since is None
    with pytest.raises(KeyError):
        abi.since("IORING_OP_NOP128")  # 6.19: deliberately absent
    with pytest.raises(ValueError):
        abi.since(abi.kernel_timespec)
    with pytest.raises(ValueError):
        abi.since(42)


def test_members_still_behave_as_ints():
    assert abi.IORING_OP_RECV == 27 and f"{abi.IORING_OP_RECV}" == "27"
    assert abi.IOSQE_BUFFER_SELECT | abi.IOSQE_ASYNC == 0x30
    assert str(abi.IORING_FILE_INDEX_ALLOC) == "4294967295"
    assert repr(abi.IORING_FILE_INDEX_ALLOC) == "<IORING_FILE_INDEX_ALLOC: 4294967295>"
    sqe = abi.io_uring_sqe(opcode=abi.IORING_OP_RECV, flags=abi.IOSQE_BUFFER_SELECT,
                           file_index=abi.IORING_FILE_INDEX_ALLOC)
    assert (sqe.opcode, sqe.flags, sqe.file_index) == (27, 0x20, 0xFFFFFFFF)


def test_sqe_unions_alias_the_same_bytes():
    sqe = abi.io_uring_sqe()
    sqe.buf_group = 7
    sqe.file_index = 0x00010002
    sqe.addr = 0x1122334455667788
    assert sqe.buf_index == 7
    assert (sqe.addr_len, sqe.__pad3[0], sqe.write_stream) == (2, 1, 2)
    assert (sqe.level, sqe.optname) == (0x55667788, 0x11223344)


def test_buf_ring_tail_overlays_the_first_buffers_resv():
    assert abi.io_uring_buf_ring.tail.offset == abi.io_uring_buf.resv.offset == 14
    assert abi.io_uring_buf_ring.bufs.offset == 0
    assert ctypes.sizeof(abi.io_uring_buf_ring) == ctypes.sizeof(abi.io_uring_buf)


def test_probe_buffer_has_room_for_n_ops():
    probe = abi.probe_buffer(64)
    assert ctypes.sizeof(probe) == 16 + 64 * 8
    assert type(probe).ops.offset == abi.io_uring_probe.ops.offset == 16
    assert type(abi.probe_buffer(64)) is type(probe)
    for bad in (0, 257):
        with pytest.raises(ValueError):
            abi.probe_buffer(bad)


# ---------------------------------------------------------------------------
# Against Debian's 6.1 header (gcc)
# ---------------------------------------------------------------------------

def test_struct_list_matches_the_61_header():
    if not os.path.exists(HEADER_61):
        pytest.skip(f"{HEADER_61} not found: install the kernel headers (linux-libc-dev)")
    declared = set(re.findall(r"^struct (\w+) \{", header_61_code(), flags=re.M))
    # 6.1-rc leftovers that never shipped in a release: not part of the ABI.
    declared -= {"io_uring_notification_slot", "io_uring_notification_register"}
    ours = {C_NAMES.get(s.__name__, s.__name__) for s in abi.STRUCTS} - {"__kernel_timespec"}
    assert declared <= ours
    assert {C_NAMES.get(s, s) for s in STRUCTS_61} - {"__kernel_timespec"} == declared


@pytest.mark.parametrize("struct_name", STRUCTS_61)
def test_struct_matches_61_header(header_61, struct_name):
    sizes, fields, _ = header_61
    assert ctypes.sizeof(getattr(abi, struct_name)) == sizes[struct_name]
    for name, _c_name, offset, size in _fields_61(struct_name):
        assert (offset, size) == fields[struct_name, name], (struct_name, name)


def test_constants_match_61_header(header_61):
    _, _, values = header_61
    constants = all_constants()
    assert len(values) > 150
    for name, value in values.items():
        assert int(constants[name]) == value, name


def test_since_agrees_with_the_61_header():
    if not os.path.exists(HEADER_61):
        pytest.skip(f"{HEADER_61} not found: install the kernel headers (linux-libc-dev)")
    in_61 = names_in_61_header()
    for name, constant in all_constants().items():
        old = version_key(constant.since) <= (6, 1)
        assert old == (name in in_61) or name in BACKPORTED_TO_61, (name, constant.since)


# ---------------------------------------------------------------------------
# Against the reference tables (what the 6.1 header lacks)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("struct_name", sorted(NEW_FIELDS))
def test_new_fields_match_reference(struct_name):
    layout = {name: (off, size) for name, off, size in
              ctypes_layout(getattr(abi, struct_name))}
    for name, expected in NEW_FIELDS[struct_name].items():
        assert layout[name] == expected, (struct_name, name)


@pytest.mark.parametrize("struct_name", sorted(NEW_STRUCTS))
def test_new_struct_matches_reference(struct_name):
    size, expected = NEW_STRUCTS[struct_name]
    cls = getattr(abi, struct_name)
    assert ctypes.sizeof(cls) == size
    assert {name: (off, sz) for name, off, sz in ctypes_layout(cls)} == expected


def test_every_struct_is_checked_somewhere():
    assert {s.__name__ for s in abi.STRUCTS} == set(STRUCTS_61) | set(NEW_STRUCTS)


def test_new_constants_match_reference():
    constants = all_constants()
    for name, value in NEW_CONSTANTS.items():
        assert int(constants[name]) == value, name


def test_every_constant_is_checked_somewhere():
    if not os.path.exists(HEADER_61):
        pytest.skip(f"{HEADER_61} not found: install the kernel headers (linux-libc-dev)")
    unchecked = set(all_constants()) - names_in_61_header() - set(NEW_CONSTANTS)
    assert not unchecked


# ---------------------------------------------------------------------------
# Against the running kernel's BTF
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def btf():
    import kernel_btf
    try:
        return kernel_btf.load()
    except FileNotFoundError:
        pytest.skip(f"{kernel_btf.VMLINUX} not found: kernel built without CONFIG_DEBUG_INFO_BTF")
    except PermissionError:
        pytest.skip(f"{kernel_btf.VMLINUX} not readable by this user")


def _kernel_is_6_18() -> bool:
    return _kernel_version() == (6, 18)


# io_uring_cqe32 is ours; io_uring_files_update is in the uapi header but unused by
# the kernel, so its BTF does not describe it (the 6.1 header check covers it).
BTF_STRUCTS = sorted(s.__name__ for s in abi.STRUCTS
                     if s.__name__ not in ("io_uring_cqe32", "io_uring_files_update"))


@pytest.mark.parametrize("struct_name", BTF_STRUCTS)
def test_struct_matches_running_kernel_btf(btf, struct_name):
    c_name = C_NAMES.get(struct_name, struct_name)
    if not btf.has_struct(c_name):
        assert not _kernel_is_6_18(), f"6.18 BTF describes every struct here, not {c_name}"
        pytest.skip(f"struct {c_name} is not in this kernel's BTF ({platform.release()})")
    size, fields = btf.struct_layout(c_name)
    cls = getattr(abi, struct_name)
    ours = {name: (off, sz) for name, off, sz in ctypes_layout(cls)}
    kernel = {name: (off, sz) for name, off, sz in fields}
    if _kernel_is_6_18():
        assert ctypes.sizeof(cls) == size
        assert ours == kernel
    else:  # fields both know must agree wherever they exist
        assert {n: kernel[n] for n in ours.keys() & kernel.keys()} == {
            n: ours[n] for n in ours.keys() & kernel.keys()}


def test_constants_match_running_kernel_btf(btf):
    constants = all_constants()
    seen = set()
    for enum_name, size, values in btf.enums():
        names = {name for name, _ in values}
        if not names & constants.keys():
            continue
        mask = (1 << (8 * size)) - 1
        for name, value in values:
            if name in constants:
                seen.add(name)
                assert int(constants[name]) & mask == value & mask, (enum_name, name)
            elif _kernel_is_6_18():
                # Every enumerator of a uapi enum is ours, except the *_LAST counters.
                assert name.endswith("_LAST") or name.startswith("__"), (enum_name, name)
    assert {"IORING_OP_PIPE", "IORING_REGISTER_QUERY", "IOSQE_CQE_SKIP_SUCCESS_BIT"} <= seen


# ---------------------------------------------------------------------------
# Against the running kernel: io_uring_setup and IORING_REGISTER_QUERY
# ---------------------------------------------------------------------------

def _kernel_version() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int(minor)


def _setup_params() -> abi.io_uring_params:
    params = abi.io_uring_params()
    try:
        fd = syscall.io_uring_setup(8, params)
    except syscall.Unavailable as exc:
        pytest.skip(f"io_uring unavailable: {exc}")
    os.close(fd)
    return params


def test_setup_reports_exactly_the_features_we_know():
    features, known = _setup_params().features, sum(abi.IoringFeat)
    if _kernel_version() == (6, 18):
        assert features == known == 0x3FFFF
    elif _kernel_version() < (6, 18):
        assert features & ~known == 0
    else:
        assert features & known == known


def test_setup_offsets_are_the_kernels_io_rings_layout(btf):
    params = _setup_params()
    # The ring offsets the kernel reports are fields of its internal struct io_rings.
    _, rings = btf.struct_layout("io_rings")
    at = {name: off for name, off, _ in rings}
    sq, cq = params.sq_off, params.cq_off
    assert (sq.head, sq.tail, cq.head, cq.tail) == (at["sq"], at["sq"] + 4, at["cq"], at["cq"] + 4)
    assert (sq.ring_mask, sq.ring_entries, sq.flags, sq.dropped) == (
        at["sq_ring_mask"], at["sq_ring_entries"], at["sq_flags"], at["sq_dropped"])
    assert (cq.ring_mask, cq.ring_entries, cq.overflow, cq.cqes, cq.flags) == (
        at["cq_ring_mask"], at["cq_ring_entries"], at["cq_overflow"], at["cqes"], at["cq_flags"])
    # The SQ index array follows the CQE array.
    assert sq.array >= cq.cqes + params.cq_entries * ctypes.sizeof(abi.io_uring_cqe)


def _register_query(hdr) -> None:
    # Called through libc directly with every argument typed: uring.syscall (at the
    # time of writing) hands pointers to the variadic syscall() as C ints.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    ret = libc.syscall(ctypes.c_long(syscall.SYS_io_uring_register), ctypes.c_int(-1),
                       ctypes.c_uint(abi.IORING_REGISTER_QUERY), ctypes.byref(hdr),
                       ctypes.c_uint(0))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def test_register_query_agrees_with_our_enums():
    result = abi.io_uring_query_opcode()
    hdr = abi.io_uring_query_hdr(query_data=ctypes.addressof(result),
                                 query_op=abi.IO_URING_QUERY_OPCODES,
                                 size=ctypes.sizeof(result))
    try:
        _register_query(hdr)
    except OSError as exc:
        pytest.skip(f"IORING_REGISTER_QUERY (6.18) refused on {platform.release()}: {exc}")
    assert hdr.result == 0
    ours = {
        "nr_request_opcodes": len(abi.IoringOp),
        "nr_register_opcodes": len(abi.IoringRegisterOp),
        "feature_flags": sum(abi.IoringFeat),
        "ring_setup_flags": sum(abi.IoringSetup),
        "enter_flags": sum(abi.IoringEnter),
        "sqe_flags": sum(abi.IosqeFlags),
        "nr_query_opcodes": len(abi.IoUringQueryOp),
    }
    kernel = {name: getattr(result, name) for name in ours}
    if _kernel_is_6_18():
        assert kernel == ours
    else:  # a newer kernel knows at least as much
        for name, value in ours.items():
            assert kernel[name] >= value, name


def test_flag_classes_are_flags():
    for cls in abi.VERSIONED_CLASSES:
        if issubclass(cls, VersionedFlag):
            assert all(int(m) > 0 for m in cls), cls.__name__
