"""The event loop: asyncio's Unix selector loop, waiting through io_uring.

:class:`EventLoop` is ``asyncio.SelectorEventLoop`` with a
:class:`~uring.loop.selector.UringSelector`: every feature of the Unix loop
(TCP/Unix/UDP, pipes, subprocesses, signals, ``add_reader``...) works as it
does there, and each loop iteration makes one ``io_uring_enter`` that both
submits the poll changes and waits until the next timer.

The one-line switch for an existing program::

    uring.loop.run(main())                  # instead of asyncio.run(main())
    asyncio.run(main(), loop_factory=uring.loop.EventLoop)      # Python 3.12+
"""

from __future__ import annotations

import asyncio
import socket
import sys
from asyncio.log import logger
from typing import Any, Coroutine

from .. import probe
from ..buffers import BufferRing
from .selector import UringSelector
from .sockets import CompletionSockets
from .transports import CompletionTransport

__all__ = ["EventLoop", "EventLoopPolicy", "new_event_loop", "run"]

_MULTISHOT_RECV = (6, 0)   # IORING_RECV_MULTISHOT; buffer rings came in 5.19
_BGID = 0                  # the loop's one buffer group
_BUFFERS, _BUFFER_SIZE = 1024, 16384   # 16 MiB of receive buffers per loop


class EventLoop(CompletionSockets, asyncio.SelectorEventLoop):
    """An asyncio event loop on io_uring: readiness by ``POLL_ADD``, sockets by completion.

    ``selector`` defaults to a new :class:`~uring.loop.selector.UringSelector`
    (its own ring); closing the loop closes the selector and its ring.
    ``completion=False`` keeps to readiness alone (step 1 of the tutorial):
    the ``sock_*`` methods then poll and call, as the selector loop does;
    the same happens by itself on a kernel without the operations.
    """

    def __init__(self, selector: UringSelector | None = None, *,
                 completion: bool = True) -> None:
        super().__init__(selector if selector is not None else UringSelector())
        self._init_completion_sockets(completion)
        # The buffer ring all completion transports receive into, made at
        # first use; None when this kernel cannot (the selector transport then).
        self._buffer_ring = None
        self._recycle: list[int] = []   # buffer ids to hand back after this select()
        self._transports_ok = self._completion and probe.get().version >= _MULTISHOT_RECV

    def _process_events(self, event_list) -> None:
        # Completion handlers ran inside select(); the buffers they emptied
        # go back to the kernel together, with one release store of the tail.
        recycle = self._recycle
        if recycle:
            self._buffer_ring.add_many(recycle)
            self._buffer_ring.advance()
            recycle.clear()
        super()._process_events(event_list)

    @property
    def ring(self):
        """The :class:`~uring.Ring` under this loop (``ring.enter_count`` counts its waits)."""
        return self._selector.ring

    def _make_socket_transport(self, sock, protocol, waiter=None, *, extra=None,
                               server=None):
        if self._transports_ok and sock.type == socket.SOCK_STREAM:
            buffers = self._buffer_ring
            if buffers is None:
                try:
                    buffers = self._buffer_ring = BufferRing(
                        self._selector.ring, _BGID, _BUFFERS, _BUFFER_SIZE)
                except OSError as exc:
                    self._transports_ok = False
                    if self._debug:
                        logger.debug("no buffer ring (%s): selector transports", exc)
            if buffers is not None:
                return CompletionTransport(self, sock, protocol, waiter, extra, server,
                                           buffers=buffers)
        return super()._make_socket_transport(sock, protocol, waiter, extra=extra,
                                              server=server)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """The default policy, creating :class:`EventLoop` loops.

    ``asyncio.set_event_loop_policy(uring.loop.EventLoopPolicy())`` makes
    ``asyncio.run`` and ``asyncio.new_event_loop`` use io_uring.
    """

    _loop_factory = EventLoop


def new_event_loop() -> EventLoop:
    """A new :class:`EventLoop` (not set as the current loop)."""
    return EventLoop()


def run(main: Coroutine[Any, Any, Any], *, debug: bool | None = None) -> Any:
    """``asyncio.run(main)`` on a new :class:`EventLoop`: run it, then close the loop.

    Like ``asyncio.run``: cancels the tasks left over, shuts down async
    generators and the default executor, and refuses to run inside a running loop.
    """
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=EventLoop) as runner:
            return runner.run(main)
    return _run_310(main, debug)


def _run_310(main, debug):
    """What ``asyncio.run`` does on 3.10, with an :class:`EventLoop` (no Runner there)."""
    if asyncio.events._get_running_loop() is not None:
        raise RuntimeError("uring.loop.run() cannot be called from a running event loop")
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = EventLoop()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all_tasks(loop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if task.cancelled():
            continue
        if task.exception() is not None:
            loop.call_exception_handler({
                "message": "unhandled exception during uring.loop.run() shutdown",
                "exception": task.exception(),
                "task": task,
            })
