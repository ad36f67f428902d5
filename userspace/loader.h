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

struct tr_sock;

struct tr_loader {
	struct tr_sock *skel;
	char *bpffs;
	char *cgroup;
	int cgroup_fd;
	struct tr_map_fds fds;
	int n_attached;  /* links created by this agent */
	int n_replaced;  /* pinned links whose program this agent replaced */
};

/* Open, load, pin and attach. Returns 0 or -errno; logs the reason. */
int loader_start(struct tr_loader *l, const char *bpffs, const char *cgroup);

/* Close everything without detaching: pinned links and maps stay. */
void loader_close(struct tr_loader *l);

/* Detach every pinned link and remove every pin under bpffs. */
int loader_cleanup(const char *bpffs, const char *cgroup);

#endif /* TRESTLE_LOADER_H */
