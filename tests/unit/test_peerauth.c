// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PeerAuthentication: the loader (fields, errors with file:line and
 * hints, warnings about competing policies) and the resolver (Istio's
 * precedence: workload > namespace > mesh, UNSET inherits, port-level
 * entries, PERMISSIVE by default), one table row per case.
 * Run from tests/unit (meson's workdir) so fixtures are data/...
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
#include <time.h>

#include "config.h"
#include "peerauth.h"

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

static void expect_diag(const struct tr_diags *d, enum tr_diag_level level,
			const char *file, int line, const char *phrase)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct tr_diag *x = &d->items[i];

		if (x->level == level && x->line == line && x->file &&
		    !strcmp(x->file, file) && strstr(x->message, phrase))
			return;
	}
	print_diags(d);
	fail_msg("no %s at %s:%d containing \"%s\"",
		 level == TR_DIAG_ERROR ? "error" : "warning", file, line, phrase);
}

static int load_str(const char *yaml, struct tr_config *cfg, struct tr_diags *d)
{
	return config_load_buffer("pa.yaml", yaml, strlen(yaml), cfg, d);
}

/* "ns/name" */
static const struct tr_pod *find_pod(const struct tr_config *cfg, const char *id)
{
	const char *slash = strchr(id, '/');

	assert_non_null(slash);
	for (size_t i = 0; i < cfg->n_pods; i++)
		if (strlen(cfg->pods[i].ns) == (size_t)(slash - id) &&
		    !strncmp(cfg->pods[i].ns, id, (size_t)(slash - id)) &&
		    !strcmp(cfg->pods[i].name, slash + 1))
			return &cfg->pods[i];
	fail_msg("no Pod %s", id);
	return NULL;
}

static const struct tr_peer_authn *find_pa(const struct tr_config *cfg,
					   const char *ns, const char *name)
{
	for (size_t i = 0; i < cfg->n_peer_authns; i++)
		if (!strcmp(cfg->peer_authns[i].ns, ns) &&
		    !strcmp(cfg->peer_authns[i].name, name))
			return &cfg->peer_authns[i];
	fail_msg("no PeerAuthentication %s/%s", ns, name);
	return NULL;
}

static size_t n_level(const struct tr_diags *d, enum tr_diag_level level)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += d->items[i].level == level;
	return n;
}

/* ------------------------------------------------------------------ */
/* YAML pieces */

#define PA(ns, name)                                                     \
	"---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" \
	"metadata: {name: " name ", namespace: " ns "}\n"
#define MESH(mode) PA("istio-system", "default") "spec: {mtls: {mode: " mode "}}\n"
#define NS(ns, mode) PA(ns, "default") "spec: {mtls: {mode: " mode "}}\n"
/* sel: matchLabels; ports: portLevelMtls' flow entries, may be "" */
#define WL(ns, name, sel, mode, ports)                                   \
	PA(ns, name) "spec:\n  selector: {matchLabels: {" sel "}}\n"    \
	"  mtls: {mode: " mode "}\n  portLevelMtls: {" ports "}\n"
#define POD(ns, name, labels)                                            \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: " name         \
	", namespace: " ns ", labels: {" labels "}}\n"
#define PODS                                                             \
	POD("shop", "web", "app: web, version: v1")                      \
	POD("shop", "db", "app: db")                                     \
	POD("istio-system", "gw", "app: gw")                             \
	POD("other", "x", "app: web")                                    \
	POD("mesh-config", "m", "app: m")
#define MESH_OBJ(root)                                                   \
	"---\napiVersion: trestle.io/v1alpha1\nkind: Mesh\n"              \
	"metadata: {name: mesh}\nspec: {rootNamespace: " root "}\n"

/* ------------------------------------------------------------------ */
/* precedence */

struct prec_case {
	const char *name;
	const char *policies; /* loaded after PODS */
	const char *pod;      /* "ns/name" */
	uint16_t port;        /* 0: the Pod's default */
	enum tr_mtls_mode want;
	size_t warnings;
};

/* mesh STRICT + namespace PERMISSIVE + workload UNSET with port 8080 DISABLE */
#define LAYERED                                                          \
	MESH("STRICT") NS("shop", "PERMISSIVE")                           \
	WL("shop", "web", "app: web", "UNSET", "8080: {mode: DISABLE}")

static const struct prec_case prec_cases[] = {
	{ "nothing", "", "shop/web", 0, TR_PA_PERMISSIVE, 0 },
	{ "nothing-port", "", "shop/web", 8080, TR_PA_PERMISSIVE, 0 },
	{ "mesh-strict", MESH("STRICT"), "shop/web", 0, TR_PA_STRICT, 0 },
	{ "mesh-strict-port", MESH("STRICT"), "shop/web", 443, TR_PA_STRICT, 0 },
	{ "mesh-disable", MESH("DISABLE"), "other/x", 0, TR_PA_DISABLE, 0 },
	{ "ns-over-mesh", MESH("STRICT") NS("shop", "PERMISSIVE"), "shop/web", 0,
	  TR_PA_PERMISSIVE, 0 },
	{ "ns-only-its-namespace", MESH("STRICT") NS("shop", "PERMISSIVE"), "other/x", 0,
	  TR_PA_STRICT, 0 },
	{ "layered-port", LAYERED, "shop/web", 8080, TR_PA_DISABLE, 0 },
	{ "layered-other-port", LAYERED, "shop/web", 9090, TR_PA_PERMISSIVE, 0 },
	{ "layered-default", LAYERED, "shop/web", 0, TR_PA_PERMISSIVE, 0 },
	{ "layered-unselected", LAYERED, "shop/db", 8080, TR_PA_PERMISSIVE, 0 },
	/* same labels, another namespace: selectors stay in their namespace */
	{ "layered-other-namespace", LAYERED, "other/x", 8080, TR_PA_STRICT, 0 },
	{ "all-unset", MESH("UNSET") NS("shop", "UNSET"), "shop/web", 0,
	  TR_PA_PERMISSIVE, 0 },
	{ "unset-inherits-mesh",
	  MESH("DISABLE") NS("shop", "UNSET") WL("shop", "web", "app: web", "UNSET", ""),
	  "shop/web", 0, TR_PA_DISABLE, 0 },
	{ "workload-over-ns", NS("shop", "DISABLE") WL("shop", "web", "app: web", "STRICT", ""),
	  "shop/web", 0, TR_PA_STRICT, 0 },
	{ "port-unset-keeps-workload",
	  MESH("DISABLE") WL("shop", "web", "app: web", "STRICT", "8080: {mode: UNSET}"),
	  "shop/web", 8080, TR_PA_STRICT, 0 },
	{ "port-empty-keeps-namespace",
	  NS("shop", "DISABLE") WL("shop", "web", "app: web", "UNSET", "8080: {}"),
	  "shop/web", 8080, TR_PA_DISABLE, 0 },
	{ "port-null-entry", WL("shop", "web", "app: web", "STRICT", "8080: null"),
	  "shop/web", 8080, TR_PA_STRICT, 0 },
	{ "port-over-workload",
	  WL("shop", "web", "app: web", "STRICT", "8080: {mode: PERMISSIVE}, 9090: {mode: DISABLE}"),
	  "shop/web", 9090, TR_PA_DISABLE, 0 },
	{ "port-permissive-under-strict-mesh",
	  MESH("STRICT") WL("shop", "web", "app: web", "UNSET", "9100: {mode: PERMISSIVE}"),
	  "shop/web", 9100, TR_PA_PERMISSIVE, 0 },
	/* Istio ignores a policy with a selector in the root namespace */
	{ "root-selector-ignored", WL("istio-system", "sel", "app: web", "STRICT", ""),
	  "shop/web", 0, TR_PA_PERMISSIVE, 1 },
	{ "root-selector-ignored-root-pod",
	  MESH("DISABLE") WL("istio-system", "sel", "app: gw", "STRICT", "80: {mode: STRICT}"),
	  "istio-system/gw", 80, TR_PA_DISABLE, 1 },
	{ "root-pod-mesh", MESH("STRICT"), "istio-system/gw", 0, TR_PA_STRICT, 0 },
	/* several at one level: the first by name, warned */
	{ "ns-first-by-name", PA("shop", "b") "spec: {mtls: {mode: DISABLE}}\n"
	  PA("shop", "a") "spec: {mtls: {mode: STRICT}}\n", "shop/web", 0, TR_PA_STRICT, 1 },
	/* the chosen mesh policy's UNSET does not fall back to the other one */
	{ "mesh-first-by-name-unset", PA("istio-system", "b") "spec: {mtls: {mode: STRICT}}\n"
	  PA("istio-system", "a") "spec: {mtls: {mode: UNSET}}\n", "shop/db", 0,
	  TR_PA_PERMISSIVE, 1 },
	{ "workload-first-by-name",
	  NS("shop", "PERMISSIVE") WL("shop", "b-web", "app: web", "DISABLE", "")
	  WL("shop", "a-web", "version: v1", "UNSET", "8080: {mode: STRICT}"),
	  "shop/web", 0, TR_PA_PERMISSIVE, 1 },
	{ "workload-first-by-name-port",
	  NS("shop", "PERMISSIVE") WL("shop", "b-web", "app: web", "DISABLE", "")
	  WL("shop", "a-web", "version: v1", "UNSET", "8080: {mode: STRICT}"),
	  "shop/web", 8080, TR_PA_STRICT, 1 },
	/* an empty selector is none: namespace-wide */
	{ "empty-selector", MESH("DISABLE") PA("shop", "e") "spec: {selector: {}, mtls: {mode: STRICT}}\n",
	  "shop/db", 0, TR_PA_STRICT, 0 },
	{ "empty-match-labels",
	  MESH("STRICT") PA("shop", "e") "spec: {selector: {matchLabels: {}}, mtls: {mode: DISABLE}}\n",
	  "shop/db", 0, TR_PA_DISABLE, 0 },
	{ "selector-needs-every-label",
	  WL("shop", "web", "app: web, version: v2", "STRICT", ""), "shop/web", 0,
	  TR_PA_PERMISSIVE, 0 },
	/* the Mesh object moves the root namespace */
	{ "custom-root", MESH_OBJ("mesh-config") NS("mesh-config", "STRICT") NS("istio-system", "DISABLE"),
	  "shop/web", 0, TR_PA_STRICT, 0 },
	{ "custom-root-istio-system-is-a-namespace",
	  MESH_OBJ("mesh-config") NS("mesh-config", "STRICT") NS("istio-system", "DISABLE"),
	  "istio-system/gw", 0, TR_PA_DISABLE, 0 },
	{ "v1beta1",
	  "---\napiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\n"
	  "metadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n",
	  "other/x", 0, TR_PA_STRICT, 0 },
	{ "spec-absent-inherits", MESH("STRICT") PA("shop", "default"), "shop/web", 0,
	  TR_PA_STRICT, 0 },
	{ "mtls-empty-inherits", MESH("DISABLE") PA("shop", "default") "spec: {mtls: {}}\n",
	  "shop/web", 0, TR_PA_DISABLE, 0 },
};

static void test_precedence(void **state)
{
	const struct prec_case *c = *state;
	enum tr_mtls_mode dflt, modes[8], got;
	const struct tr_pod *pod;
	struct tr_config cfg;
	struct tr_diags d;
	uint16_t ports[8];
	char *yaml;
	size_t n, i;
	int rc;

	assert_true(asprintf(&yaml, "%s%s", PODS, c->policies) > 0);
	rc = load_str(yaml, &cfg, &d);
	free(yaml);
	if (rc || n_level(&d, TR_DIAG_WARNING) != c->warnings)
		print_diags(&d);
	assert_int_equal(rc, 0);
	assert_int_equal(n_level(&d, TR_DIAG_WARNING), c->warnings);

	pod = find_pod(&cfg, c->pod);
	got = peerauth_mode(&cfg, pod, c->port);
	if (got != c->want)
		fail_msg("%s: %s port %u: %s, expected %s", c->name, c->pod, c->port,
			 peerauth_mode_name(got), peerauth_mode_name(c->want));

	/* peerauth_pod() says the same */
	n = peerauth_pod(&cfg, pod, &dflt, ports, modes, 8);
	assert_int_equal(dflt, peerauth_mode(&cfg, pod, 0));
	got = dflt;
	for (i = 0; i < n; i++) {
		assert_int_not_equal(modes[i], dflt);
		assert_int_not_equal(modes[i], TR_PA_UNSET);
		if (i)
			assert_true(ports[i - 1] < ports[i]);
		if (c->port && ports[i] == c->port)
			got = modes[i];
	}
	assert_int_equal(got, c->want);
	config_free(&cfg);
	diags_free(&d);
}

/* ------------------------------------------------------------------ */
/* bad input: one buffer each, the error's line and phrase */

#define PA_HEAD                                                          \
	"apiVersion: security.istio.io/v1\n"                             \
	"kind: PeerAuthentication\n"                                     \
	"metadata: {name: pa, namespace: shop}\n"                        \
	"spec:\n"
/* PA_HEAD is 4 lines; PA_SEL 5, its portLevelMtls entries from line 7 */
#define PA_SEL PA_HEAD "  selector: {matchLabels: {app: web}}\n"
#define PA_PORT(entry) PA_SEL "  portLevelMtls:\n    " entry "\n"

struct bad_case {
	const char *name;
	const char *yaml;
	int line;
	const char *phrase;
};

static const struct bad_case bad_cases[] = {
	{ "mode-lower-case", PA_HEAD "  mtls: {mode: strict}\n", 5,
	  "PeerAuthentication shop/pa: spec.mtls.mode: unknown mode \"strict\" (supported: UNSET, DISABLE, PERMISSIVE, STRICT; hint: did you mean \"STRICT\"? mode names are case-sensitive)" },
	{ "mode-typo", PA_HEAD "  mtls: {mode: PERMISIVE}\n", 5,
	  "spec.mtls.mode: unknown mode \"PERMISIVE\" (supported: UNSET, DISABLE, PERMISSIVE, STRICT; hint: did you mean \"PERMISSIVE\"?" },
	{ "mode-unknown", PA_HEAD "  mtls: {mode: MUTUAL}\n", 5,
	  "spec.mtls.mode: unknown mode \"MUTUAL\" (supported: UNSET, DISABLE, PERMISSIVE, STRICT)" },
	{ "mode-empty", PA_HEAD "  mtls: {mode: \"\"}\n", 5, "spec.mtls.mode: unknown mode \"\"" },
	{ "mode-number", PA_HEAD "  mtls: {mode: 3}\n", 5,
	  "spec.mtls.mode: expected a mode (UNSET, DISABLE, PERMISSIVE, STRICT), got an integer" },
	{ "mode-list", PA_HEAD "  mtls:\n    mode: [STRICT]\n", 6,
	  "spec.mtls.mode: expected a mode (UNSET, DISABLE, PERMISSIVE, STRICT), got a list" },
	{ "mtls-not-a-map", PA_HEAD "  mtls: STRICT\n", 5, "spec.mtls: expected a mapping, got a string" },
	{ "port-zero", PA_PORT("0: {mode: STRICT}"), 7,
	  "spec.portLevelMtls[\"0\"]: \"0\" is not a port number 1..65535 (hint: the keys are the workload's port numbers, its targetPort, like 8080)" },
	{ "port-too-big", PA_PORT("70000: {mode: STRICT}"), 7,
	  "spec.portLevelMtls[\"70000\"]: \"70000\" is not a port number 1..65535" },
	{ "port-way-too-big", PA_PORT("99999999999999999999999: {mode: STRICT}"), 7,
	  "is not a port number 1..65535" },
	{ "port-name", PA_PORT("http: {mode: STRICT}"), 7,
	  "spec.portLevelMtls.http: \"http\" is not a port number 1..65535" },
	{ "port-leading-zero", PA_PORT("\"080\": {mode: STRICT}"), 7,
	  "\"080\" is not a port number 1..65535" },
	{ "port-negative", PA_PORT("-1: {mode: STRICT}"), 7, "\"-1\" is not a port number" },
	{ "port-range", PA_PORT("8000-8080: {mode: STRICT}"), 7,
	  "\"8000-8080\" is not a port number" },
	{ "port-value-scalar", PA_PORT("8080: DISABLE"), 7,
	  "spec.portLevelMtls[\"8080\"]: expected a mapping, got a string (hint: 8080: {mode: DISABLE})" },
	{ "port-value-list", PA_PORT("8080: [DISABLE]"), 7,
	  "spec.portLevelMtls[\"8080\"]: expected a mapping, got a list" },
	{ "port-bad-mode", PA_PORT("8080: {mode: Strict}"), 7,
	  "spec.portLevelMtls[\"8080\"].mode: unknown mode \"Strict\" (supported: UNSET, DISABLE, PERMISSIVE, STRICT; hint: did you mean \"STRICT\"?" },
	{ "port-unknown-field", PA_PORT("8080: {mtls: {mode: STRICT}}"), 7,
	  "spec.portLevelMtls[\"8080\"].mtls: unknown field" },
	{ "port-unknown-field-hint", PA_PORT("8080: {mod: STRICT}"), 7,
	  "spec.portLevelMtls[\"8080\"].mod: unknown field (hint: did you mean \"mode\"?)" },
	{ "port-duplicate", PA_PORT("8080: {mode: STRICT}\n    8080: {mode: DISABLE}"), 8,
	  "spec.portLevelMtls[\"8080\"]: duplicate key (first written at line 7)" },
	{ "port-level-not-a-map", PA_SEL "  portLevelMtls: [8080]\n", 6,
	  "spec.portLevelMtls: expected a mapping, got a list" },
	{ "port-level-without-selector",
	  PA_HEAD "  mtls: {mode: STRICT}\n  portLevelMtls:\n    8080: {mode: DISABLE}\n", 6,
	  "PeerAuthentication shop/pa: spec.portLevelMtls: port-level modes need a workload selector, and this policy has none: it is namespace-wide, or mesh-wide in the root namespace (hint: add spec.selector.matchLabels" },
	{ "port-level-empty-selector",
	  PA_HEAD "  portLevelMtls: {8080: {mode: DISABLE}}\n  selector: {matchLabels: {}}\n", 5,
	  "spec.portLevelMtls: port-level modes need a workload selector, and this policy has an empty one, which selects the whole namespace" },
	{ "port-level-mesh-wide",
	  "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
	  "metadata: {name: default, namespace: istio-system}\n"
	  "spec: {mtls: {mode: STRICT}, portLevelMtls: {8080: {mode: DISABLE}}}\n", 4,
	  "PeerAuthentication istio-system/default: spec.portLevelMtls: port-level modes need a workload selector" },
	{ "unknown-spec-field", PA_HEAD "  mtl: {mode: STRICT}\n", 5,
	  "PeerAuthentication shop/pa: spec.mtl: unknown field (hint: did you mean \"mtls\"?)" },
	{ "unknown-spec-field-port-level", PA_HEAD "  portLevelMtl: {}\n", 5,
	  "spec.portLevelMtl: unknown field (hint: did you mean \"portLevelMtls\"?)" },
	{ "unknown-spec-field-target-ref", PA_HEAD "  targetRef: {kind: Service, name: web}\n", 5,
	  "spec.targetRef: unknown field" },
	{ "unknown-mtls-field", PA_HEAD "  mtls: {mod: STRICT}\n", 5,
	  "spec.mtls.mod: unknown field (hint: did you mean \"mode\"?)" },
	{ "unknown-selector-field", PA_HEAD "  selector: {matchExpressions: []}\n", 5,
	  "spec.selector.matchExpressions: unknown field" },
	{ "unknown-top-field",
	  "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa}\nspecs: {}\n", 4,
	  "PeerAuthentication default/pa: specs: unknown field (hint: did you mean \"spec\"?)" },
	{ "bad-label", PA_HEAD "  selector: {matchLabels: {app: \"-web\"}}\n", 5,
	  "spec.selector.matchLabels.app: invalid label value" },
	{ "api-version-alpha",
	  "apiVersion: security.istio.io/v1alpha1\nkind: PeerAuthentication\nmetadata: {name: pa}\n", 1,
	  "apiVersion: security.istio.io/v1alpha1 PeerAuthentication is not supported (supported for PeerAuthentication: security.istio.io/v1, security.istio.io/v1beta1)" },
	{ "api-version-group",
	  "apiVersion: networking.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa}\n", 1,
	  "apiVersion: networking.istio.io/v1 PeerAuthentication is not supported" },
	{ "duplicate",
	  PA_HEAD "  mtls: {mode: STRICT}\n---\napiVersion: security.istio.io/v1beta1\n"
	  "kind: PeerAuthentication\nmetadata: {name: pa, namespace: shop}\n", 7,
	  "PeerAuthentication shop/pa: duplicate object: already defined at pa.yaml:1" },
	{ "missing-name", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {namespace: shop}\n", 3,
	  "metadata.name: required field is missing" },
};

static void test_bad_input(void **state)
{
	static const struct tr_config zero;
	const struct bad_case *c = *state;
	struct tr_config cfg;
	struct tr_diags d;
	int rc;

	rc = load_str(c->yaml, &cfg, &d);
	if (rc != -EINVAL) {
		print_diags(&d);
		fail_msg("%s: returned %d, expected -EINVAL", c->name, rc);
	}
	expect_diag(&d, TR_DIAG_ERROR, "pa.yaml", c->line, c->phrase);
	assert_memory_equal(&cfg, &zero, sizeof(zero)); /* nothing returned */
	config_free(&cfg);
	diags_free(&d);
}

/* ------------------------------------------------------------------ */
/* the model */

static void test_model(void **state)
{
	static const char yaml[] =
		"apiVersion: security.istio.io/v1beta1\n"           /* 1 */
		"kind: PeerAuthentication\n"
		"metadata:\n"
		"  name: web\n"
		"  namespace: shop\n"                                 /* 5 */
		"spec:\n"
		"  selector:\n"
		"    matchLabels: {app: web, version: v1}\n"
		"  mtls:\n"
		"    mode: UNSET\n"                                   /* 10 */
		"  portLevelMtls:\n"
		"    9090: {mode: STRICT}\n"
		"    \"8080\":\n"
		"      mode: DISABLE\n"
		"    443: {}\n"                                       /* 15 */
		"    15020:\n"
		"status: {validationMessages: []}\n"
		"---\n"
		"apiVersion: security.istio.io/v1\n"
		"kind: PeerAuthentication\n"                          /* 20 */
		"metadata: {name: default}\n"
		"spec: {selector: {matchLabels: {}}}\n";
	const struct tr_peer_authn *pa;
	const struct tr_object_digest *dg = NULL;
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(load_str(yaml, &cfg, &d), 0);
	if (d.n)
		print_diags(&d);
	assert_int_equal(d.n, 0);
	assert_int_equal(cfg.n_peer_authns, 2);

	/* sorted by (namespace, name): default/default before shop/web */
	pa = &cfg.peer_authns[0];
	assert_string_equal(pa->ns, "default");
	assert_string_equal(pa->name, "default");
	assert_false(pa->has_selector); /* empty: namespace-wide */
	assert_int_equal(pa->mode, TR_PA_UNSET);
	assert_int_equal(pa->n_ports, 0);
	assert_int_equal(pa->src.line, 19);

	pa = &cfg.peer_authns[1];
	assert_string_equal(pa->ns, "shop");
	assert_string_equal(pa->name, "web");
	assert_ptr_equal(pa->src.file, cfg.files[0]);
	assert_int_equal(pa->src.line, 1);
	assert_true(pa->has_selector);
	assert_int_equal(pa->selector.n, 2);
	assert_string_equal(labels_get(&pa->selector, "version"), "v1");
	assert_int_equal(pa->mode, TR_PA_UNSET);
	/* sorted by port, each with its line */
	assert_int_equal(pa->n_ports, 4);
	assert_int_equal(pa->ports[0].port, 443);
	assert_int_equal(pa->ports[0].mode, TR_PA_UNSET);
	assert_int_equal(pa->ports[0].src.line, 15);
	assert_int_equal(pa->ports[1].port, 8080);
	assert_int_equal(pa->ports[1].mode, TR_PA_DISABLE);
	assert_int_equal(pa->ports[1].src.line, 13);
	assert_int_equal(pa->ports[2].port, 9090);
	assert_int_equal(pa->ports[2].mode, TR_PA_STRICT);
	assert_int_equal(pa->ports[3].port, 15020);
	assert_int_equal(pa->ports[3].mode, TR_PA_UNSET);

	/* the audit digest has it, field by field */
	for (size_t i = 0; i < cfg.n_digests; i++)
		if (!strcmp(cfg.digests[i].kind, "PeerAuthentication") &&
		    !strcmp(cfg.digests[i].name, "web"))
			dg = &cfg.digests[i];
	assert_non_null(dg);
	assert_string_equal(dg->ns, "shop");
	{
		bool seen_port = false, seen_mode = false;

		for (size_t i = 0; i < dg->n_fields; i++) {
			if (!strcmp(dg->fields[i].path, "spec.portLevelMtls.8080.mode")) {
				assert_string_equal(dg->fields[i].value, "DISABLE");
				seen_port = true;
			}
			if (!strcmp(dg->fields[i].path, "spec.mtls.mode")) {
				assert_string_equal(dg->fields[i].value, "UNSET");
				seen_mode = true;
			}
		}
		assert_true(seen_port);
		assert_true(seen_mode);
	}
	config_free(&cfg);
	diags_free(&d);

	assert_string_equal(peerauth_mode_name(TR_PA_UNSET), "UNSET");
	assert_string_equal(peerauth_mode_name(TR_PA_DISABLE), "DISABLE");
	assert_string_equal(peerauth_mode_name(TR_PA_PERMISSIVE), "PERMISSIVE");
	assert_string_equal(peerauth_mode_name(TR_PA_STRICT), "STRICT");
	assert_string_equal(peerauth_mode_name((enum tr_mtls_mode)42), "?");
}

/* peerauth_pod(): the default, the differing ports only, max respected. */
static void test_pod_decisions(void **state)
{
	static const char yaml[] = PODS MESH("STRICT")
		WL("shop", "web", "app: web", "PERMISSIVE",
		   "9090: {mode: DISABLE}, 8080: {mode: STRICT}, 443: {mode: PERMISSIVE}, "
		   "80: {}, 7000: {mode: STRICT}");
	enum tr_mtls_mode dflt, modes[4];
	const struct tr_pod *pod;
	struct peerauth_policies p;
	struct tr_config cfg;
	struct tr_diags d;
	uint16_t ports[4];
	size_t n;

	(void)state;
	assert_int_equal(load_str(yaml, &cfg, &d), 0);
	pod = find_pod(&cfg, "shop/web");
	n = peerauth_pod(&cfg, pod, &dflt, ports, modes, 4);
	assert_int_equal(dflt, TR_PA_PERMISSIVE);
	/* 80 (UNSET) and 443 (same as the default) are not exceptions */
	assert_int_equal(n, 3);
	assert_int_equal(ports[0], 7000);
	assert_int_equal(modes[0], TR_PA_STRICT);
	assert_int_equal(ports[1], 8080);
	assert_int_equal(modes[1], TR_PA_STRICT);
	assert_int_equal(ports[2], 9090);
	assert_int_equal(modes[2], TR_PA_DISABLE);
	assert_int_equal(peerauth_pod(&cfg, pod, &dflt, ports, modes, 2), 2);
	assert_int_equal(ports[1], 8080);
	assert_int_equal(peerauth_pod(&cfg, pod, &dflt, NULL, NULL, 0), 0);
	assert_int_equal(dflt, TR_PA_PERMISSIVE);
	assert_int_equal(peerauth_mode(&cfg, pod, 80), TR_PA_PERMISSIVE);

	/* which policies decided */
	peerauth_policies(&cfg, pod, &p);
	assert_non_null(p.mesh);
	assert_string_equal(p.mesh->ns, "istio-system");
	assert_null(p.ns);
	assert_non_null(p.workload);
	assert_string_equal(p.workload->name, "web");

	/* a Pod no policy selects: the mesh's mode, no exceptions */
	pod = find_pod(&cfg, "shop/db");
	assert_int_equal(peerauth_pod(&cfg, pod, &dflt, ports, modes, 4), 0);
	assert_int_equal(dflt, TR_PA_STRICT);
	config_free(&cfg);
	diags_free(&d);

	/* an empty model */
	memset(&cfg, 0, sizeof(cfg));
	{
		struct tr_pod bare = { .ns = "shop", .name = "p" };

		assert_int_equal(peerauth_mode(&cfg, &bare, 0), TR_PA_PERMISSIVE);
		assert_int_equal(peerauth_pod(&cfg, &bare, &dflt, ports, modes, 4), 0);
		assert_int_equal(dflt, TR_PA_PERMISSIVE);
	}
}

/* ------------------------------------------------------------------ */
/* a directory: competing policies are warned about, the set loads */

static void test_dir(void **state)
{
	static const char *const mesh = "data/peerauth/10-mesh.yaml";
	static const char *const shop = "data/peerauth/20-shop.yaml";
	enum tr_mtls_mode dflt, modes[4];
	struct tr_config cfg;
	struct tr_diags d;
	uint16_t ports[4];
	size_t n;
	int rc;

	(void)state;
	rc = config_load_dir("data/peerauth", &cfg, &d);
	if (rc || d.n != 4)
		print_diags(&d);
	assert_int_equal(rc, 0);
	assert_int_equal(d.n_errors, 0);
	assert_int_equal(d.n, 4);
	expect_diag(&d, TR_DIAG_WARNING, mesh, 11,
		    "PeerAuthentication mesh-root/zz-legacy: ignored: PeerAuthentication mesh-root/default at data/peerauth/10-mesh.yaml:20 is mesh-wide (no selector, in the root namespace) too, and only one is used: default (the first by name; Istio uses the oldest, and Trestle has no creation times)");
	expect_diag(&d, TR_DIAG_WARNING, mesh, 30,
		    "PeerAuthentication mesh-root/ctl: spec.selector: ignored: a policy with a selector in the root namespace \"mesh-root\" applies to no workload, as in Istio (hint: remove the selector");
	expect_diag(&d, TR_DIAG_WARNING, shop, 12,
		    "PeerAuthentication shop/extra: ignored: PeerAuthentication shop/default at data/peerauth/20-shop.yaml:2 is namespace-wide (no selector) too, and only one is used: default");
	expect_diag(&d, TR_DIAG_WARNING, shop, 55,
		    "PeerAuthentication shop/zz-backend: spec.selector: ignored for Pod shop/web and 1 more it selects: another workload policy applies to each (to shop/web: PeerAuthentication shop/web at data/peerauth/20-shop.yaml:39), and a Pod follows one");

	assert_string_equal(cfg.mesh.root_namespace, "mesh-root");
	assert_int_equal(cfg.n_peer_authns, 8);
	assert_int_equal(find_pa(&cfg, "shop", "db")->n_ports, 3);

	/* web: the namespace's PERMISSIVE, 8080 plaintext */
	n = peerauth_pod(&cfg, find_pod(&cfg, "shop/web"), &dflt, ports, modes, 4);
	assert_int_equal(dflt, TR_PA_PERMISSIVE);
	assert_int_equal(n, 1);
	assert_int_equal(ports[0], 8080);
	assert_int_equal(modes[0], TR_PA_DISABLE);
	/* db: STRICT but for the metrics port */
	n = peerauth_pod(&cfg, find_pod(&cfg, "shop/db"), &dflt, ports, modes, 4);
	assert_int_equal(dflt, TR_PA_STRICT);
	assert_int_equal(n, 1);
	assert_int_equal(ports[0], 9100);
	assert_int_equal(modes[0], TR_PA_PERMISSIVE);
	assert_int_equal(peerauth_mode(&cfg, find_pod(&cfg, "shop/db"), 9101), TR_PA_STRICT);
	/* the others */
	assert_int_equal(peerauth_mode(&cfg, find_pod(&cfg, "shop/cache"), 0), TR_PA_PERMISSIVE);
	assert_int_equal(peerauth_mode(&cfg, find_pod(&cfg, "other/api"), 0), TR_PA_STRICT);
	assert_int_equal(peerauth_mode(&cfg, find_pod(&cfg, "mesh-root/ctl"), 0), TR_PA_STRICT);
	assert_int_equal(peerauth_mode(&cfg, find_pod(&cfg, "mesh-root/ctl"), 8080), TR_PA_STRICT);
	config_free(&cfg);
	diags_free(&d);
}

/* Two workload policies overlapping on one Pod only: the singular form. */
static void test_overlap_one_pod(void **state)
{
	static const char yaml[] = PODS
		WL("shop", "b", "app: web", "DISABLE", "")
		WL("shop", "a", "version: v1", "STRICT", "");
	struct tr_config cfg;
	struct tr_diags d;

	(void)state;
	assert_int_equal(load_str(yaml, &cfg, &d), 0);
	assert_int_equal(d.n, 1);
	expect_diag(&d, TR_DIAG_WARNING, "pa.yaml", 22,
		    "PeerAuthentication shop/b: spec.selector: ignored for Pod shop/web, which it selects: PeerAuthentication shop/a at pa.yaml:30 applies to it instead");
	assert_int_equal(peerauth_mode(&cfg, find_pod(&cfg, "shop/web"), 0), TR_PA_STRICT);
	config_free(&cfg);
	diags_free(&d);
}

/* ------------------------------------------------------------------ */
/* scale: 10,000 Pods, 1,000 policies */

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap ? b->cap * 2 : 1 << 20;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	b->len += (size_t)n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * 100 namespaces of 100 Pods (app a0..a9); per namespace one wide policy
 * and 9 workload policies with two port entries; and a mesh-wide policy:
 * 1,000 policies. Every Pod is resolved and spot-checked.
 */
static void test_scale(void **state)
{
	static const char *const modes[] = { "STRICT", "PERMISSIVE", "DISABLE", "UNSET" };
	enum tr_mtls_mode dflt, m[8], want;
	struct buf b = {};
	struct tr_config cfg;
	struct tr_diags d;
	uint16_t ports[8];
	size_t i, k, n, total = 0;
	double t0, t_load, t_resolve;

	(void)state;
	bprintf(&b, "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
		    "metadata: {name: default, namespace: istio-system}\n"
		    "spec: {mtls: {mode: STRICT}}\n");
	for (i = 0; i < 100; i++) {
		/* even namespaces PERMISSIVE, odd ones UNSET (the mesh's STRICT) */
		bprintf(&b, "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
			    "metadata: {name: default, namespace: ns%zu}\n"
			    "spec: {mtls: {mode: %s}}\n", i, i % 2 ? "UNSET" : "PERMISSIVE");
		for (k = 0; k < 9; k++)
			bprintf(&b, "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
				    "metadata: {name: w%zu, namespace: ns%zu}\n"
				    "spec: {selector: {matchLabels: {app: a%zu}}, mtls: {mode: %s},"
				    " portLevelMtls: {8080: {mode: DISABLE}, %zu: {mode: STRICT}}}\n",
				k, i, k, modes[k % 4], 9000 + k);
		for (k = 0; k < 100; k++)
			bprintf(&b, "---\napiVersion: v1\nkind: Pod\n"
				    "metadata: {name: p%zu, namespace: ns%zu, labels: {app: a%zu, n: \"%zu\"}}\n",
				k, i, k % 10, k);
	}
	t0 = now();
	assert_int_equal(config_load_buffer("scale.yaml", b.p, b.len, &cfg, &d), 0);
	t_load = now() - t0;
	free(b.p);
	assert_int_equal(d.n, 0);
	assert_int_equal(cfg.n_pods, 10000);
	assert_int_equal(cfg.n_peer_authns, 1001);

	t0 = now();
	for (i = 0; i < cfg.n_pods; i++)
		total += peerauth_pod(&cfg, &cfg.pods[i], &dflt, ports, m, 8);
	t_resolve = now() - t0;
	print_message("  scale: load %.3f s, resolve 10000 Pods %.3f s (%zu exceptions)\n",
		      t_load, t_resolve, total);

	for (i = 0; i < cfg.n_pods; i += 37) {
		const struct tr_pod *pod = &cfg.pods[i];
		size_t ns = (size_t)atoi(pod->ns + 2), app = (size_t)atoi(labels_get(&pod->labels, "app") + 1);
		enum tr_mtls_mode wide = ns % 2 ? TR_PA_STRICT : TR_PA_PERMISSIVE;

		n = peerauth_pod(&cfg, pod, &dflt, ports, m, 8);
		if (app == 9) { /* no workload policy */
			assert_int_equal(dflt, wide);
			assert_int_equal(n, 0);
			continue;
		}
		want = app % 4 == 0 ? TR_PA_STRICT : app % 4 == 1 ? TR_PA_PERMISSIVE :
		       app % 4 == 2 ? TR_PA_DISABLE : wide;
		assert_int_equal(dflt, want);
		assert_int_equal(peerauth_mode(&cfg, pod, 8080), TR_PA_DISABLE);
		assert_int_equal(peerauth_mode(&cfg, pod, (uint16_t)(9000 + app)), TR_PA_STRICT);
		assert_int_equal(peerauth_mode(&cfg, pod, 1), want);
	}
	/* generous: a few milliseconds without sanitizers */
	assert_true(t_resolve < 2.0);
	config_free(&cfg);
	diags_free(&d);
}

int main(void)
{
	struct CMUnitTest prec[sizeof(prec_cases) / sizeof(prec_cases[0])];
	struct CMUnitTest bad[sizeof(bad_cases) / sizeof(bad_cases[0])];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_pod_decisions),
		cmocka_unit_test(test_dir),
		cmocka_unit_test(test_overlap_one_pod),
		cmocka_unit_test(test_scale),
	};
	int failed;

	/* One named test per row, so a failure says which. */
	for (size_t i = 0; i < sizeof(prec) / sizeof(prec[0]); i++)
		prec[i] = (struct CMUnitTest){
			.name = prec_cases[i].name,
			.test_func = test_precedence,
			.initial_state = (void *)&prec_cases[i],
		};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad[i] = (struct CMUnitTest){
			.name = bad_cases[i].name,
			.test_func = test_bad_input,
			.initial_state = (void *)&bad_cases[i],
		};
	failed = cmocka_run_group_tests_name("peerauth", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("peerauth_precedence", prec, NULL, NULL);
	failed += cmocka_run_group_tests_name("peerauth_bad_input", bad, NULL, NULL);
	return failed;
}
