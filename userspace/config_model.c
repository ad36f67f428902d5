// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The model's public helpers: addresses, labels, freeing, diagnostics. */
#include "config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int tr_ip_parse(const char *s, struct tr_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, ip->bytes) == 1) {
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->bytes) == 1) {
		ip->family = AF_INET6;
		return 0;
	}
	memset(ip, 0, sizeof(*ip));
	return -EINVAL;
}

const char *tr_ip_str(const struct tr_ip *ip, char *buf, size_t len)
{
	if (!len)
		return buf;
	if ((ip->family != AF_INET && ip->family != AF_INET6) ||
	    !inet_ntop(ip->family, ip->bytes, buf, (socklen_t)(len > 256 ? 256 : len)))
		snprintf(buf, len, "?");
	return buf;
}

bool tr_ip_equal(const struct tr_ip *a, const struct tr_ip *b)
{
	if (a->family != b->family)
		return false;
	return !memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16);
}

const char *labels_get(const struct tr_labels *labels, const char *key)
{
	size_t i;

	for (i = 0; i < labels->n; i++)
		if (!strcmp(labels->items[i].key, key))
			return labels->items[i].value;
	return NULL;
}

/* An empty selector matches everything (label-selector semantics); a
 * Service without a selector is the compiler's business. */
bool labels_match(const struct tr_labels *selector, const struct tr_labels *labels)
{
	const char *v;
	size_t i;

	for (i = 0; i < selector->n; i++) {
		v = labels_get(labels, selector->items[i].key);
		if (!v || strcmp(v, selector->items[i].value))
			return false;
	}
	return true;
}

void labels_free(struct tr_labels *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void meta_free(struct meta *m)
{
	free(m->name);
	free(m->ns);
	free(m->cgroup);
	labels_free(&m->labels);
	memset(m, 0, sizeof(*m));
}

static void service_free(struct tr_service *s)
{
	size_t i;

	free(s->ns);
	free(s->name);
	labels_free(&s->selector);
	free(s->vips);
	free(s->external_ips);
	free(s->lb_ips);
	for (i = 0; i < s->n_ports; i++) {
		free(s->ports[i].name);
		free(s->ports[i].target_port_name);
	}
	free(s->ports);
}

static void slice_free(struct tr_endpointslice *es)
{
	size_t i;

	free(es->ns);
	free(es->name);
	free(es->service);
	for (i = 0; i < es->n_ports; i++)
		free(es->ports[i].name);
	free(es->ports);
	for (i = 0; i < es->n_endpoints; i++) {
		free(es->endpoints[i].addrs);
		free(es->endpoints[i].node);
		free(es->endpoints[i].zone);
		free(es->endpoints[i].target_pod);
	}
	free(es->endpoints);
}

static void pod_free(struct tr_pod *p)
{
	free(p->ns);
	free(p->name);
	labels_free(&p->labels);
	free(p->service_account);
	free(p->node);
	free(p->cgroup);
	free(p->ips);
}

static void dest_rule_free(struct tr_dest_rule *dr)
{
	size_t i;

	free(dr->ns);
	free(dr->name);
	free(dr->host);
	for (i = 0; i < dr->n_subsets; i++) {
		free(dr->subsets[i].name);
		labels_free(&dr->subsets[i].labels);
	}
	free(dr->subsets);
}

static void virtual_service_free(struct tr_virtual_service *vs)
{
	size_t i, j;

	free(vs->ns);
	free(vs->name);
	for (i = 0; i < vs->n_hosts; i++)
		free(vs->hosts[i]);
	free(vs->hosts);
	for (i = 0; i < vs->n_tcp; i++) {
		free(vs->tcp[i].match_ports);
		for (j = 0; j < vs->tcp[i].n_routes; j++) {
			free(vs->tcp[i].routes[j].host);
			free(vs->tcp[i].routes[j].subset);
		}
		free(vs->tcp[i].routes);
	}
	free(vs->tcp);
}

static void strs_free(char **s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

static void authz_policy_free(struct tr_authz_policy *ap)
{
	struct tr_authz_source *s;
	struct tr_authz_rule *r;
	size_t i, j;

	free(ap->ns);
	free(ap->name);
	labels_free(&ap->selector);
	for (i = 0; i < ap->n_rules; i++) {
		r = &ap->rules[i];
		for (j = 0; j < r->n_from; j++) {
			s = &r->from[j];
			strs_free(s->principals, s->n_principals);
			strs_free(s->not_principals, s->n_not_principals);
			strs_free(s->namespaces, s->n_namespaces);
			strs_free(s->not_namespaces, s->n_not_namespaces);
			free(s->ip_blocks);
			free(s->not_ip_blocks);
		}
		free(r->from);
		for (j = 0; j < r->n_to; j++) {
			free(r->to[j].ports);
			free(r->to[j].not_ports);
		}
		free(r->to);
	}
	free(ap->rules);
}

static void peer_authn_free(struct tr_peer_authn *pa)
{
	free(pa->ns);
	free(pa->name);
	labels_free(&pa->selector);
	free(pa->ports);
}

void config_free(struct tr_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_services; i++)
		service_free(&cfg->services[i]);
	free(cfg->services);
	for (i = 0; i < cfg->n_slices; i++)
		slice_free(&cfg->slices[i]);
	free(cfg->slices);
	for (i = 0; i < cfg->n_pods; i++)
		pod_free(&cfg->pods[i]);
	free(cfg->pods);
	for (i = 0; i < cfg->n_nodes; i++) {
		free(cfg->nodes[i].name);
		free(cfg->nodes[i].internal_ips);
	}
	free(cfg->nodes);
	for (i = 0; i < cfg->n_dest_rules; i++)
		dest_rule_free(&cfg->dest_rules[i]);
	free(cfg->dest_rules);
	for (i = 0; i < cfg->n_virtual_services; i++)
		virtual_service_free(&cfg->virtual_services[i]);
	free(cfg->virtual_services);
	for (i = 0; i < cfg->n_authz_policies; i++)
		authz_policy_free(&cfg->authz_policies[i]);
	free(cfg->authz_policies);
	for (i = 0; i < cfg->n_peer_authns; i++)
		peer_authn_free(&cfg->peer_authns[i]);
	free(cfg->peer_authns);
	free(cfg->mesh.trust_domain);
	free(cfg->mesh.root_namespace);
	digests_free(cfg);
	/* Last: every tr_src above points into these. */
	for (i = 0; i < cfg->n_files; i++)
		free(cfg->files[i]);
	free(cfg->files);
	memset(cfg, 0, sizeof(*cfg));
}

void diags_free(struct tr_diags *diags)
{
	size_t i;

	if (!diags)
		return;
	for (i = 0; i < diags->n; i++) {
		free(diags->items[i].file);
		free(diags->items[i].message);
	}
	free(diags->items);
	memset(diags, 0, sizeof(*diags));
}

char *diag_format(const struct tr_diag *d)
{
	const char *level = d->level == TR_DIAG_ERROR ? "error" : "warning";
	const char *msg = d->message ? d->message : "";
	char *s = NULL;
	int n;

	if (d->file && d->line > 0)
		n = asprintf(&s, "%s:%d: %s: %s", d->file, d->line, level, msg);
	else if (d->file)
		n = asprintf(&s, "%s: %s: %s", d->file, level, msg);
	else
		n = asprintf(&s, "%s: %s", level, msg);
	return n < 0 ? NULL : s;
}
