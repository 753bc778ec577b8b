"""zcrx refill bookkeeping against a simulated kernel side: Python consumer and the C loop.

Hypothesis drives random interleavings of the kernel receiving pieces,
the application consuming completions and returning buffers, and the
kernel taking refill entries, with small queues (so they fill up) and
indices starting near 2**32 (so they wrap). After every step the simulator
checks that no page is lost or owned twice; at the end everything must be
back with the kernel and every byte must have matched the stream.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uring import abi
from uring.packet import zcrx_sim
from uring.packet.rx_zcrx import NativeZcrx, ZcrxIfq, explain_refusal, ring_flags
from uring.packet.zcrx import RefillQueue, StreamCheck, ZcrxConsumer, rqe_offset
from uring.packet.common import Unsupported
from uring.ring import Ring

from lab_env import IS_ROOT

_F_MORE = int(abi.IORING_CQE_F_MORE)

actions = st.lists(st.one_of(
    st.tuples(st.just("post"), st.integers(1, 4096)),
    st.tuples(st.just("post"), st.integers(1, 300)),   # small pieces share pages
    st.tuples(st.just("app"), st.just(0)),
    st.tuples(st.just("refill"), st.integers(0, 5)),
), max_size=120)

starts = st.sampled_from([0, 2**32 - 3, 2**32 - 1, 12345])


class PyApp:
    """The Python consumer (uring.packet.zcrx) on the simulator's memory."""

    def __init__(self, sim):
        self.sim = sim
        self.rq = RefillQueue(sim.region, *sim.rq_offsets, sim.rq_entries)
        self.consumer = ZcrxConsumer(sim.area, sim.token, self.rq, sim.user_data)
        self.check = StreamCheck(0)

    def step(self):
        for piece in self.consumer.handle(self.sim.cq.copy_cqes_raw(), _F_MORE):
            self.check.feed(piece)
        self.consumer.flush()

    @property
    def bad(self):
        return self.check.bad

    @property
    def bytes(self):
        return self.consumer.bytes

    @property
    def pending(self):
        return len(self.consumer.pending)

    @property
    def ended(self):
        return self.consumer.ended


class CApp:
    """The C loop (native_hot/zcrx_rx.c) on the same memory, through ctypes."""

    def __init__(self, sim, lib):
        self.sim = sim
        self._keep = [(ctypes.c_char * len(b)).from_buffer(b)
                      for b in (sim.cq.mem, sim.region, sim.area)]
        cq, rg, ar = (ctypes.addressof(c) for c in self._keep)
        h, t, r = sim.rq_offsets
        self.nat = NativeZcrx(lib, (cq + zcrx_sim.CQ_HEAD, cq + zcrx_sim.CQ_TAIL,
                                    cq + zcrx_sim.CQ_CQES, sim.cq.mask),
                              (rg + h, rg + t, rg + r, sim.rq_entries,
                               memoryview(sim.region).cast("I")[t // 4]),
                              ar, sim.token, sim.user_data, seed=0, pending=64)

    def step(self):
        self.nat.process()

    @property
    def bad(self):
        return self.nat.args.bad

    @property
    def bytes(self):
        return self.nat.args.bytes

    @property
    def pending(self):
        return self.nat.args.pend_count

    @property
    def ended(self):
        return bool(self.nat.args.ended)


def run_protocol(app_factory, steps, start, cq_start):
    sim = zcrx_sim.ZcrxKernelSim(pages=8, page=4096, rq_entries=4, cq_entries=8,
                                 area_id=3, start=start, cq_start=cq_start)
    app = app_factory(sim)
    for what, arg in steps:
        if what == "post":
            sim.post(arg)  # False (no free page) is the NIC starving: allowed
        elif what == "app":
            sim.cq.flush()  # the app's io_uring_enter(GETEVENTS) flushes the CQ backlog
            app.step()
        else:
            sim.refill(arg)
        sim.check()
    # Drain: the app returns everything, the kernel takes it all back.
    sim.end(0)
    for _ in range(200):
        sim.cq.flush()
        app.step()
        sim.refill()
        sim.check()
        if not app.pending and not sim.cq.overflow and sim.returned == sim.posted \
                and app.ended:
            break
    assert app.ended
    assert sim.returned == sim.posted and sum(sim.user_refs) == 0
    assert app.bytes == sim.sent and app.bad == 0
    free = set(sim.free) | ({sim.current} if sim.current >= 0 else set())
    assert free == set(range(sim.pages))


@settings(max_examples=300, deadline=None)
@given(actions, starts, starts)
def test_python_consumer_against_the_simulated_kernel(steps, start, cq_start):
    run_protocol(PyApp, steps, start, cq_start)


@pytest.fixture(scope="module")
def zcrx_lib(built):
    lib = NativeZcrx.load()
    if lib is None:
        pytest.skip(built["zcrx_rx"])
    return lib


@settings(max_examples=300, deadline=None)
@given(steps=actions, start=starts, cq_start=starts)
def test_c_loop_against_the_simulated_kernel(zcrx_lib, steps, start, cq_start):
    run_protocol(lambda sim: CApp(sim, zcrx_lib), steps, start, cq_start)


def test_the_simulator_catches_protocol_errors():
    sim = zcrx_sim.ZcrxKernelSim(pages=4, rq_entries=4, area_id=1)
    assert sim.post(100)
    (_, res, _, off, _), = sim.cq.copy_cqes_raw()
    rq = RefillQueue(sim.region, *sim.rq_offsets, sim.rq_entries)
    rq.write(rqe_offset(off, sim.token), res)
    rq.publish()
    assert sim.refill() == 1
    rq.write(rqe_offset(off, sim.token), res)  # the same piece again
    rq.publish()
    with pytest.raises(zcrx_sim.ZcrxProtocolError, match="more often"):
        sim.refill()
    sim2 = zcrx_sim.ZcrxKernelSim(pages=4, rq_entries=4, area_id=1)
    sim2.post(10)
    rq2 = RefillQueue(sim2.region, *sim2.rq_offsets, sim2.rq_entries)
    rq2.write(0, 10)  # area id 0: no token
    rq2.publish()
    with pytest.raises(zcrx_sim.ZcrxProtocolError, match="area id"):
        sim2.refill()


def test_refill_queue_full_keeps_buffers_pending():
    sim = zcrx_sim.ZcrxKernelSim(pages=16, page=4096, rq_entries=2, cq_entries=16)
    app = PyApp(sim)
    for _ in range(5):
        assert sim.post(4096)
    app.step()
    assert app.pending == 3  # two fit in the queue, three wait
    sim.refill()
    app.step()
    assert app.pending == 1
    sim.refill()
    app.step()
    sim.refill()
    assert app.pending == 0 and sim.returned == 5


def test_stream_check():
    check = StreamCheck(seed=9, longest=1000)
    data = StreamCheck.make(9, 5000)
    assert check.feed(data[:1]) and check.feed(data[1:3000]) and check.feed(data[3000:])
    assert not check.feed(b"\0\0\0") and check.bad == 1


# -- the real kernel ---------------------------------------------------------------

def _ring_or_skip():
    try:
        return Ring(64, flags=ring_flags(), cq_entries=256)
    except OSError as e:
        pytest.skip(f"io_uring with DEFER_TASKRUN|SINGLE_ISSUER|CQE32 unavailable: {e}")


@pytest.mark.skipif(not IS_ROOT, reason="IORING_REGISTER_ZCRX_IFQ needs CAP_NET_ADMIN (root)")
def test_registration_on_loopback_is_refused_by_the_kernel():
    with _ring_or_skip() as ring:
        with pytest.raises(Unsupported) as err:
            ZcrxIfq(ring, socket.if_nametoindex("lo"), "lo", 0)
    assert err.value.errno == errno.EOPNOTSUPP
    assert "header/data split" in str(err.value) and "driver" in str(err.value)


@pytest.mark.skipif(not IS_ROOT, reason="IORING_REGISTER_ZCRX_IFQ needs CAP_NET_ADMIN (root)")
def test_the_kernel_validates_our_structures():
    """An unknown flag, or a ring without CQE32, is refused with EINVAL: the kernel
    reads what we pass (EOPNOTSUPP above is its answer to a well-formed request)."""
    with _ring_or_skip() as ring:
        area = mmap.mmap(-1, 1 << 16)
        region = mmap.mmap(-1, 2 * mmap.PAGESIZE)
        addr = lambda m: ctypes.addressof(ctypes.c_char.from_buffer(m))  # noqa: E731
        ar = abi.io_uring_zcrx_area_reg(addr=addr(area), len=len(area))
        rd = abi.io_uring_region_desc(user_addr=addr(region), size=len(region),
                                      flags=abi.IORING_MEM_REGION_TYPE_USER)
        reg = abi.io_uring_zcrx_ifq_reg(if_idx=socket.if_nametoindex("lo"), rq_entries=64,
                                        area_ptr=ctypes.addressof(ar),
                                        region_ptr=ctypes.addressof(rd))
        reg.flags = 0x80  # no such flag on 6.18
        with pytest.raises(OSError) as err:
            ring.register(abi.IORING_REGISTER_ZCRX_IFQ, reg, 1)
        assert err.value.errno == errno.EINVAL
    with Ring(64) as plain:
        with pytest.raises(Unsupported) as err:
            ZcrxIfq(plain, socket.if_nametoindex("lo"), "lo", 0)
        assert err.value.errno == errno.EINVAL and "CQE32" in str(err.value)


def test_explain_refusal_names_what_is_missing():
    text = explain_refusal(errno.EOPNOTSUPP, "lo", 0)
    assert "queue-management API" in text and "tcp-data-split" in text and "gve" in text
    assert "CAP_NET_ADMIN" in explain_refusal(errno.EPERM, "lo", 0)
