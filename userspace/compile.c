// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Configuration -> load-balancing state.
 *
 * For every Service, port and VIP the compiler finds the backends (the
 * EndpointSlices of the same family linked to the Service), decides the
 * split (a VirtualService tcp route with weights over DestinationRule
 * subsets, or an even split over all ready endpoints) and turns it into a
 * selection table (wselect.h).
 */
#include "compile.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wselect.h"

#define CLUSTER_DOMAIN "cluster.local"

static int cdiag(struct tr_diags *d, enum tr_diag_level level,
		 const struct tr_src *src, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int cdiag(struct tr_diags *d, enum tr_diag_level level,
		 const struct tr_src *src, const char *fmt, ...)
{
	struct tr_diag *items;
	char *msg = NULL;
	va_list ap;
	int n;

	items = realloc(d->items, (d->n + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	d->items = items;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	items[d->n].level = level;
	items[d->n].file = src && src->file ? strdup(src->file) : NULL;
	items[d->n].line = src ? src->line : 0;
	items[d->n].message = msg;
	d->n++;
	if (level == TR_DIAG_ERROR)
		d->n_errors++;
	return 0;
}

static void copy_name(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

const struct tr_service *compile_resolve_host(const struct tr_config *cfg,
					      const char *host, const char *ns)
{
	char buf[512];
	char *parts[8];
	size_t n = 0;
	const char *name, *sns;
	char *save = NULL, *tok;

	if (!host || snprintf(buf, sizeof(buf), "%s", host) >= (int)sizeof(buf))
		return NULL;
	for (tok = strtok_r(buf, ".", &save); tok && n < 8;
	     tok = strtok_r(NULL, ".", &save))
		parts[n++] = tok;
	if (!n || tok)
		return NULL;
	name = parts[0];
	sns = n >= 2 ? parts[1] : ns;
	if (n >= 3 && strcmp(parts[2], "svc"))
		return NULL;
	if (n > 3) {
		/* the rest is the cluster domain */
		const char *dom = host;
		const char *td = cfg->mesh.trust_domain;

		for (int dots = 0; dots < 3; dom++)
			if (*dom == '.')
				dots++;
		if (strcmp(dom, CLUSTER_DOMAIN) && (!td || strcmp(dom, td)))
			return NULL;
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct tr_service *s = &cfg->services[i];

		if (!strcmp(s->name, name) && !strcmp(s->ns, sns))
			return s;
	}
	return NULL;
}

/* A backend candidate while compiling. */
struct cand {
	struct tr_ip ip;
	uint16_t port;
	bool ready;
	const char *node, *zone, *pod, *subset;
	const struct tr_labels *labels;
	uint64_t weight;
};

struct cands {
	struct cand *items;
	size_t n;
};

/*
 * Lookups the compiler makes per endpoint, indexed once per compile so a
 * large configuration (100,000 services) compiles in time linear in its
 * size: slices by (namespace, service), pods by (namespace, address) and
 * by (namespace, name).
 */
struct pod_ip {
	const char *ns;
	const struct tr_ip *ip;
	const struct tr_pod *pod;
};

struct cx {
	const struct tr_config *cfg;
	const struct tr_endpointslice **slices; /* sorted by (ns, service) */
	struct pod_ip *pod_ips;                 /* sorted by (ns, address) */
	size_t n_pod_ips;
	const struct tr_pod **pods;             /* sorted by (ns, name) */
	struct vs_target {                      /* each VirtualService host, resolved */
		const struct tr_virtual_service *vs;
		const char *host;
		const struct tr_service *svc;
	} *vs_targets;
	size_t n_vs_targets;
};

static int slice_cmp(const void *pa, const void *pb)
{
	const struct tr_endpointslice *a = *(const struct tr_endpointslice *const *)pa;
	const struct tr_endpointslice *b = *(const struct tr_endpointslice *const *)pb;
	int c = strcmp(a->ns, b->ns);

	return c ? c : strcmp(a->service, b->service);
}

static int pod_ip_cmp(const void *pa, const void *pb)
{
	const struct pod_ip *a = pa, *b = pb;
	int c = strcmp(a->ns, b->ns);

	if (c)
		return c;
	if (a->ip->family != b->ip->family)
		return a->ip->family < b->ip->family ? -1 : 1;
	return memcmp(a->ip->bytes, b->ip->bytes, 16);
}

static int pod_name_cmp(const void *pa, const void *pb)
{
	const struct tr_pod *a = *(const struct tr_pod *const *)pa;
	const struct tr_pod *b = *(const struct tr_pod *const *)pb;
	int c = strcmp(a->ns, b->ns);

	return c ? c : strcmp(a->name, b->name);
}

static int cx_init(struct cx *x, const struct tr_config *cfg)
{
	size_t n = 0;

	memset(x, 0, sizeof(*x));
	x->cfg = cfg;
	for (size_t i = 0; i < cfg->n_pods; i++)
		n += cfg->pods[i].n_ips;
	x->slices = calloc(cfg->n_slices + 1, sizeof(*x->slices));
	x->pod_ips = calloc(n + 1, sizeof(*x->pod_ips));
	x->pods = calloc(cfg->n_pods + 1, sizeof(*x->pods));
	if (!x->slices || !x->pod_ips || !x->pods)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_slices; i++)
		x->slices[i] = &cfg->slices[i];
	qsort(x->slices, cfg->n_slices, sizeof(*x->slices), slice_cmp);
	for (size_t i = 0; i < cfg->n_pods; i++) {
		x->pods[i] = &cfg->pods[i];
		for (size_t j = 0; j < cfg->pods[i].n_ips; j++)
			x->pod_ips[x->n_pod_ips++] = (struct pod_ip){
				cfg->pods[i].ns, &cfg->pods[i].ips[j], &cfg->pods[i] };
	}
	qsort(x->pods, cfg->n_pods, sizeof(*x->pods), pod_name_cmp);
	qsort(x->pod_ips, x->n_pod_ips, sizeof(*x->pod_ips), pod_ip_cmp);

	n = 0;
	for (size_t i = 0; i < cfg->n_virtual_services; i++)
		n += cfg->virtual_services[i].n_hosts;
	x->vs_targets = calloc(n + 1, sizeof(*x->vs_targets));
	if (!x->vs_targets)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_virtual_services; i++) {
		const struct tr_virtual_service *vs = &cfg->virtual_services[i];

		for (size_t h = 0; h < vs->n_hosts; h++) {
			const struct tr_service *svc =
				compile_resolve_host(cfg, vs->hosts[h], vs->ns);

			if (svc)
				x->vs_targets[x->n_vs_targets++] =
					(struct vs_target){ vs, vs->hosts[h], svc };
		}
	}
	return 0;
}

static void cx_free(struct cx *x)
{
	free(x->slices);
	free(x->pod_ips);
	free(x->pods);
	free(x->vs_targets);
}

static const struct tr_pod *pod_by_ip(const struct cx *x, const char *ns,
				      const struct tr_ip *ip)
{
	struct pod_ip probe = { ns, ip, NULL };
	const struct pod_ip *hit;

	hit = bsearch(&probe, x->pod_ips, x->n_pod_ips, sizeof(*x->pod_ips), pod_ip_cmp);
	return hit ? hit->pod : NULL;
}

static const struct tr_pod *pod_by_name(const struct cx *x, const char *ns,
					const char *name)
{
	struct tr_pod probe = { .ns = (char *)ns, .name = (char *)name };
	const struct tr_pod *pp = &probe, *const *hit;

	hit = bsearch(&pp, x->pods, x->cfg->n_pods, sizeof(*x->pods), pod_name_cmp);
	return hit ? *hit : NULL;
}

/* The backend port an EndpointSlice gives for Service port sp, or 0. */
static uint16_t slice_port(const struct tr_endpointslice *es,
			   const struct tr_svc_port *sp)
{
	for (size_t i = 0; i < es->n_ports; i++) {
		const struct tr_es_port *p = &es->ports[i];

		if (!strcmp(p->name ? p->name : "", sp->name ? sp->name : "") &&
		    p->proto == sp->proto)
			return p->port;
	}
	if (es->n_ports)
		return 0;
	/* A slice without ports: the Service's numeric targetPort applies. */
	if (sp->target_port)
		return sp->target_port;
	return sp->target_port_name ? 0 : sp->port;
}

static int cands_add(struct cands *c, const struct cand *x)
{
	struct cand *items;

	for (size_t i = 0; i < c->n; i++) {
		if (c->items[i].port == x->port && tr_ip_equal(&c->items[i].ip, &x->ip)) {
			/* listed twice (two slices): ready if either says so */
			c->items[i].ready |= x->ready;
			return 0;
		}
	}
	items = realloc(c->items, (c->n + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	c->items = items;
	c->items[c->n++] = *x;
	return 0;
}

/* Every endpoint of service svc, port sp, address family 'family'. */
static int collect(const struct cx *x, const struct tr_service *svc,
		   const struct tr_svc_port *sp, int family, struct cands *out,
		   struct tr_diags *diags)
{
	const struct tr_config *cfg = x->cfg;
	struct tr_endpointslice key = { .ns = svc->ns, .service = svc->name };
	const struct tr_endpointslice *kp = &key;
	size_t lo = 0, hi = cfg->n_slices;

	/* first slice of (ns, service) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (slice_cmp(&x->slices[mid], &kp) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < cfg->n_slices && !slice_cmp(&x->slices[i], &kp); i++) {
		const struct tr_endpointslice *es = x->slices[i];
		uint16_t port;

		if (es->family != family)
			continue;
		port = slice_port(es, sp);
		if (!port) {
			if (cdiag(diags, TR_DIAG_WARNING, &es->src,
				  "EndpointSlice %s/%s: no port named '%s' (%s) for Service %s/%s port %u; its endpoints get no traffic on that port",
				  es->ns, es->name, sp->name ? sp->name : "",
				  sp->proto == IPPROTO_UDP ? "UDP" : "TCP",
				  svc->ns, svc->name, sp->port))
				return -ENOMEM;
			continue;
		}
		for (size_t j = 0; j < es->n_endpoints; j++) {
			const struct tr_es_endpoint *ep = &es->endpoints[j];

			for (size_t k = 0; k < ep->n_addrs; k++) {
				const struct tr_pod *pod = NULL;
				struct cand c = {};

				if (ep->addrs[k].family != family)
					continue;
				if (ep->target_pod && *ep->target_pod)
					pod = pod_by_name(x, es->ns, ep->target_pod);
				if (!pod)
					pod = pod_by_ip(x, es->ns, &ep->addrs[k]);
				c.ip = ep->addrs[k];
				c.port = port;
				c.ready = ep->ready;
				c.node = ep->node;
				c.zone = ep->zone;
				c.pod = pod ? pod->name :
					(ep->target_pod ? ep->target_pod : "");
				c.labels = pod ? &pod->labels : NULL;
				if (cands_add(out, &c))
					return -ENOMEM;
			}
		}
	}
	return 0;
}

static const struct tr_virtual_service *
find_vs(const struct cx *x, const struct tr_service *svc, struct tr_diags *diags,
	bool *dup)
{
	const struct tr_virtual_service *found = NULL;

	for (size_t i = 0; i < x->n_vs_targets; i++) {
		const struct vs_target *t = &x->vs_targets[i];

		if (t->svc != svc)
			continue;
		if (found && found != t->vs && !*dup) {
			*dup = true;
			cdiag(diags, TR_DIAG_ERROR, &t->vs->src,
			      "VirtualService %s/%s: host '%s' is also routed by VirtualService %s/%s (%s:%d); one VirtualService per host",
			      t->vs->ns, t->vs->name, t->host, found->ns, found->name,
			      found->src.file, found->src.line);
		}
		if (!found)
			found = t->vs;
	}
	return found;
}

static const struct tr_subset *
find_subset(const struct tr_config *cfg, const struct tr_service *svc,
	    const char *subset)
{
	const struct tr_subset *best = NULL;

	for (size_t i = 0; i < cfg->n_dest_rules; i++) {
		const struct tr_dest_rule *dr = &cfg->dest_rules[i];

		if (compile_resolve_host(cfg, dr->host, dr->ns) != svc)
			continue;
		for (size_t j = 0; j < dr->n_subsets; j++) {
			if (strcmp(dr->subsets[j].name, subset))
				continue;
			/* a rule in the service's own namespace wins */
			if (!best || !strcmp(dr->ns, svc->ns))
				best = &dr->subsets[j];
		}
	}
	return best;
}

static const struct tr_svc_port *
route_port(const struct tr_service *dst, const struct tr_service *svc,
	   const struct tr_svc_port *sp, uint16_t want)
{
	if (dst == svc && !want)
		return sp;
	if (!want)
		want = sp->port;
	for (size_t i = 0; i < dst->n_ports; i++)
		if (dst->ports[i].port == want && dst->ports[i].proto == sp->proto)
			return &dst->ports[i];
	if (dst->n_ports == 1 && dst->ports[0].proto == sp->proto)
		return &dst->ports[0];
	return NULL;
}

static const struct tr_tcp_route *pick_rule(const struct tr_virtual_service *vs,
					    uint16_t port)
{
	for (size_t i = 0; i < vs->n_tcp; i++) {
		const struct tr_tcp_route *r = &vs->tcp[i];

		if (!r->n_match_ports)
			return r;
		for (size_t j = 0; j < r->n_match_ports; j++)
			if (r->match_ports[j] == port)
				return r;
	}
	return NULL;
}

/* Index of the candidate with this address and port, or out->n. */
static size_t cands_find(const struct cands *c, const struct tr_ip *ip, uint16_t port)
{
	for (size_t k = 0; k < c->n; k++)
		if (c->items[k].port == port && tr_ip_equal(&c->items[k].ip, ip))
			return k;
	return c->n;
}

/* One VirtualService route while compiling: which candidates it covers. */
struct route_group {
	size_t *members; /* indices into the candidate list */
	size_t n_members;
	size_t ready;
	uint32_t weight;
};

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* The candidates one route sends to: its host's endpoints, within the subset. */
static int route_members(const struct cx *x,
			 const struct tr_virtual_service *vs,
			 const struct tr_route_dest *rd,
			 const struct tr_service *svc, const struct tr_svc_port *sp,
			 int family, struct cands *out, struct route_group *g,
			 struct tr_diags *diags)
{
	const struct tr_config *cfg = x->cfg;
	const struct tr_service *dst;
	const struct tr_svc_port *dport;
	const struct tr_subset *sub = NULL;
	struct cands all = {};
	int err;

	dst = compile_resolve_host(cfg, rd->host, vs->ns);
	if (!dst) {
		cdiag(diags, TR_DIAG_ERROR, &rd->src,
		      "VirtualService %s/%s: route destination host '%s': no such Service",
		      vs->ns, vs->name, rd->host);
		return -EINVAL;
	}
	dport = route_port(dst, svc, sp, rd->port);
	if (!dport) {
		cdiag(diags, TR_DIAG_ERROR, &rd->src,
		      "VirtualService %s/%s: route destination %s: Service %s/%s has no %s port %u (hint: set destination.port.number)",
		      vs->ns, vs->name, rd->host, dst->ns, dst->name,
		      sp->proto == IPPROTO_UDP ? "UDP" : "TCP",
		      rd->port ? rd->port : sp->port);
		return -EINVAL;
	}
	if (rd->subset) {
		sub = find_subset(cfg, dst, rd->subset);
		if (!sub) {
			cdiag(diags, TR_DIAG_ERROR, &rd->src,
			      "VirtualService %s/%s: route to subset '%s' of %s: no DestinationRule for %s/%s defines it",
			      vs->ns, vs->name, rd->subset, rd->host, dst->ns, dst->name);
			return -EINVAL;
		}
	}
	err = collect(x, dst, dport, family, &all, diags);
	g->members = calloc(all.n ? all.n : 1, sizeof(*g->members));
	if (!err && !g->members)
		err = -ENOMEM;
	for (size_t i = 0; i < all.n && !err; i++) {
		struct cand c = all.items[i];
		size_t k;

		if (sub && (!c.labels || !labels_match(&sub->labels, c.labels)))
			continue;
		k = cands_find(out, &c.ip, c.port);
		if (k == out->n) {
			c.subset = sub ? sub->name : "";
			c.weight = 0;
			err = cands_add(out, &c);
		}
		g->members[g->n_members++] = k;
		if (c.ready)
			g->ready++;
	}
	free(all.items);
	if (!err && rd->weight && !g->ready)
		cdiag(diags, TR_DIAG_WARNING, &rd->src,
		      "VirtualService %s/%s: route to %s%s%s (weight %u) has no ready backend; its share goes to the other routes",
		      vs->ns, vs->name, rd->host, rd->subset ? " subset " : "",
		      rd->subset ? rd->subset : "", rd->weight);
	return err;
}

/*
 * Gather candidates and their weights for one service port and family,
 * following a VirtualService tcp route when one routes the service. A
 * route's weight is shared evenly by its ready endpoints; integer weights
 * use the least common multiple of the ready counts so that the split is
 * exact whenever the table size allows.
 */
static int gather(const struct cx *x, const struct tr_service *svc,
		  const struct tr_svc_port *sp, int family, struct cands *out,
		  struct tr_diags *diags)
{
	const struct tr_virtual_service *vs;
	const struct tr_tcp_route *rule = NULL;
	struct route_group *groups;
	bool dup = false;
	uint64_t lcm = 1;
	int err = 0;

	vs = find_vs(x, svc, diags, &dup);
	if (dup)
		return -EINVAL;
	if (vs && sp->proto == IPPROTO_TCP)
		rule = pick_rule(vs, sp->port);
	if (!rule) {
		err = collect(x, svc, sp, family, out, diags);
		for (size_t i = 0; i < out->n; i++)
			out->items[i].weight = out->items[i].ready ? 1 : 0;
		return err;
	}

	groups = calloc(rule->n_routes ? rule->n_routes : 1, sizeof(*groups));
	if (!groups)
		return -ENOMEM;
	for (size_t r = 0; r < rule->n_routes && !err; r++) {
		groups[r].weight = rule->routes[r].weight;
		err = route_members(x, vs, &rule->routes[r], svc, sp, family,
				    out, &groups[r], diags);
	}
	for (size_t r = 0; r < rule->n_routes && !err; r++) {
		uint64_t n = groups[r].ready;

		if (!n || !groups[r].weight)
			continue;
		if (lcm / gcd_u64(lcm, n) * n > 1000000) {
			lcm = 1000000; /* many distinct sizes: close enough */
			break;
		}
		lcm = lcm / gcd_u64(lcm, n) * n;
	}
	for (size_t r = 0; r < rule->n_routes && !err; r++) {
		const struct route_group *g = &groups[r];

		if (!g->ready || !g->weight)
			continue;
		for (size_t m = 0; m < g->n_members; m++) {
			struct cand *c = &out->items[g->members[m]];

			if (c->ready)
				c->weight += (uint64_t)g->weight * lcm / g->ready;
		}
	}
	for (size_t r = 0; r < rule->n_routes; r++)
		free(groups[r].members);
	free(groups);
	return err;
}

static int ip_cmp(const struct tr_ip *a, const struct tr_ip *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16);
}

static int cand_cmp(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	int c = ip_cmp(&a->ip, &b->ip);

	if (c)
		return c;
	return (int)a->port - (int)b->port;
}

int compile_key_cmp(const struct tr_ip *a, uint16_t aport, uint8_t aproto,
		    const struct tr_ip *b, uint16_t bport, uint8_t bproto)
{
	int c = ip_cmp(a, b);

	if (c)
		return c;
	if (aport != bport)
		return (int)aport - (int)bport;
	return (int)aproto - (int)bproto;
}

static int svc_cmp(const void *pa, const void *pb)
{
	const struct tr_cservice *a = pa, *b = pb;

	return compile_key_cmp(&a->vip, a->port, a->proto, &b->vip, b->port, b->proto);
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv(h, s, strlen(s) + 1);
}

static uint64_t backend_hash(uint64_t h, const struct tr_cbackend *b)
{
	h = fnv(h, &b->ip.family, sizeof(b->ip.family));
	h = fnv(h, b->ip.bytes, sizeof(b->ip.bytes));
	return fnv(h, &b->port, sizeof(b->port));
}

static int build_service(const struct cx *x, const struct tr_service *svc,
			 const struct tr_svc_port *sp, const struct tr_ip *vip,
			 struct tr_cservice *cs, struct tr_diags *diags)
{
	struct cands cands = {};
	uint64_t *weights = NULL;
	uint32_t *slots = NULL;
	long size;
	int err;

	memset(cs, 0, sizeof(*cs));
	cs->vip = *vip;
	cs->port = sp->port;
	cs->proto = sp->proto == IPPROTO_UDP ? TR_PROTO_UDP : TR_PROTO_TCP;
	copy_name(cs->ns, sizeof(cs->ns), svc->ns);
	copy_name(cs->name, sizeof(cs->name), svc->name);
	copy_name(cs->port_name, sizeof(cs->port_name), sp->name);

	err = gather(x, svc, sp, vip->family, &cands, diags);
	if (err)
		goto out;
	qsort(cands.items, cands.n, sizeof(*cands.items), cand_cmp);

	cs->backends = calloc(cands.n ? cands.n : 1, sizeof(*cs->backends));
	weights = calloc(cands.n ? cands.n : 1, sizeof(*weights));
	slots = calloc(cands.n ? cands.n : 1, sizeof(*slots));
	if (!cs->backends || !weights || !slots) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cands.n; i++) {
		const struct cand *c = &cands.items[i];
		struct tr_cbackend *b = &cs->backends[i];

		b->ip = c->ip;
		b->port = c->port;
		b->ready = c->ready;
		copy_name(b->subset, sizeof(b->subset), c->subset);
		copy_name(b->node, sizeof(b->node), c->node);
		copy_name(b->zone, sizeof(b->zone), c->zone);
		copy_name(b->pod, sizeof(b->pod), c->pod);
		weights[i] = c->ready ? c->weight : 0;
	}
	cs->n_backends = cands.n;

	size = wselect_apportion(weights, cands.n, TR_MAX_SLOTS, slots);
	if (size < 0) {
		cdiag(diags, TR_DIAG_ERROR, &svc->src,
		      "Service %s/%s port %u: %zu ready backends exceed the %u slots of a selection table",
		      svc->ns, svc->name, sp->port, cands.n, TR_MAX_SLOTS);
		err = -EINVAL;
		goto out;
	}
	cs->n_slots = (uint32_t)size;
	cs->table = calloc(size ? (size_t)size : 1, sizeof(*cs->table));
	if (!cs->table) {
		err = -ENOMEM;
		goto out;
	}
	wselect_layout(slots, cands.n, cs->table, cs->n_slots);
	cs->table_hash = fnv(FNV_OFFSET, &cs->n_slots, sizeof(cs->n_slots));
	for (uint32_t k = 0; k < cs->n_slots; k++)
		cs->table_hash = backend_hash(cs->table_hash, &cs->backends[cs->table[k]]);
	for (size_t i = 0; i < cands.n; i++) {
		cs->backends[i].slots = slots[i];
		cs->backends[i].weight_ppm =
			size ? (uint32_t)((uint64_t)slots[i] * 1000000 / (uint64_t)size) : 0;
	}
out:
	free(cands.items);
	free(weights);
	free(slots);
	return err;
}

static uint64_t service_hash(uint64_t h, const struct tr_cservice *cs)
{
	h = fnv(h, &cs->vip.family, sizeof(cs->vip.family));
	h = fnv(h, cs->vip.bytes, sizeof(cs->vip.bytes));
	h = fnv(h, &cs->port, sizeof(cs->port));
	h = fnv(h, &cs->proto, sizeof(cs->proto));
	h = fnv_str(h, cs->ns);
	h = fnv_str(h, cs->name);
	h = fnv_str(h, cs->port_name);
	h = fnv(h, &cs->table_hash, sizeof(cs->table_hash));
	for (size_t i = 0; i < cs->n_backends; i++) {
		const struct tr_cbackend *b = &cs->backends[i];

		h = backend_hash(h, b);
		h = fnv(h, &b->ready, sizeof(b->ready));
		h = fnv(h, &b->slots, sizeof(b->slots));
		h = fnv_str(h, b->subset);
		h = fnv_str(h, b->node);
		h = fnv_str(h, b->zone);
		h = fnv_str(h, b->pod);
	}
	return h;
}

int compile_config(const struct tr_config *cfg, struct tr_compiled *out,
		   struct tr_diags *diags)
{
	struct tr_compiled c = {};
	struct cx x;
	size_t cap = 0;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (cx_init(&x, cfg)) {
		cx_free(&x);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_services; i++)
		cap += cfg->services[i].n_ports * cfg->services[i].n_vips;
	c.services = calloc(cap ? cap : 1, sizeof(*c.services));
	if (!c.services) {
		cx_free(&x);
		return -ENOMEM;
	}

	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct tr_service *svc = &cfg->services[i];

		for (size_t p = 0; p < svc->n_ports; p++) {
			for (size_t v = 0; v < svc->n_vips; v++) {
				int e = build_service(&x, svc, &svc->ports[p],
						      &svc->vips[v],
						      &c.services[c.n_services],
						      diags);
				/* keep going to report every problem */
				c.n_services++;
				if (e == -ENOMEM) {
					err = e;
					goto fail;
				}
				if (e)
					err = e;
			}
		}
	}
	if (err)
		goto fail;

	qsort(c.services, c.n_services, sizeof(*c.services), svc_cmp);
	c.hash = FNV_OFFSET;
	for (size_t i = 0; i < c.n_services; i++) {
		const struct tr_cservice *cs = &c.services[i];

		if (i && !svc_cmp(cs, &c.services[i - 1])) {
			char ip[64];

			cdiag(diags, TR_DIAG_ERROR, NULL,
			      "Services %s/%s and %s/%s both claim %s port %u/%s",
			      c.services[i - 1].ns, c.services[i - 1].name, cs->ns,
			      cs->name, tr_ip_str(&cs->vip, ip, sizeof(ip)), cs->port,
			      cs->proto == TR_PROTO_UDP ? "UDP" : "TCP");
			err = -EINVAL;
		}
		c.n_backends += cs->n_backends;
		c.n_slots += cs->n_slots;
		c.services[i].hash = service_hash(FNV_OFFSET, cs);
		c.hash = fnv(c.hash, &c.services[i].hash, sizeof(c.services[i].hash));
	}
	if (err)
		goto fail;
	cx_free(&x);
	*out = c;
	return 0;
fail:
	cx_free(&x);
	compiled_free(&c);
	return err;
}

void compiled_free(struct tr_compiled *c)
{
	for (size_t i = 0; i < c->n_services; i++) {
		free(c->services[i].backends);
		free(c->services[i].table);
	}
	free(c->services);
	memset(c, 0, sizeof(*c));
}
