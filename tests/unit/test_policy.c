// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The authorization compiler against Istio's semantics. Each row of the
 * table is manifests, a source (a Pod or an address outside the mesh), a
 * destination Pod and a port, and the verdict Istio would give with the
 * policy and rule that decide it. Every row is checked twice: through
 * policy_evaluate() and through the compiled tables, looked up the way the
 * BPF programs do ((dst, src, port) -> (dst, src, 0) -> dst default, the
 * source's class from its workload entry or the longest prefix).
 * A randomized cross-check then compares the two for every (source,
 * destination, port) over generated policy sets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <trestle/policy.h>

#include "config.h"
#include "policy.h"

/* ------------------------------------------------------------------ */
/* the workloads every row shares */

#define POD(ns, name, app, sa, ips)                                     \
	"---\napiVersion: v1\nkind: Pod\n"                              \
	"metadata: {name: " name ", namespace: " ns ", labels: {app: " app "}}\n" \
	"spec: {serviceAccountName: " sa ", nodeName: n1}\n"            \
	"status: {podIPs: [" ips "]}\n"

#define PODS                                                              \
	POD("shop", "web", "web", "web", "{ip: 10.1.0.10}, {ip: \"fd00:1::10\"}") \
	POD("shop", "db", "db", "db", "{ip: 10.1.0.20}")                 \
	POD("shop", "client", "client", "client", "{ip: 10.1.0.30}")     \
	POD("front", "ui", "ui", "ui", "{ip: 10.2.0.10}, {ip: \"fd00:2::10\"}") \
	POD("front", "gw", "gw", "gateway", "{ip: 10.2.0.20}")           \
	POD("istio-system", "ingress", "ingress", "ingress", "{ip: 10.3.0.5}") \
	POD("kube-system", "dns", "dns", "coredns", "{ip: 10.3.0.53}")   \
	POD("other", "v6only", "v6", "default", "{ip: \"fd00:9::1\"}")   \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: noip, namespace: other}\n"

#define AP(ns, name) \
	"---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" \
	"metadata: {name: " name ", namespace: " ns "}\n"

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

static void load(const char *yaml, struct tr_config *cfg)
{
	struct tr_diags d = {};
	int rc;

	rc = config_load_buffer("p.yaml", yaml, strlen(yaml), cfg, &d);
	if (rc) {
		print_diags(&d);
		diags_free(&d);
		fail_msg("config_load_buffer: %d", rc);
	}
	diags_free(&d);
}

static void compile(const struct tr_config *cfg, struct tr_policy_compiled *pc,
		    struct tr_diags *d)
{
	int rc = policy_compile(cfg, "n1", pc, d);

	if (rc) {
		print_diags(d);
		fail_msg("policy_compile: %d", rc);
	}
}

static const struct tr_pod *find_pod(const struct tr_config *cfg, const char *ref,
				     size_t *idx)
{
	const char *slash = strchr(ref, '/');

	for (size_t i = 0; slash && i < cfg->n_pods; i++) {
		const struct tr_pod *p = &cfg->pods[i];

		if (strlen(p->ns) == (size_t)(slash - ref) &&
		    !strncmp(p->ns, ref, (size_t)(slash - ref)) && !strcmp(p->name, slash + 1)) {
			if (idx)
				*idx = i;
			return p;
		}
	}
	return NULL;
}

static bool cidr_has(const struct tr_cidr *c, const struct tr_ip *ip)
{
	unsigned i, bits;

	if (c->ip.family != ip->family)
		return false;
	for (i = 0; i < 16; i++) {
		bits = i * 8u >= c->prefixlen ? 0 : c->prefixlen - i * 8u >= 8 ? 8 :
			c->prefixlen - i * 8u;
		if ((ip->bytes[i] ^ c->ip.bytes[i]) & (uint8_t)(0xff00u >> bits))
			return false;
	}
	return true;
}

/* What the BPF programs would find: a source's class. */
static uint32_t lookup_src_class(const struct tr_policy_compiled *pc, size_t pod_idx,
				 bool is_pod, const struct tr_ip *ip)
{
	const struct pc_prefix *best = NULL;

	if (is_pod)
		return pc->workloads[pod_idx].src_class;
	for (size_t i = 0; i < pc->n_prefixes; i++)
		if (cidr_has(&pc->prefixes[i].cidr, ip) &&
		    (!best || pc->prefixes[i].cidr.prefixlen > best->cidr.prefixlen))
			best = &pc->prefixes[i];
	return best ? best->src_class : pc->world_src_class;
}

static int cmp_key(const void *k, const void *e)
{
	const struct pc_entry *a = k, *b = e;

	if (a->dst_class != b->dst_class)
		return a->dst_class < b->dst_class ? -1 : 1;
	if (a->src_class != b->src_class)
		return a->src_class < b->src_class ? -1 : 1;
	return (int)a->port - (int)b->port;
}

/* (dst, src, port) -> (dst, src, 0) -> dst default; dst class 0 allows. */
static struct pc_verdict lookup(const struct tr_policy_compiled *pc, uint32_t dst,
				uint32_t src, uint16_t port)
{
	struct pc_entry key = { .dst_class = dst, .src_class = src, .port = port };
	const struct pc_entry *e;

	if (!dst)
		return (struct pc_verdict){ TR_ACT_ALLOW, TR_VERD_F_DEFAULT, TR_RULE_NONE,
					    -1, -1, TR_RULE_NONE };
	if (!pc->n_entries)
		goto dflt;
	e = bsearch(&key, pc->entries, pc->n_entries, sizeof(*e), cmp_key);
	if (!e) {
		key.port = 0;
		e = bsearch(&key, pc->entries, pc->n_entries, sizeof(*e), cmp_key);
	}
	if (e)
		return e->v;
dflt:
	assert_true(dst <= pc->n_defaults);
	assert_int_equal(pc->defaults[dst - 1].dst_class, dst);
	return pc->defaults[dst - 1].v;
}

static bool verdict_eq(const struct pc_verdict *a, const struct pc_verdict *b)
{
	return a->action == b->action && a->flags == b->flags && a->rule == b->rule &&
	       a->policy == b->policy && a->audit_policy == b->audit_policy &&
	       a->audit_rule == b->audit_rule;
}

static const char *vstr(const struct tr_config *cfg, const struct pc_verdict *v,
			char *buf, size_t len)
{
	const struct tr_authz_policy *p = v->policy >= 0 ? &cfg->authz_policies[v->policy] : NULL;
	const struct tr_authz_policy *a =
		v->audit_policy >= 0 ? &cfg->authz_policies[v->audit_policy] : NULL;

	snprintf(buf, len, "%s%s%s by %s/%s rule %d, audit %s/%s rule %d",
		 v->action == TR_ACT_ALLOW ? "ALLOW" : v->action == TR_ACT_DENY ? "DENY" : "?",
		 v->flags & TR_VERD_F_DEFAULT ? " (default)" : "",
		 v->flags & TR_VERD_F_AUDIT ? " (audit)" : "", p ? p->ns : "-",
		 p ? p->name : "-", v->rule == TR_RULE_NONE ? -1 : v->rule, a ? a->ns : "-",
		 a ? a->name : "-", v->audit_rule == TR_RULE_NONE ? -1 : v->audit_rule);
	return buf;
}

/* ------------------------------------------------------------------ */
/* the table */

struct row {
	const char *name;
	const char *yaml;   /* policies (and a Mesh); PODS are prepended */
	const char *src;    /* "ns/pod" or an address */
	const char *dst;    /* "ns/pod" */
	uint16_t port;
	int action;         /* TR_ACT_* */
	const char *policy; /* "ns/name" that decides, NULL = the default */
	int rule;           /* its rule index; ignored for the default */
	const char *audit;  /* "ns/name" of the AUDIT policy that matched, or NULL */
	int audit_rule;
};

#define ALLOW TR_ACT_ALLOW
#define DENY TR_ACT_DENY
#define DEF NULL, -1

#define ALLOW_FRONT AP("shop", "allow-front") \
	"spec:\n  rules:\n  - from:\n    - source: {namespaces: [front]}\n"
#define DENY_UI AP("shop", "deny-ui") \
	"spec:\n  action: DENY\n  rules:\n  - from:\n    - source: {principals: [cluster.local/ns/front/sa/ui]}\n"
#define ALLOW_SRC(src) AP("shop", "allow") \
	"spec:\n  selector: {matchLabels: {app: web}}\n  rules:\n  - from:\n    - source: " src "\n"

static const struct row rows[] = {
	/* defaults */
	{ "no-policy-allows", "", "front/ui", "shop/web", 80, ALLOW, DEF },
	{ "no-policy-allows-external", "", "198.51.100.1", "shop/web", 80, ALLOW, DEF },
	{ "deny-beats-allow", ALLOW_FRONT DENY_UI, "front/ui", "shop/web", 80, DENY, "shop/deny-ui", 0 },
	{ "deny-beats-allow-other-source", ALLOW_FRONT DENY_UI, "front/gw", "shop/web", 80,
	  ALLOW, "shop/allow-front", 0 },
	{ "deny-order-independent", DENY_UI ALLOW_FRONT, "front/ui", "shop/web", 80, DENY, "shop/deny-ui", 0 },
	{ "no-allow-policy-allows", DENY_UI, "front/gw", "shop/web", 80, ALLOW, DEF },
	{ "allow-policy-no-match-denies", ALLOW_FRONT, "shop/client", "shop/web", 80, DENY, DEF },
	{ "empty-allow-denies-all", AP("shop", "nothing") "spec:\n  selector: {matchLabels: {app: web}}\n",
	  "front/ui", "shop/web", 80, DENY, DEF },
	{ "empty-allow-other-pod", AP("shop", "nothing") "spec:\n  selector: {matchLabels: {app: web}}\n",
	  "front/ui", "shop/db", 80, ALLOW, DEF },
	{ "spec-empty-denies-ns", AP("shop", "deny-all") "spec: {}\n", "shop/client", "shop/db", 80, DENY, DEF },
	{ "spec-empty-other-ns", AP("shop", "deny-all") "spec: {}\n", "shop/client", "front/ui", 80, ALLOW, DEF },
	{ "no-spec-denies-ns", AP("shop", "deny-all"), "198.51.100.1", "shop/web", 443, DENY, DEF },
	{ "empty-rule-allows-all", AP("shop", "allow-all") "spec: {rules: [{}]}\n", "198.51.100.1",
	  "shop/web", 443, ALLOW, "shop/allow-all", 0 },
	{ "empty-source-allows-all", AP("shop", "a") "spec: {rules: [{from: [{source: {}}]}]}\n",
	  "198.51.100.1", "shop/web", 443, ALLOW, "shop/a", 0 },

	/* principals and namespaces */
	{ "not-principals-excluded", ALLOW_SRC("{notPrincipals: [cluster.local/ns/front/sa/ui]}"),
	  "front/ui", "shop/web", 80, DENY, DEF },
	{ "not-principals-other", ALLOW_SRC("{notPrincipals: [cluster.local/ns/front/sa/ui]}"),
	  "front/gw", "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "not-principals-external", ALLOW_SRC("{notPrincipals: [cluster.local/ns/front/sa/ui]}"),
	  "198.51.100.1", "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "principals-star-pod", ALLOW_SRC("{principals: [\"*\"]}"), "other/noip", "shop/web", 80,
	  ALLOW, "shop/allow", 0 },
	{ "principals-star-external", ALLOW_SRC("{principals: [\"*\"]}"), "198.51.100.1", "shop/web",
	  80, DENY, DEF },
	{ "principals-prefix", ALLOW_SRC("{principals: [\"cluster.local/ns/front/*\"]}"), "front/gw",
	  "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "principals-prefix-miss", ALLOW_SRC("{principals: [\"cluster.local/ns/front/*\"]}"),
	  "shop/client", "shop/web", 80, DENY, DEF },
	{ "principals-suffix", ALLOW_SRC("{principals: [\"*/sa/gateway\"]}"), "front/gw", "shop/web",
	  80, ALLOW, "shop/allow", 0 },
	{ "principals-suffix-miss", ALLOW_SRC("{principals: [\"*/sa/gateway\"]}"), "front/ui",
	  "shop/web", 80, DENY, DEF },
	{ "principals-trust-domain", ALLOW_SRC("{principals: [example.org/ns/front/sa/ui]}"),
	  "front/ui", "shop/web", 80, DENY, DEF },
	{ "namespaces", ALLOW_SRC("{namespaces: [front]}"), "front/ui", "shop/web", 80,
	  ALLOW, "shop/allow", 0 },
	{ "namespaces-miss", ALLOW_SRC("{namespaces: [front]}"), "shop/client", "shop/web", 80, DENY, DEF },
	{ "namespaces-external", ALLOW_SRC("{namespaces: [\"*\"]}"), "198.51.100.1", "shop/web", 80,
	  DENY, DEF },
	{ "namespaces-suffix", ALLOW_SRC("{namespaces: [\"*-system\"]}"), "kube-system/dns",
	  "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "not-namespaces", ALLOW_SRC("{notNamespaces: [front]}"), "shop/client", "shop/web", 80,
	  ALLOW, "shop/allow", 0 },
	{ "not-namespaces-excluded", ALLOW_SRC("{notNamespaces: [front]}"), "front/ui", "shop/web",
	  80, DENY, DEF },
	{ "not-namespaces-external", ALLOW_SRC("{notNamespaces: [front]}"), "198.51.100.1",
	  "shop/web", 80, ALLOW, "shop/allow", 0 },

	/* address blocks */
	{ "ip-blocks", ALLOW_SRC("{ipBlocks: [203.0.113.0/24]}"), "203.0.113.7", "shop/web", 80,
	  ALLOW, "shop/allow", 0 },
	{ "ip-blocks-miss", ALLOW_SRC("{ipBlocks: [203.0.113.0/24]}"), "198.51.100.1", "shop/web",
	  80, DENY, DEF },
	{ "ip-blocks-pod", ALLOW_SRC("{ipBlocks: [10.2.0.0/16]}"), "front/ui", "shop/web", 80,
	  ALLOW, "shop/allow", 0 },
	{ "ip-blocks-pod-miss", ALLOW_SRC("{ipBlocks: [10.2.0.0/16]}"), "shop/client", "shop/web",
	  80, DENY, DEF },
	{ "ip-blocks-single-address", ALLOW_SRC("{ipBlocks: [203.0.113.9]}"), "203.0.113.9",
	  "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "ip-blocks-single-address-miss", ALLOW_SRC("{ipBlocks: [203.0.113.9]}"), "203.0.113.8",
	  "shop/web", 80, DENY, DEF },
	{ "nested-not-ip-blocks-inner", ALLOW_SRC("{ipBlocks: [10.0.0.0/8], notIpBlocks: [10.9.0.0/16]}"),
	  "10.9.1.1", "shop/web", 80, DENY, DEF },
	{ "nested-not-ip-blocks-outer", ALLOW_SRC("{ipBlocks: [10.0.0.0/8], notIpBlocks: [10.9.0.0/16]}"),
	  "10.8.1.1", "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "nested-deny-inner", ALLOW_SRC("{ipBlocks: [10.0.0.0/8]}")
	  AP("shop", "deny-net") "spec:\n  action: DENY\n  rules: [{from: [{source: {ipBlocks: [10.9.0.0/16]}}]}]\n",
	  "10.9.1.1", "shop/web", 80, DENY, "shop/deny-net", 0 },
	{ "nested-deny-outer", ALLOW_SRC("{ipBlocks: [10.0.0.0/8]}")
	  AP("shop", "deny-net") "spec:\n  action: DENY\n  rules: [{from: [{source: {ipBlocks: [10.9.0.0/16]}}]}]\n",
	  "10.200.0.1", "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "not-ip-blocks-only", ALLOW_SRC("{notIpBlocks: [192.0.2.0/24]}"), "198.51.100.1",
	  "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "not-ip-blocks-only-excluded", ALLOW_SRC("{notIpBlocks: [192.0.2.0/24]}"), "192.0.2.1",
	  "shop/web", 80, DENY, DEF },
	{ "not-ip-blocks-pod-without-ip", ALLOW_SRC("{notIpBlocks: [\"0.0.0.0/0\"]}"), "other/noip",
	  "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "ip-blocks-pod-without-ip", ALLOW_SRC("{ipBlocks: [\"0.0.0.0/0\"]}"), "other/noip",
	  "shop/web", 80, DENY, DEF },
	{ "ipv6-blocks", ALLOW_SRC("{ipBlocks: [\"2001:db8::/32\"]}"), "2001:db8::1", "shop/web", 80,
	  ALLOW, "shop/allow", 0 },
	{ "ipv6-blocks-miss", ALLOW_SRC("{ipBlocks: [\"2001:db8::/32\"]}"), "2001:db9::1", "shop/web",
	  80, DENY, DEF },
	{ "ipv6-blocks-not-v4", ALLOW_SRC("{ipBlocks: [\"::/0\"]}"), "203.0.113.1", "shop/web", 80,
	  DENY, DEF },
	{ "ipv6-nested", ALLOW_SRC("{ipBlocks: [\"2001:db8::/32\"], notIpBlocks: [\"2001:db8:1::/48\"]}"),
	  "2001:db8:1::5", "shop/web", 80, DENY, DEF },
	{ "ipv6-pod", ALLOW_SRC("{ipBlocks: [\"fd00:9::/32\"]}"), "other/v6only", "shop/web", 80,
	  ALLOW, "shop/allow", 0 },
	{ "remote-ip-blocks", ALLOW_SRC("{remoteIpBlocks: [203.0.113.0/24]}"), "203.0.113.7",
	  "shop/web", 80, ALLOW, "shop/allow", 0 },

	/* ports */
	{ "ports", AP("shop", "p") "spec:\n  rules: [{to: [{operation: {ports: [\"8080\"]}}]}]\n",
	  "front/ui", "shop/web", 8080, ALLOW, "shop/p", 0 },
	{ "ports-other", AP("shop", "p") "spec:\n  rules: [{to: [{operation: {ports: [\"8080\"]}}]}]\n",
	  "front/ui", "shop/web", 80, DENY, DEF },
	{ "not-ports", AP("shop", "p") "spec:\n  rules: [{to: [{operation: {notPorts: [\"22\"]}}]}]\n",
	  "front/ui", "shop/web", 22, DENY, DEF },
	{ "not-ports-other", AP("shop", "p") "spec:\n  rules: [{to: [{operation: {notPorts: [\"22\"]}}]}]\n",
	  "front/ui", "shop/web", 65535, ALLOW, "shop/p", 0 },
	{ "ports-and-not-ports", AP("shop", "p")
	  "spec:\n  rules: [{to: [{operation: {ports: [80, 443], notPorts: [443]}}]}]\n",
	  "front/ui", "shop/web", 443, DENY, DEF },
	{ "deny-port", AP("shop", "d")
	  "spec:\n  action: DENY\n  rules: [{to: [{operation: {ports: [\"22\"]}}]}]\n",
	  "front/ui", "shop/web", 22, DENY, "shop/d", 0 },
	{ "deny-port-other", AP("shop", "d")
	  "spec:\n  action: DENY\n  rules: [{to: [{operation: {ports: [\"22\"]}}]}]\n",
	  "front/ui", "shop/web", 23, ALLOW, DEF },
	{ "only-to-external", AP("shop", "tls") "spec:\n  rules:\n  - to:\n    - operation: {ports: [\"443\"]}\n",
	  "198.51.100.1", "shop/web", 443, ALLOW, "shop/tls", 0 },

	/* scope */
	{ "selector-other-workload", AP("shop", "db-only")
	  "spec:\n  selector: {matchLabels: {app: db}}\n  rules: [{from: [{source: {namespaces: [shop]}}]}]\n",
	  "front/ui", "shop/web", 80, ALLOW, DEF },
	{ "selector-same-ns-only", AP("front", "web-label")
	  "spec:\n  selector: {matchLabels: {app: web}}\n",
	  "front/ui", "shop/web", 80, ALLOW, DEF },
	{ "namespace-wide", AP("shop", "ns-wide")
	  "spec:\n  rules: [{from: [{source: {namespaces: [shop]}}]}]\n",
	  "front/ui", "shop/db", 80, DENY, DEF },
	{ "mesh-wide", AP("istio-system", "mesh-deny")
	  "spec:\n  action: DENY\n  rules: [{from: [{source: {namespaces: [front]}}]}]\n",
	  "front/gw", "kube-system/dns", 53, DENY, "istio-system/mesh-deny", 0 },
	{ "mesh-wide-allow-denies-others", AP("istio-system", "mesh-allow")
	  "spec:\n  rules: [{from: [{source: {namespaces: [front]}}]}]\n",
	  "shop/client", "other/noip", 53, DENY, DEF },
	{ "root-selector-all-namespaces", AP("istio-system", "web-everywhere")
	  "spec:\n  selector: {matchLabels: {app: web}}\n  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/client]}}]}]\n",
	  "front/ui", "shop/web", 80, DENY, DEF },
	{ "root-selector-match", AP("istio-system", "web-everywhere")
	  "spec:\n  selector: {matchLabels: {app: web}}\n  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/client]}}]}]\n",
	  "shop/client", "shop/web", 80, ALLOW, "istio-system/web-everywhere", 0 },
	{ "root-selector-unselected", AP("istio-system", "web-everywhere")
	  "spec:\n  selector: {matchLabels: {app: web}}\n",
	  "front/gw", "front/ui", 80, ALLOW, DEF },
	{ "custom-root-namespace",
	  "---\napiVersion: trestle.io/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec: {rootNamespace: mesh-root, trustDomain: example.org}\n"
	  AP("mesh-root", "deny-front") "spec:\n  action: DENY\n  rules: [{from: [{source: {principals: [example.org/ns/front/sa/ui]}}]}]\n",
	  "front/ui", "shop/db", 80, DENY, "mesh-root/deny-front", 0 },
	{ "custom-root-namespace-old-root-is-plain",
	  "---\napiVersion: trestle.io/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec: {rootNamespace: mesh-root}\n"
	  AP("istio-system", "deny-all") "spec:\n  action: DENY\n  rules: [{}]\n",
	  "front/ui", "shop/db", 80, ALLOW, DEF },

	/* audit */
	{ "audit-flags-default", AP("shop", "audit-ui")
	  "spec:\n  action: AUDIT\n  rules: [{from: [{source: {principals: [cluster.local/ns/front/sa/ui]}}]}]\n",
	  "front/ui", "shop/web", 80, ALLOW, DEF, "shop/audit-ui", 0 },
	{ "audit-no-match", AP("shop", "audit-ui")
	  "spec:\n  action: AUDIT\n  rules: [{from: [{source: {principals: [cluster.local/ns/front/sa/ui]}}]}]\n",
	  "front/gw", "shop/web", 80, ALLOW, DEF },
	{ "audit-with-allow", ALLOW_FRONT AP("istio-system", "audit-all")
	  "spec:\n  action: AUDIT\n  rules: [{to: [{operation: {ports: [\"9\"]}}]}, {}]\n",
	  "front/ui", "shop/web", 80, ALLOW, "shop/allow-front", 0, "istio-system/audit-all", 1 },
	{ "audit-with-deny", DENY_UI AP("shop", "audit-all") "spec:\n  action: AUDIT\n  rules: [{}]\n",
	  "front/ui", "shop/web", 80, DENY, "shop/deny-ui", 0, "shop/audit-all", 0 },
	{ "audit-with-default-deny", ALLOW_FRONT AP("shop", "audit-all") "spec:\n  action: AUDIT\n  rules: [{}]\n",
	  "shop/client", "shop/web", 80, DENY, DEF, "shop/audit-all", 0 },

	/* OR and AND, rule order */
	{ "from-or-first", ALLOW_SRC("{namespaces: [front]}\n    - source: {ipBlocks: [203.0.113.0/24]}"),
	  "front/ui", "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "from-or-second", ALLOW_SRC("{namespaces: [front]}\n    - source: {ipBlocks: [203.0.113.0/24]}"),
	  "203.0.113.1", "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "from-or-neither", ALLOW_SRC("{namespaces: [front]}\n    - source: {ipBlocks: [203.0.113.0/24]}"),
	  "shop/client", "shop/web", 80, DENY, DEF },
	{ "source-and", ALLOW_SRC("{namespaces: [front], principals: [\"*/sa/ui\"]}"), "front/ui",
	  "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "source-and-one-fails", ALLOW_SRC("{namespaces: [front], principals: [\"*/sa/ui\"]}"),
	  "front/gw", "shop/web", 80, DENY, DEF },
	{ "source-and-ip", ALLOW_SRC("{namespaces: [front], ipBlocks: [10.2.0.20/32]}"), "front/gw",
	  "shop/web", 80, ALLOW, "shop/allow", 0 },
	{ "from-and-to", AP("shop", "a")
	  "spec:\n  rules:\n  - from: [{source: {namespaces: [front]}}]\n    to: [{operation: {ports: [\"80\"]}}]\n",
	  "front/ui", "shop/web", 81, DENY, DEF },
	{ "to-or", AP("shop", "a")
	  "spec:\n  rules:\n  - to: [{operation: {ports: [\"80\"]}}, {operation: {ports: [\"81\"]}}]\n",
	  "front/ui", "shop/web", 81, ALLOW, "shop/a", 0 },
	{ "second-rule-decides", AP("shop", "a")
	  "spec:\n  rules:\n  - from: [{source: {namespaces: [shop]}}]\n  - from: [{source: {namespaces: [front]}}]\n",
	  "front/ui", "shop/web", 80, ALLOW, "shop/a", 1 },
	{ "first-rule-wins", AP("shop", "a")
	  "spec:\n  rules:\n  - to: [{operation: {ports: [\"80\"]}}]\n  - {}\n",
	  "front/ui", "shop/web", 80, ALLOW, "shop/a", 0 },
	{ "first-deny-policy-wins", AP("shop", "d1")
	  "spec:\n  action: DENY\n  rules: [{to: [{operation: {ports: [\"81\"]}}]}, {from: [{source: {namespaces: [front]}}]}]\n"
	  AP("shop", "d2") "spec:\n  action: DENY\n  rules: [{}]\n",
	  "front/ui", "shop/web", 80, DENY, "shop/d1", 1 },
};

static void check_verdict(const struct tr_config *cfg, const struct row *r,
			  const char *how, const struct pc_verdict *v)
{
	char buf[512], want[256];
	const char *why = NULL;
	size_t pi;

	if (v->action != r->action)
		why = "action";
	if (!why && !r->policy && (v->policy != -1 || v->rule != TR_RULE_NONE ||
				   !(v->flags & TR_VERD_F_DEFAULT)))
		why = "expected the default";
	if (!why && r->policy) {
		if (v->policy < 0 || v->flags & TR_VERD_F_DEFAULT)
			why = "expected a deciding policy";
		else if (snprintf(want, sizeof(want), "%s/%s", cfg->authz_policies[v->policy].ns,
				  cfg->authz_policies[v->policy].name) < 0 ||
			 strcmp(want, r->policy) || v->rule != r->rule)
			why = "deciding policy or rule";
	}
	if (!why && !r->audit && (v->flags & TR_VERD_F_AUDIT || v->audit_policy != -1))
		why = "unexpected audit";
	if (!why && r->audit) {
		pi = (size_t)v->audit_policy;
		if (!(v->flags & TR_VERD_F_AUDIT) || v->audit_policy < 0)
			why = "expected audit";
		else if (snprintf(want, sizeof(want), "%s/%s", cfg->authz_policies[pi].ns,
				  cfg->authz_policies[pi].name) < 0 ||
			 strcmp(want, r->audit) || v->audit_rule != r->audit_rule)
			why = "audit policy or rule";
	}
	if (why)
		fail_msg("%s (%s): %s: got %s", r->name, how, why, vstr(cfg, v, buf, sizeof(buf)));
}

static void test_row(void **state)
{
	const struct row *r = *state;
	struct tr_policy_compiled pc;
	const struct tr_pod *src, *dst;
	struct tr_config cfg;
	struct tr_diags d = {};
	struct pc_verdict ev, cv;
	struct tr_ip ip = {};
	size_t si = 0, di = 0;
	char *yaml;

	assert_true(asprintf(&yaml, "%s%s", PODS, r->yaml) > 0);
	load(yaml, &cfg);
	free(yaml);
	compile(&cfg, &pc, &d);
	src = find_pod(&cfg, r->src, &si);
	dst = find_pod(&cfg, r->dst, &di);
	assert_non_null(dst);
	if (!src)
		assert_int_equal(tr_ip_parse(r->src, &ip), 0);

	ev = policy_evaluate(&cfg, src, src ? NULL : &ip, dst, r->port);
	check_verdict(&cfg, r, "policy_evaluate", &ev);
	cv = lookup(&pc, pc.workloads[di].dst_class,
		    lookup_src_class(&pc, si, src != NULL, &ip), r->port);
	check_verdict(&cfg, r, "compiled", &cv);
	assert_true(verdict_eq(&ev, &cv));

	policy_compiled_free(&pc);
	diags_free(&d);
	config_free(&cfg);
}

/* ------------------------------------------------------------------ */
/* compiled output: classes, warnings, hash */

static void test_classes_and_warnings(void **state)
{
	static const char yaml[] = PODS
		AP("shop", "web")
		"spec:\n"
		"  selector: {matchLabels: {app: web}}\n"
		"  rules:\n"
		"  - from:\n"
		"    - source: {principals: [cluster.local/ns/front/sa/ui, cluster.local/ns/x/sa/gone]}\n"
		"    - source: {ipBlocks: [10.0.0.0/8, \"fd00:1::/64\"], notIpBlocks: [10.9.0.0/16]}\n"
		"    to: [{operation: {ports: [\"8080\", \"9090\"]}}]\n"
		AP("nowhere", "lonely") "spec: {}\n";
	struct tr_policy_compiled pc, pc2;
	struct tr_config cfg;
	struct tr_diags d = {}, d2 = {};
	size_t i, web = 0, ui = 0, gw = 0;
	bool lonely = false, gone = false, split = false;

	(void)state;
	load(yaml, &cfg);
	compile(&cfg, &pc, &d);
	for (i = 0; i < d.n; i++) {
		const struct tr_diag *x = &d.items[i];

		assert_int_equal(x->level, TR_DIAG_WARNING);
		lonely |= strstr(x->message, "AuthorizationPolicy nowhere/lonely: selects no Pod") != NULL;
		gone |= strstr(x->message, "spec.rules[0].from[0].source.principals[1]: \"cluster.local/ns/x/sa/gone\" matches no known workload identity") != NULL &&
			x->line > 0;
		/* shop/web: 10.1.0.10 is in 10/8, fd00:1::10 in fd00:1::/64: same
		 * membership; front/ui's fd00:2::10 is in none */
		split |= strstr(x->message, "Pod front/ui: its addresses 10.2.0.10 and fd00:2::10 fall in different ipBlocks") != NULL;
	}
	if (!lonely || !gone || !split) {
		print_diags(&d);
		fail_msg("missing warnings: lonely %d gone %d split %d", lonely, gone, split);
	}
	assert_int_equal(d.n_errors, 0);

	find_pod(&cfg, "shop/web", &web);
	find_pod(&cfg, "front/ui", &ui);
	find_pod(&cfg, "front/gw", &gw);
	assert_int_equal(pc.n_workloads, cfg.n_pods);
	assert_int_equal(pc.n_policies, 2);
	assert_int_equal(pc.policies[0].n_selected, 1);
	assert_int_equal(pc.policies[0].scope, 0);
	assert_int_equal(pc.policies[1].n_selected, 0);
	assert_int_equal(pc.policies[1].scope, 1);
	/* one dst class: web; everyone else has none */
	assert_int_equal(pc.n_dst_classes, 1);
	for (i = 0; i < pc.n_workloads; i++)
		assert_int_equal(pc.workloads[i].dst_class, i == web ? 1 : 0);
	assert_true(pc.workloads[web].local);
	/* identities: sorted, unique, spiffe://; other/v6only and other/noip
	 * are both other's default service account */
	assert_int_equal(pc.n_identities, cfg.n_pods - 1);
	for (i = 1; i < pc.n_identities; i++)
		assert_true(strcmp(pc.identities[i - 1], pc.identities[i]) < 0);
	assert_string_equal(pc.identities[pc.workloads[ui].identity],
			    "spiffe://cluster.local/ns/front/sa/ui");
	/* ui matches the principal, gw only the block; every other 10.x pod
	 * shares gw's class, the world is a class of its own */
	assert_int_not_equal(pc.workloads[ui].src_class, pc.workloads[gw].src_class);
	assert_int_equal(pc.workloads[web].src_class, pc.workloads[gw].src_class);
	assert_int_not_equal(pc.world_src_class, pc.workloads[gw].src_class);
	/* three prefixes, sorted: v4 before v6; 10.9/16 is the world's class */
	assert_int_equal(pc.n_prefixes, 3);
	assert_int_equal(pc.prefixes[0].cidr.prefixlen, 8);
	assert_int_equal(pc.prefixes[0].src_class, pc.workloads[gw].src_class);
	assert_int_equal(pc.prefixes[1].cidr.prefixlen, 16);
	assert_int_equal(pc.prefixes[1].src_class, pc.world_src_class);
	assert_int_equal(pc.prefixes[2].cidr.ip.family, AF_INET6);
	assert_int_equal(pc.n_src_classes, 3);
	/* entries sorted; the default of web's class is DENY */
	for (i = 1; i < pc.n_entries; i++) {
		const struct pc_entry *a = &pc.entries[i - 1], *b = &pc.entries[i];

		assert_true(a->dst_class < b->dst_class ||
			    (a->dst_class == b->dst_class &&
			     (a->src_class < b->src_class ||
			      (a->src_class == b->src_class && a->port < b->port))));
	}
	assert_int_equal(pc.n_defaults, 1);
	assert_int_equal(pc.defaults[0].v.action, TR_ACT_DENY);
	assert_true(pc.defaults[0].v.flags & TR_VERD_F_DEFAULT);
	/* two classes match, two ports each; port 0 is the default */
	assert_int_equal(pc.n_entries, 4);

	/* deterministic */
	compile(&cfg, &pc2, &d2);
	assert_true(pc.hash == pc2.hash);
	assert_int_not_equal(pc.hash, 0);
	policy_compiled_free(&pc2);
	diags_free(&d2);
	assert_true(policy_compile(&cfg, "n2", &pc2, &d2) == 0);
	assert_false(pc2.workloads[web].local);
	assert_true(pc.hash != pc2.hash);
	policy_compiled_free(&pc2);
	diags_free(&d2);

	policy_compiled_free(&pc);
	diags_free(&d);
	config_free(&cfg);
}

/* A model built by hand with a pattern the loader would refuse. */
static void test_invalid_pattern(void **state)
{
	struct tr_config cfg;
	struct tr_policy_compiled pc;
	struct tr_diags d = {};
	struct tr_authz_source src = {};
	struct tr_authz_rule rule = {};
	struct tr_authz_policy *ap;
	char *pats[] = { "a*b" };

	(void)state;
	load(PODS AP("shop", "bad") "spec: {}\n", &cfg);
	ap = &cfg.authz_policies[0];
	src.principals = pats;
	src.n_principals = 1;
	rule.from = &src;
	rule.n_from = 1;
	ap->rules = &rule;
	ap->n_rules = 1;
	assert_int_equal(policy_compile(&cfg, "n1", &pc, &d), -EINVAL);
	assert_int_equal(d.n_errors, 1);
	assert_non_null(strstr(d.items[0].message,
			       "AuthorizationPolicy shop/bad: spec.rules[0].from[0].source.principals[0]: \"a*b\" is not a valid pattern"));
	assert_int_equal(pc.n_entries, 0);
	assert_null(pc.workloads);
	ap->rules = NULL;
	ap->n_rules = 0;
	diags_free(&d);
	config_free(&cfg);
}

static void test_pattern_match(void **state)
{
	(void)state;
	assert_true(policy_pattern_match("*", "x"));
	assert_true(policy_pattern_match("*", ""));
	assert_true(policy_pattern_match("abc", "abc"));
	assert_false(policy_pattern_match("abc", "abcd"));
	assert_true(policy_pattern_match("ab*", "abcd"));
	assert_true(policy_pattern_match("ab*", "ab"));
	assert_false(policy_pattern_match("ab*", "a"));
	assert_true(policy_pattern_match("*cd", "abcd"));
	assert_true(policy_pattern_match("*cd", "cd"));
	assert_false(policy_pattern_match("*cd", "d"));
	assert_false(policy_pattern_match("*cd", "abce"));
	assert_false(policy_pattern_match("x", NULL));
}

/* ------------------------------------------------------------------ */
/* randomized: compiled == evaluated for every (source, destination, port) */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

struct buf {
	char *s;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (size_t)n + 64;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	b->len += (size_t)n;
}

static const char *const r_principals[] = {
	"cluster.local/ns/shop/sa/web", "cluster.local/ns/front/sa/ui", "*",
	"cluster.local/ns/front/*", "*/sa/default", "cluster.local/ns/nobody/sa/x",
	"*/sa/gateway", "cluster.local/*",
};
static const char *const r_namespaces[] = { "shop", "front", "*", "kube-*", "*-system", "other" };
static const char *const r_blocks[] = {
	"10.0.0.0/8", "10.1.0.0/16", "10.1.0.10/32", "192.0.2.0/24", "\"0.0.0.0/0\"",
	"\"2001:db8::/32\"", "\"2001:db8:1::/48\"", "\"fd00:1::/64\"", "\"::/0\"", "10.2.0.0/15",
};
static const char *const r_ports[] = { "80", "443", "8080", "22" };
static const char *const r_ns[] = { "shop", "front", "istio-system", "other" };
static const char *const r_apps[] = { "web", "ui", "db", "v6" };
static const char *const r_actions[] = { "ALLOW", "DENY", "AUDIT" };

static void r_list(struct buf *b, const char *key, const char *const *pool, size_t n,
		   bool quote)
{
	uint32_t k = 1 + rnd(2);

	bprintf(b, "%s: [", key);
	for (uint32_t i = 0; i < k; i++)
		bprintf(b, "%s%s%s%s", i ? ", " : "", quote ? "\"" : "", pool[rnd((uint32_t)n)],
			quote ? "\"" : "");
	bprintf(b, "]");
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void r_source(struct buf *b)
{
	bool any = false;

	bprintf(b, "{");
	if (!rnd(4)) {
		r_list(b, "principals", r_principals, N_OF(r_principals), true);
		any = true;
	}
	if (!rnd(6)) {
		bprintf(b, "%s", any ? ", " : "");
		r_list(b, "notPrincipals", r_principals, N_OF(r_principals), true);
		any = true;
	}
	if (!rnd(4)) {
		bprintf(b, "%s", any ? ", " : "");
		r_list(b, "namespaces", r_namespaces, N_OF(r_namespaces), true);
		any = true;
	}
	if (!rnd(6)) {
		bprintf(b, "%s", any ? ", " : "");
		r_list(b, "notNamespaces", r_namespaces, N_OF(r_namespaces), true);
		any = true;
	}
	if (!rnd(3)) {
		bprintf(b, "%s", any ? ", " : "");
		r_list(b, "ipBlocks", r_blocks, N_OF(r_blocks), false);
		any = true;
	}
	if (!rnd(4)) {
		bprintf(b, "%s", any ? ", " : "");
		r_list(b, "notIpBlocks", r_blocks, N_OF(r_blocks), false);
	}
	bprintf(b, "}");
}

static void r_policy(struct buf *b, int i)
{
	uint32_t n_rules, f, t;

	bprintf(b, "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
		   "metadata: {name: p%d, namespace: %s}\n", i, r_ns[rnd(N_OF(r_ns))]);
	if (!rnd(8))
		return; /* no spec */
	bprintf(b, "spec:\n  action: %s\n", r_actions[rnd(N_OF(r_actions))]);
	if (rnd(2))
		bprintf(b, "  selector: {matchLabels: {app: %s}}\n", r_apps[rnd(N_OF(r_apps))]);
	n_rules = rnd(4);
	if (!n_rules)
		return;
	bprintf(b, "  rules:\n");
	for (uint32_t r = 0; r < n_rules; r++) {
		bprintf(b, "  - {");
		f = rnd(3);
		if (f) {
			bprintf(b, "from: [");
			for (uint32_t k = 0; k < f; k++) {
				bprintf(b, "%s{source: ", k ? ", " : "");
				r_source(b);
				bprintf(b, "}");
			}
			bprintf(b, "]");
		}
		t = rnd(3);
		if (t) {
			bprintf(b, "%sto: [", f ? ", " : "");
			for (uint32_t k = 0; k < t; k++) {
				bool with_ports = rnd(3), with_not = !rnd(3);

				bprintf(b, "%s{operation: {", k ? ", " : "");
				if (with_ports)
					r_list(b, "ports", r_ports, N_OF(r_ports), true);
				if (with_not) {
					bprintf(b, "%s", with_ports ? ", " : "");
					r_list(b, "notPorts", r_ports, N_OF(r_ports), true);
				}
				bprintf(b, "}}");
			}
			bprintf(b, "]");
		}
		bprintf(b, "}\n");
	}
}

static const char *const r_external[] = {
	"10.1.0.99", "10.1.0.10", "10.200.0.1", "10.3.9.9", "192.0.2.5", "198.51.100.1",
	"2001:db8::5", "2001:db8:1::5", "fd00:1::99", "fd00:77::1", "::1",
};
/* 10.1.0.10 is shop/web's address: as an external source it is never
 * seen by the BPF side (the workload entry wins), so it is skipped below. */
static const uint16_t r_test_ports[] = { 80, 443, 8080, 22, 9999, 1, 65535 };

static void cross_check(const struct tr_config *cfg, const struct tr_policy_compiled *pc,
			const char *yaml)
{
	char a[512], b[512];
	size_t s, dd, k;

	for (dd = 0; dd < cfg->n_pods; dd++) {
		const struct tr_pod *dst = &cfg->pods[dd];

		for (s = 0; s < cfg->n_pods + N_OF(r_external); s++) {
			const struct tr_pod *src = s < cfg->n_pods ? &cfg->pods[s] : NULL;
			struct tr_ip ip = {};
			bool owned = false;

			if (!src) {
				assert_int_equal(tr_ip_parse(r_external[s - cfg->n_pods], &ip), 0);
				for (size_t q = 0; q < cfg->n_pods; q++)
					for (size_t j = 0; j < cfg->pods[q].n_ips; j++)
						owned |= tr_ip_equal(&cfg->pods[q].ips[j], &ip);
				if (owned)
					continue;
			}
			for (k = 0; k < N_OF(r_test_ports); k++) {
				struct pc_verdict ev, cv;

				ev = policy_evaluate(cfg, src, src ? NULL : &ip, dst,
						     r_test_ports[k]);
				cv = lookup(pc, pc->workloads[dd].dst_class,
					    lookup_src_class(pc, s, src != NULL, &ip),
					    r_test_ports[k]);
				if (!verdict_eq(&ev, &cv))
					fail_msg("src %s dst %s/%s port %u: evaluate %s, compiled %s\n%s",
						 src ? src->name : r_external[s - cfg->n_pods],
						 dst->ns, dst->name, r_test_ports[k],
						 vstr(cfg, &ev, a, sizeof(a)),
						 vstr(cfg, &cv, b, sizeof(b)), yaml);
			}
		}
	}
}

static void test_random(void **state)
{
	struct buf b = {};
	size_t entries = 0, src_classes = 0;
	int iter;

	(void)state;
	rng_state = 0x5eed1234abcdull;
	for (iter = 0; iter < 400; iter++) {
		struct tr_policy_compiled pc;
		struct tr_config cfg;
		struct tr_diags d = {};
		int n = (int)rnd(6);

		b.len = 0;
		bprintf(&b, "%s", PODS);
		for (int i = 0; i < n; i++)
			r_policy(&b, i);
		load(b.s, &cfg);
		compile(&cfg, &pc, &d);
		cross_check(&cfg, &pc, b.s);
		entries += pc.n_entries;
		src_classes += pc.n_src_classes;
		policy_compiled_free(&pc);
		diags_free(&d);
		config_free(&cfg);
	}
	/* the generator does exercise the tables */
	assert_true(entries > 400);
	assert_true(src_classes > 800);
	free(b.s);
}

/* ------------------------------------------------------------------ */
/* scale: 10,000 rules, 1,000 Pods */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum scale_kind { SCALE_PRINCIPALS, SCALE_PORTS, SCALE_POLICIES };

static void scale_case(const char *what, enum scale_kind kind)
{
	struct tr_policy_compiled pc;
	struct tr_config cfg;
	struct tr_diags d = {};
	struct buf b = {};
	double t0, t1;
	int i;

	for (i = 0; i < 1000; i++)
		bprintf(&b,
			"---\napiVersion: v1\nkind: Pod\n"
			"metadata: {name: p%d, namespace: ns%d, labels: {app: a%d}}\n"
			"spec: {serviceAccountName: sa%d}\n"
			"status: {podIP: 10.%d.%d.%d}\n",
			i, i % 20, i % 7, i, i / 65536, (i / 256) % 256, i % 256);
	if (kind != SCALE_POLICIES)
		bprintf(&b, "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
			    "metadata: {name: big, namespace: istio-system}\nspec:\n  rules:\n");
	for (i = 0; i < 10000; i++) {
		if (kind == SCALE_PORTS)
			bprintf(&b, "  - to: [{operation: {ports: [\"%d\"]}}]\n", 1000 + i);
		else if (kind == SCALE_PRINCIPALS)
			bprintf(&b, "  - from: [{source: {principals: [cluster.local/ns/ns%d/sa/sa%d]}}]\n",
				i % 20, i % 2000);
		else /* one rule per policy, 140 different selections */
			bprintf(&b, "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
				    "metadata: {name: p%d, namespace: ns%d}\n"
				    "spec: {selector: {matchLabels: {app: a%d}}, rules: [{from: [{source: {principals: [cluster.local/ns/ns%d/sa/sa%d]}}], to: [{operation: {ports: [\"%d\"]}}]}]}\n",
				    i, i % 20, i % 7, (i / 20) % 20, i % 1000, 8000 + i % 10);
	}
	bprintf(&b, "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
		    "metadata: {name: deny-some, namespace: ns3}\n"
		    "spec: {action: DENY, selector: {matchLabels: {app: a1}}, rules: [{from: [{source: {ipBlocks: [10.0.0.0/24]}}]}]}\n");
	load(b.s, &cfg);
	t0 = now_s();
	compile(&cfg, &pc, &d);
	t1 = now_s();
	print_message("  scale (%s): 10000 rules, %zu pods: %u src classes, %u dst classes, "
		      "%zu prefixes, %zu entries, %zu warnings, %.3f s\n",
		      what, cfg.n_pods, pc.n_src_classes, pc.n_dst_classes, pc.n_prefixes,
		      pc.n_entries, d.n, t1 - t0);
	/* generous: sanitizer builds are several times slower */
	assert_true(t1 - t0 < 10.0);
	/* spot-check against the reference */
	for (i = 0; i < 200; i++) {
		size_t s = rnd((uint32_t)cfg.n_pods), dd = rnd((uint32_t)cfg.n_pods);
		uint16_t port = (uint16_t)(rnd(3) ? 1000 + rnd(10000) : rnd(65536));
		struct pc_verdict ev, cv;

		ev = policy_evaluate(&cfg, &cfg.pods[s], NULL, &cfg.pods[dd], port);
		cv = lookup(&pc, pc.workloads[dd].dst_class, pc.workloads[s].src_class, port);
		assert_true(verdict_eq(&ev, &cv));
	}
	policy_compiled_free(&pc);
	diags_free(&d);
	config_free(&cfg);
	free(b.s);
}

static void test_scale(void **state)
{
	(void)state;
	rng_state = 42;
	scale_case("one policy, a principal per rule", SCALE_PRINCIPALS);
	scale_case("one policy, a port per rule", SCALE_PORTS);
	scale_case("a policy per rule", SCALE_POLICIES);
}

int main(void)
{
	struct CMUnitTest table[N_OF(rows)];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern_match),
		cmocka_unit_test(test_classes_and_warnings),
		cmocka_unit_test(test_invalid_pattern),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_scale),
	};
	int failed;

	for (size_t i = 0; i < N_OF(rows); i++)
		table[i] = (struct CMUnitTest){
			.name = rows[i].name,
			.test_func = test_row,
			.initial_state = (void *)&rows[i],
		};
	failed = cmocka_run_group_tests_name("policy_semantics", table, NULL, NULL);
	failed += cmocka_run_group_tests_name("policy", tests, NULL, NULL);
	return failed;
}
