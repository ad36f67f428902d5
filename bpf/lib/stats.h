/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-CPU counters: tr_stats holds events (TR_STAT_*) and drops by reason
 * (index -reason); tr_lb_bestat counts selections per backend id.
 */
#ifndef TR_BPF_STATS_H
#define TR_BPF_STATS_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TR_STATS_SIZE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TR_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_lb_bestat SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&tr_stats, &idx);

	if (v)
		*v += 1;
}

/* Count a drop or refusal; returns the reason so callers can chain it. */
static __always_inline int stat_reason(enum tr_reason reason)
{
	stat_inc((__u32)(-reason));
	return reason;
}

static __always_inline void stat_backend(__u32 backend_id)
{
	__u64 *v = bpf_map_lookup_elem(&tr_lb_bestat, &backend_id);

	if (v)
		*v += 1;
}

#endif /* TR_BPF_STATS_H */
