/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Loads Trestle's BPF programs, pins their maps and links under the bpffs
 * directory, and attaches them to the cgroup. A second agent on the same
 * pins (a restart, an upgrade) reuses the pinned maps and swaps its own
 * programs into the pinned links with one atomic update each, so the data
 * path never has a moment without programs.
 */
#ifndef TRESTLE_LOADER_H
#define TRESTLE_LOADER_H

#include <stdbool.h>

#include "maps.h"
#include "polmaps.h"

struct tr_sock;
struct tr_tc;
struct tr_sockops;

struct tr_loader {
	struct tr_sock *skel;
	struct tr_tc *tc;          /* tc programs; share the pinned maps */
	struct tr_sockops *sockops; /* L4 metrics; shares the pinned maps */
	int l4_stat_fd;
	struct tr_pol_fds pfds;
	int flow_rb_fd;
	uint32_t *tc_ifindexes;    /* devices this agent attached or adopted */
	size_t n_tc;
	char *bpffs;
	char *cgroup;
	int cgroup_fd;
	struct tr_map_fds fds;
	int n_attached;  /* links created by this agent */
	int n_replaced;  /* pinned links whose program this agent replaced */
};

struct loader_opts {
	bool l4_metrics; /* count connections and bytes in sockops */
};

/* Open, load, pin and attach. Returns 0 or -errno; logs the reason. */
int loader_start(struct tr_loader *l, const char *bpffs, const char *cgroup,
		 const struct loader_opts *opts);

/*
 * Make the tc programs run on exactly these devices (the host-side devices
 * of local workloads): attach where missing (pinned links, so they survive
 * restarts), take over pinned ones, detach from devices no longer listed.
 * Returns 0 or the first -errno; logs per device.
 */
int loader_tc_sync(struct tr_loader *l, const uint32_t *ifindexes, size_t n);

/* Close everything without detaching: pinned links and maps stay. */
void loader_close(struct tr_loader *l);

/* Detach every pinned link and remove every pin under bpffs. */
int loader_cleanup(const char *bpffs, const char *cgroup);

#endif /* TRESTLE_LOADER_H */
