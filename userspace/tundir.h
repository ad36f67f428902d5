/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the tunnel threads need to know of the mesh, as an immutable,
 * reference-counted snapshot built at each configuration apply: every Pod
 * address with its identity and node, every Node's InternalIPs, the trust
 * domain. Threads take a reference and never see a half-applied change.
 */
#ifndef TRESTLE_TUNDIR_H
#define TRESTLE_TUNDIR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "idtable.h"

struct tun_pod {
	struct tr_ip ip;
	char ns[64], name[128], sa[64], node[64];
	uint32_t wl_id; /* tr_wl_info id (0 if the workload has none yet) */
};

struct tun_node {
	char name[64];
	struct tr_ip ips[4];
	size_t n_ips;
};

struct tun_dir {
	_Atomic int refs;
	char trust_domain[128];
	char local_node[64];
	struct tun_pod *pods; /* one row per address, sorted by address */
	size_t n_pods;
	struct tun_node *nodes;
	size_t n_nodes;
};

/* Build from a validated configuration; workloads: the policy map's
 * "ns/name" ids (may be NULL). NULL when out of memory. */
struct tun_dir *tun_dir_build(const struct tr_config *cfg, const struct idtable *workloads,
			      const char *local_node);
struct tun_dir *tun_dir_ref(struct tun_dir *d);
void tun_dir_put(struct tun_dir *d);

const struct tun_pod *tun_dir_pod(const struct tun_dir *d, const struct tr_ip *ip);
/* The node's InternalIP, of family if it has one, else any; NULL if none. */
const struct tr_ip *tun_dir_node_ip(const struct tun_dir *d, const char *node, int family);

#endif /* TRESTLE_TUNDIR_H */
