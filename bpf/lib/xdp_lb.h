/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The uplink load balancer's decision: which backend a packet goes to, or
 * whether it is none of our business. Maps are described in
 * include/trestle/xdp.h. Nothing here changes the packet; xlb_decide()
 * only reads it and records state (connection, reverse and fragment
 * entries), so a caller can still pass the packet untouched.
 */
#ifndef TR_BPF_XDP_LB_H
#define TR_BPF_XDP_LB_H

#include "common.h"
#include "stats.h"
#include "policy.h"
#include "tunnel.h"
#include "xdp_parse.h"

#include <trestle/xdp.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tr_xdp_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_XDP_MAX_VIPS);
	__type(key, struct tr_lb4_key);
	__type(value, struct tr_xdp_svc);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp4_vip SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_XDP_MAX_VIPS);
	__type(key, struct tr_lb6_key);
	__type(value, struct tr_xdp_svc);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp6_vip SEC(".maps");

/* One ring: slot -> backend id. The template is 1 entry; the agent's
 * rings are as long as their service's ring_size (BPF_F_INNER_MAP). */
struct tr_xdp_ring_slots {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, TR_XDP_MAX_RINGS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct tr_xdp_ring_slots);
} tr_xdp_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TR_XDP_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct tr_xdp_be);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp_backend SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TR_XDP_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_XDP_MAX_CT);
	__type(key, struct tr_xdp4_flow);
	__type(value, struct tr_xdp_ct);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp4_conn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_XDP_MAX_CT);
	__type(key, struct tr_xdp6_flow);
	__type(value, struct tr_xdp_ct);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp6_conn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_XDP_MAX_RNAT);
	__type(key, struct tr_xdp4_flow);
	__type(value, struct tr_xdp_rnat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp4_rnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_XDP_MAX_RNAT);
	__type(key, struct tr_xdp6_flow);
	__type(value, struct tr_xdp_rnat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp6_rnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_XDP_MAX_FRAG);
	__type(key, struct tr_xdp4_frag_key);
	__type(value, struct tr_xdp_frag);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp4_frag SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_XDP_MAX_FRAG);
	__type(key, struct tr_xdp6_frag_key);
	__type(value, struct tr_xdp_frag);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp6_frag SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TR_XDP_MAX_DENY);
	__type(key, struct tr_ip4_lpm_key);
	__type(value, struct tr_xdp_deny);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp4_deny SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TR_XDP_MAX_DENY);
	__type(key, struct tr_ip6_lpm_key);
	__type(value, struct tr_xdp_deny);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_xdp6_deny SEC(".maps");

/* A flow in the client's direction: client -> service address. */
struct xflow {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 family;
	__u8 proto;
};

/* What xlb_decide() found. The backend by its id, not a pointer: the
 * stages are separate functions for the verifier, and a map value's
 * address may not leave through their arguments; each stage looks it up
 * again (an array element: no hash). */
struct xdec {
	__u32 backend_id;
	__u32 be_flags; /* TR_XDP_BE_F_* of that backend */
	__be32 vip[4];  /* service address (not known for a later fragment) */
	__be16 vport;
	__u8 icmp;      /* an ICMP error about the flow */
	__u8 pad;
};

#define XD_PASS 0 /* not service traffic: untouched */
#define XD_FWD 1  /* to dec.be; negative values are drop reasons */

static __always_inline const struct tr_xdp_cfg *xlb_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tr_xdp_cfg, &zero);
}

/* A backend by id; NULL when the id is not in use (include/trestle/xdp.h). */
static __always_inline const struct tr_xdp_be *xlb_be(__u32 id)
{
	const struct tr_xdp_be *be = bpf_map_lookup_elem(&tr_xdp_backend, &id);

	return be && be->family ? be : NULL;
}

/* Whether some external key has this destination port (tr_xdp_ports). */
static __always_inline bool xlb_port_used(__be16 dport)
{
	__u32 port = bpf_ntohs(dport), word = port >> 6;
	const __u64 *w = bpf_map_lookup_elem(&tr_xdp_ports, &word);

	return w && ((*w >> (port & 63)) & 1);
}

static __always_inline void xflow_from(struct xflow *f, const struct xpkt *p)
{
	__builtin_memcpy(f->saddr, p->saddr, 16);
	__builtin_memcpy(f->daddr, p->daddr, 16);
	f->sport = p->sport;
	f->dport = p->dport;
	f->family = p->family;
	f->proto = p->proto;
}

static __always_inline const struct tr_xdp_svc *xlb_svc(const struct xflow *f)
{
	if (f->family == TR_AF_INET) {
		struct tr_lb4_key k = {};

		k.addr = f->daddr[0];
		k.port = f->dport;
		k.proto = f->proto;
		return bpf_map_lookup_elem(&tr_xdp4_vip, &k);
	} else {
		struct tr_lb6_key k = {};

		__builtin_memcpy(k.addr, f->daddr, 16);
		k.port = f->dport;
		k.proto = f->proto;
		return bpf_map_lookup_elem(&tr_xdp6_vip, &k);
	}
}

/* Early deny by source (include/trestle/xdp.h). Returns 0 or a reason. */
static __always_inline int xlb_deny(const struct xpkt *p)
{
	const struct tr_xdp_deny *v;
	struct pol_ctx pc;

	/* most meshes have none: no trie walk per packet then */
	if (!pol_begin(&pc) || !(pc.flags & TR_POL_F_XDP_DENY))
		return 0;
	if (p->family == TR_AF_INET) {
		struct tr_ip4_lpm_key k = {};

		k.prefixlen = 64;
		k.epoch = pc.epoch;
		k.addr = p->saddr[0];
		v = bpf_map_lookup_elem(&tr_xdp4_deny, &k);
	} else {
		struct tr_ip6_lpm_key k = {};

		k.prefixlen = 160;
		k.epoch = pc.epoch;
		__builtin_memcpy(k.addr, p->saddr, 16);
		v = bpf_map_lookup_elem(&tr_xdp6_deny, &k);
	}
	if (!v)
		return 0;
	pol_count(v->policy, TR_POL_STAT_DENY);
	return stat_reason(TR_REASON_XDP_DENY);
}

/*
 * A connection key from x, a struct xflow or a struct xpkt (the same field
 * names): the established path keys straight from the packet, with no
 * struct xflow built.
 */
#define XLB_CT_KEY4(k, x)                  \
	do {                               \
		(k).saddr = (x)->saddr[0]; \
		(k).daddr = (x)->daddr[0]; \
		(k).sport = (x)->sport;    \
		(k).dport = (x)->dport;    \
		(k).proto = (x)->proto;    \
	} while (0)
#define XLB_CT_KEY6(k, x)                                    \
	do {                                                 \
		__builtin_memcpy((k).saddr, (x)->saddr, 16); \
		__builtin_memcpy((k).daddr, (x)->daddr, 16); \
		(k).sport = (x)->sport;                      \
		(k).dport = (x)->dport;                      \
		(k).proto = (x)->proto;                      \
	} while (0)

/* Connection table: lookup, or insert (BPF_ANY) when val is given. */
static __always_inline struct tr_xdp_ct *xlb_ct(const struct xflow *f,
						const struct tr_xdp_ct *val)
{
	if (f->family == TR_AF_INET) {
		struct tr_xdp4_flow k = {};

		XLB_CT_KEY4(k, f);
		if (val) {
			bpf_map_update_elem(&tr_xdp4_conn, &k, val, BPF_ANY);
			return NULL;
		}
		return bpf_map_lookup_elem(&tr_xdp4_conn, &k);
	} else {
		struct tr_xdp6_flow k = {};

		XLB_CT_KEY6(k, f);
		if (val) {
			bpf_map_update_elem(&tr_xdp6_conn, &k, val, BPF_ANY);
			return NULL;
		}
		return bpf_map_lookup_elem(&tr_xdp6_conn, &k);
	}
}

/* The connection entry of a packet's flow. */
static __always_inline struct tr_xdp_ct *xlb_ct_of(const struct xpkt *p)
{
	if (p->family == TR_AF_INET) {
		struct tr_xdp4_flow k = {};

		XLB_CT_KEY4(k, p);
		return bpf_map_lookup_elem(&tr_xdp4_conn, &k);
	} else {
		struct tr_xdp6_flow k = {};

		XLB_CT_KEY6(k, p);
		return bpf_map_lookup_elem(&tr_xdp6_conn, &k);
	}
}

/* Reverse entry for a flow to a local backend: keyed as its replies come. */
static __always_inline void xlb_rnat_save(const struct xflow *f, const struct tr_xdp_be *be,
					  __u32 backend_id)
{
	struct tr_xdp_rnat v = {};

	__builtin_memcpy(v.addr, f->daddr, 16);
	v.port = f->dport;
	v.family = f->family;
	v.ifindex = be->ifindex;
	v.backend_id = backend_id;
	if (f->family == TR_AF_INET) {
		struct tr_xdp4_flow k = {};

		k.saddr = be->addr[0];
		k.daddr = f->saddr[0];
		k.sport = be->port;
		k.dport = f->sport;
		k.proto = f->proto;
		bpf_map_update_elem(&tr_xdp4_rnat, &k, &v, BPF_ANY);
	} else {
		struct tr_xdp6_flow k = {};

		__builtin_memcpy(k.saddr, be->addr, 16);
		__builtin_memcpy(k.daddr, f->saddr, 16);
		k.sport = be->port;
		k.dport = f->sport;
		k.proto = f->proto;
		bpf_map_update_elem(&tr_xdp6_rnat, &k, &v, BPF_ANY);
	}
}

/* Fragment records: lookup, or insert when val is given. */
static __always_inline struct tr_xdp_frag *xlb_frag(const struct xpkt *p,
						    const struct tr_xdp_frag *val)
{
	if (p->family == TR_AF_INET) {
		struct tr_xdp4_frag_key k = {};

		k.saddr = p->saddr[0];
		k.daddr = p->daddr[0];
		__builtin_memcpy(&k.id, &p->frag_id, 2);
		k.proto = p->proto;
		if (val) {
			bpf_map_update_elem(&tr_xdp4_frag, &k, val, BPF_ANY);
			return NULL;
		}
		return bpf_map_lookup_elem(&tr_xdp4_frag, &k);
	} else {
		struct tr_xdp6_frag_key k = {};

		__builtin_memcpy(k.saddr, p->saddr, 16);
		__builtin_memcpy(k.daddr, p->daddr, 16);
		k.id = p->frag_id;
		k.proto = p->proto;
		if (val) {
			bpf_map_update_elem(&tr_xdp6_frag, &k, val, BPF_ANY);
			return NULL;
		}
		return bpf_map_lookup_elem(&tr_xdp6_frag, &k);
	}
}

static __always_inline __u32 xlb_hash(const struct xflow *f, const struct tr_xdp_svc *svc,
				      __u32 seed)
{
	__u32 ports = 0, s[4], d[4];

	if (!(svc->flags & TR_XDP_SVC_F_CLIENT_IP))
		ports = ((__u32)bpf_ntohs(f->sport) << 16) | bpf_ntohs(f->dport);
	if (f->family == TR_AF_INET)
		return tr_xdp_hash4(bpf_ntohl(f->saddr[0]), bpf_ntohl(f->daddr[0]), ports,
				    f->proto, seed);
	s[0] = bpf_ntohl(f->saddr[0]);
	s[1] = bpf_ntohl(f->saddr[1]);
	s[2] = bpf_ntohl(f->saddr[2]);
	s[3] = bpf_ntohl(f->saddr[3]);
	d[0] = bpf_ntohl(f->daddr[0]);
	d[1] = bpf_ntohl(f->daddr[1]);
	d[2] = bpf_ntohl(f->daddr[2]);
	d[3] = bpf_ntohl(f->daddr[3]);
	return tr_xdp_hash6(s, d, ports, f->proto, seed);
}

/* The Maglev choice for a flow. NULL (counted) when the ring or the
 * backend table is inconsistent. */
static __always_inline const struct tr_xdp_be *
xlb_maglev(const struct xflow *f, const struct tr_xdp_svc *svc, __u32 seed, __u32 *id)
{
	__u32 slot = xlb_hash(f, svc, seed) % svc->ring_size;
	const __u32 *bid;
	void *ring;

	ring = bpf_map_lookup_elem(&tr_xdp_ring, &svc->ring);
	if (!ring)
		return NULL;
	bid = bpf_map_lookup_elem(ring, &slot);
	if (!bid)
		return NULL; /* ring shorter than ring_size */
	*id = *bid;
	return xlb_be(*id);
}

static __always_inline void xlb_event(const struct pol_ctx *pc, const struct pol_decision *d,
				      const struct xflow *f, const struct tr_xdp_be *be,
				      const struct tr_ipinfo *src, const struct tr_ipinfo *dst)
{
	pol_event_packet(pc, d, src, dst, TR_HOOK_XDP_TO_WORKLOAD, f->saddr, be->addr,
			 f->sport, be->port, f->family, f->proto, be->ifindex);
}

/*
 * Authorize a new flow to a local backend, as tr_tc_to_wl does for what
 * reaches a workload through the stack: the redirect skips that device's
 * tc egress. Returns 0 (allowed) or a reason.
 */
static __always_inline int xlb_authorize(const struct xflow *f, const struct tr_xdp_be *be)
{
	const struct tr_ipinfo *src, *dst;
	struct pol_decision d;
	struct pol_ctx pc;

	if (!pol_begin(&pc))
		return 0;
	if (f->family == TR_AF_INET) {
		dst = pol_ip4(&pc, be->addr[0]);
		src = dst ? pol_ip4(&pc, f->saddr[0]) : NULL;
	} else {
		dst = pol_ip6(&pc, be->addr);
		src = dst ? pol_ip6(&pc, f->saddr) : NULL;
	}
	if (!dst)
		return 0;
	/*
	 * A STRICT port takes mutual TLS only, and a client beyond the uplink
	 * speaks plaintext: refused, as tr_tc_to_wl refuses plaintext from
	 * outside the node (Istio's sidecar does the same to a NodePort).
	 * Expose such a workload through a gateway that is PERMISSIVE.
	 */
	if (tun_strict(dst->workload, bpf_ntohs(be->port))) {
		__builtin_memset(&d, 0, sizeof(d));
		d.action = TR_ACT_DENY;
		d.rule = TR_RULE_NONE;
		d.reason = stat_reason(TR_REASON_MTLS_REQUIRED);
		xlb_event(&pc, &d, f, be, src, dst);
		return d.reason;
	}
	if (!dst->dst_class)
		return 0;
	if (!src)
		pol_decide(NULL, &d); /* no whole-space entry: fail closed */
	else
		pol_decide(pol_verdict(dst->dst_class, src->src_class, bpf_ntohs(be->port)), &d);
	xlb_event(&pc, &d, f, be, src, dst);
	return d.action == TR_ACT_ALLOW ? 0 : d.reason;
}

static __always_inline void xdec_set(struct xdec *dec, const __be32 *vip, __be16 vport,
				     const struct tr_xdp_be *be, __u32 id)
{
	dec->backend_id = id;
	dec->be_flags = be->flags;
	__builtin_memcpy(dec->vip, vip, 16);
	dec->vport = vport;
}

/* A later fragment follows its first one. */
static __always_inline int xlb_decide_frag(const struct xpkt *p, struct xdec *dec)
{
	const struct tr_xdp_frag *fr = xlb_frag(p, NULL);
	const struct tr_xdp_be *be;
	__u32 id;

	if (!fr || (fr->flags & TR_XDP_FRAG_F_REPLY)) {
		stat_inc(TR_STAT_XDP_FRAG_UNKNOWN);
		return XD_PASS;
	}
	id = fr->backend_id; /* a key on the stack: 6.1 takes no other memory */
	be = xlb_be(id);
	if (!be)
		return stat_reason(TR_REASON_SLOT_MISSING);
	dec->backend_id = id;
	dec->be_flags = be->flags;
	return XD_FWD;
}

/*
 * An ICMP error addressed to a service address about a reply it sent: the
 * quoted packet is service -> client, so the flow is the quote reversed.
 * Follows the connection table, or Maglev on a miss (another node saw the
 * flow; the choice is the same); never creates state.
 */
static __always_inline int xlb_decide_icmp(void *data, void *data_end, const struct xpkt *p,
					   struct xdec *dec, __u32 seed)
{
	const struct tr_xdp_svc *svc;
	const struct tr_xdp_be *be;
	const struct tr_xdp_ct *ct;
	struct xpkt q;
	struct xflow f;
	__u32 id = 0;
	int r;

	if (!xp_parse_quoted(data, data_end, p, &q))
		return XD_PASS;
	if (q.family != p->family || q.saddr[0] != p->daddr[0] ||
	    q.saddr[1] != p->daddr[1] || q.saddr[2] != p->daddr[2] ||
	    q.saddr[3] != p->daddr[3])
		return XD_PASS;
	__builtin_memcpy(f.saddr, q.daddr, 16);
	__builtin_memcpy(f.daddr, q.saddr, 16);
	f.sport = q.dport;
	f.dport = q.sport;
	f.family = q.family;
	f.proto = q.proto;
	svc = xlb_svc(&f);
	if (!svc || !svc->ring_size)
		return XD_PASS;
	r = xlb_deny(p);
	if (r)
		return r;
	ct = xlb_ct(&f, NULL);
	if (ct && ct->svc_id == svc->svc_id) {
		id = ct->backend_id;
		be = xlb_be(id);
	} else {
		be = xlb_maglev(&f, svc, seed, &id);
	}
	if (!be)
		return stat_reason(TR_REASON_SLOT_MISSING);
	if (be->family != f.family)
		return stat_reason(TR_REASON_BAD_FAMILY);
	xdec_set(dec, f.daddr, f.dport, be, id);
	dec->icmp = 1;
	return XD_FWD;
}

/*
 * Decide for a parsed packet. Returns XD_PASS, XD_FWD with dec filled, or
 * a negative reason (already counted) to drop it. decap: p came
 * encapsulated from another node, which chose a backend here; while the
 * nodes' rings disagree (an update reaches them moments apart) this
 * node's choice may be elsewhere: dropped, and no state recorded, so the
 * client's retransmission is decided afresh once they agree.
 *
 * An established flow costs one hash lookup: its connection entry, made
 * under the current generation, stands for the service lookup
 * (include/trestle/xdp.h); the backend is an array element.
 */
static __always_inline int xlb_decide(void *data, void *data_end, const struct xpkt *p,
				      struct xdec *dec, __u32 seed, __u32 gen, bool decap)
{
	const struct tr_xdp_svc *svc = NULL;
	const struct tr_xdp_be *be = NULL;
	struct tr_xdp_ct *ct;
	struct xflow f;
	bool fresh = false, syn;
	__u32 id = 0;
	int r;

	__builtin_memset(dec, 0, sizeof(*dec));
	if (p->frag == XF_LATER)
		return xlb_decide_frag(p, dec);
	if (xp_icmp_error(p))
		return xlb_decide_icmp(data, data_end, p, dec, seed);
	if (!p->l4 || !xlb_port_used(p->dport))
		return XD_PASS;
	syn = p->proto == IPPROTO_TCP &&
	      (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;

	ct = xlb_ct_of(p);
	if (ct && ct->gen == gen && !syn && p->frag == XF_NONE) {
		/* established: no service lookup, no struct xflow; anything
		 * unusual about the entry takes the full path below */
		be = xlb_be(ct->backend_id);
		if (be && be->family == p->family &&
		    (!decap || (be->flags & TR_XDP_BE_F_LOCAL))) {
			r = xlb_deny(p);
			if (r)
				return r;
			xdec_set(dec, p->daddr, p->dport, be, ct->backend_id);
			return XD_FWD;
		}
		be = NULL;
	}
	xflow_from(&f, p);
	if (!ct || ct->gen != gen) {
		svc = xlb_svc(&f);
		if (!svc)
			return XD_PASS;
		if (ct && ct->svc_id != svc->svc_id)
			ct = NULL; /* the address is another service's now */
	}
	r = xlb_deny(p);
	if (r)
		return r;
	if (svc && !svc->ring_size)
		return stat_reason(TR_REASON_NO_BACKEND);

	if (ct) {
		id = ct->backend_id;
		be = xlb_be(id);
		if (!be)
			stat_inc(TR_STAT_XDP_CT_STALE); /* backend gone: choose again */
		else if (decap && !(be->flags & TR_XDP_BE_F_LOCAL))
			be = NULL; /* made while the rings disagreed */
		else if (ct->gen != gen)
			ct->gen = gen; /* checked against the service table */
	}
	if (!be) {
		if (!svc) {
			svc = xlb_svc(&f);
			if (!svc)
				return XD_PASS;
			if (!svc->ring_size)
				return stat_reason(TR_REASON_NO_BACKEND);
		}
		be = xlb_maglev(&f, svc, seed, &id);
		if (!be)
			return stat_reason(TR_REASON_SLOT_MISSING);
		fresh = true;
	}
	if (decap && !(be->flags & TR_XDP_BE_F_LOCAL))
		return stat_reason(TR_REASON_DECAP_NOT_LOCAL);
	if (be->family != f.family)
		return stat_reason(TR_REASON_BAD_FAMILY);

	/* a new flow, or a new connection reusing a known tuple */
	if ((be->flags & TR_XDP_BE_F_LOCAL) && (fresh || syn)) {
		r = xlb_authorize(&f, be);
		if (r)
			return r;
		xlb_rnat_save(&f, be, id);
	}
	if (fresh && svc) { /* svc: always, when fresh; said for the verifier */
		struct tr_xdp_ct v = {};

		v.backend_id = id;
		v.svc_id = svc->svc_id;
		v.created_ns = bpf_ktime_get_ns();
		v.gen = gen;
		xlb_ct(&f, &v);
		stat_inc(TR_STAT_XDP_NEW);
	}
	if (p->frag == XF_FIRST) {
		struct tr_xdp_frag v = {};

		v.backend_id = id;
		xlb_frag(p, &v);
	}
	xdec_set(dec, f.daddr, f.dport, be, id);
	return XD_FWD;
}

#endif /* TR_BPF_XDP_LB_H */
