"""An asyncio event loop on io_uring.

* :mod:`uring.loop.selector` -- :class:`UringSelector`: readiness as ``POLL_ADD``
  requests, one ``io_uring_enter`` per loop iteration.
* :mod:`uring.loop.events` -- :class:`EventLoop` (asyncio's Unix selector loop
  on that selector), :class:`EventLoopPolicy`, :func:`new_event_loop`, :func:`run`.

Switch an existing program with one line: ``uring.loop.run(main())`` instead
of ``asyncio.run(main())`` (or, on 3.12+,
``asyncio.run(main(), loop_factory=uring.loop.EventLoop)``).
"""

from .events import EventLoop, EventLoopPolicy, new_event_loop, run
from .selector import ForkedRingError, UringSelector

__all__ = ["EventLoop", "EventLoopPolicy", "new_event_loop", "run", "UringSelector",
           "ForkedRingError"]
