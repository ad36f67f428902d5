// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Packet-level policy on a local workload's host-side device (tcx).
 *
 * tr_tc_to_wl (egress of the host-side device: into the workload) checks
 * what the socket hooks could not: connections from other nodes and from
 * processes outside the mesh. Each new TCP connection (SYN without ACK)
 * and each UDP datagram that is not a reply is authorized with the source
 * known by its address (longest prefix match); a denied one is dropped.
 *
 * Connections the agent delivers from an mTLS tunnel carry TR_MARK_AGENT
 * and pass: the agent authorized them with the peer's certificate. A new
 * connection to a port whose PeerAuthentication is STRICT is dropped unless
 * it comes from the agent or from a workload of this node (same-node
 * traffic is not encrypted; the socket hooks checked it).
 *
 * tr_tc_from_wl (ingress of the host-side device: out of the workload)
 * enforces that a workload sends only from its own addresses, and records
 * its UDP flows so that replies to them are not mistaken for new flows.
 */
#include "lib/common.h"
#include "lib/stats.h"
#include "lib/policy.h"
#include "lib/parse.h"
#include "lib/tunnel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

/* UDP flows a workload sent, as it sent them. */
struct ct_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 family;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_MAX_UDP_CT);
	__type(key, struct ct_key);
	__type(value, __u64); /* last seen, boot ns */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_ct_udp SEC(".maps");

static __always_inline const struct tr_ipinfo *
pkt_lookup(const struct pol_ctx *pc, const struct pkt *p, const __be32 *addr)
{
	return p->family == TR_AF_INET ? pol_ip4(pc, addr[0]) : pol_ip6(pc, addr);
}

static __always_inline void pkt_event(struct __sk_buff *skb, const struct pol_ctx *pc,
				      const struct pkt *p, const struct pol_decision *d,
				      const struct tr_ipinfo *src,
				      const struct tr_ipinfo *dst, __u8 hook)
{
	pol_event_packet(pc, d, src, dst, hook, p->saddr, p->daddr, p->sport, p->dport,
			 p->family, p->proto, skb->ifindex);
}

static __always_inline bool udp_is_reply(const struct pkt *p)
{
	struct ct_key k = {};

	__builtin_memcpy(k.saddr, p->daddr, 16);
	__builtin_memcpy(k.daddr, p->saddr, 16);
	k.sport = p->dport;
	k.dport = p->sport;
	k.family = p->family;
	return bpf_map_lookup_elem(&tr_ct_udp, &k) != NULL;
}

SEC("tc")
int tr_tc_to_wl(struct __sk_buff *skb)
{
	const struct tr_ipinfo *src, *dst;
	struct pol_decision d;
	struct pol_ctx pc;
	struct pkt p;

	if (parse_pkt(skb, &p) <= 0 || !p.l4)
		return TC_ACT_OK; /* not IP, malformed (the stack drops it), no ports */
	if (p.proto == IPPROTO_TCP) {
		if ((p.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
			return TC_ACT_OK; /* only new connections are decided */
	} else if (p.proto != IPPROTO_UDP || udp_is_reply(&p)) {
		return TC_ACT_OK;
	}
	if (skb->mark == TR_MARK_AGENT)
		return TC_ACT_OK; /* out of an mTLS tunnel, authorized by the agent */
	if (!pol_begin(&pc))
		return TC_ACT_OK;
	dst = pkt_lookup(&pc, &p, p.daddr);
	if (!dst)
		return TC_ACT_OK;
	src = pkt_lookup(&pc, &p, p.saddr);
	if ((!src || !(src->flags & TR_IP_F_LOCAL)) &&
	    tun_strict(dst->workload, bpf_ntohs(p.dport))) {
		__builtin_memset(&d, 0, sizeof(d));
		d.action = TR_ACT_DENY;
		d.rule = TR_RULE_NONE;
		d.reason = stat_reason(TR_REASON_MTLS_REQUIRED);
		pkt_event(skb, &pc, &p, &d, src, dst, TR_HOOK_TC_TO_WORKLOAD);
		return TC_ACT_SHOT;
	}
	if (!dst->dst_class)
		return TC_ACT_OK;
	if (!src) {
		/* the agent always installs a whole-space entry: fail closed */
		pol_decide(NULL, &d);
	} else {
		pol_decide(pol_verdict(dst->dst_class, src->src_class, bpf_ntohs(p.dport)),
			   &d);
	}
	pkt_event(skb, &pc, &p, &d, src, dst, TR_HOOK_TC_TO_WORKLOAD);
	return d.action == TR_ACT_ALLOW ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int tr_tc_from_wl(struct __sk_buff *skb)
{
	const struct tr_ipinfo *src;
	struct pol_decision d = {};
	struct pol_ctx pc;
	struct pkt p;
	int r = parse_pkt(skb, &p);

	if (r <= 0 || !pol_begin(&pc))
		return TC_ACT_OK;
	/* neighbour discovery and duplicate address detection */
	if (p.family == TR_AF_INET6 &&
	    ((p.saddr[0] & bpf_htonl(0xffc00000)) == bpf_htonl(0xfe800000) ||
	     !(p.saddr[0] | p.saddr[1] | p.saddr[2] | p.saddr[3])))
		return TC_ACT_OK;

	src = pkt_lookup(&pc, &p, p.saddr);
	if (!src || !(src->flags & TR_IP_F_WORKLOAD) || src->ifindex != skb->ifindex) {
		d.action = TR_ACT_DENY;
		d.rule = TR_RULE_NONE;
		d.reason = stat_reason(TR_REASON_SPOOFED);
		/* always logged; the agent names the device's workload as the
		 * sender (ifindex), the destination is whoever has that address */
		pkt_event(skb, &pc, &p, &d, NULL, pkt_lookup(&pc, &p, p.daddr),
			  TR_HOOK_TC_FROM_WORKLOAD);
		return TC_ACT_SHOT;
	}
	if (p.proto == IPPROTO_UDP && p.l4) {
		struct ct_key k = {};
		__u64 now = bpf_ktime_get_boot_ns();

		__builtin_memcpy(k.saddr, p.saddr, 16);
		__builtin_memcpy(k.daddr, p.daddr, 16);
		k.sport = p.sport;
		k.dport = p.dport;
		k.family = p.family;
		bpf_map_update_elem(&tr_ct_udp, &k, &now, BPF_ANY);
	}
	return TC_ACT_OK;
}
