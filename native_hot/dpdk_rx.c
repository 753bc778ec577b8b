/*
 * dpdk_rx: the packet lab's DPDK receiver (run by uring/packet/rx_dpdk.py).
 *
 *   dpdk_rx <EAL options> -- --port 9000 --run-id N [--count K] [--timeout S] [--idle S]
 *
 * The EAL options name one virtual device on the lab's veth, e.g.
 *   -l 1 --no-huge -m 256 --no-pci --in-memory --vdev net_af_packet0,iface=urx1a2b3c
 *   -l 1 --no-huge -m 256 --no-pci --in-memory --vdev net_af_xdp0,iface=urx1a2b3c
 * (a veth has no PCI function for a real poll-mode driver; these two reach
 * it through AF_PACKET and AF_XDP). One RX queue is polled with
 * rte_eth_rx_burst; each frame is checked like every other receiver does
 * (UDP port, magic, run id, sequence number: packet_seq.h) and freed.
 *
 * When the queue is empty the loop yields the CPU (sched_yield) instead of
 * spinning: on this lab the kernel's NAPI thread that feeds the device runs
 * on the same CPU, and a pure busy-poll would starve it.
 *
 * Prints {"event": "ready"} once the port is started and one
 * {"event": "result", ...} line at the end, as the Python receivers do.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "packet_seq.h"

#define BURST 64
#define RX_DESC 1024

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static void json_error(const char *msg)
{
	printf("{\"event\": \"error\", \"stack\": \"dpdk\", \"message\": \"%s\", \"errno\": null, "
	       "\"kind\": \"RuntimeError\"}\n", msg);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		json_error("rte_eal_init failed (see the EAL messages on stderr)");
		return 2;
	}
	argc -= ret;
	argv += ret;

	static const struct option longopts[] = {
		{"port", required_argument, 0, 'p'}, {"run-id", required_argument, 0, 'r'},
		{"count", required_argument, 0, 'c'}, {"timeout", required_argument, 0, 't'},
		{"idle", required_argument, 0, 'i'}, {0, 0, 0, 0}};
	uint32_t udp_port = 9000, run_id = 0;
	uint64_t count = 0;
	double timeout = 10, idle = 1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': udp_port = (uint32_t)atoi(optarg); break;
		case 'r': run_id = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'c': count = strtoull(optarg, NULL, 0); break;
		case 't': timeout = atof(optarg); break;
		case 'i': idle = atof(optarg); break;
		default: json_error("unknown option"); return 2;
		}
	}

	if (rte_eth_dev_count_avail() != 1) {
		json_error("expected exactly one DPDK port: give one --vdev");
		return 2;
	}
	uint16_t port = 0;
	RTE_ETH_FOREACH_DEV(port) break;

	struct rte_mempool *pool = rte_pktmbuf_pool_create("lab_rx", 8191, 256, 0,
							   RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!pool) {
		json_error("rte_pktmbuf_pool_create failed (memory: raise -m)");
		return 2;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	char msg[160];
	if ((ret = rte_eth_dev_configure(port, 1, 1, &conf)) < 0 ||
	    (ret = rte_eth_rx_queue_setup(port, 0, RX_DESC, rte_eth_dev_socket_id(port), NULL,
					  pool)) < 0 ||
	    (ret = rte_eth_tx_queue_setup(port, 0, 64, rte_eth_dev_socket_id(port), NULL)) < 0 ||
	    (ret = rte_eth_dev_start(port)) < 0) {
		snprintf(msg, sizeof(msg), "port setup failed: %s", rte_strerror(-ret));
		json_error(msg);
		return 2;
	}
	rte_eth_promiscuous_enable(port);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("{\"event\": \"ready\", \"stack\": \"dpdk\"}\n");
	fflush(stdout);

	struct seq_tracker seq = {.highest = -1};
	uint64_t packets = 0, bytes = 0, foreign = 0;
	double started = lab_now(), first = 0, last = 0;
	const char *why = "";
	struct rte_mbuf *bufs[BURST];
	for (;;) {
		uint16_t n = rte_eth_rx_burst(port, 0, bufs, BURST);
		double t = lab_now();
		for (uint16_t i = 0; i < n; i++) {
			struct rte_mbuf *m = bufs[i];
			uint64_t s;
			if (lab_frame(rte_pktmbuf_mtod(m, const unsigned char *),
				      rte_pktmbuf_data_len(m), udp_port, run_id, &s)) {
				if (seq_add(&seq, s)) {
					why = "out of memory";
					break;
				}
				packets++;
				bytes += rte_pktmbuf_pkt_len(m);
			} else {
				foreign++;
			}
			rte_pktmbuf_free(m);
		}
		if (n) {
			if (packets && first == 0)
				first = t;
			last = t;
		}
		if (count && seq.unique >= count)
			why = "count";
		else if (stop_signal)
			why = stop_signal == SIGINT ? "signal 2" : "signal 15";
		else if (t - started >= timeout)
			why = "timeout";
		else if (last > 0 && t - last >= idle)
			why = "idle";
		if (*why)
			break;
		if (!n)
			sched_yield();
	}

	struct rte_eth_stats st;
	memset(&st, 0, sizeof(st));
	rte_eth_stats_get(port, &st);
	printf("{\"event\": \"result\", \"stack\": \"dpdk\", \"packets\": %" PRIu64
	       ", \"bytes\": %" PRIu64 ", \"unique\": %" PRIu64 ", \"duplicates\": %" PRIu64
	       ", \"reordered\": %" PRIu64 ", \"foreign\": %" PRIu64
	       ", \"first\": %.9f, \"last\": %.9f, \"native\": true, \"stopped_by\": \"%s\""
	       ", \"note\": \"\", \"extra\": {\"ipackets\": %" PRIu64 ", \"imissed\": %" PRIu64
	       ", \"ierrors\": %" PRIu64 ", \"rx_nombuf\": %" PRIu64 "}}\n",
	       packets, bytes, seq.unique, seq.duplicates, seq.reordered, foreign, first, last,
	       why, st.ipackets, st.imissed, st.ierrors, st.rx_nombuf);
	fflush(stdout);
	free(seq.bits);
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	rte_eal_cleanup();
	return 0;
}
