// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle policy { list | show NS/NAME | check FROM TO PORT | help }
 *
 * Policies come from tr_pol_info, their counters from tr_pol_stat (per-CPU,
 * summed). `check` repeats the lookup the BPF programs make (bpf/lib/
 * policy.h): the epoch from tr_pol_cfg; source and destination classes from
 * tr_ip4_info / tr_ip6_info (longest prefix, within that epoch; no
 * destination class: allowed; no source entry: denied, fail closed); then
 * tr_pol {dst, src, port} -> tr_pol {dst, src, 0} -> tr_pol_dst[dst]. It
 * then says in words which policy and rule, or which default, decided.
 * The source is found by its address, as tc_to_workload finds it; the
 * socket hooks find the same workload entry by its cgroup.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/policy.h>
#include <trestle/reasons.h>

#include "abi_fmt.h"
#include "cli.h"
#include "polmaps.h"

int do_policy(int argc, char **argv);

#define POL_NAME_LEN (2 * 64 + 2) /* "ns/name" */

struct pol_fds {
	int cfg, ip4, ip6, pol, dst, stat, id, wl, info;
};

static void fds_init(struct pol_fds *f)
{
	f->cfg = f->ip4 = f->ip6 = f->pol = f->dst = f->stat = f->id =
		f->wl = f->info = -1;
}

static void fds_close(struct pol_fds *f)
{
	int *all[] = { &f->cfg, &f->ip4, &f->ip6, &f->pol, &f->dst,
		       &f->stat, &f->id, &f->wl, &f->info };

	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		if (*all[i] >= 0)
			close(*all[i]);
		*all[i] = -1;
	}
}

/* Open the named maps (NULL-terminated list of fd pointers and names). */
static int open_maps(struct pol_fds *f, bool info, bool stat, bool verdicts,
		     bool addrs)
{
	struct {
		bool want;
		int *fd;
		const char *name;
	} maps[] = {
		{ info, &f->info, TR_MAP_POL_INFO },
		{ stat, &f->stat, TR_MAP_POL_STAT },
		{ verdicts, &f->pol, TR_MAP_POL },
		{ verdicts, &f->dst, TR_MAP_POL_DST },
		{ verdicts || addrs, &f->wl, TR_MAP_WL_INFO },
		{ addrs, &f->cfg, TR_MAP_POL_CFG },
		{ addrs, &f->ip4, TR_MAP_IP4_INFO },
		{ addrs, &f->ip6, TR_MAP_IP6_INFO },
		{ addrs, &f->id, TR_MAP_ID_INFO },
	};
	struct tr_meta meta;

	if (cli_pins_open(&meta, true))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		if (!maps[i].want)
			continue;
		*maps[i].fd = cli_map_open(maps[i].name, NULL);
		if (*maps[i].fd < 0)
			return -1;
	}
	return 0;
}

static const char *action_str(__u8 action)
{
	switch (action) {
	case TR_POLICY_ALLOW:
		return "ALLOW";
	case TR_POLICY_DENY:
		return "DENY";
	case TR_POLICY_AUDIT:
		return "AUDIT";
	default:
		return "?";
	}
}

static const char *scope_str(__u8 scope)
{
	switch (scope) {
	case 0:
		return "workload";
	case 1:
		return "namespace";
	case 2:
		return "mesh";
	default:
		return "?";
	}
}

/* "ns/name" of a policy or workload record. */
static const char *ns_name(const char *ns, size_t ns_len, const char *name,
			   size_t name_len, char *buf, size_t len)
{
	char n[65], m[65];

	cli_strfield(n, sizeof(n), ns, ns_len);
	cli_strfield(m, sizeof(m), name, name_len);
	snprintf(buf, len, "%s/%s", n, m);
	return buf;
}

#define NS_NAME(rec, buf) \
	ns_name((rec)->ns, sizeof((rec)->ns), (rec)->name, \
		sizeof((rec)->name), buf, sizeof(buf))

/* Split "ns/name"; false when it is not of that form. */
static bool split_ns_name(const char *arg, char *ns, size_t ns_len,
			  char *name, size_t name_len)
{
	const char *slash = strchr(arg, '/');
	size_t n;

	if (!slash || slash == arg || !slash[1] || strchr(slash + 1, '/'))
		return false;
	n = (size_t)(slash - arg);
	if (n >= ns_len || strlen(slash + 1) >= name_len)
		return false;
	memcpy(ns, arg, n);
	ns[n] = '\0';
	strcpy(name, slash + 1);
	return true;
}

static bool field_eq(const char *field, size_t len, const char *s)
{
	return strlen(s) <= len && !strncmp(field, s, len) &&
	       (strlen(s) == len || field[strlen(s)] == '\0');
}

/* ---- policy list / show ---------------------------------------------- */

struct pol_row {
	__u32 id;
	struct tr_pol_info info;
};

struct pol_rows {
	struct pol_row *v;
	size_t n, cap;
};

static int collect_policy(const void *key, const void *value, void *ctx)
{
	struct pol_rows *rows = ctx;

	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 64;
		struct pol_row *v = realloc(rows->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rows->v = v;
		rows->cap = cap;
	}
	rows->v[rows->n].id = *(const __u32 *)key;
	rows->v[rows->n].info = *(const struct tr_pol_info *)value;
	rows->n++;
	return 0;
}

static int cmp_policy(const void *a, const void *b)
{
	const struct pol_row *x = a, *y = b;
	int d;

	d = strncmp(x->info.ns, y->info.ns, sizeof(x->info.ns));
	if (d)
		return d;
	d = strncmp(x->info.name, y->info.name, sizeof(x->info.name));
	if (d)
		return d;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int read_policies(const struct pol_fds *f, struct pol_rows *rows)
{
	int err;

	memset(rows, 0, sizeof(*rows));
	err = cli_map_walk(f->info, sizeof(__u32), sizeof(struct tr_pol_info),
			   collect_policy, rows);
	if (err) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_POL_INFO,
		      strerror(-err));
		return -1;
	}
	if (rows->n)
		qsort(rows->v, rows->n, sizeof(*rows->v), cmp_policy);
	return 0;
}

/* One counter of tr_pol_stat, summed; JSON null when it cannot be read. */
static void print_counter(int stat_fd, __u32 id, __u32 what, const char *key,
			  const char *fmt)
{
	__u64 sum;
	char nfmt[64];

	if (id < TR_MAX_POLICIES &&
	    !cli_percpu_u64(stat_fd, id * TR_POL_STAT_N + what, NULL, &sum)) {
		print_uint(PRINT_ANY, key, fmt, sum);
		return;
	}
	snprintf(nfmt, sizeof(nfmt), "  %s ?", key);
	print_null(PRINT_ANY, key, nfmt);
}

static void print_policy_head(const struct pol_fds *f, const struct pol_row *r)
{
	char full[POL_NAME_LEN], ns[65], name[65], selector[129];

	CLI_STRFIELD(ns, r->info.ns);
	CLI_STRFIELD(name, r->info.name);
	CLI_STRFIELD(selector, r->info.selector);
	print_string(PRINT_FP, NULL, "%s", NS_NAME(&r->info, full));
	print_uint(PRINT_ANY, "id", "  id %llu", r->id);
	print_string(PRINT_JSON, "namespace", NULL, ns);
	print_string(PRINT_JSON, "name", NULL, name);
	print_string(PRINT_ANY, "action", "  %s", action_str(r->info.action));
	print_string(PRINT_ANY, "scope", "  scope %s", scope_str(r->info.scope));
	print_opt_string("selector", "  selector %s", selector);
	print_uint(PRINT_ANY, "rules", "  rules %llu", r->info.n_rules);
	print_uint(PRINT_ANY, "selected", "  selected %llu",
		   r->info.n_selected);
	print_counter(f->stat, r->id, TR_POL_STAT_ALLOW, "allowed",
		      "  allowed %llu");
	print_counter(f->stat, r->id, TR_POL_STAT_DENY, "denied",
		      "  denied %llu");
	print_counter(f->stat, r->id, TR_POL_STAT_AUDIT, "audited",
		      "  audited %llu");
}

static int do_list(int argc, char **argv)
{
	struct pol_rows rows = {};
	struct pol_fds f;
	int ret = -1;

	if (cli_extra_args(argc, argv))
		return -1;
	fds_init(&f);
	if (open_maps(&f, true, true, false, false) ||
	    read_policies(&f, &rows))
		goto out;
	open_json_array(PRINT_JSON, NULL);
	for (size_t i = 0; i < rows.n; i++) {
		open_json_object(NULL);
		print_policy_head(&f, &rows.v[i]);
		close_json_object();
		print_nl();
	}
	close_json_array(PRINT_JSON, NULL);
	ret = 0;
out:
	free(rows.v);
	fds_close(&f);
	return ret;
}

/* Destination classes with verdict entries attributed to one policy. */
struct class_set {
	__u32 *v;
	size_t n, cap;
	__u32 policy;
};

static int class_add(struct class_set *s, __u32 c)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		__u32 *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = c;
	return 0;
}

static bool verdict_of(const struct tr_pol_verdict *v, __u32 policy)
{
	return v->policy == policy ||
	       ((v->flags & TR_VERD_F_AUDIT) && v->audit_policy == policy);
}

static int class_from_pol(const void *key, const void *value, void *ctx)
{
	const struct tr_pol_key *k = key;

	if (!verdict_of(value, ((struct class_set *)ctx)->policy))
		return 0;
	return class_add(ctx, k->dst_class);
}

static int class_from_dst(const void *key, const void *value, void *ctx)
{
	if (!verdict_of(value, ((struct class_set *)ctx)->policy))
		return 0;
	return class_add(ctx, *(const __u32 *)key);
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

struct wl_row {
	__u32 id;
	struct tr_wl_info wl;
};

struct wl_rows {
	struct wl_row *v;
	size_t n, cap;
	const struct class_set *classes;
};

static int collect_workload(const void *key, const void *value, void *ctx)
{
	const struct tr_wl_info *wl = value;
	struct wl_rows *rows = ctx;

	if (!wl->dst_class ||
	    !bsearch(&wl->dst_class, rows->classes->v, rows->classes->n,
		     sizeof(__u32), cmp_u32))
		return 0;
	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 64;
		struct wl_row *v = realloc(rows->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rows->v = v;
		rows->cap = cap;
	}
	rows->v[rows->n].id = *(const __u32 *)key;
	rows->v[rows->n].wl = *wl;
	rows->n++;
	return 0;
}

static int cmp_workload(const void *a, const void *b)
{
	const struct wl_row *x = a, *y = b;
	int d;

	d = strncmp(x->wl.ns, y->wl.ns, sizeof(x->wl.ns));
	if (d)
		return d;
	d = strncmp(x->wl.name, y->wl.name, sizeof(x->wl.name));
	if (d)
		return d;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The workloads whose destination class has verdict entries (tr_pol or
 * tr_pol_dst) deciding by, or AUDIT-matched by, policy id. */
static int selected_workloads(const struct pol_fds *f, __u32 id,
			      struct wl_rows *rows)
{
	struct class_set cs = { .policy = id };
	int err;

	memset(rows, 0, sizeof(*rows));
	err = cli_map_walk(f->pol, sizeof(struct tr_pol_key),
			   sizeof(struct tr_pol_verdict), class_from_pol, &cs);
	if (!err)
		err = cli_map_walk(f->dst, sizeof(__u32),
				   sizeof(struct tr_pol_verdict),
				   class_from_dst, &cs);
	if (err)
		goto out;
	if (cs.n)
		qsort(cs.v, cs.n, sizeof(*cs.v), cmp_u32);
	rows->classes = &cs;
	err = cli_map_walk(f->wl, sizeof(__u32), sizeof(struct tr_wl_info),
			   collect_workload, rows);
	rows->classes = NULL;
	if (!err && rows->n)
		qsort(rows->v, rows->n, sizeof(*rows->v), cmp_workload);
out:
	free(cs.v);
	return err;
}

/* The spiffe id of an identity, or "" when unknown. */
static const char *identity_str(int id_fd, __u32 identity, char *buf,
				size_t len)
{
	struct tr_id_info info;

	buf[0] = '\0';
	if (id_fd < 0 || !identity ||
	    bpf_map_lookup_elem(id_fd, &identity, &info))
		return buf;
	cli_strfield(buf, len, info.spiffe, sizeof(info.spiffe));
	return buf;
}

static void print_addr_or_null(const char *key, const char *fmt,
			       const __be32 *addr, int family, bool present)
{
	char buf[CLI_ADDR_LEN];

	if (!present) {
		print_null(PRINT_JSON, key, NULL);
		return;
	}
	print_string(PRINT_ANY, key, fmt, cli_addr(addr, family, buf,
						   sizeof(buf)));
}

static void print_workload(const struct wl_row *r, int id_fd)
{
	static const __be32 zero6[4];
	char full[POL_NAME_LEN], ns[65], name[65], node[65];
	char spiffe[TR_SPIFFE_LEN + 1];
	__be32 a4[4] = { r->wl.addr4 };

	CLI_STRFIELD(ns, r->wl.ns);
	CLI_STRFIELD(name, r->wl.name);
	CLI_STRFIELD(node, r->wl.node);
	print_string(PRINT_FP, NULL, "\tworkload %s", NS_NAME(&r->wl, full));
	print_uint(PRINT_ANY, "id", "  id %llu", r->id);
	print_string(PRINT_JSON, "namespace", NULL, ns);
	print_string(PRINT_JSON, "name", NULL, name);
	print_addr_or_null("address4", "  %s", a4, TR_AF_INET,
			   r->wl.addr4 != 0);
	print_addr_or_null("address6", "  %s", r->wl.addr6, TR_AF_INET6,
			   memcmp(r->wl.addr6, zero6, sizeof(zero6)) != 0);
	print_opt_string("node", "  node %s", node);
	print_uint(PRINT_ANY, "dst_class", "  dst_class %llu", r->wl.dst_class);
	identity_str(id_fd, r->wl.identity, spiffe, sizeof(spiffe));
	if (*spiffe)
		print_string(PRINT_ANY, "identity", "  identity %s", spiffe);
	else
		print_null(PRINT_JSON, "identity", NULL);
}

struct find_ctx {
	const char *ns, *name;
	bool found;
	__u32 id;
};

static int find_policy(const void *key, const void *value, void *ctx)
{
	const struct tr_pol_info *p = value;
	struct find_ctx *c = ctx;
	__u32 id = *(const __u32 *)key;

	if (field_eq(p->ns, sizeof(p->ns), c->ns) &&
	    field_eq(p->name, sizeof(p->name), c->name) &&
	    (!c->found || id < c->id)) {
		c->found = true;
		c->id = id;
	}
	return 0;
}

static int do_show(int argc, char **argv)
{
	char ns[65], name[65];
	struct find_ctx fc = {};
	struct wl_rows wls = {};
	struct pol_row row;
	struct pol_fds f;
	int ret = -1, err;

	if (argc < 1) {
		p_err("policy show needs NS/NAME");
		return -1;
	}
	if (!split_ns_name(argv[0], ns, sizeof(ns), name, sizeof(name))) {
		p_err("invalid policy name '%s' (expected NS/NAME)", argv[0]);
		return -1;
	}
	if (cli_extra_args(argc - 1, argv + 1))
		return -1;
	fds_init(&f);
	if (open_maps(&f, true, true, true, false))
		goto out;
	/* identities are optional here: shown when pinned */
	f.id = cli_map_try_open(TR_MAP_ID_INFO, NULL);
	fc.ns = ns;
	fc.name = name;
	err = cli_map_walk(f.info, sizeof(__u32), sizeof(struct tr_pol_info),
			   find_policy, &fc);
	if (err) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_POL_INFO,
		      strerror(-err));
		goto out;
	}
	if (!fc.found ||
	    bpf_map_lookup_elem(f.info, &fc.id, &row.info)) {
		p_err("no policy %s (trestle policy list shows the applied ones)",
		      argv[0]);
		goto out;
	}
	row.id = fc.id;
	err = selected_workloads(&f, row.id, &wls);
	if (err) {
		p_err("cannot read the verdict maps at %s: %s", bpffs,
		      strerror(-err));
		goto out;
	}

	open_json_object(NULL);
	print_policy_head(&f, &row);
	print_nl();
	open_json_array(PRINT_JSON, "workloads");
	for (size_t i = 0; i < wls.n; i++) {
		open_json_object(NULL);
		print_workload(&wls.v[i], f.id);
		close_json_object();
		print_nl();
	}
	close_json_array(PRINT_JSON, NULL);
	close_json_object();
	if (wls.n != row.info.n_selected)
		print_fp("\t(%u selected, %zu shown: those whose verdict entries name this policy)\n",
			 row.info.n_selected, wls.n);
	ret = 0;
out:
	free(wls.v);
	fds_close(&f);
	return ret;
}

/* ---- policy check ---------------------------------------------------- */

struct endpoint {
	const char *arg;
	bool by_name;        /* arg was NS/NAME */
	bool have_wl;
	__u32 wl_id;
	struct tr_wl_info wl;
	int family;          /* TR_AF_* of addr; 0 until chosen */
	__be32 addr[4];
	bool found;          /* in tr_ip{4,6}_info for the epoch */
	struct tr_ipinfo info;
	int prefix_len;      /* address bits of the matching entry, -1 unknown */
};

struct wl_find {
	const char *ns, *name;
	bool found;
	__u32 id;
	struct tr_wl_info wl;
};

static int find_workload(const void *key, const void *value, void *ctx)
{
	const struct tr_wl_info *wl = value;
	struct wl_find *c = ctx;

	if (!field_eq(wl->ns, sizeof(wl->ns), c->ns) ||
	    !field_eq(wl->name, sizeof(wl->name), c->name))
		return 0;
	c->found = true;
	c->id = *(const __u32 *)key;
	c->wl = *wl;
	return 1;
}

static bool wl_has(const struct tr_wl_info *wl, int family)
{
	static const __be32 zero6[4];

	if (family == TR_AF_INET)
		return wl->addr4 != 0;
	return memcmp(wl->addr6, zero6, sizeof(zero6)) != 0;
}

/* An address, or a workload NS/NAME from tr_wl_info. */
static int resolve_arg(const struct pol_fds *f, const char *what,
		       const char *arg, struct endpoint *ep)
{
	char ns[65], name[65];
	struct wl_find c = {};
	int err;

	memset(ep, 0, sizeof(*ep));
	ep->arg = arg;
	ep->prefix_len = -1;
	if (inet_pton(AF_INET, arg, ep->addr) == 1) {
		ep->family = TR_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, arg, ep->addr) == 1) {
		ep->family = TR_AF_INET6;
		return 0;
	}
	if (!split_ns_name(arg, ns, sizeof(ns), name, sizeof(name))) {
		p_err("invalid %s '%s' (expected a workload NS/NAME or an address)",
		      what, arg);
		return -1;
	}
	c.ns = ns;
	c.name = name;
	err = cli_map_walk(f->wl, sizeof(__u32), sizeof(struct tr_wl_info),
			   find_workload, &c);
	if (err < 0) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_WL_INFO,
		      strerror(-err));
		return -1;
	}
	if (!c.found) {
		p_err("no workload %s in %s/%s (give an address instead)", arg,
		      bpffs, TR_MAP_WL_INFO);
		return -1;
	}
	ep->by_name = true;
	ep->have_wl = true;
	ep->wl_id = c.id;
	ep->wl = c.wl;
	return 0;
}

static void use_wl_addr(struct endpoint *ep, int family)
{
	ep->family = family;
	memset(ep->addr, 0, sizeof(ep->addr));
	if (family == TR_AF_INET)
		ep->addr[0] = ep->wl.addr4;
	else
		memcpy(ep->addr, ep->wl.addr6, sizeof(ep->addr));
}

/* Both ends in one family: an address fixes it, else IPv4 if both
 * workloads have one, else IPv6. */
static int choose_family(struct endpoint *src, struct endpoint *dst)
{
	struct endpoint *eps[2] = { src, dst };
	int family = 0;

	for (int i = 0; i < 2; i++) {
		if (eps[i]->by_name)
			continue;
		if (family && family != eps[i]->family) {
			p_err("%s and %s are of different address families",
			      src->arg, dst->arg);
			return -1;
		}
		family = eps[i]->family;
	}
	if (!family)
		family = wl_has(&src->wl, TR_AF_INET) &&
				 wl_has(&dst->wl, TR_AF_INET) ?
			 TR_AF_INET : TR_AF_INET6;
	for (int i = 0; i < 2; i++) {
		if (!eps[i]->by_name)
			continue;
		if (!wl_has(&eps[i]->wl, family)) {
			p_err("workload %s has no %s address%s", eps[i]->arg,
			      family == TR_AF_INET ? "IPv4" : "IPv6",
			      src->by_name && dst->by_name ?
				      " in common with the other end" : "");
			return -1;
		}
		use_wl_addr(eps[i], family);
	}
	return 0;
}

static bool prefix_contains(const __be32 *net, const __be32 *addr,
			    unsigned int bits)
{
	const unsigned char *a = (const void *)net, *b = (const void *)addr;
	unsigned int bytes = bits / 8, rem = bits % 8;

	if (memcmp(a, b, bytes))
		return false;
	if (!rem)
		return true;
	return !((a[bytes] ^ b[bytes]) & (0xff00 >> rem));
}

/* The first bits of addr, the rest zero. */
static void mask_addr(const __be32 *addr, int bits, __be32 out[4])
{
	unsigned char *o = (unsigned char *)out;

	memcpy(out, addr, 16);
	for (int i = 0; i < 16; i++, bits -= 8) {
		if (bits >= 8)
			continue;
		o[i] &= bits > 0 ? (unsigned char)(0xff00 >> bits) : 0;
	}
}

struct lpm_find {
	const struct endpoint *ep;
	__u32 epoch;
	int best; /* address bits */
};

static int lpm_best4(const void *key, const void *value, void *ctx)
{
	const struct tr_ip4_lpm_key *k = key;
	struct lpm_find *c = ctx;
	int bits = (int)k->prefixlen - 32;

	(void)value;
	if (k->epoch == c->epoch && bits >= 0 && bits <= 32 && bits > c->best &&
	    prefix_contains(&k->addr, c->ep->addr, (unsigned int)bits))
		c->best = bits;
	return 0;
}

static int lpm_best6(const void *key, const void *value, void *ctx)
{
	const struct tr_ip6_lpm_key *k = key;
	struct lpm_find *c = ctx;
	int bits = (int)k->prefixlen - 32;

	(void)value;
	if (k->epoch == c->epoch && bits >= 0 && bits <= 128 &&
	    bits > c->best &&
	    prefix_contains(k->addr, c->ep->addr, (unsigned int)bits))
		c->best = bits;
	return 0;
}

/* The kernel's address lookup (pol_ip4 / pol_ip6), then which entry it
 * matched, for the explanation. */
static int lookup_addr(const struct pol_fds *f, __u32 epoch,
		       struct endpoint *ep)
{
	struct lpm_find c = { ep, epoch, -1 };
	int err;

	if (ep->family == TR_AF_INET) {
		struct tr_ip4_lpm_key k = {};

		k.prefixlen = 64;
		k.epoch = epoch;
		k.addr = ep->addr[0];
		if (bpf_map_lookup_elem(f->ip4, &k, &ep->info)) {
			if (errno != ENOENT)
				return -errno;
			return 0;
		}
		ep->found = true;
		err = cli_map_walk(f->ip4, sizeof(k), sizeof(struct tr_ipinfo),
				   lpm_best4, &c);
	} else {
		struct tr_ip6_lpm_key k = {};

		k.prefixlen = 160;
		k.epoch = epoch;
		memcpy(k.addr, ep->addr, sizeof(k.addr));
		if (bpf_map_lookup_elem(f->ip6, &k, &ep->info)) {
			if (errno != ENOENT)
				return -errno;
			return 0;
		}
		ep->found = true;
		err = cli_map_walk(f->ip6, sizeof(k), sizeof(struct tr_ipinfo),
				   lpm_best6, &c);
	}
	ep->prefix_len = err ? -1 : c.best;
	return 0;
}

/* "ns/name" of policy id into buf; false (buf "") when unknown. */
static bool policy_name(const struct pol_fds *f, __u32 id,
			struct tr_pol_info *info, char *buf, size_t len)
{
	buf[0] = '\0';
	memset(info, 0, sizeof(*info));
	if (!id || bpf_map_lookup_elem(f->info, &id, info))
		return false;
	ns_name(info->ns, sizeof(info->ns), info->name, sizeof(info->name),
		buf, len);
	return true;
}

static void print_endpoint(const struct pol_fds *f, const char *key,
			   const struct endpoint *ep, bool looked_up, bool src)
{
	char addr[CLI_ADDR_LEN], full[POL_NAME_LEN], prefix[CLI_ADDR_LEN + 16];
	char spiffe[TR_SPIFFE_LEN + 1] = "";
	struct tr_wl_info wl;
	bool have_wl = false;
	__u32 identity = 0;

	cli_addr(ep->addr, ep->family, addr, sizeof(addr));
	/* who the dataplane thinks it is, else what the name said */
	if (ep->found && ep->info.workload &&
	    !bpf_map_lookup_elem(f->wl, &ep->info.workload, &wl))
		have_wl = true;
	else if (ep->have_wl) {
		wl = ep->wl;
		have_wl = true;
	}
	if (ep->found)
		identity = ep->info.identity;
	else if (ep->have_wl)
		identity = ep->wl.identity;
	identity_str(f->id, identity, spiffe, sizeof(spiffe));

	open_json_object(key);
	print_fp("%-8s", key);
	if (have_wl)
		print_string(PRINT_ANY, "workload", "%s ", NS_NAME(&wl, full));
	else
		print_null(PRINT_JSON, "workload", NULL);
	print_string(PRINT_ANY, "address", "%s", addr);
	if (*spiffe)
		print_string(PRINT_ANY, "identity", "  identity %s", spiffe);
	else
		print_null(PRINT_JSON, "identity", NULL);
	if (ep->found) {
		print_uint(PRINT_ANY, "class", src ? "  src_class %llu" :
						     "  dst_class %llu",
			   src ? ep->info.src_class : ep->info.dst_class);
		if (ep->prefix_len >= 0) {
			__be32 net[4];

			mask_addr(ep->addr, ep->prefix_len, net);
			snprintf(prefix, sizeof(prefix), "%s/%d",
				 cli_addr(net, ep->family, addr, sizeof(addr)),
				 ep->prefix_len);
			print_string(PRINT_ANY, "prefix", "  (entry %s)",
				     prefix);
		} else {
			print_null(PRINT_JSON, "prefix", NULL);
		}
	} else {
		print_null(PRINT_ANY, "class",
			   looked_up ? "  (no entry in the address map)" :
				       NULL);
		print_null(PRINT_JSON, "prefix", NULL);
	}
	close_json_object();
	print_nl();
}

static int parse_port(const char *s)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !v || v > 65535)
		return -1;
	return (int)v;
}

/* What decided, found by the lookup. */
struct decision {
	bool allow;
	const char *entry;   /* "port", "all_ports", "destination_default", NULL */
	bool have_v;
	struct tr_pol_verdict v;
	const char *def;     /* "allow", "deny" or NULL */
	int reason;          /* TR_REASON_* or 0 */
	char why[512];
};

static void print_policy_ref(const struct pol_fds *f, const char *key,
			     const char *id_key, __u32 id)
{
	char name[POL_NAME_LEN];
	struct tr_pol_info info;

	if (!id) {
		print_null(PRINT_JSON, key, NULL);
		print_null(PRINT_JSON, id_key, NULL);
		return;
	}
	if (policy_name(f, id, &info, name, sizeof(name)))
		print_string(PRINT_JSON, key, NULL, name);
	else
		print_null(PRINT_JSON, key, NULL);
	print_uint(PRINT_JSON, id_key, NULL, id);
}

static void explain(const struct pol_fds *f, struct decision *d)
{
	char name[POL_NAME_LEN];
	struct tr_pol_info info;

	if (d->v.flags & TR_VERD_F_DEFAULT || !d->v.policy) {
		d->def = d->allow ? "allow" : "deny";
		snprintf(d->why, sizeof(d->why), "%s",
			 d->allow ? "no rule decided and no ALLOW policy selects the destination: allowed" :
				    "ALLOW policies select the destination and none matched: denied");
		return;
	}
	if (!policy_name(f, d->v.policy, &info, name, sizeof(name)))
		snprintf(name, sizeof(name), "#%u (not in %s)", d->v.policy,
			 TR_MAP_POL_INFO);
	if (d->v.rule == TR_RULE_NONE)
		snprintf(d->why, sizeof(d->why), "%s by %s policy %s",
			 d->allow ? "allowed" : "denied",
			 action_str(info.action), name);
	else
		snprintf(d->why, sizeof(d->why), "%s by %s policy %s rule %u",
			 d->allow ? "allowed" : "denied",
			 action_str(info.action), name, d->v.rule);
}

/* The kernel's pol_verdict(): port entry, all-ports entry, default. */
static int lookup_verdict(const struct pol_fds *f, __u32 dst_class,
			  __u32 src_class, __u16 port, struct decision *d)
{
	static const char *const entries[] = {
		[POL_V_PORT] = "port",
		[POL_V_ALL_PORTS] = "all_ports",
		[POL_V_DST_DEFAULT] = "destination_default",
	};
	int r = polmaps_verdict(f->pol, f->dst, dst_class, src_class, port, &d->v);

	if (r < 0)
		return r;
	if (r != POL_V_NONE) {
		d->entry = entries[r];
		goto found;
	}
	d->allow = false;
	d->reason = TR_REASON_POLICY_STATE;
	snprintf(d->why, sizeof(d->why),
		 "no verdict entry and no default for destination class %u (policy state inconsistent, agent mid-update?): denied, failing closed",
		 dst_class);
	return 0;
found:
	d->have_v = true;
	d->allow = d->v.action == TR_ACT_ALLOW;
	if (!d->allow)
		d->reason = d->v.flags & TR_VERD_F_DEFAULT ?
				    TR_REASON_POLICY_NO_ALLOW :
				    TR_REASON_POLICY_DENY;
	return 0;
}

static void print_decision(const struct pol_fds *f, const struct decision *d,
			   __u32 dst_class, __u32 src_class, __u16 port)
{
	const char *reason = d->reason ? abi_reason_name(d->reason) : NULL;
	bool audit = d->have_v && (d->v.flags & TR_VERD_F_AUDIT);

	print_string(PRINT_ANY, "verdict", "verdict %s",
		     d->allow ? "allow" : "deny");
	if (reason)
		print_string(PRINT_ANY, "reason", " (%s)", reason);
	else
		print_null(PRINT_JSON, "reason", NULL);
	print_nl();
	print_string(PRINT_ANY, "explanation", "because %s\n", d->why);

	if (d->have_v && d->v.policy && !(d->v.flags & TR_VERD_F_DEFAULT)) {
		print_policy_ref(f, "policy", "policy_id", d->v.policy);
		if (d->v.rule != TR_RULE_NONE)
			print_uint(PRINT_JSON, "rule", NULL, d->v.rule);
		else
			print_null(PRINT_JSON, "rule", NULL);
	} else {
		print_policy_ref(f, "policy", "policy_id", 0);
		print_null(PRINT_JSON, "rule", NULL);
	}
	if (d->def)
		print_string(PRINT_JSON, "default", NULL, d->def);
	else
		print_null(PRINT_JSON, "default", NULL);

	print_bool(PRINT_JSON, "audit", NULL, audit);
	if (audit) {
		char name[POL_NAME_LEN];
		struct tr_pol_info info;

		if (!policy_name(f, d->v.audit_policy, &info, name,
				 sizeof(name)))
			snprintf(name, sizeof(name), "#%u", d->v.audit_policy);
		print_fp("audit   AUDIT policy %s", name);
		print_policy_ref(f, "audit_policy", "audit_policy_id",
				 d->v.audit_policy);
		if (d->v.audit_rule != TR_RULE_NONE)
			print_uint(PRINT_ANY, "audit_rule", " rule %llu",
				   d->v.audit_rule);
		else
			print_null(PRINT_JSON, "audit_rule", NULL);
		print_fp(" matched: the flow is logged\n");
	} else {
		print_policy_ref(f, "audit_policy", "audit_policy_id", 0);
		print_null(PRINT_JSON, "audit_rule", NULL);
	}

	if (!d->entry) {
		print_null(PRINT_JSON, "entry", NULL);
		return;
	}
	print_string(PRINT_JSON, "entry", NULL, d->entry);
	if (!strcmp(d->entry, "destination_default"))
		print_fp("entry   %s {dst_class %u}\n", TR_MAP_POL_DST,
			 dst_class);
	else
		print_fp("entry   %s {dst_class %u, src_class %u, port %u}\n",
			 TR_MAP_POL, dst_class, src_class,
			 !strcmp(d->entry, "port") ? port : 0);
}

/* "--proto tcp" / "--proto=udp" anywhere; the rest are positional. */
static int check_args(int argc, char **argv, char **pos, int *npos,
		      int *proto)
{
	const char *v;
	int n = 0;

	*proto = TR_PROTO_TCP;
	for (int i = 0; i < argc; i++) {
		v = NULL;
		if (!strcmp(argv[i], "--proto")) {
			if (i + 1 >= argc) {
				p_err("option '--proto' needs an argument");
				return -1;
			}
			v = argv[++i];
		} else if (!strncmp(argv[i], "--proto=", 8)) {
			v = argv[i] + 8;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			p_err("unknown option '%s' for policy check (valid: --proto)",
			      argv[i]);
			return -1;
		} else {
			if (n == 3)
				return cli_extra_args(1, argv + i);
			pos[n++] = argv[i];
			continue;
		}
		*proto = abi_proto_parse(v);
		if (*proto < 0) {
			p_err("invalid --proto '%s' (expected tcp or udp)", v);
			return -1;
		}
	}
	*npos = n;
	return 0;
}

static int do_check(int argc, char **argv)
{
	struct endpoint src, dst;
	struct decision d = {};
	struct tr_pol_cfg cfg = {};
	struct pol_fds f;
	char *pos[3];
	int npos = 0, proto, port, ret = -1, err;
	__u32 zero = 0, dst_class = 0, src_class = 0;
	bool looked_up = false;

	if (check_args(argc, argv, pos, &npos, &proto))
		return -1;
	if (npos < 3) {
		p_err("policy check needs FROM TO PORT (FROM, TO: workload NS/NAME or address)");
		return -1;
	}
	port = parse_port(pos[2]);
	if (port < 0) {
		p_err("invalid PORT '%s' (expected 1 .. 65535)", pos[2]);
		return -1;
	}
	fds_init(&f);
	if (open_maps(&f, true, false, true, true))
		goto out;
	if (resolve_arg(&f, "FROM", pos[0], &src) ||
	    resolve_arg(&f, "TO", pos[1], &dst) || choose_family(&src, &dst))
		goto out;
	if (bpf_map_lookup_elem(f.cfg, &zero, &cfg)) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_POL_CFG,
		      strerror(errno));
		goto out;
	}

	if (!cfg.epoch) {
		d.allow = true;
		d.def = "allow";
		snprintf(d.why, sizeof(d.why),
			 "no policy state is loaded (epoch 0): everything allowed");
		goto print;
	}
	looked_up = true;
	err = lookup_addr(&f, cfg.epoch, &src);
	if (!err)
		err = lookup_addr(&f, cfg.epoch, &dst);
	if (err) {
		p_err("cannot look up addresses in %s/%s: %s", bpffs,
		      src.family == TR_AF_INET ? TR_MAP_IP4_INFO :
						 TR_MAP_IP6_INFO,
		      strerror(-err));
		goto out;
	}
	src_class = src.found ? src.info.src_class : 0;
	dst_class = dst.found ? dst.info.dst_class : 0;
	if (!dst_class) {
		d.allow = true;
		d.def = "allow";
		snprintf(d.why, sizeof(d.why),
			 "no policy selects the destination: allowed");
		goto print;
	}
	if (!src.found) {
		/* tc: the agent always installs a whole-space entry */
		d.allow = false;
		d.reason = TR_REASON_POLICY_STATE;
		snprintf(d.why, sizeof(d.why),
			 "the source matches no entry of %s in epoch %u (the agent installs a whole-space entry; policy state inconsistent): denied, failing closed",
			 src.family == TR_AF_INET ? TR_MAP_IP4_INFO :
						    TR_MAP_IP6_INFO,
			 cfg.epoch);
		goto print;
	}
	err = lookup_verdict(&f, dst_class, src_class, (__u16)port, &d);
	if (err) {
		p_err("cannot look up the verdict in %s: %s", bpffs,
		      strerror(-err));
		goto out;
	}
	if (d.have_v)
		explain(&f, &d);

print:
	open_json_object(NULL);
	print_decision(&f, &d, dst_class, src_class, (__u16)port);
	print_endpoint(&f, "src", &src, looked_up, true);
	print_endpoint(&f, "dst", &dst, looked_up, false);
	print_uint(PRINT_ANY, "port", "port    %llu", (__u64)port);
	print_string(PRINT_ANY, "protocol", "/%s", abi_proto_str(proto));
	print_uint(PRINT_ANY, "epoch", "  epoch %llu", cfg.epoch);
	print_nl();
	close_json_object();
	ret = 0;
out:
	fds_close(&f);
	return ret;
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (json_output) {
		print_null(PRINT_JSON, NULL, NULL);
		return 0;
	}
	fprintf(stdout,
		"Usage: %s policy { list | show NS/NAME | help }\n"
		"       %s policy check FROM TO PORT [ --proto { tcp | udp } ]\n"
		"\n"
		"  list                the applied AuthorizationPolicies: action, scope,\n"
		"                      selector, rules, workloads selected, and how many\n"
		"                      flows each allowed, denied and audited\n"
		"  show NS/NAME        one policy and the workloads it decides for\n"
		"  check FROM TO PORT  the verdict the dataplane gives a connection from\n"
		"                      FROM to TO:PORT, and which policy and rule, or\n"
		"                      which default, decided it; FROM and TO are\n"
		"                      workloads (NS/NAME) or addresses\n",
		bin_name, bin_name);
	return 0;
}

static const struct cmd cmds[] = {
	{ "list", do_list },
	{ "show", do_show },
	{ "check", do_check },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_policy(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "policy");
}
