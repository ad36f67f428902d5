/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Writes compiled identities and authorization (policy.h) into the pinned
 * maps, one epoch at a time: the new epoch is written in full beside the
 * active one, tr_pol_cfg.epoch is flipped with one update, and the old
 * epoch is removed after a grace period. Class ids carry the epoch's bank
 * (odd or even) in their top byte, so the two epochs never share a key.
 */
#ifndef TRESTLE_POLMAPS_H
#define TRESTLE_POLMAPS_H

#include <stddef.h>
#include <stdint.h>

#include <trestle/metrics.h>
#include <trestle/policy.h>

#include "idtable.h"
#include "policy.h"

struct tr_pol_fds {
	int cfg, ip4, ip6, cgroup, pol, pol_dst, pol_stat, id_info, wl_info, pol_info;
	int wl_addr; /* exact address -> workload, for sockops (metrics.h) */
	int xdp4_deny, xdp6_deny; /* the uplink's early deny; -1 = no uplink */
};

struct wl_addr_entry {
	struct tr_wl_addr_key key;
	struct tr_wl_addr val;
};

/* What this node knows of a workload beyond the manifests. */
struct pol_runtime {
	uint32_t ifindex;   /* host-side device of a local workload, 0 if none */
	uint64_t cgroup_id; /* its cgroup (trestle.io/cgroup), 0 if none */
};

struct polmaps_state {
	struct idtable identities; /* "spiffe://..." */
	struct idtable workloads;  /* "ns/name" */
	struct idtable policies;   /* "ns/name" */
	uint32_t epoch;
	uint32_t flags;
	uint64_t hash;             /* of what was applied; 0 = unknown */
	/* keys of the active epoch, removed when the next one is live */
	struct tr_ip4_lpm_key *k4;
	size_t n4;
	struct tr_ip6_lpm_key *k6;
	size_t n6;
	struct tr_cgroup_key *kcg;
	size_t ncg;
	struct tr_pol_key *kpol;
	size_t npol;
	uint32_t *kdst;
	size_t ndst;
	struct tr_ip4_lpm_key *kx4; /* tr_xdp4_deny / tr_xdp6_deny */
	size_t nx4;
	struct tr_ip6_lpm_key *kx6;
	size_t nx6;
	struct wl_addr_entry *wla; /* tr_wl_addr as written, sorted by key */
	size_t n_wla;
};

struct polmaps_result {
	const char *failed_map; /* on failure: the map that was full or refused */
	uint32_t epoch;
	size_t addresses, cgroups, verdicts, classes_src, classes_dst;
	size_t xdp_deny; /* sources dropped at the uplink */
};

/* Class id of compiled class c in epoch e (0 stays 0). */
uint32_t polmaps_class(uint32_t epoch, uint32_t c);

/* Read back ids and the active epoch; remove leftovers of other epochs. */
int polmaps_adopt(const struct tr_pol_fds *fds, struct polmaps_state *st);

/* Apply; rt[] is parallel to pc->workloads. Returns 0, -ENOSPC (nothing
 * changed) or another -errno (rolled back); msg says why. */
int polmaps_apply(const struct tr_pol_fds *fds, struct polmaps_state *st,
		  const struct tr_config *cfg, const struct tr_policy_compiled *pc,
		  const struct pol_runtime *rt, uint32_t flags,
		  struct polmaps_result *res, char *msg, size_t len);

void polmaps_free(struct polmaps_state *st);

/*
 * Is rule r of policy p an early deny for the uplink (include/trestle/xdp.h)?
 * A DENY policy of the mesh's root namespace without a selector (so every
 * workload's), whose rule names sources by ipBlocks only and every port:
 * its blocks are denied whatever the destination. Others are decided where
 * they always are (tc, socket hooks).
 */
bool polmaps_xdp_deny_rule(const struct tr_config *cfg, const struct pc_policy *p, size_t r);

/* Which entry polmaps_verdict() found. */
enum pol_verdict_entry { POL_V_NONE = 0, POL_V_PORT, POL_V_ALL_PORTS, POL_V_DST_DEFAULT };

/*
 * The kernel's pol_verdict() (bpf/lib/policy.h) from userspace: the port's
 * entry, the all-ports entry, then the destination's default. Returns the
 * entry found (*v filled), POL_V_NONE, or -errno when a lookup failed.
 */
int polmaps_verdict(int pol_fd, int pol_dst_fd, uint32_t dst_class, uint32_t src_class,
		    uint16_t port, struct tr_pol_verdict *v);

#endif /* TRESTLE_POLMAPS_H */
