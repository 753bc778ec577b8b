"""Buffer-group bookkeeping under random add/consume/recycle orders, across the 2**16 tail wrap.

Properties, checked after every step: no buffer id has two owners (the
program's set and the kernel's never overlap, and the ring never holds an id
twice) and none is lost (together they are all ids). Three consumers:

* a model of the kernel's side of a buffer ring (below): a private u16 head
  that reads the ring memory the program wrote, exactly as the kernel does,
  and can start anywhere -- so every example can straddle the 2**16 wrap;
* the real kernel, driven by READs from a pipe, after a fast-forward of
  ~65k consumptions so the random steps cross the wrap there too;
* the real kernel with provided buffers v1.
"""

import ctypes
import errno
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from uring import Ring, abi, ops, probe
from uring.buffers import BufferOwnershipError, BufferRing, ProvidedBuffers

PROBE = probe.get()
F_BUFFER = int(abi.IORING_CQE_F_BUFFER)
U16 = 0xFFFF


class ModelKernel:
    """The kernel's half of one buffer ring, standing in for the ring ``BufferRing`` registers with.

    ``register(IORING_REGISTER_PBUF_RING)`` records the ring memory and, like
    a kernel whose counters started at ``start``, sets head and tail there.
    :meth:`consume` then takes entries from ``head`` while ``head != tail``,
    reading the tail and the entries from the program's memory.
    """

    def __init__(self, start: int) -> None:
        self.start = start & U16
        self.fd = -1
        self.closed = False
        self.addr = None

    def register(self, opcode, arg=None, nr_args=0):
        if opcode == abi.IORING_REGISTER_PBUF_RING:
            assert arg.flags == 0 and nr_args == 1
            self.addr, self.entries, self.bgid = arg.ring_addr, arg.ring_entries, arg.bgid
            self.head = self.start
            self._tail_word().value = self.start
            return 0
        if opcode == abi.IORING_UNREGISTER_PBUF_RING:
            self.addr = None
            return 0
        raise OSError(errno.EINVAL, f"opcode {opcode} not modelled")

    def _tail_word(self):
        return ctypes.c_uint16.from_address(self.addr + 14)

    def _entry(self, pos):
        return abi.io_uring_buf.from_address(self.addr + (pos & (self.entries - 1)) * 16)

    def window(self) -> list[int]:
        """Ids the kernel can still take: ring positions head..tail-1."""
        tail = self._tail_word().value
        n = (tail - self.head) & U16
        assert n <= self.entries, "the program published more entries than the ring has"
        return [self._entry(self.head + i).bid for i in range(n)]

    def consume(self, n: int, group, seq: int) -> list[tuple]:
        """Fill up to ``n`` buffers (one CQE each); return ``(cqe, bytes written)`` pairs."""
        out = []
        tail = self._tail_word().value
        while n and self.head != tail:
            e = self._entry(self.head)
            assert e.addr == group.data.address + e.bid * group.size and e.len == group.size
            payload = f"{seq}:{e.bid};".encode()[:group.size]
            ctypes.memmove(e.addr, payload, len(payload))
            out.append(((seq, len(payload), F_BUFFER | e.bid << 16), payload))
            self.head = (self.head + 1) & U16
            n -= 1
            seq += 1
        return out

    def consume_bundle(self, n: int, group, seq: int):
        """One CQE covering up to ``n`` consecutive buffers, the last one half full."""
        tail = self._tail_word().value
        avail = (tail - self.head) & U16
        n = min(n, avail)
        if not n:
            return None, []
        bids = [self._entry(self.head + i).bid for i in range(n)]
        res = (n - 1) * group.size + max(1, group.size // 2)
        self.head = (self.head + n) & U16
        return (seq, res, F_BUFFER | bids[0] << 16), bids


STEP = st.one_of(
    st.tuples(st.just("consume"), st.integers(1, 9)),
    st.tuples(st.just("bundle"), st.integers(1, 9)),
    st.tuples(st.just("recycle"), st.integers(0, 99)),
    st.tuples(st.just("recycle_all"), st.just(0)),
    st.tuples(st.just("advance"), st.just(0)),
    st.tuples(st.just("recycle_twice"), st.integers(0, 99)),
    st.tuples(st.just("recycle_kernel_owned"), st.integers(0, 99)),
)


class Driver:
    """Runs steps against a group and checks ownership after each one."""

    def __init__(self, group, consume, consume_bundle=None):
        self.group = group
        self.consume = consume                  # n -> [(cqe, bytes the buffer must hold)]
        self.consume_bundle = consume_bundle    # n -> (cqe, expected bids) or None
        self.program = set()                    # ids the test holds
        self.staged = 0
        self.seq = 0
        self.all = set(range(group.count))

    def step(self, action, arg):
        g = self.group
        if action == "consume":
            for cqe, expected in self.consume(arg):
                bid = cqe[2] >> 16
                assert bid not in self.program
                assert bytes(g.take(cqe)) == expected
                self.program.add(bid)
        elif action == "bundle" and self.consume_bundle is not None:
            cqe, bids = self.consume_bundle(arg)
            if cqe is not None:
                got = g.take_bundle(cqe)
                assert [bid for bid, _ in got] == bids
                assert sum(len(v) for _, v in got) == cqe[1]
                assert not self.program & set(bids)
                self.program.update(bids)
        elif action == "recycle" and self.program:
            bid = sorted(self.program)[arg % len(self.program)]
            g.add(bid)
            self.program.discard(bid)
            self.staged += 1
        elif action == "recycle_all":
            for bid in sorted(self.program):
                g.add(bid)
            self.staged += len(self.program)
            self.program.clear()
            g.advance()
            self.staged = 0
        elif action == "advance":
            g.advance()
            self.staged = 0
        elif action == "recycle_twice" and self.program:
            bid = sorted(self.program)[arg % len(self.program)]
            g.add(bid)
            self.program.discard(bid)
            self.staged += 1
            with pytest.raises(BufferOwnershipError):
                g.add(bid)
        elif action == "recycle_kernel_owned" and self.program != self.all:
            kernel = sorted(self.all - self.program)
            with pytest.raises(BufferOwnershipError):
                g.add(kernel[arg % len(kernel)])
        self.check()

    def check(self):
        g = self.group
        assert set(g.held_by_program()) == self.program
        assert set(g.held_by_kernel()) == self.all - self.program
        assert g.in_kernel == len(self.all) - len(self.program)


def drain_all(driver, consume):
    """Give everything back, then take everything: every id comes out exactly once."""
    driver.step("recycle_all", 0)
    got = []
    for cqe, expected in consume(driver.group.count + 1):
        got.append(cqe[2] >> 16)
        assert bytes(driver.group.take(cqe)) == expected
    assert sorted(got) == sorted(driver.all)


# -- against the model of the kernel ------------------------------------------------------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.sampled_from([1, 2, 4, 8, 16]), data=st.data(),
       start=st.one_of(st.integers(U16 - 40, U16), st.integers(0, U16)),
       steps=st.lists(STEP, max_size=80))
def test_buffer_ring_against_model(entries, data, start, steps):
    count = data.draw(st.integers(1, entries), label="count")
    kernel = ModelKernel(start)
    group = BufferRing(kernel, 1, entries, 24, count=count)
    assert group.tail == (start + count) & U16
    driver = Driver(group, None)

    def consume(n):
        cqes = kernel.consume(n, group, driver.seq)
        driver.seq += len(cqes)
        return cqes

    def consume_bundle(n):
        cqe, bids = kernel.consume_bundle(n, group, driver.seq)
        driver.seq += 1
        return cqe, bids

    driver.consume, driver.consume_bundle = consume, consume_bundle
    for action, arg in steps:
        driver.step(action, arg)
        window = kernel.window()
        # The ring never holds an id twice, nor one the program holds; with the
        # staged ones it is exactly what the kernel owns.
        assert len(window) == len(set(window))
        assert not set(window) & driver.program
        assert len(window) + driver.staged == len(driver.all - driver.program)
    drain_all(driver, consume)
    group.close()


def test_model_wraps_the_tail():
    """A fixed walk across 2**16 in the model, so the wrap is always exercised."""
    kernel = ModelKernel(U16 - 2)
    group = BufferRing(kernel, 1, 4, 16)
    driver = Driver(group, None)
    driver.consume = lambda n: kernel.consume(n, group, 0)
    for _ in range(4):
        driver.step("consume", 3)
        driver.step("recycle_all", 0)
    assert group.tail == (U16 - 2 + 4 + 12) & U16 == 13
    drain_all(driver, driver.consume)


# -- against the kernel ------------------------------------------------------------------

kernel_only = pytest.mark.skipif(not PROBE.usable, reason=f"io_uring unusable: {PROBE.reason}")


def collect(ring, n):
    """Submit and gather exactly ``n`` CQEs, waiting at most a few seconds in all."""
    cqes = []
    for _ in range(10):
        ring.submit_and_wait(n - len(cqes), timeout=0.5)
        cqes += ring.copy_cqes()
        if len(cqes) >= n:
            assert len(cqes) == n
            return cqes
    raise AssertionError(f"{len(cqes)} of {n} CQEs arrived")


def fast_forward(ring, group, zero_fd, target):
    """Consume and recycle with /dev/zero READs until the kernel's head is ``target``."""
    done = 0
    bgid = group.bgid
    while done < target:
        n = min(group.count, target - done, ring.sq_entries)
        for i in range(n):
            ops.read(ring, i, zero_fd, None, nbytes=group.size, buf_group=bgid)
        cqes = collect(ring, n)
        assert all(c.res == group.size for c in cqes)
        for c in cqes:
            group.take(c)
            group.add(c.buffer_id)
        group.advance()
        done += n
    return done


@kernel_only
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.sampled_from([4, 8, 32]), data=st.data(),
       before_wrap=st.integers(0, 40), steps=st.lists(STEP, min_size=5, max_size=60))
def test_buffer_ring_against_kernel(entries, data, before_wrap, steps):
    count = data.draw(st.integers(1, entries), label="count")
    size = 32
    with Ring(64) as ring:
        zero = os.open("/dev/zero", os.O_RDONLY)
        r, w = os.pipe2(os.O_NONBLOCK)
        try:
            group = BufferRing(ring, 2, entries, size, count=count)
            consumed = fast_forward(ring, group, zero, 0x10000 - before_wrap)
            assert group.kernel_head() == consumed & U16
            driver = Driver(group, None)

            def consume(n):
                nonlocal consumed
                n = min(n, 40)
                seqs = range(driver.seq, driver.seq + n)
                for seq in seqs:
                    os.write(w, f"{seq}:".encode().ljust(size, b"."))
                    ops.read(ring, seq, r, None, nbytes=size, buf_group=2)
                driver.seq += n
                cqes = collect(ring, n)
                for c in cqes:
                    assert c.res == size or c.res == -errno.ENOBUFS
                # A read without a buffer leaves its chunk in the pipe: drain it.
                try:
                    os.read(r, 1 << 16)
                except BlockingIOError:
                    pass
                ok = [(c, f"{c.user_data}:".encode().ljust(size, b".")) for c in cqes
                      if c.res > 0]
                consumed += len(ok)
                return ok

            driver.consume = consume
            for action, arg in steps:
                driver.step(action, arg)
                head = group.kernel_head()
                assert head == consumed & U16
                # Published and not yet taken: exactly the kernel's minus the staged.
                assert (group.tail - head) & U16 == group.in_kernel - driver.staged
            # Whatever the steps did, go on through the wrap before the final check.
            while consumed <= 0x10000:
                driver.step("recycle_all", 0)
                driver.step("consume", count)
            drain_all(driver, consume)
            assert group.kernel_head() == consumed & U16 < consumed
            group.close()
        finally:
            for fd in (zero, r, w):
                os.close(fd)


@kernel_only
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(1, 12), steps=st.lists(STEP, max_size=50))
def test_provided_buffers_against_kernel(count, steps):
    size = 16
    with Ring(64) as ring:
        zero = os.open("/dev/zero", os.O_RDONLY)
        try:
            group = ProvidedBuffers(ring, 3, count, size)
            ring.submit()
            driver = Driver(group, None)

            def consume(n):
                group.advance()
                ring.submit()
                for i in range(n):
                    ops.read(ring, driver.seq + i, zero, None, nbytes=size, buf_group=3)
                cqes = collect(ring, n)
                driver.seq += n
                for c in cqes:
                    assert c.res == size or c.res == -errno.ENOBUFS
                return [(c, bytes(size)) for c in cqes if c.res > 0]

            driver.consume = consume
            for action, arg in steps:
                driver.step(action, arg)
            group.advance()
            ring.submit()
            # Never lost, never doubled: the kernel holds exactly what the group says.
            ops.remove_buffers(ring, 1, 0xFFFF, 3)
            (cqe,) = collect(ring, 1)
            assert cqe.res == group.in_kernel
        finally:
            os.close(zero)
