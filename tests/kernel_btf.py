"""A small reader for the running kernel's BTF (``/sys/kernel/btf/vmlinux``).

BTF is the kernel's own description of its types, built from the same headers
it was compiled with, so it is the authority on struct layouts and enum values
of *this* kernel: no headers or bpftool needed. Only what the ABI tests need is
decoded (struct/union members and enumerators); the format is documented in
Documentation/bpf/btf.rst.
"""

from __future__ import annotations

import struct

VMLINUX = "/sys/kernel/btf/vmlinux"

_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
_VOLATILE, _CONST, _RESTRICT, _FUNC, _FUNC_PROTO, _VAR, _DATASEC = 9, 10, 11, 12, 13, 14, 15
_FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = 16, 17, 18, 19
_QUALIFIERS = (_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG)


class Btf:
    """The decoded types of one BTF blob."""

    def __init__(self, data: bytes):
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, _str_len = (
            struct.unpack_from("<HBBIIIII", data))
        if magic != 0xEB9F:
            raise ValueError("not a little-endian BTF blob")
        strings = hdr_len + str_off

        def name(off: int) -> str:
            return data[strings + off:data.index(b"\0", strings + off)].decode()

        self.types: list[dict] = [{"kind": 0, "name": "void"}]  # type id 0 is void
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        while pos < end:
            name_off, info, size_or_type = struct.unpack_from("<III", data, pos)
            pos += 12
            vlen, kind, kflag = info & 0xFFFF, (info >> 24) & 0x1F, info >> 31
            t = {"kind": kind, "name": name(name_off), "size": size_or_type,
                 "type": size_or_type}
            if kind == _INT or kind in (_VAR, _DECL_TAG):
                pos += 4
            elif kind == _ARRAY:
                t["elem"], _index_type, t["nelems"] = struct.unpack_from("<III", data, pos)
                pos += 12
            elif kind in (_STRUCT, _UNION):
                members = []
                for _ in range(vlen):
                    m_name, m_type, m_off = struct.unpack_from("<III", data, pos)
                    pos += 12
                    if kflag:  # bitfield size in the top byte
                        m_off &= 0xFFFFFF
                    members.append((name(m_name), m_type, m_off // 8))
                t["members"] = members
            elif kind == _ENUM:
                t["values"] = [(name(n), v) for n, v in
                               (struct.unpack_from("<Ii", data, pos + 8 * i) for i in range(vlen))]
                pos += 8 * vlen
            elif kind == _ENUM64:
                t["values"] = [(name(n), lo | hi << 32) for n, lo, hi in
                               (struct.unpack_from("<III", data, pos + 12 * i)
                                for i in range(vlen))]
                pos += 12 * vlen
            elif kind == _FUNC_PROTO:
                pos += 8 * vlen
            elif kind == _DATASEC:
                pos += 12 * vlen
            self.types.append(t)
        self._structs = {t["name"]: i for i, t in enumerate(self.types)
                         if t["kind"] in (_STRUCT, _UNION) and t["name"]}

    def _resolve(self, type_id: int) -> int:
        while self.types[type_id]["kind"] in _QUALIFIERS:
            type_id = self.types[type_id]["type"]
        return type_id

    def sizeof(self, type_id: int) -> int:
        """Size in bytes of a type (arrays multiplied out, qualifiers looked through)."""
        t = self.types[self._resolve(type_id)]
        if t["kind"] == _ARRAY:
            return self.sizeof(t["elem"]) * t["nelems"]
        if t["kind"] == _PTR:
            return 8
        return t["size"]

    def has_struct(self, name: str) -> bool:
        """Whether the kernel's BTF describes ``struct name`` (or ``union name``)."""
        return name in self._structs

    def struct_layout(self, name: str) -> tuple[int, list[tuple[str, int, int]]]:
        """``(sizeof, [(field, offset, size), ...])`` with anonymous members flattened.

        Zero-sized anonymous-struct placeholders (``__DECLARE_FLEX_ARRAY``'s
        ``__empty_*``) are dropped: they are a C workaround, not a field.
        """
        type_id = self._structs[name]
        return self.types[type_id]["size"], list(self._fields(type_id, 0))

    def _fields(self, type_id: int, base: int):
        for m_name, m_type, m_off in self.types[type_id]["members"]:
            target = self._resolve(m_type)
            kind = self.types[target]["kind"]
            if kind in (_STRUCT, _UNION) and not m_name:
                yield from self._fields(target, base + m_off)
            elif kind in (_STRUCT, _UNION) and self.types[target]["size"] == 0:
                continue
            else:
                yield m_name, base + m_off, self.sizeof(m_type)

    def enums(self) -> list[tuple[str, int, list[tuple[str, int]]]]:
        """Every enum as ``(name or "", size in bytes, [(enumerator, value), ...])``."""
        return [(t["name"], t["size"], t["values"]) for t in self.types
                if t["kind"] in (_ENUM, _ENUM64)]


def load(path: str = VMLINUX) -> Btf:
    """Read and decode a BTF file (by default the running kernel's)."""
    with open(path, "rb") as f:
        return Btf(f.read())
