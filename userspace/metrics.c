// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /metrics, /healthz and /readyz (libmicrohttpd, a pool of epoll threads).
 *
 * Families and labels (no label is per connection or per client port;
 * cardinality is bounded by the configuration, as noted):
 *
 *   istio_tcp_connections_opened_total, istio_tcp_connections_closed_total,
 *   istio_tcp_sent_bytes_total, istio_tcp_received_bytes_total  counters
 *       reporter, source_workload, source_workload_namespace,
 *       source_principal, destination_workload,
 *       destination_workload_namespace, destination_principal,
 *       destination_service, destination_service_name,
 *       destination_service_namespace, connection_security_policy
 *       (tr_l4_stat, at most TR_MAX_L4_STAT series; Pods of one workload
 *       are one series, as in Istio)
 *   trestle_datapath_drops_total{reason}            counter  (tr_stats)
 *   trestle_datapath_events_total{event}            counter  (tr_stats)
 *   trestle_redirect_connections_total,
 *   trestle_redirect_bytes_total                    counters (tr_stats:
 *       same-node connections redirected socket to socket, their bytes)
 *   trestle_policy_verdicts_total{policy_namespace,policy_name,verdict}
 *                                                   counter  (per policy)
 *   trestle_lb_selections_total{service_namespace,service,protocol,
 *       service_port,backend}                       counter  (per backend)
 *   trestle_lb_backend_ready{same}                  gauge    (per backend)
 *   trestle_bpf_map_entries{map}                    gauge    (hash maps)
 *   trestle_bpf_map_capacity_entries{map}           gauge
 *   trestle_bpf_ringbuf_size_bytes{map}             gauge
 *   trestle_map_write_failures_total                counter
 *   trestle_config_reloads_total{result}            counter
 *   trestle_config_generation, trestle_policy_epoch,
 *   trestle_config_service_ports, trestle_config_backends,
 *   trestle_config_last_reload_timestamp_seconds,
 *   trestle_agent_start_time_seconds, trestle_agent_ready      gauges
 *   trestle_build_info{version,kernel,libbpf}       gauge (1)
 *   trestle_metrics_read_errors_total               counter
 *   trestle_scrape_duration_seconds                 gauge
 */
#include "metrics.h"
#include "metrics_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <trestle/abi.h>
#include <trestle/maps.h>
#include <trestle/xdp.h>
#include <trestle/metrics.h>
#include <trestle/policy.h>
#include <trestle/reasons.h>

#include "abi_fmt.h"
#include "agent_stats.h"
#include "l4read.h"
#include "log.h"
#include "pins.h"
#include "prom.h"
#include "trestle_version.h"

#define CLUSTER_DOMAIN "cluster.local"
#define BATCH 4096          /* entries per batch lookup */
#define POOL_THREADS 4      /* also the most scrapes rendered at once */
#define MAX_CONNECTIONS 512 /* open HTTP connections, all clients */
#define CONN_MEMORY (32 * 1024) /* per connection: request line + headers */
#define CONN_TIMEOUT_S 10   /* idle connections are closed */

static _Atomic uint64_t read_errors;

/* ---- map access ---------------------------------------------------------- */

struct rctx {
	struct prom_buf b;
	const char *bpffs;
	int ncpus;
};

static bool is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static size_t value_stride(const struct bpf_map_info *info, int ncpus)
{
	if (is_percpu(info->type))
		return (((size_t)info->value_size + 7) & ~(size_t)7) * (size_t)ncpus;
	return info->value_size;
}

/* Open a pinned map; -ENOENT quietly (not pinned yet), other errors counted. */
static int map_open(struct rctx *r, const char *name, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	int fd = pins_map_open(r->bpffs, name);

	if (fd < 0) {
		if (fd != -ENOENT)
			atomic_fetch_add(&read_errors, 1);
		return fd;
	}
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len)) {
		atomic_fetch_add(&read_errors, 1);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

typedef void (*entry_fn)(const void *key, const void *val, void *ctx);

/* Visit every entry by key walk (LPM tries have no batch lookup); fn NULL:
 * only count. */
static long map_walk(int fd, const struct bpf_map_info *info, size_t stride,
		     entry_fn fn, void *ctx)
{
	unsigned char *cur = calloc(1, info->key_size), *next = calloc(1, info->key_size);
	unsigned char *val = fn ? calloc(1, stride) : NULL;
	long n = -ENOMEM;
	int err;

	if (!cur || !next || (fn && !val))
		goto out;
	n = 0;
	err = bpf_map_get_next_key(fd, NULL, next);
	while (!err) {
		memcpy(cur, next, info->key_size);
		if (!fn)
			n++;
		else if (!bpf_map_lookup_elem(fd, cur, val)) {
			fn(cur, val, ctx);
			n++;
		}
		err = bpf_map_get_next_key(fd, cur, next);
	}
out:
	free(cur);
	free(next);
	free(val);
	return n;
}

/* Visit every entry of a hash-like map (per-CPU values: ncpus slots), by
 * batches of BATCH entries. fn NULL: only count. Returns the count or -errno. */
static long map_each(struct rctx *r, int fd, const struct bpf_map_info *info,
		     entry_fn fn, void *ctx)
{
	size_t stride = value_stride(info, r->ncpus);
	unsigned char *keys = calloc(BATCH, info->key_size);
	unsigned char *vals = calloc(BATCH, stride);
	/* the position token: a u32 for hash maps, but a whole key for maps
	 * on the generic batch code (arrays, LPM tries) */
	void *token = calloc(1, info->key_size > 8 ? info->key_size : 8);
	bool first = true;
	long n = 0;

	if (!keys || !vals || !token) {
		n = -ENOMEM;
		goto out;
	}
	for (;;) {
		__u32 cnt = BATCH;
		int err = bpf_map_lookup_batch(fd, first ? NULL : token, token, keys,
					       vals, &cnt, NULL);

		if (err && err != -ENOENT) {
			if (first) { /* not supported for this map type */
				free(keys);
				free(vals);
				free(token);
				return map_walk(fd, info, stride, fn, ctx);
			}
			n = err;
			break;
		}
		for (__u32 i = 0; fn && i < cnt; i++)
			fn(keys + (size_t)i * info->key_size, vals + (size_t)i * stride, ctx);
		n += cnt;
		if (err == -ENOENT)
			break;
		first = false;
	}
out:
	free(keys);
	free(vals);
	free(token);
	if (n < 0)
		atomic_fetch_add(&read_errors, 1);
	return n;
}

static uint64_t sum_u64(const void *vals, int ncpus, size_t stride_per_cpu, size_t off)
{
	const unsigned char *p = vals;
	uint64_t s = 0, v;

	for (int c = 0; c < ncpus; c++) {
		memcpy(&v, p + (size_t)c * stride_per_cpu + off, sizeof(v));
		s += v;
	}
	return s;
}

/* Sums of a per-CPU array of __u64 for indices 0 .. n-1 into sums[]. */
static int percpu_array_sums(struct rctx *r, int fd, __u32 n, uint64_t *sums)
{
	__u64 *vals = calloc(BATCH, (size_t)r->ncpus * sizeof(__u64));
	__u32 *keys = calloc(BATCH, sizeof(__u32));
	__u32 token = 0, done = 0;
	bool first = true;
	int err = 0;

	if (!vals || !keys) {
		err = -ENOMEM;
		goto out;
	}
	while (done < n) {
		__u32 cnt = BATCH;

		err = bpf_map_lookup_batch(fd, first ? NULL : &token, &token, keys, vals,
					   &cnt, NULL);
		if (err && err != -ENOENT) {
			/* no batch support: one lookup per index */
			for (err = 0; done < n && !err; done++) {
				err = bpf_map_lookup_elem(fd, &done, vals) ? -errno : 0;
				if (!err)
					sums[done] = sum_u64(vals, r->ncpus, 8, 0);
			}
			break;
		}
		for (__u32 i = 0; i < cnt; i++)
			if (keys[i] < n)
				sums[keys[i]] = sum_u64(vals + (size_t)i * r->ncpus, r->ncpus, 8, 0);
		done += cnt;
		if (err == -ENOENT || !cnt) {
			err = 0;
			break;
		}
		first = false;
	}
out:
	free(vals);
	free(keys);
	if (err)
		atomic_fetch_add(&read_errors, 1);
	return err;
}

static int percpu_u64(struct rctx *r, int fd, __u32 idx, uint64_t *sum)
{
	__u64 vals[r->ncpus];

	if (bpf_map_lookup_elem(fd, &idx, vals))
		return -errno;
	*sum = sum_u64(vals, r->ncpus, 8, 0);
	return 0;
}

/* Looked-up values for a set of ids: each id read once per scrape. */
struct idcache {
	uint32_t *ids; /* sorted, unique */
	unsigned char *vals;
	bool *found;
	size_t n, vsize;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Takes ownership of ids (n of them, unsorted, duplicates allowed). */
static int idcache_fill(struct idcache *c, int fd, uint32_t *ids, size_t n, size_t vsize)
{
	size_t u = 0;

	memset(c, 0, sizeof(*c));
	qsort(ids, n, sizeof(*ids), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (ids[i] && (!u || ids[u - 1] != ids[i]))
			ids[u++] = ids[i];
	c->ids = ids;
	c->n = u;
	c->vsize = vsize;
	c->vals = calloc(u ? u : 1, vsize);
	c->found = calloc(u ? u : 1, sizeof(bool));
	if (!c->vals || !c->found)
		return -ENOMEM;
	for (size_t i = 0; fd >= 0 && i < u; i++)
		c->found[i] = !bpf_map_lookup_elem(fd, &ids[i], c->vals + i * vsize);
	return 0;
}

static const void *idcache_get(const struct idcache *c, uint32_t id)
{
	const uint32_t *p;

	if (!id || !c->n)
		return NULL;
	p = bsearch(&id, c->ids, c->n, sizeof(id), cmp_u32);
	if (!p || !c->found[p - c->ids])
		return NULL;
	return c->vals + (size_t)(p - c->ids) * c->vsize;
}

static void idcache_free(struct idcache *c)
{
	free(c->ids);
	free(c->vals);
	free(c->found);
	memset(c, 0, sizeof(*c));
}

/* A fixed-size name field (maybe not NUL-terminated) or dflt when empty. */
static const char *field(const char *s, size_t max, char *buf, size_t len,
			 const char *dflt)
{
	if (!s || !s[0])
		return dflt;
	snprintf(buf, len, "%.*s", (int)(max < len ? max : len - 1), s);
	return buf;
}

/* ---- families ------------------------------------------------------------- */

static void render_build(struct rctx *r)
{
	struct utsname u;
	struct prom_label l[] = {
		{ "version", TRESTLE_VERSION },
		{ "kernel", uname(&u) ? "unknown" : u.release },
		{ "libbpf", libbpf_version_string() },
	};

	prom_family(&r->b, "trestle_build_info", "gauge",
		    "Trestle build and runtime versions (always 1)");
	prom_sample_u64(&r->b, "trestle_build_info", l, 3, 1);
}

static void render_agent(struct rctx *r)
{
	static const char *const results[RELOAD_RESULTS] = {
		[RELOAD_APPLIED] = "applied",
		[RELOAD_UNCHANGED] = "unchanged",
		[RELOAD_REFUSED] = "refused",
	};
	struct agent_stats *s = &agent_stats;
	char why[320];
	struct tr_meta meta = {};
	bool have_meta = !pins_meta_read(r->bpffs, &meta);

	prom_family(&r->b, "trestle_config_reloads_total", "counter",
		    "Configuration reloads by result (applied, unchanged, refused)");
	for (int i = 0; i < RELOAD_RESULTS; i++) {
		struct prom_label l = { "result", results[i] };

		prom_sample_u64(&r->b, "trestle_config_reloads_total", &l, 1,
				atomic_load(&s->reloads[i]));
	}
	prom_family(&r->b, "trestle_config_generation", "gauge",
		    "Configuration generation now applied (0 = none)");
	prom_sample_u64(&r->b, "trestle_config_generation", NULL, 0,
			atomic_load(&s->generation));
	prom_family(&r->b, "trestle_policy_epoch", "gauge",
		    "Authorization policy epoch now active (0 = no policy state)");
	prom_sample_u64(&r->b, "trestle_policy_epoch", NULL, 0, atomic_load(&s->policy_epoch));
	prom_family(&r->b, "trestle_config_service_ports", "gauge",
		    "Service ports in the applied configuration");
	prom_sample_u64(&r->b, "trestle_config_service_ports", NULL, 0,
			have_meta ? meta.services : 0);
	prom_family(&r->b, "trestle_config_backends", "gauge",
		    "Backends in the applied configuration");
	prom_sample_u64(&r->b, "trestle_config_backends", NULL, 0,
			have_meta ? meta.backends : 0);
	prom_family(&r->b, "trestle_config_last_reload_timestamp_seconds", "gauge",
		    "Time of the last reload attempt, seconds since the epoch (0 = none)");
	prom_sample_f64(&r->b, "trestle_config_last_reload_timestamp_seconds", NULL, 0,
			(double)atomic_load(&s->last_reload_ns) / 1e9);
	prom_family(&r->b, "trestle_agent_start_time_seconds", "gauge",
		    "Time the agent started, seconds since the epoch");
	prom_sample_f64(&r->b, "trestle_agent_start_time_seconds", NULL, 0,
			(double)atomic_load(&s->start_ns) / 1e9);
	prom_family(&r->b, "trestle_agent_ready", "gauge",
		    "1 when the programs are attached and a configuration is applied (/readyz)");
	prom_sample_u64(&r->b, "trestle_agent_ready", NULL, 0,
			agent_stats_not_ready(why, sizeof(why)) ? 0 : 1);
	prom_family(&r->b, "trestle_map_write_failures_total", "counter",
		    "Configuration applies that failed writing a BPF map (map pressure)");
	prom_sample_u64(&r->b, "trestle_map_write_failures_total", NULL, 0,
			atomic_load(&s->map_write_failures));
}

static void render_stats(struct rctx *r)
{
	static const struct { unsigned int idx; const char *name; } drops[] = {
#define X(n, v, s, d) { (unsigned int)-(v), s },
		TR_REASONS(X)
#undef X
	}, events[] = {
#define X(n, v, s, d) { (unsigned int)(v), s },
		TR_STATS(X)
#undef X
	};
	struct bpf_map_info info;
	int fd = map_open(r, TR_MAP_STATS, &info);

	prom_family(&r->b, "trestle_datapath_drops_total", "counter",
		    "Connections, datagrams and packets the data path refused or dropped, by reason");
	for (size_t i = 0; fd >= 0 && i < sizeof(drops) / sizeof(drops[0]); i++) {
		struct prom_label l = { "reason", drops[i].name };
		uint64_t v;

		if (!percpu_u64(r, fd, drops[i].idx, &v))
			prom_sample_u64(&r->b, "trestle_datapath_drops_total", &l, 1, v);
	}
	prom_family(&r->b, "trestle_datapath_events_total", "counter",
		    "Data path events (load-balancer translations, policy allows, sockops counting), by event");
	for (size_t i = 0; fd >= 0 && i < sizeof(events) / sizeof(events[0]); i++) {
		struct prom_label l = { "event", events[i].name };
		uint64_t v;

		if (!percpu_u64(r, fd, events[i].idx, &v))
			prom_sample_u64(&r->b, "trestle_datapath_events_total", &l, 1, v);
	}
	{
		static const struct { const char *fam, *help; unsigned int idx; } redir[] = {
			{ "trestle_redirect_connections_total",
			  "Same-node connections whose data moved socket to socket (sk_msg redirection)",
			  TR_STAT_REDIR_CONN },
			{ "trestle_redirect_bytes_total",
			  "Bytes moved socket to socket by same-node redirection", TR_STAT_REDIR_BYTES },
		};

		for (size_t i = 0; i < sizeof(redir) / sizeof(redir[0]); i++) {
			uint64_t v;

			prom_family(&r->b, redir[i].fam, "counter", redir[i].help);
			if (fd >= 0 && !percpu_u64(r, fd, redir[i].idx, &v))
				prom_sample_u64(&r->b, redir[i].fam, NULL, 0, v);
		}
	}
	/* map pressure, by map: the agent's refused applies, and the data
	 * path's own inserts that found a table full */
	{
		static const struct { const char *map; unsigned int idx; } kernel[] = {
			{ TR_MAP_L4_STAT, TR_STAT_L4_STAT_FULL },
			{ TR_MAP_SK, TR_STAT_SK_FULL },
			{ TR_MAP_FLOW_RB, TR_STAT_FLOW_LOST },
		};
		const char *name;

		prom_family(&r->b, "trestle_bpf_map_insert_failures_total", "counter",
			    "Inserts a BPF map refused because it was full: configuration applies refused by the agent and data-path inserts, by map");
		for (size_t i = 0; (name = agent_stats_map_name(i)); i++) {
			struct prom_label l = { "map", name };
			uint64_t v = atomic_load(&agent_stats.map_insert_failures[i]), k;

			for (size_t j = 0; j < sizeof(kernel) / sizeof(kernel[0]); j++)
				if (!strcmp(kernel[j].map, name) && fd >= 0 &&
				    !percpu_u64(r, fd, kernel[j].idx, &k))
					v += k;
			prom_sample_u64(&r->b, "trestle_bpf_map_insert_failures_total", &l, 1, v);
		}
	}
	if (fd >= 0)
		close(fd);
}

/* -- policies -- */

struct pol_entry {
	uint32_t id;
	struct tr_pol_info info;
};

struct pol_list {
	struct pol_entry *v;
	size_t n, cap;
	bool oom;
};

static void collect_pol(const void *key, const void *val, void *ctx)
{
	struct pol_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct pol_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->oom = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	memcpy(&l->v[l->n].id, key, sizeof(uint32_t));
	memcpy(&l->v[l->n].info, val, sizeof(struct tr_pol_info));
	l->n++;
}

static int own_verdict(__u8 action)
{
	return action == TR_POLICY_DENY ? TR_POL_STAT_DENY :
	       action == TR_POLICY_AUDIT ? TR_POL_STAT_AUDIT : TR_POL_STAT_ALLOW;
}

static void render_policy(struct rctx *r)
{
	static const char *const verdicts[] = {
		[TR_POL_STAT_ALLOW] = "allow",
		[TR_POL_STAT_DENY] = "deny",
		[TR_POL_STAT_AUDIT] = "audit",
	};
	const char *fam = "trestle_policy_verdicts_total";
	struct bpf_map_info iinfo, sinfo;
	struct pol_list pl = {};
	struct prom_rows rows = {};
	uint64_t *sums = NULL;
	uint32_t max_id = 0;
	int ifd, sfd = -1;

	prom_family(&r->b, fam, "counter",
		    "Connections and datagrams decided by an AuthorizationPolicy, by policy and verdict (allow, deny, audit)");
	ifd = map_open(r, TR_MAP_POL_INFO, &iinfo);
	if (ifd < 0)
		return;
	if (iinfo.value_size != sizeof(struct tr_pol_info) || iinfo.key_size != sizeof(__u32))
		goto out;
	sfd = map_open(r, TR_MAP_POL_STAT, &sinfo);
	if (sfd < 0 || map_each(r, ifd, &iinfo, collect_pol, &pl) < 0 || pl.oom)
		goto out;
	for (size_t i = 0; i < pl.n; i++)
		if (pl.v[i].id > max_id && pl.v[i].id < TR_MAX_POLICIES)
			max_id = pl.v[i].id;
	if (!pl.n)
		goto out;
	sums = calloc(((size_t)max_id + 1) * TR_POL_STAT_N, sizeof(*sums));
	if (!sums || percpu_array_sums(r, sfd, (max_id + 1) * TR_POL_STAT_N, sums))
		goto out;
	for (size_t i = 0; i < pl.n; i++) {
		const struct tr_pol_info *p = &pl.v[i].info;
		char ns[TR_NAME_LEN + 1], name[TR_NAME_LEN + 1];
		struct prom_label l[3] = {
			{ "policy_namespace", field(p->ns, sizeof(p->ns), ns, sizeof(ns), "") },
			{ "policy_name", field(p->name, sizeof(p->name), name, sizeof(name), "") },
		};

		if (pl.v[i].id >= TR_MAX_POLICIES)
			continue;
		for (int v = 0; v < 3; v++) {
			uint64_t val = sums[(size_t)pl.v[i].id * TR_POL_STAT_N + (size_t)v];

			/* the verdict a policy's action gives, and any other
			 * that happened: an ALLOW policy has no deny series */
			if (!val && v != own_verdict(p->action))
				continue;
			l[2] = (struct prom_label){ "verdict", verdicts[v] };
			prom_rows_add(&rows, l, 3, &val, 1);
		}
	}
	prom_rows_merge(&rows, false);
	prom_rows_emit(&r->b, &rows, fam, 0);
out:
	prom_rows_free(&rows);
	free(sums);
	free(pl.v);
	close(ifd);
	if (sfd >= 0)
		close(sfd);
}

/* -- load balancer -- */

struct be_entry {
	uint32_t id;
	struct tr_lb_backend be;
};

struct be_list {
	struct be_entry *v;
	size_t n, cap;
	bool oom;
};

static void collect_be(const void *key, const void *val, void *ctx)
{
	struct be_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct be_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->oom = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	memcpy(&l->v[l->n].id, key, sizeof(uint32_t));
	memcpy(&l->v[l->n].be, val, sizeof(struct tr_lb_backend));
	l->n++;
}

static void render_lb(struct rctx *r)
{
	const char *sel = "trestle_lb_selections_total", *ready = "trestle_lb_backend_ready";
	struct bpf_map_info binfo, sinfo, iinfo;
	struct be_list bl = {};
	struct idcache svcs = {};
	struct prom_rows rows = {};
	uint64_t *sums = NULL;
	uint32_t *ids = NULL, max_id = 0;
	int bfd, sfd = -1, ifd = -1;

	bfd = map_open(r, TR_MAP_LB_BE, &binfo);
	if (bfd < 0 || binfo.value_size != sizeof(struct tr_lb_backend) ||
	    binfo.key_size != sizeof(__u32))
		goto out;
	sfd = map_open(r, TR_MAP_LB_BESTAT, &sinfo);
	ifd = map_open(r, TR_MAP_LB_SVCINFO, &iinfo);
	if (sfd < 0 || map_each(r, bfd, &binfo, collect_be, &bl) < 0 || bl.oom)
		goto out;
	ids = calloc(bl.n + 1, sizeof(*ids));
	if (!ids)
		goto out;
	for (size_t i = 0; i < bl.n; i++) {
		ids[i] = bl.v[i].be.svc_id;
		if (bl.v[i].id > max_id && bl.v[i].id < sinfo.max_entries)
			max_id = bl.v[i].id;
	}
	if (ifd >= 0 && iinfo.value_size != sizeof(struct tr_lb_svcinfo)) {
		close(ifd);
		ifd = -1;
	}
	if (idcache_fill(&svcs, ifd, ids, bl.n, sizeof(struct tr_lb_svcinfo)))
		goto out;
	sums = calloc((size_t)max_id + 1, sizeof(*sums));
	if (!sums || (bl.n && percpu_array_sums(r, sfd, max_id + 1, sums)))
		goto out;
	for (size_t i = 0; i < bl.n; i++) {
		const struct tr_lb_backend *be = &bl.v[i].be;
		const struct tr_lb_svcinfo *si = idcache_get(&svcs, be->svc_id);
		char ns[TR_NAME_LEN + 1], name[TR_NAME_LEN + 1], port[8], addr[INET6_ADDRSTRLEN];
		char backend[INET6_ADDRSTRLEN + 10];
		uint64_t vals[2];
		struct prom_label l[] = {
			{ "service_namespace",
			  si ? field(si->ns, sizeof(si->ns), ns, sizeof(ns), "unknown") : "unknown" },
			{ "service",
			  si ? field(si->name, sizeof(si->name), name, sizeof(name), "unknown") : "unknown" },
			{ "protocol", abi_proto_str(be->proto) },
			{ "service_port", port },
			{ "backend", backend },
		};

		if (si)
			snprintf(port, sizeof(port), "%u", si->port);
		else
			snprintf(port, sizeof(port), "unknown");
		abi_addr_str(be->addr, be->family, addr, sizeof(addr));
		snprintf(backend, sizeof(backend), be->family == TR_AF_INET6 ? "[%s]:%u" : "%s:%u",
			 addr, ntohs(be->port));
		vals[0] = bl.v[i].id <= max_id ? sums[bl.v[i].id] : 0;
		vals[1] = be->flags & TR_BE_F_READY ? 1 : 0;
		if (prom_rows_add(&rows, l, 5, vals, 2))
			goto out;
	}
	prom_rows_merge(&rows, false);
	for (size_t i = 0; i < rows.n; i++) /* a backend listed twice is still one */
		rows.v[i].val[1] = rows.v[i].val[1] ? 1 : 0;
out:
	prom_family(&r->b, sel, "counter",
		    "Connections and datagrams the load balancer sent to a backend, by service port and backend");
	prom_rows_emit(&r->b, &rows, sel, 0);
	prom_family(&r->b, ready, "gauge",
		    "1 when the backend is ready (takes new connections), 0 when not");
	prom_rows_emit(&r->b, &rows, ready, 1);
	prom_rows_free(&rows);
	idcache_free(&svcs);
	free(sums);
	free(bl.v);
	if (bfd >= 0)
		close(bfd);
	if (sfd >= 0)
		close(sfd);
	if (ifd >= 0)
		close(ifd);
}

/* -- Istio's TCP metrics -- */

struct l4_entry {
	struct tr_l4_key key;
	uint64_t val[4]; /* opened, closed, sent, received */
};

struct l4_list {
	struct l4_entry *v;
	size_t n, cap;
	bool oom;
};

static int collect_l4(const struct tr_l4_key *key, const struct tr_l4_val *val, void *ctx)
{
	struct l4_list *l = ctx;
	struct l4_entry *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct l4_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->oom = true;
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	e = &l->v[l->n++];
	e->key = *key;
	e->val[0] = val->opened;
	e->val[1] = val->closed;
	e->val[2] = val->sent_bytes;
	e->val[3] = val->received_bytes;
	return 0;
}

struct wl_names {
	char wl[TR_NAME_LEN + 1], ns[TR_NAME_LEN + 1], principal[TR_SPIFFE_LEN + 1];
};

/* A fixed-size name field into dst, or dflt when it is empty. */
static void name_copy(char *dst, size_t len, const char *src, size_t max, const char *dflt)
{
	if (src && src[0])
		snprintf(dst, len, "%.*s", (int)(max < len ? max : len - 1), src);
	else
		snprintf(dst, len, "%s", dflt);
}

static void wl_names(const struct idcache *wls, const struct idcache *idents,
		     uint32_t id, struct wl_names *o)
{
	const struct tr_wl_info *w = idcache_get(wls, id);
	const struct tr_id_info *i = w ? idcache_get(idents, w->identity) : NULL;

	/* the canonical workload name; the Pod's if the agent left it empty */
	if (w && w->workload[0])
		name_copy(o->wl, sizeof(o->wl), w->workload, sizeof(w->workload), "unknown");
	else
		name_copy(o->wl, sizeof(o->wl), w ? w->name : NULL, TR_NAME_LEN, "unknown");
	name_copy(o->ns, sizeof(o->ns), w ? w->ns : NULL, TR_NAME_LEN, "unknown");
	name_copy(o->principal, sizeof(o->principal), i ? i->spiffe : NULL, TR_SPIFFE_LEN,
		  "unknown");
}

static void render_l4(struct rctx *r)
{
	static const char *const fams[4][2] = {
		{ "istio_tcp_connections_opened_total",
		  "Total number of TCP connections opened" },
		{ "istio_tcp_connections_closed_total",
		  "Total number of TCP connections closed" },
		{ "istio_tcp_sent_bytes_total",
		  "Size of total bytes sent during response in case of a TCP connection" },
		{ "istio_tcp_received_bytes_total",
		  "Size of total bytes received during request in case of a TCP connection" },
	};
	struct bpf_map_info info, einfo, winfo, iinfo, sinfo;
	struct l4_list ll = {};
	struct idcache wls = {}, idents = {}, svcs = {};
	struct prom_rows rows = {};
	uint32_t *ids;
	int fd, efd = -1, wfd = -1, ifd = -1, sfd = -1;

	fd = map_open(r, TR_MAP_L4_STAT, &info);
	if (fd < 0 || info.key_size != sizeof(struct tr_l4_key) ||
	    info.value_size != sizeof(struct tr_l4_val))
		goto out;
	efd = map_open(r, TR_MAP_L4_ENDS, &einfo);
	if (efd >= 0 && einfo.value_size != sizeof(struct tr_l4_ends_slot)) {
		close(efd);
		efd = -1;
	}
	/* a series whose counts are partly in slots comes more than once:
	 * prom_rows_merge adds the rows up */
	if (l4read(fd, efd, collect_l4, &ll) || ll.oom) {
		atomic_fetch_add(&read_errors, 1);
		goto out;
	}
	wfd = map_open(r, TR_MAP_WL_INFO, &winfo);
	if (wfd >= 0 && winfo.value_size != sizeof(struct tr_wl_info)) {
		close(wfd);
		wfd = -1;
	}
	ifd = map_open(r, TR_MAP_ID_INFO, &iinfo);
	if (ifd >= 0 && iinfo.value_size != sizeof(struct tr_id_info)) {
		close(ifd);
		ifd = -1;
	}
	sfd = map_open(r, TR_MAP_LB_SVCINFO, &sinfo);
	if (sfd >= 0 && sinfo.value_size != sizeof(struct tr_lb_svcinfo)) {
		close(sfd);
		sfd = -1;
	}
	/* resolve each workload, identity and service once */
	ids = calloc(2 * ll.n + 1, sizeof(*ids));
	if (!ids)
		goto out;
	for (size_t i = 0; i < ll.n; i++) {
		ids[2 * i] = ll.v[i].key.src_workload;
		ids[2 * i + 1] = ll.v[i].key.dst_workload;
	}
	if (idcache_fill(&wls, wfd, ids, 2 * ll.n, sizeof(struct tr_wl_info)))
		goto out;
	ids = calloc(wls.n + 1, sizeof(*ids));
	if (!ids)
		goto out;
	for (size_t i = 0; i < wls.n; i++)
		ids[i] = wls.found[i] ?
				 ((const struct tr_wl_info *)(wls.vals + i * wls.vsize))->identity :
				 0;
	if (idcache_fill(&idents, ifd, ids, wls.n, sizeof(struct tr_id_info)))
		goto out;
	ids = calloc(ll.n + 1, sizeof(*ids));
	if (!ids)
		goto out;
	for (size_t i = 0; i < ll.n; i++)
		ids[i] = ll.v[i].key.svc_id;
	if (idcache_fill(&svcs, sfd, ids, ll.n, sizeof(struct tr_lb_svcinfo)))
		goto out;

	for (size_t i = 0; i < ll.n; i++) {
		const struct tr_l4_key *k = &ll.v[i].key;
		const struct tr_lb_svcinfo *si = idcache_get(&svcs, k->svc_id);
		char sname[TR_NAME_LEN + 1], sns[TR_NAME_LEN + 1], fqdn[2 * TR_NAME_LEN + 32];
		struct wl_names src, dst;

		if (k->reporter != TR_REPORTER_SOURCE && k->reporter != TR_REPORTER_DESTINATION)
			continue;
		wl_names(&wls, &idents, k->src_workload, &src);
		wl_names(&wls, &idents, k->dst_workload, &dst);
		name_copy(sname, sizeof(sname), si ? si->name : NULL, TR_NAME_LEN, "unknown");
		name_copy(sns, sizeof(sns), si ? si->ns : NULL, TR_NAME_LEN, "unknown");
		if (si && si->name[0] && si->ns[0])
			snprintf(fqdn, sizeof(fqdn), "%s.%s.svc." CLUSTER_DOMAIN, sname, sns);
		else
			snprintf(fqdn, sizeof(fqdn), "unknown");

		struct prom_label l[] = {
			{ "reporter", k->reporter == TR_REPORTER_SOURCE ? "source" : "destination" },
			{ "source_workload", src.wl },
			{ "source_workload_namespace", src.ns },
			{ "source_principal", src.principal },
			{ "destination_workload", dst.wl },
			{ "destination_workload_namespace", dst.ns },
			{ "destination_principal", dst.principal },
			{ "destination_service", fqdn },
			{ "destination_service_name", sname },
			{ "destination_service_namespace", sns },
			{ "connection_security_policy",
			  k->security == TR_SECURITY_MUTUAL_TLS ? "mutual_tls" : "none" },
		};

		if (prom_rows_add(&rows, l, sizeof(l) / sizeof(l[0]), ll.v[i].val, 4))
			goto out;
	}
	prom_rows_merge(&rows, false);
out:
	for (int f = 0; f < 4; f++) {
		prom_family(&r->b, fams[f][0], "counter", fams[f][1]);
		prom_rows_emit(&r->b, &rows, fams[f][0], (size_t)f);
	}
	prom_rows_free(&rows);
	idcache_free(&wls);
	idcache_free(&idents);
	idcache_free(&svcs);
	free(ll.v);
	if (fd >= 0)
		close(fd);
	if (efd >= 0)
		close(efd);
	if (wfd >= 0)
		close(wfd);
	if (ifd >= 0)
		close(ifd);
	if (sfd >= 0)
		close(sfd);
}

/* -- map pressure -- */

static bool is_hash(__u32 type)
{
	return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_LRU_HASH ||
	       type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LPM_TRIE;
}

static void render_maps(struct rctx *r)
{
	static const char *const names[] = { TR_PINNED_MAPS };
	const size_t n = sizeof(names) / sizeof(names[0]);
	struct {
		bool open;
		struct bpf_map_info info;
		long entries;
	} m[sizeof(names) / sizeof(names[0])] = {};

	for (size_t i = 0; i < n; i++) {
		int fd = map_open(r, names[i], &m[i].info);

		if (fd < 0)
			continue;
		m[i].open = true;
		m[i].entries = is_hash(m[i].info.type) ? map_each(r, fd, &m[i].info, NULL, NULL) : -1;
		close(fd);
	}
	prom_family(&r->b, "trestle_bpf_map_entries", "gauge",
		    "Entries in a pinned BPF hash map or LPM trie (compare with trestle_bpf_map_capacity_entries)");
	for (size_t i = 0; i < n; i++) {
		struct prom_label l = { "map", names[i] };

		if (m[i].open && m[i].entries >= 0)
			prom_sample_u64(&r->b, "trestle_bpf_map_entries", &l, 1,
					(uint64_t)m[i].entries);
	}
	prom_family(&r->b, "trestle_bpf_map_capacity_entries", "gauge",
		    "Maximum entries of a pinned BPF map (max_entries)");
	for (size_t i = 0; i < n; i++) {
		struct prom_label l = { "map", names[i] };

		if (m[i].open && m[i].info.type != BPF_MAP_TYPE_RINGBUF && m[i].info.max_entries)
			prom_sample_u64(&r->b, "trestle_bpf_map_capacity_entries", &l, 1,
					m[i].info.max_entries);
	}
	prom_family(&r->b, "trestle_bpf_ringbuf_size_bytes", "gauge",
		    "Size of a pinned BPF ring buffer");
	for (size_t i = 0; i < n; i++) {
		struct prom_label l = { "map", names[i] };

		if (m[i].open && m[i].info.type == BPF_MAP_TYPE_RINGBUF)
			prom_sample_u64(&r->b, "trestle_bpf_ringbuf_size_bytes", &l, 1,
					m[i].info.max_entries);
	}
}

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *metrics_render(const char *bpffs, size_t *len)
{
	struct rctx r = { .bpffs = bpffs, .ncpus = libbpf_num_possible_cpus() };
	double t0 = now_s(CLOCK_MONOTONIC);

	if (r.ncpus <= 0)
		return NULL;
	render_l4(&r);
	render_stats(&r);
	render_policy(&r);
	render_lb(&r);
	render_maps(&r);
	render_agent(&r);
	metrics_render_tls(&r.b);
	render_build(&r);
	prom_family(&r.b, "trestle_metrics_read_errors_total", "counter",
		    "BPF map reads that failed while rendering /metrics (the families concerned are incomplete)");
	prom_sample_u64(&r.b, "trestle_metrics_read_errors_total", NULL, 0,
			atomic_load(&read_errors));
	prom_family(&r.b, "trestle_scrape_duration_seconds", "gauge",
		    "Time this scrape took to read the maps and render, up to this line");
	prom_sample_f64(&r.b, "trestle_scrape_duration_seconds", NULL, 0,
			now_s(CLOCK_MONOTONIC) - t0);
	return prom_buf_take(&r.b, len);
}

/* ---- HTTP ---------------------------------------------------------------- */

static struct {
	struct MHD_Daemon *d;
	char bpffs[4096];
} srv;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status,
			     const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * A large page (27 MB for 100,000 backends) is built from many allocations:
 * once it is sent, give the freed memory back to the system, or every
 * scrape would leave the agent that much larger.
 */
static void free_page(void *page)
{
	free(page);
	malloc_trim(0);
}

static enum MHD_Result reply_metrics(struct MHD_Connection *c)
{
	const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_ACCEPT_ENCODING);
	struct MHD_Response *resp;
	enum MHD_Result ret;
	bool gz = false;
	size_t len;
	char *text = metrics_render(srv.bpffs, &len);
	void *body = text;

	if (!text)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics: out of memory\n");
	if (prom_accepts_gzip(ae)) {
		void *z;
		size_t zlen;

		if (!prom_gzip(text, len, &z, &zlen)) {
			free(text);
			body = z;
			len = zlen;
			gz = true;
		}
	}
	resp = MHD_create_response_from_buffer_with_free_callback(len, body, free_page);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, PROM_CONTENT_TYPE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (gz)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **req_cls)
{
	char why[320], body[400];

	(void)cls;
	(void)version;
	(void)upload_data;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (*upload_size) { /* a GET with a body: discard it */
		*upload_size = 0;
		return MHD_YES;
	}
	if (!strcmp(url, "/metrics"))
		return reply_metrics(c);
	if (!strcmp(url, "/healthz"))
		return reply(c, MHD_HTTP_OK, "ok");
	if (!strcmp(url, "/readyz")) {
		if (!agent_stats_not_ready(why, sizeof(why)))
			return reply(c, MHD_HTTP_OK, "ready");
		snprintf(body, sizeof(body), "not ready: %s", why);
		for (char *p = body; *p; p++) /* one line */
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, body);
	}
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "trestled: /metrics /healthz /readyz\n");
	return reply(c, MHD_HTTP_NOT_FOUND, "not found (try /metrics, /healthz, /readyz)\n");
}

/* libmicrohttpd's own messages (bad clients, mostly): debug only. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	if (!log_enabled(LOG_DEBUG))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("metrics: %s", msg);
}

int metrics_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port_s;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s)
		return -EINVAL;
	if (!strcmp(s, "none"))
		return 1;
	if (s[0] == '[') {
		const char *close_b = strchr(s, ']');
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (!close_b || close_b[1] != ':' || (size_t)(close_b - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(close_b - s - 1));
		host[close_b - s - 1] = '\0';
		port_s = close_b + 2;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		*len = sizeof(*sin6);
	} else {
		const char *colon = strrchr(s, ':');
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (!colon || strchr(s, ':') != colon || (size_t)(colon - s) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port_s = colon + 1;
		if (!host[0])
			snprintf(host, sizeof(host), "0.0.0.0");
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
	}
	if (!*port_s || *port_s == '-' || *port_s == '+')
		return -EINVAL;
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -EINVAL;
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	return 0;
}

int metrics_start(const char *addr, const char *bpffs)
{
	struct sockaddr_storage ss;
	sigset_t all, old;
	socklen_t len = 0;
	int fd, err, one = 1;

	err = metrics_parse_addr(addr, &ss, &len);
	if (err == 1) {
		log_info("metrics: not serving (--metrics-addr none)");
		return 0;
	}
	if (err) {
		log_error("metrics: bad address '%s' (want A.B.C.D:PORT, [V6]:PORT or none)", addr);
		return err;
	}
	snprintf(srv.bpffs, sizeof(srv.bpffs), "%s", bpffs);
	libbpf_num_possible_cpus(); /* cache it before the threads need it */
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 256)) {
		err = -errno;
		close(fd);
		goto fail;
	}
	/* the server's threads inherit a mask that blocks every signal */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	srv.d = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)POOL_THREADS,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!srv.d) {
		close(fd);
		err = -EIO;
		goto fail;
	}
	log_info("metrics: serving /metrics, /healthz, /readyz on http://%s", addr);
	return 0;
fail:
	log_error("metrics: cannot serve on %s: %s%s", addr, strerror(-err),
		  err == -EADDRINUSE ? " (another process has the port: choose one with --metrics-addr)" :
		  err == -EADDRNOTAVAIL ? " (the address is not on this host or namespace)" : "");
	return err;
}

void metrics_stop(void)
{
	if (!srv.d)
		return;
	MHD_stop_daemon(srv.d); /* closes the listening socket too */
	srv.d = NULL;
}
