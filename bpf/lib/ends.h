/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who the two ends of a TCP connection are, for the L4 metrics (sockops),
 * and where its counts go: a per-CPU, direct-mapped table of slots
 * (tr_l4_ends, include/trestle/metrics.h).
 *
 * sockops asks at establishment and again at TCP_CLOSE, and for a
 * connection between two workloads of the node at both ends. Answered
 * from the maps, that is two tr_wl_addr and one tr_lb_rbe lookups, and
 * counting is one tr_l4_stat update per series: each a hash lookup, and
 * each hash lookup touches memory pages the connection touches nowhere
 * else. The answer depends only on the slot's query, and a node's
 * connections come from a few pairs of endpoints, so the slot keeps the
 * series keys and, until it is given to another query, the counts: a
 * connection of a pair seen before costs one array access.
 *
 * Validity: ends_gen, which the agent moves after it writes tr_wl_addr or
 * tr_lb_rbe (loader_ends_changed) and sets to a fresh value at every start
 * (slots outlive programs), is read before the lookups and stored with the
 * keys; a slot of another generation is resolved anew, after its counts
 * are folded into tr_l4_stat under its old keys.
 *
 * Nesting: a program that interrupted another on the same CPU (a softirq
 * during a process-context run) finds the slot busy and counts into
 * tr_l4_stat; only one run at a time changes a slot.
 */
#ifndef TR_BPF_ENDS_H
#define TR_BPF_ENDS_H

#include "common.h"

#include <trestle/maps.h>
#include <trestle/metrics.h>

/* Set by the agent through the skeleton's mmapped .bss. */
volatile __u32 ends_gen;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TR_L4_ENDS_SLOTS);
	__type(key, __u32);
	__type(value, struct tr_l4_ends_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_l4_ends SEC(".maps");

#define ENDS_ONCE(x) (*(volatile typeof(x) *)&(x))
#define ENDS_BARRIER() asm volatile("" ::: "memory")

static __always_inline __u32 ends_slot_of(const struct tr_l4_ends_q *q)
{
	__u32 h = q->laddr[0] ^ q->laddr[3] ^ q->meta ^ (q->vip_svc * 0xc2b2ae35u);

	h ^= (q->raddr[0] ^ q->raddr[3]) * 0x85ebca6bu;
	h *= 0x9e3779b1u;
	return h >> 23; /* the top 9 bits: TR_L4_ENDS_SLOTS */
}

static __always_inline bool ends_q_eq(const struct tr_l4_ends_q *a, const struct tr_l4_ends_q *b)
{
	return a->laddr[0] == b->laddr[0] && a->laddr[1] == b->laddr[1] &&
	       a->laddr[2] == b->laddr[2] && a->laddr[3] == b->laddr[3] &&
	       a->raddr[0] == b->raddr[0] && a->raddr[1] == b->raddr[1] &&
	       a->raddr[2] == b->raddr[2] && a->raddr[3] == b->raddr[3] &&
	       a->meta == b->meta && a->vip_svc == b->vip_svc;
}

/* The slot for q, taken (busy) for this run; NULL when a run this one
 * interrupted has it. Give it back with ends_put(). */
static __always_inline struct tr_l4_ends_slot *ends_take(const struct tr_l4_ends_q *q)
{
	__u32 idx = ends_slot_of(q);
	struct tr_l4_ends_slot *s = bpf_map_lookup_elem(&tr_l4_ends, &idx);

	if (!s || ENDS_ONCE(s->busy))
		return NULL;
	ENDS_ONCE(s->busy) = 1;
	ENDS_BARRIER();
	return s;
}

static __always_inline void ends_put(struct tr_l4_ends_slot *s)
{
	ENDS_BARRIER();
	ENDS_ONCE(s->busy) = 0;
}

/* The slot holds q's keys, resolved under generation gen. */
static __always_inline bool ends_holds(const struct tr_l4_ends_slot *s,
				       const struct tr_l4_ends_q *q, __u32 gen)
{
	return s->gen == gen && ends_q_eq(&s->q, q);
}

/* Add to the slot's unfolded counts. */
static __always_inline void ends_count(struct tr_l4_ends_slot *s, __u64 opened, __u64 closed,
				       __u64 sent, __u64 received)
{
	s->val.opened += opened;
	s->val.closed += closed;
	s->val.sent_bytes += sent;
	s->val.received_bytes += received;
}

#endif /* TR_BPF_ENDS_H */
