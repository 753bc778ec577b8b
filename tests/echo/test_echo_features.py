"""What individual stages add, seen from outside: each check fails if the feature is not used."""

from __future__ import annotations

from echo_client import connect_many, exchange, pattern
from test_echo_stages import check_accept_pauses, settle


def test_bundle_receives_several_buffers_per_completion(start_server):
    server = start_server("bundle")
    exchange(server.address, [[pattern(1 << 20, c)] * 2 for c in range(2)])
    summary = server.stop()
    assert int(summary.get("bundles", 0)) >= 1, summary


def test_send_zc_with_every_send_zero_copy(start_server):
    server = start_server("send_zc", "--zc-threshold", "1", "--max-unsent", "65536")
    baseline = server.fd_count()
    exchange(server.address, [[pattern(1 + (c * 7 + i * 131) % 3000, c * 10 + i)
                               for i in range(10)] for c in range(100)])
    exchange(server.address, [[pattern(n, n) for n in (1, 4097, 300_000, 1 << 20)]] * 3)
    exchange(server.address, [[pattern(1 + i * 977 % 20000, i) for i in range(30)]] * 5,
             depth=30)
    exchange(server.address, [[pattern(200_000, 9)]] * 3, shut_wr=True)
    settle(server, baseline)
    summary = server.stop()
    assert int(summary.get("zc_sends", 0)) >= 100 * 10, summary
    assert int(summary.get("zc_notifs", 0)) >= 1, summary


def test_fixed_files_take_no_process_descriptors(start_server):
    server = start_server("fixed_files")
    baseline = server.fd_count()
    socks = connect_many(server.address, 20)
    exchange(server.address, [[pattern(100, c)] for c in range(20)], socks=socks,
             close=False)
    assert server.fd_count() == baseline
    for s in socks:
        s.close()
    server.stop()


def test_fixed_files_stop_multishot_accept_before_the_table_fills(start_server):
    """A direct accept into a full table drops the connection: never let it happen."""
    server = start_server("fixed_files", "--files", "40", "--listen-backlog", "8")
    # 40 slots and a listen queue of 9: more clients than that would wait in
    # TCP's SYN-ACK retransmissions, for seconds, not in our queue.
    summary = check_accept_pauses(server, 48)
    assert int(summary.get("accept_multishot_stopped", 0)) >= 1, summary
    assert int(summary.get("accept_paused", 0)) >= 1, summary
