// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kubernetes kinds: v1 Service, discovery.k8s.io/v1 EndpointSlice, v1 Pod,
 * v1 Node. Validation follows Kubernetes' own rules where Trestle relies
 * on them (names, ports, addresses) and refuses what would change where
 * traffic goes if it were ignored.
 */
#include "config_int.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Call fn on every item of a list, with the index in the path. */
static void each_item(struct obj *o, const struct ynode *v,
		      void (*fn)(struct obj *o, const struct ynode *item, void *t),
		      void *t)
{
	size_t i, saved;

	if (!want_seq(o, v))
		return;
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		if (is_null(v->items[i]))
			obj_err(o, v->items[i]->line, "expected a mapping, got null");
		else
			fn(o, v->items[i], t);
		path_pop(o, saved);
	}
}

static const char *family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* ------------------------------------------------------------------ */
/* v1 Service */

struct svc_ctx {
	struct tr_service *svc;
	bool headless;          /* "None" seen */
	bool have_ip;           /* spec.clusterIP is an address */
	bool ip_given;          /* clusterIP or clusterIPs written */
	struct tr_ip ip;
	int ip_line;
	struct tr_ip *ips;      /* spec.clusterIPs, as written */
	size_t n_ips;
	int ips_line;
	bool ips_none;
	int spec_line;
	int type_line;
};

static void read_port_name(struct obj *o, const struct ynode *v, void *t)
{
	char **name = t;
	const char *why;

	if (get_str(o, v, name) && **name && (why = check_dns_label(*name)))
		obj_err(o, v->line, "\"%s\" is not a valid port name: %s", *name, why);
}

static void read_svc_port_name(struct obj *o, const struct ynode *v, void *t)
{
	read_port_name(o, v, &((struct tr_svc_port *)t)->name);
}

static void read_svc_port_proto(struct obj *o, const struct ynode *v, void *t)
{
	get_proto(o, v, &((struct tr_svc_port *)t)->proto);
}

static void read_svc_port_port(struct obj *o, const struct ynode *v, void *t)
{
	get_port(o, v, &((struct tr_svc_port *)t)->port);
}

static void read_target_port(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_svc_port *p = t;
	const char *why;

	if (v->type == YNODE_SCALAR && yscalar_resolve(v) == YSCALAR_INT) {
		get_port(o, v, &p->target_port);
		return;
	}
	if (v->type != YNODE_SCALAR || yscalar_resolve(v) != YSCALAR_STR) {
		obj_err(o, v->line, "expected a port number or a port name, got %s",
			ynode_describe(v));
		return;
	}
	if ((why = check_iana_svc_name(v->str))) {
		obj_err(o, v->line, "\"%s\" is not a valid port number or name: %s",
			v->str, why);
		return;
	}
	get_str(o, v, &p->target_port_name);
}

/* Checked against spec.type in svc_finish(); the range here. */
static void read_node_port(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_svc_port *p = t;
	long long n;

	if (!get_int(o, v, 1, 65535, &n))
		return;
	if (n < TR_NODE_PORT_MIN || n > TR_NODE_PORT_MAX) {
		obj_err(o, v->line, "%lld is outside the node port range %d-%d", n,
			TR_NODE_PORT_MIN, TR_NODE_PORT_MAX);
		return;
	}
	p->node_port = (uint16_t)n;
	p->node_port_line = v->line;
}

static const struct field svc_port_fields[] = {
	{ "name", F_READ, read_svc_port_name },
	{ "protocol", F_READ, read_svc_port_proto },
	{ "port", F_READ, read_svc_port_port, NULL, F_REQUIRED },
	{ "targetPort", F_READ, read_target_port },
	{ "nodePort", F_READ, read_node_port },
	{ "appProtocol", F_IGNORE },
};

static void read_svc_port(struct obj *o, const struct ynode *v, void *t)
{
	struct svc_ctx *c = t;
	struct tr_svc_port *p = PUSH(o->ld, c->svc->ports, c->svc->n_ports);

	if (!p)
		return;
	p->proto = IPPROTO_TCP;
	p->src.file = o->file;
	p->src.line = v->line;
	WALK(o, v, svc_port_fields, true, p);
	if (!p->name)
		p->name = ld_strdup(o->ld, "");
}

static void read_svc_ports(struct obj *o, const struct ynode *v, void *t)
{
	each_item(o, v, read_svc_port, t);
}

static void read_selector(struct obj *o, const struct ynode *v, void *t)
{
	read_labels(o, v, &((struct svc_ctx *)t)->svc->selector);
}

/* "None", "" or an address. Returns false on error. */
static bool cluster_ip_value(struct obj *o, const struct ynode *v, bool *none,
			     bool *have, struct tr_ip *ip)
{
	char *s = NULL;
	bool ok = true;

	*none = *have = false;
	if (!get_str(o, v, &s))
		return false;
	if (!strcmp(s, "None")) {
		*none = true;
	} else if (*s) {
		if (tr_ip_parse(s, ip)) {
			obj_err(o, v->line,
				"\"%s\" is not a valid IPv4 or IPv6 address (or None for a headless service)",
				s);
			ok = false;
		} else {
			*have = true;
		}
	}
	free(s);
	return ok;
}

static void read_cluster_ip(struct obj *o, const struct ynode *v, void *t)
{
	struct svc_ctx *c = t;
	bool none;

	c->ip_line = v->line;
	c->ip_given = true;
	if (cluster_ip_value(o, v, &none, &c->have_ip, &c->ip) && none)
		c->headless = true;
}

static void read_cluster_ips(struct obj *o, const struct ynode *v, void *t)
{
	struct svc_ctx *c = t;
	struct tr_ip ip, *slot;
	bool none, have;
	size_t i, saved;

	if (!want_seq(o, v))
		return;
	c->ips_line = v->line;
	c->ip_given = v->n_items > 0;
	if (v->n_items > 2)
		obj_err(o, v->line,
			"at most two addresses are allowed, one IPv4 and one IPv6");
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		if (cluster_ip_value(o, v->items[i], &none, &have, &ip)) {
			if (none && v->n_items > 1)
				obj_err(o, v->items[i]->line,
					"None must be the only entry");
			if (none) {
				c->headless = true;
				c->ips_none = true;
			}
			if (have && c->n_ips == 1 && c->ips[0].family == ip.family)
				obj_err(o, v->items[i]->line,
					"both addresses are %s; dual-stack needs one IPv4 and one IPv6",
					family_name(ip.family));
			if (have && (slot = PUSH(o->ld, c->ips, c->n_ips)))
				*slot = ip;
		}
		path_pop(o, saved);
	}
}

static void read_svc_type(struct obj *o, const struct ynode *v, void *t)
{
	struct svc_ctx *c = t;
	char *s = NULL;

	if (!get_str(o, v, &s))
		return;
	c->type_line = v->line;
	if (!strcmp(s, "NodePort"))
		c->svc->type = TR_SVC_NODE_PORT;
	else if (!strcmp(s, "LoadBalancer"))
		c->svc->type = TR_SVC_LOAD_BALANCER;
	else if (!strcmp(s, "ExternalName"))
		obj_err(o, v->line,
			"type ExternalName is not supported (Trestle serves cluster IPs; hint: give the Service a clusterIP and EndpointSlices)");
	else if (strcmp(s, "ClusterIP"))
		obj_err(o, v->line,
			"unknown type \"%s\" (supported: ClusterIP, NodePort, LoadBalancer)", s);
	free(s);
}

static void read_session_affinity(struct obj *o, const struct ynode *v, void *t)
{
	char *s = NULL;

	(void)t;
	if (!get_str(o, v, &s))
		return;
	if (!strcmp(s, "ClientIP"))
		obj_err(o, v->line,
			"ClientIP session affinity is not supported by this version (each connection is balanced on its own; hint: use None)");
	else if (strcmp(s, "None"))
		obj_err(o, v->line, "unknown value \"%s\" (supported: None)", s);
	free(s);
}

/* Check a string against a list of allowed values. */
static void one_of(struct obj *o, const struct ynode *v, const char *const *allowed,
		   const char *list)
{
	char *s = NULL;

	if (!get_str(o, v, &s))
		return;
	for (; *allowed; allowed++)
		if (!strcmp(s, *allowed))
			break;
	if (!*allowed)
		obj_err(o, v->line, "unknown value \"%s\" (supported: %s)", s, list);
	free(s);
}

static void read_ip_families(struct obj *o, const struct ynode *v, void *t)
{
	static const char *const fams[] = { "IPv4", "IPv6", NULL };
	size_t i, saved;

	(void)t;
	if (!want_seq(o, v))
		return;
	if (v->n_items > 2)
		obj_err(o, v->line, "at most two families are allowed");
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		one_of(o, v->items[i], fams, "IPv4, IPv6");
		path_pop(o, saved);
	}
}

static void read_ip_family_policy(struct obj *o, const struct ynode *v, void *t)
{
	static const char *const pols[] = { "SingleStack", "PreferDualStack",
					    "RequireDualStack", NULL };

	(void)t;
	one_of(o, v, pols, "SingleStack, PreferDualStack, RequireDualStack");
}

static void read_internal_policy(struct obj *o, const struct ynode *v, void *t)
{
	char *s = NULL;

	(void)t;
	if (!get_str(o, v, &s))
		return;
	if (!strcmp(s, "Local"))
		obj_err(o, v->line,
			"internalTrafficPolicy Local is not supported by this version (traffic would also reach endpoints on other nodes; hint: use Cluster)");
	else if (strcmp(s, "Cluster"))
		obj_err(o, v->line, "unknown value \"%s\" (supported: Cluster)", s);
	free(s);
}

/* A list of addresses, deduplicated into *arr. */
static void read_ip_list(struct obj *o, const struct ynode *v, struct tr_ip **arr, size_t *n)
{
	struct tr_ip ip;
	size_t i, saved;

	if (!want_seq(o, v))
		return;
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		if (get_ip(o, v->items[i], &ip))
			ip_add_unique(o->ld, arr, n, &ip);
		path_pop(o, saved);
	}
}

static void read_external_ips(struct obj *o, const struct ynode *v, void *t)
{
	struct svc_ctx *c = t;

	c->svc->external_ips_line = v->line;
	read_ip_list(o, v, &c->svc->external_ips, &c->svc->n_external_ips);
}

static void read_external_policy(struct obj *o, const struct ynode *v, void *t)
{
	char *s = NULL;

	(void)t;
	if (!get_str(o, v, &s))
		return;
	if (!strcmp(s, "Local"))
		obj_err(o, v->line,
			"externalTrafficPolicy Local is not supported by this version (the uplink balances to endpoints on every node; hint: use Cluster)");
	else if (strcmp(s, "Cluster"))
		obj_err(o, v->line, "unknown value \"%s\" (supported: Cluster)", s);
	free(s);
}

#define NOT_ENFORCED_EXT \
	"accepted but not enforced: this version serves only the cluster IP"

static const struct field svc_spec_fields[] = {
	{ "ports", F_READ, read_svc_ports },
	{ "selector", F_READ, read_selector },
	{ "clusterIP", F_READ, read_cluster_ip },
	{ "clusterIPs", F_READ, read_cluster_ips },
	{ "type", F_READ, read_svc_type },
	{ "sessionAffinity", F_READ, read_session_affinity },
	{ "ipFamilies", F_READ, read_ip_families },
	{ "ipFamilyPolicy", F_READ, read_ip_family_policy },
	{ "internalTrafficPolicy", F_READ, read_internal_policy },
	{ "sessionAffinityConfig", F_ERROR, NULL,
	  "session affinity is not supported by this version" },
	{ "externalName", F_ERROR, NULL,
	  "ExternalName services are not supported (Trestle serves cluster IPs)" },
	{ "externalIPs", F_READ, read_external_ips },
	{ "loadBalancerIP", F_ERROR, NULL,
	  "deprecated in Kubernetes and not read: the load balancer's addresses come from status.loadBalancer.ingress[].ip" },
	{ "loadBalancerSourceRanges", F_WARN, NULL, NOT_ENFORCED_EXT },
	{ "loadBalancerClass", F_WARN, NULL, NOT_ENFORCED_EXT },
	{ "externalTrafficPolicy", F_READ, read_external_policy },
	{ "healthCheckNodePort", F_WARN, NULL, NOT_ENFORCED_EXT },
	{ "allocateLoadBalancerNodePorts", F_WARN, NULL, NOT_ENFORCED_EXT },
	{ "publishNotReadyAddresses", F_WARN, NULL,
	  "accepted but not enforced: endpoint readiness comes from the EndpointSlices' conditions.ready" },
	{ "trafficDistribution", F_WARN, NULL,
	  "accepted but not enforced: this version does not prefer topologically close endpoints" },
};

static void read_svc_spec(struct obj *o, const struct ynode *v, void *t)
{
	struct svc_ctx *c = t;

	c->spec_line = v->line;
	WALK(o, v, svc_spec_fields, true, c);
}

/* status.loadBalancer.ingress[]: ip is read; hostname-only ingresses
 * (some clouds' load balancers) cannot be served from a node. */
static void read_lb_ingress_ip(struct obj *o, const struct ynode *v, void *t)
{
	struct svc_ctx *c = t;
	struct tr_ip ip;

	if (get_ip(o, v, &ip))
		ip_add_unique(o->ld, &c->svc->lb_ips, &c->svc->n_lb_ips, &ip);
}

static const struct field lb_ingress_fields[] = {
	{ "ip", F_READ, read_lb_ingress_ip },
	{ "hostname", F_WARN, NULL,
	  "not served: the uplink load balancer needs an address (hint: ip)" },
	{ "ipMode", F_IGNORE },
	{ "ports", F_IGNORE },
};

static void read_lb_ingress_one(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, lb_ingress_fields, true, t);
}

static void read_lb_ingress(struct obj *o, const struct ynode *v, void *t)
{
	struct svc_ctx *c = t;

	c->svc->lb_ips_line = v->line;
	each_item(o, v, read_lb_ingress_one, t);
}

static const struct field lb_status_fields[] = {
	{ "ingress", F_READ, read_lb_ingress },
};

static void read_lb_status(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, lb_status_fields, true, t);
}

static const struct field svc_status_fields[] = {
	{ "loadBalancer", F_READ, read_lb_status },
	{ "conditions", F_IGNORE },
};

static void read_svc_status(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, svc_status_fields, false, t);
}

static const struct field svc_fields[] = {
	{ "apiVersion", F_IGNORE },
	{ "kind", F_IGNORE },
	{ "metadata", F_IGNORE },
	{ "spec", F_READ, read_svc_spec, NULL, F_REQUIRED },
	{ "status", F_READ, read_svc_status },
};

/* Kubernetes' rules: names required when several, names and port/protocol unique. */
static void svc_check_ports(struct obj *o, struct tr_service *svc)
{
	struct tr_svc_port *a, *b;
	size_t i, j, saved;
	bool multi = svc->n_ports > 1;

	for (i = 0; i < svc->n_ports; i++) {
		a = &svc->ports[i];
		saved = path_key(o, "spec");
		path_key(o, "ports");
		path_idx(o, i);
		for (j = 0; j < i; j++) {
			b = &svc->ports[j];
			if (a->port && a->port == b->port && a->proto == b->proto)
				obj_err(o, a->src.line,
					"port %u/%s is already used by spec.ports[%zu] (line %d)",
					a->port, proto_name(a->proto), j, b->src.line);
		}
		path_key(o, "name");
		if (multi && a->name && !a->name[0])
			obj_err(o, a->src.line,
				"required when a Service has more than one port");
		for (j = 0; a->name && a->name[0] && j < i; j++) {
			b = &svc->ports[j];
			if (b->name && !strcmp(a->name, b->name))
				obj_err(o, a->src.line,
					"\"%s\" is already used by spec.ports[%zu] (line %d)",
					a->name, j, b->src.line);
		}
		path_pop(o, saved);
	}
}

/* Node ports and load balancer addresses against spec.type (Kubernetes' rules). */
static void svc_check_external(struct obj *o, struct svc_ctx *c)
{
	struct tr_service *svc = c->svc;
	size_t i, saved;

	for (i = 0; i < svc->n_ports; i++) {
		if (!svc->ports[i].node_port || svc->type != TR_SVC_CLUSTER_IP)
			continue;
		saved = path_key(o, "spec");
		path_key(o, "ports");
		path_idx(o, i);
		path_key(o, "nodePort");
		obj_err(o, svc->ports[i].node_port_line,
			"only a Service of type NodePort or LoadBalancer has node ports (hint: type: NodePort)");
		path_pop(o, saved);
	}
	for (i = 0; svc->type == TR_SVC_NODE_PORT && i < svc->n_ports; i++) {
		if (svc->ports[i].node_port)
			continue;
		saved = path_key(o, "spec");
		path_key(o, "ports");
		path_idx(o, i);
		obj_warn(o, svc->ports[i].src.line,
			 "type NodePort without a nodePort: Trestle does not allocate node ports, so this port is served on the cluster IP only (hint: set nodePort)");
		path_pop(o, saved);
	}
	if (svc->n_lb_ips && svc->type != TR_SVC_LOAD_BALANCER) {
		saved = path_key(o, "status");
		path_key(o, "loadBalancer");
		obj_warn(o, svc->lb_ips_line,
			 "not served: the Service is not of type LoadBalancer");
		path_pop(o, saved);
		free(svc->lb_ips);
		svc->lb_ips = NULL;
		svc->n_lb_ips = 0;
	}
	if ((svc->n_lb_ips || svc->n_external_ips) && c->headless) {
		saved = path_key(o, "spec");
		obj_err(o, svc->external_ips_line ? svc->external_ips_line : svc->lb_ips_line,
			"a headless Service (clusterIP: None) has no external addresses");
		path_pop(o, saved);
	}
}

static void svc_finish(struct obj *o, struct svc_ctx *c)
{
	struct tr_service *svc = c->svc;
	char a[64], b[64];
	size_t i, saved;

	saved = path_key(o, "spec");
	if (c->n_ips && c->have_ip && !tr_ip_equal(&c->ips[0], &c->ip)) {
		path_key(o, "clusterIPs");
		obj_err(o, c->ips_line, "the first address (%s) must equal spec.clusterIP (%s)",
			tr_ip_str(&c->ips[0], a, sizeof(a)), tr_ip_str(&c->ip, b, sizeof(b)));
	} else if (c->headless && (c->have_ip || c->n_ips)) {
		path_key(o, c->ips_none ? "clusterIPs" : "clusterIP");
		obj_err(o, c->ips_none ? c->ips_line : c->ip_line,
			"None (headless) cannot be combined with a cluster IP address");
	} else if (!c->headless && !c->ip_given && c->spec_line) {
		path_key(o, "clusterIP");
		obj_err(o, c->spec_line,
			"required field is missing: Trestle does not allocate cluster IPs (hint: set spec.clusterIP to the Service's address, or None for a headless Service)");
	}
	path_pop(o, saved);

	if (!c->headless) {
		if (c->have_ip)
			ip_add_unique(o->ld, &svc->vips, &svc->n_vips, &c->ip);
		for (i = 0; i < c->n_ips; i++)
			ip_add_unique(o->ld, &svc->vips, &svc->n_vips, &c->ips[i]);
		if (!svc->n_ports && c->spec_line) {
			saved = path_key(o, "spec");
			path_key(o, "ports");
			obj_err(o, c->spec_line,
				"required field is missing: a Service with a cluster IP needs at least one port");
			path_pop(o, saved);
		}
	}
	svc_check_ports(o, svc);
	svc_check_external(o, c);
}

void load_service(struct obj *o, const struct ynode *root, struct meta *m)
{
	struct tr_config *cfg = o->ld->cfg;
	struct svc_ctx c = {};

	c.svc = PUSH(o->ld, cfg->services, cfg->n_services);
	if (!c.svc)
		return;
	c.svc->ns = m->ns;
	c.svc->name = m->name;
	m->ns = m->name = NULL;
	c.svc->src.file = o->file;
	c.svc->src.line = root->line;
	WALK(o, root, svc_fields, true, &c);
	svc_finish(o, &c);
	free(c.ips);
}

/* ------------------------------------------------------------------ */
/* discovery.k8s.io/v1 EndpointSlice */

struct es_ctx {
	struct tr_endpointslice *es;
	const struct ynode *endpoints;
};

struct ep_ctx {
	struct tr_es_endpoint *ep;
	int family; /* 0 when addressType is unknown */
};

static void read_address_type(struct obj *o, const struct ynode *v, void *t)
{
	struct es_ctx *c = t;
	char *s = NULL;

	if (!get_str(o, v, &s))
		return;
	if (!strcmp(s, "IPv4"))
		c->es->family = AF_INET;
	else if (!strcmp(s, "IPv6"))
		c->es->family = AF_INET6;
	else if (!strcmp(s, "FQDN"))
		obj_err(o, v->line,
			"addressType FQDN is not supported: Trestle balances to IP addresses (hint: use IPv4 or IPv6 EndpointSlices)");
	else
		obj_err(o, v->line, "unknown addressType \"%s\" (supported: IPv4, IPv6)", s);
	free(s);
}

static void read_es_port_name(struct obj *o, const struct ynode *v, void *t)
{
	read_port_name(o, v, &((struct tr_es_port *)t)->name);
}

static void read_es_port_proto(struct obj *o, const struct ynode *v, void *t)
{
	get_proto(o, v, &((struct tr_es_port *)t)->proto);
}

static void read_es_port_port(struct obj *o, const struct ynode *v, void *t)
{
	get_port(o, v, &((struct tr_es_port *)t)->port);
}

static const struct field es_port_fields[] = {
	{ "name", F_READ, read_es_port_name },
	{ "protocol", F_READ, read_es_port_proto },
	/* k8s allows no port ("all ports"); Trestle needs a number. */
	{ "port", F_READ, read_es_port_port, NULL, F_REQUIRED },
	{ "appProtocol", F_IGNORE },
};

static void read_es_port(struct obj *o, const struct ynode *v, void *t)
{
	struct es_ctx *c = t;
	struct tr_es_port *p = PUSH(o->ld, c->es->ports, c->es->n_ports);

	if (!p)
		return;
	p->proto = IPPROTO_TCP;
	p->src.file = o->file;
	p->src.line = v->line;
	WALK(o, v, es_port_fields, true, p);
	if (!p->name)
		p->name = ld_strdup(o->ld, "");
}

static void read_es_ports(struct obj *o, const struct ynode *v, void *t)
{
	each_item(o, v, read_es_port, t);
}

static void read_es_endpoints(struct obj *o, const struct ynode *v, void *t)
{
	(void)o;
	((struct es_ctx *)t)->endpoints = v; /* once addressType is known */
}

static void read_ep_addresses(struct obj *o, const struct ynode *v, void *t)
{
	struct ep_ctx *c = t;
	struct tr_ip ip, *slot;
	size_t i, saved;

	if (!want_seq(o, v))
		return;
	if (!v->n_items)
		obj_err(o, v->line, "at least one address is required");
	if (v->n_items > 100)
		obj_err(o, v->line, "at most 100 addresses are allowed");
	for (i = 0; i < v->n_items; i++) {
		saved = path_idx(o, i);
		if (get_ip(o, v->items[i], &ip)) {
			if (c->family && ip.family != c->family)
				obj_err(o, v->items[i]->line,
					"\"%s\" is an %s address but addressType is %s",
					v->items[i]->str, family_name(ip.family),
					family_name(c->family));
			else if ((slot = PUSH(o->ld, c->ep->addrs, c->ep->n_addrs)))
				*slot = ip;
		}
		path_pop(o, saved);
	}
}

static void read_ep_ready(struct obj *o, const struct ynode *v, void *t)
{
	get_bool(o, v, &((struct ep_ctx *)t)->ep->ready);
}

static void read_ep_bool(struct obj *o, const struct ynode *v, void *t)
{
	bool b;

	(void)t;
	get_bool(o, v, &b);
}

static const struct field ep_cond_fields[] = {
	{ "ready", F_READ, read_ep_ready },
	{ "serving", F_READ, read_ep_bool },
	{ "terminating", F_READ, read_ep_bool },
};

static void read_ep_conditions(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, ep_cond_fields, true, t);
}

static void read_ep_node(struct obj *o, const struct ynode *v, void *t)
{
	get_str(o, v, &((struct ep_ctx *)t)->ep->node);
}

static void read_ep_zone(struct obj *o, const struct ynode *v, void *t)
{
	get_str(o, v, &((struct ep_ctx *)t)->ep->zone);
}

struct ref_ctx {
	char *kind;
	char *name;
};

static void read_ref_kind(struct obj *o, const struct ynode *v, void *t)
{
	get_str(o, v, &((struct ref_ctx *)t)->kind);
}

static void read_ref_name(struct obj *o, const struct ynode *v, void *t)
{
	get_str(o, v, &((struct ref_ctx *)t)->name);
}

static const struct field ref_fields[] = {
	{ "kind", F_READ, read_ref_kind },
	{ "name", F_READ, read_ref_name },
	{ "namespace", F_IGNORE },
	{ "uid", F_IGNORE },
	{ "apiVersion", F_IGNORE },
	{ "resourceVersion", F_IGNORE },
	{ "fieldPath", F_IGNORE },
};

static void read_ep_target_ref(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_es_endpoint *ep = ((struct ep_ctx *)t)->ep;
	struct ref_ctx r = {};

	WALK(o, v, ref_fields, true, &r);
	if (r.kind && r.name && !strcmp(r.kind, "Pod")) {
		free(ep->target_pod);
		ep->target_pod = r.name;
		r.name = NULL;
	}
	free(r.kind);
	free(r.name);
}

static const struct field ep_fields[] = {
	{ "addresses", F_READ, read_ep_addresses, NULL, F_REQUIRED },
	{ "conditions", F_READ, read_ep_conditions },
	{ "nodeName", F_READ, read_ep_node },
	{ "zone", F_READ, read_ep_zone },
	{ "targetRef", F_READ, read_ep_target_ref },
	{ "hostname", F_IGNORE },
	{ "deprecatedTopology", F_IGNORE },
	{ "hints", F_WARN, NULL,
	  "accepted but not enforced: this version does not use topology hints" },
};

static void read_es_endpoint(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_endpointslice *es = t;
	struct ep_ctx c = { .family = es->family };

	c.ep = PUSH(o->ld, es->endpoints, es->n_endpoints);
	if (!c.ep)
		return;
	c.ep->ready = true; /* absent means ready, as in Kubernetes */
	c.ep->src.file = o->file;
	c.ep->src.line = v->line;
	WALK(o, v, ep_fields, true, &c);
	if (!c.ep->node)
		c.ep->node = ld_strdup(o->ld, "");
	if (!c.ep->zone)
		c.ep->zone = ld_strdup(o->ld, "");
	if (!c.ep->target_pod)
		c.ep->target_pod = ld_strdup(o->ld, "");
}

static const struct field es_fields[] = {
	{ "apiVersion", F_IGNORE },
	{ "kind", F_IGNORE },
	{ "metadata", F_IGNORE },
	{ "addressType", F_READ, read_address_type, NULL, F_REQUIRED },
	{ "ports", F_READ, read_es_ports },
	{ "endpoints", F_READ, read_es_endpoints },
};

static void es_check_ports(struct obj *o, struct tr_endpointslice *es)
{
	size_t i, j, saved;

	for (i = 0; i < es->n_ports; i++) {
		for (j = 0; j < i; j++) {
			if (!es->ports[i].name || !es->ports[j].name ||
			    strcmp(es->ports[i].name, es->ports[j].name))
				continue;
			saved = path_key(o, "ports");
			path_idx(o, i);
			path_key(o, "name");
			obj_err(o, es->ports[i].src.line,
				"\"%s\" is already used by ports[%zu] (line %d)",
				es->ports[i].name, j, es->ports[j].src.line);
			path_pop(o, saved);
			break;
		}
	}
}

void load_endpointslice(struct obj *o, const struct ynode *root, struct meta *m)
{
	struct tr_config *cfg = o->ld->cfg;
	struct es_ctx c = {};
	const char *svc, *why;
	size_t saved;

	c.es = PUSH(o->ld, cfg->slices, cfg->n_slices);
	if (!c.es)
		return;
	c.es->ns = m->ns;
	c.es->name = m->name;
	m->ns = m->name = NULL;
	c.es->src.file = o->file;
	c.es->src.line = root->line;

	svc = labels_get(&m->labels, LABEL_SERVICE_NAME);
	saved = path_key(o, "metadata");
	path_key(o, "labels");
	path_key(o, LABEL_SERVICE_NAME);
	if (!svc)
		obj_err(o, m->line,
			"required label is missing: it names the Service this slice belongs to");
	else if ((why = check_dns_label(svc)))
		obj_err(o, m->line, "\"%s\" is not a valid Service name: %s", svc, why);
	else
		c.es->service = ld_strdup(o->ld, svc);
	path_pop(o, saved);

	WALK(o, root, es_fields, true, &c);
	if (c.endpoints) {
		saved = path_key(o, "endpoints");
		each_item(o, c.endpoints, read_es_endpoint, c.es);
		path_pop(o, saved);
	}
	es_check_ports(o, c.es);
}

/* ------------------------------------------------------------------ */
/* v1 Pod: only what Trestle reads is checked; the rest is workload spec. */

struct pod_ctx {
	struct tr_pod *pod;
	char *sa_name;   /* spec.serviceAccountName */
	char *sa;        /* spec.serviceAccount (deprecated) */
	int sa_line;
};

static void read_pod_sa_name(struct obj *o, const struct ynode *v, void *t)
{
	struct pod_ctx *c = t;
	const char *why;

	if (!get_str(o, v, &c->sa_name))
		return;
	c->sa_line = v->line;
	if ((why = check_dns_subdomain(c->sa_name)))
		obj_err(o, v->line, "\"%s\" is not a valid service account name: %s",
			c->sa_name, why);
}

static void read_pod_sa(struct obj *o, const struct ynode *v, void *t)
{
	struct pod_ctx *c = t;
	const char *why;

	if (!get_str(o, v, &c->sa))
		return;
	if (!c->sa_line)
		c->sa_line = v->line;
	if ((why = check_dns_subdomain(c->sa)))
		obj_err(o, v->line, "\"%s\" is not a valid service account name: %s",
			c->sa, why);
}

static void read_pod_node(struct obj *o, const struct ynode *v, void *t)
{
	get_str(o, v, &((struct pod_ctx *)t)->pod->node);
}

static const struct field pod_spec_fields[] = {
	{ "serviceAccountName", F_READ, read_pod_sa_name },
	{ "serviceAccount", F_READ, read_pod_sa },
	{ "nodeName", F_READ, read_pod_node },
};

static void read_pod_spec(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, pod_spec_fields, false, t);
}

static void read_pod_ip(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_pod *pod = ((struct pod_ctx *)t)->pod;
	struct tr_ip ip;

	if (get_ip(o, v, &ip))
		ip_add_unique(o->ld, &pod->ips, &pod->n_ips, &ip);
}

static const struct field pod_ip_fields[] = {
	{ "ip", F_READ, read_pod_ip },
};

static void read_pod_ips_item(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, pod_ip_fields, false, t);
}

static void read_pod_ips(struct obj *o, const struct ynode *v, void *t)
{
	each_item(o, v, read_pod_ips_item, t);
}

static const struct field pod_status_fields[] = {
	{ "podIP", F_READ, read_pod_ip },
	{ "podIPs", F_READ, read_pod_ips },
};

static void read_pod_status(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, pod_status_fields, false, t);
}

static const struct field pod_fields[] = {
	{ "spec", F_READ, read_pod_spec },
	{ "status", F_READ, read_pod_status },
};

void load_pod(struct obj *o, const struct ynode *root, struct meta *m)
{
	struct tr_config *cfg = o->ld->cfg;
	struct pod_ctx c = {};
	size_t saved;

	c.pod = PUSH(o->ld, cfg->pods, cfg->n_pods);
	if (!c.pod)
		return;
	c.pod->ns = m->ns;
	c.pod->name = m->name;
	c.pod->labels = m->labels;
	c.pod->cgroup = m->cgroup;
	m->ns = m->name = m->cgroup = NULL;
	memset(&m->labels, 0, sizeof(m->labels));
	c.pod->src.file = o->file;
	c.pod->src.line = root->line;

	WALK(o, root, pod_fields, false, &c);
	if (c.sa_name && c.sa && strcmp(c.sa_name, c.sa)) {
		saved = path_key(o, "spec");
		path_key(o, "serviceAccount");
		obj_err(o, c.sa_line,
			"\"%s\" contradicts spec.serviceAccountName \"%s\" (the workload identity would be ambiguous; hint: drop the deprecated serviceAccount)",
			c.sa, c.sa_name);
		path_pop(o, saved);
	}
	if (c.sa_name) {
		c.pod->service_account = c.sa_name;
		c.sa_name = NULL;
	} else if (c.sa) {
		c.pod->service_account = c.sa;
		c.sa = NULL;
	} else {
		c.pod->service_account = ld_strdup(o->ld, "default");
	}
	if (!c.pod->node)
		c.pod->node = ld_strdup(o->ld, "");
	free(c.sa_name);
	free(c.sa);
}

/* ------------------------------------------------------------------ */
/* v1 Node: status.addresses[type=InternalIP]; the rest is not read. */

struct addr_ctx {
	char *type;
	const struct ynode *address;
};

static void read_addr_type(struct obj *o, const struct ynode *v, void *t)
{
	get_str(o, v, &((struct addr_ctx *)t)->type);
}

static void read_addr_address(struct obj *o, const struct ynode *v, void *t)
{
	(void)o;
	((struct addr_ctx *)t)->address = v;
}

static const struct field node_addr_fields[] = {
	{ "type", F_READ, read_addr_type },
	{ "address", F_READ, read_addr_address },
};

static void read_node_address(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_node *node = t;
	struct addr_ctx c = {};
	struct tr_ip ip;
	size_t saved;

	WALK(o, v, node_addr_fields, false, &c);
	if (c.type && !strcmp(c.type, "InternalIP")) {
		saved = path_key(o, "address");
		if (!c.address)
			obj_err(o, v->line, "required field is missing");
		else if (get_ip(o, c.address, &ip))
			ip_add_unique(o->ld, &node->internal_ips,
				      &node->n_internal_ips, &ip);
		path_pop(o, saved);
	}
	free(c.type);
}

static void read_node_addresses(struct obj *o, const struct ynode *v, void *t)
{
	each_item(o, v, read_node_address, t);
}

static const struct field node_status_fields[] = {
	{ "addresses", F_READ, read_node_addresses },
};

static void read_node_status(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, node_status_fields, false, t);
}

static const struct field node_fields[] = {
	{ "status", F_READ, read_node_status },
};

void load_node(struct obj *o, const struct ynode *root, struct meta *m)
{
	struct tr_config *cfg = o->ld->cfg;
	struct tr_node *node = PUSH(o->ld, cfg->nodes, cfg->n_nodes);

	if (!node)
		return;
	node->name = m->name;
	m->name = NULL;
	node->src.file = o->file;
	node->src.line = root->line;
	WALK(o, root, node_fields, false, node);
}
