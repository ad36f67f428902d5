/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's side of the uplink load balancer (include/trestle/xdp.h):
 * XDP on the --uplink devices, the reply translation (tr_xdp_rnat) and
 * the settings workload devices need for it, and the maps from each
 * accepted configuration (xdp_compile.h, xdpmaps.h).
 *
 * Kernel settings it changes, each logged when it changes it, and only on
 * devices it manages: on every uplink and local workload device, IPv4
 * forwarding on, rp_filter 0 (replies leave with the service address as
 * source, which the reverse path check would refuse) and accept_local 1
 * (a NodePort reply's new source is a node's own address; so is the outer
 * source of an encapsulated packet XDP hands the stack to resolve); GRO on at the far end of each such veth, so that frames XDP
 * redirects into it are received (kernel-facts: a veth peer without XDP or
 * GRO drops them). Namespace-wide settings (IPv6 forwarding,
 * net.ipv4.conf.all.rp_filter) are checked and warned about, not changed.
 */
#ifndef TRESTLE_UPLINK_H
#define TRESTLE_UPLINK_H

#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "config.h"
#include "loader.h"
#include "maps.h"
#include "netdev.h"
#include "xdpmaps.h"

#define UPLINK_MAX 8

struct uplink {
	bool on;
	struct tr_loader *loader;
	struct netdev *netdev;
	struct xdpmaps_state st;
	bool adopted;
	struct loader_uplink devs[UPLINK_MAX];
	size_t n_devs;
	uint32_t *prepared; /* workload devices already set up */
	size_t n_prepared;
};

/* Attach to the uplinks (the XDP object is loaded: loader_xdp_start()).
 * 0 or -errno (logged). */
int uplink_start(struct uplink *u, struct tr_loader *l, struct netdev *nd,
		 const char *const *names, size_t n);

/* The local workloads' host-side devices: reply translation and settings. */
void uplink_workload_devs(struct uplink *u, const uint32_t *devs, size_t n);

/* Apply an accepted configuration. 0 or -errno (logged; the uplink keeps
 * its previous state). */
int uplink_apply(struct uplink *u, const struct tr_config *cfg, const struct tr_compiled *comp,
		 const struct tr_applied *applied, const char *node);

void uplink_close(struct uplink *u);

#endif /* TRESTLE_UPLINK_H */
