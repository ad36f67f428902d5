/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who the two ends of a TCP connection are, for the L4 metrics (sockops):
 * the workload at each address (tr_wl_addr) and the service the server
 * end's address and port are a backend of (tr_lb_rbe).
 *
 * sockops asks at establishment and again at TCP_CLOSE, and for a
 * connection between two workloads of the node at both ends: three hash
 * lookups each time, and a hash lookup is the data path's dearest step
 * here (its bucket and element are rarely in cache between two
 * connections). The answer depends only on the two addresses, the server
 * port and the side asking, and a node's connections come from a few
 * pairs of endpoints, so it is cached per CPU in a direct-mapped table:
 * a pair seen before costs one array access.
 *
 * Validity: ends_gen, which the agent increments after it writes
 * tr_wl_addr or tr_lb_rbe (loader_ends_changed), is read before the
 * lookups and stored with their answer; an entry of another generation is
 * a miss. Each slot has a sequence number, odd while a program writes it:
 * a program that interrupted another on the same CPU (a softirq during a
 * process-context run) neither trusts a slot changed under it nor writes
 * into one being written.
 */
#ifndef TR_BPF_ENDS_H
#define TR_BPF_ENDS_H

#include "common.h"

#include <trestle/maps.h>
#include <trestle/metrics.h>

#define ENDS_SLOTS 512 /* per CPU; a power of two */

/* Set by the agent through the skeleton's mmapped .bss. */
volatile __u32 ends_gen;

/* What the answer depends on, as words (compared word by word). */
struct ends_q {
	__be32 laddr[4]; /* this socket's address; IPv4 in [0] */
	__be32 raddr[4]; /* the peer's */
	__u32 meta;      /* server port (network order) | family << 16 | active << 24 */
};

/* The answer. */
struct ends {
	__u32 local;     /* workload at this socket's address; 0: none */
	__u32 remote;    /* workload at the peer's address; 0: none */
	__u32 svc;       /* server end's service, where the metrics name it:
			  * the connecting side's when both ends are here, the
			  * accepting side's when they are not; else 0 */
	__u8 local_here; /* that workload runs on this node */
	__u8 remote_here;
	__u8 pad[2];
};

struct ends_slot {
	__u32 seq; /* even and not 0: complete */
	__u32 gen; /* ends_gen of the answer */
	struct ends_q q;
	struct ends e;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ENDS_SLOTS);
	__type(key, __u32);
	__type(value, struct ends_slot);
} tr_ends_cache SEC(".maps");

#define ENDS_ONCE(x) (*(volatile typeof(x) *)&(x))
#define ENDS_BARRIER() asm volatile("" ::: "memory")

static __always_inline __u32 ends_slot_of(const struct ends_q *q)
{
	__u32 h = q->laddr[0] ^ q->laddr[3] ^ q->meta;

	h ^= (q->raddr[0] ^ q->raddr[3]) * 0x85ebca6bu;
	h *= 0x9e3779b1u;
	return h >> 23; /* the top 9 bits: ENDS_SLOTS */
}

static __always_inline bool ends_q_eq(const struct ends_q *a, const struct ends_q *b)
{
	return a->laddr[0] == b->laddr[0] && a->laddr[1] == b->laddr[1] &&
	       a->laddr[2] == b->laddr[2] && a->laddr[3] == b->laddr[3] &&
	       a->raddr[0] == b->raddr[0] && a->raddr[1] == b->raddr[1] &&
	       a->raddr[2] == b->raddr[2] && a->raddr[3] == b->raddr[3] &&
	       a->meta == b->meta;
}

/* The cached answer for q under generation gen, if there is one. */
static __always_inline bool ends_get(const struct ends_q *q, __u32 gen, struct ends *out)
{
	__u32 idx = ends_slot_of(q), seq;
	struct ends_slot *s = bpf_map_lookup_elem(&tr_ends_cache, &idx);

	if (!s)
		return false;
	seq = ENDS_ONCE(s->seq);
	ENDS_BARRIER();
	if (!seq || (seq & 1) || s->gen != gen || !ends_q_eq(&s->q, q))
		return false;
	*out = s->e;
	ENDS_BARRIER();
	return ENDS_ONCE(s->seq) == seq;
}

/* Remember e as the answer for q under generation gen. */
static __always_inline void ends_put(const struct ends_q *q, __u32 gen, const struct ends *e)
{
	__u32 idx = ends_slot_of(q), seq;
	struct ends_slot *s = bpf_map_lookup_elem(&tr_ends_cache, &idx);

	if (!s)
		return;
	seq = ENDS_ONCE(s->seq);
	if (seq & 1)
		return; /* this run interrupted a write of the slot */
	ENDS_ONCE(s->seq) = seq + 1;
	ENDS_BARRIER();
	s->gen = gen;
	s->q = *q;
	s->e = *e;
	ENDS_BARRIER();
	ENDS_ONCE(s->seq) = seq + 2 ? seq + 2 : 2;
}

#endif /* TR_BPF_ENDS_H */
