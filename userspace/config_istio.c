// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Istio kinds, the L4 subset: networking.istio.io DestinationRule (host and
 * subsets) and VirtualService (tcp routes with port matches and weighted
 * destinations). L7 routes are refused: they need a proxy Trestle does not
 * have. Policy fields this version does not enforce are warned about.
 */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

#define NEEDS_L7 \
	" routes need an L7 proxy, which Trestle does not have (Trestle handles tcp routes; hint: use spec.tcp)"

static void each_map_item(struct obj *o, const struct ynode *v,
			  void (*fn)(struct obj *o, const struct ynode *item, void *t),
			  void *t)
{
	size_t i, saved;

	if (!want_seq(o, v))
		return;
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		if (want_map(o, v->items[i]))
			fn(o, v->items[i], t);
		path_pop(o, saved);
	}
}

static void read_host(struct obj *o, const struct ynode *v, char **out)
{
	const char *why;

	if (get_nonempty_str(o, v, out) && (why = check_istio_host(*out)))
		obj_err(o, v->line, "\"%s\" is not a valid host: %s", *out, why);
}

/* ------------------------------------------------------------------ */
/* DestinationRule */

static void read_subset_name(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_subset *s = t;
	const char *why;

	if (get_str(o, v, &s->name) && (why = check_dns_label(s->name)))
		obj_err(o, v->line, "\"%s\" is not a valid subset name: %s", s->name, why);
}

static void read_subset_labels(struct obj *o, const struct ynode *v, void *t)
{
	read_labels(o, v, &((struct tr_subset *)t)->labels);
}

#define DR_NOT_ENFORCED "accepted but not enforced by this version"

static const struct field subset_fields[] = {
	{ "name", F_READ, read_subset_name, NULL, F_REQUIRED },
	{ "labels", F_READ, read_subset_labels },
	{ "trafficPolicy", F_WARN, NULL, DR_NOT_ENFORCED },
};

static void read_subset(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_dest_rule *dr = t;
	struct tr_subset *s = PUSH(o->ld, dr->subsets, dr->n_subsets);
	size_t i, saved;

	if (!s)
		return;
	s->src.file = o->file;
	s->src.line = v->line;
	WALK(o, v, subset_fields, true, s);
	for (i = 0; s->name && i + 1 < dr->n_subsets; i++) {
		if (!dr->subsets[i].name || strcmp(dr->subsets[i].name, s->name))
			continue;
		saved = path_key(o, "name");
		obj_err(o, v->line, "subset \"%s\" is already defined at line %d",
			s->name, dr->subsets[i].src.line);
		path_pop(o, saved);
		break;
	}
}

static void read_subsets(struct obj *o, const struct ynode *v, void *t)
{
	each_map_item(o, v, read_subset, t);
}

static void read_dr_host(struct obj *o, const struct ynode *v, void *t)
{
	read_host(o, v, &((struct tr_dest_rule *)t)->host);
}

static const struct field dr_spec_fields[] = {
	{ "host", F_READ, read_dr_host, NULL, F_REQUIRED },
	{ "subsets", F_READ, read_subsets },
	{ "trafficPolicy", F_WARN, NULL, DR_NOT_ENFORCED },
	{ "exportTo", F_WARN, NULL, DR_NOT_ENFORCED " (the rule applies mesh-wide)" },
	{ "workloadSelector", F_WARN, NULL, DR_NOT_ENFORCED " (the rule applies to every client)" },
};

static void read_dr_spec(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, dr_spec_fields, true, t);
}

static const struct field dr_fields[] = {
	{ "apiVersion", F_IGNORE },
	{ "kind", F_IGNORE },
	{ "metadata", F_IGNORE },
	{ "spec", F_READ, read_dr_spec, NULL, F_REQUIRED },
	{ "status", F_IGNORE },
};

void load_dest_rule(struct obj *o, const struct ynode *root, struct meta *m)
{
	struct tr_config *cfg = o->ld->cfg;
	struct tr_dest_rule *dr = PUSH(o->ld, cfg->dest_rules, cfg->n_dest_rules);

	if (!dr)
		return;
	dr->ns = m->ns;
	dr->name = m->name;
	m->ns = m->name = NULL;
	dr->src.file = o->file;
	dr->src.line = root->line;
	WALK(o, root, dr_fields, true, dr);
}

/* ------------------------------------------------------------------ */
/* VirtualService */

struct rule_ctx {
	struct tr_tcp_route *rule;
	size_t n_weighted;
	uint64_t sum;
};

struct route_ctx {
	struct tr_route_dest *dest;
	bool weighted;
};

static void read_match_port(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_tcp_route *rule = t;
	uint16_t port, *slot;

	if (get_port(o, v, &port) &&
	    (slot = PUSH(o->ld, rule->match_ports, rule->n_match_ports)))
		*slot = port;
}

#define MATCH_UNSUPPORTED \
	"not supported by this version: tcp routes match on port only, and ignoring this condition would route traffic it excludes"

static const struct field match_fields[] = {
	{ "port", F_READ, read_match_port },
	{ "destinationSubnets", F_ERROR, NULL, MATCH_UNSUPPORTED },
	{ "sourceLabels", F_ERROR, NULL, MATCH_UNSUPPORTED },
	{ "sourceNamespace", F_ERROR, NULL, MATCH_UNSUPPORTED },
	{ "gateways", F_ERROR, NULL, MATCH_UNSUPPORTED },
};

static void read_match(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, match_fields, true, ((struct rule_ctx *)t)->rule);
}

static void read_matches(struct obj *o, const struct ynode *v, void *t)
{
	each_map_item(o, v, read_match, t);
}

static void read_dest_host(struct obj *o, const struct ynode *v, void *t)
{
	read_host(o, v, &((struct tr_route_dest *)t)->host);
}

static void read_dest_subset(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_route_dest *d = t;
	const char *why;

	if (get_str(o, v, &d->subset) && (why = check_dns_label(d->subset)))
		obj_err(o, v->line, "\"%s\" is not a valid subset name: %s", d->subset, why);
}

static void read_port_number(struct obj *o, const struct ynode *v, void *t)
{
	get_port(o, v, &((struct tr_route_dest *)t)->port);
}

static const struct field port_selector_fields[] = {
	{ "number", F_READ, read_port_number, NULL, F_REQUIRED },
};

static void read_dest_port(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, port_selector_fields, true, t);
}

static const struct field dest_fields[] = {
	{ "host", F_READ, read_dest_host, NULL, F_REQUIRED },
	{ "subset", F_READ, read_dest_subset },
	{ "port", F_READ, read_dest_port },
};

static void read_route_dest(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, dest_fields, true, ((struct route_ctx *)t)->dest);
}

static void read_route_weight(struct obj *o, const struct ynode *v, void *t)
{
	struct route_ctx *c = t;
	long long w;

	c->weighted = true; /* even when invalid: avoid a second, misleading error */
	if (get_int(o, v, 0, 100, &w))
		c->dest->weight = (uint32_t)w;
}

static const struct field route_fields[] = {
	{ "destination", F_READ, read_route_dest, NULL, F_REQUIRED },
	{ "weight", F_READ, read_route_weight },
};

static void read_route(struct obj *o, const struct ynode *v, void *t)
{
	struct rule_ctx *rc = t;
	struct route_ctx c = {};

	c.dest = PUSH(o->ld, rc->rule->routes, rc->rule->n_routes);
	if (!c.dest)
		return;
	c.dest->src.file = o->file;
	c.dest->src.line = v->line;
	WALK(o, v, route_fields, true, &c);
	if (c.weighted) {
		rc->n_weighted++;
		rc->sum += c.dest->weight;
	}
}

static void read_routes(struct obj *o, const struct ynode *v, void *t)
{
	if (v->type == YNODE_SEQ && !v->n_items)
		obj_err(o, v->line, "at least one route is required");
	each_map_item(o, v, read_route, t);
}

static const struct field tcp_fields[] = {
	{ "match", F_READ, read_matches },
	{ "route", F_READ, read_routes, NULL, F_REQUIRED },
};

static void read_tcp_rule(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_virtual_service *vs = t;
	struct rule_ctx c = {};
	size_t i, saved;
	int line;

	c.rule = PUSH(o->ld, vs->tcp, vs->n_tcp);
	if (!c.rule)
		return;
	c.rule->src.file = o->file;
	c.rule->src.line = v->line;
	WALK(o, v, tcp_fields, true, &c);
	if (!c.rule->n_routes)
		return;

	saved = path_key(o, "route");
	line = v->line; /* the rule */
	if (c.n_weighted && c.n_weighted < c.rule->n_routes) {
		obj_err(o, line,
			"%zu of %zu routes have a weight: when one route has a weight, all must",
			c.n_weighted, c.rule->n_routes);
	} else if (c.n_weighted && c.sum != 100) {
		obj_err(o, line, "weights sum to %llu, not 100 (Istio's rule)",
			(unsigned long long)c.sum);
	} else if (!c.n_weighted) {
		/* Istio: no weights means an even split. */
		for (i = 0; i < c.rule->n_routes; i++)
			c.rule->routes[i].weight = (uint32_t)(100 / c.rule->n_routes);
	}
	path_pop(o, saved);
}

static void read_tcp(struct obj *o, const struct ynode *v, void *t)
{
	each_map_item(o, v, read_tcp_rule, t);
}

static void read_vs_hosts(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_virtual_service *vs = t;
	char **slot, *h;
	size_t i, saved;

	if (!want_seq(o, v))
		return;
	if (!v->n_items)
		obj_err(o, v->line, "at least one host is required");
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		h = NULL;
		read_host(o, v->items[i], &h);
		if (h && (slot = PUSH(o->ld, vs->hosts, vs->n_hosts)))
			*slot = h;
		else
			free(h);
		path_pop(o, saved);
	}
}

static void read_vs_gateways(struct obj *o, const struct ynode *v, void *t)
{
	char *g;
	size_t i, saved;

	(void)t;
	if (!want_seq(o, v))
		return;
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		g = NULL;
		if (get_str(o, v->items[i], &g) && strcmp(g, "mesh"))
			obj_err(o, v->items[i]->line,
				"gateway \"%s\" is not supported: Trestle routes traffic inside the mesh only (hint: omit spec.gateways or use [mesh])",
				g);
		free(g);
		path_pop(o, saved);
	}
}

static const struct field vs_spec_fields[] = {
	{ "hosts", F_READ, read_vs_hosts, NULL, F_REQUIRED },
	{ "gateways", F_READ, read_vs_gateways },
	{ "tcp", F_READ, read_tcp },
	{ "http", F_ERROR, NULL, "http" NEEDS_L7 },
	{ "tls", F_ERROR, NULL, "tls (SNI)" NEEDS_L7 },
	{ "exportTo", F_WARN, NULL,
	  "accepted but not enforced by this version (the routes apply mesh-wide)" },
};

static void read_vs_spec(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_virtual_service *vs = t;
	size_t saved;

	WALK(o, v, vs_spec_fields, true, vs);
	if (!vs->n_tcp && (!ymap_get(v, "http") || ynode_is_empty(ymap_get(v, "http"))) &&
	    (!ymap_get(v, "tls") || ynode_is_empty(ymap_get(v, "tls")))) {
		saved = path_key(o, "tcp");
		obj_err(o, v->line, "required field is missing: at least one tcp route is needed");
		path_pop(o, saved);
	}
}

static const struct field vs_fields[] = {
	{ "apiVersion", F_IGNORE },
	{ "kind", F_IGNORE },
	{ "metadata", F_IGNORE },
	{ "spec", F_READ, read_vs_spec, NULL, F_REQUIRED },
	{ "status", F_IGNORE },
};

void load_virtual_service(struct obj *o, const struct ynode *root, struct meta *m)
{
	struct tr_config *cfg = o->ld->cfg;
	struct tr_virtual_service *vs;

	vs = PUSH(o->ld, cfg->virtual_services, cfg->n_virtual_services);
	if (!vs)
		return;
	vs->ns = m->ns;
	vs->name = m->name;
	m->ns = m->name = NULL;
	vs->src.file = o->file;
	vs->src.line = root->line;
	WALK(o, root, vs_fields, true, vs);
}
