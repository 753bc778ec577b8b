"""Echo servers that retell io_uring's history, one stage per module.

``python -m uring.echo --list`` shows the stages; :mod:`uring.echo.registry`
holds them in story order and :mod:`uring.echo.common` the plumbing they share.
"""

from .registry import STAGES, Stage, find

__all__ = ["STAGES", "Stage", "find"]
