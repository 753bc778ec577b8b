/*
 * xdp_rx: the AF_XDP receive loop of uring/packet/rx_afxdp.py in C.
 *
 * Python sets everything up (one AF_XDP socket per RX queue, each with its
 * own UMEM and rings, the XDP program, bind) and calls xdp_rx_loop() through
 * ctypes with the mapped ring addresses of every queue; this loop only does
 * what rx_afxdp._python_loop does, without the interpreter:
 *
 *   for each queue: acquire-load the RX producer; for each new descriptor
 *   check the frame (UDP port, magic, run id), track its sequence number in
 *   the one tracker all queues share (a frame's seq says nothing about its
 *   queue), and put the frame back on that queue's fill ring; release-store
 *   fill producer and RX consumer once per batch. When every RX ring is
 *   empty, poll() all sockets at once (bounded).
 *
 * It returns at least every a->slice seconds (0), or why it stopped:
 * 1 count reached, 2 timeout, 3 idle; -errno on failure. The counters in
 * *a (and each queue's packets) accumulate across calls; xdp_rx_free()
 * releases the sequence bitmap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>

#include "packet_seq.h"

#define XDP_RX_MAX_QUEUES 64 /* the lab's topology limit too */

/* One socket's rings and UMEM (mirrors _NativeQueue in rx_afxdp.py). */
struct xdp_rx_queue {
	unsigned char *rx, *fill, *umem; /* ring mappings and the UMEM */
	uint32_t rx_producer, rx_consumer, rx_desc; /* byte offsets inside rx */
	uint32_t fill_producer, fill_flags, fill_desc; /* byte offsets inside fill */
	uint32_t rx_mask, fill_mask, frame_size;
	int fd;
	uint64_t packets; /* out: this run's frames that came through this queue */
};

struct xdp_rx_args {
	struct xdp_rx_queue *queues;
	uint32_t nqueues;
	uint32_t port, run_id;
	uint64_t count;
	double started, timeout, idle, slice;
	/* out */
	uint64_t packets, bytes, foreign;
	double first, last;
	struct seq_tracker seq;
};

struct xdp_desc_ {
	uint64_t addr;
	uint32_t len;
	uint32_t options;
};

static int stop_reason(const struct xdp_rx_args *a, double t)
{
	if (a->count && a->seq.unique >= a->count)
		return 1;
	if (t - a->started >= a->timeout)
		return 2;
	if (a->last > 0 && t - a->last >= a->idle)
		return 3;
	return 0;
}

/* Take every descriptor queue q has ready; add their number to *got. 0 or -errno. */
static int drain(struct xdp_rx_args *a, struct xdp_rx_queue *q, uint32_t *got)
{
	uint32_t *rx_prod = (uint32_t *)(q->rx + q->rx_producer);
	uint32_t *rx_cons = (uint32_t *)(q->rx + q->rx_consumer);
	struct xdp_desc_ *descs = (struct xdp_desc_ *)(q->rx + q->rx_desc);
	uint32_t *fill_prod = (uint32_t *)(q->fill + q->fill_producer);
	uint64_t *fill_addrs = (uint64_t *)(q->fill + q->fill_desc);
	uint64_t chunk_mask = ~(uint64_t)(q->frame_size - 1);
	/* Our own indices: only we write the RX consumer and the fill producer. */
	uint32_t cons = *rx_cons, fprod = *fill_prod;
	/* Acquire: the descriptors were written before the producer moved. */
	uint32_t n = __atomic_load_n(rx_prod, __ATOMIC_ACQUIRE) - cons;

	if (!n)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc_ *d = &descs[(cons + i) & q->rx_mask];
		uint64_t seq;
		if (lab_frame(q->umem + d->addr, d->len, a->port, a->run_id, &seq)) {
			int err = seq_add(&a->seq, seq);
			if (err)
				return err;
			a->packets++;
			q->packets++;
			a->bytes += d->len;
		} else {
			a->foreign++;
		}
		fill_addrs[(fprod + i) & q->fill_mask] = d->addr & chunk_mask;
	}
	/* Release: frames read and fill entries written before the kernel sees these. */
	__atomic_store_n(fill_prod, fprod + n, __ATOMIC_RELEASE);
	__atomic_store_n(rx_cons, cons + n, __ATOMIC_RELEASE);
	*got += n;
	return 0;
}

int xdp_rx_loop(struct xdp_rx_args *a)
{
	struct pollfd pfds[XDP_RX_MAX_QUEUES];
	double until = lab_now() + a->slice;

	if (a->nqueues < 1 || a->nqueues > XDP_RX_MAX_QUEUES)
		return -EINVAL;
	for (uint32_t q = 0; q < a->nqueues; q++)
		pfds[q] = (struct pollfd){.fd = a->queues[q].fd, .events = POLLIN};
	for (;;) {
		uint32_t got = 0;
		for (uint32_t q = 0; q < a->nqueues; q++) {
			int err = drain(a, &a->queues[q], &got);
			if (err)
				return err;
		}
		double t = lab_now();
		if (got) {
			if (a->packets && a->first == 0)
				a->first = t;
			a->last = t;
		}
		int why = stop_reason(a, t);
		if (why)
			return why;
		if (t >= until)
			return 0;
		if (!got && poll(pfds, a->nqueues, 10) < 0 && errno == EINTR)
			return 0; /* let Python look at the signal */
	}
}

void xdp_rx_free(struct xdp_rx_args *a)
{
	free(a->seq.bits);
	a->seq.bits = NULL;
	a->seq.nbits = 0;
}
