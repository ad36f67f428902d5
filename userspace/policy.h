/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The authorization compiler: Pods and AuthorizationPolicies in, classes
 * and verdict entries out (see include/trestle/policy.h for why classes).
 * Pure, like compile.h: no maps, no I/O.
 *
 * Istio's semantics, L4 subset: DENY policies first (any matching rule
 * denies); then, if no ALLOW policy selects the destination, allow; else
 * allow only if an ALLOW rule matches. An ALLOW policy without rules (and
 * `spec: {}`) selects its workloads and matches nothing: they allow nothing.
 * AUDIT policies never change the verdict; their matches are flagged. A
 * policy without selector applies to its whole namespace, one in the root
 * namespace to the whole mesh.
 *
 * Sources: every Pod is a source with its principal
 * (TRUST_DOMAIN/ns/NS/sa/SA), namespace and addresses; every other address
 * is a source with no principal and no namespace, which only ipBlocks,
 * notIpBlocks and the not* fields can match. Destinations: every Pod.
 */
#ifndef TRESTLE_POLICY_COMPILE_H
#define TRESTLE_POLICY_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* A verdict as compiled. policy/audit_policy index policies[], or -1. */
struct pc_verdict {
	uint8_t action;   /* TR_ACT_ALLOW / TR_ACT_DENY */
	uint8_t flags;    /* TR_VERD_F_* */
	uint16_t rule;    /* TR_RULE_NONE when the default applied */
	int32_t policy;
	int32_t audit_policy;
	uint16_t audit_rule;
};

struct pc_workload {
	const struct tr_pod *pod;
	uint32_t identity;  /* index into identities[] */
	uint32_t src_class; /* 1.. */
	uint32_t dst_class; /* 0 = no policy selects it: everything allowed */
	bool local;         /* pod->node == the node compiled for */
};

/* An address block that some policy names; addresses of no workload that
 * fall in it (longest prefix) are of src_class. */
struct pc_prefix {
	struct tr_cidr cidr;
	uint32_t src_class;
};

struct pc_policy {
	const struct tr_authz_policy *ap;
	uint8_t scope;       /* 0 selector, 1 namespace, 2 mesh */
	uint32_t n_selected; /* workloads it applies to */
};

struct pc_entry {
	uint32_t dst_class;
	uint32_t src_class;
	uint16_t port;      /* 0 = every other port */
	struct pc_verdict v;
};

struct pc_dst_default {
	uint32_t dst_class;
	struct pc_verdict v; /* when no (dst, src, port|0) entry exists */
};

struct tr_policy_compiled {
	char **identities; /* "spiffe://TD/ns/NS/sa/SA", sorted, unique */
	size_t n_identities;
	struct pc_workload *workloads; /* one per Pod, in cfg order */
	size_t n_workloads;
	struct pc_prefix *prefixes;
	size_t n_prefixes;
	uint32_t world_src_class;  /* addresses in no prefix and no workload */
	uint32_t n_src_classes;    /* classes are 1..n_src_classes */
	uint32_t n_dst_classes;    /* classes are 1..n_dst_classes */
	struct pc_policy *policies; /* one per AuthorizationPolicy, cfg order */
	size_t n_policies;
	struct pc_entry *entries;   /* sorted by (dst, src, port) */
	size_t n_entries;
	struct pc_dst_default *defaults; /* one per dst class */
	size_t n_defaults;
	uint64_t hash;              /* FNV-1a of the whole result */
};

/*
 * Compile for the node 'node' (which workloads are local). Returns 0,
 * -EINVAL with errors in diags (e.g. a policy that selects nothing is only
 * a warning; an invalid principal pattern is an error), or -ENOMEM.
 */
int policy_compile(const struct tr_config *cfg, const char *node,
		   struct tr_policy_compiled *out, struct tr_diags *diags);
void policy_compiled_free(struct tr_policy_compiled *pc);

/*
 * Evaluate directly, without classes: the reference the compiled tables
 * are tested against, and what `trestle policy check` explains with.
 * src_pod may be NULL (a source outside the mesh, known by src_ip only).
 */
struct pc_verdict policy_evaluate(const struct tr_config *cfg,
				  const struct tr_pod *src_pod,
				  const struct tr_ip *src_ip,
				  const struct tr_pod *dst_pod, uint16_t port);

/* Istio principal / namespace pattern: exact, "*", "prefix*", "*suffix". */
bool policy_pattern_match(const char *pattern, const char *value);

#endif /* TRESTLE_POLICY_COMPILE_H */
