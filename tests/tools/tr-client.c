// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tr-client: ask a service who answers, many times, and count.
 *
 *   tr-client --connect ADDR:PORT --tcp|--udp [-n COUNT] [--json]
 *             [--expect-peer ADDR:PORT | --no-peer-check] [--udp-connected]
 *             [--timeout MS] [--bind ADDR]
 *   tr-client --connect ADDR:PORT --tcp --hold SECONDS [--interval MS]
 *             [--ready FILE] [--json] [--bind ADDR]
 *
 * Request mode makes COUNT fresh connections (TCP) or COUNT requests, each
 * from a fresh socket (UDP, unconnected sendto by default, connect()+send
 * with --udp-connected), reads the backend's name (tr-echo), and prints the
 * count per name. For every request it checks that the peer the socket API
 * reports -- getpeername() for TCP and connected UDP, the recvfrom() source
 * for UDP -- is the address it asked for (or --expect-peer), i.e. that the
 * service address is what the application sees. Failures are counted by
 * errno name (ECONNREFUSED, ETIMEDOUT, ...; "EOF" when the peer closed
 * before answering).
 *
 * Hold mode keeps one TCP connection open for SECONDS, sends a ping every
 * --interval ms (100) and checks each echo; it fails as soon as the
 * connection breaks or an echo is wrong or late (--timeout). --ready FILE
 * is created once the connection is up and the first answer was read.
 *
 * --send BYTES (TCP request mode): after the name line, write BYTES bytes
 * and read the echo of all of them before closing, so that each connection
 * carries exactly BYTES from client to server and NAME\n + BYTES back (for
 * byte-exact metrics tests).
 *
 * --half-close (TCP request mode): then shut down the sending half and
 * expect the server to end its stream with nothing more (tr-echo closes at
 * end of stream): a half-close carried both ways.
 *
 * --bind ADDR binds every socket to ADDR (port 0) before it connects or
 * sends: to send from one particular address of the namespace (e.g. one
 * that is not the workload's own, to test anti-spoofing). The address must
 * be of the target's family. A failed bind counts as that request's error.
 *
 * Exit status: 0 when every request succeeded with the right peer, 1
 * otherwise, 2 on usage errors.
 */
#include "tr-common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_NAMES 128
#define NAME_MAX_LEN 256
#define ERR_EOF 100000    /* pseudo errno: peer closed before answering */
#define ERR_GARBLED 100001 /* pseudo errno: wrong echo */

struct counter {
	char key[NAME_MAX_LEN];
	unsigned long n;
};

struct counters {
	struct counter c[MAX_NAMES];
	int len;
	unsigned long overflow;
};

static struct {
	struct sockaddr_storage target, expect;
	socklen_t target_len, expect_len;
	char target_str[TR_ADDRSTRLEN], expect_str[TR_ADDRSTRLEN];
	int type;
	long count;
	bool json, peer_check, udp_connected;
	int timeout_ms;
	double hold_s;
	int interval_ms;
	const char *ready;
	struct sockaddr_storage bind;
	socklen_t bind_len; /* 0: no --bind */
	long send_bytes;    /* --send */
	bool half_close;    /* --half-close */
} opt = {
	.count = 1,
	.peer_check = true,
	.timeout_ms = 2000,
	.interval_ms = 100,
};

static const char *err_key(int err)
{
	if (err == ERR_EOF)
		return "EOF";
	if (err == ERR_GARBLED)
		return "EGARBLED";
	return tr_errname(err);
}

static void count(struct counters *cs, const char *key)
{
	int i;

	for (i = 0; i < cs->len; i++) {
		if (!strcmp(cs->c[i].key, key)) {
			cs->c[i].n++;
			return;
		}
	}
	if (cs->len == MAX_NAMES) {
		cs->overflow++;
		return;
	}
	snprintf(cs->c[cs->len].key, NAME_MAX_LEN, "%s", key);
	cs->c[cs->len++].n = 1;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_counters(FILE *f, const struct counters *cs)
{
	int i;

	fputc('{', f);
	for (i = 0; i < cs->len; i++) {
		if (i)
			fputs(", ", f);
		json_str(f, cs->c[i].key);
		fprintf(f, ": %lu", cs->c[i].n);
	}
	fputc('}', f);
}

/* Wait for events on fd until deadline (ms, monotonic). 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		long long left = deadline - tr_now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* --bind: bind fd to the chosen source address. Returns 0 or -errno. */
static int bind_source(int fd)
{
	if (!opt.bind_len)
		return 0;
	if (bind(fd, (struct sockaddr *)&opt.bind, opt.bind_len) < 0)
		return -errno;
	return 0;
}

/* Parse --bind's ADDR (no port) for the target's family. 0 or -EINVAL. */
static int parse_bind(const char *s)
{
	memset(&opt.bind, 0, sizeof(opt.bind));
	if (opt.target.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&opt.bind;

		if (inet_pton(AF_INET, s, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		opt.bind_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&opt.bind;

		if (inet_pton(AF_INET6, s, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		opt.bind_len = sizeof(*sin6);
	}
	return 0;
}

/* Non-blocking connect with a deadline. Returns 0 or -errno. */
static int connect_deadline(int fd, long long deadline)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (connect(fd, (struct sockaddr *)&opt.target, opt.target_len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	err = wait_fd(fd, POLLOUT, deadline);
	if (err)
		return err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

/* Read up to and including '\n' into line (without it). 0 or -errno. */
static int read_line(int fd, char *line, size_t size, long long deadline)
{
	size_t have = 0;

	for (;;) {
		ssize_t n;
		int err;

		if (have + 1 >= size)
			return -EMSGSIZE;
		n = read(fd, line + have, 1);
		if (n == 1) {
			if (line[have] == '\n') {
				line[have] = '\0';
				return 0;
			}
			have++;
			continue;
		}
		if (n == 0)
			return -ERR_EOF;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		err = wait_fd(fd, POLLIN, deadline);
		if (err)
			return err;
	}
}

/* Read exactly len bytes. 0 or -errno. */
static int read_exact(int fd, char *buf, size_t len, long long deadline)
{
	size_t have = 0;

	while (have < len) {
		ssize_t n = read(fd, buf + have, len - have);
		int err;

		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ERR_EOF;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		err = wait_fd(fd, POLLIN, deadline);
		if (err)
			return err;
	}
	return 0;
}

static int write_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		int err;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		err = wait_fd(fd, POLLOUT, deadline);
		if (err)
			return err;
	}
	return 0;
}

/* The peer the socket API shows must be the one we expect. */
static bool check_peer(const struct sockaddr *got, char *got_str, size_t len)
{
	tr_fmt_addr(got, got_str, len);
	return !opt.peer_check || tr_addr_equal(got, (struct sockaddr *)&opt.expect);
}

/* --send: write n bytes in chunks, reading each chunk's echo back. */
static int send_and_echo(int fd, long n, long long deadline)
{
	char out[16384], in[16384];
	long off = 0;

	while (off < n) {
		size_t len = (size_t)(n - off < (long)sizeof(out) ? n - off : (long)sizeof(out));
		int err;

		for (size_t i = 0; i < len; i++)
			out[i] = (char)('a' + (off + (long)i) % 26);
		err = write_all(fd, out, len, deadline);
		if (!err)
			err = read_exact(fd, in, len, deadline);
		if (!err && memcmp(out, in, len))
			err = -ERR_GARBLED;
		if (err)
			return err;
		off += (long)len;
	}
	return 0;
}

/* Close our sending half and expect the server's end of stream, with no
 * byte more: both FINs made it through whatever is in between. */
static int half_close(int fd, long long deadline)
{
	char c;
	int err;

	if (shutdown(fd, SHUT_WR))
		return -errno;
	err = read_exact(fd, &c, 1, deadline);
	if (err == -ERR_EOF)
		return 0;
	return err ? err : -ERR_GARBLED;
}

struct result {
	int err;                 /* 0 or positive errno / ERR_* */
	bool peer_ok;
	char peer[TR_ADDRSTRLEN];
	char name[NAME_MAX_LEN];
};

static void tcp_request(struct result *r)
{
	long long deadline = tr_now_ms() + opt.timeout_ms;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int fd, err;

	fd = socket(opt.target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r->err = errno;
		return;
	}
	err = bind_source(fd);
	if (!err)
		err = connect_deadline(fd, deadline);
	if (err)
		goto out;
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
		err = -errno;
		goto out;
	}
	r->peer_ok = check_peer((struct sockaddr *)&peer, r->peer, sizeof(r->peer));
	err = read_line(fd, r->name, sizeof(r->name), deadline);
	if (!err && opt.send_bytes)
		err = send_and_echo(fd, opt.send_bytes, deadline);
	if (!err && opt.half_close)
		err = half_close(fd, deadline);
out:
	r->err = -err;
	close(fd);
}

static void udp_request(struct result *r, long seq)
{
	long long deadline = tr_now_ms() + opt.timeout_ms;
	char req[64], resp[NAME_MAX_LEN + 64];
	struct sockaddr_storage from;
	socklen_t flen;
	int fd, err = 0, reqlen;
	ssize_t n;
	char *nl;

	reqlen = snprintf(req, sizeof(req), "req %d %ld", getpid(), seq);
	fd = socket(opt.target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r->err = errno;
		return;
	}
	err = bind_source(fd);
	if (err)
		goto out;
	if (opt.udp_connected) {
		flen = sizeof(from);
		if (connect(fd, (struct sockaddr *)&opt.target, opt.target_len) < 0 ||
		    getpeername(fd, (struct sockaddr *)&from, &flen) < 0) {
			err = -errno;
			goto out;
		}
		if (!check_peer((struct sockaddr *)&from, r->peer, sizeof(r->peer))) {
			r->peer_ok = false;
			goto out; /* reported as a peer mismatch */
		}
		n = send(fd, req, (size_t)reqlen, 0);
	} else {
		n = sendto(fd, req, (size_t)reqlen, 0, (struct sockaddr *)&opt.target,
			   opt.target_len);
	}
	if (n < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		err = wait_fd(fd, POLLIN, deadline);
		if (err)
			goto out;
		flen = sizeof(from);
		n = recvfrom(fd, resp, sizeof(resp) - 1, 0, (struct sockaddr *)&from, &flen);
		if (n >= 0)
			break;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			err = -errno;
			goto out;
		}
	}
	resp[n] = '\0';
	r->peer_ok = check_peer((struct sockaddr *)&from, r->peer, sizeof(r->peer));
	nl = memchr(resp, '\n', (size_t)n);
	if (!nl || (size_t)(resp + n - (nl + 1)) != (size_t)reqlen ||
	    memcmp(nl + 1, req, (size_t)reqlen)) {
		err = -ERR_GARBLED;
		goto out;
	}
	*nl = '\0';
	if ((size_t)(nl - resp) >= sizeof(r->name)) {
		err = -EMSGSIZE;
		goto out;
	}
	memcpy(r->name, resp, (size_t)(nl - resp) + 1);
out:
	r->err = -err;
	close(fd);
}

static int run_requests(void)
{
	struct counters names = {}, errors = {};
	unsigned long ok = 0, failed = 0, mismatch = 0;
	char first_mismatch[2 * TR_ADDRSTRLEN + 16] = "";
	const char *first_error = NULL;
	long long start = tr_now_ms(), elapsed;
	long i;

	for (i = 0; i < opt.count; i++) {
		struct result r = { .peer_ok = true };

		if (opt.type == SOCK_STREAM)
			tcp_request(&r);
		else
			udp_request(&r, i);
		if (!r.peer_ok) {
			mismatch++;
			if (!first_mismatch[0])
				snprintf(first_mismatch, sizeof(first_mismatch), "%s", r.peer);
		}
		if (r.err) {
			const char *k = err_key(r.err);

			count(&errors, k);
			if (!first_error)
				first_error = errors.c[0].key;
			failed++;
			continue;
		}
		count(&names, r.name);
		if (r.peer_ok)
			ok++;
		else
			failed++;
	}
	elapsed = tr_now_ms() - start;

	if (opt.json) {
		printf("{\"target\": ");
		json_str(stdout, opt.target_str);
		printf(", \"proto\": \"%s\", \"mode\": \"%s\", \"requests\": %ld, "
		       "\"ok\": %lu, \"failed\": %lu, \"names\": ",
		       opt.type == SOCK_STREAM ? "tcp" : "udp",
		       opt.type == SOCK_STREAM ? "connect" :
		       opt.udp_connected ? "connected" : "sendto",
		       opt.count, ok, failed);
		json_counters(stdout, &names);
		printf(", \"errors\": ");
		json_counters(stdout, &errors);
		printf(", \"first_error\": ");
		if (first_error)
			json_str(stdout, first_error);
		else
			printf("null");
		printf(", \"expect_peer\": ");
		json_str(stdout, opt.peer_check ? opt.expect_str : "");
		printf(", \"peer_mismatch\": %lu, \"first_bad_peer\": ", mismatch);
		if (mismatch)
			json_str(stdout, first_mismatch);
		else
			printf("null");
		printf(", \"elapsed_ms\": %lld}\n", elapsed);
	} else {
		int j;

		for (j = 0; j < names.len; j++)
			printf("%-24s %lu\n", names.c[j].key, names.c[j].n);
		for (j = 0; j < errors.len; j++)
			printf("error %-18s %lu\n", errors.c[j].key, errors.c[j].n);
		if (mismatch)
			printf("peer mismatch: %lu (first: %s, expected %s)\n", mismatch,
			       first_mismatch, opt.expect_str);
		printf("%lu ok, %lu failed of %ld to %s in %lld ms\n", ok, failed,
		       opt.count, opt.target_str, elapsed);
	}
	return failed ? 1 : 0;
}

static int run_hold(void)
{
	long long start = tr_now_ms(), end = start + (long long)(opt.hold_s * 1000);
	long long deadline = start + opt.timeout_ms, next;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char name[NAME_MAX_LEN] = "", peer_str[TR_ADDRSTRLEN] = "";
	unsigned long pings = 0;
	const char *what = "ok";
	int fd, err;
	bool peer_ok = true;

	fd = socket(opt.target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		what = "socket";
		goto out;
	}
	what = "bind";
	err = bind_source(fd);
	if (err)
		goto out;
	what = "connect";
	err = connect_deadline(fd, deadline);
	if (err)
		goto out;
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
		err = -errno;
		goto out;
	}
	peer_ok = check_peer((struct sockaddr *)&peer, peer_str, sizeof(peer_str));
	what = "greeting";
	err = read_line(fd, name, sizeof(name), deadline);
	if (err)
		goto out;
	if (opt.ready) {
		int rfd = open(opt.ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (rfd >= 0) {
			dprintf(rfd, "%s\n", name);
			close(rfd);
		}
	}
	what = "ping";
	next = tr_now_ms();
	while (tr_now_ms() < end) {
		char ping[64], echo[64];
		int len = snprintf(ping, sizeof(ping), "ping %lu\n", pings);

		deadline = tr_now_ms() + opt.timeout_ms;
		err = write_all(fd, ping, (size_t)len, deadline);
		if (!err)
			err = read_exact(fd, echo, (size_t)len, deadline);
		if (!err && memcmp(ping, echo, (size_t)len))
			err = -ERR_GARBLED;
		if (err)
			goto out;
		pings++;
		next += opt.interval_ms;
		while (tr_now_ms() < next)
			usleep(1000 * (useconds_t)(next - tr_now_ms() > 0 ? next - tr_now_ms() : 0));
	}
	what = "ok";
	err = 0;
out:
	if (fd >= 0)
		close(fd);
	if (!err && !peer_ok)
		what = "peer";
	if (opt.json) {
		printf("{\"target\": ");
		json_str(stdout, opt.target_str);
		printf(", \"mode\": \"hold\", \"name\": ");
		json_str(stdout, name);
		printf(", \"peer\": ");
		json_str(stdout, peer_str);
		printf(", \"peer_ok\": %s, \"pings\": %lu, \"ok\": %s, \"stage\": \"%s\", "
		       "\"error\": ",
		       peer_ok ? "true" : "false", pings,
		       !err && peer_ok ? "true" : "false", what);
		if (err)
			json_str(stdout, err_key(-err));
		else
			printf("null");
		printf(", \"elapsed_ms\": %lld}\n", tr_now_ms() - start);
	} else if (err) {
		printf("hold %s: broke at %s after %lu pings: %s\n", opt.target_str, what,
		       pings, err_key(-err));
	} else {
		printf("hold %s (%s, peer %s%s): %lu pings ok\n", opt.target_str, name,
		       peer_str, peer_ok ? "" : " MISMATCH", pings);
	}
	return !err && peer_ok ? 0 : 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tr-client --connect ADDR:PORT --tcp|--udp [-n COUNT] [--json]\n"
		"                 [--expect-peer ADDR:PORT | --no-peer-check]\n"
		"                 [--udp-connected] [--timeout MS] [--bind ADDR]\n"
		"                 [--send BYTES]\n"
		"       tr-client --connect ADDR:PORT --tcp --hold SECONDS [--interval MS]\n"
		"                 [--ready FILE] [--json] [--bind ADDR]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "tcp", no_argument, NULL, 't' },
		{ "udp", no_argument, NULL, 'u' },
		{ "count", required_argument, NULL, 'n' },
		{ "expect-peer", required_argument, NULL, 'E' },
		{ "no-peer-check", no_argument, NULL, 'P' },
		{ "udp-connected", no_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "hold", required_argument, NULL, 'H' },
		{ "interval", required_argument, NULL, 'I' },
		{ "ready", required_argument, NULL, 'r' },
		{ "bind", required_argument, NULL, 'b' },
		{ "send", required_argument, NULL, 'S' },
		{ "half-close", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *connect_s = NULL, *expect_s = NULL, *bind_s = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "c:tun:E:PCjT:H:I:r:b:S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			connect_s = optarg;
			break;
		case 't':
			opt.type = SOCK_STREAM;
			break;
		case 'u':
			opt.type = SOCK_DGRAM;
			break;
		case 'n':
			opt.count = atol(optarg);
			break;
		case 'E':
			expect_s = optarg;
			break;
		case 'P':
			opt.peer_check = false;
			break;
		case 'C':
			opt.udp_connected = true;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'T':
			opt.timeout_ms = atoi(optarg);
			break;
		case 'H':
			opt.hold_s = atof(optarg);
			break;
		case 'I':
			opt.interval_ms = atoi(optarg);
			break;
		case 'r':
			opt.ready = optarg;
			break;
		case 'b':
			bind_s = optarg;
			break;
		case 'F':
			opt.half_close = true;
			break;
		case 'S':
			opt.send_bytes = atol(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!connect_s || !opt.type || optind != argc || opt.count < 1 ||
	    opt.timeout_ms < 1 || opt.interval_ms < 1 || opt.hold_s < 0 || opt.send_bytes < 0 ||
	    (opt.send_bytes && opt.type != SOCK_STREAM) ||
	    (opt.hold_s > 0 && opt.type != SOCK_STREAM)) {
		usage(stderr);
		return 2;
	}
	if (tr_parse_addr(connect_s, &opt.target, &opt.target_len)) {
		fprintf(stderr, "tr-client: bad address '%s' (want A.B.C.D:PORT or [V6]:PORT)\n",
			connect_s);
		return 2;
	}
	if (tr_parse_addr(expect_s ? expect_s : connect_s, &opt.expect, &opt.expect_len)) {
		fprintf(stderr, "tr-client: bad address '%s'\n", expect_s);
		return 2;
	}
	if (bind_s && parse_bind(bind_s)) {
		fprintf(stderr, "tr-client: bad --bind address '%s' (want an address of the target's family, no port)\n",
			bind_s);
		return 2;
	}
	tr_fmt_addr((struct sockaddr *)&opt.target, opt.target_str, sizeof(opt.target_str));
	tr_fmt_addr((struct sockaddr *)&opt.expect, opt.expect_str, sizeof(opt.expect_str));
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	return opt.hold_s > 0 ? run_hold() : run_requests();
}
