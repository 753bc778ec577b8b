"""Stage ``user_data`` (v1.3): the request packed into the 64-bit ``user_data``.

v1.0 allocated a :class:`~uring.echo.poll.Request` for every SQE and kept it
in a dict until its CQE came back. But a request is fully described by two
small numbers, what it is for and which connection, and ``user_data`` has
64 bits. frevib's v1.3 stopped allocating: it packed ``struct conn_info``
(fd and type) into ``user_data`` itself. So do we, with
:func:`~uring.echo.tags.pack`: the kind in the top byte, the descriptor in
the low 32 bits::

    user_data = pack(kind, fd)

and the CQE leads straight back through ``kind`` to the handler and through
``fd`` to the connection table (:mod:`uring.echo.tags` is the codec, for
every stage from here on). Nothing is allocated or freed per request.

This is safe because a connection has at most one request in flight and is
closed only after its last CQE: no CQE can arrive for a descriptor number
that was closed and handed to a newer connection.
"""

from __future__ import annotations

from . import poll
from .tags import FD_MASK, KIND_SHIFT, Kind, pack, unpack  # noqa: F401 (the masks: old imports)

__all__ = ["Server"]


class Server(poll.Server):
    """v1.0 with ``user_data = pack(kind, fd)``: no allocation per request."""

    def tag(self, kind: Kind, conn: poll.Conn | None) -> int:
        """``pack(kind, fd)`` (fd 0 for requests that belong to no connection)."""
        return pack(kind, conn.fd if conn is not None else 0)

    def untag(self, user_data: int) -> tuple[int, poll.Conn | None]:
        """Unpack ``kind`` and find the connection by its descriptor."""
        kind, _, fd = unpack(user_data)
        return kind, self.conns.get(fd)
