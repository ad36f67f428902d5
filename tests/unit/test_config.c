// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The manifest loader: a valid directory parsed into the expected model,
 * then one case per kind of bad input, each checking the return code, the
 * diagnostic's file, line and a key phrase, and that nothing was returned.
 * Run from tests/unit (meson's workdir) so fixtures are data/...
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* ------------------------------------------------------------------ */
/* helpers */

static void print_diags(const struct tr_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->items[i]);

		print_message("  diag: %s\n", s ? s : "(null)");
		free(s);
	}
}

/* A diag at exactly file:line whose message contains phrase. */
static const struct tr_diag *find_diag(const struct tr_diags *d,
				       enum tr_diag_level level, const char *file,
				       int line, const char *phrase)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct tr_diag *x = &d->items[i];

		if (x->level != level || x->line != line)
			continue;
		if ((file == NULL) != (x->file == NULL))
			continue;
		if (file && strcmp(file, x->file))
			continue;
		if (strstr(x->message, phrase))
			return x;
	}
	return NULL;
}

static void expect_diag(const struct tr_diags *d, enum tr_diag_level level,
			const char *file, int line, const char *phrase)
{
	if (find_diag(d, level, file, line, phrase))
		return;
	print_diags(d);
	fail_msg("no %s at %s:%d containing \"%s\"",
		 level == TR_DIAG_ERROR ? "error" : "warning", file, line, phrase);
}

static void assert_empty_config(const struct tr_config *cfg)
{
	static const struct tr_config zero;

	assert_memory_equal(cfg, &zero, sizeof(zero));
}

static int load_str(const char *yaml, struct tr_config *cfg, struct tr_diags *d)
{
	return config_load_buffer("bad.yaml", yaml, strlen(yaml), cfg, d);
}

static void ip_expect(const struct tr_ip *ip, const char *s)
{
	struct tr_ip want;
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(tr_ip_parse(s, &want), 0);
	if (!tr_ip_equal(ip, &want))
		fail_msg("address %s, expected %s", tr_ip_str(ip, buf, sizeof(buf)), s);
}

/* ------------------------------------------------------------------ */
/* the valid fixture */

static void test_valid_dir(void **state)
{
	struct tr_config cfg;
	struct tr_diags d;
	const struct tr_service *svc;
	const struct tr_endpointslice *v4, *v6;
	const struct tr_pod *p;
	const struct tr_virtual_service *vs;
	const struct tr_dest_rule *dr;
	int rc;

	(void)state;
	rc = config_load_dir("data/valid", &cfg, &d);
	if (rc || d.n)
		print_diags(&d);
	assert_int_equal(rc, 0);
	assert_int_equal(d.n, 0);

	/* files, sorted by name, .yaml and .yml */
	assert_int_equal(cfg.n_files, 4);
	assert_string_equal(cfg.files[0], "data/valid/10-mesh.yaml");
	assert_string_equal(cfg.files[1], "data/valid/20-reviews.yaml");
	assert_string_equal(cfg.files[2], "data/valid/30-workloads.yaml");
	assert_string_equal(cfg.files[3], "data/valid/40-routing.yml");

	/* Mesh */
	assert_true(cfg.mesh.present);
	assert_string_equal(cfg.mesh.trust_domain, "example.org");
	assert_string_equal(cfg.mesh.root_namespace, "istio-system");
	assert_ptr_equal(cfg.mesh.src.file, cfg.files[0]);
	assert_int_equal(cfg.mesh.src.line, 2);

	/* dual-stack Service with a named targetPort */
	assert_int_equal(cfg.n_services, 1);
	svc = &cfg.services[0];
	assert_string_equal(svc->ns, "shop");
	assert_string_equal(svc->name, "reviews");
	assert_ptr_equal(svc->src.file, cfg.files[1]);
	assert_int_equal(svc->src.line, 3);
	assert_int_equal(svc->n_vips, 2);
	ip_expect(&svc->vips[0], "10.96.0.10");
	ip_expect(&svc->vips[1], "fd00:96::10");
	assert_int_equal(svc->vips[1].family, AF_INET6);
	assert_int_equal(svc->selector.n, 1);
	assert_string_equal(labels_get(&svc->selector, "app"), "reviews");
	assert_int_equal(svc->n_ports, 3);
	assert_string_equal(svc->ports[0].name, "http");
	assert_int_equal(svc->ports[0].proto, IPPROTO_TCP);
	assert_int_equal(svc->ports[0].port, 80);
	assert_int_equal(svc->ports[0].target_port, 0);
	assert_string_equal(svc->ports[0].target_port_name, "http-alt");
	assert_int_equal(svc->ports[0].src.line, 21);
	assert_string_equal(svc->ports[1].name, "metrics");
	assert_int_equal(svc->ports[1].port, 9090);
	assert_int_equal(svc->ports[1].target_port, 9090);
	assert_null(svc->ports[1].target_port_name);
	assert_string_equal(svc->ports[2].name, "dns");
	assert_int_equal(svc->ports[2].proto, IPPROTO_UDP);
	assert_int_equal(svc->ports[2].port, 53);
	assert_int_equal(svc->ports[2].target_port, 0);
	assert_null(svc->ports[2].target_port_name);

	/* EndpointSlices, IPv4 with ready / not ready / default ready, IPv6 */
	assert_int_equal(cfg.n_slices, 2);
	v4 = &cfg.slices[0];
	v6 = &cfg.slices[1];
	assert_string_equal(v4->name, "reviews-v4");
	assert_string_equal(v4->ns, "shop");
	assert_string_equal(v4->service, "reviews");
	assert_int_equal(v4->family, AF_INET);
	assert_int_equal(v4->n_ports, 2);
	assert_string_equal(v4->ports[0].name, "http");
	assert_int_equal(v4->ports[0].port, 8080);
	assert_int_equal(v4->ports[0].proto, IPPROTO_TCP);
	assert_int_equal(v4->ports[1].proto, IPPROTO_UDP);
	assert_int_equal(v4->ports[1].port, 5353);
	assert_int_equal(v4->n_endpoints, 3);
	assert_int_equal(v4->endpoints[0].n_addrs, 1);
	ip_expect(&v4->endpoints[0].addrs[0], "10.244.1.5");
	assert_true(v4->endpoints[0].ready);
	assert_string_equal(v4->endpoints[0].node, "node-a");
	assert_string_equal(v4->endpoints[0].zone, "zone-1");
	assert_string_equal(v4->endpoints[0].target_pod, "reviews-v1-abc");
	ip_expect(&v4->endpoints[1].addrs[0], "10.244.2.7");
	assert_false(v4->endpoints[1].ready);
	assert_string_equal(v4->endpoints[1].zone, "");
	assert_string_equal(v4->endpoints[1].target_pod, "reviews-v2-def");
	assert_true(v4->endpoints[2].ready); /* no conditions: ready */
	assert_string_equal(v4->endpoints[2].node, "");
	assert_string_equal(v4->endpoints[2].target_pod, "");
	assert_int_equal(v6->family, AF_INET6);
	assert_int_equal(v6->n_endpoints, 1);
	ip_expect(&v6->endpoints[0].addrs[0], "fd00:244:1::5");
	assert_true(v6->endpoints[0].ready);

	/* Pods */
	assert_int_equal(cfg.n_pods, 2);
	p = &cfg.pods[0];
	assert_string_equal(p->name, "reviews-v1-abc");
	assert_string_equal(p->ns, "shop");
	assert_string_equal(labels_get(&p->labels, "version"), "v1");
	assert_string_equal(p->service_account, "reviews");
	assert_string_equal(p->node, "node-a");
	assert_string_equal(p->cgroup, "kubepods/pod-reviews-v1");
	assert_int_equal(p->n_ips, 2); /* podIP repeated in podIPs: once */
	ip_expect(&p->ips[0], "10.244.1.5");
	ip_expect(&p->ips[1], "fd00:244:1::5");
	assert_true(labels_match(&svc->selector, &p->labels));
	p = &cfg.pods[1];
	assert_string_equal(p->service_account, "reviews-legacy");
	assert_string_equal(p->node, "");
	assert_null(p->cgroup);
	assert_int_equal(p->n_ips, 1);

	/* Nodes: InternalIP only */
	assert_int_equal(cfg.n_nodes, 2);
	assert_string_equal(cfg.nodes[0].name, "node-a");
	assert_int_equal(cfg.nodes[0].n_internal_ips, 2);
	ip_expect(&cfg.nodes[0].internal_ips[0], "192.168.1.10");
	ip_expect(&cfg.nodes[0].internal_ips[1], "fd00:1::10");
	assert_int_equal(cfg.nodes[1].n_internal_ips, 1);

	/* DestinationRule */
	assert_int_equal(cfg.n_dest_rules, 1);
	dr = &cfg.dest_rules[0];
	assert_string_equal(dr->host, "reviews.shop.svc.cluster.local");
	assert_int_equal(dr->n_subsets, 2);
	assert_string_equal(dr->subsets[0].name, "v1");
	assert_string_equal(labels_get(&dr->subsets[1].labels, "version"), "v2");
	assert_ptr_equal(dr->src.file, cfg.files[3]);

	/* VirtualService 90/10 on port 80, then a default single route */
	assert_int_equal(cfg.n_virtual_services, 1);
	vs = &cfg.virtual_services[0];
	assert_string_equal(vs->name, "reviews-canary");
	assert_int_equal(vs->n_hosts, 1);
	assert_string_equal(vs->hosts[0], "reviews");
	assert_int_equal(vs->n_tcp, 2);
	assert_int_equal(vs->tcp[0].n_match_ports, 1);
	assert_int_equal(vs->tcp[0].match_ports[0], 80);
	assert_int_equal(vs->tcp[0].n_routes, 2);
	assert_string_equal(vs->tcp[0].routes[0].host, "reviews");
	assert_string_equal(vs->tcp[0].routes[0].subset, "v1");
	assert_int_equal(vs->tcp[0].routes[0].port, 80);
	assert_int_equal(vs->tcp[0].routes[0].weight, 90);
	assert_string_equal(vs->tcp[0].routes[1].subset, "v2");
	assert_int_equal(vs->tcp[0].routes[1].port, 0);
	assert_int_equal(vs->tcp[0].routes[1].weight, 10);
	assert_int_equal(vs->tcp[1].n_match_ports, 0);
	assert_int_equal(vs->tcp[1].n_routes, 1);
	assert_int_equal(vs->tcp[1].routes[0].weight, 100);

	config_free(&cfg);
	assert_int_equal(cfg.n_services, 0);
	diags_free(&d);
}

static void test_defaults(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: web}\n"
		"spec:\n"
		"  clusterIP: None\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: one}\n"
		"spec: {clusterIP: 10.0.0.1, ports: [{port: 8080}]}\n"
		"---\n"
		"\n"
		"---\n"
		"apiVersion: networking.istio.io/v1alpha3\n"
		"kind: VirtualService\n"
		"metadata: {name: split}\n"
		"spec:\n"
		"  hosts: [one]\n"
		"  tcp:\n"
		"  - route:\n"
		"    - destination: {host: a}\n"
		"    - destination: {host: b}\n"
		"    - destination: {host: c}\n";
	struct tr_config cfg;
	struct tr_diags d;
	int rc;

	(void)state;
	rc = load_str(yaml, &cfg, &d);
	if (rc)
		print_diags(&d);
	assert_int_equal(rc, 0);
	assert_false(cfg.mesh.present);
	assert_string_equal(cfg.mesh.trust_domain, "cluster.local");
	assert_string_equal(cfg.mesh.root_namespace, "istio-system");
	assert_int_equal(cfg.n_services, 2);
	assert_string_equal(cfg.services[0].ns, "default");
	assert_int_equal(cfg.services[0].n_vips, 0); /* headless */
	assert_int_equal(cfg.services[0].n_ports, 0);
	assert_string_equal(cfg.services[1].ports[0].name, "");
	assert_int_equal(cfg.services[1].ports[0].proto, IPPROTO_TCP);
	assert_int_equal(cfg.virtual_services[0].tcp[0].routes[0].weight, 33);
	assert_int_equal(cfg.virtual_services[0].tcp[0].routes[2].weight, 33);
	assert_null(cfg.virtual_services[0].tcp[0].routes[0].subset);
	config_free(&cfg);
	diags_free(&d);
}

/* Accepted with a warning that names the field; the load succeeds. */
static void test_warnings(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: web}\n"
		"spec:\n"
		"  type: NodePort\n"
		"  clusterIP: 10.0.0.1\n"
		"  healthCheckNodePort: 31000\n"
		"  ports: [{port: 80, nodePort: 30080}]\n"
		"---\n"
		"apiVersion: networking.istio.io/v1\n"
		"kind: DestinationRule\n"
		"metadata: {name: web}\n"
		"spec:\n"
		"  host: web\n"
		"  trafficPolicy:\n"
		"    connectionPool: {tcp: {maxConnections: 10}}\n"
		"  subsets:\n"
		"  - name: v1\n"
		"    trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n";
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(load_str(yaml, &cfg, &d), 0);
	assert_int_equal(d.n_errors, 0);
	assert_int_equal(d.n, 3);
	expect_diag(&d, TR_DIAG_WARNING, "bad.yaml", 7, "spec.healthCheckNodePort: accepted but not enforced");
	expect_diag(&d, TR_DIAG_WARNING, "bad.yaml", 15, "DestinationRule default/web: spec.trafficPolicy: accepted but not enforced by this version");
	expect_diag(&d, TR_DIAG_WARNING, "bad.yaml", 19, "spec.subsets[0].trafficPolicy: accepted but not enforced");
	assert_int_equal(cfg.n_services, 1);
	config_free(&cfg);
	diags_free(&d);
}

/* ------------------------------------------------------------------ */
/* bad input, one buffer each */

#define SVC_HEAD                                                  \
	"apiVersion: v1\n"                                        \
	"kind: Service\n"                                         \
	"metadata:\n"                                             \
	"  name: web\n"                                           \
	"  namespace: shop\n"                                     \
	"spec:\n"                                                 \
	"  clusterIP: 10.0.0.1\n"
/* SVC_HEAD is 7 lines: the next line is 8. */

#define SLICE_HEAD(type)                                          \
	"apiVersion: discovery.k8s.io/v1\n"                       \
	"kind: EndpointSlice\n"                                   \
	"metadata:\n"                                             \
	"  name: web-1\n"                                         \
	"  labels: {kubernetes.io/service-name: web}\n"           \
	"addressType: " type "\n"
/* SLICE_HEAD is 6 lines. */

#define VS_HEAD                                                   \
	"apiVersion: networking.istio.io/v1\n"                    \
	"kind: VirtualService\n"                                  \
	"metadata: {name: web}\n"                                 \
	"spec:\n"                                                 \
	"  hosts: [web]\n"
/* VS_HEAD is 5 lines. */

#define AP_HEAD                                                   \
	"apiVersion: security.istio.io/v1\n"                      \
	"kind: AuthorizationPolicy\n"                             \
	"metadata: {name: ap, namespace: shop}\n"                 \
	"spec:\n"
/* AP_HEAD is 4 lines. */
#define AP_SOURCE(field) AP_HEAD "  rules:\n  - from:\n    - source:\n        " field "\n"
#define AP_OP(field) AP_HEAD "  rules:\n  - to:\n    - operation:\n        " field "\n"
/* The field of AP_SOURCE / AP_OP is on line 8. */

struct bad_case {
	const char *name;
	const char *yaml;
	int line;
	const char *phrase;
};

static const struct bad_case bad_cases[] = {
	/* YAML itself */
	{ "syntax", SVC_HEAD "  ports:\n    - port: 80: 81\n", 9,
	  "YAML syntax error: mapping values are not allowed" },
	{ "syntax-unclosed-flow", SVC_HEAD "  ports: [{port: 80}\n  selector: {}\n", 9,
	  "YAML syntax error: did not find expected ',' or ']'" },
	{ "binary-garbage", "apiVersion: v1\nkind: \x01\xfe\xff\n", 2,
	  "YAML syntax error" },
	{ "alias", SVC_HEAD "  selector: &sel {app: web}\n  ports: *sel\n", 9,
	  "alias *sel is not supported" },
	{ "duplicate-key", SVC_HEAD "  ports: [{port: 80}]\n  clusterIP: 10.0.0.2\n", 9,
	  "Service shop/web: spec.clusterIP: duplicate key (first written at line 7)" },
	{ "nul-in-string", SVC_HEAD "  ports: [{port: 80, name: \"a\\0b\"}]\n", 8,
	  "NUL character" },
	{ "explicit-tag", SVC_HEAD "  ports: !custom [{port: 80}]\n", 8,
	  "explicit YAML tag !custom is not supported" },
	{ "complex-key", SVC_HEAD "  ? [a]\n  : b\n", 8, "mapping keys must be plain strings" },
	{ "document-not-a-map", "- apiVersion: v1\n", 1,
	  "a document must be a mapping with apiVersion and kind, not a list" },

	/* apiVersion / kind */
	{ "unknown-kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", 2,
	  "kind: unknown kind \"Deployment\" (apiVersion apps/v1; supported: v1 Service, discovery.k8s.io/v1 EndpointSlice" },
	{ "unknown-api-version",
	  "apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: x}\n", 1,
	  "apiVersion: networking.istio.io/v2 VirtualService is not supported (supported for VirtualService: networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3)" },
	{ "missing-kind", "\napiVersion: v1\nmetadata: {name: x}\n", 2,
	  "kind: required field is missing" },
	{ "kind-not-a-string", "apiVersion: v1\nkind: [Service]\n", 2,
	  "kind: expected a string, got a list" },

	/* required fields */
	{ "missing-name", "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: shop\nspec: {}\n", 4,
	  "Service shop/(unnamed): metadata.name: required field is missing" },
	{ "missing-metadata", "apiVersion: v1\nkind: Node\n", 1,
	  "Node (unnamed): metadata: required field is missing" },
	{ "missing-port", SVC_HEAD "  ports:\n  - name: http\n", 9,
	  "spec.ports[0].port: required field is missing" },
	{ "missing-cluster-ip",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n", 5,
	  "spec.clusterIP: required field is missing: Trestle does not allocate cluster IPs" },
	{ "missing-ports", SVC_HEAD "  selector: {app: web}\n", 7,
	  "spec.ports: required field is missing" },
	{ "missing-vs-hosts", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  tcp: []\n", 5,
	  "VirtualService default/x: spec.hosts: required field is missing" },
	{ "missing-route-host", VS_HEAD "  tcp:\n  - route:\n    - destination: {subset: v1}\n", 8,
	  "spec.tcp[0].route[0].destination.host: required field is missing" },
	{ "missing-slice-label",
	  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: s\naddressType: IPv4\n", 4,
	  "metadata.labels[\"kubernetes.io/service-name\"]: required label is missing" },
	{ "missing-subset-name",
	  "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: web\n  subsets:\n  - labels: {v: a}\n", 7,
	  "spec.subsets[0].name: required field is missing" },

	/* names */
	{ "bad-name", "apiVersion: v1\nkind: Service\nmetadata:\n  name: Web_1\nspec: {clusterIP: None}\n", 4,
	  "metadata.name: \"Web_1\" is not a valid name: must be a DNS-1123 label" },
	{ "control-chars-in-message", SVC_HEAD "  ports: [{port: 80, protocol: \"T\\nC\\tP\"}]\n", 8,
	  "unknown protocol \"T?C?P\"" },
	{ "bad-label-key", SVC_HEAD "  ports: [{port: 80}]\n  selector: {\"-app\": web}\n", 9,
	  "spec.selector[\"-app\"]: invalid label key" },
	{ "bad-target-port-name", SVC_HEAD "  ports: [{port: 80, targetPort: \"8080\"}]\n", 8,
	  "targetPort: \"8080\" is not a valid port number or name: a port name must contain at least one letter" },
	{ "bad-trust-domain",
	  "apiVersion: trestle.io/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec:\n  trustDomain: Example_Org\n", 5,
	  "spec.trustDomain: \"Example_Org\" is not a valid trust domain" },

	/* addresses */
	{ "invalid-cluster-ip", SVC_HEAD "  clusterIPs: [10.0.0.1, \"fd00::zz\"]\n  ports: [{port: 80}]\n", 8,
	  "spec.clusterIPs[1]: \"fd00::zz\" is not a valid IPv4 or IPv6 address" },
	{ "invalid-cluster-ip-v4",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.0.0.256\n  ports: [{port: 80}]\n", 5,
	  "spec.clusterIP: \"10.0.0.256\" is not a valid IPv4 or IPv6 address" },
	{ "cluster-ip-cidr",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.0.0.0/24\n  ports: [{port: 80}]\n", 5,
	  "\"10.0.0.0/24\" is not a valid IPv4 or IPv6 address" },
	{ "cluster-ips-mismatch", SVC_HEAD "  clusterIPs: [10.0.0.2]\n  ports: [{port: 80}]\n", 8,
	  "spec.clusterIPs: the first address (10.0.0.2) must equal spec.clusterIP (10.0.0.1)" },
	{ "cluster-ips-same-family",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIPs: [10.0.0.1, 10.0.0.2]\n  ports: [{port: 80}]\n", 5,
	  "both addresses are IPv4" },
	{ "headless-and-ip", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIPs: [None, 10.0.0.1]\n", 5,
	  "spec.clusterIPs[0]: None must be the only entry" },
	{ "endpoint-invalid-ip", SLICE_HEAD("IPv4") "endpoints:\n- addresses: [10.1.2.3.4]\n", 8,
	  "endpoints[0].addresses[0]: \"10.1.2.3.4\" is not a valid IPv4 or IPv6 address" },
	{ "endpoint-family-mismatch", SLICE_HEAD("IPv6") "endpoints:\n- addresses:\n  - 10.1.2.3\n", 9,
	  "\"10.1.2.3\" is an IPv4 address but addressType is IPv6" },
	{ "endpoint-no-address", SLICE_HEAD("IPv4") "endpoints:\n- addresses: []\n", 8,
	  "endpoints[0].addresses: at least one address is required" },
	{ "pod-invalid-ip", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus:\n  podIPs:\n  - ip: 10.0.0.x\n", 6,
	  "Pod default/p: status.podIPs[0].ip: \"10.0.0.x\" is not a valid IPv4 or IPv6 address" },
	{ "node-invalid-ip",
	  "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  addresses:\n  - {type: InternalIP, address: node-a}\n", 6,
	  "Node n1: status.addresses[0].address: \"node-a\" is not a valid" },

	/* ports and numbers */
	{ "port-zero", SVC_HEAD "  ports: [{port: 0}]\n", 8, "spec.ports[0].port: 0 is out of range 1..65535" },
	{ "port-65536", SVC_HEAD "  ports:\n  - port: 65536\n", 9, "spec.ports[0].port: 65536 is out of range 1..65535" },
	{ "port-negative", SVC_HEAD "  ports:\n  - port: -1\n", 9, "spec.ports[0].port: -1 is out of range 1..65535" },
	{ "port-abc", SVC_HEAD "  ports:\n  - port: abc\n", 9, "spec.ports[0].port: expected an integer, got a string \"abc\"" },
	{ "port-quoted", SVC_HEAD "  ports:\n  - port: \"80\"\n", 9, "expected an integer, got a string \"80\" (hint: write the number without quotes)" },
	{ "port-huge", SVC_HEAD "  ports:\n  - port: 123456789012345678901234567890\n", 9,
	  "123456789012345678901234567890 is out of range 1..65535" },
	{ "port-float", SVC_HEAD "  ports:\n  - port: 80.5\n", 9, "expected an integer, got a floating-point number" },
	{ "port-octal", SVC_HEAD "  ports:\n  - port: 0080\n", 9, "\"0080\": write integers in plain decimal" },
	{ "target-port-range", SVC_HEAD "  ports:\n  - port: 80\n    targetPort: 70000\n", 10,
	  "spec.ports[0].targetPort: 70000 is out of range 1..65535" },
	{ "slice-port-range", SLICE_HEAD("IPv4") "ports: [{port: 0}]\n", 7, "ports[0].port: 0 is out of range" },
	{ "match-port-range", VS_HEAD "  tcp:\n  - match: [{port: 99999}]\n    route: [{destination: {host: web}}]\n", 7,
	  "spec.tcp[0].match[0].port: 99999 is out of range 1..65535" },
	{ "port-names-required", SVC_HEAD "  ports:\n  - {name: http, port: 80}\n  - {port: 443}\n", 10,
	  "spec.ports[1].name: required when a Service has more than one port" },
	{ "port-names-unique", SVC_HEAD "  ports:\n  - {name: http, port: 80}\n  - {name: http, port: 443}\n", 10,
	  "spec.ports[1].name: \"http\" is already used by spec.ports[0] (line 9)" },
	{ "port-repeated", SVC_HEAD "  ports:\n  - {name: a, port: 80}\n  - {name: b, port: 80}\n", 10,
	  "spec.ports[1]: port 80/TCP is already used by spec.ports[0]" },

	/* wrong types */
	{ "list-for-map", "apiVersion: v1\nkind: Service\nmetadata: [web]\n", 3,
	  "metadata: expected a mapping, got a list" },
	{ "map-for-list", SVC_HEAD "  ports: {port: 80}\n", 8, "spec.ports: expected a list, got a mapping" },
	{ "number-for-string", SVC_HEAD "  ports: [{port: 80, name: 8080}]\n", 8,
	  "spec.ports[0].name: expected a string, got an integer (hint: quote it: \"8080\")" },
	{ "bool-for-string", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    enabled: yes\n", 6,
	  "metadata.labels.enabled: expected a string, got a boolean" },
	{ "string-for-bool", SLICE_HEAD("IPv4") "endpoints:\n- addresses: [10.0.0.1]\n  conditions: {ready: \"true\"}\n", 9,
	  "endpoints[0].conditions.ready: expected true or false, got a string" },

	/* protocols and kinds of objects Trestle cannot serve */
	{ "sctp", SVC_HEAD "  ports:\n  - port: 80\n    protocol: SCTP\n", 10,
	  "spec.ports[0].protocol: protocol SCTP is not supported" },
	{ "slice-sctp", SLICE_HEAD("IPv4") "ports:\n- {port: 80, protocol: SCTP}\n", 8, "protocol SCTP is not supported" },
	{ "unknown-protocol", SVC_HEAD "  ports: [{port: 80, protocol: tcp}]\n", 8, "unknown protocol \"tcp\" (supported: TCP, UDP)" },
	{ "address-type-fqdn", SLICE_HEAD("FQDN") "endpoints:\n- addresses: [web.example.com]\n", 6,
	  "addressType: addressType FQDN is not supported: Trestle balances to IP addresses" },
	{ "external-name", SVC_HEAD "  type: ExternalName\n", 8, "spec.type: type ExternalName is not supported" },
	{ "client-ip-affinity", SVC_HEAD "  ports: [{port: 80}]\n  sessionAffinity: ClientIP\n", 9,
	  "spec.sessionAffinity: ClientIP session affinity is not supported" },
	{ "session-affinity-config", SVC_HEAD "  ports: [{port: 80}]\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 5}}\n", 9,
	  "spec.sessionAffinityConfig: session affinity is not supported" },
	{ "internal-traffic-local", SVC_HEAD "  ports: [{port: 80}]\n  internalTrafficPolicy: Local\n", 9,
	  "spec.internalTrafficPolicy: internalTrafficPolicy Local is not supported" },

	/* unknown fields, with their full path */
	{ "unknown-field", SVC_HEAD "  ports: [{port: 80}]\n  selectr: {app: web}\n", 9,
	  "Service shop/web: spec.selectr: unknown field (hint: did you mean \"selector\"?)" },
	{ "unknown-nested-field", SVC_HEAD "  ports:\n  - port: 80\n    targetport: 8080\n", 10,
	  "spec.ports[0].targetport: unknown field" },
	{ "unknown-top-field", SVC_HEAD "  ports: [{port: 80}]\nspecs: {}\n", 9, "specs: unknown field" },
	{ "unknown-metadata-field", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  lables: {app: x}\n", 5,
	  "Pod default/p: metadata.lables: unknown field (hint: did you mean \"labels\"?)" },
	{ "unknown-mesh-field", "apiVersion: trestle.io/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec:\n  nodeName: n1\n", 5,
	  "Mesh m: spec.nodeName: unknown field" },
	{ "unknown-slice-field", SLICE_HEAD("IPv4") "endpoints:\n- addresses: [10.0.0.1]\n  ready: true\n", 9,
	  "endpoints[0].ready: unknown field" },

	/* VirtualService: L7, gateways, matches, weights */
	{ "vs-http", VS_HEAD "  http:\n  - route: [{destination: {host: web}}]\n", 6,
	  "spec.http: http routes need an L7 proxy" },
	{ "vs-tls", VS_HEAD "  tls:\n  - match: [{sniHosts: [web]}]\n    route: [{destination: {host: web}}]\n", 6,
	  "spec.tls: tls (SNI) routes need an L7 proxy" },
	{ "vs-gateway", VS_HEAD "  gateways: [mesh, istio-system/ingress]\n  tcp: [{route: [{destination: {host: web}}]}]\n", 6,
	  "spec.gateways[1]: gateway \"istio-system/ingress\" is not supported" },
	{ "vs-match-source-labels", VS_HEAD "  tcp:\n  - match:\n    - port: 80\n      sourceLabels: {app: a}\n    route: [{destination: {host: web}}]\n", 9,
	  "spec.tcp[0].match[0].sourceLabels: not supported by this version" },
	{ "vs-match-subnets", VS_HEAD "  tcp:\n  - match: [{destinationSubnets: [10.0.0.0/8]}]\n    route: [{destination: {host: web}}]\n", 7,
	  "spec.tcp[0].match[0].destinationSubnets: not supported" },
	{ "weights-sum", VS_HEAD "  tcp:\n  - route:\n    - {destination: {host: web, subset: v1}, weight: 90}\n    - {destination: {host: web, subset: v2}, weight: 20}\n", 7,
	  "spec.tcp[0].route: weights sum to 110, not 100" },
	{ "weights-partial", VS_HEAD "  tcp:\n  - route:\n    - {destination: {host: web, subset: v1}, weight: 100}\n    - {destination: {host: web, subset: v2}}\n", 7,
	  "spec.tcp[0].route: 1 of 2 routes have a weight: when one route has a weight, all must" },
	{ "weight-range", VS_HEAD "  tcp:\n  - route:\n    - {destination: {host: web}, weight: 101}\n", 8,
	  "spec.tcp[0].route[0].weight: 101 is out of range 0..100" },
	{ "vs-no-tcp", VS_HEAD "  exportTo: [.]\n", 5, "spec.tcp: required field is missing" },
	{ "vs-bad-host", VS_HEAD "  tcp: [{route: [{destination: {host: \"web/x\"}}]}]\n", 6,
	  "\"web/x\" is not a valid host" },

	/* DestinationRule */
	{ "dr-duplicate-subset",
	  "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: web\n  subsets:\n  - name: v1\n  - name: v1\n", 8,
	  "spec.subsets[1].name: subset \"v1\" is already defined at line 7" },
	{ "dr-missing-host",
	  "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  subsets: []\n", 5,
	  "spec.host: required field is missing" },

	/* Pod */
	{ "pod-service-account-conflict",
	  "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  serviceAccountName: a\n  serviceAccount: b\n", 5,
	  "spec.serviceAccount: \"b\" contradicts spec.serviceAccountName \"a\"" },
	{ "pod-cgroup-absolute",
	  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    trestle.io/cgroup: /kubepods/p\n", 6,
	  "metadata.annotations[\"trestle.io/cgroup\"]: \"/kubepods/p\" is not a cgroup path relative" },
	{ "pod-cgroup-dotdot",
	  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    trestle.io/cgroup: a/../../etc\n", 6,
	  "is not a cgroup path relative to the agent's --cgroup directory" },

	/* across objects of one buffer */
	{ "duplicate-vip",
	  SVC_HEAD "  ports: [{port: 80}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\nspec:\n  clusterIP: 10.0.0.1\n  ports:\n  - port: 80\n", 16,
	  "Service shop/api: spec.ports[0]: 10.0.0.1:80/TCP is already claimed by Service shop/web at bad.yaml:8" },
	{ "duplicate-vip-v6",
	  "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: \"fd00::1\", ports: [{port: 53, protocol: UDP}]}\n---\n"
	  "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {clusterIP: \"fd00:0::1\", ports: [{port: 53, protocol: UDP}]}\n", 9,
	  "[fd00::1]:53/UDP is already claimed by Service default/a at bad.yaml:4" },
	{ "duplicate-object",
	  "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\n", 5,
	  "Pod default/p: duplicate object: already defined at bad.yaml:1" },
	{ "second-mesh",
	  "apiVersion: trestle.io/v1alpha1\nkind: Mesh\nmetadata: {name: a}\n---\napiVersion: trestle.io/v1alpha1\nkind: Mesh\nmetadata: {name: b}\n", 5,
	  "Mesh b: only one Mesh object is allowed; Mesh a is already defined at bad.yaml:1" },

	/* AuthorizationPolicy */
	{ "ap-request-principals", AP_SOURCE("requestPrincipals: [\"*\"]"), 8,
	  "AuthorizationPolicy shop/ap: spec.rules[0].from[0].source.requestPrincipals: requestPrincipals is an L7 field: it needs an L7 proxy (Trestle enforces L4)" },
	{ "ap-not-request-principals", AP_SOURCE("notRequestPrincipals: [a/b]"), 8,
	  "spec.rules[0].from[0].source.notRequestPrincipals: notRequestPrincipals is an L7 field" },
	{ "ap-hosts", AP_OP("hosts: [web.shop]"), 8,
	  "spec.rules[0].to[0].operation.hosts: hosts is an L7 field: it needs an L7 proxy" },
	{ "ap-not-hosts", AP_OP("notHosts: [web.shop]"), 8,
	  "spec.rules[0].to[0].operation.notHosts: notHosts is an L7 field" },
	{ "ap-methods", AP_OP("methods: [GET]"), 8,
	  "spec.rules[0].to[0].operation.methods: methods is an L7 field" },
	{ "ap-not-methods", AP_OP("notMethods: [POST]"), 8,
	  "spec.rules[0].to[0].operation.notMethods: notMethods is an L7 field" },
	{ "ap-paths", AP_OP("paths: [/admin]"), 8,
	  "spec.rules[0].to[0].operation.paths: paths is an L7 field" },
	{ "ap-not-paths", AP_OP("notPaths: [/healthz]"), 8,
	  "spec.rules[0].to[0].operation.notPaths: notPaths is an L7 field" },
	{ "ap-when", AP_HEAD "  rules:\n  - when:\n    - key: request.headers[x-user]\n      values: [a]\n", 6,
	  "spec.rules[0].when: when conditions are evaluated by an L7 proxy" },
	{ "ap-bad-cidr-len", AP_SOURCE("ipBlocks: [10.0.0.0/33]"), 8,
	  "spec.rules[0].from[0].source.ipBlocks[0]: \"10.0.0.0/33\": the prefix length must be a number 0..32" },
	{ "ap-bad-cidr-len-v6", AP_SOURCE("notIpBlocks: [\"fd00::/129\"]"), 8,
	  "source.notIpBlocks[0]: \"fd00::/129\": the prefix length must be a number 0..128" },
	{ "ap-bad-cidr-addr", AP_SOURCE("remoteIpBlocks: [10.0.0.300/8]"), 8,
	  "source.remoteIpBlocks[0]: \"10.0.0.300/8\" is not a valid IPv4 or IPv6 address or CIDR block" },
	{ "ap-bad-cidr-empty-len", AP_SOURCE("ipBlocks: [10.0.0.0/]"), 8,
	  "\"10.0.0.0/\": the prefix length must be a number" },
	{ "ap-cidr-host-bits", AP_SOURCE("ipBlocks: [10.1.2.3/8]"), 8,
	  "source.ipBlocks[0]: \"10.1.2.3/8\" has host bits set (hint: the block is 10.0.0.0/8)" },
	{ "ap-cidr-host-bits-v6", AP_SOURCE("notRemoteIpBlocks: [\"fd00::1/64\"]"), 8,
	  "source.notRemoteIpBlocks[0]: \"fd00::1/64\" has host bits set (hint: the block is fd00::/64)" },
	{ "ap-bad-wildcard", AP_SOURCE("principals: [cluster.local/ns/*/sa/web]"), 8,
	  "source.principals[0]: \"cluster.local/ns/*/sa/web\" is not a valid pattern: '*' may only be" },
	{ "ap-bad-wildcard-both-ends", AP_SOURCE("notNamespaces: [\"*prod*\"]"), 8,
	  "source.notNamespaces[0]: \"*prod*\" is not a valid pattern" },
	{ "ap-empty-principal", AP_SOURCE("principals: [\"\"]"), 8,
	  "source.principals[0]: must not be empty" },
	{ "ap-spiffe-principal", AP_SOURCE("principals: [\"spiffe://cluster.local/ns/a/sa/b\"]"), 8,
	  "principals are written without spiffe:// (hint: \"cluster.local/ns/a/sa/b\")" },
	{ "ap-custom", AP_HEAD "  action: CUSTOM\n", 5,
	  "AuthorizationPolicy shop/ap: spec.action: action CUSTOM is not supported: it delegates to an external authorizer" },
	{ "ap-provider", AP_HEAD "  provider: {name: ext-authz}\n", 5,
	  "spec.provider: a provider is for action CUSTOM" },
	{ "ap-unknown-action", AP_HEAD "  action: allow\n", 5,
	  "spec.action: unknown action \"allow\" (supported: ALLOW, DENY, AUDIT)" },
	{ "ap-target-ref", AP_HEAD "  targetRef: {kind: Gateway, name: ingress}\n", 5,
	  "spec.targetRef: attaching a policy to a gateway or a Service is not supported" },
	{ "ap-target-refs", AP_HEAD "  targetRefs: [{kind: Service, name: web}]\n", 5,
	  "spec.targetRefs: attaching a policy" },
	{ "ap-unknown-source-field", AP_SOURCE("principal: [cluster.local/ns/a/sa/b]"), 8,
	  "AuthorizationPolicy shop/ap: spec.rules[0].from[0].source.principal: unknown field (hint: did you mean \"principals\"?)" },
	{ "ap-unknown-spec-field", AP_HEAD "  selectr: {matchLabels: {app: web}}\n", 5,
	  "spec.selectr: unknown field (hint: did you mean \"selector\"?)" },
	{ "ap-unknown-selector-field", AP_HEAD "  selector: {matchExpressions: []}\n", 5,
	  "spec.selector.matchExpressions: unknown field" },
	{ "ap-unknown-rule-field", AP_HEAD "  rules:\n  - form: []\n", 6,
	  "spec.rules[0].form: unknown field (hint: did you mean \"from\"?)" },
	{ "ap-port-range", AP_OP("ports: [\"70000\"]"), 8,
	  "spec.rules[0].to[0].operation.ports[0]: \"70000\" is not a port number 1..65535" },
	{ "ap-port-range-int", AP_OP("notPorts: [0]"), 8,
	  "spec.rules[0].to[0].operation.notPorts[0]: 0 is out of range 1..65535" },
	{ "ap-port-name", AP_OP("ports: [http]"), 8,
	  "operation.ports[0]: \"http\" is not a port number 1..65535" },
	{ "ap-port-leading-zero", AP_OP("ports: [\"080\"]"), 8,
	  "operation.ports[0]: \"080\" is not a port number" },
	{ "ap-rules-not-list", AP_HEAD "  rules: {from: []}\n", 5, "spec.rules: expected a list, got a mapping" },
	{ "ap-bad-label", AP_HEAD "  selector:\n    matchLabels: {app: \"-web\"}\n", 6,
	  "spec.selector.matchLabels.app: invalid label value" },
	{ "ap-api-version",
	  "apiVersion: security.istio.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: ap}\n", 1,
	  "apiVersion: security.istio.io/v1alpha1 AuthorizationPolicy is not supported (supported for AuthorizationPolicy: security.istio.io/v1, security.istio.io/v1beta1)" },
	{ "ap-duplicate",
	  AP_HEAD "  action: DENY\n---\napiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: ap, namespace: shop}\n", 7,
	  "AuthorizationPolicy shop/ap: duplicate object: already defined at bad.yaml:1" },
};

/* AuthorizationPolicy: every L4 field, the defaults, the empty forms. */
/* LoadBalancer addresses, externalIPs and node ports: read, and checked. */
static void test_external(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: web}\n"
		"spec:\n"
		"  type: LoadBalancer\n"
		"  clusterIPs: [10.0.0.1, fd00::1]\n"
		"  externalIPs: [192.0.2.1, 2001:db8::1, 192.0.2.1]\n"
		"  externalTrafficPolicy: Cluster\n"
		"  ports:\n"
		"  - {name: http, port: 80, nodePort: 30080}\n"
		"  - {name: dns, port: 53, protocol: UDP, nodePort: 30080}\n"
		"status:\n"
		"  loadBalancer:\n"
		"    ingress: [{ip: 198.51.100.7}, {ip: 198.51.100.7, ipMode: VIP}]\n";
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(load_str(yaml, &cfg, &d), 0);
	if (d.n)
		print_diags(&d);
	assert_int_equal(d.n, 0);
	assert_int_equal(cfg.n_services, 1);
	assert_int_equal(cfg.services[0].type, TR_SVC_LOAD_BALANCER);
	assert_int_equal(cfg.services[0].n_external_ips, 2);
	ip_expect(&cfg.services[0].external_ips[0], "192.0.2.1");
	ip_expect(&cfg.services[0].external_ips[1], "2001:db8::1");
	assert_int_equal(cfg.services[0].n_lb_ips, 1);
	ip_expect(&cfg.services[0].lb_ips[0], "198.51.100.7");
	assert_int_equal(cfg.services[0].ports[0].node_port, 30080);
	assert_int_equal(cfg.services[0].ports[1].node_port, 30080); /* TCP and UDP */
	config_free(&cfg);
	diags_free(&d);
}

static void test_external_bad(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: a}\n"
		"spec:\n"
		"  clusterIP: 10.0.0.1\n"
		"  externalIPs: [not-an-ip]\n"                           /* 6 */
		"  externalTrafficPolicy: Local\n"                       /* 7 */
		"  loadBalancerIP: 192.0.2.9\n"                          /* 8 */
		"  ports:\n"
		"  - {port: 80, nodePort: 30080}\n"                      /* 10: ClusterIP type */
		"status: {loadBalancer: {ingress: [{ip: 192.0.2.3}]}}\n" /* 11: warning */
		"---\n"
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: b}\n"
		"spec:\n"
		"  type: NodePort\n"
		"  clusterIP: 10.0.0.2\n"
		"  externalIPs: [10.0.0.1]\n"
		"  ports:\n"
		"  - {name: a, port: 80, nodePort: 29999}\n"             /* 21: range */
		"  - {name: b, port: 81, nodePort: 30080}\n"             /* 22 */
		"---\n"
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: c}\n"
		"spec:\n"
		"  type: NodePort\n"
		"  clusterIP: 10.0.0.3\n"
		"  ports:\n"
		"  - {name: x, port: 82, nodePort: 30081}\n"             /* 31 */
		"  - {name: y, port: 84}\n"                              /* 32: warning */
		"---\n"
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: d}\n"
		"spec:\n"
		"  type: NodePort\n"
		"  clusterIP: 10.0.0.4\n"
		"  ports:\n"
		"  - {port: 83, nodePort: 30081}\n"                      /* 41: taken by c */
		"status: {loadBalancer: {ingress: [{hostname: lb.example.com}]}}\n";
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(load_str(yaml, &cfg, &d), -EINVAL);
	assert_empty_config(&cfg);
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 6, "spec.externalIPs[0]:");
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 7, "externalTrafficPolicy Local is not supported");
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 8, "spec.loadBalancerIP: deprecated");
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 10, "spec.ports[0].nodePort: only a Service of type NodePort or LoadBalancer");
	expect_diag(&d, TR_DIAG_WARNING, "bad.yaml", 11, "status.loadBalancer: not served: the Service is not of type LoadBalancer");
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 21, "29999 is outside the node port range 30000-32767");
	/* b's externalIP 10.0.0.1:80 is a's cluster IP */
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 21, "10.0.0.1:80/TCP is already claimed by Service default/a");
	expect_diag(&d, TR_DIAG_WARNING, "bad.yaml", 32, "spec.ports[1]: type NodePort without a nodePort");
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 41, "node port 30081/TCP is already claimed by Service default/c at bad.yaml:31");
	expect_diag(&d, TR_DIAG_WARNING, "bad.yaml", 42, "hostname: not served");
	diags_free(&d);
}

static void test_authz_policy(void **state)
{
	static const char yaml[] =
		"apiVersion: security.istio.io/v1\n"
		"kind: AuthorizationPolicy\n"
		"metadata: {name: web, namespace: shop}\n"
		"spec:\n"
		"  selector:\n"
		"    matchLabels: {app: web}\n"
		"  action: DENY\n"
		"  rules:\n"
		"  - from:\n"
		"    - source:\n"
		"        principals: [cluster.local/ns/a/sa/b, \"*\"]\n"
		"        notPrincipals: [\"cluster.local/ns/a/*\"]\n"
		"        namespaces: [\"*-prod\"]\n"
		"        notNamespaces: [kube-system]\n"
		"        ipBlocks: [10.0.0.0/8, 192.168.1.7]\n"
		"        remoteIpBlocks: [\"fd00::/16\", 10.0.0.0/8]\n"
		"        notIpBlocks: [10.1.0.0/16]\n"
		"        notRemoteIpBlocks: [\"::/0\"]\n"
		"    - {}\n"
		"    to:\n"
		"    - operation:\n"
		"        ports: [\"8080\", 9090]\n"
		"        notPorts: [\"22\"]\n"
		"  - {}\n"
		"  - to: [{}]\n"
		"---\n"
		"apiVersion: security.istio.io/v1beta1\n"
		"kind: AuthorizationPolicy\n"
		"metadata: {name: deny-all}\n"
		"spec: {}\n"
		"---\n"
		"apiVersion: security.istio.io/v1\n"
		"kind: AuthorizationPolicy\n"
		"metadata: {name: nospec, namespace: shop}\n"
		"---\n"
		"apiVersion: security.istio.io/v1\n"
		"kind: AuthorizationPolicy\n"
		"metadata: {name: audit, namespace: istio-system}\n"
		"spec: {action: AUDIT, rules: [], requestPrincipals: []}\n";
	const struct tr_authz_policy *ap;
	const struct tr_authz_source *s;
	struct tr_config cfg;
	struct tr_diags d;
	int rc;

	(void)state;
	rc = load_str(yaml, &cfg, &d);
	if (rc != -EINVAL)
		print_diags(&d);
	/* requestPrincipals belongs in a source, not in spec */
	assert_int_equal(rc, -EINVAL);
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 39,
		    "AuthorizationPolicy istio-system/audit: spec.requestPrincipals: unknown field");
	assert_int_equal(d.n_errors, 1);
	diags_free(&d);

	rc = config_load_buffer("ap.yaml", yaml, strstr(yaml, "spec: {action: AUDIT") - yaml,
				&cfg, &d);
	if (rc || d.n)
		print_diags(&d);
	assert_int_equal(rc, 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(cfg.n_authz_policies, 4);

	ap = &cfg.authz_policies[0];
	assert_string_equal(ap->ns, "shop");
	assert_string_equal(ap->name, "web");
	assert_int_equal(ap->src.line, 1);
	assert_true(ap->has_selector);
	assert_string_equal(labels_get(&ap->selector, "app"), "web");
	assert_int_equal(ap->action, TR_AUTHZ_DENY);
	assert_int_equal(ap->n_rules, 3);
	assert_int_equal(ap->rules[0].n_from, 2);
	s = &ap->rules[0].from[0];
	assert_int_equal(s->src.line, 10);
	assert_int_equal(s->n_principals, 2);
	assert_string_equal(s->principals[0], "cluster.local/ns/a/sa/b");
	assert_string_equal(s->principals[1], "*");
	assert_string_equal(s->not_principals[0], "cluster.local/ns/a/*");
	assert_string_equal(s->namespaces[0], "*-prod");
	assert_string_equal(s->not_namespaces[0], "kube-system");
	/* ipBlocks and remoteIpBlocks merged, the repeated block once */
	assert_int_equal(s->n_ip_blocks, 3);
	ip_expect(&s->ip_blocks[0].ip, "10.0.0.0");
	assert_int_equal(s->ip_blocks[0].prefixlen, 8);
	ip_expect(&s->ip_blocks[1].ip, "192.168.1.7");
	assert_int_equal(s->ip_blocks[1].prefixlen, 32);
	ip_expect(&s->ip_blocks[2].ip, "fd00::");
	assert_int_equal(s->ip_blocks[2].prefixlen, 16);
	assert_int_equal(s->n_not_ip_blocks, 2);
	assert_int_equal(s->not_ip_blocks[0].prefixlen, 16);
	ip_expect(&s->not_ip_blocks[1].ip, "::");
	assert_int_equal(s->not_ip_blocks[1].prefixlen, 0);
	/* an empty source: matches any source */
	s = &ap->rules[0].from[1];
	assert_int_equal(s->n_principals + s->n_not_principals + s->n_namespaces +
			 s->n_not_namespaces + s->n_ip_blocks + s->n_not_ip_blocks, 0);
	assert_int_equal(ap->rules[0].n_to, 1);
	assert_int_equal(ap->rules[0].to[0].n_ports, 2);
	assert_int_equal(ap->rules[0].to[0].ports[0], 8080);
	assert_int_equal(ap->rules[0].to[0].ports[1], 9090);
	assert_int_equal(ap->rules[0].to[0].n_not_ports, 1);
	assert_int_equal(ap->rules[0].to[0].not_ports[0], 22);
	/* a rule {}: any source, any port */
	assert_int_equal(ap->rules[1].n_from, 0);
	assert_int_equal(ap->rules[1].n_to, 0);
	/* to: [{}]: one operation that matches any port */
	assert_int_equal(ap->rules[2].n_to, 1);
	assert_int_equal(ap->rules[2].to[0].n_ports + ap->rules[2].to[0].n_not_ports, 0);

	/* spec: {} and no spec: ALLOW with no rules, namespace-wide */
	ap = &cfg.authz_policies[1];
	assert_string_equal(ap->ns, "default");
	assert_int_equal(ap->action, TR_AUTHZ_ALLOW);
	assert_false(ap->has_selector);
	assert_int_equal(ap->n_rules, 0);
	ap = &cfg.authz_policies[2];
	assert_int_equal(ap->action, TR_AUTHZ_ALLOW);
	assert_int_equal(ap->n_rules, 0);
	/* the document was cut after "metadata:": no spec */
	ap = &cfg.authz_policies[3];
	assert_string_equal(ap->ns, "istio-system");
	assert_int_equal(ap->n_rules, 0);
	config_free(&cfg);
	diags_free(&d);
}

static void test_bad_input(void **state)
{
	const struct bad_case *c = *state;
	struct tr_config cfg;
	struct tr_diags d;
	int rc;

	rc = load_str(c->yaml, &cfg, &d);
	if (rc != -EINVAL) {
		print_diags(&d);
		fail_msg("%s: returned %d, expected -EINVAL", c->name, rc);
	}
	assert_true(d.n_errors > 0);
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", c->line, c->phrase);
	assert_empty_config(&cfg);
	config_free(&cfg);
	diags_free(&d);
}

/* Every error is reported, not only the first. */
static void test_collects_all_errors(void **state)
{
	static const char yaml[] =
		SVC_HEAD "  ports: [{port: 0}, {port: 65536}]\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Widget\n"
		"---\n"
		SLICE_HEAD("FQDN");
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(load_str(yaml, &cfg, &d), -EINVAL);
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 8, "spec.ports[0].port: 0 is out of range");
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 8, "spec.ports[1].port: 65536 is out of range");
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 11, "unknown kind \"Widget\"");
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 18, "addressType FQDN");
	/* two port errors, the kind, FQDN, and "name required" for each port */
	assert_int_equal(d.n_errors, 6);
	assert_empty_config(&cfg);
	diags_free(&d);
}

/* A flood of errors is capped with a final line saying so. */
static void test_error_cap(void **state)
{
	char *yaml, *p;
	struct tr_config cfg;
	struct tr_diags d;
	size_t len = 4096 + 500 * 32;

	(void)state;
	yaml = malloc(len);
	assert_non_null(yaml);
	p = yaml + sprintf(yaml, SVC_HEAD "  ports:\n");
	for (int i = 0; i < 500; i++)
		p += sprintf(p, "  - {name: p%d, port: 0}\n", i);
	assert_int_equal(load_str(yaml, &cfg, &d), -EINVAL);
	assert_int_equal(d.n_errors, 101);
	assert_null(d.items[d.n - 1].file);
	assert_non_null(strstr(d.items[d.n - 1].message, "too many errors"));
	expect_diag(&d, TR_DIAG_ERROR, "bad.yaml", 9, "spec.ports[0].port: 0 is out of range");
	assert_empty_config(&cfg);
	diags_free(&d);
	free(yaml);
}

/* Deeply nested documents are refused before they cost anything. */
static void test_deep_nesting(void **state)
{
	struct tr_config cfg;
	struct tr_diags d;
	char *yaml = malloc(200003);

	(void)state;
	assert_non_null(yaml);
	strcpy(yaml, "a: ");
	memset(yaml + 3, '[', 100000);
	memset(yaml + 100003, ']', 100000);
	yaml[200003 - 1] = '\0';
	assert_int_equal(config_load_buffer("deep.yaml", yaml, 200002, &cfg, &d), -EINVAL);
	expect_diag(&d, TR_DIAG_ERROR, "deep.yaml", 1, "nested deeper than 64 levels");
	assert_empty_config(&cfg);
	diags_free(&d);
	free(yaml);
}

/* Empty input, comments only and null documents are fine and empty. */
static void test_empty_documents(void **state)
{
	static const char *const inputs[] = {
		"", "# nothing\n", "---\n", "---\n---\n...\n", "~\n", "--- null\n",
	};
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		assert_int_equal(config_load_buffer("e.yaml", inputs[i], strlen(inputs[i]),
						    &cfg, &d), 0);
		assert_int_equal(d.n, 0);
		assert_int_equal(cfg.n_files, 1);
		assert_int_equal(cfg.n_services + cfg.n_pods + cfg.n_slices, 0);
		assert_string_equal(cfg.mesh.trust_domain, "cluster.local");
		config_free(&cfg);
		diags_free(&d);
	}
}

/* ------------------------------------------------------------------ */
/* robustness: every prefix and random mutations of the valid fixture */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void load_any(const char *buf, size_t len)
{
	struct tr_config cfg;
	struct tr_diags d;
	int rc;

	rc = config_load_buffer("f.yaml", buf, len, &cfg, &d);
	assert_true(rc == 0 || rc == -EINVAL);
	if (rc) {
		assert_true(d.n_errors > 0);
		assert_empty_config(&cfg);
	} else {
		assert_int_equal(d.n_errors, 0);
	}
	for (size_t i = 0; i < d.n; i++) {
		char *s = diag_format(&d.items[i]);

		assert_non_null(s);
		free(s);
	}
	config_free(&cfg);
	diags_free(&d);
}

static void test_fuzz_truncated(void **state)
{
	size_t len, i;
	char *buf = slurp("data/valid/20-reviews.yaml", &len);

	(void)state;
	for (i = 0; i <= len; i++)
		load_any(buf, i);
	free(buf);
}

static void test_fuzz_mutated(void **state)
{
	static const char bytes[] = ":-[]{}&*!|>'\"\n #\t0aZ,?%@`\\\x00\xff\x80";
	size_t len, i;
	char *orig = slurp("data/valid/20-reviews.yaml", &len);
	char *buf = malloc(len);
	unsigned int seed = 12345;

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < 3000; i++) {
		memcpy(buf, orig, len);
		for (int k = 0; k < 1 + (int)(i % 4); k++) {
			seed = seed * 1103515245u + 12345u;
			size_t pos = (seed >> 8) % len;

			seed = seed * 1103515245u + 12345u;
			buf[pos] = bytes[(seed >> 8) % (sizeof(bytes) - 1)];
		}
		load_any(buf, len);
	}
	free(buf);
	free(orig);
}

/* ------------------------------------------------------------------ */
/* directories and files */

static void test_dir_syntax_error(void **state)
{
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(config_load_dir("data/syntax", &cfg, &d), -EINVAL);
	expect_diag(&d, TR_DIAG_ERROR, "data/syntax/b.yaml", 15,
		    "YAML syntax error: mapping values are not allowed in this context");
	assert_int_equal(d.n_errors, 1);
	assert_empty_config(&cfg);
	diags_free(&d);
}

static void test_dir_duplicate_object(void **state)
{
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(config_load_dir("data/dup-object", &cfg, &d), -EINVAL);
	expect_diag(&d, TR_DIAG_ERROR, "data/dup-object/b.yaml", 2,
		    "Service shop/web: duplicate object: already defined at data/dup-object/a.yaml:1");
	assert_int_equal(d.n_errors, 1);
	assert_empty_config(&cfg);
	diags_free(&d);
}

static void test_dir_duplicate_vip(void **state)
{
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(config_load_dir("data/dup-vip", &cfg, &d), -EINVAL);
	expect_diag(&d, TR_DIAG_ERROR, "data/dup-vip/b.yaml", 12,
		    "Service default/api: spec.ports[1]: 10.96.3.1:443/TCP is already claimed by Service default/web at data/dup-vip/a.yaml:10");
	assert_int_equal(d.n_errors, 1); /* 10.96.3.1:80/UDP is not a clash */
	assert_empty_config(&cfg);
	diags_free(&d);
}

static void test_dir_missing(void **state)
{
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(config_load_dir("data/no-such-dir", &cfg, &d), -ENOENT);
	expect_diag(&d, TR_DIAG_ERROR, "data/no-such-dir", 0,
		    "cannot read the configuration directory: No such file or directory");
	assert_empty_config(&cfg);
	diags_free(&d);
}

struct tmpdir {
	char path[64];
};

static void tmp_write(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int tmpdir_setup(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->path, "/tmp/trestle-test-config-XXXXXX");
	if (!mkdtemp(t->path)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int tmpdir_teardown(void **state)
{
	static const char *const names[] = {
		"00-ok.yaml", "notes.txt", "10-gone.yaml", "30-fifo.yml", ".#00-ok.yaml",
	};
	struct tmpdir *t = *state;
	char path[256];
	int err = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", t->path, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/20-dir.yaml", t->path);
	rmdir(path);
	if (rmdir(t->path))
		err = -1;
	free(t);
	return err;
}

/*
 * Files that cannot be read, chosen to fail as root too: a dangling
 * symlink, a directory, a FIFO (which must not block the agent). Hidden
 * entries (editor lock files, ConfigMap ..data links) are skipped.
 */
static void test_dir_unreadable(void **state)
{
	struct tmpdir *t = *state;
	char a[256], b[256], c[256], h[256];
	struct tr_config cfg;
	struct tr_diags d;

	tmp_write(t->path, "00-ok.yaml",
		  "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n");
	tmp_write(t->path, "notes.txt", "not a manifest\n");
	snprintf(a, sizeof(a), "%s/10-gone.yaml", t->path);
	snprintf(b, sizeof(b), "%s/20-dir.yaml", t->path);
	snprintf(c, sizeof(c), "%s/30-fifo.yml", t->path);
	snprintf(h, sizeof(h), "%s/.#00-ok.yaml", t->path);
	assert_int_equal(symlink("/nonexistent/trestle.yaml", a), 0);
	assert_int_equal(mkdir(b, 0755), 0);
	assert_int_equal(mkfifo(c, 0644), 0);
	assert_int_equal(symlink("root@host.1234", h), 0);

	assert_int_equal(config_load_dir(t->path, &cfg, &d), -EINVAL);
	expect_diag(&d, TR_DIAG_ERROR, a, 0, "cannot read: No such file or directory");
	expect_diag(&d, TR_DIAG_ERROR, b, 0, "cannot read: Is a directory");
	expect_diag(&d, TR_DIAG_ERROR, c, 0, "cannot read: not a regular file");
	assert_int_equal(d.n_errors, 3);
	assert_empty_config(&cfg);
	diags_free(&d);

	/* Without the bad entries, the same directory loads. */
	assert_int_equal(unlink(a), 0);
	assert_int_equal(rmdir(b), 0);
	assert_int_equal(unlink(c), 0);
	assert_int_equal(config_load_dir(t->path, &cfg, &d), 0);
	assert_int_equal(cfg.n_files, 1);
	assert_int_equal(cfg.n_nodes, 1);
	config_free(&cfg);
	diags_free(&d);
}

/* An EndpointSlice for a Service the set does not have: warning only. */
static void test_slice_without_service(void **state)
{
	static const char yaml[] = SLICE_HEAD("IPv4") "endpoints:\n- addresses: [10.0.0.1]\n";
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(load_str(yaml, &cfg, &d), 0);
	expect_diag(&d, TR_DIAG_WARNING, "bad.yaml", 1,
		    "Service default/web is not defined in this configuration");
	assert_int_equal(cfg.n_slices, 1);
	config_free(&cfg);
	diags_free(&d);
}

/* ------------------------------------------------------------------ */
/* small public helpers */

static void test_ip(void **state)
{
	static const struct {
		const char *in;
		int family;
		const char *out;
	} cases[] = {
		{ "10.0.0.1", AF_INET, "10.0.0.1" },
		{ "255.255.255.255", AF_INET, "255.255.255.255" },
		{ "fd00::1", AF_INET6, "fd00::1" },
		{ "FD00:0:0::0001", AF_INET6, "fd00::1" },
		{ "::ffff:10.0.0.1", AF_INET6, "::ffff:10.0.0.1" },
		{ "10.0.0.256", 0, NULL },
		{ "10.0.0", 0, NULL },
		{ "10.0.0.1/32", 0, NULL },
		{ "fe80::1%eth0", 0, NULL },
		{ "", 0, NULL },
		{ " 10.0.0.1", 0, NULL },
	};
	char buf[INET6_ADDRSTRLEN];
	struct tr_ip ip, ip2;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = tr_ip_parse(cases[i].in, &ip);

		if (!cases[i].out) {
			if (rc != -EINVAL)
				fail_msg("\"%s\" parsed", cases[i].in);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(ip.family, cases[i].family);
		assert_string_equal(tr_ip_str(&ip, buf, sizeof(buf)), cases[i].out);
	}
	assert_int_equal(tr_ip_parse(NULL, &ip), -EINVAL);
	assert_int_equal(tr_ip_parse("10.0.0.1", &ip), 0);
	assert_int_equal(tr_ip_parse("::ffff:10.0.0.1", &ip2), 0);
	assert_false(tr_ip_equal(&ip, &ip2)); /* families differ */
	assert_int_equal(tr_ip_parse("10.0.0.1", &ip2), 0);
	assert_true(tr_ip_equal(&ip, &ip2));
	assert_int_equal(ip.bytes[0], 10);
	assert_int_equal(ip.bytes[3], 1);
}

static void test_labels(void **state)
{
	struct tr_label sel_items[] = { { "app", "web" }, { "version", "v1" } };
	struct tr_label pod_items[] = { { "app", "web" }, { "version", "v1" }, { "tier", "x" } };
	struct tr_label other_items[] = { { "app", "web" }, { "version", "v2" } };
	struct tr_labels sel = { sel_items, 2 }, pod = { pod_items, 3 };
	struct tr_labels other = { other_items, 2 }, none = { NULL, 0 };

	(void)state;
	assert_true(labels_match(&sel, &pod));
	assert_false(labels_match(&sel, &other));
	assert_false(labels_match(&sel, &none));
	assert_true(labels_match(&none, &pod)); /* empty selector: everything */
	assert_string_equal(labels_get(&pod, "tier"), "x");
	assert_null(labels_get(&pod, "zone"));
}

static void test_diag_format(void **state)
{
	struct tr_diag d = { TR_DIAG_ERROR, "a.yaml", 7, "Service x/y: spec: bad" };
	char *s;

	(void)state;
	s = diag_format(&d);
	assert_string_equal(s, "a.yaml:7: error: Service x/y: spec: bad");
	free(s);
	d.level = TR_DIAG_WARNING;
	d.line = 0;
	s = diag_format(&d);
	assert_string_equal(s, "a.yaml: warning: Service x/y: spec: bad");
	free(s);
	d.file = NULL;
	s = diag_format(&d);
	assert_string_equal(s, "warning: Service x/y: spec: bad");
	free(s);
}

int main(void)
{
	struct CMUnitTest bad[sizeof(bad_cases) / sizeof(bad_cases[0])];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_dir),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_external),
		cmocka_unit_test(test_external_bad),
		cmocka_unit_test(test_authz_policy),
		cmocka_unit_test(test_collects_all_errors),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_empty_documents),
		cmocka_unit_test(test_fuzz_truncated),
		cmocka_unit_test(test_fuzz_mutated),
		cmocka_unit_test(test_dir_syntax_error),
		cmocka_unit_test(test_dir_duplicate_object),
		cmocka_unit_test(test_dir_duplicate_vip),
		cmocka_unit_test(test_dir_missing),
		cmocka_unit_test_setup_teardown(test_dir_unreadable, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test(test_slice_without_service),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_diag_format),
	};
	int failed;

	/* One named test per bad input, so a failure says which. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad[i] = (struct CMUnitTest){
			.name = bad_cases[i].name,
			.test_func = test_bad_input,
			.initial_state = (void *)&bad_cases[i],
		};
	failed = cmocka_run_group_tests_name("config", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("config_bad_input", bad, NULL, NULL);
	return failed;
}
