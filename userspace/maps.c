// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "maps.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <trestle/maps.h>

#include "log.h"

/* ---- keys ---------------------------------------------------------- */

static void ip_to_abi(const struct tr_ip *ip, __be32 addr[4], __u8 *family)
{
	memset(addr, 0, 16);
	memcpy(addr, ip->bytes, ip->family == AF_INET ? 4 : 16);
	*family = ip->family == AF_INET ? TR_AF_INET : TR_AF_INET6;
}

static void ip_from_abi(struct tr_ip *ip, const __be32 addr[4], int family)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = family == TR_AF_INET6 ? AF_INET6 : AF_INET;
	memcpy(ip->bytes, addr, ip->family == AF_INET ? 4 : 16);
}

/* The service map and key bytes for (vip, port, proto). */
static int svc_key(const struct tr_map_fds *fds, const struct tr_ip *vip,
		   uint16_t port, uint8_t proto, void *key)
{
	if (vip->family == AF_INET) {
		struct tr_lb4_key *k = key;

		memset(k, 0, sizeof(*k));
		memcpy(&k->addr, vip->bytes, 4);
		k->port = htons(port);
		k->proto = proto;
		return fds->lb4_svc;
	}
	struct tr_lb6_key *k = key;

	memset(k, 0, sizeof(*k));
	memcpy(k->addr, vip->bytes, 16);
	k->port = htons(port);
	k->proto = proto;
	return fds->lb6_svc;
}

static int svcid_cmp(const void *pa, const void *pb)
{
	const struct tr_lb_svcinfo *a = &((const struct applied_svcid *)pa)->info;
	const struct tr_lb_svcinfo *b = &((const struct applied_svcid *)pb)->info;
	int c;

	if ((c = strcmp(a->ns, b->ns)) || (c = strcmp(a->name, b->name)) ||
	    (c = strcmp(a->port_name, b->port_name)))
		return c;
	if (a->port != b->port)
		return (int)a->port - (int)b->port;
	return (int)a->proto - (int)b->proto;
}

static int be_cmp(const void *pa, const void *pb)
{
	const struct applied_be *a = pa, *b = pb;

	if (a->svc_id != b->svc_id)
		return a->svc_id < b->svc_id ? -1 : 1;
	return compile_key_cmp(&a->ip, a->port, 0, &b->ip, b->port, 0);
}

static int asvc_cmp(const void *pa, const void *pb)
{
	const struct applied_svc *a = pa, *b = pb;

	return compile_key_cmp(&a->vip, a->port, a->proto, &b->vip, b->port, b->proto);
}

static void svcinfo_of(const struct tr_cservice *cs, struct tr_lb_svcinfo *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->ns, sizeof(info->ns), "%s", cs->ns);
	snprintf(info->name, sizeof(info->name), "%s", cs->name);
	snprintf(info->port_name, sizeof(info->port_name), "%s", cs->port_name);
	info->port = cs->port;
	info->proto = cs->proto;
}

/* ---- id allocation --------------------------------------------------- */

/* A bitmap of ids in use, to find free ones. */
struct idset {
	uint64_t *bits;
	uint32_t max; /* ids are 1 .. max-1 */
	uint32_t cursor;
};

static int idset_init(struct idset *s, uint32_t max, uint32_t cursor)
{
	s->bits = calloc(max / 64 + 1, sizeof(uint64_t));
	s->max = max;
	s->cursor = cursor && cursor < max ? cursor : 1;
	return s->bits ? 0 : -ENOMEM;
}

static void idset_mark(struct idset *s, uint32_t id)
{
	if (id < s->max)
		s->bits[id / 64] |= 1ULL << (id % 64);
}

static uint32_t idset_alloc(struct idset *s)
{
	for (uint32_t n = 0; n < s->max; n++) {
		uint32_t id = s->cursor;

		s->cursor = s->cursor + 1 >= s->max ? 1 : s->cursor + 1;
		if (!id || (s->bits[id / 64] & (1ULL << (id % 64))))
			continue;
		idset_mark(s, id);
		return id;
	}
	return 0;
}

static int rbe_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct rbe_entry *)a)->key,
		      &((const struct rbe_entry *)b)->key, sizeof(struct tr_lb_rbe_key));
}

/*
 * Bring tr_lb_rbe (backend -> service, for the accepting side's metrics)
 * to the new state: write what is new or changed, delete what is gone.
 * Only metrics depend on it, so a failure is logged, not fatal.
 */
static void rbe_sync(const struct tr_map_fds *fds, struct tr_applied *st,
		     const struct tr_compiled *c, const uint32_t *svc_ids)
{
	struct rbe_entry *want = calloc(c->n_backends + 1, sizeof(*want));
	size_t n = 0, keep = 0, i = 0, j = 0;

	if (!want) {
		log_warn("out of memory updating %s", TR_MAP_LB_RBE);
		return;
	}
	for (size_t s = 0; s < c->n_services; s++)
		for (size_t b = 0; b < c->services[s].n_backends; b++) {
			const struct tr_cbackend *cb = &c->services[s].backends[b];
			struct rbe_entry *e = &want[n++];

			ip_to_abi(&cb->ip, e->key.addr, &e->key.family);
			e->key.port = htons(cb->port);
			e->key.proto = c->services[s].proto;
			e->svc_id = svc_ids[s];
		}
	qsort(want, n, sizeof(*want), rbe_cmp);
	/* one entry per backend; a backend of two services names neither */
	for (size_t k = 0; k < n; k++) {
		if (keep && !rbe_cmp(&want[keep - 1], &want[k])) {
			if (want[keep - 1].svc_id != want[k].svc_id)
				want[keep - 1].svc_id = 0;
			continue;
		}
		want[keep++] = want[k];
	}
	n = keep;
	while (i < n || j < st->n_rbe) {
		int cmp = i == n ? 1 : j == st->n_rbe ? -1 : rbe_cmp(&want[i], &st->rbe[j]);

		if (cmp <= 0 && (cmp < 0 || want[i].svc_id != st->rbe[j].svc_id) &&
		    bpf_map_update_elem(fds->rbe, &want[i].key, &want[i].svc_id, BPF_ANY))
			log_warn("cannot write map %s: %s", TR_MAP_LB_RBE, strerror(errno));
		if (cmp > 0)
			bpf_map_delete_elem(fds->rbe, &st->rbe[j].key);
		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			j++;
	}
	free(st->rbe);
	st->rbe = want;
	st->n_rbe = n;
}

/* ---- adopt ----------------------------------------------------------- */

static int adopt_services(int fd, int family, struct tr_applied *st)
{
	union {
		struct tr_lb4_key k4;
		struct tr_lb6_key k6;
	} cur, next;
	size_t ksz = family == AF_INET ? sizeof(cur.k4) : sizeof(cur.k6);
	int err = bpf_map_get_next_key(fd, NULL, &next);

	while (!err) {
		struct tr_lb_svc val;
		struct applied_svc *a, *items;

		memcpy(&cur, &next, ksz);
		if (!bpf_map_lookup_elem(fd, &cur, &val)) {
			items = realloc(st->svcs, (st->n_svcs + 1) * sizeof(*items));
			if (!items)
				return -ENOMEM;
			st->svcs = items;
			a = &st->svcs[st->n_svcs++];
			memset(a, 0, sizeof(*a));
			if (family == AF_INET) {
				__be32 addr[4] = { cur.k4.addr };

				ip_from_abi(&a->vip, addr, TR_AF_INET);
				a->port = ntohs(cur.k4.port);
				a->proto = cur.k4.proto;
			} else {
				ip_from_abi(&a->vip, cur.k6.addr, TR_AF_INET6);
				a->port = ntohs(cur.k6.port);
				a->proto = cur.k6.proto;
			}
			a->svc_id = val.svc_id;
			a->table = val.table;
			a->n_slots = val.slots;
		}
		err = bpf_map_get_next_key(fd, &cur, &next);
	}
	return err == -ENOENT || errno == ENOENT ? 0 : -errno;
}

static int table_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Remove selection tables no service points to (a crash mid-apply). */
static int adopt_gc_tables(const struct tr_map_fds *fds, struct tr_applied *st)
{
	struct tr_lb_slot_key cur, next, *dead = NULL;
	size_t n_dead = 0, cap = 0;
	uint32_t *live;
	int err;

	live = calloc(st->n_svcs ? st->n_svcs : 1, sizeof(*live));
	if (!live)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_svcs; i++)
		live[i] = st->svcs[i].table;
	qsort(live, st->n_svcs, sizeof(*live), table_cmp);

	err = bpf_map_get_next_key(fds->slot, NULL, &next);
	while (!err) {
		cur = next;
		if (!bsearch(&cur.table, live, st->n_svcs, sizeof(*live), table_cmp)) {
			if (n_dead == cap) {
				struct tr_lb_slot_key *d;

				cap = cap ? cap * 2 : 256;
				d = realloc(dead, cap * sizeof(*d));
				if (!d) {
					err = -ENOMEM;
					goto out;
				}
				dead = d;
			}
			dead[n_dead++] = cur;
		}
		err = bpf_map_get_next_key(fds->slot, &cur, &next);
	}
	err = 0;
	for (size_t i = 0; i < n_dead; i++)
		bpf_map_delete_elem(fds->slot, &dead[i]);
	if (n_dead)
		log_info("removed %zu orphaned selection-table slots left by an interrupted update",
			 n_dead);
out:
	free(live);
	free(dead);
	return err;
}

int maps_adopt(const struct tr_map_fds *fds, struct tr_applied *st)
{
	__u32 zero = 0, key, next;
	int err;

	memset(st, 0, sizeof(*st));
	if (bpf_map_lookup_elem(fds->meta, &zero, &st->meta))
		return -errno;
	if (st->meta.magic == 0) {
		/* fresh pins */
		st->meta.magic = TR_META_MAGIC;
		st->meta.abi_version = TR_ABI_VERSION;
		st->meta.next_table = 1;
		st->meta.next_backend = 1;
		if (bpf_map_update_elem(fds->meta, &zero, &st->meta, BPF_ANY))
			return -errno;
	}

	err = adopt_services(fds->lb4_svc, AF_INET, st);
	if (!err)
		err = adopt_services(fds->lb6_svc, AF_INET6, st);
	if (err)
		return err;
	qsort(st->svcs, st->n_svcs, sizeof(*st->svcs), asvc_cmp);

	/* service ids */
	err = bpf_map_get_next_key(fds->svcinfo, NULL, &next);
	while (!err) {
		struct applied_svcid *items;

		key = next;
		items = realloc(st->ids, (st->n_ids + 1) * sizeof(*items));
		if (!items)
			return -ENOMEM;
		st->ids = items;
		memset(&items[st->n_ids], 0, sizeof(*items));
		items[st->n_ids].id = key;
		if (!bpf_map_lookup_elem(fds->svcinfo, &key, &items[st->n_ids].info))
			st->n_ids++;
		err = bpf_map_get_next_key(fds->svcinfo, &key, &next);
	}
	qsort(st->ids, st->n_ids, sizeof(*st->ids), svcid_cmp);

	/* backend ids */
	err = bpf_map_get_next_key(fds->be, NULL, &next);
	while (!err) {
		struct tr_lb_backend b;
		struct applied_be *items;

		key = next;
		if (!bpf_map_lookup_elem(fds->be, &key, &b)) {
			items = realloc(st->bes, (st->n_bes + 1) * sizeof(*items));
			if (!items)
				return -ENOMEM;
			st->bes = items;
			memset(&items[st->n_bes], 0, sizeof(*items));
			items[st->n_bes].id = key;
			items[st->n_bes].svc_id = b.svc_id;
			ip_from_abi(&items[st->n_bes].ip, b.addr, b.family);
			items[st->n_bes].port = ntohs(b.port);
			st->n_bes++;
		}
		err = bpf_map_get_next_key(fds->be, &key, &next);
	}
	qsort(st->bes, st->n_bes, sizeof(*st->bes), be_cmp);

	/* backend -> service entries */
	{
		struct tr_lb_rbe_key k, nk;
		int e = bpf_map_get_next_key(fds->rbe, NULL, &nk);

		while (!e) {
			struct rbe_entry *items;
			uint32_t svc;

			k = nk;
			if (!bpf_map_lookup_elem(fds->rbe, &k, &svc)) {
				items = realloc(st->rbe, (st->n_rbe + 1) * sizeof(*items));
				if (!items)
					return -ENOMEM;
				st->rbe = items;
				st->rbe[st->n_rbe].key = k;
				st->rbe[st->n_rbe].svc_id = svc;
				st->n_rbe++;
			}
			e = bpf_map_get_next_key(fds->rbe, &k, &nk);
		}
		qsort(st->rbe, st->n_rbe, sizeof(*st->rbe), rbe_cmp);
	}

	return adopt_gc_tables(fds, st);
}

/* ---- apply ----------------------------------------------------------- */

static long map_capacity(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	return info.max_entries;
}

/* Rollback journal: what to undo if a later step fails. */
struct undo {
	struct tr_lb_slot_key *tables; /* (table, slot count) pairs */
	size_t n_tables;
	struct undo_svc {
		int fd;
		union {
			struct tr_lb4_key k4;
			struct tr_lb6_key k6;
		} key;
		bool had_old;
		struct tr_lb_svc old;
	} *svcs;
	size_t n_svcs;
	uint32_t *new_bes;
	size_t n_new_bes;
	uint32_t *new_ids;
	size_t n_new_ids;
};

static void delete_table(int fd, uint32_t table, uint32_t n_slots)
{
	struct tr_lb_slot_key k = { .table = table };

	for (k.slot = 0; k.slot < n_slots; k.slot++)
		bpf_map_delete_elem(fd, &k);
}

static void undo_run(const struct tr_map_fds *fds, struct undo *u)
{
	/* services first, so nothing points at a table we delete */
	for (size_t i = u->n_svcs; i-- > 0;) {
		if (u->svcs[i].had_old)
			bpf_map_update_elem(u->svcs[i].fd, &u->svcs[i].key,
					    &u->svcs[i].old, BPF_ANY);
		else
			bpf_map_delete_elem(u->svcs[i].fd, &u->svcs[i].key);
	}
	for (size_t i = 0; i < u->n_tables; i++)
		delete_table(fds->slot, u->tables[i].table, u->tables[i].slot);
	for (size_t i = 0; i < u->n_new_bes; i++)
		bpf_map_delete_elem(fds->be, &u->new_bes[i]);
	for (size_t i = 0; i < u->n_new_ids; i++)
		bpf_map_delete_elem(fds->svcinfo, &u->new_ids[i]);
}

static void undo_free(struct undo *u)
{
	free(u->tables);
	free(u->svcs);
	free(u->new_bes);
	free(u->new_ids);
}

static struct applied_be *find_be(struct applied_be *bes, size_t n, uint32_t svc_id,
				  const struct tr_cbackend *b)
{
	struct applied_be probe = { .svc_id = svc_id, .ip = b->ip, .port = b->port };

	return bsearch(&probe, bes, n, sizeof(*bes), be_cmp);
}

static void zero_bestat(int fd, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *zeros;

	if (ncpu <= 0)
		return;
	zeros = calloc((size_t)ncpu, sizeof(*zeros));
	if (zeros)
		bpf_map_update_elem(fd, &id, zeros, BPF_ANY);
	free(zeros);
}

#define FAIL_MAP(e, map, ...)                                  \
	do {                                                   \
		res->failed_map = (map);                          \
		FAIL(e, __VA_ARGS__);                          \
	} while (0)

#define FAIL(e, ...)                                               \
	do {                                                       \
		err = (e);                                         \
		snprintf(err_msg, err_len, __VA_ARGS__);           \
		goto fail;                                         \
	} while (0)

int maps_apply(const struct tr_map_fds *fds, struct tr_applied *st,
	       const struct tr_compiled *c, struct apply_result *res,
	       char *err_msg, size_t err_len)
{
	struct applied_svcid *ids = NULL;
	struct applied_be *bes = NULL;
	struct applied_svc *svcs = NULL;
	uint32_t *svc_ids = NULL;
	bool *changed = NULL, *table_new = NULL;
	struct idset idset = {}, beset = {};
	struct undo u = {};
	size_t n_ids = 0, n_bes = 0, new_v4 = 0, new_v6 = 0, old_v4 = 0, old_v6 = 0;
	size_t slots_new = 0, slots_old = 0;
	struct tr_meta meta = st->meta;
	long cap;
	int err = 0;
	__u32 zero = 0;

	memset(res, 0, sizeof(*res));
	err_msg[0] = '\0';

	/* 1. service ids: keep the ids of known (service, port); new ones get fresh ids */
	ids = calloc(st->n_ids + c->n_services + 1, sizeof(*ids));
	svc_ids = calloc(c->n_services + 1, sizeof(*svc_ids));
	changed = calloc(c->n_services + 1, sizeof(*changed));
	table_new = calloc(c->n_services + 1, sizeof(*table_new));
	if (!ids || !svc_ids || !changed || !table_new)
		FAIL(-ENOMEM, "out of memory");
	memcpy(ids, st->ids, st->n_ids * sizeof(*ids));
	n_ids = st->n_ids;
	for (size_t i = 0; i < n_ids; i++)
		ids[i].used = ids[i].fresh = false;
	cap = map_capacity(fds->svcinfo);
	if (cap < 0 || idset_init(&idset, (uint32_t)cap, 1))
		FAIL(-ENOMEM, "cannot size the service id space");
	for (size_t i = 0; i < n_ids; i++)
		idset_mark(&idset, ids[i].id);
	{
		/* group the compiled services by identity (dual-stack: two VIPs) */
		struct ord {
			struct applied_svcid key;
			size_t i;
		} *ord = calloc(c->n_services + 1, sizeof(*ord));
		size_t n_old = n_ids;

		if (!ord)
			FAIL(-ENOMEM, "out of memory");
		for (size_t i = 0; i < c->n_services; i++) {
			svcinfo_of(&c->services[i], &ord[i].key.info);
			ord[i].i = i;
		}
		qsort(ord, c->n_services, sizeof(*ord), svcid_cmp);
		for (size_t g = 0; g < c->n_services;) {
			struct applied_svcid *hit;
			size_t e = g + 1;

			while (e < c->n_services && !svcid_cmp(&ord[e], &ord[g]))
				e++;
			hit = bsearch(&ord[g].key, ids, n_old, sizeof(*ids), svcid_cmp);
			if (!hit) {
				hit = &ids[n_ids++];
				*hit = ord[g].key;
				hit->fresh = true;
				hit->id = idset_alloc(&idset);
				if (!hit->id) {
					free(ord);
					FAIL_MAP(-ENOSPC, TR_MAP_LB_SVCINFO, "map %s is full: no free service id (capacity %ld)", TR_MAP_LB_SVCINFO, cap);
				}
			}
			hit->used = true;
			for (; g < e; g++)
				svc_ids[ord[g].i] = hit->id;
		}
		free(ord);
	}

	/* 2. capacity, before anything is written */
	{
		size_t i = 0, j = 0;

		while (i < c->n_services || j < st->n_svcs) {
			int cmp;

			if (i == c->n_services)
				cmp = 1;
			else if (j == st->n_svcs)
				cmp = -1;
			else
				cmp = compile_key_cmp(&c->services[i].vip, c->services[i].port,
						      c->services[i].proto, &st->svcs[j].vip,
						      st->svcs[j].port, st->svcs[j].proto);
			if (cmp <= 0) {
				const struct tr_cservice *cs = &c->services[i];
				bool same = cmp == 0 && st->svcs[j].svc_id == svc_ids[i] &&
					    st->svcs[j].table_hash &&
					    st->svcs[j].table_hash == cs->table_hash &&
					    st->svcs[j].n_slots == cs->n_slots;

				table_new[i] = !same && cs->n_slots;
				changed[i] = cmp != 0 || !same || st->svcs[j].hash != cs->hash;
				if (table_new[i])
					slots_new += cs->n_slots;
				if (cmp < 0) {
					if (cs->vip.family == AF_INET)
						new_v4++;
					else
						new_v6++;
				}
				i++;
			}
			if (cmp >= 0) {
				if (st->svcs[j].vip.family == AF_INET)
					old_v4++;
				else
					old_v6++;
				slots_old += st->svcs[j].n_slots;
				j++;
			}
		}
	}
	if ((cap = map_capacity(fds->lb4_svc)) >= 0 && (long)(old_v4 + new_v4) > cap)
		FAIL_MAP(-ENOSPC, TR_MAP_LB4_SVC, "map %s would need %zu entries, capacity %ld (hint: fewer IPv4 service ports, or a build with a larger TR_MAX_SERVICES)", TR_MAP_LB4_SVC, old_v4 + new_v4, cap);
	if ((cap = map_capacity(fds->lb6_svc)) >= 0 && (long)(old_v6 + new_v6) > cap)
		FAIL_MAP(-ENOSPC, TR_MAP_LB6_SVC, "map %s would need %zu entries, capacity %ld (hint: fewer IPv6 service ports)", TR_MAP_LB6_SVC, old_v6 + new_v6, cap);
	if ((cap = map_capacity(fds->slot)) >= 0 && (long)(slots_old + slots_new) > cap)
		FAIL_MAP(-ENOSPC, TR_MAP_LB_SLOT, "map %s would need %zu entries while switching tables, capacity %ld (hint: fewer or less skewed weights, or apply large changes in steps)", TR_MAP_LB_SLOT, slots_old + slots_new, cap);

	/* 3. backend ids */
	bes = calloc(st->n_bes + c->n_backends + 1, sizeof(*bes));
	if (!bes)
		FAIL(-ENOMEM, "out of memory");
	memcpy(bes, st->bes, st->n_bes * sizeof(*bes));
	n_bes = st->n_bes;
	for (size_t i = 0; i < n_bes; i++)
		bes[i].used = bes[i].fresh = false;
	cap = map_capacity(fds->be);
	if (cap < 0 || idset_init(&beset, (uint32_t)cap, meta.next_backend))
		FAIL(-ENOMEM, "cannot size the backend id space");
	for (size_t i = 0; i < n_bes; i++)
		idset_mark(&beset, bes[i].id);
	{
		/* every (service id, address, port) of the new state, grouped */
		struct applied_be *want = calloc(c->n_backends + 1, sizeof(*want));
		size_t n_want = 0, n_old = n_bes;

		if (!want)
			FAIL(-ENOMEM, "out of memory");
		for (size_t i = 0; i < c->n_services; i++)
			for (size_t b = 0; b < c->services[i].n_backends; b++) {
				want[n_want].svc_id = svc_ids[i];
				want[n_want].ip = c->services[i].backends[b].ip;
				want[n_want].port = c->services[i].backends[b].port;
				n_want++;
			}
		qsort(want, n_want, sizeof(*want), be_cmp);
		for (size_t w = 0; w < n_want; w++) {
			struct applied_be *hit;

			if (w && !be_cmp(&want[w], &want[w - 1]))
				continue;
			hit = bsearch(&want[w], bes, n_old, sizeof(*bes), be_cmp);
			if (!hit) {
				hit = &bes[n_bes++];
				*hit = want[w];
				hit->fresh = true;
				hit->id = idset_alloc(&beset);
				if (!hit->id) {
					free(want);
					FAIL_MAP(-ENOSPC, TR_MAP_LB_BE, "map %s is full: %zu backends, capacity %ld", TR_MAP_LB_BE, n_bes, cap);
				}
				res->be_added++;
			}
			hit->used = true;
		}
		free(want);
	}
	qsort(bes, n_bes, sizeof(*bes), be_cmp);
	qsort(ids, n_ids, sizeof(*ids), svcid_cmp);

	u.tables = calloc(c->n_services + 1, sizeof(*u.tables));
	u.svcs = calloc(c->n_services + 1, sizeof(*u.svcs));
	u.new_bes = calloc(res->be_added + 1, sizeof(*u.new_bes));
	u.new_ids = calloc(n_ids + 1, sizeof(*u.new_ids));
	if (!u.tables || !u.svcs || !u.new_bes || !u.new_ids)
		FAIL(-ENOMEM, "out of memory");

	/* 4. descriptions: service names and backends (read by the CLI) */
	for (size_t i = 0; i < n_ids; i++) {
		if (!ids[i].fresh)
			continue;
		if (bpf_map_update_elem(fds->svcinfo, &ids[i].id, &ids[i].info, BPF_ANY))
			FAIL_MAP(-errno, TR_MAP_LB_SVCINFO, "cannot write map %s: %s", TR_MAP_LB_SVCINFO, strerror(errno));
		u.new_ids[u.n_new_ids++] = ids[i].id;
	}
	for (size_t i = 0; i < c->n_services; i++) {
		const struct tr_cservice *cs = &c->services[i];

		if (!changed[i])
			continue;
		for (size_t b = 0; b < cs->n_backends; b++) {
			const struct tr_cbackend *cb = &cs->backends[b];
			struct applied_be *ab = find_be(bes, n_bes, svc_ids[i], cb);
			struct tr_lb_backend v = {};

			ip_to_abi(&cb->ip, v.addr, &v.family);
			v.port = htons(cb->port);
			v.proto = cs->proto;
			v.svc_id = svc_ids[i];
			v.flags = cb->ready ? TR_BE_F_READY : 0;
			v.slots = cb->slots;
			v.weight_ppm = cb->weight_ppm;
			snprintf(v.subset, sizeof(v.subset), "%s", cb->subset);
			snprintf(v.node, sizeof(v.node), "%s", cb->node);
			snprintf(v.zone, sizeof(v.zone), "%s", cb->zone);
			snprintf(v.pod, sizeof(v.pod), "%s", cb->pod);
			if (bpf_map_update_elem(fds->be, &ab->id, &v, BPF_ANY))
				FAIL_MAP(-errno, TR_MAP_LB_BE, "cannot write map %s: %s", TR_MAP_LB_BE, strerror(errno));
			if (ab->fresh) {
				ab->fresh = false;
				u.new_bes[u.n_new_bes++] = ab->id;
				zero_bestat(fds->bestat, ab->id);
			}
		}
	}

	/* 5. new selection tables, written in full under fresh ids */
	svcs = calloc(c->n_services + 1, sizeof(*svcs));
	if (!svcs)
		FAIL(-ENOMEM, "out of memory");
	for (size_t i = 0, j = 0; i < c->n_services; i++) {
		const struct tr_cservice *cs = &c->services[i];
		struct applied_svc *a = &svcs[i];
		const struct applied_svc *old = NULL;

		while (j < st->n_svcs &&
		       compile_key_cmp(&st->svcs[j].vip, st->svcs[j].port, st->svcs[j].proto,
				       &cs->vip, cs->port, cs->proto) < 0)
			j++;
		if (j < st->n_svcs &&
		    !compile_key_cmp(&st->svcs[j].vip, st->svcs[j].port, st->svcs[j].proto,
				     &cs->vip, cs->port, cs->proto))
			old = &st->svcs[j];

		a->vip = cs->vip;
		a->port = cs->port;
		a->proto = cs->proto;
		a->svc_id = svc_ids[i];
		a->n_slots = cs->n_slots;
		a->table_hash = cs->table_hash;
		a->hash = cs->hash;
		a->table = old && !table_new[i] ? old->table : 0;
		if (!table_new[i])
			continue;
		a->table = meta.next_table++;
		if (!meta.next_table)
			meta.next_table = 1;
		u.tables[u.n_tables].table = a->table;
		u.tables[u.n_tables].slot = 0;
		u.n_tables++;
		for (uint32_t k = 0; k < cs->n_slots; k++) {
			const struct tr_cbackend *cb = &cs->backends[cs->table[k]];
			struct tr_lb_slot_key key = { .table = a->table, .slot = k };
			struct tr_lb_slot v = {};

			ip_to_abi(&cb->ip, v.addr, &v.family);
			v.port = htons(cb->port);
			v.backend_id = find_be(bes, n_bes, svc_ids[i], cb)->id;
			if (bpf_map_update_elem(fds->slot, &key, &v, BPF_NOEXIST))
				FAIL_MAP(-errno, TR_MAP_LB_SLOT, "cannot write map %s (table %u slot %u): %s", TR_MAP_LB_SLOT, a->table, k, strerror(errno));
			u.tables[u.n_tables - 1].slot = k + 1;
			res->slots_written++;
		}
	}

	/* 6. swap each changed service to its new table: one update each */
	for (size_t i = 0, j = 0; i < c->n_services; i++) {
		const struct tr_cservice *cs = &c->services[i];
		struct undo_svc *us = &u.svcs[u.n_svcs];
		struct tr_lb_svc v = {};
		bool exists;

		while (j < st->n_svcs && asvc_cmp(&st->svcs[j], &svcs[i]) < 0)
			j++;
		exists = j < st->n_svcs && !asvc_cmp(&st->svcs[j], &svcs[i]);
		if (exists && st->svcs[j].table == svcs[i].table &&
		    st->svcs[j].svc_id == svcs[i].svc_id &&
		    st->svcs[j].n_slots == svcs[i].n_slots) {
			if (changed[i])
				res->svc_changed++;
			else
				res->svc_unchanged++;
			continue;
		}
		us->fd = svc_key(fds, &cs->vip, cs->port, cs->proto, &us->key);
		us->had_old = !bpf_map_lookup_elem(us->fd, &us->key, &us->old);
		v.svc_id = svcs[i].svc_id;
		v.table = svcs[i].table;
		v.slots = svcs[i].n_slots;
		if (bpf_map_update_elem(us->fd, &us->key, &v, BPF_ANY))
			FAIL(-errno, "cannot write map %s: %s",
			     cs->vip.family == AF_INET ? TR_MAP_LB4_SVC : TR_MAP_LB6_SVC,
			     strerror(errno));
		u.n_svcs++;
		if (exists)
			res->svc_changed++;
		else
			res->svc_added++;
	}

	/* The new state is live. From here on only removals: they cannot
	 * make a connect see a half-updated service. */

	/* 7. services that are gone, and tables no longer used */
	for (size_t j = 0, i = 0; j < st->n_svcs; j++) {
		const struct applied_svc *old = &st->svcs[j];
		union {
			struct tr_lb4_key k4;
			struct tr_lb6_key k6;
		} key;
		int fd;

		while (i < c->n_services && asvc_cmp(&svcs[i], old) < 0)
			i++;
		if (i < c->n_services && !asvc_cmp(&svcs[i], old)) {
			if (svcs[i].table != old->table && old->table) {
				delete_table(fds->slot, old->table, old->n_slots);
				res->slots_deleted += old->n_slots;
			}
			continue;
		}
		fd = svc_key(fds, &old->vip, old->port, old->proto, &key);
		bpf_map_delete_elem(fd, &key);
		if (old->table) {
			delete_table(fds->slot, old->table, old->n_slots);
			res->slots_deleted += old->n_slots;
		}
		res->svc_removed++;
	}

	/* 8. backends and service ids nothing uses any more */
	{
		size_t keep = 0;

		for (size_t i = 0; i < n_bes; i++) {
			if (!bes[i].used) {
				bpf_map_delete_elem(fds->be, &bes[i].id);
				res->be_removed++;
				continue;
			}
			bes[keep++] = bes[i];
		}
		n_bes = keep;
		keep = 0;
		for (size_t i = 0; i < n_ids; i++) {
			if (!ids[i].used) {
				bpf_map_delete_elem(fds->svcinfo, &ids[i].id);
				continue;
			}
			ids[keep++] = ids[i];
		}
		n_ids = keep;
	}

	rbe_sync(fds, st, c, svc_ids);

	/* 9. meta: the new generation */
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		meta.generation++;
		meta.applied_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
		meta.next_backend = beset.cursor;
		meta.services = (uint32_t)c->n_services;
		meta.backends = (uint32_t)c->n_backends;
		meta.config_hash = c->hash;
		if (bpf_map_update_elem(fds->meta, &zero, &meta, BPF_ANY))
			log_warn("cannot write map %s: %s", TR_MAP_META, strerror(errno));
	}

	free(st->svcs);
	free(st->ids);
	free(st->bes);
	st->svcs = svcs;
	st->n_svcs = c->n_services;
	st->ids = ids;
	st->n_ids = n_ids;
	st->bes = bes;
	st->n_bes = n_bes;
	st->meta = meta;
	free(svc_ids);
	free(changed);
	free(table_new);
	free(idset.bits);
	free(beset.bits);
	undo_free(&u);
	return 0;

fail:
	undo_run(fds, &u);
	undo_free(&u);
	free(ids);
	free(bes);
	free(svcs);
	free(svc_ids);
	free(changed);
	free(table_new);
	free(idset.bits);
	free(beset.bits);
	return err;
}

void applied_free(struct tr_applied *st)
{
	free(st->rbe);
	free(st->svcs);
	free(st->ids);
	free(st->bes);
	memset(st, 0, sizeof(*st));
}
