"""What the tests/test_lifetime_*.py files share: weak-referenceable buffers, reaping, canaries."""

import contextlib
import gc
import signal
import time
import warnings

# The probe and its skip mark are kernel_helpers'; re-exported for these tests.
from kernel_helpers import NEEDS_IO_URING as needs_io_uring  # noqa: F401
from kernel_helpers import PROBE  # noqa: F401


class Buf(bytearray):
    """A bytearray we can hold a weak reference to."""


def reap(ring, n, timeout=5):
    """Exactly ``n`` CQEs, waiting at most ``timeout`` seconds for each batch."""
    got = []
    while len(got) < n:
        more = ring.wait(n - len(got), timeout=timeout)
        assert more, "no CQE in time"
        got += more
    return got


def canaries(size, fill=0xA5, n=200):
    """Fresh objects that take freed memory of ``size`` bytes, filled with ``fill``."""
    return [bytearray([fill]) * size for _ in range(n)]


def intact(cs, fill=0xA5):
    """True if no canary changed."""
    return all(c.count(fill) == len(c) for c in cs)


def unread(sock, data=b"probe"):
    """True if ``data`` sent to ``sock`` is still there to read (no request took it)."""
    time.sleep(0.05)
    sock.setblocking(False)
    try:
        return sock.recv(64) == data
    except BlockingIOError:
        return False


def close_proves_done(ring, sock, peer, alive):
    """Close ``ring`` without any warning; its pending recv on ``sock`` took nothing after."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ring.close()
    peer.send(b"probe")
    assert unread(sock)  # the recv was cancelled: nobody took the bytes
    gc.collect()
    assert alive() is None  # released once its final CQE proved it done


@contextlib.contextmanager
def steady_signal(period=0.005, give_up=4.0):
    """SIGALRM every ``period`` seconds (a handler that returns), for ``give_up`` seconds at most.

    The limit lets code that restarts its wait after every EINTR out eventually.
    Yields a one-item list counting the signals.
    """
    fired = [0]
    start = time.monotonic()

    def handler(signum, frame):
        fired[0] += 1
        if time.monotonic() - start > give_up:
            signal.setitimer(signal.ITIMER_REAL, 0)

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, period, period)
    try:
        yield fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
