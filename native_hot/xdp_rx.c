/*
 * xdp_rx: the AF_XDP receive loop of uring/packet/rx_afxdp.py in C.
 *
 * Python sets everything up (UMEM, rings, XDP program, bind) and calls
 * xdp_rx_loop() through ctypes with the mapped ring addresses; this loop only
 * does what rx_afxdp._python_loop does, without the interpreter:
 *
 *   acquire-load the RX producer; for each new descriptor check the frame
 *   (UDP port, magic, run id), track its sequence number, and put the frame
 *   back on the fill ring; release-store fill producer and RX consumer once
 *   per batch; poll() (bounded) when the RX ring is empty.
 *
 * It returns at least every a->slice seconds (0), or why it stopped:
 * 1 count reached, 2 timeout, 3 idle; -errno on failure. The counters in
 * *a accumulate across calls; xdp_rx_free() releases the sequence bitmap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>

#include "packet_seq.h"

struct xdp_rx_args {
	unsigned char *rx, *fill, *umem; /* ring mappings and the UMEM */
	uint32_t rx_producer, rx_consumer, rx_desc; /* byte offsets inside rx */
	uint32_t fill_producer, fill_flags, fill_desc; /* byte offsets inside fill */
	uint32_t rx_mask, fill_mask, frame_size;
	int fd;
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

int xdp_rx_loop(struct xdp_rx_args *a)
{
	uint32_t *rx_prod = (uint32_t *)(a->rx + a->rx_producer);
	uint32_t *rx_cons = (uint32_t *)(a->rx + a->rx_consumer);
	struct xdp_desc_ *descs = (struct xdp_desc_ *)(a->rx + a->rx_desc);
	uint32_t *fill_prod = (uint32_t *)(a->fill + a->fill_producer);
	uint64_t *fill_addrs = (uint64_t *)(a->fill + a->fill_desc);
	uint64_t chunk_mask = ~(uint64_t)(a->frame_size - 1);
	struct pollfd pfd = {.fd = a->fd, .events = POLLIN};
	double until = lab_now() + a->slice;
	/* Our own indices: only we write the RX consumer and the fill producer. */
	uint32_t cons = *rx_cons, fprod = *fill_prod;

	for (;;) {
		/* Acquire: the descriptors were written before the producer moved. */
		uint32_t n = __atomic_load_n(rx_prod, __ATOMIC_ACQUIRE) - cons;
		double t;
		if (!n) {
			t = lab_now();
			int why = stop_reason(a, t);
			if (why)
				return why;
			if (t >= until)
				return 0;
			if (poll(&pfd, 1, 10) < 0 && errno == EINTR)
				return 0; /* let Python look at the signal */
			continue;
		}
		for (uint32_t i = 0; i < n; i++) {
			const struct xdp_desc_ *d = &descs[(cons + i) & a->rx_mask];
			uint64_t seq;
			if (lab_frame(a->umem + d->addr, d->len, a->port, a->run_id, &seq)) {
				int err = seq_add(&a->seq, seq);
				if (err)
					return err;
				a->packets++;
				a->bytes += d->len;
			} else {
				a->foreign++;
			}
			fill_addrs[(fprod + i) & a->fill_mask] = d->addr & chunk_mask;
		}
		fprod += n;
		cons += n;
		/* Release: frames read and fill entries written before the kernel sees these. */
		__atomic_store_n(fill_prod, fprod, __ATOMIC_RELEASE);
		__atomic_store_n(rx_cons, cons, __ATOMIC_RELEASE);
		t = lab_now();
		if (a->packets && a->first == 0)
			a->first = t;
		a->last = t;
		int why = stop_reason(a, t);
		if (why)
			return why;
		if (t >= until)
			return 0;
	}
}

void xdp_rx_free(struct xdp_rx_args *a)
{
	free(a->seq.bits);
	a->seq.bits = NULL;
	a->seq.nbits = 0;
}
