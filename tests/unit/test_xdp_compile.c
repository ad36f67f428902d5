// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The uplink load balancer's compiler (userspace/xdp_compile.c): which
 * external keys a configuration asks for, where each backend runs, and
 * that two nodes build the same rings from the same manifests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trestle/abi.h>

#include "compile.h"
#include "config.h"
#include "maglev.h"
#include "xdp_compile.h"

static const char mesh[] =
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: web, namespace: shop}\n"
	"spec:\n"
	"  type: LoadBalancer\n"
	"  clusterIPs: [10.96.0.10, fd00:96::10]\n"
	"  externalIPs: [192.0.2.7]\n"
	"  ports:\n"
	"  - {name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30080}\n"
	"  - {name: dns, protocol: UDP, port: 53, targetPort: 5353}\n"
	"status: {loadBalancer: {ingress: [{ip: 198.51.100.1}, {ip: 2001:db8::1}]}}\n"
	"---\n"
	"apiVersion: discovery.k8s.io/v1\n"
	"kind: EndpointSlice\n"
	"metadata: {name: web-v4, namespace: shop, labels: {kubernetes.io/service-name: web}}\n"
	"addressType: IPv4\n"
	"ports: [{name: http, protocol: TCP, port: 8080}, {name: dns, protocol: UDP, port: 5353}]\n"
	"endpoints:\n"
	"- {addresses: [10.244.1.2], nodeName: n1}\n"
	"- {addresses: [10.244.1.3], nodeName: n1}\n"
	"- {addresses: [10.244.2.2], nodeName: n2}\n"
	"- {addresses: [10.244.2.3], conditions: {ready: false}, nodeName: n2}\n"
	"- {addresses: [10.244.3.2]}\n" /* no nodeName: its Pod says n3 */
	"---\n"
	"apiVersion: discovery.k8s.io/v1\n"
	"kind: EndpointSlice\n"
	"metadata: {name: web-v6, namespace: shop, labels: {kubernetes.io/service-name: web}}\n"
	"addressType: IPv6\n"
	"ports: [{name: http, protocol: TCP, port: 8080}]\n"
	"endpoints:\n"
	"- {addresses: [fd00:244:1::2], nodeName: n1}\n"
	"- {addresses: [fd00:244:2::2], nodeName: n2}\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Pod\n"
	"metadata: {name: p3, namespace: shop}\n"
	"spec: {nodeName: n3}\n"
	"status: {podIP: 10.244.3.2}\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Node\n"
	"metadata: {name: n1}\n"
	"status: {addresses: [{type: InternalIP, address: 10.243.0.1}, {type: InternalIP, address: \"fd00:243::1\"}]}\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Node\n"
	"metadata: {name: n2}\n"
	"status: {addresses: [{type: InternalIP, address: 10.243.0.2}, {type: InternalIP, address: \"fd00:243::2\"}]}\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Node\n"
	"metadata: {name: n3}\n"
	"status: {addresses: [{type: InternalIP, address: \"fd00:243::3\"}]}\n";

struct fixture {
	struct tr_config cfg;
	struct tr_compiled comp;
	struct tr_diags diags;
};

static void load(struct fixture *f, const char *yaml)
{
	memset(f, 0, sizeof(*f));
	if (config_load_buffer("mesh.yaml", yaml, strlen(yaml), &f->cfg, &f->diags) ||
	    compile_config(&f->cfg, &f->comp, &f->diags)) {
		for (size_t i = 0; i < f->diags.n; i++)
			print_message("diag: %s\n", f->diags.items[i].message);
		fail_msg("the fixture does not load");
	}
}

static void unload(struct fixture *f)
{
	compiled_free(&f->comp);
	config_free(&f->cfg);
	diags_free(&f->diags);
}

static bool ip_is(const struct tr_ip *ip, const char *s)
{
	struct tr_ip want;

	return !tr_ip_parse(s, &want) && tr_ip_equal(ip, &want);
}

static const struct xdp_cfront *front(const struct xdp_compiled *x, const char *addr,
				      uint16_t port, uint8_t proto)
{
	for (size_t i = 0; i < x->n_fronts; i++)
		if (x->fronts[i].port == port && x->fronts[i].proto == proto &&
		    ip_is(&x->fronts[i].addr, addr))
			return &x->fronts[i];
	return NULL;
}

static const struct xdp_cbackend *backend(const struct xdp_compiled *x, const char *addr,
					  uint16_t port)
{
	for (size_t i = 0; i < x->n_backends; i++)
		if (x->backends[i].port == port && ip_is(&x->backends[i].ip, addr))
			return &x->backends[i];
	return NULL;
}

static void test_fronts(void **state)
{
	struct fixture f;
	struct xdp_compiled x;
	const struct xdp_cfront *fr;

	(void)state;
	load(&f, mesh);
	assert_int_equal(xdp_compile(&f.cfg, &f.comp, "n1", &x, &f.diags), 0);
	/* LB: {198.51.100.1, 2001:db8::1} x {80/TCP, 53/UDP}; external:
	 * 192.0.2.7 x 2; node port 30080: every node's InternalIP (n1, n2
	 * both families, n3 IPv6) */
	assert_non_null(fr = front(&x, "198.51.100.1", 80, TR_PROTO_TCP));
	assert_int_equal(fr->kind, XDP_FRONT_LB);
	assert_non_null(front(&x, "198.51.100.1", 53, TR_PROTO_UDP));
	assert_non_null(fr = front(&x, "2001:db8::1", 80, TR_PROTO_TCP));
	/* no IPv6 dns endpoint: the key is there, its ring empty (counted drops) */
	assert_non_null(fr = front(&x, "2001:db8::1", 53, TR_PROTO_UDP));
	assert_int_equal(x.rings[fr->ring].size, 0);
	assert_non_null(fr = front(&x, "192.0.2.7", 80, TR_PROTO_TCP));
	assert_int_equal(fr->kind, XDP_FRONT_EXTERNAL);
	assert_non_null(fr = front(&x, "10.243.0.2", 30080, TR_PROTO_TCP));
	assert_int_equal(fr->kind, XDP_FRONT_NODE_PORT);
	assert_non_null(front(&x, "10.243.0.1", 30080, TR_PROTO_TCP));
	assert_non_null(front(&x, "fd00:243::3", 30080, TR_PROTO_TCP));
	assert_null(front(&x, "10.243.0.1", 30080, TR_PROTO_UDP)); /* dns has no nodePort */
	assert_int_equal(x.n_fronts, 4 + 2 + 5);
	/* the node port and the LB address of one family share the ring */
	assert_int_equal(front(&x, "10.243.0.1", 30080, TR_PROTO_TCP)->ring,
			 front(&x, "198.51.100.1", 80, TR_PROTO_TCP)->ring);
	assert_true(ip_is(&x.node4, "10.243.0.1"));
	assert_true(ip_is(&x.node6, "fd00:243::1"));
	xdp_compiled_free(&x);
	unload(&f);
}

static void test_backends(void **state)
{
	struct fixture f;
	struct xdp_compiled x;
	const struct xdp_cbackend *b;
	const struct xdp_cring *r;

	(void)state;
	load(&f, mesh);
	assert_int_equal(xdp_compile(&f.cfg, &f.comp, "n1", &x, &f.diags), 0);
	assert_non_null(b = backend(&x, "10.244.1.2", 8080));
	assert_true(b->local);
	assert_non_null(b = backend(&x, "10.244.2.2", 8080));
	assert_false(b->local);
	assert_true(ip_is(&b->node, "10.243.0.2")); /* IPv4 underlay first */
	assert_null(backend(&x, "10.244.2.3", 8080)); /* not ready */
	/* on n3, which has only IPv6: the outer family both nodes have */
	assert_non_null(b = backend(&x, "10.244.3.2", 8080));
	assert_false(b->local);
	assert_true(ip_is(&b->node, "fd00:243::3"));

	/* the IPv4 http ring: four ready backends, maglev's size, all used */
	r = &x.rings[front(&x, "198.51.100.1", 80, TR_PROTO_TCP)->ring];
	assert_int_equal(r->size, maglev_size(4));
	{
		size_t seen[16] = {};

		for (uint32_t s = 0; s < r->size; s++) {
			assert_true(r->slots[s] < x.n_backends);
			assert_true(r->slots[s] < 16);
			seen[r->slots[s]]++;
		}
		for (size_t i = 0, n = 0; i < x.n_backends; i++) {
			if (seen[i] && x.backends[i].ip.family == AF_INET &&
			    x.backends[i].port == 8080)
				n++;
			if (i == x.n_backends - 1)
				assert_int_equal(n, 4);
		}
	}
	xdp_compiled_free(&x);
	unload(&f);
}

/* Every node builds the same ring: slot s names the same backend. */
static void test_same_on_every_node(void **state)
{
	struct fixture f;
	struct xdp_compiled a, b;

	(void)state;
	load(&f, mesh);
	assert_int_equal(xdp_compile(&f.cfg, &f.comp, "n1", &a, NULL), 0);
	assert_int_equal(xdp_compile(&f.cfg, &f.comp, "n2", &b, NULL), 0);
	assert_int_equal(a.seed, b.seed);
	assert_int_equal(a.n_fronts, b.n_fronts);
	for (size_t i = 0; i < a.n_fronts; i++) {
		const struct xdp_cring *ra = &a.rings[a.fronts[i].ring];
		const struct xdp_cring *rb = &b.rings[b.fronts[i].ring];

		assert_int_equal(ra->size, rb->size);
		assert_int_equal(ra->hash, rb->hash);
		for (uint32_t s = 0; s < ra->size; s++)
			assert_true(a.backends[ra->slots[s]].key == b.backends[rb->slots[s]].key);
	}
	/* but where a backend runs differs */
	assert_true(backend(&a, "10.244.1.2", 8080)->local);
	assert_false(backend(&b, "10.244.1.2", 8080)->local);
	assert_true(ip_is(&backend(&b, "10.244.1.2", 8080)->node, "10.243.0.1"));
	assert_true(a.hash != b.hash);
	xdp_compiled_free(&a);
	xdp_compiled_free(&b);
	unload(&f);
}

/* An external address of a family the Service has no cluster IP of. */
static void test_family_mismatch(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: v4only}\n"
		"spec:\n"
		"  clusterIP: 10.96.0.20\n"
		"  externalIPs: [2001:db8::20]\n"
		"  ports: [{port: 80}]\n";
	struct fixture f;
	struct xdp_compiled x;
	bool warned = false;

	(void)state;
	load(&f, yaml);
	assert_int_equal(xdp_compile(&f.cfg, &f.comp, "n1", &x, &f.diags), 0);
	assert_int_equal(x.n_fronts, 0);
	for (size_t i = 0; i < f.diags.n; i++)
		if (f.diags.items[i].level == TR_DIAG_WARNING &&
		    strstr(f.diags.items[i].message, "external address 2001:db8::20 is IPv6 but the Service has no cluster IP of that family"))
			warned = true;
	assert_true(warned);
	assert_int_equal(f.diags.n_errors, 0);
	xdp_compiled_free(&x);
	unload(&f);
}

/* No ready backend: the key exists with an empty ring (counted drops). */
static void test_no_ready_backend(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: empty}\n"
		"spec:\n"
		"  type: NodePort\n"
		"  clusterIP: 10.96.0.30\n"
		"  ports: [{port: 80, nodePort: 30001}]\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Node\n"
		"metadata: {name: n1}\n"
		"status: {addresses: [{type: InternalIP, address: 10.243.0.1}]}\n";
	struct fixture f;
	struct xdp_compiled x;

	(void)state;
	load(&f, yaml);
	assert_int_equal(xdp_compile(&f.cfg, &f.comp, "n1", &x, NULL), 0);
	assert_int_equal(x.n_fronts, 1);
	assert_int_equal(x.rings[x.fronts[0].ring].size, 0);
	xdp_compiled_free(&x);
	unload(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fronts),
		cmocka_unit_test(test_backends),
		cmocka_unit_test(test_same_on_every_node),
		cmocka_unit_test(test_family_mismatch),
		cmocka_unit_test(test_no_ready_backend),
	};

	return cmocka_run_group_tests_name("xdp_compile", tests, NULL, NULL);
}
