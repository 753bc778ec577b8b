"""A TCP transport on completions: multishot receive over a buffer ring, SEND for writes.

The selector loop's socket transport waits for readiness and then calls
``recv``/``send``. This one arms one ``IORING_OP_RECV`` with
``IORING_RECV_MULTISHOT`` (6.0) per connection, over the loop's
:class:`~uring.buffers.BufferRing` (5.19): every arrival is a CQE naming the
buffer the kernel filled, copied out to ``bytes`` and recycled at once --
no system call per read, no poll. A write to an idle socket is one
``send()`` call, as in the selector transport (cheaper from Python than a
request and its CQE); what the socket does not take is queued and goes out
as one ``IORING_OP_SEND`` at a time, submitted with the loop's next
``io_uring_enter``, each waiting in the kernel for room -- no poll.

Flow control is asyncio's: ``pause_reading`` cancels the receive (bytes
whose CQEs were already posted are held and delivered after
``resume_reading``), write buffer limits and ``pause_writing``/``resume_writing``
count queued plus in-flight bytes, ``write_eof`` shuts the write side down
once everything queued is sent, ``abort`` drops it.

Buffers: the receive buffers belong to the buffer ring; a SEND's bytes are
an immutable ``bytes`` object handed to :func:`uring.ops.send`, which keeps
it until the CQE. Closing the transport cancels its requests; closing the
loop closes the ring, which cancels whatever is left.
"""

from __future__ import annotations

import collections
import errno
import socket
import warnings
from asyncio import constants, protocols, transports, trsock
from asyncio.log import logger

from .. import ops
from ..abi import IORING_CQE_F_BUFFER, IORING_CQE_F_MORE, IORING_CQE_BUFFER_SHIFT

__all__ = ["CompletionTransport"]

_F_MORE, _F_BUFFER = int(IORING_CQE_F_MORE), int(IORING_CQE_F_BUFFER)
_SHIFT = int(IORING_CQE_BUFFER_SHIFT)
_CANCEL_UD = 0
_ENOBUFS, _ECANCELED = errno.ENOBUFS, errno.ECANCELED


class CompletionTransport(transports._FlowControlMixin, transports.Transport):
    """A stream socket transport whose reads and writes are io_uring requests.

    Made by :meth:`uring.loop.EventLoop._make_socket_transport`; behaves as
    asyncio's selector socket transport does (``get_extra_info`` keys
    ``socket``, ``sockname``, ``peername``; ``Protocol`` and ``BufferedProtocol``).
    """

    # loop.sendfile pauses reading, waits for the queued writes and calls
    # sock_sendfile (os.sendfile, zero copy) on the socket: the selector way.
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE
    # start_tls swaps in an SSLProtocol (pause, set_protocol, resume): all here.
    _start_tls_compatible = True

    def __init__(self, loop, sock, protocol, waiter=None, extra=None, server=None,
                 buffers=None) -> None:
        super().__init__(extra, loop)
        self._extra["socket"] = trsock.TransportSocket(sock)
        for key, call in (("sockname", sock.getsockname), ("peername", sock.getpeername)):
            try:
                self._extra[key] = call()
            except OSError:
                self._extra[key] = None
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._sel = loop._selector
        self._buffers = buffers
        self.set_protocol(protocol)
        self._server = server
        self._closing = False
        self._paused = False
        self._eof = False           # write_eof() asked
        self._conn_lost = 0
        self._recv_ud = 0           # the armed multishot receive, 0 if none
        self._held = collections.deque()   # received while paused
        self._buffer = collections.deque()  # bytes not yet handed to a SEND
        self._buffer_size = 0
        self._send_ud = 0           # the SEND in flight, 0 if none
        self._sending = b""         # its bytes
        self._empty_waiter = None
        if server is not None:
            _attach(server, self)
        loop._transports[self._sock_fd] = self
        loop.call_soon(self._protocol.connection_made, self)
        loop.call_soon(self._arm_recv)
        if waiter is not None:
            loop.call_soon(_set_result_unless_cancelled, waiter, None)

    def __repr__(self) -> str:
        state = " closing" if self._closing else ""
        return (f"<{type(self).__name__} fd={self._sock_fd}{state}"
                f" read={'paused' if self._paused else 'polling'}"
                f" write=<bufsize={self.get_write_buffer_size()}>>")

    # -- protocol ----------------------------------------------------------------

    def set_protocol(self, protocol) -> None:
        """Switch to ``protocol`` (``BufferedProtocol`` gets ``get_buffer``/``buffer_updated``)."""
        self._protocol = protocol
        self._protocol_connected = True
        self._buffered = isinstance(protocol, protocols.BufferedProtocol)

    def get_protocol(self):
        """The current protocol."""
        return self._protocol

    def is_closing(self) -> bool:
        """True once :meth:`close` or :meth:`abort` ran or the connection failed."""
        return self._closing

    def is_reading(self) -> bool:
        """True unless reading is paused or the transport is closing."""
        return not self._paused and not self._closing

    # -- reading -----------------------------------------------------------------

    def _arm_recv(self) -> None:
        if self._recv_ud or self._paused or self._closing:
            return
        sel = self._sel
        self._recv_ud = ud = sel.new_user_data(self._on_recv)
        sel._prep(ops.recv_multishot, ud, self._sock_fd, buf_group=self._buffers.bgid)

    def _on_recv(self, res: int, flags: int) -> None:
        if flags & _F_BUFFER:
            buffers = self._buffers
            bid = flags >> _SHIFT
            start = bid * buffers.size
            data = bytes(buffers.view[start:start + res]) if res > 0 else b""
            buffers.take_id(flags)
            # Copied out: handed back with the others of this batch, in one
            # tail store after select() (EventLoop._process_events).
            self._loop._recycle.append(bid)
        else:
            data = None
        if not flags & _F_MORE:
            self._recv_ud = 0
        if res > 0:
            if self._paused or self._held:
                self._held.append(data)
            else:
                self._deliver(data)
        elif res == 0:
            if self._paused or self._held:
                self._held.append(b"")
            else:
                self._read_eof()
        elif res != -_ENOBUFS and res != -_ECANCELED and not self._closing:
            exc = OSError(-res, errno.errorcode.get(-res, "error"))
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not flags & _F_MORE and res != 0:
            # The request ended without EOF: the buffer ring ran dry
            # (-ENOBUFS; the others recycle theirs in this same batch), it was
            # cancelled by a pause that is over now, or the kernel stopped it.
            self._loop.call_soon(self._arm_recv)

    def _deliver(self, data: bytes) -> None:
        if self._conn_lost:
            return
        try:
            if self._buffered:
                protocols._feed_data_to_buffered_proto(self._protocol, data)
            else:
                self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_eof(self) -> None:
        if self._conn_lost or self._closing:
            return
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        self._paused = True   # nothing more to read
        if not keep_open:
            self.close()

    def pause_reading(self) -> None:
        """Stop calling ``data_received``; the receive request is cancelled."""
        if not self.is_reading():
            return
        self._paused = True
        self._cancel_recv()
        if self._recv_ud and not self._sel.ring.closed:
            # Submit the cancel now: until the kernel sees it, the armed
            # receive keeps draining the socket into the buffer ring and the
            # peer never feels the back-pressure pausing is meant to cause.
            self._sel.ring.submit()

    def resume_reading(self) -> None:
        """Deliver what arrived meanwhile, then receive again."""
        if self._closing or not self._paused:
            return
        self._paused = False
        self._loop.call_soon(self._drain_held)

    def _drain_held(self) -> None:
        while self._held and not self._paused and not self._closing:
            data = self._held.popleft()
            if data:
                self._deliver(data)
            else:
                self._read_eof()
        if not self._paused:
            self._arm_recv()

    def _cancel_recv(self) -> None:
        if self._recv_ud and not self._sel.ring.closed:
            self._sel._prep(ops.async_cancel, _CANCEL_UD, self._recv_ud)
            # Its remaining CQEs still come, held or dropped by _on_recv.

    # -- writing -----------------------------------------------------------------

    def write(self, data) -> None:
        """Queue ``data``; it goes out with the loop's next ``io_uring_enter``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._send_ud and not self._buffer:
            # Nothing queued: one send() now costs less than a SEND request
            # and its CQE in Python; only what the socket refuses is queued.
            try:
                n = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            if n == len(data):
                return
            data = data[n:]
        self._buffer.append(bytes(data))
        self._buffer_size += len(data)
        if not self._send_ud:
            self._send_next()
        self._maybe_pause_protocol()

    def _send_next(self) -> None:
        if len(self._buffer) == 1:
            data = self._buffer.popleft()
        else:
            data = b"".join(self._buffer)
            self._buffer.clear()
        self._buffer_size -= len(data)
        self._sending = data
        sel = self._sel
        self._send_ud = ud = sel.new_user_data(self._on_send)
        sel._prep(ops.send, ud, self._sock_fd, data, flags=socket.MSG_NOSIGNAL)

    def _on_send(self, res: int, flags: int) -> None:
        self._send_ud = 0
        sent = self._sending
        self._sending = b""
        if res < 0:
            if self._conn_lost:
                return
            self._buffer.clear()
            self._buffer_size = 0
            if res != -_ECANCELED:
                exc = OSError(-res, errno.errorcode.get(-res, "error"))
                self._fatal_error(exc, "Fatal write error on socket transport")
            return
        if res < len(sent):
            self._buffer.appendleft(sent[res:])
            self._buffer_size += len(sent) - res
        if self._buffer:
            self._send_next()
        self._maybe_resume_protocol()
        if not self._buffer and not self._send_ud:
            if self._empty_waiter is not None:
                self._empty_waiter.set_result(None)
            if self._closing:
                self._call_connection_lost_soon(None)
            elif self._eof:
                self._shutdown_write()

    def get_write_buffer_size(self) -> int:
        """Bytes queued plus bytes of the SEND in flight."""
        return self._buffer_size + len(self._sending)

    def can_write_eof(self) -> bool:
        """True: TCP can half-close."""
        return True

    def write_eof(self) -> None:
        """Shut the write side down once everything queued has been sent."""
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._send_ud:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _make_empty_waiter(self):
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if not self._send_ud and not self._buffer:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self) -> None:
        self._empty_waiter = None

    # -- closing -----------------------------------------------------------------

    def close(self) -> None:
        """Close after the queued bytes are sent; ``connection_lost(None)`` follows."""
        if self._closing:
            return
        self._closing = True
        self._cancel_recv()
        if not self._send_ud and not self._buffer:
            self._conn_lost += 1
            self._call_connection_lost_soon(None)

    def abort(self) -> None:
        """Close at once, dropping queued bytes; ``connection_lost(None)`` follows."""
        self._force_close(None)

    def _force_close(self, exc) -> None:
        if self._conn_lost:
            return
        self._buffer.clear()
        self._buffer_size = 0
        if self._send_ud and not self._sel.ring.closed:
            self._sel._prep(ops.async_cancel, _CANCEL_UD, self._send_ud)
        if not self._closing:
            self._closing = True
            self._cancel_recv()
        self._conn_lost += 1
        self._call_connection_lost_soon(exc)

    def _fatal_error(self, exc, message="Fatal error on transport") -> None:
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message, "exception": exc, "transport": self,
                "protocol": self._protocol})
        self._force_close(exc)

    def _call_connection_lost_soon(self, exc) -> None:
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc) -> None:
        if self._sock is None:
            return
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            sock, self._sock = self._sock, None
            if self._loop._transports.get(self._sock_fd) is self:
                del self._loop._transports[self._sock_fd]
            if self._recv_ud or self._send_ud:
                # The requests still hold the file; let the kernel drop them
                # now, so the close reaches the peer without waiting a turn.
                self._sel.ring.submit()
            sock.close()
            self._protocol = None
            server, self._server = self._server, None
            if server is not None:
                server._detach() if _DETACH_NO_ARG else server._detach(self)

    def __del__(self, _warn=warnings.warn) -> None:
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()


def _set_result_unless_cancelled(fut, result) -> None:
    if not fut.cancelled():
        fut.set_result(result)


def _server_takes_transport() -> bool:
    import inspect
    from asyncio import base_events
    return len(inspect.signature(base_events.Server._attach).parameters) > 1


# Server._attach()/_detach() take the transport since Python 3.13.
_DETACH_NO_ARG = not _server_takes_transport()


def _attach(server, transport) -> None:
    if _DETACH_NO_ARG:
        server._attach()
    else:
        server._attach(transport)
