// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tls_perf: TCP throughput and request/response latency through whatever
 * sits between a client and a server (plain routing, a TLS proxy pair, the
 * mesh's mTLS tunnel). It speaks plain TCP only; the encryption, if any, is
 * done by the path.
 *
 *   tls_perf server --listen IP:PORT [--listen ...] [--ready FILE]
 *   tls_perf stream --connect IP:PORT [--streams N] [--duration S] [--warmup S]
 *   tls_perf rr     --connect IP:PORT [--conns N] [--size BYTES] [--duration S] [--warmup S]
 *
 * Every connection starts with a 32-byte header (struct tp_hdr) that tells
 * the server what to be: a sink or an echo, so one server port serves both
 * and the proxies in between need one route each.
 *
 * stream: N connections, opened before the clock starts, each written with
 * 128 KiB writes from its own thread until warm-up + duration has passed.
 * The figure is counted where the data arrives: the header carries the
 * measurement window [start, end) on CLOCK_MONOTONIC (client and server run
 * on the same machine, in different network namespaces, which share the
 * clock), the sink adds up the bytes of every read that completes inside
 * it, and as soon as its clock passes the end it writes the count back on
 * the same connection (the reverse direction, so no half-close has to
 * cross the proxies). Bytes still buffered in the path are therefore never
 * counted as throughput; slow start falls in the warm-up.
 *
 * rr: N connections, each in its own thread with one request outstanding:
 * write SIZE bytes, read the SIZE-byte echo, check it, repeat. Every
 * transaction that starts and ends inside the window is timed; the report
 * has transactions/s and the latency percentiles over all connections.
 *
 * Sockets have TCP_NODELAY and 10 s send/receive timeouts: a path that
 * stalls fails the run (exit 1, naming the stage) instead of hanging it.
 * --json prints one JSON object on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TP_MAGIC 0x54504c53u    /* "SLPT" */
#define TP_REPLY_MAGIC 0x52504c53u
#define MODE_SINK 1u
#define MODE_ECHO 2u
#define WRITE_CHUNK (128 * 1024)
#define READ_CHUNK (256 * 1024)
#define MAX_STREAMS 256
#define MAX_LISTEN 8
#define MAX_RR_SIZE (1024 * 1024)
#define IO_TIMEOUT_S 10

/* Sent by the client first on every connection (host byte order: both ends
 * run on one machine). */
struct tp_hdr {
	uint32_t magic;     /* TP_MAGIC */
	uint32_t mode;      /* MODE_SINK or MODE_ECHO */
	uint64_t win_start; /* sink: count reads completing in [win_start, win_end) */
	uint64_t win_end;   /* (CLOCK_MONOTONIC ns) */
	uint32_t size;      /* echo: request size (informational) */
	uint32_t pad;
};
_Static_assert(sizeof(struct tp_hdr) == 32, "tp_hdr is 32 bytes on the wire");

/* The sink's answer once its clock passed win_end. */
struct tp_reply {
	uint32_t magic;     /* TP_REPLY_MAGIC */
	uint32_t pad;
	uint64_t bytes_win; /* bytes read inside the window */
	uint64_t bytes;     /* bytes read so far, header excluded */
	uint64_t first_ns;  /* first and last read inside the window */
	uint64_t last_ns;
};
_Static_assert(sizeof(struct tp_reply) == 40, "tp_reply is 40 bytes on the wire");

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("tls_perf: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* IPv4 "A.B.C.D:PORT" or IPv6 "[V6]:PORT"; 0 or -EINVAL. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	size_t hl;
	char *end;
	long port;

	if (!colon || colon == s)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || port < 1 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (hl < 3 || host[hl - 1] != ']')
			return -EINVAL;
		host[hl - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		*len = sizeof(*s4);
	}
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end ? -EINVAL : 0;
}

/* TCP_NODELAY and the stall guards; 0 or -errno. */
static int tune(int fd)
{
	static const struct timeval tmo = { .tv_sec = IO_TIMEOUT_S };
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)) < 0)
		return -errno;
	return 0;
}

/* Write all of buf; 0, or -errno (-ETIMEDOUT for a stall, -EPIPE). */
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes; 0, -ECONNRESET for an early EOF, or -errno. */
static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len) {
		n = recv(fd, p, len, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* --- server ------------------------------------------------------------------ */

struct listener {
	int fd;
	char name[64];
};

/* Read until win_end has passed, counting the reads inside the window, then
 * answer; keep draining until the client goes away. */
static void serve_sink(int fd, const struct tp_hdr *h, char *buf)
{
	struct tp_reply rep = { .magic = TP_REPLY_MAGIC };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	bool answered = false;
	uint64_t t;
	ssize_t n;
	int tmo;

	for (;;) {
		if (!answered) {
			t = now_ns();
			if (t >= h->win_end) {
				if (write_all(fd, &rep, sizeof(rep)))
					return;
				answered = true;
				continue;
			}
			/* Wake at the window's end even if nothing arrives. */
			tmo = (int)((h->win_end - t) / 1000000u) + 1;
			if (poll(&pfd, 1, tmo) == 0)
				continue;
		}
		n = recv(fd, buf, READ_CHUNK, answered ? 0 : MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || (!answered && errno == EAGAIN)))
			continue;
		if (n <= 0)
			return;
		rep.bytes += (uint64_t)n;
		if (answered)
			continue;
		t = now_ns();
		if (t >= h->win_start && t < h->win_end) {
			rep.bytes_win += (uint64_t)n;
			if (!rep.first_ns)
				rep.first_ns = t;
			rep.last_ns = t;
		}
	}
}

static void serve_echo(int fd, char *buf)
{
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, READ_CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(fd, buf, (size_t)n))
			return;
	}
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static const struct timeval forever = { 0 };
	struct tp_hdr h;
	char *buf;

	buf = malloc(READ_CHUNK);
	/* Idle connections are legitimate here (a sink waits for its window);
	 * the guards are the client's job. */
	if (!buf || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &forever, sizeof(forever)) < 0 ||
	    read_all(fd, &h, sizeof(h)) || h.magic != TP_MAGIC)
		goto out;
	if (h.mode == MODE_SINK)
		serve_sink(fd, &h, buf);
	else if (h.mode == MODE_ECHO)
		serve_echo(fd, buf);
out:
	free(buf);
	close(fd);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct listener *l = arg;
	pthread_attr_t attr;
	pthread_t tid;
	int fd, err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept on %s: %s", l->name, strerror(errno));
		}
		if (tune(fd)) {
			close(fd);
			continue;
		}
		err = pthread_create(&tid, &attr, conn_main, (void *)(intptr_t)fd);
		if (err) {
			fprintf(stderr, "tls_perf: cannot start a thread: %s\n", strerror(err));
			close(fd);
		}
	}
	return NULL;
}

static int run_server(char **addrs, int nlisten, const char *ready)
{
	struct listener ls[MAX_LISTEN];
	struct sockaddr_storage ss;
	socklen_t len;
	pthread_t tid;
	int i, one = 1, err;
	FILE *f;

	for (i = 0; i < nlisten; i++) {
		if (parse_addr(addrs[i], &ss, &len))
			die("bad --listen '%s' (want IPv4:PORT or [IPv6]:PORT)", addrs[i]);
		snprintf(ls[i].name, sizeof(ls[i].name), "%s", addrs[i]);
		ls[i].fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (ls[i].fd < 0 ||
		    setsockopt(ls[i].fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(ls[i].fd, (struct sockaddr *)&ss, len) < 0 || listen(ls[i].fd, 1024) < 0)
			die("cannot listen on %s: %s", addrs[i], strerror(errno));
	}
	for (i = 0; i < nlisten; i++) {
		err = pthread_create(&tid, NULL, accept_main, &ls[i]);
		if (err)
			die("cannot start a thread: %s", strerror(err));
		pthread_detach(tid);
	}
	if (ready) {
		f = fopen(ready, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
			die("cannot write %s: %s", ready, strerror(errno));
	}
	for (;;)
		pause();
	return 0;
}

/* --- clients ------------------------------------------------------------------ */

struct client_opts {
	struct sockaddr_storage dst;
	socklen_t dst_len;
	const char *dst_str;
	int n;              /* streams or connections */
	double duration;    /* measured seconds */
	double warmup;      /* unmeasured seconds first */
	uint32_t size;      /* rr: request size */
	bool json;
};

static int connect_to(const struct client_opts *o)
{
	int fd, err;

	fd = socket(o->dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = tune(fd);
	if (!err && connect(fd, (const struct sockaddr *)&o->dst, o->dst_len) < 0)
		/* A blocking connect that hit SO_SNDTIMEO says EINPROGRESS. */
		err = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

struct worker {
	pthread_t tid;
	int fd;
	int idx;
	const struct client_opts *o;
	struct tp_hdr h;
	int err;            /* -errno of the first failure */
	const char *stage;  /* what failed */
	/* stream */
	struct tp_reply rep;
	/* rr */
	uint32_t *lat_ns;   /* latencies of the transactions inside the window */
	size_t nlat, cap;
	uint64_t txns_all;
};

static void *stream_main(void *arg)
{
	struct worker *w = arg;
	char *buf;
	int err;

	buf = malloc(WRITE_CHUNK);
	if (!buf) {
		w->err = -ENOMEM;
		w->stage = "allocating";
		return NULL;
	}
	memset(buf, 'x' + w->idx % 3, WRITE_CHUNK);
	err = write_all(w->fd, &w->h, sizeof(w->h));
	while (!err && now_ns() < w->h.win_end) {
		err = write_all(w->fd, buf, WRITE_CHUNK);
	}
	if (err) {
		w->err = err;
		w->stage = "writing";
		goto out;
	}
	err = read_all(w->fd, &w->rep, sizeof(w->rep));
	if (!err && w->rep.magic != TP_REPLY_MAGIC)
		err = -EPROTO;
	if (err) {
		w->err = err;
		w->stage = "reading the sink's count";
	}
out:
	free(buf);
	return NULL;
}

static int lat_push(struct worker *w, uint64_t ns)
{
	uint32_t *n;

	if (w->nlat == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 65536;
		n = realloc(w->lat_ns, w->cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		w->lat_ns = n;
	}
	w->lat_ns[w->nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
	return 0;
}

static void *rr_main(void *arg)
{
	struct worker *w = arg;
	uint32_t size = w->o->size, seq = 0;
	char *req, *resp;
	uint64_t t0, t1;
	int err;

	req = malloc(size);
	resp = malloc(size);
	if (!req || !resp) {
		err = -ENOMEM;
		w->stage = "allocating";
		goto out;
	}
	memset(req, 'a' + w->idx % 26, size);
	err = write_all(w->fd, &w->h, sizeof(w->h));
	if (err) {
		w->stage = "writing the header";
		goto out;
	}
	for (;;) {
		t0 = now_ns();
		if (t0 >= w->h.win_end)
			break;
		/* A different request every time: a stale echo cannot pass. */
		memcpy(req, &seq, size < sizeof(seq) ? size : sizeof(seq));
		err = write_all(w->fd, req, size);
		if (err) {
			w->stage = "writing a request";
			goto out;
		}
		err = read_all(w->fd, resp, size);
		if (err) {
			w->stage = "reading a reply";
			goto out;
		}
		t1 = now_ns();
		if (memcmp(req, resp, size)) {
			err = -EPROTO;
			w->stage = "checking a reply (not the request echoed)";
			goto out;
		}
		seq++;
		w->txns_all++;
		if (t0 >= w->h.win_start && t1 <= w->h.win_end && lat_push(w, t1 - t0)) {
			err = -ENOMEM;
			w->stage = "recording";
			goto out;
		}
	}
out:
	w->err = err;
	free(req);
	free(resp);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The p-quantile of sorted v (linear interpolation). */
static double quantile(const uint32_t *v, size_t n, double p)
{
	double i = (double)(n - 1) * p;
	size_t lo = (size_t)i;
	size_t hi = lo + 1 < n ? lo + 1 : lo;

	return (double)v[lo] + ((double)v[hi] - (double)v[lo]) * (i - (double)lo);
}

static int run_client(const struct client_opts *o, bool rr)
{
	struct worker *ws;
	uint64_t start, win_start, win_end;
	double win_s;
	int i, fd, err;

	ws = calloc((size_t)o->n, sizeof(*ws));
	if (!ws)
		die("out of memory");
	/* All connections first: the handshakes of a tunnel or proxy are not
	 * part of the window. */
	for (i = 0; i < o->n; i++) {
		fd = connect_to(o);
		if (fd < 0)
			die("connect %d of %d to %s failed: %s", i + 1, o->n, o->dst_str, strerror(-fd));
		ws[i].fd = fd;
		ws[i].idx = i;
		ws[i].o = o;
	}
	start = now_ns();
	win_start = start + (uint64_t)(o->warmup * 1e9);
	win_end = win_start + (uint64_t)(o->duration * 1e9);
	win_s = (double)(win_end - win_start) / 1e9;
	for (i = 0; i < o->n; i++) {
		ws[i].h = (struct tp_hdr){ .magic = TP_MAGIC, .mode = rr ? MODE_ECHO : MODE_SINK,
					   .win_start = win_start, .win_end = win_end,
					   .size = o->size };
		err = pthread_create(&ws[i].tid, NULL, rr ? rr_main : stream_main, &ws[i]);
		if (err)
			die("cannot start a thread: %s", strerror(err));
	}
	for (i = 0; i < o->n; i++)
		pthread_join(ws[i].tid, NULL);
	for (i = 0; i < o->n; i++) {
		if (ws[i].err)
			die("%s %d of %d to %s: %s failed: %s", rr ? "connection" : "stream", i + 1,
			    o->n, o->dst_str, ws[i].stage, strerror(-ws[i].err));
		close(ws[i].fd);
	}

	if (!rr) {
		uint64_t total = 0;
		double g;

		for (i = 0; i < o->n; i++)
			total += ws[i].rep.bytes_win;
		g = (double)total * 8 / win_s / 1e9;
		if (o->json) {
			printf("{\"mode\":\"stream\",\"connect\":\"%s\",\"streams\":%d,"
			       "\"window_s\":%.3f,\"warmup_s\":%.3f,\"bytes\":%llu,\"gbit_s\":%.4f,"
			       "\"stream_gbit_s\":[",
			       o->dst_str, o->n, win_s, o->warmup, (unsigned long long)total, g);
			for (i = 0; i < o->n; i++)
				printf("%s%.4f", i ? "," : "", (double)ws[i].rep.bytes_win * 8 / win_s / 1e9);
			printf("]}\n");
		} else {
			printf("stream %s: %d streams, %.2f s: %.3f Gbit/s\n", o->dst_str, o->n, win_s, g);
		}
	} else {
		size_t total = 0, k = 0;
		uint32_t *all;
		double sum = 0, tps;

		for (i = 0; i < o->n; i++)
			total += ws[i].nlat;
		if (!total)
			die("rr to %s: no transaction completed inside the window", o->dst_str);
		all = malloc(total * sizeof(*all));
		if (!all)
			die("out of memory");
		for (i = 0; i < o->n; i++) {
			memcpy(all + k, ws[i].lat_ns, ws[i].nlat * sizeof(*all));
			k += ws[i].nlat;
			free(ws[i].lat_ns);
		}
		qsort(all, total, sizeof(*all), cmp_u32);
		for (k = 0; k < total; k++)
			sum += all[k];
		tps = (double)total / win_s;
		if (o->json) {
			printf("{\"mode\":\"rr\",\"connect\":\"%s\",\"conns\":%d,\"size\":%u,"
			       "\"window_s\":%.3f,\"warmup_s\":%.3f,\"transactions\":%zu,\"tps\":%.1f,"
			       "\"mean_us\":%.2f,\"min_us\":%.2f,\"p50_us\":%.2f,\"p90_us\":%.2f,"
			       "\"p99_us\":%.2f,\"max_us\":%.2f}\n",
			       o->dst_str, o->n, o->size, win_s, o->warmup, total, tps,
			       sum / (double)total / 1e3, all[0] / 1e3, quantile(all, total, 0.5) / 1e3,
			       quantile(all, total, 0.9) / 1e3, quantile(all, total, 0.99) / 1e3,
			       all[total - 1] / 1e3);
		} else {
			printf("rr %s: %d conns x %u B, %.2f s: %.0f trans/s, p50 %.1f us, p99 %.1f us\n",
			       o->dst_str, o->n, o->size, win_s, tps, quantile(all, total, 0.5) / 1e3,
			       quantile(all, total, 0.99) / 1e3);
		}
		free(all);
	}
	free(ws);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tls_perf server --listen IP:PORT [--listen ...] [--ready FILE]\n"
		"       tls_perf stream --connect IP:PORT [--streams N] [--duration S] [--warmup S] [--json]\n"
		"       tls_perf rr --connect IP:PORT [--conns N] [--size BYTES] [--duration S] [--warmup S] [--json]\n"
		"  server: sink or echo per connection, as the client's header says\n"
		"  stream: N connections written flat out; Gbit/s counted at the sink (default 1 stream)\n"
		"  rr:     N connections, one SIZE-byte request outstanding each, echoed;\n"
		"          transactions/s and latency percentiles (default 4 conns, 1024 B)\n"
		"  -d, --duration S   measured seconds (default 3)\n"
		"  -w, --warmup S     unmeasured seconds before (default 0.5)\n"
		"  -j, --json         one JSON object\n"
		"IPv6 addresses as [V6]:PORT. Client and server must share CLOCK_MONOTONIC\n"
		"(one machine; network namespaces do).\n");
}

int main(int argc, char **argv)
{
	enum { OPT_READY = 256 };
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "ready", required_argument, NULL, OPT_READY },
		{ "connect", required_argument, NULL, 'c' },
		{ "streams", required_argument, NULL, 'n' },
		{ "conns", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct client_opts o = { .n = 0, .duration = 3, .warmup = 0.5, .size = 1024 };
	char *laddrs[MAX_LISTEN];
	const char *ready = NULL, *mode;
	int nlisten = 0, c;
	long v;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	mode = argv[1];
	if (strcmp(mode, "server") && strcmp(mode, "stream") && strcmp(mode, "rr")) {
		fprintf(stderr, "tls_perf: unknown mode '%s'\n", mode);
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "l:c:n:s:d:w:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (nlisten == MAX_LISTEN)
				die("at most %d --listen", MAX_LISTEN);
			laddrs[nlisten++] = optarg;
			break;
		case OPT_READY:
			ready = optarg;
			break;
		case 'c':
			if (parse_addr(optarg, &o.dst, &o.dst_len)) {
				fprintf(stderr, "tls_perf: bad --connect '%s' (want IPv4:PORT or [IPv6]:PORT)\n", optarg);
				return 2;
			}
			o.dst_str = optarg;
			break;
		case 'n':
			v = strtol(optarg, NULL, 10);
			if (v < 1 || v > MAX_STREAMS) {
				fprintf(stderr, "tls_perf: --streams/--conns must be 1..%d\n", MAX_STREAMS);
				return 2;
			}
			o.n = (int)v;
			break;
		case 's':
			v = strtol(optarg, NULL, 10);
			if (v < 1 || v > MAX_RR_SIZE) {
				fprintf(stderr, "tls_perf: --size must be 1..%d\n", MAX_RR_SIZE);
				return 2;
			}
			o.size = (uint32_t)v;
			break;
		case 'd':
			if (parse_double(optarg, &o.duration) || o.duration < 0.01 || o.duration > 3600) {
				fprintf(stderr, "tls_perf: bad --duration '%s'\n", optarg);
				return 2;
			}
			break;
		case 'w':
			if (parse_double(optarg, &o.warmup) || o.warmup < 0 || o.warmup > 3600) {
				fprintf(stderr, "tls_perf: bad --warmup '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "server")) {
		if (!nlisten) {
			fprintf(stderr, "tls_perf: server needs --listen\n");
			return 2;
		}
		return run_server(laddrs, nlisten, ready);
	}
	if (!o.dst_str) {
		fprintf(stderr, "tls_perf: %s needs --connect\n", mode);
		return 2;
	}
	if (!o.n)
		o.n = strcmp(mode, "rr") ? 1 : 4;
	return run_client(&o, !strcmp(mode, "rr"));
}
