/*
 * packet_seq.h: what the packet lab's C receive loops share with
 * uring/packet/stats.py and frames.py: big-endian field reads, the clock
 * (CLOCK_MONOTONIC, the same as Python's time.monotonic()), and sequence
 * tracking with the exact semantics of SeqTracker.add (one bit per
 * sequence number; unique, duplicate, reordered).
 */
#ifndef PACKET_SEQ_H
#define PACKET_SEQ_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LAB_MAGIC 0x55524E47u /* "URNG" at the start of every payload */
#define MAX_SEQ_TRACKED (1ull << 31)

struct seq_tracker {
	unsigned char *bits;
	uint64_t nbits, unique, duplicates, reordered;
	int64_t highest;
};

static inline double lab_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Record seq; 0 or -ENOMEM. */
static inline int seq_add(struct seq_tracker *t, uint64_t seq)
{
	if (seq >= MAX_SEQ_TRACKED) {
		t->unique++;
		return 0;
	}
	if (seq >= t->nbits) {
		uint64_t n = t->nbits ? t->nbits : 1 << 16;
		while (n <= seq)
			n *= 2;
		unsigned char *b = realloc(t->bits, n / 8);
		if (!b)
			return -ENOMEM;
		memset(b + t->nbits / 8, 0, (n - t->nbits) / 8);
		t->bits = b;
		t->nbits = n;
	}
	unsigned char m = 1u << (seq & 7);
	if (t->bits[seq >> 3] & m) {
		t->duplicates++;
		return 0;
	}
	t->bits[seq >> 3] |= m;
	t->unique++;
	if ((int64_t)seq < t->highest)
		t->reordered++;
	else
		t->highest = (int64_t)seq;
	return 0;
}

/* A lab frame to `port` of run `run_id`? Then *seq is its sequence number. */
static inline int lab_frame(const unsigned char *f, uint32_t len, uint32_t port, uint32_t run_id,
			    uint64_t *seq)
{
	if (len < 58 || be16(f + 12) != 0x0800 || f[14] != 0x45 || f[23] != 17 ||
	    be16(f + 36) != port || be32(f + 42) != LAB_MAGIC || be32(f + 46) != run_id)
		return 0;
	*seq = be64(f + 50);
	return 1;
}

#endif
