// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * security.istio.io PeerAuthentication (v1, v1beta1): selector, mtls.mode
 * and portLevelMtls, which is the whole API. Read like AuthorizationPolicy
 * (config_security.c): every field is read, and an unknown one is an
 * error with its path and a did-you-mean hint. Mode names are Istio's,
 * case-sensitive.
 *
 * The checks across the set live here too, because they need the root
 * namespace, known only once every file is read: a selector in the root
 * namespace (Istio ignores the policy), and policies that compete for the
 * same workloads. Istio settles those by age; the loader has no creation
 * times, so the first by (namespace, name) wins and the others are
 * warned about, not refused: refusing would break sets copied from a
 * cluster where Istio accepts them. peerauth.c resolves the result.
 */
#include "config_int.h"
#include "peerauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MODE_LIST "UNSET, DISABLE, PERMISSIVE, STRICT"

/* The names as a field table, for closest_key(). */
static const struct field mode_names[] = {
	{ "UNSET", F_IGNORE },
	{ "DISABLE", F_IGNORE },
	{ "PERMISSIVE", F_IGNORE },
	{ "STRICT", F_IGNORE },
};
static const enum tr_mtls_mode mode_values[] = {
	TR_PA_UNSET, TR_PA_DISABLE, TR_PA_PERMISSIVE, TR_PA_STRICT,
};
#define N_MODES (sizeof(mode_names) / sizeof(mode_names[0]))

/* True for a mode name; otherwise *near is the name it was probably
 * meant to be (case or a typo), or NULL. */
static bool parse_mode(const char *s, enum tr_mtls_mode *mode, const char **near)
{
	size_t i;

	*near = NULL;
	for (i = 0; i < N_MODES; i++)
		if (!strcmp(s, mode_names[i].key)) {
			*mode = mode_values[i];
			return true;
		}
	for (i = 0; i < N_MODES && !*near; i++)
		if (!strcasecmp(s, mode_names[i].key))
			*near = mode_names[i].key;
	if (!*near)
		*near = closest_key(s, mode_names, N_MODES);
	return false;
}

/* mtls.mode and portLevelMtls.<port>.mode */
static void read_mode(struct obj *o, const struct ynode *v, void *t)
{
	enum tr_mtls_mode *mode = t;
	const char *near;

	if (v->type != YNODE_SCALAR || yscalar_resolve(v) != YSCALAR_STR) {
		obj_err(o, v->line, "expected a mode (%s), got %s", MODE_LIST,
			ynode_describe(v));
		return;
	}
	if (parse_mode(v->str, mode, &near))
		return;
	if (near)
		obj_err(o, v->line,
			"unknown mode \"%s\" (supported: %s; hint: did you mean \"%s\"? mode names are case-sensitive)",
			v->str, MODE_LIST, near);
	else
		obj_err(o, v->line, "unknown mode \"%s\" (supported: %s)", v->str, MODE_LIST);
}

static const struct field mtls_fields[] = {
	{ "mode", F_READ, read_mode },
};

static void read_mtls(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_peer_authn *pa = t;

	WALK(o, v, mtls_fields, true, &pa->mode);
}

/* ------------------------------------------------------------------ */
/* portLevelMtls: { "<port>": { mode: ... } } */

/* The workload's port, plain decimal 1..65535 ("08080" is refused: it
 * would read as another key than the one written). */
static bool parse_port_key(const char *s, uint16_t *port)
{
	unsigned long val;
	char *end;

	if (!(*s >= '1' && *s <= '9') || strspn(s, "0123456789") != strlen(s) ||
	    strlen(s) > 5)
		return false;
	val = strtoul(s, &end, 10);
	if (*end || val > 65535)
		return false;
	*port = (uint16_t)val;
	return true;
}

static int cmp_pa_port(const void *a, const void *b)
{
	const struct tr_pa_port *pa = a, *pb = b;

	return pa->port < pb->port ? -1 : pa->port > pb->port;
}

static void read_port_level(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_peer_authn *pa = t;
	enum tr_mtls_mode m;
	const struct ypair *p;
	struct tr_pa_port *pp;
	const char *near;
	uint16_t port;
	size_t i, j, saved;

	if (!want_map(o, v))
		return;
	for (i = 0; i < v->n_pairs; i++) {
		p = &v->pairs[i];
		saved = path_key(o, p->key->str);
		if (!parse_port_key(p->key->str, &port)) {
			obj_err(o, p->key->line,
				"\"%s\" is not a port number 1..65535 (hint: the keys are the workload's port numbers, its targetPort, like 8080)",
				p->key->str);
			goto next;
		}
		for (j = 0; j < pa->n_ports; j++)
			if (pa->ports[j].port == port)
				break;
		if (j < pa->n_ports) {
			/* not reached through the YAML (a duplicate key is
			 * refused first), kept for the model's sake */
			obj_err(o, p->key->line, "port %u is already set at line %d", port,
				pa->ports[j].src.line);
			goto next;
		}
		if (p->val->type == YNODE_SCALAR && !is_null(p->val) &&
		    parse_mode(p->val->str, &m, &near)) {
			obj_err(o, p->val->line,
				"expected a mapping, got %s (hint: %s: {mode: %s})",
				ynode_describe(p->val), p->key->str, p->val->str);
			goto next;
		}
		pp = PUSH(o->ld, pa->ports, pa->n_ports);
		if (!pp)
			goto next;
		pp->port = port;
		pp->mode = TR_PA_UNSET; /* "8080:" or "8080: {}" inherits */
		pp->src.file = o->file;
		pp->src.line = p->key->line;
		if (!is_null(p->val))
			WALK(o, p->val, mtls_fields, true, &pp->mode);
next:
		path_pop(o, saved);
	}
	if (pa->n_ports > 1)
		qsort(pa->ports, pa->n_ports, sizeof(*pa->ports), cmp_pa_port);
}

/* ------------------------------------------------------------------ */
/* spec */

static void read_match_labels(struct obj *o, const struct ynode *v, void *t)
{
	read_labels(o, v, &((struct tr_peer_authn *)t)->selector);
}

static const struct field selector_fields[] = {
	{ "matchLabels", F_READ, read_match_labels },
};

/* An empty selector selects nothing in particular: Istio reads it as no
 * selector, a namespace-wide (or mesh-wide) policy. */
static void read_selector(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_peer_authn *pa = t;

	WALK(o, v, selector_fields, true, pa);
	pa->has_selector = pa->selector.n > 0;
}

static const struct field pa_spec_fields[] = {
	{ "selector", F_READ, read_selector },
	{ "mtls", F_READ, read_mtls },
	{ "portLevelMtls", F_READ, read_port_level },
};

static const struct ypair *map_pair(const struct ynode *map, const char *key)
{
	size_t i;

	for (i = 0; map->type == YNODE_MAP && i < map->n_pairs; i++)
		if (!strcmp(map->pairs[i].key->str, key))
			return &map->pairs[i];
	return NULL;
}

static void read_pa_spec(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_peer_authn *pa = t;
	const struct ypair *plm, *sel;
	size_t saved;

	WALK(o, v, pa_spec_fields, true, pa);
	plm = map_pair(v, "portLevelMtls");
	if (!plm || ynode_is_empty(plm->val) || pa->has_selector)
		return;
	/* Istio's schema refuses it; its proxies would ignore it. */
	sel = map_pair(v, "selector");
	saved = path_key(o, "portLevelMtls");
	obj_err(o, plm->key->line,
		"port-level modes need a workload selector, and this policy %s (hint: add spec.selector.matchLabels naming the workload whose ports these are; without a selector a policy sets spec.mtls.mode only)",
		sel && !is_null(sel->val) ?
			"has an empty one, which selects the whole namespace (Istio)" :
			"has none: it is namespace-wide, or mesh-wide in the root namespace");
	path_pop(o, saved);
}

static const struct field pa_fields[] = {
	{ "apiVersion", F_IGNORE },
	{ "kind", F_IGNORE },
	{ "metadata", F_IGNORE },
	{ "spec", F_READ, read_pa_spec }, /* absent or {}: UNSET, inherits */
	{ "status", F_IGNORE },
};

void load_peer_authn(struct obj *o, const struct ynode *root, struct meta *m)
{
	struct tr_config *cfg = o->ld->cfg;
	struct tr_peer_authn *pa;

	pa = PUSH(o->ld, cfg->peer_authns, cfg->n_peer_authns);
	if (!pa)
		return;
	pa->ns = m->ns;
	pa->name = m->name;
	m->ns = m->name = NULL;
	pa->mode = TR_PA_UNSET;
	pa->src.file = o->file;
	pa->src.line = root->line;
	WALK(o, root, pa_fields, true, pa);
}

/* ------------------------------------------------------------------ */
/* across the set */

static const char *nz(const char *s)
{
	return s ? s : "";
}

static int cmp_peer_authn(const void *a, const void *b)
{
	const struct tr_peer_authn *pa = a, *pb = b;
	int c = strcmp(nz(pa->ns), nz(pb->ns));

	return c ? c : strcmp(nz(pa->name), nz(pb->name));
}

static struct obj pa_obj(struct loader *ld, const struct tr_peer_authn *pa)
{
	return (struct obj){ .ld = ld, .file = pa->src.file, .kind = "PeerAuthentication",
			     .ns = pa->ns, .name = pa->name };
}

#define NO_CREATION_TIME \
	"the first by name; Istio uses the oldest, and Trestle has no creation times"

/* Per namespace: selectors in the root namespace, competing wide policies. */
static void check_namespaces(struct loader *ld, const char *root)
{
	const struct tr_config *cfg = ld->cfg;
	const struct tr_peer_authn *pa, *wide;
	size_t i, j, end;
	bool is_root;
	struct obj o;

	for (i = 0; i < cfg->n_peer_authns; i = end) {
		end = peerauth_ns_range(cfg, cfg->peer_authns[i].ns, &j);
		if (end <= i) /* cannot happen once sorted; never loop */
			end = i + 1;
		is_root = !strcmp(nz(cfg->peer_authns[i].ns), root);
		wide = NULL;
		for (j = i; j < end; j++) {
			pa = &cfg->peer_authns[j];
			o = pa_obj(ld, pa);
			if (pa->has_selector && is_root) {
				path_key(&o, "spec");
				path_key(&o, "selector");
				obj_warn(&o, pa->src.line,
					 "ignored: a policy with a selector in the root namespace \"%s\" applies to no workload, as in Istio (hint: remove the selector to set the mesh-wide mode, or move the policy to the workload's namespace)",
					 root);
			} else if (!pa->has_selector && wide) {
				obj_warn(&o, pa->src.line,
					 "ignored: PeerAuthentication %s/%s at %s:%d is %s too, and only one is used: %s (" NO_CREATION_TIME ") (hint: keep one policy without a selector %s)",
					 wide->ns, wide->name, wide->src.file, wide->src.line,
					 is_root ? "mesh-wide (no selector, in the root namespace)" :
						   "namespace-wide (no selector)",
					 wide->name,
					 is_root ? "in the root namespace" : "per namespace");
			} else if (!pa->has_selector) {
				wide = pa;
			}
		}
	}
}

/* Selector policies that lose a Pod to another one, first found. */
struct shadow {
	size_t n_pods;
	const struct tr_peer_authn *by;
	const struct tr_pod *pod;
};

static void check_workloads(struct loader *ld, const char *root)
{
	const struct tr_config *cfg = ld->cfg;
	const struct tr_peer_authn *pa, *winner;
	const struct tr_pod *pod;
	struct shadow *sh, *s;
	size_t i, j, end;
	struct obj o;

	sh = ld_zalloc(ld, cfg->n_peer_authns * sizeof(*sh));
	if (!sh)
		return;
	for (i = 0; i < cfg->n_pods; i++) {
		pod = &cfg->pods[i];
		if (!strcmp(nz(pod->ns), root))
			continue; /* selectors there are ignored (reported above) */
		winner = NULL;
		end = peerauth_ns_range(cfg, nz(pod->ns), &j);
		for (; j < end; j++) {
			pa = &cfg->peer_authns[j];
			if (!pa->has_selector || !labels_match(&pa->selector, &pod->labels))
				continue;
			if (!winner) {
				winner = pa;
				continue;
			}
			s = &sh[j];
			if (!s->n_pods++) {
				s->by = winner;
				s->pod = pod;
			}
		}
	}
	for (j = 0; j < cfg->n_peer_authns; j++) {
		s = &sh[j];
		if (!s->n_pods)
			continue;
		pa = &cfg->peer_authns[j];
		o = pa_obj(ld, pa);
		path_key(&o, "spec");
		path_key(&o, "selector");
		if (s->n_pods > 1)
			obj_warn(&o, pa->src.line,
				 "ignored for Pod %s/%s and %zu more it selects: another workload policy applies to each (to %s/%s: PeerAuthentication %s/%s at %s:%d), and a Pod follows one (" NO_CREATION_TIME ")",
				 s->pod->ns, s->pod->name, s->n_pods - 1, s->pod->ns,
				 s->pod->name, s->by->ns, s->by->name, s->by->src.file,
				 s->by->src.line);
		else
			obj_warn(&o, pa->src.line,
				 "ignored for Pod %s/%s, which it selects: PeerAuthentication %s/%s at %s:%d applies to it instead, and a Pod follows one workload policy (" NO_CREATION_TIME ")",
				 s->pod->ns, s->pod->name, s->by->ns, s->by->name,
				 s->by->src.file, s->by->src.line);
	}
	free(sh);
}

void validate_peer_authns(struct loader *ld)
{
	struct tr_config *cfg = ld->cfg;
	const char *root = nz(cfg->mesh.root_namespace);

	if (!cfg->n_peer_authns)
		return;
	/* The order peerauth.c searches and "the first by name" means. */
	qsort(cfg->peer_authns, cfg->n_peer_authns, sizeof(*cfg->peer_authns),
	      cmp_peer_authn);
	check_namespaces(ld, root);
	check_workloads(ld, root);
}
