// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * xdpmaps_apply against real BPF maps of the uplink load balancer's types
 * (needs root; skips without): backend ids that stay, rings that are
 * replaced or kept, backends that drain, capacity refused with nothing
 * written, and adoption after a restart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/abi.h>
#include <trestle/xdp.h>

#include "compile.h"
#include "config.h"
#include "maps.h"
#include "xdp_compile.h"
#include "xdpmaps.h"

#define PORTS_HTTP "{name: http, port: 80, targetPort: 8080}"
#define PORTS_BOTH PORTS_HTTP ", {name: dns, protocol: UDP, port: 53, targetPort: 5353}"
#define SVC(eps) SVC_PORTS(PORTS_BOTH, eps)
#define SVC1(eps) SVC_PORTS(PORTS_HTTP, eps) /* without the dns port */
#define SVC_PORTS(ports, eps)                                                      \
	"apiVersion: v1\n"                                                         \
	"kind: Service\n"                                                          \
	"metadata: {name: web}\n"                                                  \
	"spec:\n"                                                                  \
	"  type: LoadBalancer\n"                                                   \
	"  clusterIP: 10.96.0.10\n"                                                \
	"  ports: [" ports "]\n"                                                    \
	"status: {loadBalancer: {ingress: [{ip: 198.51.100.1}]}}\n"                \
	"---\n"                                                                    \
	"apiVersion: discovery.k8s.io/v1\n"                                        \
	"kind: EndpointSlice\n"                                                    \
	"metadata: {name: web, labels: {kubernetes.io/service-name: web}}\n"       \
	"addressType: IPv4\n"                                                      \
	"ports: [{name: http, port: 8080}, {name: dns, protocol: UDP, port: 5353}]\n" \
	"endpoints: " eps "\n"                                                     \
	"---\n"                                                                    \
	"apiVersion: v1\n"                                                         \
	"kind: Node\n"                                                             \
	"metadata: {name: n1}\n"                                                   \
	"status: {addresses: [{type: InternalIP, address: 10.243.0.1}]}\n"          \
	"---\n"                                                                    \
	"apiVersion: v1\n"                                                         \
	"kind: Node\n"                                                             \
	"metadata: {name: n2}\n"                                                   \
	"status: {addresses: [{type: InternalIP, address: 10.243.0.2}]}\n"

#define EP(a, node) "{addresses: [" a "], nodeName: " node "}"
#define POD(name, ip)                                                              \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: " name "}\n"             \
	"spec: {nodeName: n1}\nstatus: {podIP: " ip "}\n"

struct st {
	struct xdp_fds f;
	struct xdpmaps_state xs;
	struct tr_applied applied;
};

static int mk(enum bpf_map_type t, size_t k, size_t v, uint32_t n, uint32_t flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);

	return bpf_map_create(t, NULL, (uint32_t)k, (uint32_t)v, n, &o);
}

static int setup(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, oo);
	struct st *s = calloc(1, sizeof(*s));
	int inner;

	if (!s || geteuid() != 0) {
		print_message("skipped: needs root\n");
		free(s);
		*state = NULL;
		return 0;
	}
	s->f.cfg = mk(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct tr_xdp_cfg), 1, 0);
	s->f.vip4 = mk(BPF_MAP_TYPE_HASH, sizeof(struct tr_lb4_key), sizeof(struct tr_xdp_svc), 3,
		       BPF_F_NO_PREALLOC);
	s->f.vip6 = mk(BPF_MAP_TYPE_HASH, sizeof(struct tr_lb6_key), sizeof(struct tr_xdp_svc), 16,
		       BPF_F_NO_PREALLOC);
	s->f.be = mk(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct tr_xdp_be), 64, 0);
	s->f.ports = mk(BPF_MAP_TYPE_ARRAY, 4, 8, TR_XDP_PORT_WORDS, 0);
	inner = mk(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_INNER_MAP);
	oo.inner_map_fd = inner;
	s->f.ring = bpf_map_create(BPF_MAP_TYPE_HASH_OF_MAPS, NULL, 4, 4, 64, &oo);
	close(inner);
	assert_true(s->f.cfg >= 0 && s->f.vip4 >= 0 && s->f.vip6 >= 0 && s->f.be >= 0 &&
		    s->f.ring >= 0 && s->f.ports >= 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct st *s = *state;

	if (!s)
		return 0;
	xdpmaps_free(&s->xs);
	close(s->f.cfg);
	close(s->f.vip4);
	close(s->f.vip6);
	close(s->f.be);
	close(s->f.ring);
	close(s->f.ports);
	free(s);
	return 0;
}

static int local_calls;

static int fake_local(void *ctx, const struct tr_ip *ip, uint32_t *ifindex, uint8_t mac[6],
		      uint8_t dev_mac[6])
{
	(void)ctx;
	local_calls++;
	*ifindex = 40 + ip->bytes[3];
	memset(mac, 0xaa, 6);
	memset(dev_mac, 0xbb, 6);
	return 0;
}

static size_t count(int fd, size_t ksz)
{
	unsigned char k[64], n[64];
	size_t c = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, n)) {
		memcpy(k, n, ksz);
		prev = k;
		c++;
	}
	return c;
}

/* Backend ids in use (the array's entries with a family). */
static size_t count_be(struct st *s)
{
	struct tr_xdp_be v;
	size_t c = 0;

	for (uint32_t id = 0; id < 64; id++)
		if (!bpf_map_lookup_elem(s->f.be, &id, &v) && v.family)
			c++;
	return c;
}

static bool port_bit(struct st *s, uint16_t port)
{
	uint32_t w = port / 64;
	uint64_t v = 0;

	assert_int_equal(bpf_map_lookup_elem(s->f.ports, &w, &v), 0);
	return (v >> (port % 64)) & 1;
}

static uint32_t gen(struct st *s)
{
	struct tr_xdp_cfg c = {};
	uint32_t zero = 0;

	assert_int_equal(bpf_map_lookup_elem(s->f.cfg, &zero, &c), 0);
	return c.gen;
}

/* Apply yaml; returns xdpmaps_apply's result. */
static int apply(struct st *s, const char *yaml, struct xdpmaps_result *res, char *msg)
{
	struct tr_config cfg;
	struct tr_compiled comp;
	struct xdp_compiled x;
	struct tr_diags d = {};
	int err;

	assert_int_equal(config_load_buffer("m.yaml", yaml, strlen(yaml), &cfg, &d), 0);
	assert_int_equal(compile_config(&cfg, &comp, &d), 0);
	assert_int_equal(xdp_compile(&cfg, &comp, "n1", &x, &d), 0);
	err = xdpmaps_apply(&s->f, &s->xs, &x, &comp, NULL, &cfg, fake_local, NULL, res, msg, 256);
	xdp_compiled_free(&x);
	compiled_free(&comp);
	config_free(&cfg);
	diags_free(&d);
	return err;
}

static uint32_t be_id(struct st *s, const char *addr, uint16_t port)
{
	uint32_t k, n, *prev = NULL;
	struct tr_xdp_be v;
	__be32 a;

	inet_pton(AF_INET, addr, &a);
	while (!bpf_map_get_next_key(s->f.be, prev, &n)) {
		if (!bpf_map_lookup_elem(s->f.be, &n, &v) && v.addr[0] == a &&
		    v.port == htons(port))
			return n;
		k = n;
		prev = &k;
	}
	return 0;
}

static struct tr_xdp_svc vip(struct st *s, uint16_t port, uint8_t proto)
{
	struct tr_lb4_key k = { .port = htons(port), .proto = proto };
	struct tr_xdp_svc v = {};

	inet_pton(AF_INET, "198.51.100.1", &k.addr);
	assert_int_equal(bpf_map_lookup_elem(s->f.vip4, &k, &v), 0);
	return v;
}

static void test_apply_and_drain(void **state)
{
	struct st *s = *state;
	struct xdpmaps_result res;
	char msg[256];
	uint32_t b1, b2, ring_http, ring_dns;
	struct tr_xdp_be v;

	if (!s)
		skip();
	assert_int_equal(xdpmaps_adopt(&s->f, &s->xs), 0);
	assert_int_equal(apply(s, SVC("[" EP("10.244.1.10", "n1") ", " EP("10.244.1.11", "n1") ", "
				      EP("10.244.2.10", "n2") "]") POD("b1", "10.244.1.10")
				      POD("b2", "10.244.1.11"), &res, msg), 0);
	assert_int_equal(res.fronts, 2);
	assert_int_equal(res.rings_written, 2);
	assert_int_equal(res.backends, 6); /* 3 addresses x 2 ports */
	assert_int_equal(res.local, 4);
	assert_int_equal(count(s->f.vip4, sizeof(struct tr_lb4_key)), 2);
	assert_int_equal(count(s->f.ring, 4), 2);
	b1 = be_id(s, "10.244.1.10", 8080);
	b2 = be_id(s, "10.244.1.11", 8080);
	assert_true(b1 && b2 && b1 != b2);
	assert_int_equal(bpf_map_lookup_elem(s->f.be, &b1, &v), 0);
	assert_int_equal(v.flags, TR_XDP_BE_F_LOCAL);
	assert_int_equal(v.ifindex, 50);
	assert_int_equal(v.mac[0], 0xaa);
	assert_int_equal(bpf_map_lookup_elem(s->f.be, &(uint32_t){ be_id(s, "10.244.2.10", 8080) }, &v), 0);
	assert_int_equal(v.flags, 0);
	assert_int_equal(v.node_family, TR_AF_INET);
	ring_http = vip(s, 80, TR_PROTO_TCP).ring;
	ring_dns = vip(s, 53, TR_PROTO_UDP).ring;
	assert_int_equal(vip(s, 80, TR_PROTO_TCP).ring_size, 4099); /* maglev_size(3) */
	/* the keys' ports are marked; the generation moved once */
	assert_true(port_bit(s, 80) && port_bit(s, 53));
	assert_false(port_bit(s, 81) || port_bit(s, 8080));
	assert_int_equal(gen(s), 1);

	/* b1 leaves the endpoints; its Pod stays: it drains, its id stays */
	assert_int_equal(apply(s, SVC("[" EP("10.244.1.11", "n1") ", " EP("10.244.2.10", "n2") "]")
				      POD("b1", "10.244.1.10") POD("b2", "10.244.1.11"), &res, msg), 0);
	assert_int_equal(res.draining, 2);
	assert_int_equal(be_id(s, "10.244.1.10", 8080), b1);
	assert_int_equal(be_id(s, "10.244.1.11", 8080), b2);
	assert_true(vip(s, 80, TR_PROTO_TCP).ring != ring_http);
	assert_int_equal(vip(s, 80, TR_PROTO_TCP).ring_size, 2053);
	assert_int_equal(count(s->f.ring, 4), 2); /* the old rings are gone */

	/* the same again: every ring is kept */
	ring_http = vip(s, 80, TR_PROTO_TCP).ring;
	ring_dns = vip(s, 53, TR_PROTO_UDP).ring;
	assert_int_equal(apply(s, SVC("[" EP("10.244.1.11", "n1") ", " EP("10.244.2.10", "n2") "]")
				      POD("b1", "10.244.1.10") POD("b2", "10.244.1.11"), &res, msg), 0);
	assert_int_equal(res.rings_written, 0);
	assert_int_equal(res.rings_kept, 2);
	assert_int_equal(vip(s, 80, TR_PROTO_TCP).ring, ring_http);
	assert_int_equal(vip(s, 53, TR_PROTO_UDP).ring, ring_dns);

	/* b1's Pod is gone too: so is its entry */
	assert_int_equal(apply(s, SVC("[" EP("10.244.1.11", "n1") ", " EP("10.244.2.10", "n2") "]")
				      POD("b2", "10.244.1.11"), &res, msg), 0);
	assert_int_equal(res.draining, 0);
	assert_int_equal(be_id(s, "10.244.1.10", 8080), 0);
	assert_int_equal(count_be(s), 4);
	assert_int_equal(gen(s), 4); /* one per apply: no key was removed */

	/* the dns port goes: its key is removed, then its bit; the generation
	 * moves twice (before and after the removal) */
	assert_int_equal(apply(s, SVC1("[" EP("10.244.1.11", "n1") ", " EP("10.244.2.10", "n2") "]")
				      POD("b2", "10.244.1.11"), &res, msg), 0);
	assert_int_equal(count(s->f.vip4, sizeof(struct tr_lb4_key)), 1);
	assert_true(port_bit(s, 80));
	assert_false(port_bit(s, 53));
	assert_int_equal(gen(s), 6);
	assert_int_equal(count_be(s), 3); /* the remote dns backend is gone; b2:5353 drains (its Pod stays) */
	assert_int_equal(apply(s, SVC("[" EP("10.244.1.11", "n1") ", " EP("10.244.2.10", "n2") "]")
				      POD("b2", "10.244.1.11"), &res, msg), 0);
	assert_true(port_bit(s, 53));
	assert_int_equal(gen(s), 7);

	/* a restart adopts: ids and keys carry over, rings are rebuilt */
	xdpmaps_free(&s->xs);
	assert_int_equal(xdpmaps_adopt(&s->f, &s->xs), 0);
	assert_int_equal(apply(s, SVC("[" EP("10.244.1.11", "n1") ", " EP("10.244.2.10", "n2") "]")
				      POD("b2", "10.244.1.11"), &res, msg), 0);
	assert_int_equal(be_id(s, "10.244.1.11", 8080), b2);
	assert_int_equal(res.rings_written, 2);
	assert_int_equal(count(s->f.ring, 4), 2);
	assert_int_equal(count_be(s), 4);
	assert_int_equal(gen(s), 8); /* carried over from the map, moved on */
}

static void test_capacity(void **state)
{
	struct st *s = *state;
	struct xdpmaps_result res;
	char msg[256];
	size_t rings, bes;
	uint32_t g;

	if (!s)
		skip();
	assert_int_equal(xdpmaps_adopt(&s->f, &s->xs), 0);
	assert_int_equal(apply(s, SVC("[" EP("10.244.1.11", "n1") "]") POD("b2", "10.244.1.11"),
			       &res, msg), 0);
	rings = count(s->f.ring, 4);
	bes = count_be(s);
	g = gen(s);
	/* tr_xdp4_vip holds 3 here: two more external addresses (6 keys) do
	 * not fit next to the 2 of the running state */
	assert_int_equal(apply(s,
			       "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
			       "spec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.10\n"
			       "  externalIPs: [192.0.2.1, 192.0.2.2]\n"
			       "  ports: [{name: http, port: 80, targetPort: 8080}, {name: dns, protocol: UDP, port: 53, targetPort: 5353}]\n"
			       "status: {loadBalancer: {ingress: [{ip: 198.51.100.1}]}}\n",
			       &res, msg), -ENOSPC);
	assert_string_equal(res.failed_map, TR_MAP_XDP4_VIP);
	assert_non_null(strstr(msg, "capacity 3"));
	/* nothing changed */
	assert_int_equal(count(s->f.vip4, sizeof(struct tr_lb4_key)), 2);
	assert_int_equal(count(s->f.ring, 4), rings);
	assert_int_equal(count_be(s), bes);
	assert_int_equal(gen(s), g);
	assert_false(port_bit(s, 81));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_and_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capacity, setup, teardown),
	};

	return cmocka_run_group_tests_name("xdpmaps", tests, NULL, NULL);
}
