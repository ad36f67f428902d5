// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tr-stream: checked TCP byte streams and request/response timing, for the
 * same-node redirection tests and benchmark.
 *
 *   tr-stream serve --listen ADDR:PORT [--ready FILE]
 *   tr-stream sink|source|rr|discard --connect ADDR:PORT [--bytes N]
 *             [--write SIZE] [--conns N] [--parallel N] [--duration SECS]
 *   tr-stream self --listen ADDR:PORT [--bytes N] [--write SIZE]
 *   tr-stream selfconnect --bind ADDR:PORT [--bytes N]
 *
 * Every connection starts with a header naming its mode:
 *   sink     the client writes BYTES (a seeded pattern) in writes of SIZE,
 *            then shuts down its sending half; the server reads to end of
 *            stream and answers the byte count and an FNV-1a hash, then
 *            closes: the client checks both, then expects end of stream
 *            (half-close carried, nothing lost or reordered)
 *   source   the server writes BYTES of the pattern in writes of SIZE and
 *            closes right after its last write (a close while data is
 *            queued); the client checks count and hash at end of stream
 *   rr       request/response: SIZE bytes each way, one at a time, for
 *            --duration seconds (or BYTES/SIZE transactions); every answer
 *            is checked; transactions per second and p50/p99 latency
 *   discard  the client writes in writes of SIZE for --duration seconds
 *            (or BYTES); the server counts and answers the count: throughput
 * --conns connections one after the other in each of --parallel threads.
 * self: one process listens, connects to itself and moves BYTES each way
 * (a workload talking to its own listening port); selfconnect: a socket
 * bound to ADDR:PORT connects to that same address (TCP simultaneous open,
 * one socket that is both ends).
 * Reads are those of an event-driven program: a read that fails with
 * EAGAIN waits in poll() for data and tries again. A blocking read of a
 * socket in a sockmap can fail so on a wake-up that brought no data (the
 * kernel's tcp_bpf_recvmsg, e.g. when the ACK of our FIN arrives after a
 * half-close); "eagain" in the output counts them.
 * --mptcp: every socket is IPPROTO_MPTCP (the kernel falls back to TCP
 * when the other end does not speak it).
 * Output: one JSON object. Exit status 0 when every connection checked out.
 */
#include "tr-common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mode { M_SINK = 1, M_SOURCE, M_RR, M_DISCARD };

struct hdr {
	char magic[4]; /* "TRSM" */
	uint32_t mode;
	uint64_t bytes;
	uint32_t wsize;
	uint32_t seed;
	uint64_t pad;
};

struct result {
	uint64_t count;
	uint64_t hash;
};

#define FNV_OFF 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define MAX_WSIZE (16u << 20)
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static int sock_proto; /* 0, or IPPROTO_MPTCP with --mptcp */
static _Atomic unsigned long eagains; /* reads that failed with EAGAIN */

/* read(2) as an event loop does it: EAGAIN means wait for POLLIN. */
static ssize_t read_ev(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = read(fd, buf, n);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (r >= 0 || (errno != EAGAIN && errno != EINTR))
			return r;
		if (errno == EAGAIN) {
			eagains++;
			poll(&p, 1, -1);
		}
	}
}
#define LAT_BUCKETS 200000 /* 0.1 us each: up to 20 ms */

static uint8_t pat(uint32_t seed, uint64_t i)
{
	return (uint8_t)(((i * 2654435761u) >> 11) ^ (i >> 16) ^ seed);
}

static void fill(uint8_t *buf, size_t n, uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = pat(seed, off + i);
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes; -EPIPE at a premature end of stream. */
static int read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = read_ev(fd, b, n);

		if (r < 0)
			return -errno;
		if (!r)
			return -EPIPE;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* 0 at end of stream, -EPROTO if data came instead. */
static int expect_eof(int fd)
{
	char c;
	ssize_t r;

	r = read_ev(fd, &c, 1);
	return r == 0 ? 0 : r > 0 ? -EPROTO : -errno;
}

/* Write bytes of the pattern in writes of wsize; *hash gets their hash. */
static int send_pattern(int fd, uint64_t bytes, uint32_t wsize, uint32_t seed, uint64_t *hash)
{
	uint8_t *buf = malloc(wsize);
	uint64_t off = 0, h = FNV_OFF;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	while (off < bytes && !err) {
		size_t n = bytes - off < wsize ? (size_t)(bytes - off) : wsize;

		fill(buf, n, seed, off);
		h = fnv(h, buf, n);
		err = write_all(fd, buf, n);
		off += n;
	}
	free(buf);
	if (hash)
		*hash = h;
	return err;
}

/* Read to end of stream: count and hash, and whether it was the pattern. */
static int recv_stream(int fd, uint32_t seed, bool check, struct result *res, bool *pattern_ok)
{
	size_t cap = 1 << 16;
	uint8_t *buf = malloc(cap), *want = check ? malloc(cap) : NULL;
	int err = 0;

	res->count = 0;
	res->hash = FNV_OFF;
	if (pattern_ok)
		*pattern_ok = true;
	if (!buf || (check && !want)) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read_ev(fd, buf, cap);

		if (r < 0) {
			err = -errno;
			break;
		}
		if (!r)
			break;
		if (check) {
			res->hash = fnv(res->hash, buf, (size_t)r);
			fill(want, (size_t)r, seed, res->count);
			if (pattern_ok && memcmp(buf, want, (size_t)r))
				*pattern_ok = false;
		}
		res->count += (uint64_t)r;
	}
out:
	free(buf);
	free(want);
	return err;
}

/* ---- server ----------------------------------------------------------- */

static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct hdr h;
	struct result res = {};

	if (read_all(fd, &h, sizeof(h)) || memcmp(h.magic, "TRSM", 4) || !h.wsize ||
	    h.wsize > MAX_WSIZE)
		goto out;
	switch (h.mode) {
	case M_SINK:
	case M_DISCARD:
		if (!recv_stream(fd, h.seed, h.mode == M_SINK, &res, NULL))
			write_all(fd, &res, sizeof(res));
		break;
	case M_SOURCE:
		send_pattern(fd, h.bytes, h.wsize, h.seed, NULL);
		break; /* close right away, data still queued */
	case M_RR: {
		uint8_t *buf = malloc(h.wsize);

		while (buf && !read_all(fd, buf, h.wsize) && !write_all(fd, buf, h.wsize))
			;
		free(buf);
		break;
	}
	}
out:
	close(fd);
	return NULL;
}

static int listen_on(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (tr_parse_addr(addr, &ss, &len)) {
		fprintf(stderr, "tr-stream: bad address '%s' (want A.B.C.D:PORT or [V6]:PORT)\n", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM, sock_proto);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1024)) {
		fprintf(stderr, "tr-stream: cannot listen on %s: %s\n", addr, strerror(errno));
		return -1;
	}
	return fd;
}

static int do_serve(const char *addr, const char *ready)
{
	pthread_attr_t attr;
	int lfd = listen_on(addr);

	if (lfd < 0)
		return 2;
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f) {
			fputs("ready\n", f);
			fclose(f);
		}
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	for (;;) {
		pthread_t t;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			perror("tr-stream: accept");
			return 1;
		}
		if (pthread_create(&t, &attr, serve_conn, (void *)(intptr_t)fd))
			close(fd);
	}
}

/* ---- client ----------------------------------------------------------- */

static struct {
	struct sockaddr_storage target;
	socklen_t target_len;
	enum mode mode;
	uint64_t bytes;
	uint32_t wsize;
	long conns;
	double duration;
} cfg = { .bytes = 1 << 20, .wsize = 4096, .conns = 1 };

struct worker {
	pthread_t t;
	uint32_t seed;
	long ok, failed;
	uint64_t bytes, txns;
	uint32_t *lat; /* LAT_BUCKETS */
	char err[160];
};

static void fail(struct worker *w, const char *what, int err)
{
	w->failed++;
	if (!w->err[0])
		snprintf(w->err, sizeof(w->err), "%s: %s", what,
			 err == -EPROTO ? "stream differs" : strerror(-err));
}

static int connect_target(void)
{
	int fd = socket(cfg.target.ss_family, SOCK_STREAM, sock_proto), one = 1;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&cfg.target, cfg.target_len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void one_conn(struct worker *w)
{
	struct hdr h = { .magic = "TRSM", .mode = cfg.mode, .bytes = cfg.bytes,
			 .wsize = cfg.wsize, .seed = w->seed++ };
	struct result res, want;
	bool pat_ok;
	int fd = connect_target(), err;

	if (fd < 0)
		return fail(w, "connect", fd);
	err = write_all(fd, &h, sizeof(h));
	if (err) {
		fail(w, "header", err);
		goto out;
	}
	switch (cfg.mode) {
	case M_SINK:
	case M_DISCARD: {
		double end = cfg.duration > 0 ? now_s() + cfg.duration : 0;

		if (cfg.mode == M_SINK || !end) {
			err = send_pattern(fd, cfg.bytes, cfg.wsize, h.seed, &want.hash);
			want.count = cfg.bytes;
		} else {
			uint8_t *buf = calloc(1, cfg.wsize);

			want.count = 0;
			while (buf && !err && now_s() < end) {
				for (int i = 0; i < 64 && !err; i++)
					err = write_all(fd, buf, cfg.wsize);
				want.count += (uint64_t)cfg.wsize * 64;
			}
			free(buf);
		}
		if (err) {
			fail(w, "write", err);
			break;
		}
		shutdown(fd, SHUT_WR);
		err = read_all(fd, &res, sizeof(res));
		if (err) {
			fail(w, "result", err);
			break;
		}
		if (res.count != want.count ||
		    (cfg.mode == M_SINK && res.hash != want.hash)) {
			fail(w, "server received", -EPROTO);
			break;
		}
		err = expect_eof(fd);
		if (err) {
			fail(w, "end of stream", err);
			break;
		}
		w->bytes += want.count;
		w->ok++;
		break;
	}
	case M_SOURCE:
		err = recv_stream(fd, h.seed, true, &res, &pat_ok);
		if (err) {
			fail(w, "read", err);
			break;
		}
		if (res.count != cfg.bytes || !pat_ok) {
			fail(w, "received", -EPROTO);
			break;
		}
		w->bytes += res.count;
		w->ok++;
		break;
	case M_RR: {
		uint8_t *out = malloc(cfg.wsize), *in = malloc(cfg.wsize);
		uint64_t n = 0, max = cfg.duration > 0 ? UINT64_MAX : cfg.bytes / cfg.wsize;
		double end = cfg.duration > 0 ? now_s() + cfg.duration : 0;

		if (!out || !in) {
			fail(w, "memory", -ENOMEM);
			free(out);
			free(in);
			break;
		}
		while (n < max && !err) {
			struct timespec a, b;
			uint64_t tenths;

			if (end && !(n & 63) && now_s() >= end)
				break;
			fill(out, cfg.wsize, h.seed, n);
			clock_gettime(CLOCK_MONOTONIC, &a);
			err = write_all(fd, out, cfg.wsize);
			if (!err)
				err = read_all(fd, in, cfg.wsize);
			clock_gettime(CLOCK_MONOTONIC, &b);
			if (!err && memcmp(in, out, cfg.wsize))
				err = -EPROTO;
			tenths = (uint64_t)((b.tv_sec - a.tv_sec) * 10000000ll +
					    (b.tv_nsec - a.tv_nsec) / 100);
			w->lat[tenths < LAT_BUCKETS ? tenths : LAT_BUCKETS - 1]++;
			n++;
		}
		free(out);
		free(in);
		if (err) {
			fail(w, "transaction", err);
			break;
		}
		shutdown(fd, SHUT_WR);
		err = expect_eof(fd);
		if (err) {
			fail(w, "end of stream", err);
			break;
		}
		w->txns += n;
		w->bytes += n * cfg.wsize * 2;
		w->ok++;
		break;
	}
	}
out:
	close(fd);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < cfg.conns; i++)
		one_conn(w);
	return NULL;
}

static double lat_pct(const uint64_t *hist, uint64_t total, double pct)
{
	uint64_t want = (uint64_t)(total * pct), acc = 0;

	for (size_t i = 0; i < LAT_BUCKETS; i++) {
		acc += hist[i];
		if (acc > want)
			return i / 10.0;
	}
	return LAT_BUCKETS / 10.0;
}

static int do_client(long parallel)
{
	struct worker *ws = calloc((size_t)parallel, sizeof(*ws));
	uint64_t *hist = calloc(LAT_BUCKETS, sizeof(*hist));
	uint64_t bytes = 0, txns = 0;
	long ok = 0, failed = 0;
	const char *err = "";
	double t0, secs;

	if (!ws || !hist)
		return 2;
	t0 = now_s();
	for (long i = 0; i < parallel; i++) {
		ws[i].seed = (uint32_t)(i * 7919 + getpid());
		ws[i].lat = calloc(LAT_BUCKETS, sizeof(uint32_t));
		if (!ws[i].lat || pthread_create(&ws[i].t, NULL, worker_main, &ws[i]))
			return 2;
	}
	for (long i = 0; i < parallel; i++) {
		pthread_join(ws[i].t, NULL);
		ok += ws[i].ok;
		failed += ws[i].failed;
		bytes += ws[i].bytes;
		txns += ws[i].txns;
		if (!*err && ws[i].err[0])
			err = ws[i].err;
		for (size_t b = 0; b < LAT_BUCKETS; b++)
			hist[b] += ws[i].lat[b];
	}
	secs = now_s() - t0;
	printf("{\"ok\":%ld,\"failed\":%ld,\"bytes\":%" PRIu64 ",\"seconds\":%.3f,"
	       "\"gbit_s\":%.3f,\"transactions\":%" PRIu64 ",\"tps\":%.0f",
	       ok, failed, bytes, secs, bytes * 8 / secs / 1e9, txns, txns / secs);
	if (txns)
		printf(",\"p50_us\":%.1f,\"p99_us\":%.1f", lat_pct(hist, txns, 0.5),
		       lat_pct(hist, txns, 0.99));
	printf(",\"eagain\":%lu,\"error\":\"%s\"}\n", (unsigned long)eagains, err);
	for (long i = 0; i < parallel; i++)
		free(ws[i].lat);
	free(ws);
	free(hist);
	return failed ? 1 : 0;
}

/* ---- a workload talking to itself -------------------------------------- */

struct pump {
	int fd;
	uint64_t bytes;
	uint32_t wsize, seed;
	int err;
};

static void *pump_main(void *arg)
{
	struct pump *p = arg;

	p->err = send_pattern(p->fd, p->bytes, p->wsize, p->seed, NULL);
	if (!p->err)
		shutdown(p->fd, SHUT_WR);
	return NULL;
}

/* Both directions at once between a and b (b may equal a: one socket). */
static int exchange(int a, int b, const char *what)
{
	struct pump pa = { a, cfg.bytes, cfg.wsize, 11, 0 }, pb = { b, cfg.bytes, cfg.wsize, 22, 0 };
	struct result ra, rb;
	bool oka = true, okb = true;
	pthread_t ta, tb;
	int err;

	pthread_create(&ta, NULL, pump_main, &pa);
	if (b != a)
		pthread_create(&tb, NULL, pump_main, &pb);
	/* what b sent arrives at a, and the other way round */
	err = recv_stream(a, b != a ? 22 : 11, true, &ra, &oka);
	if (!err && b != a)
		err = recv_stream(b, 11, true, &rb, &okb);
	pthread_join(ta, NULL);
	if (b != a)
		pthread_join(tb, NULL);
	if (!err)
		err = pa.err ? pa.err : pb.err;
	if (!err && (ra.count != cfg.bytes || !oka || (b != a && (rb.count != cfg.bytes || !okb))))
		err = -EPROTO;
	printf("{\"ok\":%d,\"failed\":%d,\"bytes\":%" PRIu64 ",\"mode\":\"%s\",\"eagain\":%lu,\"error\":\"%s\"}\n",
	       !err, !!err, err ? 0 : cfg.bytes * (b != a ? 2 : 1), what, (unsigned long)eagains,
	       err ? (err == -EPROTO ? "stream differs" : strerror(-err)) : "");
	return err ? 1 : 0;
}

static int do_self(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int lfd = listen_on(addr), c, s, rc;

	if (lfd < 0)
		return 2;
	getsockname(lfd, (struct sockaddr *)&ss, &len);
	c = socket(ss.ss_family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len) ||
	    (s = accept(lfd, NULL, NULL)) < 0) {
		fprintf(stderr, "tr-stream: self connect to %s: %s\n", addr, strerror(errno));
		return 1;
	}
	rc = exchange(c, s, "self");
	close(c);
	close(s);
	close(lfd);
	return rc;
}

static int do_selfconnect(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (tr_parse_addr(addr, &ss, &len)) {
		fprintf(stderr, "tr-stream: bad address '%s'\n", addr);
		return 2;
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || connect(fd, (struct sockaddr *)&ss, len)) {
		fprintf(stderr, "tr-stream: self-connect on %s: %s\n", addr, strerror(errno));
		return 1;
	}
	return exchange(fd, fd, "selfconnect");
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tr-stream serve --listen ADDR:PORT [--ready FILE] [--mptcp]\n"
		"       tr-stream sink|source|rr|discard --connect ADDR:PORT [--bytes N] [--write SIZE]\n"
		"                 [--conns N] [--parallel N] [--duration SECS] [--mptcp]\n"
		"       tr-stream self --listen ADDR:PORT [--bytes N] [--write SIZE]\n"
		"       tr-stream selfconnect --bind ADDR:PORT [--bytes N] [--write SIZE]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "bind", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "ready", required_argument, NULL, 'r' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "write", required_argument, NULL, 'w' },
		{ "conns", required_argument, NULL, 'n' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "mptcp", no_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *listen_addr = NULL, *connect_addr = NULL, *ready = NULL, *cmd;
	long parallel = 1;
	int c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_addr = optarg; break;
		case 'c': connect_addr = optarg; break;
		case 'r': ready = optarg; break;
		case 'b': cfg.bytes = strtoull(optarg, NULL, 10); break;
		case 'w': cfg.wsize = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'n': cfg.conns = strtol(optarg, NULL, 10); break;
		case 'p': parallel = strtol(optarg, NULL, 10); break;
		case 'd': cfg.duration = strtod(optarg, NULL); break;
		case 'M': sock_proto = IPPROTO_MPTCP; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!cfg.wsize || cfg.wsize > MAX_WSIZE || cfg.conns < 1 || parallel < 1 ||
	    parallel > 4096) {
		fprintf(stderr, "tr-stream: --write 1..%u, --conns >= 1, --parallel 1..4096\n",
			MAX_WSIZE);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(cmd, "serve") && listen_addr)
		return do_serve(listen_addr, ready);
	if (!strcmp(cmd, "self") && listen_addr)
		return do_self(listen_addr);
	if (!strcmp(cmd, "selfconnect") && listen_addr)
		return do_selfconnect(listen_addr);
	cfg.mode = !strcmp(cmd, "sink") ? M_SINK : !strcmp(cmd, "source") ? M_SOURCE :
		   !strcmp(cmd, "rr") ? M_RR : !strcmp(cmd, "discard") ? M_DISCARD : 0;
	if (!cfg.mode || !connect_addr) {
		usage(stderr);
		return 2;
	}
	if (tr_parse_addr(connect_addr, &cfg.target, &cfg.target_len)) {
		fprintf(stderr, "tr-stream: bad address '%s'\n", connect_addr);
		return 2;
	}
	return do_client(parallel);
}
