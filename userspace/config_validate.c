// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Checks across the whole set of objects: one object per (kind, namespace,
 * name), one Service per VIP:port/protocol, and EndpointSlices that point
 * at a Service the set does not define. Sorting keeps them O(n log n).
 * Objects that failed their own checks are still here (the load is
 * refused anyway); fields may be missing and are skipped.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct obj_ref {
	const char *kind;
	const char *ns;   /* "" for cluster-scoped kinds */
	const char *name;
	const struct tr_src *src;
	size_t seq;       /* load order, so the first one is named first */
};

static int cmp_obj_ref(const void *pa, const void *pb)
{
	const struct obj_ref *a = pa, *b = pb;
	int c;

	if ((c = strcmp(a->kind, b->kind)) || (c = strcmp(a->ns, b->ns)) ||
	    (c = strcmp(a->name, b->name)))
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void add_ref(struct obj_ref *refs, size_t *n, const char *kind,
		    const char *ns, const char *name, const struct tr_src *src)
{
	if (!name)
		return;
	refs[*n] = (struct obj_ref){ kind, ns ? ns : "", name, src, *n };
	(*n)++;
}

static void check_duplicates(struct loader *ld)
{
	const struct tr_config *cfg = ld->cfg;
	struct obj_ref *refs, *a, *b;
	size_t total, n = 0, i;

	total = cfg->n_services + cfg->n_slices + cfg->n_pods + cfg->n_nodes +
		cfg->n_dest_rules + cfg->n_virtual_services + cfg->n_authz_policies +
		cfg->n_peer_authns;
	if (total < 2)
		return;
	refs = ld_zalloc(ld, total * sizeof(*refs));
	if (!refs)
		return;
	for (i = 0; i < cfg->n_services; i++)
		add_ref(refs, &n, "Service", cfg->services[i].ns,
			cfg->services[i].name, &cfg->services[i].src);
	for (i = 0; i < cfg->n_slices; i++)
		add_ref(refs, &n, "EndpointSlice", cfg->slices[i].ns,
			cfg->slices[i].name, &cfg->slices[i].src);
	for (i = 0; i < cfg->n_pods; i++)
		add_ref(refs, &n, "Pod", cfg->pods[i].ns, cfg->pods[i].name,
			&cfg->pods[i].src);
	for (i = 0; i < cfg->n_nodes; i++)
		add_ref(refs, &n, "Node", NULL, cfg->nodes[i].name,
			&cfg->nodes[i].src);
	for (i = 0; i < cfg->n_dest_rules; i++)
		add_ref(refs, &n, "DestinationRule", cfg->dest_rules[i].ns,
			cfg->dest_rules[i].name, &cfg->dest_rules[i].src);
	for (i = 0; i < cfg->n_virtual_services; i++)
		add_ref(refs, &n, "VirtualService", cfg->virtual_services[i].ns,
			cfg->virtual_services[i].name, &cfg->virtual_services[i].src);
	for (i = 0; i < cfg->n_authz_policies; i++)
		add_ref(refs, &n, "AuthorizationPolicy", cfg->authz_policies[i].ns,
			cfg->authz_policies[i].name, &cfg->authz_policies[i].src);
	for (i = 0; i < cfg->n_peer_authns; i++)
		add_ref(refs, &n, "PeerAuthentication", cfg->peer_authns[i].ns,
			cfg->peer_authns[i].name, &cfg->peer_authns[i].src);
	qsort(refs, n, sizeof(*refs), cmp_obj_ref);
	for (i = 1, a = refs; i < n; i++) {
		b = &refs[i];
		if (strcmp(a->kind, b->kind) || strcmp(a->ns, b->ns) ||
		    strcmp(a->name, b->name)) {
			a = b; /* a: the first of a run of equal names */
			continue;
		}
		ld_diag(ld, TR_DIAG_ERROR, b->src->file, b->src->line,
			"%s %s%s%s: duplicate object: already defined at %s:%d",
			b->kind, b->ns, *b->ns ? "/" : "", b->name, a->src->file,
			a->src->line);
	}
	free(refs);
}

struct vip_ref {
	const struct tr_ip *ip;
	uint16_t port;
	int proto;
	const struct tr_service *svc;
	size_t port_idx;
	size_t seq;
};

static int cmp_vip_ref(const void *pa, const void *pb)
{
	const struct vip_ref *a = pa, *b = pb;
	int c;

	if (a->ip->family != b->ip->family)
		return a->ip->family < b->ip->family ? -1 : 1;
	if ((c = memcmp(a->ip->bytes, b->ip->bytes, sizeof(a->ip->bytes))))
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void check_vips(struct loader *ld)
{
	const struct tr_config *cfg = ld->cfg;
	struct vip_ref *refs, *a, *b;
	size_t total = 0, n = 0, i, j, k;
	const struct tr_service *s;
	char ip[64], first[512];
	struct obj o;

	for (i = 0; i < cfg->n_services; i++)
		total += (cfg->services[i].n_vips + cfg->services[i].n_external_ips +
			  cfg->services[i].n_lb_ips) * cfg->services[i].n_ports;
	if (total < 2)
		return;
	refs = ld_zalloc(ld, total * sizeof(*refs));
	if (!refs)
		return;
	for (i = 0; i < cfg->n_services; i++) {
		s = &cfg->services[i];
		/* cluster, external and load balancer addresses: one claim each */
		size_t n_addrs = s->n_vips + s->n_external_ips + s->n_lb_ips;

		for (j = 0; j < n_addrs; j++) {
			const struct tr_ip *ip = j < s->n_vips ? &s->vips[j] :
				j < s->n_vips + s->n_external_ips ?
				&s->external_ips[j - s->n_vips] :
				&s->lb_ips[j - s->n_vips - s->n_external_ips];

			for (k = 0; k < s->n_ports; k++) {
				if (!s->ports[k].port)
					continue;
				refs[n] = (struct vip_ref){ ip, s->ports[k].port,
							    s->ports[k].proto, s, k, n };
				n++;
			}
		}
	}
	qsort(refs, n, sizeof(*refs), cmp_vip_ref);
	for (i = 1, a = refs; i < n; i++) {
		b = &refs[i];
		if (!tr_ip_equal(a->ip, b->ip) || a->port != b->port ||
		    a->proto != b->proto) {
			a = b; /* a: the first claim of this VIP:port/proto */
			continue;
		}
		if (a->svc == b->svc)
			continue; /* a repeated port, reported with the Service */
		o = (struct obj){ .ld = ld, .file = b->svc->src.file, .kind = "Service",
				  .ns = b->svc->ns, .name = b->svc->name };
		path_key(&o, "spec");
		path_key(&o, "ports");
		path_idx(&o, b->port_idx);
		tr_ip_str(b->ip, ip, sizeof(ip));
		obj_err(&o, b->svc->ports[b->port_idx].src.line,
			"%s%s%s:%u/%s is already claimed by %s at %s:%d",
			b->ip->family == AF_INET6 ? "[" : "", ip,
			b->ip->family == AF_INET6 ? "]" : "", b->port,
			proto_name(b->proto),
			obj_label(first, sizeof(first), "Service", a->svc->ns, a->svc->name),
			a->svc->ports[a->port_idx].src.file,
			a->svc->ports[a->port_idx].src.line);
	}
	free(refs);
}

/* One Service per node port and protocol (they are every node's): a table
 * of the first claim of each port of the range. */
static void check_node_ports(struct loader *ld)
{
	enum { N = TR_NODE_PORT_MAX - TR_NODE_PORT_MIN + 1 };
	const struct tr_config *cfg = ld->cfg;
	struct claim { const struct tr_service *svc; size_t port; } *first;
	char label[512];
	struct obj o;

	first = ld_zalloc(ld, 2 * N * sizeof(*first));
	if (!first)
		return;
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct tr_service *sb = &cfg->services[i];

		for (size_t k = 0; k < sb->n_ports; k++) {
			const struct tr_svc_port *b = &sb->ports[k], *a;
			struct claim *c;

			if (b->node_port < TR_NODE_PORT_MIN || b->node_port > TR_NODE_PORT_MAX)
				continue;
			c = &first[(b->proto == IPPROTO_UDP ? N : 0) + b->node_port -
				   TR_NODE_PORT_MIN];
			if (!c->svc) {
				*c = (struct claim){ sb, k };
				continue;
			}
			a = &c->svc->ports[c->port];
			o = (struct obj){ .ld = ld, .file = sb->src.file, .kind = "Service",
					  .ns = sb->ns, .name = sb->name };
			path_key(&o, "spec");
			path_key(&o, "ports");
			path_idx(&o, k);
			path_key(&o, "nodePort");
			obj_err(&o, b->node_port_line,
				"node port %u/%s is already claimed by %s at %s:%d", b->node_port,
				proto_name(b->proto),
				obj_label(label, sizeof(label), "Service", c->svc->ns, c->svc->name),
				a->src.file, a->node_port_line);
		}
	}
	free(first);
}

static int cmp_svc_ptr(const void *pa, const void *pb)
{
	const struct tr_service *a = *(const struct tr_service *const *)pa;
	const struct tr_service *b = *(const struct tr_service *const *)pb;
	int c = strcmp(a->ns, b->ns);

	return c ? c : strcmp(a->name, b->name);
}

static void check_slice_services(struct loader *ld)
{
	const struct tr_config *cfg = ld->cfg;
	const struct tr_service **svcs, *key_p;
	struct tr_service key = {};
	const struct tr_endpointslice *es;
	size_t n = 0, i;
	struct obj o;

	if (!cfg->n_slices)
		return;
	svcs = ld_zalloc(ld, (cfg->n_services + 1) * sizeof(*svcs));
	if (!svcs)
		return;
	for (i = 0; i < cfg->n_services; i++)
		if (cfg->services[i].ns && cfg->services[i].name)
			svcs[n++] = &cfg->services[i];
	qsort(svcs, n, sizeof(*svcs), cmp_svc_ptr);
	for (i = 0; i < cfg->n_slices; i++) {
		es = &cfg->slices[i];
		if (!es->ns || !es->service)
			continue;
		key.ns = es->ns;
		key.name = es->service;
		key_p = &key;
		if (n && bsearch(&key_p, svcs, n, sizeof(*svcs), cmp_svc_ptr))
			continue;
		o = (struct obj){ .ld = ld, .file = es->src.file, .kind = "EndpointSlice",
				  .ns = es->ns, .name = es->name };
		path_key(&o, "metadata");
		path_key(&o, "labels");
		path_key(&o, LABEL_SERVICE_NAME);
		obj_warn(&o, es->src.line,
			 "Service %s/%s is not defined in this configuration; the slice is unused",
			 es->ns, es->service);
	}
	free(svcs);
}

void validate_set(struct loader *ld)
{
	check_duplicates(ld);
	check_vips(ld);
	check_node_ports(ld);
	check_slice_services(ld);
	validate_peer_authns(ld);
}
