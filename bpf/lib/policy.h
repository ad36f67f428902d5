/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Identity and authorization lookups shared by the socket and tc programs.
 * See include/trestle/policy.h for the class/epoch model. Every verdict is
 * at most: one epoch read, two address (or cgroup) lookups, three verdict
 * lookups, whatever the number of policies.
 */
#ifndef TR_BPF_POLICY_H
#define TR_BPF_POLICY_H

#include "common.h"
#include "stats.h"

#include <trestle/policy.h>
#include <trestle/metrics.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tr_pol_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_pol_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TR_MAX_IP_INFO);
	__type(key, struct tr_ip4_lpm_key);
	__type(value, struct tr_ipinfo);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_ip4_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TR_MAX_IP_INFO);
	__type(key, struct tr_ip6_lpm_key);
	__type(value, struct tr_ipinfo);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_ip6_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_CGROUPS);
	__type(key, struct tr_cgroup_key);
	__type(value, struct tr_ipinfo);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_POL_ENTRIES);
	__type(key, struct tr_pol_key);
	__type(value, struct tr_pol_verdict);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_pol SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_POL_DST);
	__type(key, __u32);
	__type(value, struct tr_pol_verdict);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_pol_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TR_MAX_POLICIES * TR_POL_STAT_N);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_pol_stat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TR_FLOW_RB_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_flow_rb SEC(".maps");

/* Informational maps: written by the agent, read by the agent and CLI. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_IDENTITIES);
	__type(key, __u32);
	__type(value, struct tr_id_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_id_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_WORKLOADS);
	__type(key, __u32);
	__type(value, struct tr_wl_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_wl_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_POLICIES);
	__type(key, __u32);
	__type(value, struct tr_pol_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_pol_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_WORKLOADS * 2);
	__type(key, struct tr_wl_addr_key);
	__type(value, struct tr_wl_addr);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_wl_addr SEC(".maps");

/* The policy view one program run works with. */
struct pol_ctx {
	__u32 epoch;
	__u32 flags; /* tr_pol_cfg.flags */
};

/* Returns false when no policy state is loaded (everything allowed). */
static __always_inline bool pol_begin(struct pol_ctx *pc)
{
	__u32 zero = 0;
	const struct tr_pol_cfg *cfg = bpf_map_lookup_elem(&tr_pol_cfg, &zero);

	if (!cfg || !cfg->epoch)
		return false;
	pc->epoch = cfg->epoch;
	pc->flags = cfg->flags;
	return true;
}

static __always_inline const struct tr_ipinfo *
pol_ip4(const struct pol_ctx *pc, __be32 addr)
{
	struct tr_ip4_lpm_key k = {};

	k.prefixlen = 64;
	k.epoch = pc->epoch;
	k.addr = addr;
	return bpf_map_lookup_elem(&tr_ip4_info, &k);
}

static __always_inline const struct tr_ipinfo *
pol_ip6(const struct pol_ctx *pc, const __be32 *addr)
{
	struct tr_ip6_lpm_key k = {};

	k.prefixlen = 160;
	k.epoch = pc->epoch;
	k.addr[0] = addr[0];
	k.addr[1] = addr[1];
	k.addr[2] = addr[2];
	k.addr[3] = addr[3];
	return bpf_map_lookup_elem(&tr_ip6_info, &k);
}

/*
 * The verdict for src_class -> dst_class:port. NULL only when the state is
 * inconsistent (no default for a class that has policies): callers deny.
 */
static __always_inline const struct tr_pol_verdict *
pol_verdict(__u32 dst_class, __u32 src_class, __u16 port)
{
	struct tr_pol_key k = {};
	const struct tr_pol_verdict *v;

	k.dst_class = dst_class;
	k.src_class = src_class;
	k.port = port;
	v = bpf_map_lookup_elem(&tr_pol, &k);
	if (v)
		return v;
	k.port = 0;
	v = bpf_map_lookup_elem(&tr_pol, &k);
	if (v)
		return v;
	return bpf_map_lookup_elem(&tr_pol_dst, &dst_class);
}

static __always_inline void pol_count(__u32 policy, __u32 what)
{
	__u32 idx;
	__u64 *c;

	if (!policy || policy >= TR_MAX_POLICIES)
		return;
	idx = policy * TR_POL_STAT_N + what;
	c = bpf_map_lookup_elem(&tr_pol_stat, &idx);
	if (c)
		*c += 1;
}

/* What a decision was, for counting and for the flow log. */
struct pol_decision {
	__u8 action;
	__u8 flags;
	__u16 rule;
	__s32 reason;
	__u32 policy;
	__u32 audit_policy;
	__u16 audit_rule;
};

/* Turn a verdict (or its absence) into a decision, and count it. */
static __always_inline void pol_decide(const struct tr_pol_verdict *v,
				       struct pol_decision *d)
{
	if (!v) {
		d->action = TR_ACT_DENY;
		d->flags = 0;
		d->rule = TR_RULE_NONE;
		d->policy = 0;
		d->audit_policy = 0;
		d->audit_rule = 0;
		d->reason = stat_reason(TR_REASON_POLICY_STATE);
		return;
	}
	d->action = v->action;
	d->flags = v->flags;
	d->rule = v->rule;
	d->policy = v->policy;
	d->audit_policy = v->audit_policy;
	d->audit_rule = v->audit_rule;
	if (v->action == TR_ACT_ALLOW) {
		d->reason = 0;
		stat_inc(TR_STAT_POL_ALLOW);
		pol_count(v->policy, TR_POL_STAT_ALLOW);
	} else {
		d->reason = (v->flags & TR_VERD_F_DEFAULT) ?
				    stat_reason(TR_REASON_POLICY_NO_ALLOW) :
				    stat_reason(TR_REASON_POLICY_DENY);
		pol_count(v->policy, TR_POL_STAT_DENY);
	}
	if (v->flags & TR_VERD_F_AUDIT) {
		stat_inc(TR_STAT_POL_AUDIT);
		pol_count(v->audit_policy, TR_POL_STAT_AUDIT);
	}
}

/* Should this decision go to the flow log? */
static __always_inline bool pol_logged(const struct pol_ctx *pc,
				       const struct pol_decision *d)
{
	return d->action != TR_ACT_ALLOW || (d->flags & TR_VERD_F_AUDIT) ||
	       (pc->flags & TR_POL_F_LOG_ALLOW);
}

/* Emit a flow event; the addresses are filled in by the caller's helper. */
static __always_inline struct tr_flow_event *pol_event_start(void)
{
	struct tr_flow_event *e;

	e = bpf_ringbuf_reserve(&tr_flow_rb, sizeof(*e), 0);
	if (!e) {
		stat_inc(TR_STAT_FLOW_LOST);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_boot_ns();
	return e;
}

static __always_inline void pol_event_fill(struct tr_flow_event *e,
					   const struct pol_decision *d,
					   const struct tr_ipinfo *src,
					   const struct tr_ipinfo *dst, __u8 hook)
{
	e->action = d->action;
	e->reason = d->reason;
	e->policy = d->policy;
	e->rule = d->rule;
	e->flags = d->flags;
	e->audit_policy = d->audit_policy;
	e->audit_rule = d->audit_rule;
	e->hook = hook;
	if (src) {
		e->src_identity = src->identity;
		e->src_workload = src->workload;
	}
	if (dst) {
		e->dst_identity = dst->identity;
		e->dst_workload = dst->workload;
	}
}

/* A packet-level decision (tc, XDP) into the flow log, when it is logged. */
static __always_inline void pol_event_packet(const struct pol_ctx *pc,
					     const struct pol_decision *d,
					     const struct tr_ipinfo *src,
					     const struct tr_ipinfo *dst, __u8 hook,
					     const __be32 *saddr, const __be32 *daddr,
					     __be16 sport, __be16 dport, __u8 family,
					     __u8 proto, __u32 ifindex)
{
	struct tr_flow_event *e;

	if (!pol_logged(pc, d))
		return;
	e = pol_event_start();
	if (!e)
		return;
	pol_event_fill(e, d, src, dst, hook);
	__builtin_memcpy(e->saddr, saddr, 16);
	__builtin_memcpy(e->daddr, daddr, 16);
	e->sport = sport;
	e->dport = dport;
	e->family = family;
	e->proto = proto;
	e->ifindex = ifindex;
	bpf_ringbuf_submit(e, 0);
}

#endif /* TR_BPF_POLICY_H */
