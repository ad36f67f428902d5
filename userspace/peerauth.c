// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PeerAuthentication resolution (peerauth.h): a Pod's default mTLS mode
 * and its port-level exceptions, from the sorted policy array.
 */
#include "peerauth.h"

#include <string.h>

/* The loader's default; a hand-made model may leave it NULL. */
#define ROOT_NAMESPACE_DEFAULT "istio-system"

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

const char *peerauth_mode_name(enum tr_mtls_mode m)
{
	switch (m) {
	case TR_PA_UNSET:
		return "UNSET";
	case TR_PA_DISABLE:
		return "DISABLE";
	case TR_PA_PERMISSIVE:
		return "PERMISSIVE";
	case TR_PA_STRICT:
		return "STRICT";
	}
	return "?";
}

size_t peerauth_ns_range(const struct tr_config *cfg, const char *ns, size_t *first)
{
	size_t lo = 0, hi = cfg->n_peer_authns, mid, end;

	ns = str_or_empty(ns);
	/* lower bound: the first policy whose namespace is >= ns */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(str_or_empty(cfg->peer_authns[mid].ns), ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	/* upper bound: the first whose namespace is > ns */
	end = cfg->n_peer_authns;
	while (lo < end) {
		mid = lo + (end - lo) / 2;
		if (strcmp(str_or_empty(cfg->peer_authns[mid].ns), ns) <= 0)
			lo = mid + 1;
		else
			end = mid;
	}
	return lo;
}

/* The first policy of ns without a selector, by name. */
static const struct tr_peer_authn *ns_wide(const struct tr_config *cfg, const char *ns)
{
	size_t i, end = peerauth_ns_range(cfg, ns, &i);

	for (; i < end; i++)
		if (!cfg->peer_authns[i].has_selector)
			return &cfg->peer_authns[i];
	return NULL;
}

void peerauth_policies(const struct tr_config *cfg, const struct tr_pod *pod,
		       struct peerauth_policies *out)
{
	const char *root = cfg->mesh.root_namespace ? cfg->mesh.root_namespace
						    : ROOT_NAMESPACE_DEFAULT;
	const char *ns = str_or_empty(pod->ns);
	const struct tr_peer_authn *pa;
	size_t i, end;

	memset(out, 0, sizeof(*out));
	if (!cfg->n_peer_authns)
		return;
	out->mesh = ns_wide(cfg, root);
	/* In the root namespace the namespace-wide policy is the mesh-wide
	 * one, and policies with a selector are ignored (Istio). */
	if (!strcmp(ns, root))
		return;
	end = peerauth_ns_range(cfg, ns, &i);
	for (; i < end; i++) {
		pa = &cfg->peer_authns[i];
		if (!pa->has_selector) {
			if (!out->ns)
				out->ns = pa;
		} else if (!out->workload && labels_match(&pa->selector, &pod->labels)) {
			out->workload = pa;
		}
		if (out->ns && out->workload)
			break;
	}
}

/* The Pod's mode for ports without an entry of their own. */
static enum tr_mtls_mode resolve(const struct peerauth_policies *p)
{
	enum tr_mtls_mode mode = TR_PA_PERMISSIVE;

	if (p->mesh && p->mesh->mode != TR_PA_UNSET)
		mode = p->mesh->mode;
	if (p->ns && p->ns->mode != TR_PA_UNSET)
		mode = p->ns->mode;
	if (p->workload && p->workload->mode != TR_PA_UNSET)
		mode = p->workload->mode;
	return mode;
}

static const struct tr_pa_port *find_port(const struct tr_peer_authn *pa, uint16_t port)
{
	size_t lo = 0, hi = pa->n_ports, mid;

	while (lo < hi) { /* ports are sorted by the loader */
		mid = lo + (hi - lo) / 2;
		if (pa->ports[mid].port == port)
			return &pa->ports[mid];
		if (pa->ports[mid].port < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

enum tr_mtls_mode peerauth_mode(const struct tr_config *cfg, const struct tr_pod *pod,
				uint16_t port)
{
	const struct tr_pa_port *pp;
	struct peerauth_policies p;
	enum tr_mtls_mode dflt;

	peerauth_policies(cfg, pod, &p);
	dflt = resolve(&p);
	if (!port || !p.workload)
		return dflt;
	pp = find_port(p.workload, port);
	return pp && pp->mode != TR_PA_UNSET ? pp->mode : dflt;
}

size_t peerauth_pod(const struct tr_config *cfg, const struct tr_pod *pod,
		    enum tr_mtls_mode *dflt, uint16_t *ports, enum tr_mtls_mode *modes,
		    size_t max)
{
	const struct tr_pa_port *pp;
	struct peerauth_policies p;
	size_t i, n = 0;

	peerauth_policies(cfg, pod, &p);
	*dflt = resolve(&p);
	for (i = 0; p.workload && i < p.workload->n_ports && n < max; i++) {
		pp = &p.workload->ports[i];
		if (pp->mode == TR_PA_UNSET || pp->mode == *dflt)
			continue;
		ports[n] = pp->port;
		modes[n] = pp->mode;
		n++;
	}
	return n;
}
