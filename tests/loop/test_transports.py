"""CompletionTransport: multishot receive, SEND queue, flow control, half-close, abort."""

import asyncio
import errno
import socket
import struct

import pytest

import uring.loop
from uring import probe
from uring.loop import events
from uring.loop.transports import CompletionTransport

PROBE = probe.get()
pytestmark = pytest.mark.skipif(
    not PROBE.usable or PROBE.version < events._MULTISHOT_RECV,
    reason=f"needs io_uring with multishot receive (6.0): {PROBE.reason or PROBE.release}")


class Recorder(asyncio.Protocol):
    def __init__(self):
        self.data = bytearray()
        self.events = []
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data
        self.events.append("data")

    def eof_received(self):
        self.events.append("eof")
        return True   # keep the write side open

    def pause_writing(self):
        self.events.append("pause_writing")

    def resume_writing(self):
        self.events.append("resume_writing")

    def connection_lost(self, exc):
        self.lost.set_result(exc)


async def connected():
    """A CompletionTransport (with its Recorder) and the raw peer socket."""
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    b.setblocking(False)
    transport, proto = await loop.connect_accepted_socket(Recorder, a)
    assert isinstance(transport, CompletionTransport)
    await asyncio.sleep(0)
    return transport, proto, b


async def until(predicate, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.001)


def test_receive_echo_and_eof():
    async def main():
        transport, proto, peer = await connected()
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(peer, b"hello")
        await until(lambda: proto.data == b"hello")
        peer.shutdown(socket.SHUT_WR)
        await until(lambda: "eof" in proto.events)
        transport.write(b"after eof")   # eof_received returned True: still writable
        assert await loop.sock_recv(peer, 100) == b"after eof"
        transport.close()
        assert await proto.lost is None
        assert await loop.sock_recv(peer, 100) == b""
        peer.close()
    uring.loop.run(main())


def test_pause_reading_holds_data_until_resume():
    async def main():
        transport, proto, peer = await connected()
        loop = asyncio.get_running_loop()
        transport.pause_reading()
        assert not transport.is_reading()
        await loop.sock_sendall(peer, b"while paused")
        await asyncio.sleep(0.05)
        assert proto.data == b""
        transport.resume_reading()
        await until(lambda: proto.data == b"while paused")
        await loop.sock_sendall(peer, b"+more")
        await until(lambda: proto.data == b"while paused+more")
        transport.close()
        await proto.lost
        peer.close()
    uring.loop.run(main())


def test_write_buffer_limits_pause_and_resume_writing():
    async def main():
        transport, proto, peer = await connected()
        loop = asyncio.get_running_loop()
        transport.set_write_buffer_limits(high=64 * 1024)
        chunk = b"z" * (1 << 20)
        transport.write(chunk)   # the socket takes part; the rest is a SEND in flight
        assert transport.get_write_buffer_size() > 0
        assert proto.events[-1] == "pause_writing"
        got = 0
        while got < len(chunk):
            got += len(await loop.sock_recv(peer, 1 << 20))
        await until(lambda: transport.get_write_buffer_size() == 0)
        assert proto.events[-1] == "resume_writing"
        transport.close()
        await proto.lost
        peer.close()
    uring.loop.run(main())


def test_write_eof_after_queued_data():
    async def main():
        transport, proto, peer = await connected()
        loop = asyncio.get_running_loop()
        data = b"q" * (4 << 20)
        transport.write(data)
        transport.write_eof()          # the shutdown waits for the queue
        with pytest.raises(RuntimeError):
            transport.write(b"x")
        got = bytearray()
        while chunk := await loop.sock_recv(peer, 1 << 20):
            got += chunk
        assert got == data
        transport.close()
        await proto.lost
        peer.close()
    uring.loop.run(main())


def test_abort_with_a_send_in_flight_and_peer_reset():
    async def main():
        transport, proto, peer = await connected()
        transport.write(b"w" * (8 << 20))
        assert transport.get_write_buffer_size() > 0
        transport.abort()
        assert await proto.lost is None
        assert transport.is_closing()
        peer.close()

        loop = asyncio.get_running_loop()
        with socket.create_server(("127.0.0.1", 0)) as srv:
            client = socket.create_connection(srv.getsockname())
            conn, _ = srv.accept()
        transport, proto = await loop.connect_accepted_socket(Recorder, conn)
        await asyncio.sleep(0.01)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()                  # RST: the receive ends with ECONNRESET
        assert isinstance(await asyncio.wait_for(proto.lost, 5), ConnectionResetError)
    uring.loop.run(main())


def test_buffer_ring_running_dry_rearms(monkeypatch):
    """With 2 receive buffers, -ENOBUFS ends a receive; it is re-armed and nothing is lost."""
    monkeypatch.setattr(events, "_BUFFERS", 2)
    monkeypatch.setattr(events, "_BUFFER_SIZE", 64)
    ended = []
    on_recv = CompletionTransport._on_recv

    def record(self, res, flags):
        ended.append(res)
        on_recv(self, res, flags)

    monkeypatch.setattr(CompletionTransport, "_on_recv", record)

    async def main():
        loop = asyncio.get_running_loop()
        pairs = [await connected() for _ in range(8)]
        for i, (_, _, peer) in enumerate(pairs):
            await loop.sock_sendall(peer, bytes([65 + i]) * 1000)
        for i, (_, proto, _) in enumerate(pairs):
            await until(lambda: len(proto.data) == 1000)
            assert proto.data == bytes([65 + i]) * 1000
        assert -errno.ENOBUFS in ended
        for transport, proto, peer in pairs:
            transport.close()
            await proto.lost
            peer.close()
    uring.loop.run(main())


def test_readiness_transport_without_completion():
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, a)
        assert not isinstance(transport, CompletionTransport)
        transport.close()
        b.close()
    loop = uring.loop.EventLoop(completion=False)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def test_close_loop_with_receives_armed():
    loop = uring.loop.EventLoop()
    a, b = socket.socketpair()
    transport, _ = loop.run_until_complete(loop.connect_accepted_socket(asyncio.Protocol, a))
    loop.run_until_complete(asyncio.sleep(0.01))
    assert loop._selector._completion_handlers   # the multishot receive is armed
    transport.abort()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    assert loop.ring.closed if loop._selector else True
    b.close()


def test_pause_reading_pushes_back_at_once():
    """The receive is cancelled in the kernel right away: the peer's sends block."""
    async def main():
        transport, proto, peer = await connected()
        transport.pause_reading()
        sent = 0
        with pytest.raises(BlockingIOError):
            while sent < 64 << 20:
                sent += peer.send(b"p" * 65536)
        assert sent < 4 << 20   # the socket buffers, not the 16 MiB buffer ring
        transport.resume_reading()
        await until(lambda: len(proto.data) == sent)
        transport.close()
        await proto.lost
        peer.close()
    uring.loop.run(main())
