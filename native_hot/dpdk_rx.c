/*
 * dpdk_rx: the packet lab's DPDK receiver (run by uring/packet/rx_dpdk.py).
 *
 *   dpdk_rx <EAL options> -- --port 9000 --run-id N [--count K] [--timeout S] [--idle S]
 *
 * The EAL options name virtual devices on the lab's veth, e.g.
 *   -l 1 --no-huge -m 256 --no-pci --vdev net_af_packet0,iface=urx1a2b3c,qpairs=2
 *   -l 1 --no-huge -m 256 --no-pci --vdev net_af_xdp0,iface=urx1a2b3c,start_queue=0
 *                                  --vdev net_af_xdp1,iface=urx1a2b3c,start_queue=1
 * (a veth has no PCI function for a real poll-mode driver; these two reach
 * it through AF_PACKET and AF_XDP). Every port is configured with as many
 * RX queues as it offers (qpairs=N AF_PACKET sockets in a fanout group;
 * queue_count AF_XDP sockets, one per kernel RX queue), and every queue of
 * every port is polled in turn with rte_eth_rx_burst; each frame is checked
 * like every other receiver does (UDP port, magic, run id, sequence number:
 * one tracker for all queues, packet_seq.h) and freed.
 *
 * When every queue is empty the loop yields the CPU (sched_yield) instead of
 * spinning: on this lab the kernel's NAPI thread that feeds the device runs
 * on the same CPU, and a pure busy-poll would starve it.
 *
 * Prints {"event": "ready"} once the ports are started and one
 * {"event": "result", ...} line at the end, as the Python receivers do; its
 * extra.per_dpdk_queue lists the run's frames per (port, queue), in order.
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
#define MAX_RXQ 64 /* (port, queue) pairs polled; the lab's topology has at most 64 queues */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static void json_error(const char *msg)
{
	printf("{\"event\": \"error\", \"stack\": \"dpdk\", \"message\": \"%s\", \"errno\": null, "
	       "\"kind\": \"RuntimeError\"}\n", msg);
	fflush(stdout);
}

/* One RX queue to poll, and the run's frames it delivered. */
struct rxq {
	uint16_t port, queue;
	uint64_t packets;
};

/* Configure nq RX queues (all fed from pool) and ntx TX queues, then start. 0 or -errno. */
static int setup_port(uint16_t port, struct rte_mempool *pool, uint16_t nq, uint16_t ntx)
{
	struct rte_eth_conf conf;
	int ret;
	memset(&conf, 0, sizeof(conf));
	if ((ret = rte_eth_dev_configure(port, nq, ntx, &conf)) < 0)
		return ret;
	for (uint16_t q = 0; q < nq; q++)
		if ((ret = rte_eth_rx_queue_setup(port, q, RX_DESC, rte_eth_dev_socket_id(port),
						  NULL, pool)) < 0)
			return ret;
	for (uint16_t q = 0; q < ntx; q++)
		if ((ret = rte_eth_tx_queue_setup(port, q, 64, rte_eth_dev_socket_id(port),
						  NULL)) < 0)
			return ret;
	return rte_eth_dev_start(port);
}

/* Start every port with all the queues it offers; fill rxqs. Count of them, or -1 (reported). */
static int setup_ports(struct rte_mempool *pool, struct rxq *rxqs)
{
	char msg[200];
	int n = 0, ret;
	uint16_t port;
	RTE_ETH_FOREACH_DEV(port) {
		struct rte_eth_dev_info info;
		if ((ret = rte_eth_dev_info_get(port, &info)) < 0) {
			snprintf(msg, sizeof(msg), "rte_eth_dev_info_get failed: %s",
				 rte_strerror(-ret));
			json_error(msg);
			return -1;
		}
		/* The vdev's qpairs/queue_count set how many queues it offers: take them all. */
		uint16_t nq = info.max_rx_queues;
		uint16_t ntx = info.max_tx_queues < nq ? info.max_tx_queues : nq;
		if (nq < 1 || ntx < 1 || n + nq > MAX_RXQ) {
			snprintf(msg, sizeof(msg), "port %u offers %u RX and %u TX queues; dpdk_rx "
				 "polls at most %d RX queues in all and needs a TX queue per port",
				 port, info.max_rx_queues, info.max_tx_queues, MAX_RXQ);
			json_error(msg);
			return -1;
		}
		if ((ret = setup_port(port, pool, nq, ntx)) < 0) {
			snprintf(msg, sizeof(msg), "port %u setup failed: %s", port,
				 rte_strerror(-ret));
			json_error(msg);
			return -1;
		}
		rte_eth_promiscuous_enable(port);
		for (uint16_t q = 0; q < nq; q++)
			rxqs[n++] = (struct rxq){.port = port, .queue = q};
	}
	if (!n)
		json_error("no DPDK port: give at least one --vdev");
	return n ? n : -1;
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

	struct rte_mempool *pool = rte_pktmbuf_pool_create("lab_rx", 8191, 256, 0,
							   RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!pool) {
		json_error("rte_pktmbuf_pool_create failed (memory: raise -m)");
		return 2;
	}
	struct rxq rxqs[MAX_RXQ];
	int nrxq = setup_ports(pool, rxqs);
	if (nrxq < 0)
		return 2;

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
		unsigned int n = 0;
		for (int q = 0; q < nrxq; q++) {
			uint16_t got = rte_eth_rx_burst(rxqs[q].port, rxqs[q].queue, bufs, BURST);
			for (uint16_t i = 0; i < got; i++) {
				struct rte_mbuf *m = bufs[i];
				uint64_t s;
				if (lab_frame(rte_pktmbuf_mtod(m, const unsigned char *),
					      rte_pktmbuf_data_len(m), udp_port, run_id, &s)) {
					/* Out of memory: free the burst, stop below. */
					if (seq_add(&seq, s))
						why = "out of memory";
					packets++;
					rxqs[q].packets++;
					bytes += rte_pktmbuf_pkt_len(m);
				} else {
					foreign++;
				}
				rte_pktmbuf_free(m);
			}
			n += got;
		}
		double t = lab_now();
		if (*why)
			break;
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

	/* The drivers' own counts, summed over the ports. */
	uint64_t ipackets = 0, imissed = 0, ierrors = 0, nombuf = 0;
	uint16_t port;
	RTE_ETH_FOREACH_DEV(port) {
		struct rte_eth_stats st;
		memset(&st, 0, sizeof(st));
		rte_eth_stats_get(port, &st);
		ipackets += st.ipackets;
		imissed += st.imissed;
		ierrors += st.ierrors;
		nombuf += st.rx_nombuf;
	}
	printf("{\"event\": \"result\", \"stack\": \"dpdk\", \"packets\": %" PRIu64
	       ", \"bytes\": %" PRIu64 ", \"unique\": %" PRIu64 ", \"duplicates\": %" PRIu64
	       ", \"reordered\": %" PRIu64 ", \"foreign\": %" PRIu64
	       ", \"first\": %.9f, \"last\": %.9f, \"native\": true, \"stopped_by\": \"%s\""
	       ", \"note\": \"\", \"extra\": {\"ipackets\": %" PRIu64 ", \"imissed\": %" PRIu64
	       ", \"ierrors\": %" PRIu64 ", \"rx_nombuf\": %" PRIu64 ", \"per_dpdk_queue\": [",
	       packets, bytes, seq.unique, seq.duplicates, seq.reordered, foreign, first, last,
	       why, ipackets, imissed, ierrors, nombuf);
	for (int q = 0; q < nrxq; q++)
		printf("%s%" PRIu64, q ? ", " : "", rxqs[q].packets);
	printf("]}}\n");
	fflush(stdout);
	free(seq.bits);
	RTE_ETH_FOREACH_DEV(port) {
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
	rte_eal_cleanup();
	return 0;
}
