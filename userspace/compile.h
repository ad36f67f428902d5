/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Compiles a validated configuration (config.h) into what the load-balancing
 * maps hold: one entry per service VIP, port and protocol, each with its
 * backends and a weighted selection table. Pure: no maps, no I/O, so it is
 * unit-tested on its own. Cross-object problems found here (a route to a
 * subset no DestinationRule defines, two VirtualServices for one host) are
 * reported as diagnostics and refuse the whole configuration.
 */
#ifndef TRESTLE_COMPILE_H
#define TRESTLE_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <trestle/abi.h>

#include "config.h"

struct tr_cbackend {
	struct tr_ip ip;
	uint16_t port;
	bool ready;
	uint32_t slots;      /* slots in the service's table; 0 = gets no traffic */
	uint32_t weight_ppm; /* slots / table size, parts per million */
	char subset[TR_SHORT_NAME_LEN];
	char node[TR_NAME_LEN];
	char zone[TR_SHORT_NAME_LEN];
	char pod[TR_NAME_LEN];
};

struct tr_cservice {
	/* key */
	struct tr_ip vip;
	uint16_t port;
	uint8_t proto; /* TR_PROTO_* */
	/* identity, for svcinfo */
	char ns[TR_NAME_LEN];
	char name[TR_NAME_LEN];
	char port_name[TR_SHORT_NAME_LEN];
	/* backends sorted by (address, port); includes not-ready ones */
	struct tr_cbackend *backends;
	size_t n_backends;
	/* selection table: table[k] = index into backends */
	uint32_t *table;
	uint32_t n_slots;
	uint64_t table_hash; /* FNV-1a of the table's backends, for diffing */
	uint64_t hash;       /* FNV-1a of the whole entry, for diffing */
};

struct tr_compiled {
	struct tr_cservice *services; /* sorted by key */
	size_t n_services;
	size_t n_backends;  /* sum over services */
	size_t n_slots;     /* sum over services */
	uint64_t hash;      /* FNV-1a of everything, to skip no-op reloads */
};

/*
 * Compile cfg. Returns 0, -EINVAL with errors in diags (warnings may be
 * added on success too), or -ENOMEM.
 */
int compile_config(const struct tr_config *cfg, struct tr_compiled *out,
		   struct tr_diags *diags);
void compiled_free(struct tr_compiled *c);

/* Order of service keys (family, address, port, protocol), as sorted. */
int compile_key_cmp(const struct tr_ip *a, uint16_t aport, uint8_t aproto,
		    const struct tr_ip *b, uint16_t bport, uint8_t bproto);

/* Resolve an Istio host as written in namespace ns ("reviews",
 * "reviews.prod", "reviews.prod.svc.cluster.local") to a Service. */
const struct tr_service *compile_resolve_host(const struct tr_config *cfg,
					      const char *host, const char *ns);

#endif /* TRESTLE_COMPILE_H */
