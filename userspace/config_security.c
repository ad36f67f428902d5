// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * security.istio.io AuthorizationPolicy (v1, v1beta1), the L4 subset:
 * selector, action ALLOW / DENY / AUDIT, and rules whose sources are
 * principals, namespaces and address blocks and whose operations are
 * ports. Everything that needs an L7 proxy (request principals, hosts,
 * methods, paths, when conditions, CUSTOM) is refused with the field's
 * path: ignoring it would make a rule match more (ALLOW) or less (DENY)
 * than its author wrote. policy_compile.c turns the result into verdicts.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NEEDS_L7 " is an L7 field: it needs an L7 proxy (Trestle enforces L4)"

/* Call fn on every mapping of a list, with the index in the path. */
static void each_map(struct obj *o, const struct ynode *v,
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

/* ------------------------------------------------------------------ */
/* values */

/* Istio's string match: exact, "*", "prefix*" or "*suffix". */
static const char *check_pattern(const char *s)
{
	const char *star = strchr(s, '*');
	size_t len = strlen(s);

	if (!star || len == 1)
		return NULL;
	if (star == s && !strchr(s + 1, '*'))
		return NULL; /* *suffix */
	if (star == s + len - 1)
		return NULL; /* prefix* */
	return "'*' may only be the whole value, its first character or its last (exact, \"*\", \"prefix*\", \"*suffix\")";
}

static void read_patterns(struct obj *o, const struct ynode *v, char ***arr,
			  size_t *n, bool principal)
{
	const char *why;
	char **slot, *s;
	size_t i, saved;

	if (!want_seq(o, v))
		return;
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		s = NULL;
		if (!get_nonempty_str(o, v->items[i], &s)) {
			/* reported */
		} else if ((why = check_pattern(s))) {
			obj_err(o, v->items[i]->line, "\"%s\" is not a valid pattern: %s",
				s, why);
		} else if (principal && !strncmp(s, "spiffe://", 9)) {
			/* Istio matches TD/ns/NS/sa/SA: with the scheme it would
			 * match nothing, and a DENY that matches nothing fails open. */
			obj_err(o, v->items[i]->line,
				"\"%s\": principals are written without spiffe:// (hint: \"%s\")",
				s, s + 9);
		} else if ((slot = PUSH(o->ld, *arr, *n))) {
			*slot = s;
			s = NULL;
		}
		free(s);
		path_pop(o, saved);
	}
}

/* "10.0.0.0/8", "fd00::/64" or a single address; host bits must be 0. */
static bool parse_cidr(struct obj *o, const struct ynode *v, struct tr_cidr *out)
{
	char *s = NULL, *slash, *end, net[64];
	unsigned long len = 0;
	struct tr_ip ip;
	unsigned max, bits;
	bool ok = false;
	size_t i;

	if (!get_nonempty_str(o, v, &s))
		return false;
	slash = strchr(s, '/');
	if (slash)
		*slash = '\0';
	if (tr_ip_parse(s, &ip)) {
		if (slash)
			*slash = '/';
		obj_err(o, v->line,
			"\"%s\" is not a valid IPv4 or IPv6 address or CIDR block", s);
		goto out;
	}
	max = ip.family == AF_INET ? 32 : 128;
	len = max;
	if (slash) {
		*slash = '/';
		len = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || (slash[1] == '0' && slash[2]) ||
		    !(slash[1] >= '0' && slash[1] <= '9') || len > max) {
			obj_err(o, v->line,
				"\"%s\": the prefix length must be a number 0..%u", s, max);
			goto out;
		}
	}
	out->ip = ip;
	out->prefixlen = (uint8_t)len;
	for (i = 0; i < max / 8; i++) {
		bits = i * 8 >= len ? 0 : len - i * 8 >= 8 ? 8 : (unsigned)(len - i * 8);
		out->ip.bytes[i] &= (uint8_t)(0xff00u >> bits);
	}
	if (!tr_ip_equal(&out->ip, &ip)) {
		tr_ip_str(&out->ip, net, sizeof(net));
		obj_err(o, v->line,
			"\"%s\" has host bits set (hint: the block is %s/%lu)", s, net, len);
		goto out;
	}
	ok = true;
out:
	free(s);
	return ok;
}

static void read_cidrs(struct obj *o, const struct ynode *v, struct tr_cidr **arr,
		       size_t *n)
{
	struct tr_cidr c, *slot;
	size_t i, j, saved;

	if (!want_seq(o, v))
		return;
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		if (parse_cidr(o, v->items[i], &c)) {
			for (j = 0; j < *n; j++)
				if ((*arr)[j].prefixlen == c.prefixlen &&
				    tr_ip_equal(&(*arr)[j].ip, &c.ip))
					break;
			if (j == *n && (slot = PUSH(o->ld, *arr, *n)))
				*slot = c;
		}
		path_pop(o, saved);
	}
}

/* Istio writes ports as strings ("8080"); YAML integers are accepted too. */
static void read_ports(struct obj *o, const struct ynode *v, uint16_t **arr, size_t *n)
{
	uint16_t port, *slot;
	const char *s;
	unsigned long val;
	char *end;
	size_t i, saved;

	if (!want_seq(o, v))
		return;
	for (i = 0; i < v->n_items; i++) {
		const struct ynode *it = v->items[i];

		saved = path_idx(o, i);
		if (it->type == YNODE_SCALAR && yscalar_resolve(it) == YSCALAR_INT) {
			if (!get_port(o, it, &port))
				goto next;
		} else if (it->type == YNODE_SCALAR && yscalar_resolve(it) == YSCALAR_STR) {
			s = it->str;
			val = strtoul(s, &end, 10);
			if (!(*s >= '1' && *s <= '9') || *end || val > 65535) {
				obj_err(o, it->line,
					"\"%s\" is not a port number 1..65535 (Istio ports are single numbers, like \"8080\")",
					s);
				goto next;
			}
			port = (uint16_t)val;
		} else {
			obj_err(o, it->line, "expected a port number, got %s",
				ynode_describe(it));
			goto next;
		}
		if ((slot = PUSH(o->ld, *arr, *n)))
			*slot = port;
next:
		path_pop(o, saved);
	}
}

/* ------------------------------------------------------------------ */
/* rules[].from[].source */

static void read_principals(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_source *s = t;

	read_patterns(o, v, &s->principals, &s->n_principals, true);
}

static void read_not_principals(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_source *s = t;

	read_patterns(o, v, &s->not_principals, &s->n_not_principals, true);
}

static void read_namespaces(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_source *s = t;

	read_patterns(o, v, &s->namespaces, &s->n_namespaces, false);
}

static void read_not_namespaces(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_source *s = t;

	read_patterns(o, v, &s->not_namespaces, &s->n_not_namespaces, false);
}

/*
 * ipBlocks is the address the connection comes from as the proxy sees it,
 * remoteIpBlocks the client's address from X-Forwarded-For or PROXY
 * protocol. Without a proxy in the path both are the packet's source
 * address, so both land in ip_blocks (and their not* forms in
 * not_ip_blocks).
 */
static void read_ip_blocks(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_source *s = t;

	read_cidrs(o, v, &s->ip_blocks, &s->n_ip_blocks);
}

static void read_not_ip_blocks(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_source *s = t;

	read_cidrs(o, v, &s->not_ip_blocks, &s->n_not_ip_blocks);
}

static const struct field source_fields[] = {
	{ "principals", F_READ, read_principals },
	{ "notPrincipals", F_READ, read_not_principals },
	{ "namespaces", F_READ, read_namespaces },
	{ "notNamespaces", F_READ, read_not_namespaces },
	{ "ipBlocks", F_READ, read_ip_blocks },
	{ "notIpBlocks", F_READ, read_not_ip_blocks },
	{ "remoteIpBlocks", F_READ, read_ip_blocks },
	{ "notRemoteIpBlocks", F_READ, read_not_ip_blocks },
	{ "requestPrincipals", F_ERROR, NULL, "requestPrincipals" NEEDS_L7 },
	{ "notRequestPrincipals", F_ERROR, NULL, "notRequestPrincipals" NEEDS_L7 },
};

static void read_source(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, source_fields, true, t);
}

static const struct field from_fields[] = {
	{ "source", F_READ, read_source },
};

/* One source per from entry; an empty one matches any source (Istio). */
static void read_from_item(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_rule *r = t;
	struct tr_authz_source *s = PUSH(o->ld, r->from, r->n_from);

	if (!s)
		return;
	s->src.file = o->file;
	s->src.line = v->line;
	WALK(o, v, from_fields, true, s);
}

static void read_from(struct obj *o, const struct ynode *v, void *t)
{
	each_map(o, v, read_from_item, t);
}

/* ------------------------------------------------------------------ */
/* rules[].to[].operation */

static void read_op_ports(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_operation *op = t;

	read_ports(o, v, &op->ports, &op->n_ports);
}

static void read_op_not_ports(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_operation *op = t;

	read_ports(o, v, &op->not_ports, &op->n_not_ports);
}

static const struct field operation_fields[] = {
	{ "ports", F_READ, read_op_ports },
	{ "notPorts", F_READ, read_op_not_ports },
	{ "hosts", F_ERROR, NULL, "hosts" NEEDS_L7 },
	{ "notHosts", F_ERROR, NULL, "notHosts" NEEDS_L7 },
	{ "methods", F_ERROR, NULL, "methods" NEEDS_L7 },
	{ "notMethods", F_ERROR, NULL, "notMethods" NEEDS_L7 },
	{ "paths", F_ERROR, NULL, "paths" NEEDS_L7 },
	{ "notPaths", F_ERROR, NULL, "notPaths" NEEDS_L7 },
};

static void read_operation(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, operation_fields, true, t);
}

static const struct field to_fields[] = {
	{ "operation", F_READ, read_operation },
};

/* One operation per to entry; an empty one matches any port. */
static void read_to_item(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_rule *r = t;
	struct tr_authz_operation *op = PUSH(o->ld, r->to, r->n_to);

	if (!op)
		return;
	op->src.file = o->file;
	op->src.line = v->line;
	WALK(o, v, to_fields, true, op);
}

static void read_to(struct obj *o, const struct ynode *v, void *t)
{
	each_map(o, v, read_to_item, t);
}

/* ------------------------------------------------------------------ */
/* spec */

static const struct field rule_fields[] = {
	{ "from", F_READ, read_from },
	{ "to", F_READ, read_to },
	{ "when", F_ERROR, NULL,
	  "when conditions are evaluated by an L7 proxy (Trestle enforces L4; hint: express sources with from and ports with to)" },
};

static void read_rule(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_policy *ap = t;
	struct tr_authz_rule *r = PUSH(o->ld, ap->rules, ap->n_rules);

	if (!r)
		return;
	r->src.file = o->file;
	r->src.line = v->line;
	WALK(o, v, rule_fields, true, r);
}

static void read_rules(struct obj *o, const struct ynode *v, void *t)
{
	each_map(o, v, read_rule, t);
}

static void read_match_labels(struct obj *o, const struct ynode *v, void *t)
{
	read_labels(o, v, &((struct tr_authz_policy *)t)->selector);
}

static const struct field selector_fields[] = {
	{ "matchLabels", F_READ, read_match_labels },
};

static void read_selector(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_policy *ap = t;

	ap->has_selector = true;
	WALK(o, v, selector_fields, true, ap);
}

static void read_action(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_authz_policy *ap = t;
	char *s = NULL;

	if (!get_str(o, v, &s))
		return;
	if (!strcmp(s, "ALLOW"))
		ap->action = TR_AUTHZ_ALLOW;
	else if (!strcmp(s, "DENY"))
		ap->action = TR_AUTHZ_DENY;
	else if (!strcmp(s, "AUDIT"))
		ap->action = TR_AUTHZ_AUDIT;
	else if (!strcmp(s, "CUSTOM"))
		obj_err(o, v->line,
			"action CUSTOM is not supported: it delegates to an external authorizer through an L7 proxy (Trestle enforces L4)");
	else
		obj_err(o, v->line, "unknown action \"%s\" (supported: ALLOW, DENY, AUDIT)", s);
	free(s);
}

#define NO_GATEWAY \
	"attaching a policy to a gateway or a Service is not supported (Trestle applies policies to workloads; hint: use spec.selector)"

static const struct field ap_spec_fields[] = {
	{ "selector", F_READ, read_selector },
	{ "action", F_READ, read_action },
	{ "rules", F_READ, read_rules },
	{ "provider", F_ERROR, NULL,
	  "a provider is for action CUSTOM, which needs an external authorizer and an L7 proxy (Trestle enforces L4)" },
	{ "targetRef", F_ERROR, NULL, NO_GATEWAY },
	{ "targetRefs", F_ERROR, NULL, NO_GATEWAY },
};

static void read_ap_spec(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, ap_spec_fields, true, t);
}

static const struct field ap_fields[] = {
	{ "apiVersion", F_IGNORE },
	{ "kind", F_IGNORE },
	{ "metadata", F_IGNORE },
	{ "spec", F_READ, read_ap_spec }, /* absent or {}: ALLOW nothing */
	{ "status", F_IGNORE },
};

void load_authz_policy(struct obj *o, const struct ynode *root, struct meta *m)
{
	struct tr_config *cfg = o->ld->cfg;
	struct tr_authz_policy *ap;

	ap = PUSH(o->ld, cfg->authz_policies, cfg->n_authz_policies);
	if (!ap)
		return;
	ap->ns = m->ns;
	ap->name = m->name;
	m->ns = m->name = NULL;
	ap->action = TR_AUTHZ_ALLOW;
	ap->src.file = o->file;
	ap->src.line = root->line;
	WALK(o, root, ap_fields, true, ap);
}
