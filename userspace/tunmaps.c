// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tr_tun_cfg and tr_peerauth from the configuration (tunmaps.h). */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "log.h"
#include "peerauth.h"
#include "pins.h"
#include "tunmaps.h"

#define MAX_PORTS_PER_POD 256

static int pa_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct pa_entry *)a)->key, &((const struct pa_entry *)b)->key,
		      sizeof(struct tr_peerauth_key));
}

int tunmaps_open(struct tunmaps *t, const char *bpffs)
{
	memset(t, 0, sizeof(*t));
	t->cfg = pins_map_open(bpffs, TR_MAP_TUN_CFG);
	t->peerauth = pins_map_open(bpffs, TR_MAP_PEERAUTH);
	t->orig = pins_map_open(bpffs, TR_MAP_TUN_ORIG);
	t->peer = pins_map_open(bpffs, TR_MAP_TUN_PEER);
	if (t->cfg < 0 || t->peerauth < 0 || t->orig < 0 || t->peer < 0) {
		int err = t->cfg < 0 ? t->cfg : t->peerauth < 0 ? t->peerauth :
			  t->orig < 0 ? t->orig : t->peer;

		tunmaps_close(t);
		return err < 0 ? err : -ENOENT;
	}
	/* what a previous agent wrote is replaced at the first sync */
	{
		struct tr_peerauth_key k, next, *prev = NULL;
		size_t cap = 0;

		while (!bpf_map_get_next_key(t->peerauth, prev, &next)) {
			struct pa_entry *e;

			if (t->n_pa == cap) {
				cap = cap ? cap * 2 : 64;
				e = realloc(t->pa, cap * sizeof(*e));
				if (!e)
					break;
				t->pa = e;
			}
			e = &t->pa[t->n_pa++];
			e->key = next;
			bpf_map_lookup_elem(t->peerauth, &next, &e->val);
			k = next;
			prev = &k;
		}
		if (t->n_pa)
			qsort(t->pa, t->n_pa, sizeof(*t->pa), pa_cmp);
	}
	return 0;
}

void tunmaps_close(struct tunmaps *t)
{
	int *fds[] = { &t->cfg, &t->peerauth, &t->orig, &t->peer };

	for (size_t i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	free(t->pa);
	t->pa = NULL;
	t->n_pa = 0;
}

int tunmaps_set_cfg(struct tunmaps *t, const struct tr_config *cfg, const char *node,
		    bool enabled)
{
	struct tr_tun_cfg c = {};
	__u32 zero = 0;
	bool found = false;

	for (size_t i = 0; enabled && i < cfg->n_nodes; i++) {
		const struct tr_node *n = &cfg->nodes[i];

		if (strcmp(n->name, node))
			continue;
		for (size_t j = 0; j < n->n_internal_ips; j++) {
			const struct tr_ip *ip = &n->internal_ips[j];

			if (ip->family == AF_INET && !c.node4) {
				memcpy(&c.node4, ip->bytes, 4);
				found = true;
			} else if (ip->family == AF_INET6 && !c.node6[0] && !c.node6[1] &&
				   !c.node6[2] && !c.node6[3]) {
				memcpy(c.node6, ip->bytes, 16);
				found = true;
			}
		}
	}
	c.enabled = enabled;
	c.flags = t->flags;
	if (bpf_map_update_elem(t->cfg, &zero, &c, BPF_ANY))
		return -errno;
	if (enabled != t->enabled)
		log_info("mTLS steering %s", enabled ? "on" : "off");
	t->enabled = enabled;
	if (enabled && !found) {
		log_warn("node %s has no Node object with an InternalIP: connections to other nodes' workloads that need mTLS are refused (hint: add a v1 Node named %s with status.addresses type InternalIP)",
			 node, node);
		return -ENOENT;
	}
	return 0;
}

static __u32 kmode(enum tr_mtls_mode m)
{
	switch (m) {
	case TR_PA_STRICT:
		return TR_MTLS_STRICT;
	case TR_PA_DISABLE:
		return TR_MTLS_DISABLE;
	case TR_PA_PERMISSIVE:
		return TR_MTLS_PERMISSIVE;
	default:
		return TR_MTLS_UNSET;
	}
}

int tunmaps_sync_peerauth(struct tunmaps *t, const struct tr_config *cfg,
			  const struct idtable *workloads, size_t *changed, char *msg, size_t len)
{
	struct pa_entry *want = NULL;
	size_t n = 0, cap = 0;
	uint16_t ports[MAX_PORTS_PER_POD];
	enum tr_mtls_mode modes[MAX_PORTS_PER_POD];
	int err = 0;

	*changed = 0;
	for (size_t i = 0; i < cfg->n_pods; i++) {
		const struct tr_pod *pod = &cfg->pods[i];
		enum tr_mtls_mode dflt;
		char name[256];
		size_t np;
		uint32_t id;

		snprintf(name, sizeof(name), "%s/%s", pod->ns, pod->name);
		id = idtable_find(workloads, name);
		if (!id)
			continue;
		np = peerauth_pod(cfg, pod, &dflt, ports, modes, MAX_PORTS_PER_POD);
		if (n + np + 1 > cap) {
			struct pa_entry *w;

			cap = (n + np + 1) * 2;
			w = realloc(want, cap * sizeof(*w));
			if (!w) {
				free(want);
				snprintf(msg, len, "out of memory");
				return -ENOMEM;
			}
			want = w;
		}
		if (dflt != TR_PA_PERMISSIVE) {
			memset(&want[n], 0, sizeof(want[n]));
			want[n].key.workload = id;
			want[n].val.mode = kmode(dflt);
			n++;
		}
		for (size_t j = 0; j < np; j++) {
			memset(&want[n], 0, sizeof(want[n]));
			want[n].key.workload = id;
			want[n].key.port = ports[j];
			want[n].val.mode = kmode(modes[j]);
			n++;
		}
	}
	if (n > TR_MAX_PEERAUTH) {
		snprintf(msg, len, "map %s would need %zu entries, capacity %d", TR_MAP_PEERAUTH,
			 n, TR_MAX_PEERAUTH);
		free(want);
		return -ENOSPC;
	}
	if (n)
		qsort(want, n, sizeof(*want), pa_cmp);
	/* add and change first, then remove what is gone */
	for (size_t i = 0; i < n; i++) {
		struct pa_entry *old = t->n_pa ? bsearch(&want[i], t->pa, t->n_pa,
							  sizeof(*t->pa), pa_cmp) : NULL;

		if (old && old->val.mode == want[i].val.mode)
			continue;
		if (bpf_map_update_elem(t->peerauth, &want[i].key, &want[i].val, BPF_ANY)) {
			err = -errno;
			snprintf(msg, len, "map %s: %s", TR_MAP_PEERAUTH, strerror(errno));
		} else {
			(*changed)++;
		}
	}
	for (size_t i = 0; i < t->n_pa; i++)
		if (!n || !bsearch(&t->pa[i], want, n, sizeof(*want), pa_cmp)) {
			bpf_map_delete_elem(t->peerauth, &t->pa[i].key);
			(*changed)++;
		}
	free(t->pa);
	t->pa = want;
	t->n_pa = n;
	t->flags = 0;
	for (size_t i = 0; i < n; i++)
		t->flags |= want[i].val.mode == TR_MTLS_STRICT  ? TR_TUN_F_ANY_STRICT :
			    want[i].val.mode == TR_MTLS_DISABLE ? TR_TUN_F_ANY_DISABLE : 0;
	return err;
}
