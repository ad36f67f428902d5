// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "xdp_compile.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <trestle/abi.h>

#include "maglev.h"

static void xwarn(struct tr_diags *d, const struct tr_src *src, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void xwarn(struct tr_diags *d, const struct tr_src *src, const char *fmt, ...)
{
	struct tr_diag *items;
	char *msg = NULL;
	va_list ap;
	int n;

	if (!d)
		return;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	items = realloc(d->items, (d->n + 1) * sizeof(*items));
	if (!items) {
		free(msg);
		return;
	}
	d->items = items;
	items[d->n].level = TR_DIAG_WARNING;
	items[d->n].file = src && src->file ? strdup(src->file) : NULL;
	items[d->n].line = src ? src->line : 0;
	items[d->n].message = msg;
	d->n++;
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

const char *xdp_front_kind_name(enum xdp_front_kind k)
{
	switch (k) {
	case XDP_FRONT_LB:
		return "lb";
	case XDP_FRONT_EXTERNAL:
		return "external";
	default:
		return "nodeport";
	}
}

static size_t ip_len(const struct tr_ip *ip)
{
	return ip->family == AF_INET ? 4 : 16;
}

static const struct tr_node *find_node(const struct tr_config *cfg, const char *name)
{
	for (size_t i = 0; name && *name && i < cfg->n_nodes; i++)
		if (cfg->nodes[i].name && !strcmp(cfg->nodes[i].name, name))
			return &cfg->nodes[i];
	return NULL;
}

static const struct tr_ip *node_ip(const struct tr_node *n, int family)
{
	for (size_t i = 0; n && i < n->n_internal_ips; i++)
		if (n->internal_ips[i].family == family)
			return &n->internal_ips[i];
	return NULL;
}

/* The node a backend runs on: the endpoint's nodeName, else its Pod's. */
static const char *backend_node(const struct tr_config *cfg, const struct tr_cbackend *b)
{
	if (b->node[0])
		return b->node;
	for (size_t i = 0; i < cfg->n_pods; i++)
		for (size_t j = 0; j < cfg->pods[i].n_ips; j++)
			if (tr_ip_equal(&cfg->pods[i].ips[j], &b->ip))
				return cfg->pods[i].node;
	return "";
}

/* Building state: where each backend and each service's ring went. */
struct xbuild {
	uint64_t *bkeys;  /* open addressing on maglev keys: index + 1, 0 = free */
	uint32_t *bslot;
	size_t bcap;      /* a power of two */
	long *ring_of;    /* per compiled service: ring index, -1 = none yet */
};

static bool same_backend(const struct xdp_cbackend *a, const struct xdp_cbackend *b)
{
	return a->key == b->key && a->port == b->port && tr_ip_equal(&a->ip, &b->ip);
}

/* Index of the backend (family, address, port), added when new. */
static long backend_index(struct xdp_compiled *x, struct xbuild *xb, const struct xdp_cbackend *b)
{
	struct xdp_cbackend *n;
	size_t h;

	if ((x->n_backends + 1) * 2 > xb->bcap) {
		size_t cap = xb->bcap ? xb->bcap * 2 : 64;
		uint32_t *slot = calloc(cap, sizeof(*slot));

		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < x->n_backends; i++) {
			for (h = x->backends[i].key & (cap - 1); slot[h]; h = (h + 1) & (cap - 1))
				;
			slot[h] = (uint32_t)i + 1;
		}
		free(xb->bslot);
		xb->bslot = slot;
		xb->bcap = cap;
	}
	for (h = b->key & (xb->bcap - 1); xb->bslot[h]; h = (h + 1) & (xb->bcap - 1))
		if (same_backend(&x->backends[xb->bslot[h] - 1], b))
			return (long)xb->bslot[h] - 1;
	n = realloc(x->backends, (x->n_backends + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	x->backends = n;
	n[x->n_backends] = *b;
	xb->bslot[h] = (uint32_t)x->n_backends + 1;
	return (long)x->n_backends++;
}

/* The ring of compiled service port 'svc', built on first use. */
static long ring_of(const struct tr_config *cfg, const struct tr_compiled *comp, size_t svc,
		    const char *node, struct xdp_compiled *x, struct xbuild *xbld,
		    struct tr_diags *diags)
{
	const struct tr_cservice *cs = &comp->services[svc];
	const struct tr_node *here = find_node(cfg, node);
	struct maglev_backend *mb = NULL;
	uint32_t *map = NULL, *tmp = NULL;
	struct xdp_cring *r;
	size_t n = 0;
	long err = 0;

	if (xbld->ring_of[svc] >= 0)
		return xbld->ring_of[svc];
	r = realloc(x->rings, (x->n_rings + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	x->rings = r;
	r = &x->rings[x->n_rings];
	memset(r, 0, sizeof(*r));
	r->svc = svc;

	mb = calloc(cs->n_backends + 1, sizeof(*mb));
	map = calloc(cs->n_backends + 1, sizeof(*map));
	if (!mb || !map) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cs->n_backends; i++) {
		const struct tr_cbackend *b = &cs->backends[i];
		const char *bn = backend_node(cfg, b);
		struct xdp_cbackend xb = { .ip = b->ip, .port = b->port };
		unsigned char id[19];
		long idx;

		if (!b->ready || !b->slots)
			continue;
		id[0] = (unsigned char)b->ip.family;
		memcpy(id + 1, b->ip.bytes, 16);
		id[17] = (unsigned char)(b->port >> 8);
		id[18] = (unsigned char)b->port;
		xb.key = maglev_key(id, sizeof(id));
		if (!strcmp(bn, node)) {
			xb.local = true;
		} else {
			const struct tr_node *other = find_node(cfg, bn);
			const struct tr_ip *ip = NULL;
			char a[64];

			/* the outer family: one both nodes have, IPv4 first */
			if (node_ip(here, AF_INET) && node_ip(other, AF_INET))
				ip = node_ip(other, AF_INET);
			else if (node_ip(here, AF_INET6) && node_ip(other, AF_INET6))
				ip = node_ip(other, AF_INET6);
			if (!ip) {
				xwarn(diags, NULL,
				      "uplink load balancer: backend %s port %u of Service %s/%s runs on node \"%s\", which has no InternalIP of a family node \"%s\" has; it gets no external traffic",
				      tr_ip_str(&b->ip, a, sizeof(a)), b->port, cs->ns, cs->name,
				      bn, node);
				continue;
			}
			xb.node = *ip;
		}
		idx = backend_index(x, xbld, &xb);
		if (idx < 0) {
			err = idx;
			goto out;
		}
		mb[n].key = xb.key;
		mb[n].weight = b->slots;
		map[n++] = (uint32_t)idx;
	}
	if (n) {
		r->size = maglev_size(n);
		r->slots = calloc(r->size, sizeof(*r->slots));
		tmp = calloc(r->size, sizeof(*tmp));
		if (!r->slots || !tmp) {
			err = -ENOMEM;
			goto out;
		}
		err = maglev_build(mb, n, x->seed, r->size, tmp);
		if (err)
			goto out;
		for (uint32_t s = 0; s < r->size; s++)
			r->slots[s] = map[tmp[s]];
	}
	r->hash = fnv(FNV_INIT, &r->size, sizeof(r->size));
	for (uint32_t s = 0; s < r->size; s++)
		r->hash = fnv(r->hash, &x->backends[r->slots[s]].key, 8);
	x->n_rings++;
	err = (long)(x->n_rings - 1);
	xbld->ring_of[svc] = err;
out:
	if (err < 0)
		free(r->slots);
	free(tmp);
	free(mb);
	free(map);
	return err;
}

/* The compiled service port a front of Service svc, port p, family fam
 * is (compiled services are sorted by key: compile_key_cmp()). */
static long find_cservice(const struct tr_compiled *comp, const struct tr_service *svc,
			  const struct tr_svc_port *p, int fam)
{
	uint8_t proto = p->proto == IPPROTO_UDP ? TR_PROTO_UDP : TR_PROTO_TCP;

	for (size_t v = 0; v < svc->n_vips; v++) {
		size_t lo = 0, hi = comp->n_services;

		if (svc->vips[v].family != fam)
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const struct tr_cservice *cs = &comp->services[mid];
			int c = compile_key_cmp(&cs->vip, cs->port, cs->proto, &svc->vips[v],
						p->port, proto);

			if (!c)
				return (long)mid;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return -ENOENT;
}

static int add_front(const struct tr_config *cfg, const struct tr_compiled *comp,
		     const char *node, struct xdp_compiled *x, struct xbuild *xb,
		     struct tr_diags *diags,
		     const struct tr_service *svc, const struct tr_svc_port *p,
		     const struct tr_ip *addr, uint16_t port, enum xdp_front_kind kind)
{
	struct xdp_cfront *f;
	long cs, ring;
	char a[64];

	cs = find_cservice(comp, svc, p, addr->family);
	if (cs < 0) {
		xwarn(diags, &p->src,
		      "Service %s/%s: %s address %s is %s but the Service has no cluster IP of that family; the uplink does not serve it",
		      svc->ns, svc->name, xdp_front_kind_name(kind), tr_ip_str(addr, a, sizeof(a)),
		      addr->family == AF_INET ? "IPv4" : "IPv6");
		return 0;
	}
	ring = ring_of(cfg, comp, (size_t)cs, node, x, xb, diags);
	if (ring < 0)
		return (int)ring;
	f = realloc(x->fronts, (x->n_fronts + 1) * sizeof(*f));
	if (!f)
		return -ENOMEM;
	x->fronts = f;
	f = &f[x->n_fronts++];
	memset(f, 0, sizeof(*f));
	f->addr = *addr;
	f->port = port;
	f->proto = p->proto == IPPROTO_UDP ? TR_PROTO_UDP : TR_PROTO_TCP;
	f->kind = kind;
	f->ring = (size_t)ring;
	return 0;
}

int xdp_compile(const struct tr_config *cfg, const struct tr_compiled *comp,
		const char *node, struct xdp_compiled *out, struct tr_diags *diags)
{
	const struct tr_node *here = find_node(cfg, node);
	const char *td = cfg->mesh.trust_domain ? cfg->mesh.trust_domain : "cluster.local";
	struct xdp_compiled x = {};
	struct xbuild xb = {};
	int err = 0;

	memset(out, 0, sizeof(*out));
	xb.ring_of = malloc((comp->n_services + 1) * sizeof(*xb.ring_of));
	if (!xb.ring_of)
		return -ENOMEM;
	for (size_t i = 0; i < comp->n_services; i++)
		xb.ring_of[i] = -1;
	/* the same on every node of the mesh: the trust domain's hash */
	x.seed = (uint32_t)fnv(FNV_INIT, td, strlen(td));
	if (node_ip(here, AF_INET))
		x.node4 = *node_ip(here, AF_INET);
	if (node_ip(here, AF_INET6))
		x.node6 = *node_ip(here, AF_INET6);

	for (size_t i = 0; !err && i < cfg->n_services; i++) {
		const struct tr_service *svc = &cfg->services[i];

		for (size_t k = 0; !err && k < svc->n_ports; k++) {
			const struct tr_svc_port *p = &svc->ports[k];

			for (size_t j = 0; !err && j < svc->n_lb_ips; j++)
				err = add_front(cfg, comp, node, &x, &xb, diags, svc, p, &svc->lb_ips[j],
						p->port, XDP_FRONT_LB);
			for (size_t j = 0; !err && j < svc->n_external_ips; j++)
				err = add_front(cfg, comp, node, &x, &xb, diags, svc, p,
						&svc->external_ips[j], p->port, XDP_FRONT_EXTERNAL);
			if (!p->node_port)
				continue;
			/* every node's: a packet for another node's address is
			 * decapsulated here when that node balanced it to us */
			for (size_t n = 0; !err && n < cfg->n_nodes; n++)
				for (size_t j = 0; !err && j < cfg->nodes[n].n_internal_ips; j++)
					err = add_front(cfg, comp, node, &x, &xb, diags, svc, p,
							&cfg->nodes[n].internal_ips[j],
							p->node_port, XDP_FRONT_NODE_PORT);
		}
	}
	free(xb.ring_of);
	free(xb.bslot);
	if (err) {
		xdp_compiled_free(&x);
		return err;
	}
	x.hash = fnv(FNV_INIT, &x.seed, sizeof(x.seed));
	x.hash = fnv(x.hash, x.node4.bytes, ip_len(&x.node4));
	x.hash = fnv(x.hash, x.node6.bytes, 16);
	for (size_t i = 0; i < x.n_fronts; i++) {
		x.hash = fnv(x.hash, x.fronts[i].addr.bytes, ip_len(&x.fronts[i].addr));
		x.hash = fnv(x.hash, &x.fronts[i].port, 2);
		x.hash = fnv(x.hash, &x.fronts[i].proto, 1);
		x.hash = fnv(x.hash, &x.rings[x.fronts[i].ring].hash, 8);
	}
	for (size_t i = 0; i < x.n_backends; i++) {
		x.hash = fnv(x.hash, &x.backends[i].key, 8);
		x.hash = fnv(x.hash, &x.backends[i].local, 1);
		x.hash = fnv(x.hash, x.backends[i].node.bytes, 16);
	}
	*out = x;
	return 0;
}

void xdp_compiled_free(struct xdp_compiled *x)
{
	for (size_t i = 0; i < x->n_rings; i++)
		free(x->rings[i].slots);
	free(x->rings);
	free(x->fronts);
	free(x->backends);
	memset(x, 0, sizeof(*x));
}
