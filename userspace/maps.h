/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Writes compiled load-balancing state into the pinned maps.
 *
 * The order makes every change atomic for a connect: new selection tables
 * are written in full under fresh ids, then each service entry is swapped
 * to its new table with one map update, and only then are old tables and
 * unused backends removed. Capacity is checked before anything is written;
 * a failure part-way rolls the written part back, so the running state is
 * the old one or the new one, never a mix.
 */
#ifndef TRESTLE_MAPS_STATE_H
#define TRESTLE_MAPS_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <trestle/abi.h>

#include "compile.h"

/* File descriptors of the maps the agent writes (owned by the loader). */
struct tr_map_fds {
	int meta, lb4_svc, lb6_svc, slot, be, bestat, svcinfo, rbe;
};

/* A tr_lb_rbe entry: backend -> its service (0 when several). */
struct rbe_entry {
	struct tr_lb_rbe_key key;
	uint32_t svc_id;
};

/* What the maps hold for one service key, as the agent last wrote it. */
struct applied_svc {
	struct tr_ip vip;
	uint16_t port;
	uint8_t proto;
	uint32_t svc_id;
	uint32_t table;
	uint32_t n_slots;
	uint64_t table_hash; /* 0 = unknown (adopted after a restart) */
	uint64_t hash;       /* tr_cservice.hash as applied; 0 = unknown */
};

/* An allocated service id: (namespace, name, port name, port, protocol). */
struct applied_svcid {
	uint32_t id;
	struct tr_lb_svcinfo info;
	bool used;  /* scratch: still referenced by the new state */
	bool fresh; /* scratch: allocated by this apply */
};

/* An allocated backend id: (service id, address, port). */
struct applied_be {
	uint32_t id;
	uint32_t svc_id;
	struct tr_ip ip;
	uint16_t port;
	bool used;  /* scratch: still referenced by the new state */
	bool fresh; /* scratch: allocated by this apply */
};

struct tr_applied {
	struct applied_svc *svcs;
	size_t n_svcs;
	struct applied_svcid *ids;
	size_t n_ids;
	struct applied_be *bes;
	size_t n_bes;
	struct rbe_entry *rbe; /* sorted by key */
	size_t n_rbe;
	struct tr_meta meta;
};

struct apply_result {
	const char *failed_map; /* on failure: the map that was full or refused */
	size_t svc_added, svc_removed, svc_changed, svc_unchanged;
	size_t be_added, be_removed;
	size_t slots_written, slots_deleted;
};

/*
 * Read what a previous agent left in the maps (service keys, ids, meta), so
 * that an apply after a restart replaces it without a gap. A missing or
 * zero meta starts a fresh state. Returns 0 or -errno.
 */
int maps_adopt(const struct tr_map_fds *fds, struct tr_applied *st);

/* Apply c. Returns 0, -ENOSPC (a map would overflow; nothing written) or
 * another -errno (rolled back). 'err_msg' receives a sentence on failure. */
int maps_apply(const struct tr_map_fds *fds, struct tr_applied *st,
	       const struct tr_compiled *c, struct apply_result *res,
	       char *err_msg, size_t err_len);

void applied_free(struct tr_applied *st);

#endif /* TRESTLE_MAPS_STATE_H */
