"""What every kind of buffer group does alike: hand ids back, say who holds which.

:class:`~uring.buffers.BufferRing` and :class:`~uring.buffers.ProvidedBuffers`
differ in how a buffer goes back to the kernel (a ring entry and a tail
store, or a ``PROVIDE_BUFFERS`` SQE), not in the verbs: ``add`` stages,
``advance`` hands over, ``recycle`` does both, and the ownership record
answers the rest. Those shared parts live here once.
"""

from __future__ import annotations

from ..abi import IORING_CQE_BUFFER_SHIFT, IORING_CQE_F_BUFFER

__all__: list[str] = []

_F_BUFFER = int(IORING_CQE_F_BUFFER)
_SHIFT = int(IORING_CQE_BUFFER_SHIFT)


class _BufferGroup:
    """The accessors both group kinds share; subclasses set ``_own`` and define ``add``/``advance``/``close``."""

    __slots__ = ()

    def recycle(self, bid: int) -> None:
        """Hand buffer ``bid`` back to the kernel now (:meth:`add` + :meth:`advance`).

        To return many, :meth:`add` each and :meth:`advance` once.
        """
        self.add(bid)
        self.advance()

    @property
    def in_kernel(self) -> int:
        """How many buffers the kernel owns (handed over, or staged to be)."""
        return self._own.in_kernel

    def held_by_program(self) -> list[int]:
        """Ids the program holds (taken and not yet recycled)."""
        return self._own.held_by_program()

    def held_by_kernel(self) -> list[int]:
        """Ids the kernel holds (including staged ones)."""
        return self._own.held_by_kernel()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def selected_id(flags: int) -> int:
    """The buffer id in a CQE's ``flags``; ``ValueError`` if the CQE carries none."""
    if not flags & _F_BUFFER:
        raise ValueError("this CQE carries no buffer (IORING_CQE_F_BUFFER is unset);"
                         " nothing to take")
    return flags >> _SHIFT
