// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The compiler: manifests in, selection tables out. Each test writes the
 * manifests a user would and checks the backends, their readiness and the
 * share of slots each one holds.
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

#include "compile.h"
#include "config.h"

#define SVC_WEB                                                   \
	"apiVersion: v1\n"                                        \
	"kind: Service\n"                                         \
	"metadata: {name: web, namespace: shop}\n"                \
	"spec:\n"                                                 \
	"  clusterIP: 10.96.0.10\n"                               \
	"  clusterIPs: [10.96.0.10, fd00:96::10]\n"               \
	"  ports:\n"                                              \
	"  - {name: http, protocol: TCP, port: 80, targetPort: http-alt}\n" \
	"  - {name: dns, protocol: UDP, port: 53, targetPort: 5353}\n"

#define SLICE_WEB_V4                                              \
	"---\n"                                                   \
	"apiVersion: discovery.k8s.io/v1\n"                       \
	"kind: EndpointSlice\n"                                   \
	"metadata:\n"                                             \
	"  name: web-v4\n"                                        \
	"  namespace: shop\n"                                     \
	"  labels: {kubernetes.io/service-name: web}\n"           \
	"addressType: IPv4\n"                                     \
	"ports:\n"                                                \
	"- {name: http, protocol: TCP, port: 8080}\n"             \
	"- {name: dns, protocol: UDP, port: 5353}\n"              \
	"endpoints:\n"                                            \
	"- {addresses: [10.244.1.2], conditions: {ready: true}, nodeName: n1, zone: z1}\n" \
	"- {addresses: [10.244.1.3], conditions: {ready: true}, nodeName: n1, zone: z1}\n" \
	"- {addresses: [10.244.2.2], conditions: {ready: true}, nodeName: n2, zone: z2}\n" \
	"- {addresses: [10.244.2.3], conditions: {ready: false}, nodeName: n2, zone: z2}\n"

#define SLICE_WEB_V6                                              \
	"---\n"                                                   \
	"apiVersion: discovery.k8s.io/v1\n"                       \
	"kind: EndpointSlice\n"                                   \
	"metadata:\n"                                             \
	"  name: web-v6\n"                                        \
	"  namespace: shop\n"                                     \
	"  labels: {kubernetes.io/service-name: web}\n"           \
	"addressType: IPv6\n"                                     \
	"ports: [{name: http, protocol: TCP, port: 8080}]\n"      \
	"endpoints:\n"                                            \
	"- {addresses: ['fd00:244:1::2'], nodeName: n1}\n"

#define POD(name, ip, version)                                    \
	"---\n"                                                   \
	"apiVersion: v1\n"                                        \
	"kind: Pod\n"                                             \
	"metadata: {name: " name ", namespace: shop, labels: {app: web, version: " version "}}\n" \
	"spec: {nodeName: n1}\n"                                  \
	"status: {podIP: " ip "}\n"

#define PODS                                                      \
	POD("web-1", "10.244.1.2", "v1") POD("web-2", "10.244.1.3", "v1") \
	POD("web-3", "10.244.2.2", "v2") POD("web-4", "10.244.2.3", "v2")

#define DR_WEB                                                    \
	"---\n"                                                   \
	"apiVersion: networking.istio.io/v1\n"                    \
	"kind: DestinationRule\n"                                 \
	"metadata: {name: web, namespace: shop}\n"                \
	"spec:\n"                                                 \
	"  host: web\n"                                           \
	"  subsets:\n"                                            \
	"  - {name: v1, labels: {version: v1}}\n"                 \
	"  - {name: v2, labels: {version: v2}}\n"

#define VS_WEB(w1, w2)                                            \
	"---\n"                                                   \
	"apiVersion: networking.istio.io/v1\n"                    \
	"kind: VirtualService\n"                                  \
	"metadata: {name: web, namespace: shop}\n"                \
	"spec:\n"                                                 \
	"  hosts: [web.shop.svc.cluster.local]\n"                 \
	"  tcp:\n"                                                \
	"  - route:\n"                                            \
	"    - {destination: {host: web, subset: v1}, weight: " w1 "}\n" \
	"    - {destination: {host: web, subset: v2}, weight: " w2 "}\n"

struct fixture {
	struct tr_config cfg;
	struct tr_diags diags;
	struct tr_compiled c;
};

static int compile_yaml(struct fixture *f, const char *yaml)
{
	int err;

	memset(f, 0, sizeof(*f));
	err = config_load_buffer("test.yaml", yaml, strlen(yaml), &f->cfg, &f->diags);
	if (err) {
		for (size_t i = 0; i < f->diags.n; i++)
			print_message("diag: %s\n", f->diags.items[i].message);
		return err;
	}
	return compile_config(&f->cfg, &f->c, &f->diags);
}

static void fixture_free(struct fixture *f)
{
	compiled_free(&f->c);
	config_free(&f->cfg);
	diags_free(&f->diags);
}

static const struct tr_cservice *find(const struct tr_compiled *c, const char *vip,
				      uint16_t port, uint8_t proto)
{
	struct tr_ip ip;

	assert_int_equal(tr_ip_parse(vip, &ip), 0);
	for (size_t i = 0; i < c->n_services; i++)
		if (tr_ip_equal(&c->services[i].vip, &ip) && c->services[i].port == port &&
		    c->services[i].proto == proto)
			return &c->services[i];
	fail_msg("no service %s:%u/%u", vip, port, proto);
	return NULL;
}

static const struct tr_cbackend *backend(const struct tr_cservice *s, const char *ip)
{
	struct tr_ip a;

	assert_int_equal(tr_ip_parse(ip, &a), 0);
	for (size_t i = 0; i < s->n_backends; i++)
		if (tr_ip_equal(&s->backends[i].ip, &a))
			return &s->backends[i];
	fail_msg("no backend %s", ip);
	return NULL;
}

/* Slots in the table that point at backend ip: what the data path sees. */
static uint32_t table_count(const struct tr_cservice *s, const char *ip)
{
	const struct tr_cbackend *b = backend(s, ip);
	uint32_t n = 0;

	for (uint32_t k = 0; k < s->n_slots; k++)
		n += &s->backends[s->table[k]] == b;
	return n;
}

static void test_even_split_ready_only(void **state)
{
	struct fixture f;
	const struct tr_cservice *s;

	(void)state;
	assert_int_equal(compile_yaml(&f, SVC_WEB SLICE_WEB_V4 SLICE_WEB_V6), 0);
	/* http v4, http v6, dns v4, dns v6 (no v6 dns endpoints) */
	assert_int_equal(f.c.n_services, 4);

	s = find(&f.c, "10.96.0.10", 80, TR_PROTO_TCP);
	assert_int_equal(s->n_backends, 4);
	assert_int_equal(s->n_slots, 3);
	assert_int_equal(table_count(s, "10.244.1.2"), 1);
	assert_int_equal(table_count(s, "10.244.2.2"), 1);
	assert_int_equal(table_count(s, "10.244.2.3"), 0); /* not ready */
	assert_false(backend(s, "10.244.2.3")->ready);
	/* named targetPort resolved through the slice's port of the same name */
	assert_int_equal(backend(s, "10.244.1.2")->port, 8080);
	assert_string_equal(backend(s, "10.244.2.2")->node, "n2");
	assert_string_equal(backend(s, "10.244.2.2")->zone, "z2");

	s = find(&f.c, "10.96.0.10", 53, TR_PROTO_UDP);
	assert_int_equal(backend(s, "10.244.1.2")->port, 5353);
	assert_int_equal(s->n_slots, 3);

	s = find(&f.c, "fd00:96::10", 80, TR_PROTO_TCP);
	assert_int_equal(s->n_backends, 1);
	assert_int_equal(s->n_slots, 1);
	assert_int_equal(s->backends[0].ip.family, AF_INET6);

	s = find(&f.c, "fd00:96::10", 53, TR_PROTO_UDP);
	assert_int_equal(s->n_slots, 0); /* no IPv6 dns endpoint: refused */
	fixture_free(&f);
}

static void test_canary_90_10(void **state)
{
	struct fixture f;
	const struct tr_cservice *s;

	(void)state;
	assert_int_equal(compile_yaml(&f, SVC_WEB SLICE_WEB_V4 PODS DR_WEB VS_WEB("90", "10")), 0);
	s = find(&f.c, "10.96.0.10", 80, TR_PROTO_TCP);
	/* v1: two ready pods share 90; v2: one ready pod (web-4 not ready) has 10 */
	assert_int_equal(s->n_slots, 20);
	assert_int_equal(table_count(s, "10.244.1.2"), 9);
	assert_int_equal(table_count(s, "10.244.1.3"), 9);
	assert_int_equal(table_count(s, "10.244.2.2"), 2);
	assert_int_equal(table_count(s, "10.244.2.3"), 0);
	assert_string_equal(backend(s, "10.244.2.2")->subset, "v2");
	assert_string_equal(backend(s, "10.244.1.2")->subset, "v1");
	assert_string_equal(backend(s, "10.244.1.2")->pod, "web-1");
	assert_int_equal(backend(s, "10.244.2.2")->weight_ppm, 100000);
	/* UDP has no tcp route: even split */
	s = find(&f.c, "10.96.0.10", 53, TR_PROTO_UDP);
	assert_int_equal(s->n_slots, 3);
	fixture_free(&f);
}

static void test_blue_green_all_or_nothing(void **state)
{
	struct fixture f;
	const struct tr_cservice *s;

	(void)state;
	assert_int_equal(compile_yaml(&f, SVC_WEB SLICE_WEB_V4 PODS DR_WEB VS_WEB("0", "100")), 0);
	s = find(&f.c, "10.96.0.10", 80, TR_PROTO_TCP);
	assert_int_equal(s->n_slots, 1);
	assert_int_equal(table_count(s, "10.244.2.2"), 1);
	assert_int_equal(table_count(s, "10.244.1.2"), 0);
	fixture_free(&f);
}

static void test_route_to_unknown_subset_is_refused(void **state)
{
	struct fixture f;
	const char *yaml = SVC_WEB SLICE_WEB_V4 PODS
		"---\n"
		"apiVersion: networking.istio.io/v1\n"
		"kind: VirtualService\n"
		"metadata: {name: web, namespace: shop}\n"
		"spec:\n"
		"  hosts: [web]\n"
		"  tcp:\n"
		"  - route:\n"
		"    - {destination: {host: web, subset: v3}}\n";

	(void)state;
	assert_int_equal(compile_yaml(&f, yaml), -EINVAL);
	assert_true(f.diags.n_errors >= 1);
	assert_non_null(strstr(f.diags.items[f.diags.n - 1].message, "subset 'v3'"));
	assert_int_equal(f.c.n_services, 0);
	fixture_free(&f);
}

static void test_empty_subset_share_goes_to_others(void **state)
{
	struct fixture f;
	const struct tr_cservice *s;
	bool warned = false;
	/* v2's only ready pod is gone: v1 takes all traffic, with a warning */
	const char *yaml = SVC_WEB
		"---\n"
		"apiVersion: discovery.k8s.io/v1\n"
		"kind: EndpointSlice\n"
		"metadata: {name: web-v4, namespace: shop, labels: {kubernetes.io/service-name: web}}\n"
		"addressType: IPv4\n"
		"ports: [{name: http, protocol: TCP, port: 8080}]\n"
		"endpoints:\n"
		"- {addresses: [10.244.1.2]}\n"
		PODS DR_WEB VS_WEB("90", "10");

	(void)state;
	assert_int_equal(compile_yaml(&f, yaml), 0);
	s = find(&f.c, "10.96.0.10", 80, TR_PROTO_TCP);
	assert_int_equal(s->n_slots, 1);
	assert_int_equal(table_count(s, "10.244.1.2"), 1);
	for (size_t i = 0; i < f.diags.n; i++)
		warned |= f.diags.items[i].level == TR_DIAG_WARNING &&
			  strstr(f.diags.items[i].message, "no ready backend");
	assert_true(warned);
	fixture_free(&f);
}

static void test_resolve_host_forms(void **state)
{
	struct fixture f;

	(void)state;
	assert_int_equal(compile_yaml(&f, SVC_WEB), 0);
	assert_non_null(compile_resolve_host(&f.cfg, "web", "shop"));
	assert_null(compile_resolve_host(&f.cfg, "web", "default"));
	assert_non_null(compile_resolve_host(&f.cfg, "web.shop", "default"));
	assert_non_null(compile_resolve_host(&f.cfg, "web.shop.svc", "x"));
	assert_non_null(compile_resolve_host(&f.cfg, "web.shop.svc.cluster.local", "x"));
	assert_null(compile_resolve_host(&f.cfg, "web.shop.svc.example.org", "x"));
	assert_null(compile_resolve_host(&f.cfg, "web.shop.pod", "x"));
	assert_null(compile_resolve_host(&f.cfg, "*", "shop"));
	fixture_free(&f);
}

/* The same input gives the same hash; any change of the tables changes it. */
static void test_hash_stable_and_sensitive(void **state)
{
	struct fixture a, b, c;

	(void)state;
	assert_int_equal(compile_yaml(&a, SVC_WEB SLICE_WEB_V4 PODS DR_WEB VS_WEB("90", "10")), 0);
	assert_int_equal(compile_yaml(&b, SVC_WEB SLICE_WEB_V4 PODS DR_WEB VS_WEB("90", "10")), 0);
	assert_int_equal(compile_yaml(&c, SVC_WEB SLICE_WEB_V4 PODS DR_WEB VS_WEB("80", "20")), 0);
	assert_true(a.c.hash == b.c.hash);
	assert_true(a.c.hash != c.c.hash);
	fixture_free(&a);
	fixture_free(&b);
	fixture_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_even_split_ready_only),
		cmocka_unit_test(test_canary_90_10),
		cmocka_unit_test(test_blue_green_all_or_nothing),
		cmocka_unit_test(test_route_to_unknown_subset_is_refused),
		cmocka_unit_test(test_empty_subset_share_goes_to_others),
		cmocka_unit_test(test_resolve_host_forms),
		cmocka_unit_test(test_hash_stable_and_sensitive),
	};

	return cmocka_run_group_tests_name("compile", tests, NULL, NULL);
}
