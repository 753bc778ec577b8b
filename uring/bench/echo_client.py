"""The echo load generator in Python: what runs where ``native_hot/echo_load`` cannot be built.

``python -m uring.bench.echo_client --address HOST:PORT --number N --length L
--duration D [--warmup W] [--server-pid PID] [--json]`` takes the options of
``echo_load`` and prints the same JSON line: N non-blocking connections on one
:mod:`selectors` loop, each sending L bytes, waiting for the whole echo,
comparing every byte, and going again. The bytes of round r are a window of
a per-connection random block starting at ``r % 251``, as in the C client.

A Python client costs several times the CPU of the C one per round trip, so
against a fast server it saturates its own core first: the benchmark then
says that the client may be the bottleneck.
"""

from __future__ import annotations

import errno
import json
import random
import resource
import selectors
import socket
import sys
import threading
import time
from array import array

from .. import _cli
from .proc import task_cpu_ns
from .stats import percentile

__all__ = ["run", "check_echo", "main"]

PATTERN_SPAN = 251
_R, _W = selectors.EVENT_READ, selectors.EVENT_WRITE


class _Conn:
    __slots__ = ("index", "sock", "pattern", "round", "payload", "sent", "got", "t0",
                 "events", "alive")

    def __init__(self, index: int, sock: socket.socket, length: int) -> None:
        self.index, self.sock = index, sock
        self.pattern = random.Random(0x5EED0000 + index).randbytes(length + PATTERN_SPAN)
        self.round = 0
        self.payload = b""
        self.sent = self.got = 0
        self.t0 = 0.0
        self.events = 0
        self.alive = True


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _connect(address: tuple[str, int], timeout: float) -> socket.socket:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            sock = socket.create_connection(address, timeout=max(0.1, deadline - time.monotonic()))
        except OSError as e:
            # EAGAIN / ECONNREFUSED: the server's queue is full or not there yet.
            if e.errno not in (errno.EAGAIN, errno.ECONNREFUSED, errno.ETIMEDOUT, None) \
                    or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return sock


def run(host: str, port: int, number: int, length: int, duration: float,
        warmup: float = 1.0, server_pid: int | None = None,
        connect_timeout: float = 10.0) -> dict:
    """Run the load and return the figures ``echo_load --json`` reports."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    t_connect = time.monotonic()
    conns = [_Conn(i, _connect((host, port), connect_timeout), length) for i in range(number)]
    connect_s = time.monotonic() - t_connect
    counts = {"round_trips": 0, "mismatches": 0, "errors": 0, "bytes": 0}
    latencies = array("d")
    now = time.monotonic

    def want(c: _Conn, events: int) -> None:
        if events != c.events:
            if c.events:
                sel.modify(c.sock, events, c)
            else:
                sel.register(c.sock, events, c)
            c.events = events

    def drop(c: _Conn, why: str, counter: str) -> None:
        print(f"echo_client: connection {c.index}: {why}", file=sys.stderr)
        counts[counter] += 1
        c.alive = False
        if c.events:
            sel.unregister(c.sock)
        c.sock.close()

    def send_more(c: _Conn) -> None:
        try:
            c.sent += c.sock.send(c.payload[c.sent:] if c.sent else c.payload)
        except BlockingIOError:
            pass
        except OSError as e:
            return drop(c, f"send: {e}", "errors")
        want(c, _R if c.sent == length else _R | _W)

    def start_round(c: _Conn) -> None:
        start = c.round % PATTERN_SPAN
        c.payload = c.pattern[start:start + length]
        c.sent = c.got = 0
        c.t0 = now()
        send_more(c)

    def receive(c: _Conn) -> None:
        try:
            data = c.sock.recv(min(length - c.got, 1 << 18))
        except BlockingIOError:
            return
        except OSError as e:
            return drop(c, f"recv: {e}", "errors")
        if not data:
            return drop(c, "closed by server", "errors")
        n = len(data)
        if c.got + n > c.sent or data != c.payload[c.got:c.got + n]:
            return drop(c, f"mismatch in round {c.round} at byte {c.got}", "mismatches")
        c.got += n
        counts["bytes"] += n
        if c.got == length:
            latencies.append(now() - c.t0)
            counts["round_trips"] += 1
            c.round += 1
            start_round(c)

    def loop(until: float) -> None:
        while True:
            left = until - now()
            if left <= 0 or not any(c.alive for c in conns):
                return
            for key, mask in sel.select(left):
                c = key.data
                if mask & _W and c.alive:
                    send_more(c)
                if mask & _R and c.alive:
                    receive(c)

    for c in conns:
        start_round(c)
    loop(now() + warmup)
    warm_rounds = counts["round_trips"]
    counts["round_trips"] = counts["bytes"] = 0
    del latencies[:]
    cpu0 = task_cpu_ns(server_pid) if server_pid else None
    ccpu0, t0 = _cpu_s(), now()
    loop(t0 + duration)
    elapsed = now() - t0
    cpu1 = task_cpu_ns(server_pid) if server_pid else None
    ccpu1 = _cpu_s()
    for c in conns:
        if c.alive:
            c.sock.close()
    sel.close()
    lat = sorted(latencies)
    rt = counts["round_trips"]
    return {
        "address": f"{host}:{port}", "connections": number, "length": length,
        "duration_s": elapsed, "warmup_s": warmup, "connect_s": connect_s,
        "round_trips": rt, "warmup_round_trips": warm_rounds,
        "requests_per_s": rt / elapsed if elapsed > 0 else 0.0, "bytes": counts["bytes"],
        "p50_us": percentile(lat, 0.50) * 1e6, "p99_us": percentile(lat, 0.99) * 1e6,
        "p999_us": percentile(lat, 0.999) * 1e6,
        "mismatches": counts["mismatches"], "errors": counts["errors"],
        "client_cpu_s": ccpu1 - ccpu0, "client_cpu_total_s": _cpu_s(),
        "server_cpu_ns": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        "interrupted": False,
    }


def check_echo(host: str, port: int, sizes: tuple[int, ...] = (1, 100, 4096, 65537, 1 << 20),
               clients: int = 4, timeout: float = 30.0) -> int:
    """Check that a server echoes byte-exact and in order; return the bytes checked.

    ``clients`` connections at once, each writing every message of ``sizes``
    back to back from a thread (pipelined: the server sees partial and
    coalesced messages), then half-closing (SHUT_WR), while the caller's
    thread reads everything back until the server closes. Raises
    AssertionError saying what differed, or ``socket.timeout`` after
    ``timeout`` seconds without progress.
    """
    results: list[str | None] = [None] * clients

    def one(i: int) -> None:
        data = random.Random(i).randbytes(sum(sizes))
        sock = socket.create_connection((host, port), timeout=timeout)
        failure: list[BaseException] = []

        def write() -> None:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                failure.append(e)

        writer = threading.Thread(target=write)
        writer.start()
        got = bytearray()
        try:
            while chunk := sock.recv(1 << 18):
                got += chunk
        except OSError as e:
            failure.append(e)
        finally:
            writer.join(timeout)
            sock.close()
        if failure:
            results[i] = f"client {i}: {failure[0]!r} after {len(got)} bytes"
        elif got != data:
            first = next((k for k, (a, b) in enumerate(zip(got, data)) if a != b),
                         min(len(got), len(data)))
            results[i] = (f"client {i}: {len(got)} of {len(data)} bytes came back, "
                          f"first difference at byte {first}")
        else:
            results[i] = ""

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * 2)
    problems = [r if r is not None else "client did not finish" for r in results if r != ""]
    assert not problems, "; ".join(problems)
    return clients * sum(sizes)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit status 1 on any mismatch or connection error."""
    ap = _cli.make_parser("python -m uring.bench.echo_client", __doc__)
    ap.add_argument("--address", required=True, metavar="HOST:PORT")
    ap.add_argument("--number", type=int, default=50)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    ap.add_argument("--server-pid", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    host, _, port = args.address.rpartition(":")
    host = host.strip("[]")
    try:
        res = run(host, int(port), args.number, args.length, args.duration, args.warmup,
                  args.server_pid, args.connect_timeout)
    except OSError as e:
        print(f"echo_client: {args.address}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    if args.json:
        print(json.dumps(res), flush=True)
    else:
        rt = res["round_trips"]
        print(f"Benchmarking: {args.address}\n{args.number} clients, running "
              f"{args.length} bytes, {res['duration_s']:.1f} sec.\n\n"
              f"Speed: {res['requests_per_s']:.0f} request/sec\nRequests: {rt}\n"
              f"Latency: p50 {res['p50_us']:.1f} us, p99 {res['p99_us']:.1f} us, "
              f"p99.9 {res['p999_us']:.1f} us\nMismatches: {res['mismatches']}\n"
              f"Errors: {res['errors']}", flush=True)
    return 1 if res["mismatches"] or res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
