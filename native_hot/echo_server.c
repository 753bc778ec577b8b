/*
 * echo_server: the C reference echo server of the benchmark, on raw system
 * calls (no liburing): multishot accept, multishot recv into a registered
 * buffer ring, sends straight out of the received buffer, SINGLE_ISSUER +
 * DEFER_TASKRUN (COOP_TASKRUN before 6.1, neither before 5.19).
 *
 *   echo_server [--host 127.0.0.1] [--port 6666] [--entries 256]
 *               [--buffers 1024] [--buffer-size 4096] [--max-unsent 1048576]
 *
 * Prints "listening on HOST:PORT" when ready (--port 0 picks a port), runs
 * until SIGINT or SIGTERM, then prints one "summary:" line of key=value
 * tokens (connections, requests = receive completions with data, bytes,
 * syscalls made while serving, of which enters = io_uring_enter) and exits 0.
 *
 * The design follows liburing's examples/echo-server.c; what it adds:
 *  - one send in flight per connection, the rest queued in order, a short
 *    send resubmitted for its remainder: two sends in flight on one socket
 *    may complete out of order once one of them has to wait for space;
 *  - a connection whose multishot recv ended on ENOBUFS waits on a list and
 *    is re-armed once buffers come back, whichever connection returns them;
 *  - a client that does not read: past --max-unsent queued bytes its recv is
 *    cancelled, and re-armed when the queue has drained to half;
 *  - a descriptor is closed only when none of its requests is in flight, so
 *    no completion can name a recycled descriptor (user_data also carries a
 *    generation number to check it);
 *  - SIGINT/SIGTERM are blocked except inside io_uring_enter (its sigmask
 *    argument, like ppoll), so a stop request never slips in between the
 *    flag check and the wait.
 * Needs Linux 6.0 (multishot recv, buffer rings); the 6.1 uapi header has it all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/io_uring.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BGID 0
#define MAX_CONNS (1u << 20)

enum { EV_ACCEPT = 1, EV_RECV, EV_SEND, EV_CANCEL };

/* user_data: type in bits 63-56, generation in 55-32, descriptor in 31-0. */
static uint64_t ud_make(unsigned type, uint32_t gen, int fd)
{
	return (uint64_t)type << 56 | (uint64_t)(gen & 0xffffff) << 32 | (uint32_t)fd;
}
#define UD_TYPE(u) ((unsigned)((u) >> 56))
#define UD_GEN(u) ((uint32_t)((u) >> 32) & 0xffffff)
#define UD_FD(u) ((int)(uint32_t)(u))

/* The kernel publishes CQ tail and reads SQ/buffer-ring tails: acquire
 * what it wrote, release what we write (liburing's barrier.h). */
#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

struct ring {
	int fd;
	unsigned flags, features;
	unsigned sq_entries, cq_entries, sq_mask, cq_mask;
	unsigned *sq_head, *sq_tail, *sq_array;
	unsigned *cq_head, *cq_tail;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	unsigned sqe_tail;	/* SQEs filled; *sq_tail catches up on enter */
	void *sq_map, *cq_map;
	size_t sq_map_size, cq_map_size, sqes_size;
};

struct pending {		/* one received buffer waiting to be echoed */
	uint16_t bid;
	uint32_t off, len;
};

struct conn {
	uint32_t gen;
	unsigned open : 1, recv_armed : 1, send_inflight : 1, waiting : 1,
		 paused : 1, closing : 1, dead : 1;
	unsigned qhead, qlen, qcap;	/* circular queue, qcap a power of 2 */
	size_t unsent;
	struct pending *q;
};

struct waiter {
	int fd;
	uint32_t gen;
};

static struct {
	char *host;
	int port;
	unsigned entries, buffers, buffer_size;
	size_t max_unsent;
} opt = { "127.0.0.1", 6666, 256, 1024, 4096, 1 << 20 };

static struct {
	unsigned long long connections, requests, bytes, syscalls, enters;
	unsigned long long partial_sends, enobufs, read_paused, accept_paused;
} st;

static struct ring R;
static struct io_uring_buf_ring *br;
static unsigned char *buf_base;
static unsigned br_tail, br_mask, recycled;
static unsigned held;		/* buffers out of the ring: received, not yet recycled */
static struct conn *conns;
static unsigned nconns;
static struct waiter *waiters;	/* FIFO: [waiters_head, nwaiters) */
static unsigned waiters_head, nwaiters, waiters_cap;
static int listen_fd, accept_armed, accept_blocked;
static volatile sig_atomic_t stop;
static sigset_t wait_mask;	/* mask while inside io_uring_enter */

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_server: %s: %s\n", what, strerror(err));
	exit(1);
}

static int sys_io_uring_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_io_uring_enter(int fd, unsigned to_submit, unsigned min_complete,
			      unsigned flags, const sigset_t *sig)
{
	/* The kernel's sigset is _NSIG bits, not glibc's 1024-bit sigset_t. */
	return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags,
			    sig, sig ? (size_t)(_NSIG / 8) : (size_t)0);
}

static int sys_io_uring_register(int fd, unsigned op, void *arg, unsigned nr)
{
	return (int)syscall(__NR_io_uring_register, fd, op, arg, nr);
}

static const char *ring_setup(unsigned entries)
{
	static const struct { unsigned flags; const char *name; } modes[] = {
		{ IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE |
		  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "defer_taskrun" },
		{ IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN,
		  "coop_taskrun" },
		{ IORING_SETUP_CQSIZE, "plain" },
	};
	struct io_uring_params p;
	const char *mode = NULL;
	unsigned i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = modes[i].flags;
		/* Multishot requests post many CQEs per SQE: a roomy CQ keeps
		 * them out of the (slow) overflow list. */
		p.cq_entries = entries * 4;
		R.fd = sys_io_uring_setup(entries, &p);
		if (R.fd >= 0) {
			mode = modes[i].name;
			break;
		}
		if (errno != EINVAL)
			die("io_uring_setup", errno);
	}
	if (!mode)
		die("io_uring_setup", EINVAL);
	R.flags = p.flags;
	R.features = p.features;
	R.sq_entries = p.sq_entries;
	R.cq_entries = p.cq_entries;

	R.sq_map_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	R.cq_map_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (R.cq_map_size > R.sq_map_size)
			R.sq_map_size = R.cq_map_size;
		R.cq_map_size = R.sq_map_size;
	}
	R.sq_map = mmap(NULL, R.sq_map_size, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_POPULATE, R.fd, IORING_OFF_SQ_RING);
	if (R.sq_map == MAP_FAILED)
		die("mmap SQ ring", errno);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		R.cq_map = R.sq_map;
	} else {
		R.cq_map = mmap(NULL, R.cq_map_size, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_POPULATE, R.fd, IORING_OFF_CQ_RING);
		if (R.cq_map == MAP_FAILED)
			die("mmap CQ ring", errno);
	}
	R.sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
	R.sqes = mmap(NULL, R.sqes_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_POPULATE, R.fd, IORING_OFF_SQES);
	if (R.sqes == MAP_FAILED)
		die("mmap SQEs", errno);

	R.sq_head = (unsigned *)((char *)R.sq_map + p.sq_off.head);
	R.sq_tail = (unsigned *)((char *)R.sq_map + p.sq_off.tail);
	R.sq_mask = *(unsigned *)((char *)R.sq_map + p.sq_off.ring_mask);
	R.sq_array = (unsigned *)((char *)R.sq_map + p.sq_off.array);
	R.cq_head = (unsigned *)((char *)R.cq_map + p.cq_off.head);
	R.cq_tail = (unsigned *)((char *)R.cq_map + p.cq_off.tail);
	R.cq_mask = *(unsigned *)((char *)R.cq_map + p.cq_off.ring_mask);
	R.cqes = (struct io_uring_cqe *)((char *)R.cq_map + p.cq_off.cqes);
	/* Identity mapping: SQE slot i is always named by array[i]. */
	for (i = 0; i < R.sq_entries; i++)
		R.sq_array[i] = i;
	R.sqe_tail = *R.sq_tail;
	return mode;
}

/* Publish the filled SQEs and enter; returns what io_uring_enter returns,
 * or -errno. */
static int ring_enter(unsigned min_complete, unsigned flags, const sigset_t *sig)
{
	unsigned to_submit;
	int ret;

	store_release(R.sq_tail, R.sqe_tail);
	/* Count from the kernel's head: SQEs a failed enter left behind are
	 * submitted again. */
	to_submit = R.sqe_tail - load_acquire(R.sq_head);
	ret = sys_io_uring_enter(R.fd, to_submit, min_complete, flags, sig);
	st.enters++;
	st.syscalls++;
	return ret < 0 ? -errno : ret;
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe;

	while (R.sqe_tail - load_acquire(R.sq_head) >= R.sq_entries) {
		int ret = ring_enter(0, 0, NULL);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			die("io_uring_enter (flush)", -ret);
	}
	sqe = &R.sqes[R.sqe_tail & R.sq_mask];
	R.sqe_tail++;
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

static void buf_ring_setup(void)
{
	struct io_uring_buf_reg reg;
	size_t ring_size = (size_t)opt.buffers * sizeof(struct io_uring_buf);
	unsigned i;

	br = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	buf_base = mmap(NULL, (size_t)opt.buffers * opt.buffer_size, PROT_READ | PROT_WRITE,
			MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
	if (br == MAP_FAILED || buf_base == MAP_FAILED)
		die("mmap buffers", errno);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)br;
	reg.ring_entries = opt.buffers;
	reg.bgid = BGID;
	if (sys_io_uring_register(R.fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
		die("IORING_REGISTER_PBUF_RING (Linux 5.19)", errno);
	br_mask = opt.buffers - 1;
	br_tail = 0;
	for (i = 0; i < opt.buffers; i++) {
		struct io_uring_buf *b = &br->bufs[br_tail++ & br_mask];

		/* Only addr, len and bid: bufs[0].resv is the ring's tail. */
		b->addr = (uint64_t)(uintptr_t)(buf_base + (size_t)i * opt.buffer_size);
		b->len = opt.buffer_size;
		b->bid = (uint16_t)i;
	}
	store_release(&br->tail, (uint16_t)br_tail);
}

static void buf_recycle(unsigned bid)
{
	struct io_uring_buf *b = &br->bufs[br_tail++ & br_mask];

	b->addr = (uint64_t)(uintptr_t)(buf_base + (size_t)bid * opt.buffer_size);
	b->len = opt.buffer_size;
	b->bid = (uint16_t)bid;
	recycled++;
	held--;
}

/* Recycled buffers become visible to the kernel here, once per loop. */
static void buf_publish(void)
{
	store_release(&br->tail, (uint16_t)br_tail);
}

static void arm_accept(void)
{
	struct io_uring_sqe *sqe = get_sqe();

	sqe->opcode = IORING_OP_ACCEPT;
	sqe->fd = listen_fd;
	sqe->ioprio = IORING_ACCEPT_MULTISHOT;
	sqe->accept_flags = SOCK_CLOEXEC;
	sqe->user_data = ud_make(EV_ACCEPT, 0, listen_fd);
	accept_armed = 1;
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = get_sqe();
	struct conn *c = &conns[fd];

	sqe->opcode = IORING_OP_RECV;
	sqe->fd = fd;
	sqe->ioprio = IORING_RECV_MULTISHOT;
	sqe->flags = IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->user_data = ud_make(EV_RECV, c->gen, fd);
	c->recv_armed = 1;
}

static void cancel_recv(int fd)
{
	struct io_uring_sqe *sqe = get_sqe();
	struct conn *c = &conns[fd];

	sqe->opcode = IORING_OP_ASYNC_CANCEL;
	sqe->fd = -1;
	sqe->addr = ud_make(EV_RECV, c->gen, fd);
	sqe->user_data = ud_make(EV_CANCEL, c->gen, fd);
}

static void send_head(int fd)
{
	struct conn *c = &conns[fd];
	struct pending *p = &c->q[c->qhead & (c->qcap - 1)];
	struct io_uring_sqe *sqe = get_sqe();

	sqe->opcode = IORING_OP_SEND;
	sqe->fd = fd;
	sqe->addr = (uint64_t)(uintptr_t)(buf_base + (size_t)p->bid * opt.buffer_size + p->off);
	sqe->len = p->len;
	sqe->msg_flags = MSG_NOSIGNAL;
	sqe->user_data = ud_make(EV_SEND, c->gen, fd);
	c->send_inflight = 1;
}

static void queue_send(int fd, unsigned bid, unsigned len)
{
	struct conn *c = &conns[fd];
	struct pending *p;

	if (c->qlen == c->qcap) {
		unsigned cap = c->qcap ? c->qcap * 2 : 4, i;
		struct pending *q = malloc(cap * sizeof(*q));

		if (!q)
			die("malloc", ENOMEM);
		for (i = 0; i < c->qlen; i++)
			q[i] = c->q[(c->qhead + i) & (c->qcap - 1)];
		free(c->q);
		c->q = q;
		c->qcap = cap;
		c->qhead = 0;
	}
	p = &c->q[(c->qhead + c->qlen++) & (c->qcap - 1)];
	p->bid = (uint16_t)bid;
	p->off = 0;
	p->len = len;
	c->unsent += len;
	if (!c->send_inflight)
		send_head(fd);
}

static void drop_queue(struct conn *c)
{
	while (c->qlen) {
		buf_recycle(c->q[c->qhead & (c->qcap - 1)].bid);
		c->qhead++;
		c->qlen--;
	}
	c->unsent = 0;
}

static void add_waiter(int fd)
{
	struct conn *c = &conns[fd];

	if (c->waiting)
		return;
	if (nwaiters == waiters_cap && waiters_head) {
		memmove(waiters, waiters + waiters_head,
			(nwaiters - waiters_head) * sizeof(*waiters));
		nwaiters -= waiters_head;
		waiters_head = 0;
	}
	if (nwaiters == waiters_cap) {
		waiters_cap = waiters_cap ? waiters_cap * 2 : 64;
		waiters = realloc(waiters, waiters_cap * sizeof(*waiters));
		if (!waiters)
			die("realloc", ENOMEM);
	}
	waiters[nwaiters].fd = fd;
	waiters[nwaiters++].gen = c->gen;
	c->waiting = 1;
}

/* Re-arm the receives that ran out of buffers, first come first served,
 * no more of them than there are buffers in the ring: re-arming everyone at
 * the first returned buffer only buys a storm of ENOBUFS completions. */
static void rearm_waiters(void)
{
	unsigned budget = opt.buffers - held;

	if (!recycled)
		return;
	while (waiters_head < nwaiters && budget) {
		struct waiter *w = &waiters[waiters_head++];
		struct conn *c = &conns[w->fd];

		if (!c->open || c->gen != w->gen)
			continue;
		c->waiting = 0;
		if (!c->recv_armed && !c->closing && !c->paused && !c->dead) {
			arm_recv(w->fd);
			budget--;
		}
	}
	if (waiters_head == nwaiters)
		waiters_head = nwaiters = 0;
}

static void maybe_close(int fd)
{
	struct conn *c = &conns[fd];

	if (!c->closing || c->recv_armed || c->send_inflight)
		return;
	drop_queue(c);
	close(fd);
	st.syscalls++;
	c->open = 0;
	c->gen++;
	c->waiting = 0;
	if (accept_blocked) {
		/* A descriptor is free again after EMFILE: accept resumes. */
		accept_blocked = 0;
		arm_accept();
	}
}

static struct conn *conn_of(uint64_t ud)
{
	int fd = UD_FD(ud);

	if (fd < 0 || (unsigned)fd >= nconns || !conns[fd].open ||
	    (conns[fd].gen & 0xffffff) != UD_GEN(ud))
		return NULL;
	return &conns[fd];
}

static void on_accept(const struct io_uring_cqe *cqe)
{
	struct conn *c;
	int fd = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		accept_armed = 0;
	if (fd < 0) {
		if (fd == -EMFILE || fd == -ENFILE) {
			st.accept_paused++;
			if (!accept_armed)
				accept_blocked = 1;	/* until a close frees one */
		} else if (!accept_armed && !stop) {
			arm_accept();
		}
		return;
	}
	if (!accept_armed)
		arm_accept();
	if ((unsigned)fd >= nconns) {
		close(fd);
		st.syscalls++;
		return;
	}
	c = &conns[fd];
	c->open = 1;
	c->recv_armed = c->send_inflight = c->waiting = 0;
	c->paused = c->closing = c->dead = 0;
	c->qhead = c->qlen = 0;
	c->unsent = 0;
	st.connections++;
	arm_recv(fd);
}

static void on_recv(const struct io_uring_cqe *cqe)
{
	struct conn *c = conn_of(cqe->user_data);
	int fd = UD_FD(cqe->user_data);

	if (!c) {
		/* Cannot happen: a descriptor closes only when idle. */
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			held++;
			buf_recycle(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		}
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = 0;
	if (cqe->res > 0) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		st.requests++;
		st.bytes += (unsigned)cqe->res;
		held++;
		if (c->dead)
			buf_recycle(bid);
		else
			queue_send(fd, bid, (unsigned)cqe->res);
		if (c->unsent > opt.max_unsent && !c->paused) {
			/* The client is not reading its echo: stop taking its data. */
			c->paused = 1;
			st.read_paused++;
			if (c->recv_armed)
				cancel_recv(fd);
		} else if (!c->recv_armed && !c->paused && !c->closing && !c->dead) {
			/* Multishot ended without an error (e.g. CQ overflow). */
			arm_recv(fd);
		}
	} else if (cqe->res == -ENOBUFS) {
		st.enobufs++;
		if (!c->recv_armed && !c->paused)
			add_waiter(fd);
	} else if (cqe->res == -ECANCELED) {
		/* Our own pause; it may have been lifted meanwhile. */
		if (!c->recv_armed && !c->paused && !c->closing && !c->dead)
			arm_recv(fd);
	} else {
		/* 0 = the client shut its side: the rest is echoed, then close. */
		c->closing = 1;
	}
	maybe_close(fd);
}

static void on_send(const struct io_uring_cqe *cqe)
{
	struct conn *c = conn_of(cqe->user_data);
	int fd = UD_FD(cqe->user_data);
	struct pending *p;

	if (!c)
		return;
	c->send_inflight = 0;
	if (cqe->res <= 0) {
		/* The peer is gone: drop its data, end its recv, close when idle. */
		c->dead = 1;
		c->closing = 1;
		drop_queue(c);
		if (c->recv_armed)
			cancel_recv(fd);
		maybe_close(fd);
		return;
	}
	p = &c->q[c->qhead & (c->qcap - 1)];
	p->off += (unsigned)cqe->res;
	p->len -= (unsigned)cqe->res;
	c->unsent -= (unsigned)cqe->res;
	if (p->len) {
		st.partial_sends++;
	} else {
		buf_recycle(p->bid);
		c->qhead++;
		c->qlen--;
	}
	if (c->qlen)
		send_head(fd);	/* the remainder first: order is kept */
	if (c->paused && c->unsent <= opt.max_unsent / 2) {
		c->paused = 0;
		if (!c->recv_armed && !c->closing)
			arm_recv(fd);
	}
	maybe_close(fd);
}

static void reap(void)
{
	unsigned head = *R.cq_head, tail = load_acquire(R.cq_tail);

	for (; head != tail; head++) {
		const struct io_uring_cqe *cqe = &R.cqes[head & R.cq_mask];

		switch (UD_TYPE(cqe->user_data)) {
		case EV_ACCEPT: on_accept(cqe); break;
		case EV_RECV: on_recv(cqe); break;
		case EV_SEND: on_send(cqe); break;
		default: break;	/* EV_CANCEL: its target's CQE says it all */
		}
	}
	/* The kernel may reuse the slots once the head moves past them. */
	store_release(R.cq_head, head);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void setup_signals(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: the wait returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
}

static void setup_listener(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	char port[16], host[NI_MAXHOST], serv[NI_MAXSERV];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1, ret;

	snprintf(port, sizeof(port), "%d", opt.port);
	ret = getaddrinfo(opt.host, port, &hints, &ai);
	if (ret) {
		fprintf(stderr, "echo_server: %s: %s\n", opt.host, gai_strerror(ret));
		exit(2);
	}
	listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		die("socket", errno);
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Accepted sockets inherit TCP_NODELAY: no setsockopt per connection. */
	setsockopt(listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(listen_fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("bind", errno);
	if (listen(listen_fd, SOMAXCONN) < 0)
		die("listen", errno);
	freeaddrinfo(ai);
	getsockname(listen_fd, (struct sockaddr *)&ss, &len);
	getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	printf(ss.ss_family == AF_INET6 ? "listening on [%s]:%s\n" : "listening on %s:%s\n",
	       host, serv);
	fflush(stdout);
}

static unsigned raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > MAX_CONNS ? MAX_CONNS : (unsigned)rl.rlim_cur;
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_server [--host HOST] [--port PORT] [--entries N]\n"
			"                   [--buffers N (power of 2, <= 32768)] [--buffer-size BYTES]\n"
			"                   [--max-unsent BYTES]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "entries", required_argument, NULL, 'e' },
		{ "buffers", required_argument, NULL, 'b' },
		{ "buffer-size", required_argument, NULL, 's' },
		{ "max-unsent", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "H:p:e:b:s:m:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'e': opt.entries = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'b': opt.buffers = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': opt.buffer_size = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm': opt.max_unsent = strtoull(optarg, NULL, 10); break;
		default: usage();
		}
	}
	/* Buffer ids are 16 bits and the ring holds at most 32768 entries. */
	if (optind != argc || !opt.entries || !opt.buffer_size || opt.buffers < 2 ||
	    opt.buffers > 32768 || (opt.buffers & (opt.buffers - 1)))
		usage();
}

int main(int argc, char **argv)
{
	struct rusage ru;
	const char *mode;
	unsigned i;

	parse_args(argc, argv);
	nconns = raise_nofile();
	conns = calloc(nconns, sizeof(*conns));
	if (!conns)
		die("calloc", ENOMEM);
	setup_signals();
	mode = ring_setup(opt.entries);
	buf_ring_setup();
	setup_listener();
	fprintf(stderr, "echo_server: ring %s, %u SQ / %u CQ entries, %u buffers of %u bytes\n",
		mode, R.sq_entries, R.cq_entries, opt.buffers, opt.buffer_size);

	arm_accept();
	while (!stop) {
		int ret;

		rearm_waiters();
		recycled = 0;
		buf_publish();
		/* Submit everything queued and sleep until a completion; the
		 * signals are deliverable only in here. */
		ret = ring_enter(1, IORING_ENTER_GETEVENTS, &wait_mask);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY &&
		    ret != -ETIME)
			die("io_uring_enter", -ret);
		reap();
	}

	getrusage(RUSAGE_SELF, &ru);
	printf("summary: server=c-multishot mode=%s connections=%llu requests=%llu bytes=%llu "
	       "syscalls=%llu enters=%llu syscalls_per_request=%.3f cpu_s=%.3f "
	       "partial_sends=%llu enobufs=%llu read_paused=%llu accept_paused=%llu\n",
	       mode, st.connections, st.requests, st.bytes, st.syscalls, st.enters,
	       st.requests ? (double)st.syscalls / (double)st.requests : 0.0,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
	       st.partial_sends, st.enobufs, st.read_paused, st.accept_paused);
	fflush(stdout);

	/* Closing the ring cancels what is still in flight. */
	for (i = 0; i < nconns; i++)
		if (conns[i].open)
			close((int)i);
	close(listen_fd);
	munmap(R.sqes, R.sqes_size);
	if (R.cq_map != R.sq_map)
		munmap(R.cq_map, R.cq_map_size);
	munmap(R.sq_map, R.sq_map_size);
	close(R.fd);
	return 0;
}
