"""One function per io_uring operation, all of one shape.

::

    slot = ops.recv(ring, user_data, fd, buf, *, nbytes=None, flags=0, ..., sqe_flags=0)

``ring`` first, then ``user_data`` (echoed in the CQE), then the operation's
own arguments, then keyword-only options; each fills one SQE with a single
``ring.prep`` call and returns its slot index. ``sqe_flags`` takes the
``IOSQE_*`` flags (``IOSQE_IO_LINK``, ``IOSQE_IO_HARDLINK``, ``IOSQE_IO_DRAIN``,
``IOSQE_ASYNC``, ``IOSQE_CQE_SKIP_SUCCESS``, ``IOSQE_FIXED_FILE`` -- then ``fd``
is a direct-descriptor slot; ``IOSQE_BUFFER_SELECT`` is set for you by
``buf_group=``).

Each docstring ends with the liburing helper it matches and the kernel
release that added it; :data:`OPS` holds the same table for programs (the
docs index and the tests use it). An operation the running kernel lacks
raises :class:`OperationUnsupported` naming that release, before anything is
queued; a wrong type or an out-of-range value raises ``TypeError`` or
``ValueError`` naming the argument; a buffer shorter than ``nbytes`` is refused.

**Lifetimes.** Everything the kernel reads or writes by address -- the buffer,
an iovec array, a sockaddr, a timespec, a msghdr, a path -- is handed to
``ring.keep(user_data, ...)`` right after the SQE is filled, once per request,
and released by ``ring.copy_cqes`` at the request's final CQE (the one
without ``IORING_CQE_F_MORE``: for a zero-copy send, the notification). So
each in-flight request needs its own ``user_data``. Memory used beyond one
request -- fixed buffers, buffer groups -- is owned by :mod:`uring.register`
and :mod:`uring.buffers` instead.

Modules: :mod:`.files` (nop, read/write, open/close, statx, splice...),
:mod:`.net` (sockets, send/recv, zero copy), :mod:`.control` (poll, timeouts,
cancel, msg_ring, provided buffers), :mod:`.structs` (sockaddr, msghdr, cmsg).
"""

from ._common import AT_FDCWD, OPS, OperationUnsupported, OpSpec
from .control import *  # noqa: F401,F403
from .control import __all__ as _control_all
from .files import *  # noqa: F401,F403
from .files import __all__ as _files_all
from .net import *  # noqa: F401,F403
from .net import __all__ as _net_all
from .structs import *  # noqa: F401,F403
from .structs import __all__ as _structs_all

__all__ = ["OPS", "OpSpec", "OperationUnsupported", "AT_FDCWD",
           *_files_all, *_net_all, *_control_all, *_structs_all]
