/*
 * zcrx_rx: the zero-copy receive completion loop of uring/packet/rx_zcrx.py in C.
 *
 * Same bookkeeping as uring/packet/zcrx.py (ZcrxConsumer + RefillQueue),
 * over memory Python hands in: the CQ ring of 32-byte CQEs (the ring's
 * mapping, or the simulator's), the refill queue region and the area.
 *
 * One call of zcrx_process():
 *   1. acquire-load the CQ tail; for each CQE of our user_data: count it,
 *      check its bytes against the stream pattern (byte i = i*7 + seed), and
 *      queue (area offset | rq_area_token, res) for return; a CQE without
 *      IORING_CQE_F_MORE ends the request (ended, final_res);
 *   2. release-store the CQ head;
 *   3. move queued returns into the refill queue while the kernel's head
 *      (acquire) leaves room, then release-store the RQ tail once.
 * Returns the number of CQEs consumed. If the pending queue is full it stops
 * early and leaves the remaining CQEs in the ring (nothing is ever dropped:
 * a buffer not returned would starve the NIC queue).
 */
#include <stdint.h>
#include <string.h>

#define CQE_F_MORE (1u << 1)
#define AREA_OFFSET_MASK ((1ull << 48) - 1)

struct zcrx_args {
	uint32_t *cq_head, *cq_tail;
	unsigned char *cqes;
	uint32_t cq_mask;
	uint32_t rq_entries;
	uint32_t *rq_head, *rq_tail;
	unsigned char *rqes;
	uint32_t rq_tail_local; /* our private tail (in/out) */
	uint32_t seed;
	unsigned char *area;
	uint64_t token, user_data;
	uint64_t *pend_off; /* pending returns: a ring of pend_cap entries */
	uint32_t *pend_len;
	uint32_t pend_cap, pend_head, pend_count, verify;
	/* out */
	uint64_t cqes_seen, bytes, stream_offset, bad;
	int32_t ended, final_res;
};

struct cqe32 {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
	uint64_t big0, big1;
};

struct rqe {
	uint64_t off;
	uint32_t len;
	uint32_t pad;
};

static int stream_ok(struct zcrx_args *a, const unsigned char *p, uint32_t n)
{
	uint64_t off = a->stream_offset;
	int ok = 1;
	for (uint32_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)((off + i) * 7 + a->seed))
			ok = 0;
	return ok;
}

static void flush(struct zcrx_args *a)
{
	uint32_t head = __atomic_load_n(a->rq_head, __ATOMIC_ACQUIRE);
	uint32_t room = a->rq_entries - (a->rq_tail_local - head);
	struct rqe *rqes = (struct rqe *)a->rqes;
	uint32_t start = a->rq_tail_local;
	while (a->pend_count && room) {
		struct rqe *e = &rqes[a->rq_tail_local & (a->rq_entries - 1)];
		e->off = a->pend_off[a->pend_head];
		e->len = a->pend_len[a->pend_head];
		e->pad = 0;
		a->pend_head = (a->pend_head + 1) % a->pend_cap;
		a->pend_count--;
		a->rq_tail_local++;
		room--;
	}
	/* Release: entries written before the kernel can see the tail move. */
	if (a->rq_tail_local != start)
		__atomic_store_n(a->rq_tail, a->rq_tail_local, __ATOMIC_RELEASE);
}

int zcrx_process(struct zcrx_args *a)
{
	uint32_t head = *a->cq_head;
	/* Acquire: CQE bytes are written before the tail moves. */
	uint32_t tail = __atomic_load_n(a->cq_tail, __ATOMIC_ACQUIRE);
	int consumed = 0;
	while (head != tail) {
		const struct cqe32 *c = (const struct cqe32 *)(a->cqes + (size_t)(head & a->cq_mask) * 32);
		if (c->user_data == a->user_data) {
			if (c->res > 0 && a->pend_count == a->pend_cap)
				break; /* leave it in the ring until returns drain */
			a->cqes_seen++;
			if (!(c->flags & CQE_F_MORE)) {
				a->ended = 1;
				a->final_res = c->res;
			}
			if (c->res > 0) {
				uint64_t where = c->big0 & AREA_OFFSET_MASK;
				if (a->verify && !stream_ok(a, a->area + where, (uint32_t)c->res))
					a->bad++;
				a->stream_offset += (uint32_t)c->res;
				a->bytes += (uint32_t)c->res;
				uint32_t slot = (a->pend_head + a->pend_count) % a->pend_cap;
				a->pend_off[slot] = where | a->token;
				a->pend_len[slot] = (uint32_t)c->res;
				a->pend_count++;
			}
		}
		head++;
		consumed++;
	}
	/* Release: we are done with those CQEs; the kernel may reuse the slots. */
	__atomic_store_n(a->cq_head, head, __ATOMIC_RELEASE);
	flush(a);
	return consumed;
}
