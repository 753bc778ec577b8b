/*
 * echo_load: echo load generator with haraldh/rust_echo_bench semantics.
 *
 *   echo_load --address 127.0.0.1:6666 --number 50 --length 128 \
 *             --duration 10 [--warmup 1] [--server-pid PID] [--json]
 *
 * N connections, one epoll thread, non-blocking sockets. Every connection
 * sends L bytes, waits for the whole echo, checks every byte, and repeats.
 * The bytes of round r on connection c are a window of a per-connection
 * pseudo-random block starting at r % 251, so a server that echoes stale,
 * shifted or another connection's data is caught by the byte compare.
 *
 * After the warm-up the counters restart; the report covers the measured
 * window only: round trips/s, latency percentiles (log-linear histogram,
 * about 3% resolution), mismatches and connection errors, the client's own
 * CPU time and, with --server-pid, the server's CPU time over the window
 * (sum of /proc/PID/task/ * /schedstat). Exit status: 0 when every byte
 * matched and no connection failed, 1 otherwise, 2 for bad arguments.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PATTERN_SPAN 251	/* rounds cycle through 251 start offsets */
#define SCRATCH_SIZE (256 * 1024)
#define CONNECT_PARALLEL 128	/* connects in flight at once */
#define MAX_EVENTS 1024

/* Log-linear histogram of nanoseconds: exact below 64, then 32 sub-buckets
 * per power of two. */
#define HIST_SUB_BITS 5
#define HIST_SIZE (64 + (64 - 6) * (1 << HIST_SUB_BITS))

enum conn_state { C_IDLE, C_CONNECTING, C_WAIT_RETRY, C_READY, C_RUNNING, C_DEAD };

struct conn {
	int fd;
	enum conn_state state;
	unsigned attempts;
	uint64_t retry_at;	/* ns, for C_WAIT_RETRY */
	uint64_t round;
	size_t sent, got;
	uint64_t t0;		/* ns when the round's first byte was sent */
	uint32_t events;	/* epoll interest currently registered */
	unsigned char *pattern;	/* length + PATTERN_SPAN bytes */
};

struct options {
	char *host;
	char *port;
	unsigned number;
	size_t length;
	double duration;
	double warmup;
	double connect_timeout;
	int server_pid;
	int json;
};

static struct options opt = {
	.number = 50, .length = 128, .duration = 10.0, .warmup = 1.0,
	.connect_timeout = 10.0, .server_pid = 0,
};

static struct conn *conns;
static int epfd;
static unsigned char scratch[SCRATCH_SIZE];
static uint64_t hist[HIST_SIZE];
static uint64_t round_trips, mismatches, errors, bytes_moved;
static volatile sig_atomic_t interrupted;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned hist_index(uint64_t v)
{
	unsigned e, shift;

	if (v < 64)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);	/* e >= 6 */
	shift = e - HIST_SUB_BITS;
	return 64 + (e - 6) * (1u << HIST_SUB_BITS) +
	       (unsigned)((v >> shift) - (1u << HIST_SUB_BITS));
}

/* Midpoint of bucket i, in ns. */
static double hist_value(unsigned i)
{
	unsigned e, shift, m;

	if (i < 64)
		return i;
	e = (i - 64) / (1u << HIST_SUB_BITS) + 6;
	m = (i - 64) % (1u << HIST_SUB_BITS) + (1u << HIST_SUB_BITS);
	shift = e - HIST_SUB_BITS;
	return (double)((uint64_t)m << shift) + (double)(1ull << shift) / 2.0;
}

static double hist_percentile(double q)
{
	uint64_t total = 0, seen = 0, want;
	unsigned i;

	for (i = 0; i < HIST_SIZE; i++)
		total += hist[i];
	if (!total)
		return 0.0;
	want = (uint64_t)(q * (double)total);
	if (want >= total)
		want = total - 1;
	for (i = 0; i < HIST_SIZE; i++) {
		seen += hist[i];
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(HIST_SIZE - 1);
}

/* splitmix64: a tiny, good-enough generator for the per-connection block. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned char *payload(struct conn *c)
{
	return c->pattern + c->round % PATTERN_SPAN;
}

static uint64_t server_cpu_ns(void)
{
	char path[64], line[320];
	struct dirent *d;
	uint64_t sum = 0;
	DIR *dir;

	if (!opt.server_pid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", opt.server_pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(line, sizeof(line), "/proc/%d/task/%s/schedstat",
			 opt.server_pid, d->d_name);
		f = fopen(line, "r");
		if (!f)
			continue;	/* the thread exited meanwhile */
		if (fgets(line, sizeof(line), f))
			sum += strtoull(line, NULL, 10);
		fclose(f);
	}
	closedir(dir);
	return sum;
}

static double client_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void set_interest(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)(c - conns) };

	if (c->events == events)
		return;
	if (epoll_ctl(epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		perror("echo_load: epoll_ctl");
		exit(1);
	}
	c->events = events;
}

static void conn_fail(struct conn *c, const char *what, int err)
{
	if (c->state == C_DEAD)
		return;
	fprintf(stderr, "echo_load: connection %ld: %s: %s\n",
		(long)(c - conns), what, err ? strerror(err) : "closed by server");
	errors++;
	if (c->fd >= 0)
		close(c->fd);	/* also removes it from the epoll set */
	c->fd = -1;
	c->events = 0;
	c->state = C_DEAD;
}

static struct addrinfo *resolve(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int ret = getaddrinfo(opt.host, opt.port, &hints, &ai);

	if (ret) {
		fprintf(stderr, "echo_load: %s:%s: %s\n", opt.host, opt.port, gai_strerror(ret));
		exit(2);
	}
	return ai;
}

static void start_connect(struct conn *c, const struct addrinfo *ai)
{
	int one = 1;

	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		perror("echo_load: socket");
		exit(1);
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->attempts++;
	c->events = 0;
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		c->state = C_READY;
		return;
	}
	if (errno == EINPROGRESS) {
		c->state = C_CONNECTING;
		set_interest(c, EPOLLOUT);
		return;
	}
	/* EAGAIN (no local port or listen queue full on some paths),
	 * ECONNREFUSED (server not there yet): back off and retry. */
	close(c->fd);
	c->fd = -1;
	c->state = C_WAIT_RETRY;
	c->retry_at = now_ns() + (1000000ull << (c->attempts < 8 ? c->attempts : 8));
}

static void connect_all(void)
{
	struct addrinfo *ai = resolve();
	uint64_t deadline = now_ns() + (uint64_t)(opt.connect_timeout * 1e9);
	struct epoll_event evs[MAX_EVENTS];
	unsigned next = 0, ready = 0, inflight = 0, i;

	while (ready < opt.number) {
		uint64_t now = now_ns();
		int n;

		if (now > deadline || interrupted) {
			fprintf(stderr, "echo_load: %u of %u connections established in %.1f s\n",
				ready, opt.number, opt.connect_timeout);
			exit(1);
		}
		for (i = 0; i < next; i++) {
			struct conn *c = &conns[i];

			if (c->state == C_WAIT_RETRY && now >= c->retry_at) {
				start_connect(c, ai);
				if (c->state == C_READY) {
					ready++;
					inflight--;
				}
			}
		}
		while (next < opt.number && inflight < CONNECT_PARALLEL) {
			struct conn *c = &conns[next++];

			start_connect(c, ai);
			if (c->state == C_READY)
				ready++;
			else
				inflight++;
		}
		n = epoll_wait(epfd, evs, MAX_EVENTS, 1);
		for (i = 0; i < (unsigned)(n > 0 ? n : 0); i++) {
			struct conn *c = &conns[evs[i].data.u32];
			int err = 0;
			socklen_t len = sizeof(err);

			if (c->state != C_CONNECTING)
				continue;
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (!err) {
				c->state = C_READY;
				ready++;
				inflight--;
				continue;
			}
			close(c->fd);
			c->fd = -1;
			c->events = 0;
			c->state = C_WAIT_RETRY;
			c->retry_at = now_ns() + (1000000ull << (c->attempts < 8 ? c->attempts : 8));
		}
	}
	freeaddrinfo(ai);
}

static void try_send(struct conn *c)
{
	while (c->sent < opt.length) {
		ssize_t n = send(c->fd, payload(c) + c->sent, opt.length - c->sent,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN) {
				set_interest(c, EPOLLIN | EPOLLOUT);
				return;
			}
			if (errno == EINTR)
				continue;
			conn_fail(c, "send", errno);
			return;
		}
		c->sent += (size_t)n;
	}
	set_interest(c, EPOLLIN);
}

static void start_round(struct conn *c)
{
	c->sent = 0;
	c->got = 0;
	c->t0 = now_ns();
	try_send(c);
}

static void try_recv(struct conn *c)
{
	while (c->state == C_RUNNING && c->got < opt.length) {
		size_t want = opt.length - c->got;
		ssize_t n;

		if (want > SCRATCH_SIZE)
			want = SCRATCH_SIZE;
		n = recv(c->fd, scratch, want, 0);
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR)
				continue;
			conn_fail(c, "recv", errno);
			return;
		}
		if (n == 0) {
			conn_fail(c, "recv", 0);
			return;
		}
		if (c->got + (size_t)n > c->sent ||
		    memcmp(scratch, payload(c) + c->got, (size_t)n)) {
			size_t at = 0;

			while (at < (size_t)n && c->got + at < c->sent &&
			       scratch[at] == payload(c)[c->got + at])
				at++;
			/* The stream is out of step now; drop this connection. */
			fprintf(stderr, "echo_load: connection %ld: mismatch in round %" PRIu64
				" at byte %zu\n", (long)(c - conns), c->round, c->got + at);
			mismatches++;
			close(c->fd);
			c->fd = -1;
			c->state = C_DEAD;
			return;
		}
		c->got += (size_t)n;
		bytes_moved += (size_t)n;
		if ((size_t)n < want)
			break;	/* socket probably drained: let epoll say when */
	}
	if (c->state == C_RUNNING && c->got == opt.length) {
		uint64_t t = now_ns();

		hist[hist_index(t - c->t0)]++;
		round_trips++;
		c->round++;
		start_round(c);
	}
}

static unsigned alive(void)
{
	unsigned i, n = 0;

	for (i = 0; i < opt.number; i++)
		n += conns[i].state == C_RUNNING;
	return n;
}

/* Run until `until` (ns). */
static void run(uint64_t until)
{
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		uint64_t now = now_ns();
		int n, i, timeout;

		if (now >= until || interrupted)
			return;
		timeout = (int)((until - now + 999999) / 1000000);
		n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("echo_load: epoll_wait");
			exit(1);
		}
		for (i = 0; i < n; i++) {
			struct conn *c = &conns[evs[i].data.u32];

			if (c->state != C_RUNNING)
				continue;
			if (evs[i].events & EPOLLOUT)
				try_send(c);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				try_recv(c);
		}
		if (n > 0 && !alive())
			return;
	}
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s --address HOST:PORT [--number N] [--length BYTES] [--duration S]\n"
		"          [--warmup S] [--connect-timeout S] [--server-pid PID] [--json]\n",
		argv0);
	exit(2);
}

static void parse_address(char *arg)
{
	char *colon = strrchr(arg, ':');

	if (!colon || colon == arg)
		usage("echo_load");
	*colon = 0;
	opt.host = arg;
	opt.port = colon + 1;
	/* [::1]:port */
	if (opt.host[0] == '[' && colon[-1] == ']') {
		opt.host++;
		colon[-1] = 0;
	}
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "number", required_argument, NULL, 'c' },
		{ "length", required_argument, NULL, 'l' },
		{ "duration", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "connect-timeout", required_argument, NULL, 'T' },
		{ "server-pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "a:c:l:t:w:T:p:jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a': parse_address(optarg); break;
		case 'c': opt.number = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'l': opt.length = strtoull(optarg, NULL, 10); break;
		case 't': opt.duration = strtod(optarg, NULL); break;
		case 'w': opt.warmup = strtod(optarg, NULL); break;
		case 'T': opt.connect_timeout = strtod(optarg, NULL); break;
		case 'p': opt.server_pid = atoi(optarg); break;
		case 'j': opt.json = 1; break;
		default: usage(argv[0]);
		}
	}
	if (!opt.host || !opt.number || !opt.length || opt.duration <= 0 || opt.warmup < 0)
		usage(argv[0]);
}

int main(int argc, char **argv)
{
	uint64_t seed, t_start, t_end, warm_rounds, cpu0, cpu1;
	double ccpu0, ccpu1, elapsed, rate, connect_s;
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned i;
	size_t j;

	parse_args(argc, argv);
	raise_nofile();
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	conns = calloc(opt.number, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0) {
		perror("echo_load: setup");
		return 1;
	}
	for (i = 0; i < opt.number; i++) {
		struct conn *c = &conns[i];

		c->fd = -1;
		c->pattern = malloc(opt.length + PATTERN_SPAN);
		if (!c->pattern) {
			perror("echo_load: malloc");
			return 1;
		}
		seed = 0x5eed0000ull + i;
		for (j = 0; j < opt.length + PATTERN_SPAN; j += 8) {
			uint64_t r = splitmix64(&seed);
			size_t k = opt.length + PATTERN_SPAN - j;

			memcpy(c->pattern + j, &r, k < 8 ? k : 8);
		}
	}

	t_start = now_ns();
	connect_all();
	connect_s = (double)(now_ns() - t_start) / 1e9;

	for (i = 0; i < opt.number; i++) {
		conns[i].state = C_RUNNING;
		start_round(&conns[i]);
	}
	run(now_ns() + (uint64_t)(opt.warmup * 1e9));

	/* Restart the counters: the report covers the measured window only. */
	warm_rounds = round_trips;
	round_trips = 0;
	bytes_moved = 0;
	memset(hist, 0, sizeof(hist));
	cpu0 = server_cpu_ns();
	ccpu0 = client_cpu_s();
	t_start = now_ns();
	run(t_start + (uint64_t)(opt.duration * 1e9));
	t_end = now_ns();
	cpu1 = server_cpu_ns();
	ccpu1 = client_cpu_s();

	elapsed = (double)(t_end - t_start) / 1e9;
	rate = elapsed > 0 ? (double)round_trips / elapsed : 0.0;
	if (opt.json) {
		char server_cpu[32] = "null";

		if (opt.server_pid)
			snprintf(server_cpu, sizeof(server_cpu), "%" PRIu64, cpu1 - cpu0);
		printf("{\"address\": \"%s:%s\", \"connections\": %u, \"length\": %zu, "
		       "\"duration_s\": %.6f, \"warmup_s\": %.3f, \"connect_s\": %.6f, "
		       "\"round_trips\": %" PRIu64 ", \"warmup_round_trips\": %" PRIu64 ", "
		       "\"requests_per_s\": %.1f, \"bytes\": %" PRIu64 ", "
		       "\"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
		       "\"mismatches\": %" PRIu64 ", \"errors\": %" PRIu64 ", "
		       "\"client_cpu_s\": %.6f, \"client_cpu_total_s\": %.6f, "
		       "\"server_cpu_ns\": %s, "
		       "\"interrupted\": %s}\n",
		       opt.host, opt.port, opt.number, opt.length, elapsed, opt.warmup,
		       connect_s, round_trips, warm_rounds, rate, bytes_moved,
		       hist_percentile(0.50) / 1e3, hist_percentile(0.99) / 1e3,
		       hist_percentile(0.999) / 1e3, mismatches, errors, ccpu1 - ccpu0,
		       client_cpu_s(), server_cpu, interrupted ? "true" : "false");
	} else {
		printf("Benchmarking: %s:%s\n%u clients, running %zu bytes, %.1f sec.\n\n",
		       opt.host, opt.port, opt.number, opt.length, elapsed);
		printf("Speed: %.0f request/sec, %.0f response/sec\n", rate, rate);
		printf("Requests: %" PRIu64 "\nResponses: %" PRIu64 "\n", round_trips, round_trips);
		printf("Latency: p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n",
		       hist_percentile(0.50) / 1e3, hist_percentile(0.99) / 1e3,
		       hist_percentile(0.999) / 1e3);
		printf("Mismatches: %" PRIu64 "\nErrors: %" PRIu64 "\n", mismatches, errors);
		printf("Client CPU: %.1f us per round trip\n",
		       round_trips ? (ccpu1 - ccpu0) * 1e6 / (double)round_trips : 0.0);
		if (opt.server_pid)
			printf("Server CPU: %.1f us per round trip\n",
			       round_trips ? (double)(cpu1 - cpu0) / 1e3 / (double)round_trips : 0.0);
	}
	fflush(stdout);
	return (mismatches || errors) ? 1 : 0;
}
