/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's side of the tunnel maps (include/trestle/tunnel.h): the
 * steering switch with this node's addresses (tr_tun_cfg) and the resolved
 * PeerAuthentication modes per workload and port (tr_peerauth).
 */
#ifndef TRESTLE_TUNMAPS_H
#define TRESTLE_TUNMAPS_H

#include <stdbool.h>
#include <stddef.h>

#include <trestle/tunnel.h>

#include "config.h"
#include "idtable.h"

struct pa_entry {
	struct tr_peerauth_key key;
	struct tr_peerauth val;
};

struct tunmaps {
	int cfg, peerauth, orig, peer; /* pinned map fds */
	struct pa_entry *pa;           /* tr_peerauth as written, sorted by key */
	size_t n_pa;
	bool enabled;                  /* what tr_tun_cfg says now */
	__u32 flags;                   /* TR_TUN_F_* of the last sync */
};

int tunmaps_open(struct tunmaps *t, const char *bpffs);
void tunmaps_close(struct tunmaps *t);

/*
 * Steering on (enabled) or off, with this node's InternalIPs from its Node
 * object. Returns 0; -ENOENT when steering is on but the node has no
 * InternalIP (connections that need mTLS are then refused, and said so).
 */
int tunmaps_set_cfg(struct tunmaps *t, const struct tr_config *cfg, const char *node,
		    bool enabled);

/* Bring tr_peerauth to cfg's PeerAuthentications. Only modes other than
 * PERMISSIVE (the kernel's default) are written; *changed counts the
 * entries written or removed. 0 or -errno (msg). Call before
 * tunmaps_set_cfg, which publishes which modes exist. */
int tunmaps_sync_peerauth(struct tunmaps *t, const struct tr_config *cfg,
			  const struct idtable *workloads, size_t *changed, char *msg, size_t len);

#endif /* TRESTLE_TUNMAPS_H */
