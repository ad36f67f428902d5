/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the agent itself counts (as opposed to the kernel's maps): reloads
 * by result, the applied generation and policy epoch, readiness. Written by
 * the main loop, read by the metrics server's thread: every field is an
 * atomic, and the one string is replaced whole under the lock.
 */
#ifndef TRESTLE_AGENT_STATS_H
#define TRESTLE_AGENT_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum reload_result {
	RELOAD_APPLIED,   /* a new generation is live */
	RELOAD_UNCHANGED, /* valid, nothing to do */
	RELOAD_REFUSED,   /* invalid manifests or an apply error: old one stays */
	RELOAD_RESULTS
};

/* Every pinned map, in TR_PINNED_MAPS order, for per-map counters. */
#define AGENT_STATS_MAPS 56

struct agent_stats {
	_Atomic uint64_t reloads[RELOAD_RESULTS];
	_Atomic uint64_t generation;     /* tr_meta.generation */
	_Atomic uint64_t policy_epoch;   /* tr_pol_cfg.epoch */
	_Atomic uint64_t last_reload_ns; /* CLOCK_REALTIME of the last attempt */
	_Atomic bool programs_attached;
	_Atomic bool config_loaded;      /* at least one generation applied or adopted */
	_Atomic uint64_t map_write_failures; /* map updates that failed (map pressure) */
	_Atomic uint64_t map_insert_failures[AGENT_STATS_MAPS]; /* by map, see below */
	_Atomic uint64_t start_ns;       /* CLOCK_REALTIME at start */
};

extern struct agent_stats agent_stats;

void agent_stats_reload(enum reload_result r);
/* A configuration apply refused because map 'name' was full (or failed). */
void agent_stats_map_failure(const char *name);
/* The name of per-map slot i, or NULL past the last map. */
const char *agent_stats_map_name(size_t i);
/* The reason /readyz gives while not ready, or NULL when ready. Copies
 * into buf (thread-safe). */
const char *agent_stats_not_ready(char *buf, size_t len);
/* Set the last refusal's one-line reason (for logs and /readyz detail). */
void agent_stats_set_last_error(const char *msg);
void agent_stats_last_error(char *buf, size_t len);

#endif /* TRESTLE_AGENT_STATS_H */
