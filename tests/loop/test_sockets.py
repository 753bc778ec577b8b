"""The completion-based sock_* methods: io_uring requests, cancellation, buffers, fallback."""

import asyncio
import socket

import pytest

import uring.loop
from uring import probe

PROBE = probe.get()
pytestmark = pytest.mark.skipif(not PROBE.usable, reason=f"io_uring unusable: {PROBE.reason}")


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def run(coro, **kwargs):
    loop = uring.loop.EventLoop(**kwargs)
    try:
        return loop.run_until_complete(coro(loop))
    finally:
        loop.close()


def test_recv_waits_in_the_ring_not_in_a_poll(pair):
    a, b = pair

    async def main(loop):
        task = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        assert not loop._selector.get_map().get(a.fileno())   # no readiness registration
        assert loop._selector._completion_handlers             # one request in flight
        b.send(b"hello")
        return await task

    assert run(main) == b"hello"


def test_readiness_only_loop_polls(pair):
    a, b = pair

    async def main(loop):
        task = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        assert a.fileno() in loop._selector.get_map()
        b.send(b"hi")
        return await task

    assert run(main, completion=False) == b"hi"


def test_recv_into_holds_an_export(pair):
    a, b = pair
    buf = bytearray(8)

    async def main(loop):
        task = asyncio.ensure_future(loop.sock_recv_into(a, buf))
        await asyncio.sleep(0.01)
        with pytest.raises(BufferError):
            buf.extend(b"moved")   # the kernel may write here: no resize
        b.send(b"abc")
        n = await task
        buf.extend(b"!")           # released with the CQE
        return n

    assert run(main) == 3 and buf[:3] == b"abc"


def test_cancel_submits_async_cancel_and_loses_no_data(pair):
    a, b = pair

    async def main(loop):
        task = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.01)
        assert not loop._selector._completion_handlers   # the CQE came back
        b.send(b"later")
        return await loop.sock_recv(a, 100)

    assert run(main) == b"later"


def test_data_of_a_request_completed_after_cancel_goes_to_the_next_recv(pair):
    a, b = pair

    async def main(loop):
        task = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        b.send(b"raced")
        task.cancel()   # the CQE with the data is already in the CQ
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.01)
        return await loop.sock_recv(a, 3), await loop.sock_recv(a, 100)

    assert run(main) == (b"rac", b"ed")


def test_sendall_larger_than_the_socket_buffer(pair):
    a, b = pair
    data = bytes(range(256)) * 8192   # 2 MiB: many partial sends

    async def main(loop):
        async def reader():
            got = bytearray()
            while len(got) < len(data):
                got += await loop.sock_recv(b, 65536)
            return bytes(got)
        task = asyncio.ensure_future(reader())
        await loop.sock_sendall(a, data)
        return await task

    assert run(main) == data


def test_accept_connect_and_errors():
    srv = socket.create_server(("127.0.0.1", 0))
    srv.setblocking(False)
    port = srv.getsockname()[1]
    closed = socket.create_server(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()

    async def main(loop):
        acc = asyncio.ensure_future(loop.sock_accept(srv))
        await asyncio.sleep(0.01)
        c = socket.socket()
        c.setblocking(False)
        await loop.sock_connect(c, ("localhost", port))   # resolved like the stdlib
        conn, addr = await acc
        assert conn.getblocking() is False and addr == c.getsockname()
        await loop.sock_sendall(c, b"ping")
        assert await loop.sock_recv(conn, 4) == b"ping"
        d = socket.socket()
        d.setblocking(False)
        with pytest.raises(ConnectionRefusedError):
            await loop.sock_connect(d, ("127.0.0.1", dead_port))
        for s in (c, d, conn):
            s.close()

    try:
        run(main)
    finally:
        srv.close()


def test_cancelled_accept_keeps_the_connection_for_the_next():
    srv = socket.create_server(("127.0.0.1", 0))
    srv.setblocking(False)

    async def main(loop):
        acc = asyncio.ensure_future(loop.sock_accept(srv))
        await asyncio.sleep(0.01)
        c = socket.create_connection(srv.getsockname())
        acc.cancel()   # the accept's CQE is already on its way
        with pytest.raises(asyncio.CancelledError):
            await acc
        await asyncio.sleep(0.01)
        conn, addr = await asyncio.wait_for(loop.sock_accept(srv), 2)
        assert addr == c.getsockname()
        conn.close()
        c.close()

    try:
        run(main)
    finally:
        srv.close()


def test_close_loop_with_requests_in_flight(pair):
    a, b = pair
    loop = uring.loop.EventLoop()
    task = loop.create_task(loop.sock_recv(a, 100))
    loop.run_until_complete(asyncio.sleep(0.01))
    assert loop._selector._completion_handlers
    task.cancel()
    loop.close()
    assert loop._selector is None or loop._selector.ring.closed
