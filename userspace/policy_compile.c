// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The authorization compiler (policy.h): Pods and AuthorizationPolicies
 * in, source classes, destination classes and verdict entries out.
 *
 * Sources. Every from entry of every rule (and every rule without from,
 * which matches any source) is an "entry", numbered in (policy, rule,
 * from) order, so a policy's entries are one contiguous range. A source's
 * signature is the bitset of entries it matches; sources with equal
 * signatures share a class. The signature is computed in two halves:
 *   identity half  principals, notPrincipals, namespaces, notNamespaces:
 *                  once per distinct identity, once for "no identity";
 *   address half   ipBlocks, notIpBlocks, from the named prefixes that
 *                  contain the source's address: (entries without ipBlocks
 *                  | entries naming one of them in ipBlocks) minus entries
 *                  naming one of them in notIpBlocks.
 * Every block is a prefix, so a prefix class (the addresses that fall in
 * prefix P and in no longer named prefix) is either entirely inside a
 * named block (the block contains P) or entirely outside it.
 *
 * Destinations. Pods are grouped by the list of policies that apply to
 * them. For each (dst class, src class) the policies of the dst class are
 * walked once, in order, and only the entries the source matches (its
 * signature bits in each policy's range) are looked at; each matching rule
 * decides the ports it covers that no earlier rule of the same action
 * decided. Ports are those named by the dst class's policies plus "every
 * other port".
 *
 * Omission: (d, s, 0) is emitted when its verdict differs from d's
 * default, (d, s, p) when it differs from what the lookup would fall back
 * to, which is the (d, s, 0) verdict either way. So the lookup
 * (d, s, p) -> (d, s, 0) -> default answers exactly what a full
 * evaluation would.
 */
#include "policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <trestle/policy.h>

#define SPIFFE_PREFIX "spiffe://"
#define SPIFFE_PREFIX_LEN 9
#define PC_MAX_WARNINGS 100
#define N_PORTS 65536

/* ------------------------------------------------------------------ */
/* diagnostics (the loader's shape: one line, file and line) */

struct pc_ctx {
	const struct tr_config *cfg;
	struct tr_diags *diags;
	size_t n_warnings;
	size_t max_warnings;
	size_t n_dropped;
	int err;
};

static void pc_diag(struct pc_ctx *c, enum tr_diag_level level,
		    const struct tr_src *src, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void pc_diag(struct pc_ctx *c, enum tr_diag_level level,
		    const struct tr_src *src, const char *fmt, ...)
{
	struct tr_diags *d = c->diags;
	struct tr_diag *items;
	char *msg = NULL, *file = NULL;
	va_list ap;
	int n;

	if (level == TR_DIAG_WARNING && c->n_warnings >= c->max_warnings) {
		c->n_dropped++;
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto nomem;
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (src && src->file && !(file = strdup(src->file)))
		goto nomem;
	items = realloc(d->items, (d->n + 1) * sizeof(*items));
	if (!items)
		goto nomem;
	d->items = items;
	d->items[d->n] = (struct tr_diag){ level, file, src ? src->line : 0, msg };
	d->n++;
	if (level == TR_DIAG_ERROR)
		d->n_errors++;
	else
		c->n_warnings++;
	return;
nomem:
	free(msg);
	free(file);
	c->err = -ENOMEM;
}

/* ------------------------------------------------------------------ */
/* matching, shared by the compiler and policy_evaluate() */

bool policy_pattern_match(const char *pattern, const char *value)
{
	size_t pl, vl;

	if (!pattern || !value)
		return false;
	pl = strlen(pattern);
	if (pl == 1 && pattern[0] == '*')
		return true;
	vl = strlen(value);
	if (pl && pattern[pl - 1] == '*')
		return vl >= pl - 1 && !memcmp(value, pattern, pl - 1);
	if (pattern[0] == '*')
		return vl >= pl - 1 && !memcmp(value + vl - (pl - 1), pattern + 1, pl - 1);
	return !strcmp(pattern, value);
}

/* exact, "*", "prefix*" or "*suffix", not empty */
static bool pattern_valid(const char *s)
{
	const char *star = strchr(s, '*');
	size_t len = strlen(s);

	if (!len || !star || len == 1)
		return len > 0;
	if (star == s)
		return !strchr(s + 1, '*');
	return star == s + len - 1;
}

static bool any_pattern(char *const *pats, size_t n, const char *value)
{
	size_t i;

	if (!value)
		return false;
	for (i = 0; i < n; i++)
		if (policy_pattern_match(pats[i], value))
			return true;
	return false;
}

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static bool cidr_contains(const struct tr_cidr *c, const struct tr_ip *ip)
{
	unsigned full = c->prefixlen / 8, rest = c->prefixlen % 8;

	if (!ip || ip->family != c->ip.family)
		return false;
	if (memcmp(c->ip.bytes, ip->bytes, full))
		return false;
	return !rest ||
	       !((c->ip.bytes[full] ^ ip->bytes[full]) & (uint8_t)(0xff00u >> rest));
}

static bool any_cidr(const struct tr_cidr *c, size_t n, const struct tr_ip *ip)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cidr_contains(&c[i], ip))
			return true;
	return false;
}

/* principal and ns are NULL for a source outside the mesh. */
static bool ident_ok(const struct tr_authz_source *s, const char *principal,
		     const char *ns)
{
	if (s->n_principals && !any_pattern(s->principals, s->n_principals, principal))
		return false;
	if (any_pattern(s->not_principals, s->n_not_principals, principal))
		return false;
	if (s->n_namespaces && !any_pattern(s->namespaces, s->n_namespaces, ns))
		return false;
	return !any_pattern(s->not_namespaces, s->n_not_namespaces, ns);
}

static bool op_ok(const struct tr_authz_operation *op, uint16_t port)
{
	size_t i;
	bool in = !op->n_ports;

	for (i = 0; i < op->n_ports && !in; i++)
		in = op->ports[i] == port;
	for (i = 0; in && i < op->n_not_ports; i++)
		in = op->not_ports[i] != port;
	return in;
}

static bool applies(const struct tr_config *cfg, const struct tr_authz_policy *ap,
		    const struct tr_pod *pod)
{
	bool root = !strcmp(ap->ns, cfg->mesh.root_namespace);

	if (!root && strcmp(ap->ns, pod->ns))
		return false;
	return !ap->has_selector || labels_match(&ap->selector, &pod->labels);
}

static uint8_t policy_scope(const struct tr_config *cfg, const struct tr_authz_policy *ap)
{
	if (ap->has_selector && ap->selector.n)
		return 0;
	return strcmp(ap->ns, cfg->mesh.root_namespace) ? 1 : 2;
}

/* The address a Pod's ipBlocks membership is judged by. */
static const struct tr_ip *pod_rep_ip(const struct tr_pod *p)
{
	size_t i;

	for (i = 0; i < p->n_ips; i++)
		if (p->ips[i].family == AF_INET)
			return &p->ips[i];
	return p->n_ips ? &p->ips[0] : NULL;
}

static const char *pod_sa(const struct tr_pod *p)
{
	return p->service_account ? p->service_account : "default";
}

static struct pc_verdict verdict_default(bool has_allow)
{
	return (struct pc_verdict){
		.action = has_allow ? TR_ACT_DENY : TR_ACT_ALLOW,
		.flags = TR_VERD_F_DEFAULT,
		.rule = TR_RULE_NONE,
		.policy = -1,
		.audit_policy = -1,
		.audit_rule = TR_RULE_NONE,
	};
}

static bool verdict_equal(const struct pc_verdict *a, const struct pc_verdict *b)
{
	return a->action == b->action && a->flags == b->flags && a->rule == b->rule &&
	       a->policy == b->policy && a->audit_policy == b->audit_policy &&
	       a->audit_rule == b->audit_rule;
}

/* ------------------------------------------------------------------ */
/* the reference evaluation */

struct pc_verdict policy_evaluate(const struct tr_config *cfg,
				  const struct tr_pod *src_pod,
				  const struct tr_ip *src_ip,
				  const struct tr_pod *dst_pod, uint16_t port)
{
	int32_t deny_p = -1, allow_p = -1, audit_p = -1;
	uint16_t deny_r = 0, allow_r = 0, audit_r = 0;
	const char *principal = NULL, *ns = NULL;
	const struct tr_authz_policy *ap;
	const struct tr_authz_rule *r;
	struct pc_verdict v;
	bool has_allow = false, from, to;
	char buf[1024];
	size_t i, j, k;

	if (src_pod) {
		snprintf(buf, sizeof(buf), "%s/ns/%s/sa/%s", cfg->mesh.trust_domain,
			 src_pod->ns, pod_sa(src_pod));
		principal = buf;
		ns = src_pod->ns;
		if (!src_ip)
			src_ip = pod_rep_ip(src_pod);
	}
	for (i = 0; i < cfg->n_authz_policies; i++) {
		ap = &cfg->authz_policies[i];
		if (!applies(cfg, ap, dst_pod))
			continue;
		if (ap->action == TR_AUTHZ_ALLOW)
			has_allow = true;
		for (j = 0; j < ap->n_rules; j++) {
			r = &ap->rules[j];
			from = !r->n_from;
			for (k = 0; k < r->n_from && !from; k++) {
				const struct tr_authz_source *s = &r->from[k];

				from = ident_ok(s, principal, ns) &&
				       (!s->n_ip_blocks ||
					any_cidr(s->ip_blocks, s->n_ip_blocks, src_ip)) &&
				       !any_cidr(s->not_ip_blocks, s->n_not_ip_blocks, src_ip);
			}
			to = !r->n_to;
			for (k = 0; k < r->n_to && !to; k++)
				to = op_ok(&r->to[k], port);
			if (!from || !to)
				continue;
			if (ap->action == TR_AUTHZ_DENY && deny_p < 0) {
				deny_p = (int32_t)i;
				deny_r = (uint16_t)j;
			} else if (ap->action == TR_AUTHZ_ALLOW && allow_p < 0) {
				allow_p = (int32_t)i;
				allow_r = (uint16_t)j;
			} else if (ap->action == TR_AUTHZ_AUDIT && audit_p < 0) {
				audit_p = (int32_t)i;
				audit_r = (uint16_t)j;
			}
			break; /* later rules of this policy cannot be first */
		}
	}
	v = verdict_default(has_allow);
	if (deny_p >= 0) {
		v.action = TR_ACT_DENY;
		v.flags = 0;
		v.policy = deny_p;
		v.rule = deny_r;
	} else if (allow_p >= 0) {
		v.action = TR_ACT_ALLOW;
		v.flags = 0;
		v.policy = allow_p;
		v.rule = allow_r;
	}
	if (audit_p >= 0) {
		v.flags |= TR_VERD_F_AUDIT;
		v.audit_policy = audit_p;
		v.audit_rule = audit_r;
	}
	return v;
}

/* ------------------------------------------------------------------ */
/* bitsets */

typedef uint64_t word_t;
#define WBITS 64

static inline void bit_set(word_t *b, size_t i)
{
	b[i / WBITS] |= (word_t)1 << (i % WBITS);
}

static inline void bit_clear(word_t *b, size_t i)
{
	b[i / WBITS] &= ~((word_t)1 << (i % WBITS));
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--) {
		h ^= *b++;
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

/* ------------------------------------------------------------------ */
/* the compiler's working state */

struct entry_ref {          /* one from entry, or a rule without from */
	uint32_t policy;
	uint32_t rule;
	const struct tr_authz_source *src; /* NULL: any source */
};

struct named {              /* a prefix some ipBlocks/notIpBlocks names */
	struct tr_cidr cidr;
	uint32_t refs, n_refs;  /* range in st.prefix_refs */
};

/* An exact pattern in principals of an entry whose principals are all
 * exact: only identities equal to one of them can match it. */
struct exact_ref {
	const char *pat;
	uint32_t entry;
};

struct prefix_ref {
	uint32_t prefix;
	uint32_t entry;
	bool neg;               /* notIpBlocks */
};

/* A set of equal keys (bitsets or index lists), each stored once. */
struct keyset {
	uint32_t *slots;        /* class id + 1; 0 = empty */
	size_t cap;
	word_t *keys;           /* n * width words, class c at (c - 1) * width */
	size_t n, key_cap;
	size_t width;           /* words per key */
};

struct dst_cls {
	uint32_t *pols;         /* applicable policies, ascending */
	size_t n_pols;
	bool has_allow;
};

struct state {
	struct pc_ctx *c;
	const struct tr_config *cfg;
	struct tr_policy_compiled *out;
	struct entry_ref *entries;
	size_t n_entries, words;
	uint32_t *pol_first;    /* entry range of policy i: [first[i], first[i+1]) */
	struct named *named;
	size_t n_named;
	struct prefix_ref *prefix_refs;
	size_t n_prefix_refs;
	struct exact_ref *exact; /* sorted by pattern */
	size_t n_exact;
	uint32_t *general;      /* the other entries: checked one by one */
	size_t n_general;
	uint8_t lens4[33], lens6[129]; /* prefix lengths in use */
	struct keyset src;      /* signature -> source class */
	struct dst_cls *dst;
	size_t n_dst, dst_cap;
	size_t entries_cap;
};

static int keyset_init(struct keyset *ks, size_t width, size_t expect)
{
	ks->width = width ? width : 1;
	ks->cap = 16;
	while (ks->cap < expect * 2)
		ks->cap *= 2;
	ks->slots = calloc(ks->cap, sizeof(*ks->slots));
	return ks->slots ? 0 : -ENOMEM;
}

static void keyset_free(struct keyset *ks)
{
	free(ks->slots);
	free(ks->keys);
	memset(ks, 0, sizeof(*ks));
}

static const word_t *keyset_key(const struct keyset *ks, uint32_t id)
{
	return ks->keys + (size_t)(id - 1) * ks->width;
}

/* The id (1..) of key, added when new; 0 on ENOMEM. */
static uint32_t keyset_add(struct keyset *ks, const word_t *key)
{
	size_t bytes = ks->width * sizeof(word_t), i, m;
	uint32_t *slots;
	word_t *keys;

	i = fnv_bytes(FNV_INIT, key, bytes) & (ks->cap - 1);
	while (ks->slots[i]) {
		if (!memcmp(keyset_key(ks, ks->slots[i]), key, bytes))
			return ks->slots[i];
		i = (i + 1) & (ks->cap - 1);
	}
	if (ks->n == ks->key_cap) {
		m = ks->key_cap ? ks->key_cap * 2 : 16;
		keys = realloc(ks->keys, m * bytes);
		if (!keys)
			return 0;
		ks->keys = keys;
		ks->key_cap = m;
	}
	memcpy(ks->keys + ks->n * ks->width, key, bytes);
	ks->n++;
	ks->slots[i] = (uint32_t)ks->n;
	if (ks->n * 2 > ks->cap) {
		/* grow and rehash */
		m = ks->cap * 2;
		slots = calloc(m, sizeof(*slots));
		if (!slots)
			return 0;
		for (uint32_t id = 1; id <= ks->n; id++) {
			i = fnv_bytes(FNV_INIT, keyset_key(ks, id), bytes) & (m - 1);
			while (slots[i])
				i = (i + 1) & (m - 1);
			slots[i] = id;
		}
		free(ks->slots);
		ks->slots = slots;
		ks->cap = m;
	}
	return (uint32_t)ks->n;
}

/* ------------------------------------------------------------------ */
/* checks the loader also makes, for models built by hand */

static const char *label(char *buf, size_t len, const struct tr_authz_policy *ap)
{
	snprintf(buf, len, "AuthorizationPolicy %s/%s", ap->ns, ap->name);
	return buf;
}

static bool cidr_valid(const struct tr_cidr *c)
{
	struct tr_cidr m = *c;
	unsigned i, bits;

	if (c->ip.family != AF_INET && c->ip.family != AF_INET6)
		return false;
	if (c->prefixlen > family_bits(c->ip.family))
		return false;
	for (i = 0; i < 16; i++) {
		bits = i * 8u >= c->prefixlen ? 0 : c->prefixlen - i * 8u >= 8 ? 8 :
			c->prefixlen - i * 8u;
		m.ip.bytes[i] &= (uint8_t)(0xff00u >> bits);
	}
	return !memcmp(&m.ip.bytes, &c->ip.bytes, sizeof(m.ip.bytes));
}

static void check_source(struct state *st, const struct tr_authz_policy *ap,
			 size_t r, size_t f, const struct tr_authz_source *s)
{
	static const char *const names[] = { "principals", "notPrincipals",
					      "namespaces", "notNamespaces" };
	char *const *lists[] = { s->principals, s->not_principals, s->namespaces,
				 s->not_namespaces };
	const size_t counts[] = { s->n_principals, s->n_not_principals,
				  s->n_namespaces, s->n_not_namespaces };
	char lb[256];
	size_t i, k;

	for (k = 0; k < 4; k++)
		for (i = 0; i < counts[k]; i++)
			if (!lists[k][i] || !pattern_valid(lists[k][i]))
				pc_diag(st->c, TR_DIAG_ERROR, &s->src,
					"%s: spec.rules[%zu].from[%zu].source.%s[%zu]: \"%s\" is not a valid pattern (exact, \"*\", \"prefix*\", \"*suffix\")",
					label(lb, sizeof(lb), ap), r, f, names[k], i,
					lists[k][i] ? lists[k][i] : "(null)");
	for (i = 0; i < s->n_ip_blocks + s->n_not_ip_blocks; i++) {
		const struct tr_cidr *c = i < s->n_ip_blocks ?
			&s->ip_blocks[i] : &s->not_ip_blocks[i - s->n_ip_blocks];

		if (!cidr_valid(c))
			pc_diag(st->c, TR_DIAG_ERROR, &s->src,
				"%s: spec.rules[%zu].from[%zu].source: an address block is not a valid prefix (host bits set or bad length)",
				label(lb, sizeof(lb), ap), r, f);
	}
}

static void check_policies(struct state *st)
{
	const struct tr_config *cfg = st->cfg;
	const struct tr_authz_policy *ap;
	char lb[256];
	size_t i, r, f;

	for (i = 0; i < cfg->n_authz_policies; i++) {
		ap = &cfg->authz_policies[i];
		if (!ap->ns || !ap->name) {
			pc_diag(st->c, TR_DIAG_ERROR, &ap->src,
				"AuthorizationPolicy without a namespace or name");
			continue;
		}
		if (ap->action < TR_AUTHZ_ALLOW || ap->action > TR_AUTHZ_AUDIT)
			pc_diag(st->c, TR_DIAG_ERROR, &ap->src, "%s: spec.action: unknown action",
				label(lb, sizeof(lb), ap));
		if (ap->n_rules > TR_RULE_NONE)
			pc_diag(st->c, TR_DIAG_ERROR, &ap->src,
				"%s: spec.rules: %zu rules; at most %u fit a verdict",
				label(lb, sizeof(lb), ap), ap->n_rules, TR_RULE_NONE);
		for (r = 0; r < ap->n_rules; r++)
			for (f = 0; f < ap->rules[r].n_from; f++)
				check_source(st, ap, r, f, &ap->rules[r].from[f]);
	}
}

/* ------------------------------------------------------------------ */
/* identities and workloads */

struct id_sort {
	char *s;
	size_t pod;
};

static int cmp_id_sort(const void *a, const void *b)
{
	const struct id_sort *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	if (c)
		return c;
	return x->pod < y->pod ? -1 : x->pod > y->pod;
}

static int build_identities(struct state *st)
{
	const struct tr_config *cfg = st->cfg;
	struct tr_policy_compiled *out = st->out;
	struct id_sort *ids;
	size_t i, n = cfg->n_pods;
	int err = 0;

	out->workloads = calloc(n ? n : 1, sizeof(*out->workloads));
	out->identities = calloc(n ? n : 1, sizeof(*out->identities));
	ids = calloc(n ? n : 1, sizeof(*ids));
	if (!out->workloads || !out->identities || !ids) {
		err = -ENOMEM;
		goto out;
	}
	out->n_workloads = n;
	for (i = 0; i < n; i++) {
		const struct tr_pod *p = &cfg->pods[i];

		if (asprintf(&ids[i].s, SPIFFE_PREFIX "%s/ns/%s/sa/%s",
			     cfg->mesh.trust_domain, p->ns, pod_sa(p)) < 0) {
			ids[i].s = NULL;
			err = -ENOMEM;
			goto out;
		}
		ids[i].pod = i;
		out->workloads[i].pod = p;
	}
	qsort(ids, n, sizeof(*ids), cmp_id_sort);
	for (i = 0; i < n; i++) {
		if (out->n_identities &&
		    !strcmp(out->identities[out->n_identities - 1], ids[i].s)) {
			free(ids[i].s);
		} else {
			out->identities[out->n_identities++] = ids[i].s;
		}
		ids[i].s = NULL;
		out->workloads[ids[i].pod].identity = (uint32_t)(out->n_identities - 1);
	}
out:
	for (i = 0; ids && i < n; i++)
		free(ids[i].s);
	free(ids);
	return err;
}

/* ------------------------------------------------------------------ */
/* entries and named prefixes */

static int cmp_cidr(const struct tr_cidr *a, const struct tr_cidr *b)
{
	int c;

	if (a->ip.family != b->ip.family)
		return a->ip.family < b->ip.family ? -1 : 1;
	if ((c = memcmp(a->ip.bytes, b->ip.bytes, sizeof(a->ip.bytes))))
		return c;
	return a->prefixlen < b->prefixlen ? -1 : a->prefixlen > b->prefixlen;
}

struct cidr_ref {
	const struct tr_cidr *cidr;
	uint32_t entry;
	bool neg;
};

static int cmp_cidr_ref(const void *a, const void *b)
{
	const struct cidr_ref *x = a, *y = b;
	int c = cmp_cidr(x->cidr, y->cidr);

	if (c)
		return c;
	if (x->entry != y->entry)
		return x->entry < y->entry ? -1 : 1;
	return (int)x->neg - (int)y->neg;
}

static int build_entries(struct state *st)
{
	const struct tr_config *cfg = st->cfg;
	const struct tr_authz_policy *ap;
	const struct tr_authz_source *s;
	struct cidr_ref *crefs = NULL;
	size_t i, r, f, k, n = 0, nc = 0;
	int err = 0;

	for (i = 0; i < cfg->n_authz_policies; i++) {
		ap = &cfg->authz_policies[i];
		for (r = 0; r < ap->n_rules; r++) {
			n += ap->rules[r].n_from ? ap->rules[r].n_from : 1;
			for (f = 0; f < ap->rules[r].n_from; f++)
				nc += ap->rules[r].from[f].n_ip_blocks +
				      ap->rules[r].from[f].n_not_ip_blocks;
		}
	}
	st->entries = calloc(n ? n : 1, sizeof(*st->entries));
	st->pol_first = calloc(cfg->n_authz_policies + 1, sizeof(*st->pol_first));
	crefs = calloc(nc ? nc : 1, sizeof(*crefs));
	if (!st->entries || !st->pol_first || !crefs) {
		err = -ENOMEM;
		goto out;
	}
	n = nc = 0;
	for (i = 0; i < cfg->n_authz_policies; i++) {
		ap = &cfg->authz_policies[i];
		st->pol_first[i] = (uint32_t)n;
		for (r = 0; r < ap->n_rules; r++) {
			if (!ap->rules[r].n_from)
				st->entries[n++] = (struct entry_ref){ (uint32_t)i,
								       (uint32_t)r, NULL };
			for (f = 0; f < ap->rules[r].n_from; f++) {
				s = &ap->rules[r].from[f];
				for (k = 0; k < s->n_ip_blocks; k++)
					crefs[nc++] = (struct cidr_ref){ &s->ip_blocks[k],
									 (uint32_t)n, false };
				for (k = 0; k < s->n_not_ip_blocks; k++)
					crefs[nc++] = (struct cidr_ref){ &s->not_ip_blocks[k],
									 (uint32_t)n, true };
				st->entries[n++] = (struct entry_ref){ (uint32_t)i,
								       (uint32_t)r, s };
			}
		}
	}
	st->pol_first[cfg->n_authz_policies] = (uint32_t)n;
	st->n_entries = n;
	st->words = (n + WBITS - 1) / WBITS;
	if (!st->words)
		st->words = 1;

	/* distinct prefixes, sorted, each with its references */
	qsort(crefs, nc, sizeof(*crefs), cmp_cidr_ref);
	st->named = calloc(nc ? nc : 1, sizeof(*st->named));
	st->prefix_refs = calloc(nc ? nc : 1, sizeof(*st->prefix_refs));
	if (!st->named || !st->prefix_refs) {
		err = -ENOMEM;
		goto out;
	}
	for (k = 0; k < nc; k++) {
		if (!st->n_named ||
		    cmp_cidr(&st->named[st->n_named - 1].cidr, crefs[k].cidr)) {
			st->named[st->n_named].cidr = *crefs[k].cidr;
			st->named[st->n_named].refs = (uint32_t)st->n_prefix_refs;
			st->n_named++;
			if (crefs[k].cidr->ip.family == AF_INET)
				st->lens4[crefs[k].cidr->prefixlen] = 1;
			else
				st->lens6[crefs[k].cidr->prefixlen] = 1;
		}
		st->named[st->n_named - 1].n_refs++;
		st->prefix_refs[st->n_prefix_refs++] = (struct prefix_ref){
			(uint32_t)(st->n_named - 1), crefs[k].entry, crefs[k].neg };
	}
out:
	free(crefs);
	return err;
}

static void mask_to(struct tr_cidr *c, const struct tr_ip *ip, unsigned len)
{
	unsigned i, bits;

	memset(c, 0, sizeof(*c));
	c->ip.family = ip->family;
	c->prefixlen = (uint8_t)len;
	for (i = 0; i < family_bits(ip->family) / 8; i++) {
		bits = i * 8 >= len ? 0 : len - i * 8 >= 8 ? 8 : len - i * 8;
		c->ip.bytes[i] = ip->bytes[i] & (uint8_t)(0xff00u >> bits);
	}
}

static int cmp_named_key(const void *key, const void *elem)
{
	return cmp_cidr(key, &((const struct named *)elem)->cidr);
}

/* The named prefixes that contain ip/len (len = full length for an
 * address), ascending by length; returns how many. */
static size_t ancestors(const struct state *st, const struct tr_ip *ip, unsigned len,
			uint32_t *out)
{
	const struct named *hit;
	const uint8_t *lens;
	struct tr_cidr key;
	size_t n = 0;
	unsigned l;

	if (!ip || !st->n_named)
		return 0;
	lens = ip->family == AF_INET ? st->lens4 : st->lens6;
	for (l = 0; l <= len; l++) {
		if (!lens[l])
			continue;
		mask_to(&key, ip, l);
		hit = bsearch(&key, st->named, st->n_named, sizeof(*st->named),
			      cmp_named_key);
		if (hit)
			out[n++] = (uint32_t)(hit - st->named);
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* source classes */

static bool all_exact(char *const *pats, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strchr(pats[i], '*'))
			return false;
	return n > 0;
}

static int cmp_exact_ref(const void *a, const void *b)
{
	const struct exact_ref *x = a, *y = b;
	int c = strcmp(x->pat, y->pat);

	if (c)
		return c;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

/* Split the entries into those gated by exact principals (indexed by
 * principal) and the rest, so that the identity half of 10,000 rules with
 * one principal each costs a lookup, not 10,000 comparisons. */
static int index_principals(struct state *st)
{
	const struct tr_authz_source *s;
	size_t e, k, n = 0;

	for (e = 0; e < st->n_entries; e++) {
		s = st->entries[e].src;
		if (s && all_exact(s->principals, s->n_principals))
			n += s->n_principals;
	}
	st->exact = calloc(n ? n : 1, sizeof(*st->exact));
	st->general = calloc(st->n_entries ? st->n_entries : 1, sizeof(*st->general));
	if (!st->exact || !st->general)
		return -ENOMEM;
	for (e = 0; e < st->n_entries; e++) {
		s = st->entries[e].src;
		if (!s || !all_exact(s->principals, s->n_principals)) {
			st->general[st->n_general++] = (uint32_t)e;
			continue;
		}
		for (k = 0; k < s->n_principals; k++)
			st->exact[st->n_exact++] = (struct exact_ref){ s->principals[k],
								      (uint32_t)e };
	}
	qsort(st->exact, st->n_exact, sizeof(*st->exact), cmp_exact_ref);
	return 0;
}

/* Identity half: principal/ns NULL for sources outside the mesh. */
static void ident_bits(const struct state *st, const char *principal, const char *ns,
		       word_t *out)
{
	const struct entry_ref *er;
	size_t i, lo = 0, hi = st->n_exact, mid;

	memset(out, 0, st->words * sizeof(word_t));
	for (i = 0; i < st->n_general; i++) {
		er = &st->entries[st->general[i]];
		if (!er->src || ident_ok(er->src, principal, ns))
			bit_set(out, st->general[i]);
	}
	if (!principal)
		return; /* exact principals need one */
	while (lo < hi) { /* the first pattern >= principal */
		mid = (lo + hi) / 2;
		if (strcmp(st->exact[mid].pat, principal) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < st->n_exact && !strcmp(st->exact[i].pat, principal); i++)
		if (ident_ok(st->entries[st->exact[i].entry].src, principal, ns))
			bit_set(out, st->exact[i].entry);
}

/* Address half for membership anc[0..n): into out. base = entries without
 * ipBlocks. */
static void addr_bits(const struct state *st, const word_t *base, const uint32_t *anc,
		      size_t n, word_t *out)
{
	const struct named *p;
	size_t i, k;

	memcpy(out, base, st->words * sizeof(word_t));
	for (i = 0; i < n; i++) {
		p = &st->named[anc[i]];
		for (k = p->refs; k < p->refs + p->n_refs; k++)
			if (!st->prefix_refs[k].neg)
				bit_set(out, st->prefix_refs[k].entry);
	}
	for (i = 0; i < n; i++) {
		p = &st->named[anc[i]];
		for (k = p->refs; k < p->refs + p->n_refs; k++)
			if (st->prefix_refs[k].neg)
				bit_clear(out, st->prefix_refs[k].entry);
	}
}

static uint32_t add_class(struct state *st, const word_t *ident, const word_t *addr,
			  word_t *tmp)
{
	uint32_t id;
	size_t w;

	for (w = 0; w < st->words; w++)
		tmp[w] = ident[w] & addr[w];
	id = keyset_add(&st->src, tmp);
	if (!id)
		st->c->err = -ENOMEM;
	return id;
}

static int build_src_classes(struct state *st)
{
	const struct tr_config *cfg = st->cfg;
	struct tr_policy_compiled *out = st->out;
	word_t *ident0, *base, *idb = NULL, *addr, *addr2, *tmp;
	uint32_t anc[130], anc2[130];
	size_t W = st->words, i, j, n, n2, e;
	uint8_t *done = NULL;
	int err;

	ident0 = calloc(W * 5, sizeof(word_t));
	if (!ident0)
		return -ENOMEM;
	base = ident0 + W;
	addr = base + W;
	addr2 = addr + W;
	tmp = addr2 + W;
	idb = calloc(W * (out->n_identities ? out->n_identities : 1), sizeof(word_t));
	done = calloc(out->n_identities ? out->n_identities : 1, 1);
	err = keyset_init(&st->src, W, cfg->n_pods + st->n_named + 1);
	if (!idb || !done || err) {
		err = -ENOMEM;
		goto out;
	}
	ident_bits(st, NULL, NULL, ident0);
	for (e = 0; e < st->n_entries; e++)
		if (!st->entries[e].src || !st->entries[e].src->n_ip_blocks)
			bit_set(base, e);
	/* one identity half per identity; a Pod of it gives the namespace */
	for (i = 0; i < cfg->n_pods; i++) {
		uint32_t id = out->workloads[i].identity;

		if (done[id])
			continue;
		done[id] = 1;
		ident_bits(st, out->identities[id] + SPIFFE_PREFIX_LEN,
			   cfg->pods[i].ns, idb + (size_t)id * W);
	}

	/* Pods, in cfg order */
	for (i = 0; i < cfg->n_pods; i++) {
		const struct tr_pod *p = &cfg->pods[i];
		const struct tr_ip *rep = pod_rep_ip(p);

		n = rep ? ancestors(st, rep, family_bits(rep->family), anc) : 0;
		for (j = 0; j < p->n_ips; j++) {
			if (&p->ips[j] == rep)
				continue;
			n2 = ancestors(st, &p->ips[j], family_bits(p->ips[j].family), anc2);
			addr_bits(st, base, anc, n, addr);
			addr_bits(st, base, anc2, n2, addr2);
			if (memcmp(addr, addr2, W * sizeof(word_t))) {
				char a[64], b[64];

				pc_diag(st->c, TR_DIAG_WARNING, &p->src,
					"Pod %s/%s: its addresses %s and %s fall in different ipBlocks; policies judge it by %s",
					p->ns, p->name, tr_ip_str(rep, a, sizeof(a)),
					tr_ip_str(&p->ips[j], b, sizeof(b)), a);
				break;
			}
		}
		addr_bits(st, base, anc, n, addr);
		out->workloads[i].src_class =
			add_class(st, idb + (size_t)out->workloads[i].identity * W, addr, tmp);
	}

	/* named prefixes, sorted */
	out->prefixes = calloc(st->n_named ? st->n_named : 1, sizeof(*out->prefixes));
	if (!out->prefixes) {
		err = -ENOMEM;
		goto out;
	}
	out->n_prefixes = st->n_named;
	for (i = 0; i < st->n_named; i++) {
		const struct tr_cidr *c = &st->named[i].cidr;

		n = ancestors(st, &c->ip, c->prefixlen, anc);
		addr_bits(st, base, anc, n, addr);
		out->prefixes[i].cidr = *c;
		out->prefixes[i].src_class = add_class(st, ident0, addr, tmp);
	}

	/* the world: no identity, no block */
	out->world_src_class = add_class(st, ident0, base, tmp);
	out->n_src_classes = (uint32_t)st->src.n;
	err = st->c->err;
out:
	free(ident0);
	free(idb);
	free(done);
	return err;
}

/* ------------------------------------------------------------------ */
/* destination classes */

static int cmp_pod_ns(const void *a, const void *b, void *arg)
{
	const struct tr_config *cfg = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = strcmp(cfg->pods[x].ns, cfg->pods[y].ns);

	return c ? c : x < y ? -1 : x > y;
}

/* The Pods of namespace ns: [*first, return) in byns (sorted by ns). */
static size_t ns_range(const struct tr_config *cfg, const uint32_t *byns, size_t n,
		       const char *ns, size_t *first)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (strcmp(cfg->pods[byns[mid]].ns, ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	while (hi < n && !strcmp(cfg->pods[byns[hi]].ns, ns))
		hi++;
	return hi;
}

static int build_dst_classes(struct state *st)
{
	const struct tr_config *cfg = st->cfg;
	struct tr_policy_compiled *out = st->out;
	size_t np = cfg->n_authz_policies, W = (np + WBITS - 1) / WBITS, i, j, n;
	size_t first, end, k;
	const struct tr_authz_policy *ap;
	struct keyset ks = {};
	uint32_t id, *list = NULL, *byns = NULL;
	struct dst_cls *d;
	word_t *keys, *key;
	char lb[256];
	int err;

	if (!W)
		W = 1;
	keys = calloc(W * (cfg->n_pods ? cfg->n_pods : 1), sizeof(word_t));
	byns = calloc(cfg->n_pods ? cfg->n_pods : 1, sizeof(*byns));
	list = calloc(np ? np : 1, sizeof(*list));
	out->policies = calloc(np ? np : 1, sizeof(*out->policies));
	err = keyset_init(&ks, W, cfg->n_pods);
	if (!keys || !byns || !list || !out->policies || err) {
		err = -ENOMEM;
		goto out;
	}
	out->n_policies = np;
	/* policy by policy, over the Pods of its namespace (or all of them) */
	for (i = 0; i < cfg->n_pods; i++)
		byns[i] = (uint32_t)i;
	qsort_r(byns, cfg->n_pods, sizeof(*byns), cmp_pod_ns, (void *)cfg);
	for (j = 0; j < np; j++) {
		ap = &cfg->authz_policies[j];
		out->policies[j].ap = ap;
		out->policies[j].scope = policy_scope(cfg, ap);
		if (!strcmp(ap->ns, cfg->mesh.root_namespace)) {
			first = 0;
			end = cfg->n_pods;
		} else {
			end = ns_range(cfg, byns, cfg->n_pods, ap->ns, &first);
		}
		for (k = first; k < end; k++) {
			i = byns[k];
			if (!applies(cfg, ap, &cfg->pods[i]))
				continue;
			bit_set(keys + i * W, j);
			out->policies[j].n_selected++;
		}
	}
	for (i = 0; i < cfg->n_pods; i++) {
		key = keys + i * W;
		n = 0;
		for (k = 0; k < W; k++)
			for (word_t bits = key[k]; bits; bits &= bits - 1)
				list[n++] = (uint32_t)(k * WBITS + (size_t)__builtin_ctzll(bits));
		if (!n)
			continue; /* dst_class 0: no policy, everything allowed */
		id = keyset_add(&ks, key);
		if (!id) {
			err = -ENOMEM;
			goto out;
		}
		out->workloads[i].dst_class = id;
		if (id <= st->n_dst)
			continue;
		if (st->n_dst == st->dst_cap) {
			size_t m = st->dst_cap ? st->dst_cap * 2 : 16;

			d = realloc(st->dst, m * sizeof(*d));
			if (!d) {
				err = -ENOMEM;
				goto out;
			}
			st->dst = d;
			st->dst_cap = m;
		}
		d = &st->dst[st->n_dst++];
		memset(d, 0, sizeof(*d));
		d->pols = malloc(n * sizeof(*d->pols));
		if (!d->pols) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(d->pols, list, n * sizeof(*list));
		d->n_pols = n;
		for (j = 0; j < n; j++)
			if (cfg->authz_policies[list[j]].action == TR_AUTHZ_ALLOW)
				d->has_allow = true;
	}
	out->n_dst_classes = (uint32_t)st->n_dst;
	for (j = 0; j < np; j++)
		if (!out->policies[j].n_selected)
			pc_diag(st->c, TR_DIAG_WARNING, &cfg->authz_policies[j].src,
				"%s: selects no Pod (it applies when a matching Pod appears)",
				label(lb, sizeof(lb), &cfg->authz_policies[j]));
out:
	keyset_free(&ks);
	free(keys);
	free(byns);
	free(list);
	return err;
}

/* ------------------------------------------------------------------ */
/* verdict entries */

struct decided {
	int32_t *policy;  /* per port index; -1 = not yet */
	uint16_t *rule;
	size_t left;      /* port indices not yet decided */
};

struct pair_work {
	uint16_t *ports;  /* the dst class's named ports, ascending */
	size_t n_ports;   /* index n_ports = every other port */
	int32_t *idx;     /* port -> index, -1 when not named (N_PORTS) */
	uint8_t *skip;    /* scratch, n_ports + 1 */
	struct decided cat[3]; /* DENY, ALLOW, AUDIT */
};

static void decide(struct decided *d, size_t i, uint32_t p, uint32_t r)
{
	if (d->policy[i] >= 0)
		return;
	d->policy[i] = (int32_t)p;
	d->rule[i] = (uint16_t)r;
	d->left--;
}

/* Rule r of policy p matches the source: it decides the ports it covers. */
static void apply_rule(struct pair_work *w, struct decided *d,
		       const struct tr_authz_rule *rule, uint32_t p, uint32_t r)
{
	const struct tr_authz_operation *op;
	size_t i, k;
	int32_t x;

	if (!rule->n_to) {
		for (i = 0; i <= w->n_ports && d->left; i++)
			decide(d, i, p, r);
		return;
	}
	for (k = 0; k < rule->n_to && d->left; k++) {
		op = &rule->to[k];
		for (i = 0; i < op->n_not_ports; i++)
			if ((x = w->idx[op->not_ports[i]]) >= 0)
				w->skip[x] = 1;
		if (op->n_ports) {
			for (i = 0; i < op->n_ports; i++)
				if ((x = w->idx[op->ports[i]]) >= 0 && !w->skip[x])
					decide(d, (size_t)x, p, r);
		} else {
			for (i = 0; i <= w->n_ports && d->left; i++)
				if (!w->skip[i])
					decide(d, i, p, r);
		}
		for (i = 0; i < op->n_not_ports; i++)
			if ((x = w->idx[op->not_ports[i]]) >= 0)
				w->skip[x] = 0;
	}
}

static struct pc_verdict verdict_at(const struct pair_work *w, bool has_allow, size_t i)
{
	struct pc_verdict v = verdict_default(has_allow);

	if (w->cat[0].policy[i] >= 0) {
		v.action = TR_ACT_DENY;
		v.flags = 0;
		v.policy = w->cat[0].policy[i];
		v.rule = w->cat[0].rule[i];
	} else if (w->cat[1].policy[i] >= 0) {
		v.action = TR_ACT_ALLOW;
		v.flags = 0;
		v.policy = w->cat[1].policy[i];
		v.rule = w->cat[1].rule[i];
	}
	if (w->cat[2].policy[i] >= 0) {
		v.flags |= TR_VERD_F_AUDIT;
		v.audit_policy = w->cat[2].policy[i];
		v.audit_rule = w->cat[2].rule[i];
	}
	return v;
}

static int emit(struct state *st, uint32_t d, uint32_t s, uint16_t port,
		const struct pc_verdict *v)
{
	struct tr_policy_compiled *out = st->out;
	struct pc_entry *e;

	if (out->n_entries == st->entries_cap) {
		size_t m = st->entries_cap ? st->entries_cap * 2 : 64;

		e = realloc(out->entries, m * sizeof(*e));
		if (!e)
			return -ENOMEM;
		out->entries = e;
		st->entries_cap = m;
	}
	out->entries[out->n_entries++] = (struct pc_entry){ d, s, port, *v };
	return 0;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* The ports the policies of d name, sorted and unique, into w. */
static int collect_ports(struct state *st, const struct dst_cls *d, struct pair_work *w)
{
	const struct tr_authz_policy *ap;
	const struct tr_authz_operation *op;
	size_t i, r, k, q, n = 0, m;

	for (i = 0; i < d->n_pols; i++) {
		ap = &st->cfg->authz_policies[d->pols[i]];
		for (r = 0; r < ap->n_rules; r++)
			for (k = 0; k < ap->rules[r].n_to; k++)
				n += ap->rules[r].to[k].n_ports + ap->rules[r].to[k].n_not_ports;
	}
	free(w->ports);
	w->ports = malloc((n ? n : 1) * sizeof(*w->ports));
	if (!w->ports)
		return -ENOMEM;
	n = 0;
	for (i = 0; i < d->n_pols; i++) {
		ap = &st->cfg->authz_policies[d->pols[i]];
		for (r = 0; r < ap->n_rules; r++)
			for (k = 0; k < ap->rules[r].n_to; k++) {
				op = &ap->rules[r].to[k];
				for (q = 0; q < op->n_ports; q++)
					w->ports[n++] = op->ports[q];
				for (q = 0; q < op->n_not_ports; q++)
					w->ports[n++] = op->not_ports[q];
			}
	}
	qsort(w->ports, n, sizeof(*w->ports), cmp_u16);
	for (i = 0, m = 0; i < n; i++)
		if (w->ports[i] && (!m || w->ports[m - 1] != w->ports[i]))
			w->ports[m++] = w->ports[i];
	w->n_ports = m;
	for (k = 0; k < 3; k++) {
		free(w->cat[k].policy);
		free(w->cat[k].rule);
		w->cat[k].policy = malloc((m + 1) * sizeof(int32_t));
		w->cat[k].rule = malloc((m + 1) * sizeof(uint16_t));
		if (!w->cat[k].policy || !w->cat[k].rule)
			return -ENOMEM;
	}
	free(w->skip);
	w->skip = calloc(m + 1, 1);
	if (!w->skip)
		return -ENOMEM;
	for (i = 0; i < m; i++)
		w->idx[w->ports[i]] = (int32_t)i;
	return 0;
}

static int pair_entries(struct state *st, uint32_t dc, const struct dst_cls *d,
			uint32_t sc, struct pair_work *w, const struct pc_verdict *def)
{
	const word_t *sig = keyset_key(&st->src, sc);
	const struct tr_authz_policy *ap;
	struct pc_verdict v0, v;
	struct decided *cat;
	size_t i, k, a, b, wi;
	uint32_t p, last_rule;
	word_t bits;
	int err;

	for (k = 0; k < 3; k++) {
		for (i = 0; i <= w->n_ports; i++)
			w->cat[k].policy[i] = -1;
		w->cat[k].left = w->n_ports + 1;
	}
	for (i = 0; i < d->n_pols; i++) {
		p = d->pols[i];
		ap = &st->cfg->authz_policies[p];
		cat = &w->cat[ap->action == TR_AUTHZ_DENY ? 0 :
			      ap->action == TR_AUTHZ_ALLOW ? 1 : 2];
		a = st->pol_first[p];
		b = st->pol_first[p + 1];
		last_rule = UINT32_MAX;
		/* the source's signature bits in [a, b): the entries it matches */
		for (wi = a / WBITS; wi * WBITS < b && cat->left; wi++) {
			bits = sig[wi];
			if (wi == a / WBITS && a % WBITS)
				bits &= ~(word_t)0 << (a % WBITS);
			if ((wi + 1) * WBITS > b && b % WBITS)
				bits &= ((word_t)1 << (b % WBITS)) - 1;
			while (bits && cat->left) {
				size_t e = wi * WBITS + (size_t)__builtin_ctzll(bits);

				bits &= bits - 1;
				if (st->entries[e].rule == last_rule)
					continue;
				last_rule = st->entries[e].rule;
				apply_rule(w, cat, &ap->rules[last_rule], p, last_rule);
			}
		}
	}
	v0 = verdict_at(w, d->has_allow, w->n_ports);
	if (!verdict_equal(&v0, def) && (err = emit(st, dc, sc, 0, &v0)))
		return err;
	for (i = 0; i < w->n_ports; i++) {
		v = verdict_at(w, d->has_allow, i);
		if (!verdict_equal(&v, &v0) && (err = emit(st, dc, sc, w->ports[i], &v)))
			return err;
	}
	return 0;
}

static int build_entries_table(struct state *st)
{
	struct tr_policy_compiled *out = st->out;
	struct pair_work w = {};
	uint32_t dc, sc;
	size_t i;
	int err = 0;

	out->defaults = calloc(st->n_dst ? st->n_dst : 1, sizeof(*out->defaults));
	w.idx = malloc(N_PORTS * sizeof(*w.idx));
	if (!out->defaults || !w.idx) {
		err = -ENOMEM;
		goto out;
	}
	memset(w.idx, 0xff, N_PORTS * sizeof(*w.idx));
	out->n_defaults = st->n_dst;
	for (dc = 1; dc <= st->n_dst; dc++) {
		const struct dst_cls *d = &st->dst[dc - 1];

		out->defaults[dc - 1].dst_class = dc;
		out->defaults[dc - 1].v = verdict_default(d->has_allow);
		if ((err = collect_ports(st, d, &w)))
			goto out;
		for (sc = 1; sc <= out->n_src_classes; sc++)
			if ((err = pair_entries(st, dc, d, sc, &w, &out->defaults[dc - 1].v)))
				goto out;
		for (i = 0; i < w.n_ports; i++)
			w.idx[w.ports[i]] = -1;
	}
out:
	free(w.idx);
	free(w.ports);
	free(w.skip);
	for (i = 0; i < 3; i++) {
		free(w.cat[i].policy);
		free(w.cat[i].rule);
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* warnings about principals */

static bool principal_known(const struct tr_policy_compiled *out, const char *pat)
{
	size_t lo = 0, hi = out->n_identities, mid, i;
	int c;

	if (!strchr(pat, '*')) {
		while (lo < hi) {
			mid = (lo + hi) / 2;
			c = strcmp(pat, out->identities[mid] + SPIFFE_PREFIX_LEN);
			if (!c)
				return true;
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		return false;
	}
	for (i = 0; i < out->n_identities; i++)
		if (policy_pattern_match(pat, out->identities[i] + SPIFFE_PREFIX_LEN))
			return true;
	return false;
}

static void warn_unknown_principals(struct state *st)
{
	const struct tr_config *cfg = st->cfg;
	const struct tr_authz_policy *ap;
	const struct tr_authz_source *s;
	size_t i, r, f, k;
	char lb[256];

	for (i = 0; i < cfg->n_authz_policies; i++) {
		ap = &cfg->authz_policies[i];
		for (r = 0; r < ap->n_rules; r++)
			for (f = 0; f < ap->rules[r].n_from; f++) {
				s = &ap->rules[r].from[f];
				for (k = 0; k < s->n_principals + s->n_not_principals; k++) {
					bool neg = k >= s->n_principals;
					const char *pat = neg ? s->not_principals[k - s->n_principals] :
							       s->principals[k];

					if (principal_known(st->out, pat))
						continue;
					pc_diag(st->c, TR_DIAG_WARNING, &s->src,
						"%s: spec.rules[%zu].from[%zu].source.%s[%zu]: \"%s\" matches no known workload identity (compiled anyway: it applies when such a workload appears)",
						label(lb, sizeof(lb), ap), r, f,
						neg ? "notPrincipals" : "principals",
						neg ? k - s->n_principals : k, pat);
				}
			}
	}
}

/* ------------------------------------------------------------------ */
/* the result's hash */

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	return fnv_bytes(h, &v, sizeof(v));
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv_bytes(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

static uint64_t fnv_verdict(uint64_t h, const struct pc_verdict *v)
{
	h = fnv_u64(h, v->action);
	h = fnv_u64(h, v->flags);
	h = fnv_u64(h, v->rule);
	h = fnv_u64(h, (uint64_t)(int64_t)v->policy);
	h = fnv_u64(h, (uint64_t)(int64_t)v->audit_policy);
	return fnv_u64(h, v->audit_rule);
}

/* Field by field: no padding bytes, no pointers. */
static uint64_t result_hash(const struct tr_policy_compiled *pc)
{
	uint64_t h = FNV_INIT;
	size_t i;

	h = fnv_u64(h, pc->n_identities);
	for (i = 0; i < pc->n_identities; i++)
		h = fnv_str(h, pc->identities[i]);
	h = fnv_u64(h, pc->n_workloads);
	for (i = 0; i < pc->n_workloads; i++) {
		const struct pc_workload *w = &pc->workloads[i];

		h = fnv_str(h, w->pod->ns);
		h = fnv_str(h, w->pod->name);
		h = fnv_u64(h, w->identity);
		h = fnv_u64(h, w->src_class);
		h = fnv_u64(h, w->dst_class);
		h = fnv_u64(h, w->local);
	}
	h = fnv_u64(h, pc->n_prefixes);
	for (i = 0; i < pc->n_prefixes; i++) {
		h = fnv_u64(h, (uint64_t)pc->prefixes[i].cidr.ip.family);
		h = fnv_bytes(h, pc->prefixes[i].cidr.ip.bytes, 16);
		h = fnv_u64(h, pc->prefixes[i].cidr.prefixlen);
		h = fnv_u64(h, pc->prefixes[i].src_class);
	}
	h = fnv_u64(h, pc->world_src_class);
	h = fnv_u64(h, pc->n_src_classes);
	h = fnv_u64(h, pc->n_dst_classes);
	h = fnv_u64(h, pc->n_policies);
	for (i = 0; i < pc->n_policies; i++) {
		const struct pc_policy *p = &pc->policies[i];

		h = fnv_str(h, p->ap->ns);
		h = fnv_str(h, p->ap->name);
		h = fnv_u64(h, p->ap->action);
		h = fnv_u64(h, p->ap->n_rules);
		h = fnv_u64(h, p->scope);
		h = fnv_u64(h, p->n_selected);
	}
	h = fnv_u64(h, pc->n_entries);
	for (i = 0; i < pc->n_entries; i++) {
		h = fnv_u64(h, pc->entries[i].dst_class);
		h = fnv_u64(h, pc->entries[i].src_class);
		h = fnv_u64(h, pc->entries[i].port);
		h = fnv_verdict(h, &pc->entries[i].v);
	}
	h = fnv_u64(h, pc->n_defaults);
	for (i = 0; i < pc->n_defaults; i++) {
		h = fnv_u64(h, pc->defaults[i].dst_class);
		h = fnv_verdict(h, &pc->defaults[i].v);
	}
	return h;
}

/* ------------------------------------------------------------------ */
/* entry points */

void policy_compiled_free(struct tr_policy_compiled *pc)
{
	size_t i;

	if (!pc)
		return;
	for (i = 0; i < pc->n_identities; i++)
		free(pc->identities[i]);
	free(pc->identities);
	free(pc->workloads);
	free(pc->prefixes);
	free(pc->policies);
	free(pc->entries);
	free(pc->defaults);
	memset(pc, 0, sizeof(*pc));
}

static void state_free(struct state *st)
{
	size_t i;

	free(st->entries);
	free(st->pol_first);
	free(st->named);
	free(st->prefix_refs);
	free(st->exact);
	free(st->general);
	keyset_free(&st->src);
	for (i = 0; i < st->n_dst; i++)
		free(st->dst[i].pols);
	free(st->dst);
}

int policy_compile(const struct tr_config *cfg, const char *node,
		   struct tr_policy_compiled *out, struct tr_diags *diags)
{
	struct pc_ctx c = { .cfg = cfg, .diags = diags, .max_warnings = PC_MAX_WARNINGS };
	struct state st = { .c = &c, .cfg = cfg, .out = out };
	size_t i, errors_before = diags->n_errors;
	int err;

	/* diags may already hold the loader's and LB compiler's findings: add */
	memset(out, 0, sizeof(*out));
	check_policies(&st);
	if (c.err || diags->n_errors > errors_before) {
		err = c.err ? c.err : -EINVAL;
		goto out;
	}
	if ((err = build_identities(&st)) || (err = build_entries(&st)) ||
	    (err = index_principals(&st)) || (err = build_src_classes(&st)) || (err = build_dst_classes(&st)) ||
	    (err = build_entries_table(&st)))
		goto out;
	for (i = 0; i < cfg->n_pods; i++)
		out->workloads[i].local = node && node[0] && cfg->pods[i].node &&
					  !strcmp(cfg->pods[i].node, node);
	warn_unknown_principals(&st);
	c.max_warnings = SIZE_MAX; /* the summary itself */
	if (c.n_dropped)
		pc_diag(&c, TR_DIAG_WARNING, NULL, "%zu more warnings not shown", c.n_dropped);
	err = c.err;
	if (!err)
		out->hash = result_hash(out);
out:
	state_free(&st);
	if (err)
		policy_compiled_free(out);
	return err;
}
