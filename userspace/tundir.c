// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Snapshot of the mesh for the tunnel threads (tundir.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tundir.h"

static int ip_cmp(const struct tr_ip *a, const struct tr_ip *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16);
}

static int pod_cmp(const void *a, const void *b)
{
	return ip_cmp(&((const struct tun_pod *)a)->ip, &((const struct tun_pod *)b)->ip);
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

struct tun_dir *tun_dir_build(const struct tr_config *cfg, const struct idtable *workloads,
			      const char *local_node)
{
	struct tun_dir *d = calloc(1, sizeof(*d));
	size_t n = 0;

	if (!d)
		return NULL;
	atomic_init(&d->refs, 1);
	copy(d->trust_domain, sizeof(d->trust_domain), cfg->mesh.trust_domain);
	copy(d->local_node, sizeof(d->local_node), local_node);
	for (size_t i = 0; i < cfg->n_pods; i++)
		n += cfg->pods[i].n_ips;
	d->pods = calloc(n + 1, sizeof(*d->pods));
	d->nodes = calloc(cfg->n_nodes + 1, sizeof(*d->nodes));
	if (!d->pods || !d->nodes) {
		tun_dir_put(d);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_pods; i++) {
		const struct tr_pod *p = &cfg->pods[i];
		char key[256];
		uint32_t id = 0;

		snprintf(key, sizeof(key), "%s/%s", p->ns, p->name);
		if (workloads)
			id = idtable_find(workloads, key);
		for (size_t j = 0; j < p->n_ips; j++) {
			struct tun_pod *t = &d->pods[d->n_pods++];

			t->ip = p->ips[j];
			copy(t->ns, sizeof(t->ns), p->ns);
			copy(t->name, sizeof(t->name), p->name);
			copy(t->sa, sizeof(t->sa), p->service_account);
			copy(t->node, sizeof(t->node), p->node);
			t->wl_id = id;
		}
	}
	qsort(d->pods, d->n_pods, sizeof(*d->pods), pod_cmp);
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		struct tun_node *t = &d->nodes[d->n_nodes++];

		copy(t->name, sizeof(t->name), cfg->nodes[i].name);
		for (size_t j = 0; j < cfg->nodes[i].n_internal_ips && t->n_ips < 4; j++)
			t->ips[t->n_ips++] = cfg->nodes[i].internal_ips[j];
	}
	return d;
}

struct tun_dir *tun_dir_ref(struct tun_dir *d)
{
	if (d)
		atomic_fetch_add(&d->refs, 1);
	return d;
}

void tun_dir_put(struct tun_dir *d)
{
	if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	free(d->pods);
	free(d->nodes);
	free(d);
}

const struct tun_pod *tun_dir_pod(const struct tun_dir *d, const struct tr_ip *ip)
{
	struct tun_pod k = { .ip = *ip };

	return bsearch(&k, d->pods, d->n_pods, sizeof(*d->pods), pod_cmp);
}

const struct tr_ip *tun_dir_node_ip(const struct tun_dir *d, const char *node, int family)
{
	for (size_t i = 0; i < d->n_nodes; i++) {
		const struct tun_node *t = &d->nodes[i];

		if (strcmp(t->name, node) || !t->n_ips)
			continue;
		for (size_t j = 0; j < t->n_ips; j++)
			if (t->ips[j].family == family)
				return &t->ips[j];
		return &t->ips[0];
	}
	return NULL;
}
