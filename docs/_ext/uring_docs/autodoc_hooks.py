"""Autodoc hooks: tables appended to kernel enums and structs, noise left out.

Each kernel enum gets a table of its members (value, release that added
it), each kernel structure its byte layout; members those tables list, ctypes
field descriptors, builtin docstrings of plain constants and private base
classes are left out of the pages.
"""

from __future__ import annotations

import ctypes
import enum
import inspect

from .api_pages import _private_uring_class

__all__ = ["add_tables", "drop_builtin_docstrings", "skip_members", "drop_private_bases"]


_CTYPE_NAMES = {"c_ubyte": "u8", "c_byte": "s8", "c_ushort": "u16", "c_short": "s16",
                "c_uint": "u32", "c_int": "s32", "c_ulong": "u64", "c_long": "s64",
                "c_ulonglong": "u64", "c_longlong": "s64", "c_char": "char",
                "c_void_p": "void *", "c_char_p": "char *"}


def _ctype_name(ctype) -> str:
    if hasattr(ctype, "_length_") and hasattr(ctype, "_type_"):
        return f"{_ctype_name(ctype._type_)}[{ctype._length_}]"
    name = ctype.__name__
    return _CTYPE_NAMES.get(name, name.lstrip("_"))


def _layout(cls, base: int = 0):
    """(offset, size, field, C type) of every named field, anonymous members inlined."""
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for field in cls._fields_:
        name, ctype = field[0], field[1]
        desc = getattr(cls, name)
        if name in anonymous:
            yield from _layout(ctype, base + desc.offset)
        elif not name.startswith("_"):
            yield base + desc.offset, desc.size, name, _ctype_name(ctype)


def _struct_table(cls) -> list[str]:
    rows: dict[int, list[tuple[int, str, str]]] = {}
    for offset, size, name, ctype in _layout(cls):
        rows.setdefault(offset, []).append((size, name, ctype))
    kind = "union" if issubclass(cls, ctypes.Union) else "struct"
    lines = ["", f"Layout ({kind}, {ctypes.sizeof(cls)} bytes; fields at the same "
             "offset share the bytes):", "", ".. list-table::", "   :header-rows: 1",
             "   :widths: 12 10 78", "", "   * - offset", "     - size",
             "     - field (type)"]
    for offset in sorted(rows):
        fields = " / ".join(f"``{n}`` ({t})" for _, n, t in rows[offset])
        size = max(sz for sz, _, _ in rows[offset])
        lines += [f"   * - {offset}", f"     - {size}", f"     - {fields}"]
    return lines


def _enum_table(cls) -> list[str]:
    lines = ["", "Members (each is also a module-level name):", "",
             ".. list-table::", "   :header-rows: 1", "   :widths: 60 20 20", "",
             "   * - name", "     - value", "     - since Linux"]
    flag = issubclass(cls, enum.Flag)
    for name, member in cls.__members__.items():
        value = f"{int(member):#x}" if flag else str(int(member))
        lines += [f"   * - ``{name}``", f"     - {value}",
                  f"     - {getattr(member, 'since', '') or ''}"]
    return lines


def add_tables(app, what, name, obj, options, lines) -> None:
    """Append a member table to each kernel enum and a layout to each kernel struct."""
    if what in ("data", "attribute") and type(obj).__name__ == "VersionedInt":
        lines.extend(["", f"Linux {obj.since}."])
    if what != "class" or not inspect.isclass(obj):
        return
    if (issubclass(obj, enum.Enum) and obj.__members__
            and any(hasattr(m, "since") for m in obj.__members__.values())):
        lines.extend(_enum_table(obj))
    elif (issubclass(obj, (ctypes.Structure, ctypes.Union)) and "_fields_" in vars(obj)
          and obj.__module__.startswith(("uring.abi", "uring.packet.abi"))):
        lines.extend(_struct_table(obj))


def drop_builtin_docstrings(app, what, name, obj, options, lines) -> None:
    """A constant without a ``#:`` comment has no docstring of its own.

    autodoc then shows its type's (a dict's ``dict() -> new empty
    dictionary ...``), which says nothing about the constant and is not
    even valid reST; show the value alone instead.
    """
    if what in ("data", "attribute") and type(obj).__module__ == "builtins" \
            and lines and "\n".join(lines).split() == (type(obj).__doc__ or "").split():
        lines[:] = []


def skip_members(app, what, name, obj, skip, options):
    """Leave out the members of the kernel enums and the ctypes field descriptors.

    The enum tables list them, with values and versions, in a tenth of the space.
    """
    if what in ("class", "module") and isinstance(obj, enum.Enum):
        return True
    if type(obj).__name__ in ("CField", "Field") and type(obj).__module__ in (
            "_ctypes", "ctypes"):
        return True
    return None


def drop_private_bases(app, name, obj, options, bases) -> None:
    """``Bases:`` lines name only documented classes (not ``_CqeMethods``)."""
    bases[:] = [b for b in bases if not _private_uring_class(b)] or bases[-1:]
