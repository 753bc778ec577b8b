"""Echo servers that retell io_uring's history, one stage per module.

``python -m uring.echo --list`` shows the stages; :mod:`uring.echo.registry`
holds them in story order and :mod:`uring.echo.common` the plumbing they share.
The io_uring stages are two families on :mod:`uring.echo.ring_server`: one
request per operation (:mod:`uring.echo.poll` to :mod:`uring.echo.buf_ring`)
and armed once (:mod:`uring.echo.multishot` and the stages after it), and
:mod:`uring.echo.tags` packs every request into its ``user_data``.
"""

from .registry import STAGES, Stage, find

__all__ = ["STAGES", "Stage", "find"]
