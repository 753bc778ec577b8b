"""Random requests, closes, forks, threads and resizes against a heap canary (issue 10).

The canary: after every step that drops a buffer, fresh ``bytearray`` objects
of the same size filled with a pattern take the freed memory. Data the kernel
writes (a different pattern) into memory Python released would show up in
one of them; every step checks that none changed.
"""

import os
import socket
import threading
import warnings

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lifetime_helpers import needs_io_uring
from uring import Ring, ops

pytestmark = needs_io_uring

SIZE = 256
CANARY = 0x5A
DATA = 0xEE
PAIRS = 3


class Lifetimes(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.ring = Ring(16)
        self.pairs = [socket.socketpair() for _ in range(PAIRS)]
        self.pipe = os.pipe()
        self.pending = {}   # source index (PAIRS = the pipe) -> user_data
        self.held = []      # buffers we still reference, possibly in flight
        self.canaries = []
        self.next_ud = 1
        self.children = []

    def _ud(self):
        self.next_ud += 1
        return self.next_ud

    def _fresh_canaries(self):
        self.canaries += [bytearray([CANARY]) * SIZE for _ in range(64)]

    def _reap(self, timeout=0.0):
        try:
            cqes = self.ring.wait(0 if not timeout else 1, timeout=timeout) \
                if timeout else self.ring.copy_cqes()
        except OSError:
            cqes = []
        done = {c.user_data for c in cqes if not c.more}
        self.pending = {k: v for k, v in self.pending.items() if v not in done}

    @rule(src=st.integers(0, PAIRS), keep=st.booleans())
    def receive(self, src, keep):
        if src in self.pending:
            return
        buf = bytearray(SIZE)
        ud = self._ud()
        if src == PAIRS:
            ops.read(self.ring, ud, self.pipe[0], buf)
        else:
            ops.recv(self.ring, ud, self.pairs[src][0].fileno(), buf)
        self.ring.submit()
        self.pending[src] = ud
        if keep:
            self.held.append(buf)
        del buf
        self._fresh_canaries()

    @rule(src=st.integers(0, PAIRS), n=st.integers(1, SIZE))
    def send(self, src, n):
        if src == PAIRS:
            os.write(self.pipe[1], bytes([DATA]) * n)
        else:
            self.pairs[src][1].send(bytes([DATA]) * n)
        if src in self.pending:
            self._reap(timeout=1.0)

    @precondition(lambda self: self.held)
    @rule()
    def resize(self):
        buf = self.held.pop()
        try:
            buf.extend(b"resized")
        except BufferError:
            self.held.append(buf)  # still in flight: the export refused it
        self._fresh_canaries()

    @rule()
    def close_and_reopen(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            self.ring.close()
        self.ring = Ring(16)
        self.pending = {}
        self.held = []
        self._fresh_canaries()
        self._drain_sources()

    @rule()
    def fork(self):
        pid = os.fork()
        if pid == 0:
            os._exit(0)  # holds the inherited ring for a moment only
        self.children.append(pid)

    @rule()
    def thread_waits(self):
        def waiter(ring=self.ring):
            try:
                ring.wait(1, timeout=0.02)
            except Exception:
                pass
        t = threading.Thread(target=waiter)
        t.start()
        t.join(5)

    def _drain_sources(self):
        for a, _ in self.pairs:
            a.setblocking(False)
            try:
                while a.recv(4096):
                    pass
            except BlockingIOError:
                pass
            a.setblocking(True)
        os.set_blocking(self.pipe[0], False)
        try:
            while os.read(self.pipe[0], 4096):
                pass
        except BlockingIOError:
            pass
        os.set_blocking(self.pipe[0], True)

    @invariant()
    def canaries_intact(self):
        for c in self.canaries:
            assert c.count(CANARY) == len(c), "the kernel wrote into memory Python had freed"
        for buf in self.held:
            assert set(buf) <= {0, DATA} or len(buf) > SIZE

    def teardown(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            self.ring.close()
        # Data for requests the close cancelled must land nowhere.
        for _, b in self.pairs:
            b.send(bytes([DATA]) * SIZE)
        os.write(self.pipe[1], bytes([DATA]) * SIZE)
        self._fresh_canaries()
        self.canaries_intact()
        for pid in self.children:
            os.waitpid(pid, 0)
        for a, b in self.pairs:
            a.close()
            b.close()
        os.close(self.pipe[0])
        os.close(self.pipe[1])


Lifetimes.TestCase.settings = settings(max_examples=12, stateful_step_count=12, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
test_lifetimes = Lifetimes.TestCase
