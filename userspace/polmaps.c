// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "polmaps.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <trestle/abi.h>
#include <trestle/maps.h>
#include <trestle/xdp.h>

#include "log.h"

/* How long a program may still be using the old epoch after the flip. */
#define GRACE_NS 20000000L

uint32_t polmaps_class(uint32_t epoch, uint32_t c)
{
	if (!c)
		return 0;
	return ((epoch & 1) ? 1u << 24 : 2u << 24) | c;
}

static uint32_t class_bank(uint32_t cls)
{
	return cls >> 24;
}

/* ---- workload addresses (metrics) ------------------------------------ */

static int wla_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct wl_addr_entry *)a)->key,
		      &((const struct wl_addr_entry *)b)->key, sizeof(struct tr_wl_addr_key));
}

static int wla_adopt(int fd, struct polmaps_state *st)
{
	struct tr_wl_addr_key k, nk;
	int err = bpf_map_get_next_key(fd, NULL, &nk);

	while (!err) {
		struct wl_addr_entry *items;
		struct tr_wl_addr v;

		k = nk;
		if (!bpf_map_lookup_elem(fd, &k, &v)) {
			items = realloc(st->wla, (st->n_wla + 1) * sizeof(*items));
			if (!items)
				return -ENOMEM;
			st->wla = items;
			st->wla[st->n_wla].key = k;
			st->wla[st->n_wla].val = v;
			st->n_wla++;
		}
		err = bpf_map_get_next_key(fd, &k, &nk);
	}
	qsort(st->wla, st->n_wla, sizeof(*st->wla), wla_cmp);
	return 0;
}

/* Bring tr_wl_addr to the workloads' addresses: only metrics read it, so a
 * failure is logged, not fatal. */
static void wla_sync(int fd, struct polmaps_state *st, const struct tr_policy_compiled *pc,
		     const uint32_t *wl_ids)
{
	struct wl_addr_entry *want;
	size_t n = 0, i = 0, j = 0;

	for (size_t w = 0; w < pc->n_workloads; w++)
		n += pc->workloads[w].pod->n_ips;
	want = calloc(n + 1, sizeof(*want));
	if (!want) {
		log_warn("out of memory updating %s", TR_MAP_WL_ADDR);
		return;
	}
	n = 0;
	for (size_t w = 0; w < pc->n_workloads; w++) {
		const struct tr_pod *pod = pc->workloads[w].pod;

		for (size_t k = 0; k < pod->n_ips; k++) {
			struct wl_addr_entry *e = &want[n++];

			memcpy(e->key.addr, pod->ips[k].bytes, pod->ips[k].family == AF_INET ? 4 : 16);
			e->key.family = pod->ips[k].family == AF_INET ? TR_AF_INET : TR_AF_INET6;
			e->val.workload = wl_ids[w];
			e->val.flags = pc->workloads[w].local ? TR_WLA_F_LOCAL : 0;
		}
	}
	qsort(want, n, sizeof(*want), wla_cmp);
	while (i < n || j < st->n_wla) {
		int cmp = i == n ? 1 : j == st->n_wla ? -1 : wla_cmp(&want[i], &st->wla[j]);

		if (cmp <= 0 &&
		    (cmp < 0 || memcmp(&want[i].val, &st->wla[j].val, sizeof(want[i].val))) &&
		    bpf_map_update_elem(fd, &want[i].key, &want[i].val, BPF_ANY))
			log_warn("cannot write map %s: %s", TR_MAP_WL_ADDR, strerror(errno));
		if (cmp > 0)
			bpf_map_delete_elem(fd, &st->wla[j].key);
		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			j++;
	}
	free(st->wla);
	st->wla = want;
	st->n_wla = n;
}

/* ---- adopt ----------------------------------------------------------- */

struct walk {
	void *keys;
	size_t n, cap, ksz;
};

static int walk_push(struct walk *w, const void *key)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		void *k = realloc(w->keys, cap * w->ksz);

		if (!k)
			return -ENOMEM;
		w->keys = k;
		w->cap = cap;
	}
	memcpy((char *)w->keys + w->n * w->ksz, key, w->ksz);
	w->n++;
	return 0;
}

/* Split a map's keys into live (kept in *live) and dead (deleted). */
static int adopt_keys(int fd, size_t ksz, bool (*is_live)(const void *key, uint32_t epoch),
		      uint32_t epoch, void **live, size_t *n_live)
{
	unsigned char cur[64], next[64];
	struct walk keep = { .ksz = ksz }, dead = { .ksz = ksz };
	int err = bpf_map_get_next_key(fd, NULL, next);

	while (!err) {
		memcpy(cur, next, ksz);
		err = walk_push(is_live(cur, epoch) ? &keep : &dead, cur) ? -ENOMEM : 0;
		if (err)
			break;
		err = bpf_map_get_next_key(fd, cur, next);
	}
	for (size_t i = 0; i < dead.n; i++)
		bpf_map_delete_elem(fd, (char *)dead.keys + i * ksz);
	free(dead.keys);
	*live = keep.keys;
	*n_live = keep.n;
	return err == -ENOMEM ? err : 0;
}

static bool live_ip4(const void *k, uint32_t e) { return ((const struct tr_ip4_lpm_key *)k)->epoch == e; }
static bool live_ip6(const void *k, uint32_t e) { return ((const struct tr_ip6_lpm_key *)k)->epoch == e; }
static bool live_cg(const void *k, uint32_t e) { return ((const struct tr_cgroup_key *)k)->epoch == e; }
static bool live_pol(const void *k, uint32_t e)
{
	const struct tr_pol_key *p = k;

	return e && class_bank(p->dst_class) == class_bank(polmaps_class(e, 1));
}
static bool live_dst(const void *k, uint32_t e)
{
	return e && class_bank(*(const uint32_t *)k) == class_bank(polmaps_class(e, 1));
}

static int load_names(int fd, size_t vsz, size_t name_off, bool nsname, struct idtable *t)
{
	unsigned char val[512];
	uint32_t key, next;
	int err = bpf_map_get_next_key(fd, NULL, &next);

	while (!err) {
		key = next;
		if (!bpf_map_lookup_elem(fd, &key, val)) {
			char name[160];

			if (nsname) /* ns[64] then name[64] */
				snprintf(name, sizeof(name), "%.64s/%.64s", (char *)val,
					 (char *)val + 64);
			else
				snprintf(name, sizeof(name), "%.*s", (int)(vsz - name_off),
					 (char *)val + name_off);
			idtable_load(t, name, key);
		}
		err = bpf_map_get_next_key(fd, &key, &next);
	}
	return 0;
}

int polmaps_adopt(const struct tr_pol_fds *fds, struct polmaps_state *st)
{
	struct tr_pol_cfg cfg = {};
	__u32 zero = 0;
	void *keys;
	int err;

	memset(st, 0, sizeof(*st));
	if (idtable_init(&st->identities, TR_MAX_IDENTITIES) ||
	    idtable_init(&st->workloads, TR_MAX_WORKLOADS) ||
	    idtable_init(&st->policies, TR_MAX_POLICIES))
		return -ENOMEM;
	if (bpf_map_lookup_elem(fds->cfg, &zero, &cfg))
		return -errno;
	st->epoch = cfg.epoch;
	st->flags = cfg.flags;

	load_names(fds->id_info, sizeof(struct tr_id_info), 0, false, &st->identities);
	load_names(fds->wl_info, sizeof(struct tr_wl_info), 0, true, &st->workloads);
	load_names(fds->pol_info, sizeof(struct tr_pol_info), 0, true, &st->policies);

	if ((err = adopt_keys(fds->ip4, sizeof(*st->k4), live_ip4, st->epoch, &keys, &st->n4)))
		return err;
	st->k4 = keys;
	if ((err = adopt_keys(fds->ip6, sizeof(*st->k6), live_ip6, st->epoch, &keys, &st->n6)))
		return err;
	st->k6 = keys;
	if ((err = adopt_keys(fds->cgroup, sizeof(*st->kcg), live_cg, st->epoch, &keys, &st->ncg)))
		return err;
	st->kcg = keys;
	if ((err = adopt_keys(fds->pol, sizeof(*st->kpol), live_pol, st->epoch, &keys, &st->npol)))
		return err;
	st->kpol = keys;
	if ((err = adopt_keys(fds->pol_dst, sizeof(*st->kdst), live_dst, st->epoch, &keys, &st->ndst)))
		return err;
	st->kdst = keys;
	if (fds->xdp4_deny >= 0) {
		if ((err = adopt_keys(fds->xdp4_deny, sizeof(*st->kx4), live_ip4, st->epoch, &keys,
				      &st->nx4)))
			return err;
		st->kx4 = keys;
		if ((err = adopt_keys(fds->xdp6_deny, sizeof(*st->kx6), live_ip6, st->epoch, &keys,
				      &st->nx6)))
			return err;
		st->kx6 = keys;
	}
	return wla_adopt(fds->wl_addr, st);
}

/* ---- apply ----------------------------------------------------------- */

struct written {
	struct walk ip4, ip6, cg, pol, dst, x4, x6;
};

static void written_delete(const struct tr_pol_fds *fds, struct written *w)
{
	for (size_t i = 0; i < w->ip4.n; i++)
		bpf_map_delete_elem(fds->ip4, (char *)w->ip4.keys + i * w->ip4.ksz);
	for (size_t i = 0; i < w->ip6.n; i++)
		bpf_map_delete_elem(fds->ip6, (char *)w->ip6.keys + i * w->ip6.ksz);
	for (size_t i = 0; i < w->cg.n; i++)
		bpf_map_delete_elem(fds->cgroup, (char *)w->cg.keys + i * w->cg.ksz);
	for (size_t i = 0; i < w->pol.n; i++)
		bpf_map_delete_elem(fds->pol, (char *)w->pol.keys + i * w->pol.ksz);
	for (size_t i = 0; i < w->dst.n; i++)
		bpf_map_delete_elem(fds->pol_dst, (char *)w->dst.keys + i * w->dst.ksz);
	for (size_t i = 0; i < w->x4.n; i++)
		bpf_map_delete_elem(fds->xdp4_deny, (char *)w->x4.keys + i * w->x4.ksz);
	for (size_t i = 0; i < w->x6.n; i++)
		bpf_map_delete_elem(fds->xdp6_deny, (char *)w->x6.keys + i * w->x6.ksz);
}

static void written_free(struct written *w)
{
	free(w->ip4.keys);
	free(w->ip6.keys);
	free(w->cg.keys);
	free(w->pol.keys);
	free(w->dst.keys);
	free(w->x4.keys);
	free(w->x6.keys);
}

bool polmaps_xdp_deny_rule(const struct tr_config *cfg, const struct pc_policy *p, size_t r)
{
	const struct tr_authz_policy *ap = p->ap;
	const struct tr_authz_rule *rule;

	if (ap->action != TR_AUTHZ_DENY || ap->has_selector || !cfg ||
	    !cfg->mesh.root_namespace || strcmp(ap->ns, cfg->mesh.root_namespace) ||
	    r >= ap->n_rules)
		return false;
	rule = &ap->rules[r];
	if (rule->n_to || !rule->n_from)
		return false;
	for (size_t f = 0; f < rule->n_from; f++) {
		const struct tr_authz_source *s = &rule->from[f];

		if (!s->n_ip_blocks || s->n_principals || s->n_not_principals ||
		    s->n_namespaces || s->n_not_namespaces || s->n_not_ip_blocks)
			return false;
	}
	return true;
}

static long capacity(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	return info.max_entries;
}

static void verdict_of(const struct pc_verdict *v, const uint32_t *pol_ids,
		       struct tr_pol_verdict *out)
{
	memset(out, 0, sizeof(*out));
	out->action = v->action;
	out->flags = v->flags;
	out->rule = v->rule;
	out->policy = v->policy >= 0 ? pol_ids[v->policy] : 0;
	out->audit_policy = v->audit_policy >= 0 ? pol_ids[v->audit_policy] : 0;
	out->audit_rule = v->audit_rule;
}

static void selector_str(const struct tr_authz_policy *ap, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; ap->has_selector && i < ap->selector.n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", i ? "," : "",
					ap->selector.items[i].key,
					ap->selector.items[i].value);
}

struct info_ctx {
	int fd;
};

static void delete_info(uint32_t id, void *ctx)
{
	bpf_map_delete_elem(((struct info_ctx *)ctx)->fd, &id);
}

static void zero_percpu(int fd, uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *z = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*z)) : NULL;

	if (z)
		bpf_map_update_elem(fd, &idx, z, BPF_ANY);
	free(z);
}

#define FAIL_MAP(e, map, ...)                                  \
	do {                                                   \
		res->failed_map = (map);                          \
		FAIL(e, __VA_ARGS__);                          \
	} while (0)

#define FAIL(e, ...)                                     \
	do {                                             \
		err = (e);                               \
		snprintf(msg, len, __VA_ARGS__);         \
		goto fail;                               \
	} while (0)

static int put(int fd, const void *key, const void *val, struct walk *w)
{
	if (bpf_map_update_elem(fd, key, val, BPF_ANY))
		return -errno;
	return w ? walk_push(w, key) : 0;
}

int polmaps_apply(const struct tr_pol_fds *fds, struct polmaps_state *st,
		  const struct tr_config *cfg, const struct tr_policy_compiled *pc,
		  const struct pol_runtime *rt, uint32_t flags,
		  struct polmaps_result *res, char *msg, size_t len)
{
	struct written w = {
		.ip4 = { .ksz = sizeof(struct tr_ip4_lpm_key) },
		.ip6 = { .ksz = sizeof(struct tr_ip6_lpm_key) },
		.cg = { .ksz = sizeof(struct tr_cgroup_key) },
		.pol = { .ksz = sizeof(struct tr_pol_key) },
		.dst = { .ksz = sizeof(uint32_t) },
		.x4 = { .ksz = sizeof(struct tr_ip4_lpm_key) },
		.x6 = { .ksz = sizeof(struct tr_ip6_lpm_key) },
	};
	uint32_t epoch = st->epoch + 1 ? st->epoch + 1 : 1;
	uint32_t *id_ids = NULL, *wl_ids = NULL, *pol_ids = NULL;
	size_t need4 = 2, need6 = 2; /* the whole-space entries */
	struct tr_pol_cfg pcfg = {};
	__u32 zero = 0;
	long cap;
	int err = 0;

	memset(res, 0, sizeof(*res));
	msg[0] = '\0';
	idtable_begin(&st->identities);
	idtable_begin(&st->workloads);
	idtable_begin(&st->policies);

	/* capacity first: both epochs live at once during the switch */
	for (size_t i = 0; i < pc->n_workloads; i++)
		for (size_t j = 0; j < pc->workloads[i].pod->n_ips; j++) {
			if (pc->workloads[i].pod->ips[j].family == AF_INET)
				need4++;
			else
				need6++;
		}
	for (size_t i = 0; i < pc->n_prefixes; i++) {
		if (pc->prefixes[i].cidr.ip.family == AF_INET)
			need4++;
		else
			need6++;
	}
	if ((cap = capacity(fds->ip4)) >= 0 && (long)(st->n4 + need4) > cap)
		FAIL_MAP(-ENOSPC, TR_MAP_IP4_INFO, "map %s would need %zu entries, capacity %ld (hint: fewer workloads or ipBlocks)", TR_MAP_IP4_INFO, st->n4 + need4, cap);
	if ((cap = capacity(fds->ip6)) >= 0 && (long)(st->n6 + need6) > cap)
		FAIL_MAP(-ENOSPC, TR_MAP_IP6_INFO, "map %s would need %zu entries, capacity %ld", TR_MAP_IP6_INFO,
		     st->n6 + need6, cap);
	if ((cap = capacity(fds->pol)) >= 0 && (long)(st->npol + pc->n_entries) > cap)
		FAIL_MAP(-ENOSPC, TR_MAP_POL, "map %s would need %zu entries, capacity %ld (hint: fewer distinct principals, ports or ipBlocks per policy)", TR_MAP_POL, st->npol + pc->n_entries, cap);
	if ((cap = capacity(fds->pol_dst)) >= 0 && (long)(st->ndst + pc->n_defaults) > cap)
		FAIL_MAP(-ENOSPC, TR_MAP_POL_DST, "map %s would need %zu entries, capacity %ld", TR_MAP_POL_DST,
		     st->ndst + pc->n_defaults, cap);

	/* ids */
	id_ids = calloc(pc->n_identities + 1, sizeof(*id_ids));
	wl_ids = calloc(pc->n_workloads + 1, sizeof(*wl_ids));
	pol_ids = calloc(pc->n_policies + 1, sizeof(*pol_ids));
	if (!id_ids || !wl_ids || !pol_ids)
		FAIL(-ENOMEM, "out of memory");
	for (size_t i = 0; i < pc->n_identities; i++) {
		bool fresh = false;
		struct tr_id_info info = {};

		id_ids[i] = idtable_get(&st->identities, pc->identities[i], &fresh);
		if (!id_ids[i])
			FAIL_MAP(-ENOSPC, TR_MAP_ID_INFO, "map %s is full (%u identities)", TR_MAP_ID_INFO,
			     TR_MAX_IDENTITIES);
		if (!fresh)
			continue;
		snprintf(info.spiffe, sizeof(info.spiffe), "%s", pc->identities[i]);
		if (bpf_map_update_elem(fds->id_info, &id_ids[i], &info, BPF_ANY))
			FAIL_MAP(-errno, TR_MAP_ID_INFO, "cannot write map %s: %s", TR_MAP_ID_INFO, strerror(errno));
	}
	for (size_t i = 0; i < pc->n_policies; i++) {
		const struct tr_authz_policy *ap = pc->policies[i].ap;
		struct tr_pol_info info = {};
		char name[160];
		bool fresh = false;

		snprintf(name, sizeof(name), "%s/%s", ap->ns, ap->name);
		pol_ids[i] = idtable_get(&st->policies, name, &fresh);
		if (!pol_ids[i])
			FAIL_MAP(-ENOSPC, TR_MAP_POL_INFO, "map %s is full (%u policies)", TR_MAP_POL_INFO,
			     TR_MAX_POLICIES);
		snprintf(info.ns, sizeof(info.ns), "%s", ap->ns);
		snprintf(info.name, sizeof(info.name), "%s", ap->name);
		info.action = ap->action == TR_AUTHZ_DENY ? TR_POLICY_DENY :
			      ap->action == TR_AUTHZ_AUDIT ? TR_POLICY_AUDIT : TR_POLICY_ALLOW;
		info.scope = pc->policies[i].scope;
		info.n_rules = (__u16)(ap->n_rules > 0xffff ? 0xffff : ap->n_rules);
		info.n_selected = pc->policies[i].n_selected;
		selector_str(ap, info.selector, sizeof(info.selector));
		if (bpf_map_update_elem(fds->pol_info, &pol_ids[i], &info, BPF_ANY))
			FAIL_MAP(-errno, TR_MAP_POL_INFO, "cannot write map %s: %s", TR_MAP_POL_INFO, strerror(errno));
		if (fresh)
			for (uint32_t k = 0; k < TR_POL_STAT_N; k++)
				zero_percpu(fds->pol_stat, pol_ids[i] * TR_POL_STAT_N + k);
	}

	/* the new epoch: addresses, cgroups, verdicts */
	for (size_t i = 0; i < pc->n_workloads; i++) {
		const struct pc_workload *wl = &pc->workloads[i];
		const struct tr_pod *pod = wl->pod;
		struct tr_ipinfo v = {};
		struct tr_wl_info info = {};
		char name[160];

		snprintf(name, sizeof(name), "%s/%s", pod->ns, pod->name);
		wl_ids[i] = idtable_get(&st->workloads, name, NULL);
		if (!wl_ids[i])
			FAIL_MAP(-ENOSPC, TR_MAP_WL_INFO, "map %s is full (%u workloads)", TR_MAP_WL_INFO,
			     TR_MAX_WORKLOADS);
		v.src_class = polmaps_class(epoch, wl->src_class);
		v.dst_class = polmaps_class(epoch, wl->dst_class);
		v.identity = id_ids[wl->identity];
		v.workload = wl_ids[i];
		v.ifindex = wl->local && rt ? rt[i].ifindex : 0;
		v.flags = TR_IP_F_WORKLOAD | (wl->local ? TR_IP_F_LOCAL : 0);

		snprintf(info.ns, sizeof(info.ns), "%s", pod->ns);
		snprintf(info.name, sizeof(info.name), "%s", pod->name);
		{
			const char *wl = labels_get(&pod->labels, "service.istio.io/canonical-name");

			if (!wl)
				wl = labels_get(&pod->labels, "app.kubernetes.io/name");
			if (!wl)
				wl = labels_get(&pod->labels, "app");
			snprintf(info.workload, sizeof(info.workload), "%s", wl ? wl : pod->name);
		}
		snprintf(info.node, sizeof(info.node), "%s", pod->node ? pod->node : "");
		info.identity = v.identity;
		info.ifindex = v.ifindex;
		info.src_class = v.src_class;
		info.dst_class = v.dst_class;
		for (size_t j = 0; j < pod->n_ips; j++) {
			const struct tr_ip *ip = &pod->ips[j];

			if (ip->family == AF_INET) {
				struct tr_ip4_lpm_key k = { .prefixlen = 64, .epoch = epoch };

				memcpy(&k.addr, ip->bytes, 4);
				if (!info.addr4)
					info.addr4 = k.addr;
				if ((err = put(fds->ip4, &k, &v, &w.ip4)))
					FAIL_MAP(err, TR_MAP_IP4_INFO, "cannot write map %s: %s", TR_MAP_IP4_INFO, strerror(-err));
			} else {
				struct tr_ip6_lpm_key k = { .prefixlen = 160, .epoch = epoch };

				memcpy(k.addr, ip->bytes, 16);
				if (!(info.addr6[0] | info.addr6[1] | info.addr6[2] | info.addr6[3]))
					memcpy(info.addr6, ip->bytes, 16);
				if ((err = put(fds->ip6, &k, &v, &w.ip6)))
					FAIL_MAP(err, TR_MAP_IP6_INFO, "cannot write map %s: %s", TR_MAP_IP6_INFO, strerror(-err));
			}
			res->addresses++;
		}
		if (wl->local && rt && rt[i].cgroup_id) {
			struct tr_cgroup_key k = { .epoch = epoch, .cgroup_id = rt[i].cgroup_id };

			if ((err = put(fds->cgroup, &k, &v, &w.cg)))
				FAIL_MAP(err, TR_MAP_CGROUP, "cannot write map %s: %s", TR_MAP_CGROUP, strerror(-err));
			res->cgroups++;
		}
		if (bpf_map_update_elem(fds->wl_info, &wl_ids[i], &info, BPF_ANY))
			FAIL_MAP(-errno, TR_MAP_WL_INFO, "cannot write map %s: %s", TR_MAP_WL_INFO, strerror(errno));
	}
	for (size_t i = 0; i < pc->n_prefixes; i++) {
		const struct pc_prefix *p = &pc->prefixes[i];
		struct tr_ipinfo v = { .src_class = polmaps_class(epoch, p->src_class) };

		if (p->cidr.ip.family == AF_INET) {
			struct tr_ip4_lpm_key k = { .prefixlen = 32u + p->cidr.prefixlen, .epoch = epoch };

			memcpy(&k.addr, p->cidr.ip.bytes, 4);
			if ((err = put(fds->ip4, &k, &v, &w.ip4)))
				FAIL_MAP(err, TR_MAP_IP4_INFO, "cannot write map %s: %s", TR_MAP_IP4_INFO, strerror(-err));
		} else {
			struct tr_ip6_lpm_key k = { .prefixlen = 32u + p->cidr.prefixlen, .epoch = epoch };

			memcpy(k.addr, p->cidr.ip.bytes, 16);
			if ((err = put(fds->ip6, &k, &v, &w.ip6)))
				FAIL_MAP(err, TR_MAP_IP6_INFO, "cannot write map %s: %s", TR_MAP_IP6_INFO, strerror(-err));
		}
		res->addresses++;
	}
	{
		/* every other address: the world class (LPM /0 under the epoch) */
		struct tr_ipinfo v = { .src_class = polmaps_class(epoch, pc->world_src_class) };
		struct tr_ip4_lpm_key k4 = { .prefixlen = 32, .epoch = epoch };
		struct tr_ip6_lpm_key k6 = { .prefixlen = 32, .epoch = epoch };

		if ((err = put(fds->ip4, &k4, &v, &w.ip4)) || (err = put(fds->ip6, &k6, &v, &w.ip6)))
			FAIL(err, "cannot write the whole-space address entries: %s", strerror(-err));
	}
	for (size_t i = 0; i < pc->n_entries; i++) {
		const struct pc_entry *e = &pc->entries[i];
		struct tr_pol_key k = {
			.dst_class = polmaps_class(epoch, e->dst_class),
			.src_class = polmaps_class(epoch, e->src_class),
			.port = e->port,
		};
		struct tr_pol_verdict v;

		verdict_of(&e->v, pol_ids, &v);
		if ((err = put(fds->pol, &k, &v, &w.pol)))
			FAIL_MAP(err, TR_MAP_POL, "cannot write map %s: %s", TR_MAP_POL, strerror(-err));
	}
	for (size_t i = 0; i < pc->n_defaults; i++) {
		uint32_t k = polmaps_class(epoch, pc->defaults[i].dst_class);
		struct tr_pol_verdict v;

		verdict_of(&pc->defaults[i].v, pol_ids, &v);
		if ((err = put(fds->pol_dst, &k, &v, &w.dst)))
			FAIL_MAP(err, TR_MAP_POL_DST, "cannot write map %s: %s", TR_MAP_POL_DST, strerror(-err));
	}

	/* the uplink's early deny (xdp.h), under the same epoch */
	for (size_t i = 0; fds->xdp4_deny >= 0 && i < pc->n_policies; i++) {
		const struct tr_authz_policy *ap = pc->policies[i].ap;

		for (size_t r = 0; r < ap->n_rules; r++) {
			if (!polmaps_xdp_deny_rule(cfg, &pc->policies[i], r))
				continue;
			for (size_t f = 0; f < ap->rules[r].n_from; f++) {
				const struct tr_authz_source *src = &ap->rules[r].from[f];

				for (size_t b = 0; b < src->n_ip_blocks; b++) {
					const struct tr_cidr *c = &src->ip_blocks[b];
					struct tr_xdp_deny v = { .policy = pol_ids[i],
								 .rule = (__u16)r };

					if (c->ip.family == AF_INET) {
						struct tr_ip4_lpm_key k = { .prefixlen = 32u + c->prefixlen,
									    .epoch = epoch };

						memcpy(&k.addr, c->ip.bytes, 4);
						err = put(fds->xdp4_deny, &k, &v, &w.x4);
					} else {
						struct tr_ip6_lpm_key k = { .prefixlen = 32u + c->prefixlen,
									    .epoch = epoch };

						memcpy(k.addr, c->ip.bytes, 16);
						err = put(fds->xdp6_deny, &k, &v, &w.x6);
					}
					if (err)
						FAIL_MAP(err, c->ip.family == AF_INET ? TR_MAP_XDP4_DENY : TR_MAP_XDP6_DENY,
							 "cannot write the uplink's deny map: %s", strerror(-err));
					res->xdp_deny++;
				}
			}
		}
	}

	/* flip: from here on programs see the new epoch */
	pcfg.epoch = epoch;
	pcfg.flags = flags | (w.x4.n || w.x6.n ? TR_POL_F_XDP_DENY : 0);
	if (bpf_map_update_elem(fds->cfg, &zero, &pcfg, BPF_ANY))
		FAIL_MAP(-errno, TR_MAP_POL_CFG, "cannot write map %s: %s", TR_MAP_POL_CFG, strerror(errno));

	/* a program that read the old epoch just before the flip finishes
	 * within microseconds; wait well past that before removing it */
	{
		struct timespec ts = { 0, GRACE_NS };

		nanosleep(&ts, NULL);
	}
	{
		struct written old = {
			.ip4 = { .keys = st->k4, .n = st->n4, .ksz = sizeof(*st->k4) },
			.ip6 = { .keys = st->k6, .n = st->n6, .ksz = sizeof(*st->k6) },
			.cg = { .keys = st->kcg, .n = st->ncg, .ksz = sizeof(*st->kcg) },
			.pol = { .keys = st->kpol, .n = st->npol, .ksz = sizeof(*st->kpol) },
			.dst = { .keys = st->kdst, .n = st->ndst, .ksz = sizeof(*st->kdst) },
			.x4 = { .keys = st->kx4, .n = st->nx4, .ksz = sizeof(*st->kx4) },
			.x6 = { .keys = st->kx6, .n = st->nx6, .ksz = sizeof(*st->kx6) },
		};

		written_delete(fds, &old);
		written_free(&old);
	}
	{
		struct info_ctx c = { fds->id_info };

		idtable_sweep(&st->identities, delete_info, &c);
		c.fd = fds->wl_info;
		idtable_sweep(&st->workloads, delete_info, &c);
		c.fd = fds->pol_info;
		idtable_sweep(&st->policies, delete_info, &c);
	}
	wla_sync(fds->wl_addr, st, pc, wl_ids);
	st->epoch = epoch;
	st->flags = flags;
	st->k4 = w.ip4.keys;
	st->n4 = w.ip4.n;
	st->k6 = w.ip6.keys;
	st->n6 = w.ip6.n;
	st->kcg = w.cg.keys;
	st->ncg = w.cg.n;
	st->kpol = w.pol.keys;
	st->npol = w.pol.n;
	st->kdst = w.dst.keys;
	st->ndst = w.dst.n;
	st->kx4 = w.x4.keys;
	st->nx4 = w.x4.n;
	st->kx6 = w.x6.keys;
	st->nx6 = w.x6.n;
	res->epoch = epoch;
	res->verdicts = pc->n_entries;
	res->classes_src = pc->n_src_classes;
	res->classes_dst = pc->n_dst_classes;
	free(id_ids);
	free(wl_ids);
	free(pol_ids);
	return 0;

fail:
	written_delete(fds, &w);
	written_free(&w);
	{
		struct info_ctx c = { fds->id_info };

		idtable_rollback(&st->identities, delete_info, &c);
		c.fd = fds->wl_info;
		idtable_rollback(&st->workloads, delete_info, &c);
		c.fd = fds->pol_info;
		idtable_rollback(&st->policies, delete_info, &c);
	}
	free(id_ids);
	free(wl_ids);
	free(pol_ids);
	return err;
}

void polmaps_free(struct polmaps_state *st)
{
	free(st->wla);
	idtable_free(&st->identities);
	idtable_free(&st->workloads);
	idtable_free(&st->policies);
	free(st->k4);
	free(st->k6);
	free(st->kcg);
	free(st->kpol);
	free(st->kdst);
	free(st->kx4);
	free(st->kx6);
	memset(st, 0, sizeof(*st));
}

int polmaps_verdict(int pol_fd, int pol_dst_fd, uint32_t dst_class, uint32_t src_class,
		    uint16_t port, struct tr_pol_verdict *v)
{
	struct tr_pol_key k = { .dst_class = dst_class, .src_class = src_class, .port = port };

	if (!bpf_map_lookup_elem(pol_fd, &k, v))
		return POL_V_PORT;
	if (errno != ENOENT)
		return -errno;
	k.port = 0;
	if (!bpf_map_lookup_elem(pol_fd, &k, v))
		return POL_V_ALL_PORTS;
	if (errno != ENOENT)
		return -errno;
	if (!bpf_map_lookup_elem(pol_dst_fd, &dst_class, v))
		return POL_V_DST_DEFAULT;
	return errno == ENOENT ? POL_V_NONE : -errno;
}
