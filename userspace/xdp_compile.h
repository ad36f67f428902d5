/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Compiles what the uplink load balancer (include/trestle/xdp.h) serves
 * from a validated configuration and its compiled services (compile.h):
 *
 *   fronts    the external keys (address, port, protocol): every
 *             status.loadBalancer.ingress[].ip of a LoadBalancer Service
 *             and every spec.externalIPs entry with the Service's ports,
 *             and (every node's InternalIP, nodePort) of NodePort and
 *             LoadBalancer Services; each names the ring of the cluster
 *             service port of the same family it stands for;
 *   rings     one Maglev ring per such service port, over its ready
 *             backends with their slots (weights) of the cluster table, so
 *             canary splits hold at the uplink too;
 *   backends  where each backend runs: on this node (local: DNAT and
 *             redirect) or on another node, reached through that node's
 *             InternalIP (IPIP / IP6IP6).
 *
 * Pure: no maps, no devices; every node computes the same rings from the
 * same configuration (the seed comes from the trust domain). Problems that
 * only the uplink sees (an external address of a family the Service has no
 * cluster IP of; a backend on a node with no InternalIP) are warnings: the
 * rest of the configuration is unaffected.
 */
#ifndef TRESTLE_XDP_COMPILE_H
#define TRESTLE_XDP_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "config.h"

struct xdp_cbackend {
	struct tr_ip ip;
	uint16_t port;
	bool local;          /* runs on this node */
	struct tr_ip node;   /* remote: its node's InternalIP (the outer family) */
	uint64_t key;        /* maglev_key() of (family, address, port) */
};

struct xdp_cring {
	size_t svc;          /* index of the compiled service port (tr_compiled) */
	uint32_t size;       /* prime; 0 = no ready backend */
	uint32_t *slots;     /* size entries: index into xdp_compiled.backends */
	uint64_t hash;       /* FNV-1a of size and slots' backend keys */
};

enum xdp_front_kind { XDP_FRONT_LB, XDP_FRONT_EXTERNAL, XDP_FRONT_NODE_PORT };

struct xdp_cfront {
	struct tr_ip addr;
	uint16_t port;
	uint8_t proto;       /* TR_PROTO_* */
	enum xdp_front_kind kind;
	size_t ring;         /* index into xdp_compiled.rings */
};

struct xdp_compiled {
	struct xdp_cfront *fronts;
	size_t n_fronts;
	struct xdp_cring *rings;
	size_t n_rings;
	struct xdp_cbackend *backends; /* unique by (family, address, port) */
	size_t n_backends;
	struct tr_ip node4, node6;     /* this node's InternalIPs; family 0 = none */
	uint32_t seed;                 /* Maglev and flow hash seed */
	uint64_t hash;                 /* of everything above */
};

/*
 * Compile for node 'node'. Warnings go to diags (may be NULL). Returns 0 or
 * -ENOMEM.
 */
int xdp_compile(const struct tr_config *cfg, const struct tr_compiled *comp,
		const char *node, struct xdp_compiled *out, struct tr_diags *diags);
void xdp_compiled_free(struct xdp_compiled *x);

/* "lb", "external", "nodeport". */
const char *xdp_front_kind_name(enum xdp_front_kind k);

#endif /* TRESTLE_XDP_COMPILE_H */
