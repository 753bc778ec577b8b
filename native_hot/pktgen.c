/*
 * pktgen: the packet lab's frame generator in C (the hot loop of
 * uring/packet/gen.py, same options, same JSON result line).
 *
 *   pktgen --iface utx1a2b3c --size 64 --count 100000 [--rate PPS] [--duration S]
 *          [--flows F]
 *
 * AF_PACKET socket with PACKET_QDISC_BYPASS, sendmmsg(2) of --batch frames
 * per call, each frame's sequence number and UDP checksum patched in place
 * (RFC 1624 incremental update, as frames.py does). With --flows F, frame
 * seq leaves from UDP source port --sport + seq % F (one more word of the
 * checksum, patched the same way), so a multi-queue veth spreads the frames
 * over its queues by flow hash. Back-pressure: EAGAIN
 * (send buffer full of frames still on the veth ring) waits for POLLOUT;
 * ENOBUFS (device ring full) yields and resends.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif

#define ETH_HLEN_ 14
#define IP_HLEN 20
#define UDP_HLEN 8
#define PAYLOAD_OFF (ETH_HLEN_ + IP_HLEN + UDP_HLEN)
#define SEQ_OFF (PAYLOAD_OFF + 8)
#define UDP_SPORT_OFF (ETH_HLEN_ + IP_HLEN)
#define UDP_CSUM_OFF (ETH_HLEN_ + IP_HLEN + 6)
#define MAGIC 0x55524E47u
#define MIN_FRAME 60
#define STALL_SECONDS 5.0

struct opts {
	const char *iface;
	long size, batch, port, sport, flows, mtu, cpu;
	long long count;
	double duration, rate;
	unsigned long run_id;
	unsigned char src_mac[6], dst_mac[6];
	struct in_addr src_ip, dst_ip;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void json_error(const char *msg)
{
	/* msg never contains quotes or backslashes (built below). */
	printf("{\"event\": \"error\", \"message\": \"%s\", \"kind\": \"ValueError\"}\n", msg);
	fflush(stdout);
}

static int parse_mac(const char *s, unsigned char *mac)
{
	unsigned int b[6];
	char tail;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return -1;
		mac[i] = b[i];
	}
	return 0;
}

static uint32_t fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint32_t)sum;
}

static uint64_t sum16(const unsigned char *p, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static void put16(unsigned char *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(unsigned char *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static void put64(unsigned char *p, uint64_t v) { put32(p, v >> 32); put32(p + 4, (uint32_t)v); }

/* Build the seq-0 frame and return the template's folded UDP sum (pseudo header included). */
static uint32_t build_template(const struct opts *o, unsigned char *f)
{
	size_t size = o->size, udp_len = size - ETH_HLEN_ - IP_HLEN;
	memset(f, 0, size);
	memcpy(f, o->dst_mac, 6);
	memcpy(f + 6, o->src_mac, 6);
	put16(f + 12, 0x0800);
	unsigned char *ip = f + ETH_HLEN_;
	ip[0] = 0x45;
	put16(ip + 2, size - ETH_HLEN_);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &o->src_ip, 4);
	memcpy(ip + 16, &o->dst_ip, 4);
	put16(ip + 10, ~fold(sum16(ip, IP_HLEN)) & 0xffff);
	unsigned char *udp = ip + IP_HLEN;
	put16(udp, o->sport);
	put16(udp + 2, o->port);
	put16(udp + 4, udp_len);
	put32(udp + 8, MAGIC);
	put32(udp + 12, (uint32_t)o->run_id);
	unsigned char pseudo[12];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 17;
	put16(pseudo + 10, udp_len);
	return fold(sum16(pseudo, 12) + sum16(udp, udp_len));
}

/*
 * Patch the template copy f into the frame carrying seq. Its source port is
 * sport + seq % flows: the port word rises by the flow number, and so does
 * the checksum's sum (parse() keeps sport + flows - 1 within 16 bits).
 */
static inline void set_seq(unsigned char *f, uint32_t base, uint64_t seq, uint32_t sport,
			   uint32_t flows)
{
	uint32_t flow = flows > 1 ? (uint32_t)(seq % flows) : 0;
	uint64_t s = (uint64_t)base + (seq >> 48) + ((seq >> 32) & 0xffff) +
		     ((seq >> 16) & 0xffff) + (seq & 0xffff) + flow;
	uint16_t c = ~fold(s) & 0xffff;
	put64(f + SEQ_OFF, seq);
	if (flows > 1)
		put16(f + UDP_SPORT_OFF, sport + flow);
	put16(f + UDP_CSUM_OFF, c ? c : 0xffff);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"iface", required_argument, 0, 'i'}, {"size", required_argument, 0, 's'},
		{"count", required_argument, 0, 'c'}, {"duration", required_argument, 0, 'd'},
		{"rate", required_argument, 0, 'r'}, {"batch", required_argument, 0, 'b'},
		{"src-mac", required_argument, 0, 'M'}, {"dst-mac", required_argument, 0, 'm'},
		{"src-ip", required_argument, 0, 'A'}, {"dst-ip", required_argument, 0, 'a'},
		{"port", required_argument, 0, 'p'}, {"sport", required_argument, 0, 'P'},
		{"run-id", required_argument, 0, 'R'}, {"mtu", required_argument, 0, 'u'},
		{"cpu", required_argument, 0, 'C'}, {"native", required_argument, 0, 'n'},
		{"flows", required_argument, 0, 'F'}, {0, 0, 0, 0}};
	const char *src_mac = "02:75:72:00:00:01", *dst_mac = "02:75:72:00:00:02";
	const char *src_ip = "10.201.0.1", *dst_ip = "10.201.0.2";
	memset(o, 0, sizeof(*o));
	o->size = 64;
	o->batch = 64;
	o->port = o->sport = 9000;
	o->flows = 1;
	o->mtu = 1500;
	o->cpu = -1;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': o->iface = optarg; break;
		case 's': o->size = atol(optarg); break;
		case 'c': o->count = atoll(optarg); break;
		case 'd': o->duration = atof(optarg); break;
		case 'r': o->rate = atof(optarg); break;
		case 'b': o->batch = atol(optarg); break;
		case 'M': src_mac = optarg; break;
		case 'm': dst_mac = optarg; break;
		case 'A': src_ip = optarg; break;
		case 'a': dst_ip = optarg; break;
		case 'p': o->port = atol(optarg); break;
		case 'P': o->sport = atol(optarg); break;
		case 'R': o->run_id = strtoul(optarg, NULL, 0); break;
		case 'u': o->mtu = atol(optarg); break;
		case 'C': o->cpu = atol(optarg); break;
		case 'F': o->flows = atol(optarg); break;
		case 'n': break; /* --native: we are the native one */
		default: json_error("unknown option"); return -1;
		}
	}
	char msg[160];
	if (!o->iface) {
		json_error("--iface is required");
		return -1;
	}
	if (o->size < MIN_FRAME || o->size > o->mtu + ETH_HLEN_) {
		snprintf(msg, sizeof(msg), "size %ld is out of range: frames are %d..%ld bytes "
			 "(Ethernet without FCS, MTU %ld)", o->size, MIN_FRAME, o->mtu + ETH_HLEN_, o->mtu);
		json_error(msg);
		return -1;
	}
	if (o->count < 0 || o->duration < 0 || o->rate < 0 || (!o->count && !o->duration)) {
		json_error("give --count or --duration (or both): the run must be bounded");
		return -1;
	}
	if (o->batch < 1 || o->batch > 1024 || o->port < 1 || o->port > 65535 ||
	    o->sport < 1 || o->sport > 65535 || o->run_id > 0xffffffffUL) {
		json_error("batch must be in 1..1024, ports in 1..65535, run id a u32");
		return -1;
	}
	if (o->flows < 1 || o->flows > 65536 - o->sport) {
		snprintf(msg, sizeof(msg), "flows must be in 1..%ld (source ports %ld..%ld must stay "
			 "below 65536), not %ld", 65536 - o->sport, o->sport,
			 o->sport + o->flows - 1, o->flows);
		json_error(msg);
		return -1;
	}
	if (parse_mac(src_mac, o->src_mac) || parse_mac(dst_mac, o->dst_mac) ||
	    !inet_aton(src_ip, &o->src_ip) || !inet_aton(dst_ip, &o->dst_ip)) {
		json_error("bad MAC or IPv4 address");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o))
		return 2;
	unsigned int ifindex = if_nametoindex(o.iface);
	if (!ifindex) {
		char msg[128];
		snprintf(msg, sizeof(msg), "unknown interface %.32s in this network namespace", o.iface);
		json_error(msg);
		return 2;
	}
	if (o.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			json_error("cannot pin to that cpu");
			return 2;
		}
	}
	int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: never receives */
	if (fd < 0) {
		json_error("socket(AF_PACKET) failed (needs CAP_NET_RAW)");
		return 2;
	}
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = (int)ifindex};
	int one = 1;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) {
		json_error("bind/PACKET_QDISC_BYPASS failed");
		return 2;
	}

	long batch = o.batch;
	if (o.rate > 0) {
		long per_ms = (long)(o.rate / 1000);
		batch = per_ms < 1 ? 1 : per_ms < batch ? per_ms : batch;
	}
	size_t size = o.size;
	unsigned char *buf = calloc(batch, size);
	struct iovec *iov = calloc(batch, sizeof(*iov));
	struct mmsghdr *msgs = calloc(batch, sizeof(*msgs));
	if (!buf || !iov || !msgs)
		return 2;
	uint32_t base = build_template(&o, buf);
	for (long i = 0; i < batch; i++) {
		if (i)
			memcpy(buf + i * size, buf, size);
		iov[i].iov_base = buf + i * size;
		iov[i].iov_len = size;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	unsigned long long seq = 0, eagain = 0, enobufs = 0;
	double t0 = now(), end = o.duration > 0 ? t0 + o.duration : 1e300;
	double last_progress = t0;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int failed = 0;
	for (;;) {
		long n = batch;
		if (o.count && (long long)(o.count - seq) < n)
			n = (long)(o.count - seq);
		if (n <= 0)
			break;
		double t = now();
		if (t >= end)
			break;
		if (o.rate > 0) {
			double due = t0 + seq / o.rate;
			if (due > t) {
				struct timespec ts = {(time_t)(due - t), (long)((due - t - (time_t)(due - t)) * 1e9)};
				nanosleep(&ts, NULL);
			}
		}
		for (long i = 0; i < n; i++)
			set_seq(buf + i * size, base, seq + i, (uint32_t)o.sport, (uint32_t)o.flows);
		long done = 0;
		while (done < n) {
			int r = sendmmsg(fd, msgs + done, n - done, MSG_DONTWAIT);
			if (r > 0) {
				done += r;
				last_progress = now();
				continue;
			}
			if (r < 0 && errno == EAGAIN) {
				eagain++;
				poll(&pfd, 1, 10);
			} else if (r < 0 && errno == ENOBUFS) {
				enobufs++;
				sched_yield();
			} else if (r < 0 && errno != EINTR) {
				failed = errno;
				break;
			}
			t = now();
			if (t - last_progress > STALL_SECONDS) {
				failed = ETIMEDOUT;
				break;
			}
			if (t >= end)
				break;
		}
		seq += done;
		if (done < n)
			break;
	}
	double secs = now() - t0;
	if (failed) {
		char msg[160];
		snprintf(msg, sizeof(msg), "sendmmsg failed after %llu frames: %s", seq,
			 strerror(failed));
		json_error(msg);
		return 2;
	}
	printf("{\"event\": \"sent\", \"sent\": %llu, \"bytes\": %llu, \"seconds\": %.6f, "
	       "\"enobufs\": %llu, \"eagain\": %llu, \"native\": true, \"note\": \"\"}\n",
	       seq, seq * size, secs, enobufs, eagain);
	return 0;
}
