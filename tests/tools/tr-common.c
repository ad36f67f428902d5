// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "tr-common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_port(const char *s, in_port_t *port)
{
	char *end;
	unsigned long v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*port = htons((in_port_t)v);
	return 0;
}

int tr_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon;
	size_t hlen;
	in_port_t port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1 ||
		    parse_port(close + 2, &port))
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
		*len = sizeof(*sin6);
		return 0;
	}

	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	colon = strrchr(s, ':');
	if (!colon)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 ||
	    parse_port(colon + 1, &port))
		return -EINVAL;
	sin->sin_family = AF_INET;
	sin->sin_port = port;
	*len = sizeof(*sin);
	return 0;
}

/* Reduce an IPv4-mapped IPv6 address to plain IPv4 in out. */
static const struct sockaddr *unmap(const struct sockaddr *sa,
				    struct sockaddr_in *out)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return sa;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = sin6->sin6_port;
	memcpy(&out->sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
	return (const struct sockaddr *)out;
}

void tr_fmt_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	struct sockaddr_in tmp;

	sa = unmap(sa, &tmp);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "(family %u)", sa->sa_family);
	}
}

bool tr_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	struct sockaddr_in ta = {}, tb = {};

	a = unmap(a, &ta);
	b = unmap(b, &tb);
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

const char *tr_errname(int err)
{
	static char buf[16];
	const char *name;

	if (err < 0)
		err = -err;
	name = strerrorname_np(err);
	if (name)
		return name;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

long long tr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
