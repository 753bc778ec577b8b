"""uring.packet.abi.if_packet, if_xdp and bpf against the kernel's own definitions.

* the running kernel's BTF: every structure's size and field offsets, and
  every enum constant the kernel declares as an enum (bpf_cmd, xdp_action...);
* Debian's 6.1 headers compiled with gcc: the ``#define`` constants
  (socket options, flags), for the names those headers have;
* kernel-abi.md's tables for the few newer than 6.1 that are macros.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import subprocess

import pytest

import kernel_btf
from uring.abi import since
from uring.packet.abi import bpf, if_packet, if_xdp
from uring.abi._versioned import VersionedInt

MODULES = (if_packet, if_xdp, bpf)
HEADERS = ["/usr/include/linux/if_packet.h", "/usr/include/linux/if_xdp.h",
           "/usr/include/linux/bpf.h", "/usr/include/linux/if_link.h",
           "/usr/include/linux/if_ether.h", "/usr/include/linux/netlink.h"]
# Not kernel structs (anonymous in C, named here so Python can reach them).
NOT_IN_BTF = {"bpf_link_create_attr", "bpf_info_attr"}
PREFIX_ONLY = {"link_create", "info"}
# Macros newer than Debian's 6.1 headers: values from kernel-abi.md section 3.
NEWER_THAN_61 = {
    "PACKET_VNET_HDR_SZ": 24, "PACKET_FANOUT_FLAG_IGNORE_OUTGOING": 0x4000,
    "XDP_MAX_TX_SKB_BUDGET": 9, "XDP_USE_SG": 1 << 4, "XDP_UMEM_TX_SW_CSUM": 1 << 1,
    "XDP_UMEM_TX_METADATA_LEN": 1 << 2, "XDP_PKT_CONTD": 1, "XDP_TX_METADATA": 1 << 1,
}


def layout(cls, base: int = 0):
    """``(field, offset, size)`` of a ctypes struct/union, anonymous members flattened."""
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for entry in cls._fields_:
        name, ctype = entry[0], entry[1]
        offset = base + getattr(cls, name).offset
        if name in anonymous:
            yield from layout(ctype, offset)
        elif not name.startswith("_"):
            yield name, offset, ctypes.sizeof(ctype)


def constants():
    """Every constant of the three modules, by C name."""
    out = {}
    for mod in MODULES:
        for cls in mod.VERSIONED_CLASSES:
            out.update(cls.__members__)
        out.update((v.name, v) for v in vars(mod).values() if isinstance(v, VersionedInt))
    return out


@pytest.fixture(scope="module")
def btf():
    if not os.path.exists(kernel_btf.VMLINUX):
        pytest.skip("the running kernel has no BTF (/sys/kernel/btf/vmlinux)")
    return kernel_btf.load()


@pytest.mark.parametrize("cls", [c for m in MODULES for c in m.STRUCTS
                                 if c.__name__ not in NOT_IN_BTF], ids=lambda c: c.__name__)
def test_struct_matches_kernel_btf(btf, cls):
    assert btf.has_struct(cls.__name__), f"the kernel has no struct {cls.__name__}"
    size, fields = btf.struct_layout(cls.__name__)
    assert ctypes.sizeof(cls) == size
    kernel = {name: (off, sz) for name, off, sz in fields}
    for name, off, sz in layout(cls):
        if name in PREFIX_ONLY:
            # We declare only the leading members of these kernel structs.
            assert kernel[name][0] == off and kernel[name][1] >= sz, name
            continue
        assert kernel.get(name) == (off, sz), f"{cls.__name__}.{name}"


def test_named_bpf_attr_members_match_kernel_btf(btf):
    _, fields = btf.struct_layout("bpf_attr")
    # link_create and info are named structs in C: check them where they sit.
    assert ("link_create", 0) in [(n, o) for n, o, _ in fields]
    assert ("info", 0) in [(n, o) for n, o, _ in fields]
    assert [f[:2] for f in layout(bpf.bpf_link_create_attr)] == [
        ("prog_fd", 0), ("target_ifindex", 4), ("attach_type", 8), ("flags", 12)]


def test_enum_constants_match_kernel_btf(btf):
    kernel = {name: value for _, _, values in btf.enums() for name, value in values}
    checked = 0
    for name, value in constants().items():
        if name in kernel:
            assert int(value) == kernel[name], name
            checked += 1
    assert checked >= 40  # bpf_cmd, map/prog/attach types, xdp_action, IFLA_XDP_*, ...


def test_macro_constants_match_61_headers(tmp_path):
    if shutil.which("gcc") is None or not all(os.path.exists(h) for h in HEADERS):
        pytest.skip("needs gcc and the Linux uapi headers (linux-libc-dev)")
    text = ""
    for h in HEADERS:
        with open(h) as f:
            text += re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)
    consts = constants()
    present = [n for n in consts if re.search(rf"#define\s+{n}\b", text)]
    assert len(present) >= 50
    src = "#include <stdio.h>\n" + "".join(f"#include <{h[13:]}>\n" for h in HEADERS)
    src += "#include <sys/socket.h>\nint main(void) {\n"
    src += "".join(f'    printf("{n} %lld\\n", (long long)({n}));\n' for n in present)
    src += "    return 0;\n}\n"
    (tmp_path / "c.c").write_text(src)
    subprocess.run(["gcc", "-o", str(tmp_path / "c"), str(tmp_path / "c.c")], check=True)
    out = subprocess.run([str(tmp_path / "c")], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        name, value = line.split()
        assert int(value) & 0xFFFFFFFFFFFFFFFF == int(consts[name]) & 0xFFFFFFFFFFFFFFFF, name


def test_constants_newer_than_61_match_the_reference():
    consts = constants()
    for name, value in NEWER_THAN_61.items():
        assert consts[name] == value, name


def test_every_constant_and_struct_has_a_version():
    for name, value in constants().items():
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", since(value)), name
    for mod in MODULES:
        for cls in mod.STRUCTS:
            assert re.fullmatch(r"\d+\.\d+(\.\d+)?", since(cls)), cls.__name__


def test_bpf_insn_encoding():
    # r1 = map fd (ld_imm64, src_reg = BPF_PSEUDO_MAP_FD): dst in the low nibble.
    insn = bpf.bpf_insn(code=0x18, dst_reg=1, src_reg=bpf.BPF_PSEUDO_MAP_FD, imm=7)
    assert bytes(insn) == bpf.insn(0x18, 1, 1, 0, 7) == bytes.fromhex("1811000007000000")
    assert bpf.BPF_LD | bpf.BPF_DW | bpf.BPF_IMM == 0x18
    assert bpf.BPF_LDX | bpf.BPF_MEM | bpf.BPF_W == 0x61
    assert bpf.BPF_ALU64 | bpf.BPF_MOV | bpf.BPF_K == 0xB7
    assert bpf.BPF_JMP | bpf.BPF_CALL == 0x85 and bpf.BPF_JMP | bpf.BPF_EXIT == 0x95


def test_tpacket_align():
    assert [if_packet.tpacket_align(x) for x in (0, 1, 16, 17, 48)] == [0, 16, 16, 32, 48]


def test_sys_bpf_reports_the_kernels_refusal():
    # An unknown command: the kernel answers EINVAL before reading attr.
    attr = bpf.bpf_attr()
    with pytest.raises(OSError) as err:
        bpf.sys_bpf(9999, attr, ctypes.sizeof(attr))
    assert err.value.errno == errno.EINVAL and "bpf" in str(err.value)
