"""Kernel constants that remember which Linux release added them.

io_uring grows with almost every kernel release, and most "it doesn't work"
reports come down to a flag or opcode the running kernel does not know yet.
So every constant here carries the version that introduced it: the feature
probe prints it next to what the kernel reports, and error messages can say
"IORING_RECVSEND_BUNDLE needs Linux 6.10".

Members are declared as ``NAME = value, "since"``::

    class IoringOp(VersionedEnum):
        IORING_OP_NOP = 0, "5.1"

``IoringOp.IORING_OP_NOP`` is still the int 0 (it packs into an SQE, compares,
and formats as 0); it just also answers ``.since == "5.1"``. Constants that
are not one of a family (a shift, a mask) are :class:`VersionedInt`.
"""

from __future__ import annotations

import ctypes
from enum import IntEnum, IntFlag

__all__ = ["VersionedEnum", "VersionedFlag", "VersionedInt", "since", "version_key"]


def version_key(version: str) -> tuple[int, ...]:
    """Sort key for a kernel version string: ``"5.19"`` -> ``(5, 19)``."""
    return tuple(int(part) for part in version.split("."))


def _new_member(cls, value: int, since: str | None = None):
    # int.__new__ rather than the enum's own constructor: the declared value is a
    # (value, since) tuple, and only the first item is the integer.
    member = int.__new__(cls, value)
    member._value_ = value
    member._since = since
    return member


class VersionedEnum(IntEnum):
    """An ``IntEnum`` whose members also carry ``.since``, the kernel release that added them."""

    __new__ = _new_member

    @property
    def since(self) -> str:
        """Kernel release (e.g. ``"5.19"``) that added this value."""
        return self._since


class VersionedFlag(IntFlag):
    """An ``IntFlag`` whose members also carry ``.since``, the kernel release that added them.

    A combination of flags (``IOSQE_IO_LINK | IOSQE_ASYNC``) answers the newest
    release among its bits; a value with bits this class does not name, or no
    bits at all, answers ``None``.
    """

    __new__ = _new_member

    @property
    def since(self) -> str | None:
        """Kernel release that added this flag, or the newest one of a combination."""
        own = self.__dict__.get("_since")
        if own is not None:
            return own
        # Combinations are created by the enum machinery without our __new__;
        # decompose them into the single-bit members by hand (works on 3.10 too,
        # where Flag members are not iterable).
        value = int(self)
        bits = [m for m in type(self).__members__.values()
                if m._value_ and m._value_ & (m._value_ - 1) == 0 and value & m._value_]
        if not value or sum(m._value_ for m in bits) != value:
            return None
        return max((m._since for m in bits), key=version_key)


class VersionedInt(int):
    """A lone kernel constant (a shift, a mask, a sentinel) with its name and ``.since``."""

    _registry: dict[str, VersionedInt] = {}

    def __new__(cls, value: int, since: str, name: str) -> VersionedInt:
        self = int.__new__(cls, value)
        self.since = since
        self.name = name
        cls._registry[name] = self
        return self

    def __repr__(self) -> str:
        return f"<{self.name}: {int(self)}>"

    __str__ = int.__repr__


def _enum_classes(base: type):
    for cls in base.__subclasses__():
        yield cls
        yield from _enum_classes(cls)


def since(what) -> str:
    """The kernel release that added a constant or structure.

    ``what`` may be a member (``IORING_OP_SEND_ZC``), a kernel name as a string
    (``"IORING_OP_SEND_ZC"``), a :class:`VersionedInt`, or a ctypes structure
    class or instance from ``uring.abi``. Raises ``KeyError`` for an unknown
    name and ``ValueError`` for something that carries no version.
    """
    if isinstance(what, str):
        for base in (VersionedEnum, VersionedFlag):
            for cls in _enum_classes(base):
                member = cls.__members__.get(what)
                if member is not None:
                    return member.since
        if what in VersionedInt._registry:
            return VersionedInt._registry[what].since
        raise KeyError(f"{what!r} is not a kernel constant known to uring.abi")
    if isinstance(what, (VersionedEnum, VersionedFlag, VersionedInt)):
        version = what.since
    elif isinstance(what, (ctypes.Structure, ctypes.Union)) or (
            isinstance(what, type) and issubclass(what, (ctypes.Structure, ctypes.Union))):
        version = getattr(what, "_since_", None)
    else:
        version = None
    if version is None:
        raise ValueError(f"{what!r} carries no kernel version")
    return version
