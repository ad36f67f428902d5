// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tr-echo: a test backend that tells clients who it is.
 *
 *   tr-echo --listen ADDR:PORT [--listen ADDR:PORT...] --tcp|--udp
 *           --name NAME [--ready FILE] [--quiet]
 *
 * TCP: on every accepted connection it first writes "NAME\n", then echoes
 * whatever the peer sends until the peer closes (so the same server serves
 * both one-shot "which backend am I on" connections and long-lived ping
 * connections). UDP: every datagram is answered with "NAME\n" followed by
 * the datagram's own payload, sent from the address the datagram was sent
 * to (IP_PKTINFO), so a server holding several addresses answers from the
 * right one. IPv4 and IPv6 ("[::]:80" is dual-stack).
 * One epoll loop, non-blocking sockets, thousands of concurrent
 * connections. --ready FILE is created once every socket listens.
 * SIGTERM / SIGINT exit 0.
 */
#include "tr-common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_LISTEN 8
#define BUF_SIZE 65536

static volatile sig_atomic_t stop;
static const char *name;
static size_t name_len;
static bool quiet;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tr-echo --listen ADDR:PORT [--listen ...] --tcp|--udp --name NAME\n"
		"               [--ready FILE] [--quiet]\n"
		"  ADDR:PORT is A.B.C.D:PORT or [V6]:PORT; [::]:PORT is dual-stack.\n"
		"  TCP: writes \"NAME\\n\" on accept, then echoes until the peer closes.\n"
		"  UDP: answers each datagram with \"NAME\\n\" + the datagram.\n");
}

static int open_listener(const char *spec, int type)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, zero = 0, fd, err;

	if (tr_parse_addr(spec, &ss, &len)) {
		fprintf(stderr, "tr-echo: bad address '%s' (want A.B.C.D:PORT or [V6]:PORT)\n",
			spec);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "tr-echo: socket: %s\n", tr_errname(err));
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (type == SOCK_DGRAM)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	/* IPv4 (also IPv4 on a dual-stack socket): where was it sent to. */
	if (type == SOCK_DGRAM)
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		err = -errno;
		fprintf(stderr, "tr-echo: bind %s: %s (%s)\n", spec, tr_errname(err),
			strerror(-err));
		close(fd);
		return err;
	}
	if (type == SOCK_STREAM && listen(fd, 4096) < 0) {
		err = -errno;
		fprintf(stderr, "tr-echo: listen %s: %s\n", spec, tr_errname(err));
		close(fd);
		return err;
	}
	return fd;
}

/* Write all of buf to a non-blocking socket; a full buffer drops the peer. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void tcp_accept(int ep, int lfd, unsigned long *accepted)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED && !quiet)
				fprintf(stderr, "tr-echo: accept: %s\n", tr_errname(errno));
			return;
		}
		(*accepted)++;
		if (write_all(cfd, name, name_len) || write_all(cfd, "\n", 1)) {
			close(cfd);
			continue;
		}
		ev.data.fd = cfd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) < 0)
			close(cfd);
	}
}

static void tcp_serve(int ep, int cfd, char *buf)
{
	for (;;) {
		ssize_t n = read(cfd, buf, BUF_SIZE);

		if (n > 0) {
			if (write_all(cfd, buf, (size_t)n))
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		break; /* EOF or error */
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, cfd, NULL);
	close(cfd);
}

/*
 * Answer from the address the datagram was sent to (not whatever routing
 * would pick), so a server holding several addresses replies correctly.
 * IP_PKTINFO / IPV6_PKTINFO from recvmsg() are turned into the source for
 * sendmsg().
 */
static void udp_serve(int fd, char *buf, unsigned long *answered)
{
	for (;;) {
		struct sockaddr_storage from;
		union {
			char b[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
			       CMSG_SPACE(sizeof(struct in_pktinfo))];
			struct cmsghdr align;
		} cin, cout;
		size_t room = BUF_SIZE - name_len - 1;
		struct iovec iov = { .iov_base = buf + name_len + 1, .iov_len = room };
		struct msghdr msg = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cin.b, .msg_controllen = sizeof(cin.b),
		};
		struct cmsghdr *c, *o;
		ssize_t n = recvmsg(fd, &msg, 0);
		size_t olen = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		memset(cout.b, 0, sizeof(cout.b));
		o = (struct cmsghdr *)cout.b;
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo in, out = {};

				memcpy(&in, CMSG_DATA(c), sizeof(in));
				out.ipi_spec_dst = in.ipi_addr;
				o->cmsg_level = IPPROTO_IP;
				o->cmsg_type = IP_PKTINFO;
				o->cmsg_len = CMSG_LEN(sizeof(out));
				memcpy(CMSG_DATA(o), &out, sizeof(out));
				olen = CMSG_SPACE(sizeof(out));
				break;
			}
			if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo in, out = {};

				memcpy(&in, CMSG_DATA(c), sizeof(in));
				out.ipi6_addr = in.ipi6_addr;
				o->cmsg_level = IPPROTO_IPV6;
				o->cmsg_type = IPV6_PKTINFO;
				o->cmsg_len = CMSG_LEN(sizeof(out));
				memcpy(CMSG_DATA(o), &out, sizeof(out));
				olen = CMSG_SPACE(sizeof(out));
				break;
			}
		}
		memcpy(buf, name, name_len);
		buf[name_len] = '\n';
		iov.iov_base = buf;
		iov.iov_len = name_len + 1 + (size_t)n;
		msg.msg_control = olen ? cout.b : NULL;
		msg.msg_controllen = olen;
		msg.msg_flags = 0;
		if (sendmsg(fd, &msg, 0) >= 0)
			(*answered)++;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "tcp", no_argument, NULL, 't' },
		{ "udp", no_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'N' },
		{ "ready", required_argument, NULL, 'r' },
		{ "echo", no_argument, NULL, 'e' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *listen_spec[MAX_LISTEN];
	int lfd[MAX_LISTEN];
	int nlisten = 0, type = 0, ep, i, c;
	const char *ready = NULL;
	unsigned long accepted = 0, answered = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	char *buf;

	while ((c = getopt_long(argc, argv, "l:tuN:r:eqh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (nlisten == MAX_LISTEN) {
				fprintf(stderr, "tr-echo: at most %d --listen\n", MAX_LISTEN);
				return 2;
			}
			listen_spec[nlisten++] = optarg;
			break;
		case 't':
			type = SOCK_STREAM;
			break;
		case 'u':
			type = SOCK_DGRAM;
			break;
		case 'N':
			name = optarg;
			break;
		case 'r':
			ready = optarg;
			break;
		case 'e': /* echo is always on; accepted for clarity in scripts */
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!nlisten || !type || !name || !*name || optind != argc ||
	    strchr(name, '\n')) {
		usage(stderr);
		return 2;
	}
	name_len = strlen(name);
	if (name_len > 1024) {
		fprintf(stderr, "tr-echo: name too long\n");
		return 2;
	}

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	buf = malloc(BUF_SIZE);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!buf || ep < 0) {
		perror("tr-echo");
		return 1;
	}
	for (i = 0; i < nlisten; i++) {
		struct epoll_event ev = { .events = EPOLLIN };

		lfd[i] = open_listener(listen_spec[i], type);
		if (lfd[i] < 0)
			return 1;
		ev.data.fd = lfd[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev) < 0) {
			perror("tr-echo: epoll_ctl");
			return 1;
		}
		if (!quiet)
			fprintf(stderr, "tr-echo: %s listening on %s/%s\n", name,
				listen_spec[i], type == SOCK_STREAM ? "tcp" : "udp");
	}
	if (ready) {
		int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0) {
			fprintf(stderr, "tr-echo: %s: %s\n", ready, strerror(errno));
			return 1;
		}
		dprintf(fd, "%d\n", getpid());
		close(fd);
	}

	while (!stop) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 500);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("tr-echo: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd, j, is_listener = 0;

			for (j = 0; j < nlisten; j++)
				if (fd == lfd[j])
					is_listener = 1;
			if (is_listener && type == SOCK_STREAM)
				tcp_accept(ep, fd, &accepted);
			else if (is_listener)
				udp_serve(fd, buf, &answered);
			else
				tcp_serve(ep, fd, buf);
		}
	}
	if (!quiet)
		fprintf(stderr, "tr-echo: %s exiting: %lu connections, %lu datagrams\n",
			name, accepted, answered);
	return 0;
}
