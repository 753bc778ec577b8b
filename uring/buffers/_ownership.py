"""Who holds each buffer id of a group: the kernel or the program.

A buffer id must have exactly one owner at any time. The kernel owns it from
the moment the program hands it over (adds it to a buffer ring, or provides
it) until a CQE reports it consumed; then the program owns it until it hands
it back. Every transition is checked here, so a bug that would give one buffer
to two owners -- recycling an id twice, recycling one the kernel still fills,
a CQE naming an id the program holds -- raises :class:`BufferOwnershipError`
at the faulty call instead of corrupting data later.
"""

from __future__ import annotations

from ..errors import BufferOwnershipError

__all__ = ["BufferOwnershipError", "Ownership", "PROGRAM", "KERNEL", "claim_group",
           "record_group", "release_group"]

PROGRAM = 0
KERNEL = 1


def claim_group(ring, bgid: int, group, kernel_refuses=()) -> None:
    """Record ``group`` as the owner of buffer group ``bgid`` on ``ring``, or refuse.

    The kernel accepts ``PROVIDE_BUFFERS`` into a group that already has
    buffers (and a buffer ring over an emptied legacy group), but then two
    objects would track the same ids and each would believe it owns them; a
    second live group object for one id is refused -- unless it is of a type
    in ``kernel_refuses``, whose registration the kernel itself refuses
    (``EEXIST``). The ring also closes its groups' kernel mappings when it closes.
    """
    groups = ring._groups
    other = groups.get(bgid)
    if other is not None and not other.closed and not isinstance(other, kernel_refuses):
        raise ValueError(f"buffer group {bgid} is already live on this ring ({other!r});"
                         " close it first or pick another bgid")


def record_group(ring, bgid: int, group) -> None:
    """Record ``group`` as the live owner of ``bgid`` (after :func:`claim_group` and setup)."""
    ring._groups[bgid] = group


def release_group(ring, bgid: int, group) -> None:
    """Forget ``group`` as the owner of ``bgid`` (it was closed)."""
    groups = getattr(ring, "_groups", {})
    if groups.get(bgid) is group:
        del groups[bgid]


class Ownership:
    """One byte per buffer id: :data:`PROGRAM` or :data:`KERNEL`."""

    __slots__ = ("owner", "group")

    def __init__(self, count: int, group: int) -> None:
        # All PROGRAM until given to the kernel. Hot loops may flip a byte
        # themselves after checking it (BufferRing.add_many, BufferRing.take_id);
        # the methods below are the checked path and build the errors.
        self.owner = bytearray(count)
        self.group = group

    @property
    def in_kernel(self) -> int:
        """How many ids the kernel holds (counted, so a hot loop has no counter to keep)."""
        return self.owner.count(KERNEL)

    def check(self, bid: int) -> None:
        """Raise unless ``bid`` is an id of this group."""
        if not isinstance(bid, int):
            raise TypeError(f"bid must be an int, not {type(bid).__name__}")
        if not 0 <= bid < len(self.owner):
            raise ValueError(f"bid {bid} is not in buffer group {self.group}"
                             f" (ids 0..{len(self.owner) - 1})")

    def to_kernel(self, bid: int) -> None:
        """The program hands ``bid`` to the kernel (add/recycle/provide)."""
        owner = self.owner
        if type(bid) is not int or not 0 <= bid < len(owner) or owner[bid] != PROGRAM:
            raise self.refusal(bid)
        owner[bid] = KERNEL

    def refusal(self, bid) -> Exception:
        """The error for handing ``bid`` to the kernel when the program does not hold it."""
        try:
            self.check(bid)
        except (TypeError, ValueError) as e:
            return e
        return BufferOwnershipError(
            f"buffer {bid} of group {self.group} already belongs to the kernel:"
            " it was recycled twice, or recycled before a CQE returned it")

    def to_program(self, bid: int) -> None:
        """A CQE hands ``bid`` to the program."""
        owner = self.owner
        if not 0 <= bid < len(owner):
            raise BufferOwnershipError(
                f"a CQE names buffer {bid}, which group {self.group} does not have"
                f" (ids 0..{len(owner) - 1})")
        if owner[bid] != KERNEL:
            raise BufferOwnershipError(
                f"a CQE hands over buffer {bid} of group {self.group}, but the program"
                " already holds it: the group's memory was handed out twice")
        owner[bid] = PROGRAM

    def held_by_program(self) -> list[int]:
        """Ids the program holds now."""
        return [bid for bid, who in enumerate(self.owner) if who == PROGRAM]

    def held_by_kernel(self) -> list[int]:
        """Ids the kernel holds now (including ones staged but not yet published)."""
        return [bid for bid, who in enumerate(self.owner) if who == KERNEL]
