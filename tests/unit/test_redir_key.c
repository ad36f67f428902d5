// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The redirection key (bpf/lib/redir_key.h): each end of a connection must
 * compute exactly the key the other end filed itself under, whatever the
 * two sockets' families; a socket connected to itself names itself.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "../../bpf/lib/redir_key.h"

_Static_assert(sizeof(struct tr_redir_key) == 40, "tr_redir_key size");
_Static_assert(offsetof(struct tr_redir_key, lport) == 32, "tr_redir_key.lport");
_Static_assert(sizeof(struct tr_redir_sock) == 32, "tr_redir_sock size");
_Static_assert(sizeof(struct tr_redir_cfg) == 8, "tr_redir_cfg size");
_Static_assert(sizeof(struct tr_redir_ep) == 20, "tr_redir_ep size");

struct end {
	uint32_t family;
	uint32_t l4, r4;
	uint32_t l6[4], r6[4];
	uint16_t lport, rport; /* network order */
};

static struct tr_redir_key key(const struct end *e, int peer)
{
	struct tr_redir_key k;

	assert_int_equal(redir_key_fill(&k, e->family, e->l4, e->r4, e->l6, e->r6, e->lport,
					e->rport, peer, htonl(0xffff)),
			 0);
	return k;
}

static struct end v4(const char *l, const char *r, uint16_t lp, uint16_t rp)
{
	struct end e = { .family = TR_AF_INET, .lport = htons(lp), .rport = htons(rp) };

	inet_pton(AF_INET, l, &e.l4);
	inet_pton(AF_INET, r, &e.r4);
	return e;
}

static struct end v6(const char *l, const char *r, uint16_t lp, uint16_t rp)
{
	struct end e = { .family = TR_AF_INET6, .lport = htons(lp), .rport = htons(rp) };

	inet_pton(AF_INET6, l, e.l6);
	inet_pton(AF_INET6, r, e.r6);
	return e;
}

static void test_peer_keys_match(void **state)
{
	struct end c = v4("10.244.1.2", "10.244.1.10", 40000, 9000);
	struct end s = v4("10.244.1.10", "10.244.1.2", 9000, 40000);
	struct tr_redir_key a = key(&c, 1), b = key(&s, 0);

	(void)state;
	assert_memory_equal(&a, &b, sizeof(a));
	a = key(&s, 1);
	b = key(&c, 0);
	assert_memory_equal(&a, &b, sizeof(a));
	/* the two ends' own keys differ */
	a = key(&s, 0);
	assert_memory_not_equal(&a, &b, sizeof(a));
	assert_int_equal(b.family, TR_AF_INET);
	assert_int_equal(ntohs(b.lport), 40000);
	assert_int_equal(ntohs(b.rport), 9000);
}

/* A dual-stack socket talking IPv4 (::ffff:a.b.c.d) and an IPv4 socket. */
static void test_v4mapped_is_ipv4(void **state)
{
	struct end c = v6("::ffff:10.244.1.2", "::ffff:10.244.1.10", 40000, 9000);
	struct end s = v4("10.244.1.10", "10.244.1.2", 9000, 40000);
	struct tr_redir_key a = key(&c, 1), b = key(&s, 0);

	(void)state;
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(key(&c, 0).family, TR_AF_INET);
}

static void test_ipv6(void **state)
{
	struct end c = v6("fd00:244:1::2", "fd00:244:1::10", 40000, 9000);
	struct end s = v6("fd00:244:1::10", "fd00:244:1::2", 9000, 40000);
	struct tr_redir_key a = key(&c, 1), b = key(&s, 0);

	(void)state;
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(a.family, TR_AF_INET6);
}

/* One socket connected to itself: its own key is its peer's. A workload
 * talking to its own listener: two sockets, two keys. */
static void test_self(void **state)
{
	struct end one = v4("10.244.1.10", "10.244.1.10", 9200, 9200);
	struct end c = v4("10.244.1.10", "10.244.1.10", 40000, 9100);
	struct end s = v4("10.244.1.10", "10.244.1.10", 9100, 40000);
	struct tr_redir_key a = key(&one, 0), b = key(&one, 1);

	(void)state;
	assert_memory_equal(&a, &b, sizeof(a));
	a = key(&c, 0);
	b = key(&s, 0);
	assert_memory_not_equal(&a, &b, sizeof(a));
	a = key(&c, 1);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void test_bad_family(void **state)
{
	struct tr_redir_key k;
	uint32_t z[4] = {};

	(void)state;
	assert_int_equal(redir_key_fill(&k, 1, 0, 0, z, z, 0, 0, 0, htonl(0xffff)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_keys_match),
		cmocka_unit_test(test_v4mapped_is_ipv4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_bad_family),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
