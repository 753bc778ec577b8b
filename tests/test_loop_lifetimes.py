"""Closing uring.loop with requests in flight: the kernel never writes into freed memory.

The loop hands the kernel a caller's buffer (``sock_recv_into``) and its own
buffer ring (the completion transports' multishot receives). Each test closes
the loop while such a request is armed, drops every reference, fills the
freed memory with fresh canary objects, then sends the bytes the request was
waiting for: the canaries must be intact and the bytes still unread, which
shows the loop's close cancelled the request before anything was freed.
"""

import asyncio
import gc
import socket

import uring.loop
from lifetime_helpers import canaries, intact, needs_io_uring, unread
from uring.loop.events import _BUFFER_SIZE, _BUFFERS

pytestmark = needs_io_uring


def test_sock_recv_into_in_flight_at_loop_close():
    a, b = socket.socketpair()
    a.setblocking(False)
    loop = uring.loop.EventLoop()
    buf = bytearray(4096)
    task = loop.create_task(loop.sock_recv_into(a, buf))
    loop.run_until_complete(asyncio.sleep(0.01))   # the RECV is in the kernel now
    assert loop._selector._completion_handlers
    task.cancel()
    loop.close()
    del buf, task, loop
    gc.collect()
    cs = canaries(4096)
    b.send(b"probe")
    assert unread(a)
    assert intact(cs)
    a.close()
    b.close()


def test_transport_receive_armed_at_loop_close():
    a, b = socket.socketpair()
    # The transport's socket goes with the loop; a duplicate keeps the socket
    # itself open, so an armed receive would still take what b sends.
    a2 = a.dup()
    loop = uring.loop.EventLoop()
    loop.run_until_complete(loop.connect_accepted_socket(asyncio.Protocol, a))
    loop.run_until_complete(asyncio.sleep(0.01))
    assert loop._selector._completion_handlers     # the multishot receive is armed
    loop.close()                                   # no abort: close must cancel it
    del loop
    gc.collect()
    ring_bytes = _BUFFERS * _BUFFER_SIZE
    cs = canaries(ring_bytes, n=2) + canaries(_BUFFER_SIZE)
    b.send(b"probe")
    assert unread(a2)
    assert intact(cs)
    a.close()
    a2.close()
    b.close()
