// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The uplink load balancer's maps from its compiled state (xdpmaps.h). */
#include "xdpmaps.h"
#include "log.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One write, and how to undo it. */
struct undo {
	int fd;
	unsigned char key[sizeof(struct tr_lb6_key)];
	unsigned char old[sizeof(struct tr_xdp_be)];
	bool had_old;
};

struct undo_log {
	struct undo *u;
	size_t n;
};

/* Write key -> val, remembering what was there. 0 or -errno. */
static int put(struct undo_log *log, int fd, const void *key, size_t ksz, const void *val,
	       size_t vsz)
{
	struct undo *u = realloc(log->u, (log->n + 1) * sizeof(*u));

	if (!u)
		return -ENOMEM;
	log->u = u;
	u = &u[log->n];
	memset(u, 0, sizeof(*u));
	u->fd = fd;
	memcpy(u->key, key, ksz);
	u->had_old = vsz <= sizeof(u->old) && !bpf_map_lookup_elem(fd, key, u->old);
	if (bpf_map_update_elem(fd, key, val, BPF_ANY))
		return -errno;
	log->n++;
	return 0;
}

static void undo_all(struct undo_log *log)
{
	for (size_t i = log->n; i-- > 0;) {
		struct undo *u = &log->u[i];

		if (u->had_old)
			bpf_map_update_elem(u->fd, u->key, u->old, BPF_ANY);
		else
			bpf_map_delete_elem(u->fd, u->key);
	}
}

/* The port bitmap (include/trestle/xdp.h) as a previous agent left it
 * (read once, at adoption; then the state holds what was written).
 * 0 or -errno. */
static int ports_read(int fd, uint64_t *words)
{
	for (uint32_t w = 0; w < TR_XDP_PORT_WORDS; w++)
		if (bpf_map_lookup_elem(fd, &w, &words[w]))
			return -errno;
	return 0;
}

static long capacity(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -1;
	return info.max_entries;
}

static void be_key(const struct tr_xdp_be *v, struct tr_ip *ip, uint16_t *port)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = v->family == TR_AF_INET ? AF_INET : AF_INET6;
	memcpy(ip->bytes, v->addr, ip->family == AF_INET ? 4 : 16);
	*port = ntohs(v->port);
}

static void vip_key(const struct tr_ip *ip, uint16_t port, uint8_t proto, struct xdpmaps_vip *k)
{
	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)ip->family;
	if (ip->family == AF_INET) {
		struct tr_lb4_key k4 = {};

		memcpy(&k4.addr, ip->bytes, 4);
		k4.port = htons(port);
		k4.proto = proto;
		memcpy(&k->key, &k4, sizeof(k4));
	} else {
		memcpy(k->key.addr, ip->bytes, 16);
		k->key.port = htons(port);
		k->key.proto = proto;
	}
}

/* Order of backends: what identifies them (family, address, port). */
static int be_cmp(const void *a, const void *b)
{
	const struct tr_xdp_be *x = &((const struct xdpmaps_be *)a)->val;
	const struct tr_xdp_be *y = &((const struct xdpmaps_be *)b)->val;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if ((c = memcmp(x->addr, y->addr, sizeof(x->addr))))
		return c;
	return x->port == y->port ? 0 : ntohs(x->port) < ntohs(y->port) ? -1 : 1;
}

/* Order of keys: family, then the key's bytes (used is not compared). */
static int vip_cmp(const void *a, const void *b)
{
	const struct xdpmaps_vip *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* One more adopted VIP key of family (len bytes: tr_lb4_key or _lb6_). */
static int vip_add(struct xdpmaps_state *st, uint8_t family, const void *key, size_t len)
{
	struct xdpmaps_vip *v = realloc(st->vips, (st->n_vips + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	st->vips = v;
	v = &v[st->n_vips++];
	memset(v, 0, sizeof(*v));
	v->family = family;
	memcpy(&v->key, key, len);
	return 0;
}

/*
 * The backend array's ids in use (family set), read in batches: one
 * system call per 4096 ids instead of one per id.
 */
static int adopt_backends(int fd, struct xdpmaps_state *st)
{
	enum { CHUNK = 4096 };
	uint32_t *keys = calloc(CHUNK, sizeof(*keys)), in = 0, out = 0;
	struct tr_xdp_be *vals = calloc(CHUNK, sizeof(*vals));
	bool first = true, done = false;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	while (!done) {
		__u32 count = CHUNK;

		if (bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &count, NULL)) {
			if (errno != ENOENT) {
				err = -errno;
				goto out;
			}
			done = true; /* the last batch, possibly partial */
		}
		first = false;
		in = out;
		for (__u32 i = 0; i < count; i++) {
			struct xdpmaps_be *b;

			if (!vals[i].family)
				continue;
			b = realloc(st->bes, (st->n_bes + 1) * sizeof(*b));
			if (!b) {
				err = -ENOMEM;
				goto out;
			}
			st->bes = b;
			st->bes[st->n_bes++] = (struct xdpmaps_be){ .id = keys[i], .val = vals[i] };
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

int xdpmaps_adopt(const struct xdp_fds *f, struct xdpmaps_state *st)
{
	uint32_t k, next, *prev = NULL;
	int err;
	struct tr_lb6_key k6, n6, *p6 = NULL;
	struct tr_lb4_key k4, n4, *p4 = NULL;

	memset(st, 0, sizeof(*st));
	st->next_ring = 1;
	if ((err = adopt_backends(f->be, st)) || (err = ports_read(f->ports, st->ports)))
		return err;
	while (!bpf_map_get_next_key(f->ring, prev, &next)) {
		struct xdpmaps_ring *r = realloc(st->rings, (st->n_rings + 1) * sizeof(*r));

		if (!r)
			return -ENOMEM;
		st->rings = r;
		r[st->n_rings++] = (struct xdpmaps_ring){ .id = next };
		if (next >= st->next_ring)
			st->next_ring = next + 1;
		k = next;
		prev = &k;
	}
	while (!bpf_map_get_next_key(f->vip4, p4, &n4)) {
		if (vip_add(st, AF_INET, &n4, sizeof(n4)))
			return -ENOMEM;
		k4 = n4;
		p4 = &k4;
	}
	while (!bpf_map_get_next_key(f->vip6, p6, &n6)) {
		if (vip_add(st, AF_INET6, &n6, sizeof(n6)))
			return -ENOMEM;
		k6 = n6;
		p6 = &k6;
	}
	return 0;
}

static uint32_t svc_id_of(const struct tr_applied *a, const struct tr_cservice *cs)
{
	for (size_t i = 0; a && i < a->n_svcs; i++)
		if (a->svcs[i].port == cs->port && a->svcs[i].proto == cs->proto &&
		    tr_ip_equal(&a->svcs[i].vip, &cs->vip))
			return a->svcs[i].svc_id;
	return 0;
}

/* Is ip:port still something a flow may drain to? */
static bool still_known(const struct tr_config *cfg, const struct tr_compiled *comp,
			const struct tr_ip *ip, uint16_t port)
{
	for (size_t i = 0; i < comp->n_services; i++)
		for (size_t j = 0; j < comp->services[i].n_backends; j++)
			if (comp->services[i].backends[j].port == port &&
			    tr_ip_equal(&comp->services[i].backends[j].ip, ip))
				return true;
	for (size_t i = 0; cfg && i < cfg->n_pods; i++)
		for (size_t j = 0; j < cfg->pods[i].n_ips; j++)
			if (tr_ip_equal(&cfg->pods[i].ips[j], ip))
				return true;
	return false;
}

static void fill_be(const struct xdp_cbackend *b, struct tr_xdp_be *v)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->addr, b->ip.bytes, b->ip.family == AF_INET ? 4 : 16);
	v->family = b->ip.family == AF_INET ? TR_AF_INET : TR_AF_INET6;
	v->port = htons(b->port);
	if (b->local) {
		v->flags = TR_XDP_BE_F_LOCAL;
	} else {
		memcpy(v->node, b->node.bytes, b->node.family == AF_INET ? 4 : 16);
		v->node_family = b->node.family == AF_INET ? TR_AF_INET : TR_AF_INET6;
	}
}

#define FAIL(e, map, ...)                                    \
	do {                                                 \
		err = (e);                                   \
		res->failed_map = (map);                     \
		snprintf(msg, len, __VA_ARGS__);             \
		goto fail;                                   \
	} while (0)

int xdpmaps_apply(const struct xdp_fds *f, struct xdpmaps_state *st,
		  const struct xdp_compiled *x, const struct tr_compiled *comp,
		  const struct tr_applied *applied, const struct tr_config *cfg,
		  xdp_local_fn local, void *local_ctx, struct xdpmaps_result *res,
		  char *msg, size_t len)
{
	struct undo_log log = {};
	uint32_t *be_ids = calloc(x->n_backends + 1, sizeof(*be_ids));
	uint32_t *ring_ids = calloc(x->n_rings + 1, sizeof(*ring_ids));
	struct xdpmaps_vip *vips = calloc(x->n_fronts + 1, sizeof(*vips));
	struct xdpmaps_be *bes = NULL;
	struct xdpmaps_ring *rings = NULL;
	size_t n_bes = 0, n_rings = 0, n_fresh_rings = 0;
	uint32_t *fresh_rings = calloc(x->n_rings + 1, sizeof(*fresh_rings));
	size_t need4 = 0, need6 = 0;
	uint8_t *taken = NULL; /* backend ids held, a bit each */
	uint32_t next_id = 1;
	struct tr_xdp_cfg xc = {}, cur_cfg = {};
	static const struct tr_xdp_be unused; /* an id not in use: zeroes */
	uint64_t *ports_want = calloc(TR_XDP_PORT_WORDS, sizeof(uint64_t));
	size_t deleted = 0;
	uint32_t zero = 0;
	long cap;
	int err = 0;

	memset(res, 0, sizeof(*res));
	msg[0] = '\0';
	if (!be_ids || !ring_ids || !vips || !fresh_rings || !ports_want)
		FAIL(-ENOMEM, NULL, "out of memory");

	/* 1. capacity: old and new side by side at the worst moment (a key
	 * in both is updated in place) */
	for (size_t i = 0; i < st->n_vips; i++) {
		st->vips[i].used = false;
		if (st->vips[i].family == AF_INET)
			need4++;
		else
			need6++;
	}
	qsort(st->vips, st->n_vips, sizeof(*st->vips), vip_cmp);
	for (size_t i = 0; i < x->n_fronts; i++) {
		vip_key(&x->fronts[i].addr, x->fronts[i].port, x->fronts[i].proto, &vips[i]);
		if (st->n_vips &&
		    bsearch(&vips[i], st->vips, st->n_vips, sizeof(*st->vips), vip_cmp))
			continue;
		if (vips[i].family == AF_INET)
			need4++;
		else
			need6++;
	}
	if ((cap = capacity(f->vip4)) >= 0 && (long)need4 > cap)
		FAIL(-ENOSPC, TR_MAP_XDP4_VIP, "map %s would need up to %zu entries, capacity %ld (hint: fewer external addresses or ports)", TR_MAP_XDP4_VIP, need4, cap);
	if ((cap = capacity(f->vip6)) >= 0 && (long)need6 > cap)
		FAIL(-ENOSPC, TR_MAP_XDP6_VIP, "map %s would need up to %zu entries, capacity %ld", TR_MAP_XDP6_VIP, need6, cap);
	if ((cap = capacity(f->ring)) >= 0 && (long)(st->n_rings + x->n_rings) > cap)
		FAIL(-ENOSPC, TR_MAP_XDP_RING, "map %s would need up to %zu rings, capacity %ld", TR_MAP_XDP_RING, st->n_rings + x->n_rings, cap);
	if ((cap = capacity(f->be)) >= 0 && (long)(st->n_bes + x->n_backends) > cap - 1)
		FAIL(-ENOSPC, TR_MAP_XDP_BE, "map %s would need up to %zu backends, capacity %ld", TR_MAP_XDP_BE, st->n_bes + x->n_backends, cap - 1);

	/* 2. backends, under stable ids */
	for (size_t i = 0; i < st->n_bes; i++)
		st->bes[i].used = false;
	bes = calloc(st->n_bes + x->n_backends + 1, sizeof(*bes));
	if (!bes)
		FAIL(-ENOMEM, NULL, "out of memory");
	qsort(st->bes, st->n_bes, sizeof(*st->bes), be_cmp);
	taken = calloc(TR_XDP_MAX_BACKENDS / 8, 1);
	if (!taken)
		FAIL(-ENOMEM, NULL, "out of memory");
	for (size_t j = 0; j < st->n_bes; j++)
		if (st->bes[j].id < TR_XDP_MAX_BACKENDS)
			taken[st->bes[j].id / 8] |= (uint8_t)(1u << (st->bes[j].id % 8));
	for (size_t i = 0; i < x->n_backends; i++) {
		const struct xdp_cbackend *b = &x->backends[i];
		struct xdpmaps_be key = {};
		struct xdpmaps_be *old;
		struct tr_xdp_be v;
		uint32_t id = 0;

		fill_be(b, &v);
		if (b->local) {
			res->local++;
			if (!local || local(local_ctx, &b->ip, &v.ifindex, v.mac, v.dev_mac))
				res->local_missing++;
		}
		key.val = v;
		old = st->n_bes ? bsearch(&key, st->bes, st->n_bes, sizeof(*st->bes), be_cmp) : NULL;
		if (old) {
			id = old->id;
			old->used = true;
		} else {
			/* the smallest id nobody holds */
			while (next_id < TR_XDP_MAX_BACKENDS &&
			       (taken[next_id / 8] & (1u << (next_id % 8))))
				next_id++;
			if (next_id >= TR_XDP_MAX_BACKENDS)
				FAIL(-ENOSPC, TR_MAP_XDP_BE, "map %s is full", TR_MAP_XDP_BE);
			id = next_id;
			taken[id / 8] |= (uint8_t)(1u << (id % 8));
		}
		if (!old || memcmp(&old->val, &v, sizeof(v))) {
			if ((err = put(&log, f->be, &id, sizeof(id), &v, sizeof(v))))
				FAIL(err, TR_MAP_XDP_BE, "cannot write map %s: %s", TR_MAP_XDP_BE, strerror(-err));
		}
		be_ids[i] = id;
		bes[n_bes++] = (struct xdpmaps_be){ .id = id, .val = v, .used = true };
	}
	res->backends = x->n_backends;

	/* 3. rings: unchanged ones keep their id, changed ones are new arrays */
	for (size_t i = 0; i < st->n_rings; i++)
		st->rings[i].used = false;
	rings = calloc(st->n_rings + x->n_rings + 1, sizeof(*rings));
	if (!rings)
		FAIL(-ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < x->n_rings; i++) {
		const struct xdp_cring *r = &x->rings[i];
		LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_INNER_MAP);
		struct xdpmaps_ring *same = NULL;
		char name[16];
		int fd;

		if (!r->size) {
			ring_ids[i] = 0; /* no ready backend: dropped, counted */
			continue;
		}
		for (size_t j = 0; j < st->n_rings && !same; j++)
			if (st->rings[j].hash && st->rings[j].hash == r->hash)
				same = &st->rings[j];
		if (same) {
			ring_ids[i] = same->id;
			same->used = true;
			res->rings_kept++;
			continue;
		}
		snprintf(name, sizeof(name), "tr_xdp_r%u", st->next_ring);
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(uint32_t), sizeof(uint32_t),
				    r->size, &mo);
		if (fd < 0)
			FAIL(-errno, TR_MAP_XDP_RING, "cannot create a ring of %u slots: %s", r->size, strerror(errno));
		for (uint32_t s = 0; s < r->size && !err; s++) {
			uint32_t id = be_ids[r->slots[s]];

			if (bpf_map_update_elem(fd, &s, &id, BPF_ANY))
				err = -errno;
		}
		if (!err) {
			uint32_t rid = st->next_ring;

			if (bpf_map_update_elem(f->ring, &rid, &fd, BPF_NOEXIST))
				err = -errno;
		}
		close(fd);
		if (err)
			FAIL(err, TR_MAP_XDP_RING, "cannot write map %s: %s", TR_MAP_XDP_RING, strerror(-err));
		ring_ids[i] = st->next_ring;
		fresh_rings[n_fresh_rings++] = st->next_ring;
		rings[n_rings++] = (struct xdpmaps_ring){ .id = st->next_ring, .hash = r->hash,
							  .used = true };
		st->next_ring++;
		res->rings_written++;
	}

	/* 4. the external keys, their ports' bits first (old | new: a port
	 * still in use by an old key keeps its bit until step 5) */
	for (size_t i = 0; i < x->n_fronts; i++)
		ports_want[x->fronts[i].port / 64] |= 1ull << (x->fronts[i].port % 64);
	for (uint32_t w = 0; w < TR_XDP_PORT_WORDS; w++) {
		uint64_t v = st->ports[w] | ports_want[w];

		if (v != st->ports[w] &&
		    (err = put(&log, f->ports, &w, sizeof(w), &v, sizeof(v))))
			FAIL(err, TR_MAP_XDP_PORTS, "cannot write map %s: %s", TR_MAP_XDP_PORTS, strerror(-err));
	}
	for (size_t i = 0; i < x->n_fronts; i++) {
		const struct xdp_cfront *fr = &x->fronts[i];
		const struct xdp_cring *r = &x->rings[fr->ring];
		struct tr_xdp_svc v = {
			.svc_id = svc_id_of(applied, &comp->services[r->svc]),
			.ring = ring_ids[fr->ring],
			.ring_size = r->size,
		};
		int fd = vips[i].family == AF_INET ? f->vip4 : f->vip6;
		size_t ksz = vips[i].family == AF_INET ? sizeof(struct tr_lb4_key) :
			     sizeof(struct tr_lb6_key);

		if ((err = put(&log, fd, &vips[i].key, ksz, &v, sizeof(v))))
			FAIL(err, fd == f->vip4 ? TR_MAP_XDP4_VIP : TR_MAP_XDP6_VIP,
			     "cannot write map %s: %s",
			     fd == f->vip4 ? TR_MAP_XDP4_VIP : TR_MAP_XDP6_VIP, strerror(-err));
		vips[i].used = true;
		{
			struct xdpmaps_vip *o = st->n_vips ?
				bsearch(&vips[i], st->vips, st->n_vips, sizeof(*st->vips), vip_cmp) :
				NULL;

			if (o)
				o->used = true;
		}
	}
	res->fronts = x->n_fronts;

	/* this node's underlay addresses and the seed */
	if (x->node4.family)
		memcpy(&xc.node4, x->node4.bytes, 4);
	if (x->node6.family)
		memcpy(xc.node6, x->node6.bytes, 16);
	xc.hash_seed = x->seed;
	if (!bpf_map_lookup_elem(f->cfg, &zero, &cur_cfg))
		xc.gen = cur_cfg.gen + 1; /* keys were written: check connections */
	if ((err = put(&log, f->cfg, &zero, sizeof(zero), &xc, sizeof(xc))))
		FAIL(err, TR_MAP_XDP_CFG, "cannot write map %s: %s", TR_MAP_XDP_CFG, strerror(-err));

	/* 5. the new state is live: remove what nothing points to */
	for (size_t i = 0; i < st->n_vips; i++) {
		if (st->vips[i].used)
			continue;
		bpf_map_delete_elem(st->vips[i].family == AF_INET ? f->vip4 : f->vip6,
				    &st->vips[i].key);
		deleted++;
	}
	if (deleted) {
		/* once more, now that the old keys are gone: a connection
		 * entry checked against one of them in the meantime carries
		 * the generation before this one */
		xc.gen++;
		if (bpf_map_update_elem(f->cfg, &zero, &xc, BPF_ANY))
			log_warn("cannot write map %s: %s (established flows to removed external addresses may still be balanced until the next apply)",
				 TR_MAP_XDP_CFG, strerror(errno));
	}
	for (uint32_t w = 0; w < TR_XDP_PORT_WORDS; w++)
		if ((st->ports[w] | ports_want[w]) != ports_want[w])
			bpf_map_update_elem(f->ports, &w, &ports_want[w], BPF_ANY);
	memcpy(st->ports, ports_want, sizeof(st->ports));
	for (size_t i = 0; i < st->n_rings; i++) {
		if (st->rings[i].used)
			rings[n_rings++] = st->rings[i];
		else
			bpf_map_delete_elem(f->ring, &st->rings[i].id);
	}
	for (size_t i = 0; i < st->n_bes; i++) {
		struct tr_ip ip;
		uint16_t port;

		if (st->bes[i].used)
			continue;
		be_key(&st->bes[i].val, &ip, &port);
		if (still_known(cfg, comp, &ip, port)) {
			bes[n_bes++] = st->bes[i]; /* draining */
			res->draining++;
			continue;
		}
		bpf_map_update_elem(f->be, &st->bes[i].id, &unused, BPF_ANY);
	}
	free(st->vips);
	st->vips = vips;
	st->n_vips = x->n_fronts;
	free(st->rings);
	st->rings = rings;
	st->n_rings = n_rings;
	free(st->bes);
	st->bes = bes;
	st->n_bes = n_bes;
	st->hash = x->hash;
	free(be_ids);
	free(ring_ids);
	free(fresh_rings);
	free(taken);
	free(ports_want);
	free(log.u);
	return 0;

fail:
	undo_all(&log);
	for (size_t i = 0; i < n_fresh_rings; i++)
		bpf_map_delete_elem(f->ring, &fresh_rings[i]);
	free(log.u);
	free(be_ids);
	free(ring_ids);
	free(fresh_rings);
	free(taken);
	free(ports_want);
	free(vips);
	free(bes);
	free(rings);
	return err;
}

void xdpmaps_free(struct xdpmaps_state *st)
{
	free(st->bes);
	free(st->rings);
	free(st->vips);
	memset(st, 0, sizeof(*st));
}
