/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Writes the uplink load balancer's compiled state (xdp_compile.h) into
 * its pinned maps (include/trestle/xdp.h), in the same order as maps.c:
 *
 *   1. capacity is checked before anything is written;
 *   2. backends (tr_xdp_backend, an array; an unused id is zeroes) under
 *      ids that stay the same for as long as
 *      the backend (family, address, port) exists, so the connection
 *      table's entries stay valid across applies and restarts;
 *   3. each changed ring is built complete as a new array under a fresh
 *      ring id (tr_xdp_ring, BPF_F_INNER_MAP arrays of the ring's size);
 *      an unchanged ring keeps its id;
 *   4. the ports of the external keys get their bits (tr_xdp_ports), the
 *      keys (tr_xdp4_vip / tr_xdp6_vip) are pointed at their rings, one
 *      update each, and tr_xdp_cfg takes the next generation;
 *   5. only then are rings, keys and backends nobody uses removed, the
 *      generation moves once more if a key was removed, and the bits of
 *      ports no key uses any more are cleared.
 * A failure in 2-4 undoes what was written; the running state is the old
 * one or the new one, never a mix.
 *
 * Draining: a backend that leaves every ring keeps its tr_xdp_backend entry
 * while its address is still a Pod's or an endpoint's (ready or not) in
 * the configuration, so established flows keep reaching it (a Pod being
 * scaled down finishes its connections); new flows follow the new rings.
 * Once the address is gone, so is the entry, and a flow still pinned to it
 * is balanced anew (counted as xdp_ct_stale).
 */
#ifndef TRESTLE_XDPMAPS_H
#define TRESTLE_XDPMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <trestle/xdp.h>

#include "compile.h"
#include "config.h"
#include "maps.h"
#include "xdp_compile.h"

struct xdp_fds {
	int cfg, vip4, vip6, ring, be, ports;
};

struct xdpmaps_be {
	uint32_t id;
	struct tr_xdp_be val;
	bool used; /* scratch */
};

struct xdpmaps_ring {
	uint32_t id;
	uint64_t hash; /* 0 = adopted, content unknown */
	bool used;     /* scratch */
};

struct xdpmaps_vip {
	struct tr_lb6_key key; /* IPv4 keys in the first bytes (tr_lb4_key) */
	uint8_t family;        /* AF_INET / AF_INET6 */
	bool used;             /* scratch */
};

struct xdpmaps_state {
	struct xdpmaps_be *bes;
	size_t n_bes;
	struct xdpmaps_ring *rings;
	size_t n_rings;
	struct xdpmaps_vip *vips;
	size_t n_vips;
	uint64_t ports[TR_XDP_PORT_WORDS]; /* tr_xdp_ports as written */
	uint32_t next_ring; /* ring ids are never reused while the agent runs */
	uint64_t hash;      /* of what was applied (with local devices); 0 = unknown */
};

/*
 * Where a local backend is delivered: its host-side device, the workload's
 * MAC and the device's. Returns 0 or -errno (the backend still takes its
 * slots, since every node must build the same rings; its packets are
 * dropped, counted, until the device is found).
 */
typedef int (*xdp_local_fn)(void *ctx, const struct tr_ip *ip, uint32_t *ifindex,
			    uint8_t mac[6], uint8_t dev_mac[6]);

struct xdpmaps_result {
	const char *failed_map;
	size_t fronts, rings_written, rings_kept, backends, local, draining;
	size_t local_missing; /* local backends without a device */
};

/* Read back what a previous agent wrote. Returns 0 or -errno. */
int xdpmaps_adopt(const struct xdp_fds *f, struct xdpmaps_state *st);

/*
 * Apply x. svc ids come from 'applied' (the cluster services as maps.c
 * wrote them); cfg decides which removed backends still drain. Returns 0,
 * -ENOSPC (nothing written) or another -errno (undone); msg says why.
 */
int xdpmaps_apply(const struct xdp_fds *f, struct xdpmaps_state *st,
		  const struct xdp_compiled *x, const struct tr_compiled *comp,
		  const struct tr_applied *applied, const struct tr_config *cfg,
		  xdp_local_fn local, void *local_ctx, struct xdpmaps_result *res,
		  char *msg, size_t len);

void xdpmaps_free(struct xdpmaps_state *st);

#endif /* TRESTLE_XDPMAPS_H */
