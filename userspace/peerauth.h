/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * PeerAuthentication resolution: which mTLS mode a Pod's port accepts,
 * with Istio's precedence (pilot's ComposePeerAuthentication):
 *
 *   - levels, outermost first: mesh-wide (no selector, in the Mesh's root
 *     namespace), namespace-wide (no selector, in the Pod's namespace),
 *     workload (a selector matching the Pod's labels, in its namespace;
 *     one with a selector in the root namespace is ignored);
 *   - the innermost level that sets a mode wins; UNSET inherits from the
 *     next level out; nothing anywhere is PERMISSIVE;
 *   - the workload policy's portLevelMtls entries override the result for
 *     their port (the Pod's port, its targetPort); an entry with mode
 *     UNSET keeps the workload's resolved mode;
 *   - several policies at one level (two mesh-wide, two namespace-wide in
 *     a namespace, two selecting one Pod): Istio takes the oldest; the
 *     loader has no creation times, so the first by (namespace, name)
 *     is used and the loader warns about the others.
 *
 * cfg is a model config_load_*() returned: it keeps cfg->peer_authns
 * sorted by (namespace, name), which is the index used here (a binary
 * search per namespace), so a Pod costs O(log P + policies of its
 * namespace) and nothing is allocated. Pure: no maps, no I/O.
 */
#ifndef TRESTLE_PEERAUTH_H
#define TRESTLE_PEERAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The policies that decide for one Pod, NULL where none applies. */
struct peerauth_policies {
	const struct tr_peer_authn *mesh;      /* mesh-wide */
	const struct tr_peer_authn *ns;        /* namespace-wide (NULL in the root namespace) */
	const struct tr_peer_authn *workload;  /* selects the Pod */
};

/* Effective mode of pod's port (port 0 = the pod's default for ports
 * without a port-level entry), never UNSET. */
enum tr_mtls_mode peerauth_mode(const struct tr_config *cfg, const struct tr_pod *pod,
				uint16_t port);

/*
 * All the distinct decisions for one pod: its default mode and the ports
 * whose mode differs from it, by ascending port. Returns the count
 * written to ports/modes (<= max); *dflt set.
 */
size_t peerauth_pod(const struct tr_config *cfg, const struct tr_pod *pod,
		    enum tr_mtls_mode *dflt, uint16_t *ports, enum tr_mtls_mode *modes,
		    size_t max);

/* "UNSET", "DISABLE", "PERMISSIVE", "STRICT" ("?" for anything else). */
const char *peerauth_mode_name(enum tr_mtls_mode m);

/* Which policies decide for pod (for explanations: "STRICT, from ..."). */
void peerauth_policies(const struct tr_config *cfg, const struct tr_pod *pod,
		       struct peerauth_policies *out);

/* The policies of namespace ns: cfg->peer_authns[*first .. return value). */
size_t peerauth_ns_range(const struct tr_config *cfg, const char *ns, size_t *first);

#endif /* TRESTLE_PEERAUTH_H */
