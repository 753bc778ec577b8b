"""Stage ``user_data`` (v1.3): the request packed into the 64-bit ``user_data``.

v1.0 allocated a :class:`~uring.echo.poll.Request` for every SQE and kept it
in a dict until its CQE came back. But a request is fully described by two
small numbers, what it is for and which connection, and ``user_data`` has
64 bits. frevib's v1.3 stopped allocating: it packed ``struct conn_info``
(fd and type) into ``user_data`` itself. So do we::

    user_data = kind << 56 | fd

and the CQE leads straight back through ``kind`` to the handler and through
``fd`` to the connection table. Nothing is allocated or freed per request.

This is safe because a connection has at most one request in flight and is
closed only after its last CQE: no CQE can arrive for a descriptor number
that was closed and handed to a newer connection.
"""

from __future__ import annotations

from . import poll

__all__ = ["Server", "FD_MASK", "KIND_SHIFT"]

KIND_SHIFT = 56
FD_MASK = 0xFFFFFFFF


class Server(poll.Server):
    """v1.0 with ``user_data = kind << 56 | fd``: no allocation per request."""

    def tag(self, kind: int, conn: poll.Conn | None) -> int:
        """``kind << 56 | fd`` (fd 0 for requests that belong to no connection)."""
        return kind << KIND_SHIFT | (conn.fd if conn is not None else 0)

    def untag(self, user_data: int) -> tuple[int, poll.Conn | None]:
        """Unpack ``kind`` and find the connection by its descriptor."""
        return user_data >> KIND_SHIFT, self.conns.get(user_data & FD_MASK)
