"""Buffer-group bookkeeping under random add/consume/recycle orders, across the 2**16 tail wrap.

Properties, checked after every step: no buffer id has two owners (the
program's set and the kernel's never overlap, and the ring never holds an id
twice) and none is lost (together they are all ids). Three consumers:

* the simulator's buffer rings (:class:`uring.sim.SimKernel`), driven by READs
  and RECVs with ``buf_group`` (and bundle RECVs): its private u16 head reads
  the ring memory the program wrote, exactly as the kernel does, and starts
  anywhere (``pbuf_start``) -- so every example can straddle the 2**16 wrap;
* the real kernel, driven by READs from a pipe, after a fast-forward of
  ~65k consumptions so the random steps cross the wrap there too;
* the real kernel with provided buffers v1.
"""

import errno
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from uring import Ring, abi, ops, probe
from uring.buffers import BufferOwnershipError, BufferRing, ProvidedBuffers
from uring.sim import SimKernel, payload

PROBE = probe.get()
F_BUFFER = int(abi.IORING_CQE_F_BUFFER)
U16 = 0xFFFF
BGID = 1


class SimConsumer:
    """Takes buffers from a group through a simulated kernel, one SQE per request.

    ``consume(n)`` issues ``n`` selecting requests (READ and RECV in turn, with
    SQE lengths of 0, the buffer size, more and less) and returns the
    ``(cqe, bytes the buffer must hold)`` pairs of those that got a buffer;
    ``bundle(n)`` issues one bundle RECV for ``n`` buffers' worth and returns
    ``(cqe, expected ids, expected bytes)``, or ``(None, [], b"")`` on an empty
    ring. Both check the CQEs against the ids the ring offered
    (:meth:`SimKernel.pbuf_window`) and count the buffers handed out in
    :attr:`taken`.
    """

    def __init__(self, ring, sim, group, driver):
        self.ring, self.sim, self.group, self.driver = ring, sim, group, driver
        self.taken = 0
        self.ready = {}   # user_data -> how many bytes its source holds (bundles)

    def source(self, fd, user_data, most):
        return payload(user_data, self.ready.pop(user_data, most))

    def expected_len(self, nbytes):
        # 0, or more than the buffer holds, means the buffer's length.
        return nbytes if 0 < nbytes < self.group.size else self.group.size

    def consume(self, n):
        size, window, seq0 = self.group.size, self.sim.pbuf_window(BGID), self.driver.seq
        lengths = (0, size, size + 5, max(1, size // 3))
        for seq in range(seq0, seq0 + n):
            prep = ops.read if seq % 2 else ops.recv
            prep(self.ring, seq, 0, None, nbytes=lengths[seq % 4], buf_group=BGID)
        self.driver.seq += n
        assert self.ring.submit_and_wait(n) == n
        cqes = self.ring.copy_cqes()
        got = min(n, len(window))
        # In ring order while buffers last, then -ENOBUFS without a buffer.
        assert [c.buffer_id for c in cqes[:got]] == window[:got]
        assert all(c.res == -errno.ENOBUFS and c.flags == 0 for c in cqes[got:])
        self.taken += got
        return [(c, payload(c.user_data, self.expected_len(lengths[c.user_data % 4])))
                for c in cqes[:got]]

    def bundle(self, n):
        size, window, seq = self.group.size, self.sim.pbuf_window(BGID), self.driver.seq
        self.driver.seq += 1
        held = None   # what the socket holds, when less than the buffers take
        if seq % 2:
            # Ask for n whole buffers; the socket holds only n - 1/2 of them.
            nbytes = n * size
            held = self.ready[seq] = (n - 1) * size + max(1, size // 2)
        else:
            # Ask for n - 1/2 buffers: since 6.16 a bundle leaves the truncated
            # end piece out, unless it is the first buffer.
            nbytes = (n - 1) * size + max(1, size // 2)
        # Its own fd, so what this receive leaves queued stays with it.
        ops.recv(self.ring, seq, seq, None, nbytes=nbytes, buf_group=BGID, bundle=True)
        self.ring.submit_and_wait(1)
        (cqe,) = self.ring.copy_cqes()
        self.ready.pop(seq, None)
        if not window:
            assert cqe.res == -errno.ENOBUFS and cqe.flags == 0
            return None, [], b""
        full, part = divmod(nbytes, size)
        mapped = part if not full else min(full, len(window)) * size
        got = mapped if held is None else min(held, mapped)
        res = got
        if 1 < got < mapped:
            # The kernel maps for what the socket holds (msg_inq): whole
            # buffers only, the rest stays queued and the CQE says so.
            res = got // size * size or got
        assert cqe.res == res and cqe.buffer_id == window[0]
        assert cqe.sock_nonempty == (res < got)
        used = -(-res // size)
        self.taken += used
        return cqe, window[:used], payload(seq, res)


def sim_group(start, entries, size, count=None):
    """A ring on a simulator whose buffer rings start at ``start``, and group ``BGID`` in it."""
    sim = SimKernel(pbuf_start=start, bundles=True)
    ring = Ring(32, kernel=sim)
    group = BufferRing(ring, BGID, entries, size, count=count)
    driver = Driver(group, None)
    consumer = SimConsumer(ring, sim, group, driver)
    sim.source = consumer.source
    driver.consume, driver.consume_bundle = consumer.consume, consumer.bundle
    return ring, sim, group, driver, consumer


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
        self.consume_bundle = consume_bundle    # n -> (cqe, expected bids, expected bytes)
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
            cqe, bids, expected = self.consume_bundle(arg)
            if cqe is not None:
                got = g.take_bundle(cqe)
                assert [bid for bid, _ in got] == bids
                assert sum(len(v) for _, v in got) == cqe[1]
                assert b"".join(bytes(v) for _, v in got) == expected
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


# -- against the simulated kernel ----------------------------------------------------------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.sampled_from([1, 2, 4, 8, 16]), data=st.data(),
       start=st.one_of(st.integers(U16 - 40, U16), st.integers(0, U16)),
       steps=st.lists(STEP, max_size=80))
def test_buffer_ring_against_sim(entries, data, start, steps):
    count = data.draw(st.integers(1, entries), label="count")
    ring, sim, group, driver, consumer = sim_group(start, entries, 24, count)
    with ring:
        assert group.tail == (start + count) & U16
        for action, arg in steps:
            driver.step(action, arg)
            window = sim.pbuf_window(BGID)
            # The ring never holds an id twice, nor one the program holds; with the
            # staged ones it is exactly what the kernel owns.
            assert len(window) == len(set(window))
            assert not set(window) & driver.program
            assert len(window) + driver.staged == len(driver.all - driver.program)
            assert group.kernel_head() == (start + consumer.taken) & U16
        drain_all(driver, driver.consume)
        group.close()


def test_sim_wraps_the_tail():
    """A fixed walk across 2**16 in the simulator, so the wrap is always exercised."""
    ring, sim, group, driver, consumer = sim_group(U16 - 2, 4, 16)
    with ring:
        for _ in range(4):
            driver.step("consume", 3)
            driver.step("recycle_all", 0)
        assert group.tail == (U16 - 2 + 4 + 12) & U16 == 13
        assert group.kernel_head() == (U16 - 2 + 12) & U16 == 9
        drain_all(driver, driver.consume)
        group.close()


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
