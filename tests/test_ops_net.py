"""Socket operations against the real kernel (loopback and socketpairs), one test per operation."""

import array
import errno
import gc
import os
import select
import socket
import weakref

import pytest

from kernel_helpers import NEEDS_IO_URING, complete, needs
from uring import abi, ops, recvmsg, register
from uring.buffers import BufferRing
from uring.memory import BufferPool

pytestmark = NEEDS_IO_URING

F_MORE = int(abi.IORING_CQE_F_MORE)
F_NOTIF = int(abi.IORING_CQE_F_NOTIF)
F_BUFFER = int(abi.IORING_CQE_F_BUFFER)
F_SOCK_NONEMPTY = int(abi.IORING_CQE_F_SOCK_NONEMPTY)


@pytest.fixture
def listener():
    with socket.create_server(("127.0.0.1", 0), backlog=16) as s:
        yield s


@pytest.fixture
def tcp_pair(listener):
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    with client, server:
        yield client, server


@pytest.fixture
def unix_pair():
    a, b = socket.socketpair()
    with a, b:
        yield a, b


@pytest.fixture
def udp_pair():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx.bind(("127.0.0.1", 0))
    with rx, tx:
        yield rx, tx


@needs("socket")
def test_socket(ring):
    ops.socket(ring, 1, socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    fd = complete(ring)[0].result()
    with socket.socket(fileno=fd) as s:
        assert s.family == socket.AF_INET and s.type == socket.SOCK_STREAM
    ops.socket(ring, 2, 12345, socket.SOCK_STREAM)
    assert complete(ring)[0].res == -errno.EAFNOSUPPORT


@needs("socket_direct", "bind", "listen", "close_direct")
def test_socket_direct_bind_listen_fixed(ring):
    register.register_files_sparse(ring, 4)
    ops.socket_direct(ring, 1, socket.AF_INET, socket.SOCK_STREAM, file_index=3)
    assert complete(ring)[0].res == 0
    ops.socket_direct(ring, 2, socket.AF_INET, socket.SOCK_STREAM)  # kernel picks
    assert complete(ring)[0].result() in (0, 1, 2)
    fixed = abi.IOSQE_FIXED_FILE
    # A direct socket has no fd: bind and listen through the ring, then connect to it.
    probe_sock = socket.create_server(("127.0.0.1", 0))
    port = probe_sock.getsockname()[1]
    probe_sock.close()
    ops.bind(ring, 3, 3, ("127.0.0.1", port), sqe_flags=fixed)
    ops.listen(ring, 4, 3, 8, sqe_flags=fixed)
    res = {c.user_data: c.res for c in complete(ring, 2)}
    assert res == {3: 0, 4: 0}
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    ops.close_direct(ring, 5, 3)
    assert complete(ring)[0].res == 0


@needs("bind", "listen")
def test_bind_and_listen(ring):
    with socket.socket() as s:
        ops.bind(ring, 1, s.fileno(), ("127.0.0.1", 0))
        assert complete(ring)[0].res == 0
        host, port = s.getsockname()
        assert host == "127.0.0.1" and port > 0
        ops.listen(ring, 2, s.fileno(), 4)
        assert complete(ring)[0].res == 0
        with socket.create_connection((host, port), timeout=2):
            conn, _ = s.accept()
            conn.close()
        ops.bind(ring, 3, s.fileno(), ("127.0.0.1", 0))  # already bound
        assert complete(ring)[0].res == -errno.EINVAL


@needs("connect")
def test_connect(ring, listener):
    with socket.socket() as s:
        ops.connect(ring, 1, s.fileno(), listener.getsockname())
        assert complete(ring)[0].res == 0
        conn, peer = listener.accept()
        conn.close()
        assert peer == s.getsockname()
    with socket.socket() as s:
        closed = socket.create_server(("127.0.0.1", 0))
        addr = closed.getsockname()
        closed.close()
        ops.connect(ring, 2, s.fileno(), addr)
        assert complete(ring)[0].res == -errno.ECONNREFUSED


@needs("accept")
def test_accept_with_peer_address(ring, listener):
    peer = ops.SockaddrBuffer()
    ops.accept(ring, 1, listener.fileno(), flags=socket.SOCK_CLOEXEC, peer=peer)
    ring.submit()
    with socket.create_connection(listener.getsockname()) as client:
        fd = complete(ring)[0].result()
        with socket.socket(fileno=fd) as conn:
            assert peer.address() == client.getsockname()
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"


@needs("accept_multishot", "async_cancel")
def test_accept_multishot_then_cancel(ring, listener):
    ops.accept_multishot(ring, 1, listener.fileno())
    ring.submit()
    clients = [socket.create_connection(listener.getsockname()) for _ in range(3)]
    try:
        cqes = complete(ring, 3)
        assert all(c.user_data == 1 and c.res >= 0 and c.flags & F_MORE for c in cqes)
        for c in cqes:
            os.close(c.res)
        ops.async_cancel(ring, 2, 1)
        by_ud = {c.user_data: c for c in complete(ring, 2)}
        assert by_ud[2].res == 0
        assert by_ud[1].res == -errno.ECANCELED and not by_ud[1].flags & F_MORE
    finally:
        for c in clients:
            c.close()


@needs("accept_direct", "recv")
def test_accept_direct(ring, listener):
    register.register_files_sparse(ring, 4)
    ops.accept_direct(ring, 1, listener.fileno(), file_index=2)
    ops.accept_direct(ring, 2, listener.fileno())  # IORING_FILE_INDEX_ALLOC
    ring.submit()
    with socket.create_connection(listener.getsockname()) as c1, \
            socket.create_connection(listener.getsockname()) as c2:
        res = {c.user_data: c.res for c in complete(ring, 2)}
        assert res[1] == 0 and res[2] in (0, 1, 3)
        c1.sendall(b"direct")
        buf = bytearray(16)
        ops.recv(ring, 3, 2, buf, sqe_flags=abi.IOSQE_FIXED_FILE)
        assert complete(ring)[0].res == 6 and buf[:6] == b"direct"
        del c2


@needs("accept_multishot_direct")
def test_accept_multishot_direct_in_alloc_range(ring, listener):
    register.register_files_sparse(ring, 8)
    register.register_file_alloc_range(ring, 4, 2)  # only slots 4 and 5 are handed out
    ops.accept_multishot_direct(ring, 1, listener.fileno())
    ring.submit()
    clients = [socket.create_connection(listener.getsockname()) for _ in range(3)]
    try:
        cqes = complete(ring, 3)
        assert [c.res for c in cqes[:2]] == [4, 5] and all(c.flags & F_MORE for c in cqes[:2])
        # The range is full: the third connection ends the multishot request.
        assert cqes[2].res == -errno.ENFILE and not cqes[2].flags & F_MORE
    finally:
        for c in clients:
            c.close()


@needs("shutdown", "recv")
def test_shutdown(ring, tcp_pair):
    client, server = tcp_pair
    ops.shutdown(ring, 1, client.fileno(), socket.SHUT_WR)
    assert complete(ring)[0].res == 0
    assert server.recv(16) == b""  # EOF
    with pytest.raises(ValueError, match="how"):
        ops.shutdown(ring, 2, client.fileno(), 7)


@needs("send", "recv")
def test_send_and_recv(ring, unix_pair):
    a, b = unix_pair
    ops.send(ring, 1, a.fileno(), b"hello world", nbytes=5)
    assert complete(ring)[0].res == 5
    buf = bytearray(32)
    ops.recv(ring, 2, b.fileno(), buf)
    assert complete(ring)[0].res == 5 and buf[:5] == b"hello"
    # MSG_PEEK leaves the data; MSG_DONTWAIT on an empty socket gives EAGAIN.
    a.sendall(b"peek")
    ops.recv(ring, 3, b.fileno(), buf, flags=socket.MSG_PEEK)
    assert complete(ring)[0].res == 4 and b.recv(4) == b"peek"
    ops.recv(ring, 4, b.fileno(), buf, flags=socket.MSG_DONTWAIT)
    assert complete(ring)[0].res == -errno.EAGAIN
    # IORING_RECVSEND_POLL_FIRST on a send: waits for room first (there is room).
    ops.send(ring, 5, a.fileno(), b"polled", poll_first=True)
    assert complete(ring)[0].res == 6 and b.recv(6) == b"polled"


@needs("send")
def test_send_with_destination(ring, udp_pair):
    rx, tx = udp_pair
    ops.send(ring, 1, tx.fileno(), b"datagram", dest=rx.getsockname())
    assert complete(ring)[0].res == 8
    data, sender = rx.recvfrom(64)
    assert data == b"datagram" and sender == tx.getsockname()


@needs("recv")
def test_recv_reports_sock_nonempty(ring, tcp_pair):
    client, server = tcp_pair
    client.sendall(bytes(range(64)))
    select.select([server], [], [], 2)  # all 64 bytes are queued on loopback
    buf = bytearray(64)
    ops.recv(ring, 1, server.fileno(), buf, nbytes=16)
    (cqe,) = complete(ring)
    # IORING_CQE_F_SOCK_NONEMPTY: 48 bytes are still queued after this receive.
    assert cqe.res == 16 and cqe.flags & F_SOCK_NONEMPTY and cqe.sock_nonempty
    ops.recv(ring, 2, server.fileno(), buf)
    (cqe,) = complete(ring)
    assert cqe.res == 48 and not cqe.flags & F_SOCK_NONEMPTY and not cqe.sock_nonempty
    assert bytes(buf[:48]) == bytes(range(16, 64))


@needs("recv")
def test_recv_poll_first(ring, unix_pair):
    a, b = unix_pair
    buf = bytearray(8)
    ops.recv(ring, 1, b.fileno(), buf, poll_first=True)
    ring.submit()
    assert ring.copy_cqes() == []
    a.sendall(b"later")
    assert complete(ring)[0].res == 5 and buf[:5] == b"later"


@needs("recv")
def test_recv_buffer_select(ring, unix_pair):
    a, b = unix_pair
    with BufferRing(ring, 3, 4, 32) as group:
        a.sendall(b"selected")
        ops.recv(ring, 1, b.fileno(), None, buf_group=3)
        (cqe,) = complete(ring)
        assert cqe.flags & F_BUFFER and cqe.res == 8
        assert bytes(group.take(cqe)) == b"selected"
        group.recycle(cqe.buffer_id)


@needs("recv_multishot")
def test_recv_multishot(ring, unix_pair):
    a, b = unix_pair
    with BufferRing(ring, 4, 8, 64) as group:
        ops.recv_multishot(ring, 1, b.fileno(), buf_group=4)
        ring.submit()
        got = []
        for msg in (b"one", b"two", b"three"):
            a.sendall(msg)
            (cqe,) = complete(ring)
            assert cqe.flags & F_MORE and cqe.flags & F_BUFFER
            got.append(bytes(group.take(cqe)))
            group.recycle(cqe.buffer_id)
        assert got == [b"one", b"two", b"three"]
        a.close()  # EOF ends the request: res 0, no F_MORE
        (cqe,) = complete(ring)
        assert cqe.res == 0 and not cqe.flags & F_MORE


@needs("recv")
def test_recv_bundle(ring, unix_pair):
    if not ring.features & abi.IORING_FEAT_RECVSEND_BUNDLE:
        pytest.skip("IORING_FEAT_RECVSEND_BUNDLE needs Linux 6.10")
    a, b = unix_pair
    with BufferRing(ring, 5, 8, 16) as group:
        a.sendall(bytes(range(40)))  # 16 + 16 + 8 bytes: three buffers
        parts = []
        cqes = []
        while sum(len(v) for _, v in parts) < 40 and len(cqes) < 5:
            ops.recv(ring, 1, b.fileno(), None, buf_group=5, bundle=True)
            (cqe,) = complete(ring)
            cqes.append(cqe)
            parts += group.take_bundle(cqe)
        # One CQE covered several buffers (6.18 takes two on the first try and
        # says more is queued with F_SOCK_NONEMPTY).
        assert cqes[0].res > 16
        assert [len(v) for _, v in parts] == [16, 16, 8]
        assert b"".join(bytes(v) for _, v in parts) == bytes(range(40))
        assert [bid for bid, _ in parts] == [0, 1, 2]
        for bid, _ in parts:
            group.add(bid)
        group.advance()
        assert group.in_kernel == 8


@needs("send")
def test_send_bundle_from_buffer_group(ring, unix_pair):
    if not ring.features & abi.IORING_FEAT_RECVSEND_BUNDLE:
        pytest.skip("IORING_FEAT_RECVSEND_BUNDLE needs Linux 6.10")
    a, b = unix_pair
    group = BufferRing(ring, 6, 4, 8)
    try:
        for bid in range(4):
            group.view[bid * 8:(bid + 1) * 8] = bytes([65 + bid]) * 8
        ops.send(ring, 1, a.fileno(), None, buf_group=6, bundle=True)
        (cqe,) = complete(ring)
        assert cqe.res == 32 and cqe.flags & F_BUFFER
        assert b.recv(64) == b"AAAAAAAABBBBBBBBCCCCCCCCDDDDDDDD"
        assert [bid for bid, _ in group.take_bundle(cqe)] == [0, 1, 2, 3]
    finally:
        group.close()


@needs("sendmsg", "recvmsg")
def test_sendmsg_and_recvmsg_udp(ring, udp_pair):
    rx, tx = udp_pair
    out = ops.Msghdr([b"scatter ", b"gather"], address=rx.getsockname())
    ops.sendmsg(ring, 1, tx.fileno(), out)
    assert complete(ring)[0].res == 14
    a, b = bytearray(4), bytearray(32)
    msg = ops.Msghdr([a, b], name_size=ops.SOCKADDR_STORAGE_SIZE, writable=True)
    ops.recvmsg(ring, 2, rx.fileno(), msg)
    assert complete(ring)[0].res == 14
    assert bytes(a + b[:10]) == b"scatter gather"
    assert msg.address() == tx.getsockname()


@needs("sendmsg", "recvmsg")
def test_sendmsg_passes_a_file_descriptor(ring, unix_pair, tmp_path):
    a, b = unix_pair
    path = tmp_path / "passed"
    path.write_bytes(b"via SCM_RIGHTS")
    fd = os.open(path, os.O_RDONLY)
    try:
        fds = array.array("i", [fd])
        out = ops.Msghdr([b"x"], ancillary=[(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        ops.sendmsg(ring, 1, a.fileno(), out)
        assert complete(ring)[0].res == 1
        msg = ops.Msghdr([bytearray(1)], control_size=socket.CMSG_SPACE(4), writable=True)
        ops.recvmsg(ring, 2, b.fileno(), msg)
        assert complete(ring)[0].res == 1
        ((level, kind, data),) = msg.ancillary()
        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        got = array.array("i", data)[0]
        assert os.read(got, 64) == b"via SCM_RIGHTS"
        os.close(got)
    finally:
        os.close(fd)


@needs("recvmsg_multishot")
def test_recvmsg_multishot_udp_parsed(ring, udp_pair):
    rx, tx = udp_pair
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    size = 64
    with other, BufferRing(ring, 7, 8, size) as group:
        msg = ops.Msghdr(name_size=16)  # sockaddr_in
        # MSG_TRUNC in flags: payloadlen reports a datagram's full length.
        ops.recvmsg_multishot(ring, 1, rx.fileno(), msg, buf_group=7, flags=socket.MSG_TRUNC)
        ring.submit()
        dest = rx.getsockname()
        tx.sendto(b"first", dest)
        other.sendto(b"second", dest)
        tx.sendto(b"x" * 100, dest)  # longer than the payload room: truncated
        cqes = complete(ring, 3)
        assert all(c.flags & F_MORE and c.flags & F_BUFFER for c in cqes)
        parsed = [recvmsg.parse(group.take(c), msg) for c in cqes]
        assert [(bytes(p.payload), p.address) for p in parsed[:2]] == [
            (b"first", tx.getsockname()), (b"second", other.getsockname())]
        assert all(not p.truncated and p.namelen == 16 for p in parsed[:2])
        last = parsed[2]
        assert last.truncated and last.flags & socket.MSG_TRUNC
        assert last.payloadlen == 100 and len(last.payload) == size - recvmsg.HEADER_SIZE - 16
        ops.async_cancel(ring, 2, 1)
        res = {c.user_data: c for c in complete(ring, 2)}
        assert res[1].res == -errno.ECANCELED and not res[1].flags & F_MORE


@needs("send_zc")
def test_send_zc_two_cqes_and_buffer_lifetime(ring, tcp_pair):
    client, server = tcp_pair

    class Buf(bytearray):
        pass

    buf = Buf(b"zero copy" * 100)
    ref = weakref.ref(buf)
    ops.send_zc(ring, 1, client.fileno(), buf, report_usage=True)
    del buf
    ring.submit()
    first = None
    for _ in range(50):
        ring.submit_and_wait(1, timeout=2)
        cqes = ring.copy_cqes()
        if cqes:
            first = cqes[0]
            rest = cqes[1:]
            break
    assert first is not None and first.res == 900 and first.flags & F_MORE
    assert not first.flags & F_NOTIF
    if not rest:
        gc.collect()
        assert ref() is not None  # kept until the notification
        rest = complete(ring)
    (notif,) = rest
    assert notif.user_data == 1 and notif.flags & F_NOTIF and not notif.flags & F_MORE
    # Loopback cannot send from user pages: the kernel copied, and says so.
    assert notif.res & abi.IORING_NOTIF_USAGE_ZC_COPIED
    gc.collect()
    assert ref() is None
    received = b""
    while len(received) < 900:
        received += server.recv(1000)
    assert received == b"zero copy" * 100


@needs("send_zc")
def test_send_zc_fixed_buffer(ring, tcp_pair):
    client, server = tcp_pair
    pool = BufferPool(1, 4096)
    register.register_buffers(ring, pool)
    pool[0].view[:6] = b"fixed!"
    ops.send_zc(ring, 1, client.fileno(), pool[0], nbytes=6, buf_index=0)
    cqes = complete(ring, 2)
    assert cqes[0].res == 6 and cqes[1].flags & F_NOTIF
    assert server.recv(16) == b"fixed!"


@needs("sendmsg_zc")
def test_sendmsg_zc(ring, udp_pair):
    rx, tx = udp_pair
    msg = ops.Msghdr([b"zc ", b"datagram"], address=rx.getsockname())
    ops.sendmsg_zc(ring, 1, tx.fileno(), msg)
    cqes = complete(ring, 2)
    assert cqes[0].res == 11 and cqes[0].flags & F_MORE
    assert cqes[1].flags & F_NOTIF and not cqes[1].flags & F_MORE
    assert rx.recv(64) == b"zc datagram"


def test_socket_argument_errors(ring):
    with pytest.raises(ValueError, match="numeric IPv4"):
        ops.connect(ring, 1, 0, ("localhost", 80))
    with pytest.raises(TypeError, match="address"):
        ops.bind(ring, 1, 0, 80)
    with pytest.raises(ValueError, match="either buf or buf_group"):
        ops.recv(ring, 1, 0, bytearray(4), buf_group=1)
    with pytest.raises(TypeError, match="msg must be"):
        ops.sendmsg(ring, 1, 0, b"not a msghdr")
    with pytest.raises(TypeError, match="peer"):
        ops.accept(ring, 1, 0, peer=bytearray(128))
    with pytest.raises(ValueError, match="buf_group"):
        ops.recv_multishot(ring, 1, 0, buf_group=70000)
    assert ring.sq_ready() == 0
