// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * North-south load balancing on the node's uplink (include/trestle/xdp.h).
 *
 * tr_xdp_lb (XDP, the uplink): parse; decapsulate IPIP / IP6IP6 addressed
 * to this node when the inner packet is service traffic; for service
 * traffic, drop denied sources, find the backend (connection table, else
 * Maglev), then either translate and redirect to a local backend's device
 * or encapsulate toward the backend's node. Everything else passes
 * untouched; malformed IP packets are dropped and counted.
 *
 * tr_xdp_rnat (tc, ingress of a local backend's host-side device): a reply
 * of a balanced flow gets the service address and port back as its source.
 * It returns TC_ACT_OK for what it translated and TC_ACT_UNSPEC (next
 * program) for everything else, so it goes before the anti-spoofing check:
 * first in the tcx chain, or (kernels without tcx) a cls_bpf filter in
 * direct-action mode at a lower priority than the policy filter. Both treat
 * the two values alike: TC_ACT_OK ends classification (the translated
 * reply, whose source is now the service's, skips the policy program),
 * TC_ACT_UNSPEC goes on to the next program or filter.
 *
 * tr_xdp_pass (XDP): XDP_PASS, for the workload side of a veth when GRO
 * cannot be turned on there (frames redirected into a veth are lost unless
 * its peer has an XDP program or GRO).
 */
#include "lib/common.h"
#include "lib/stats.h"
#include "lib/xdp_parse.h"
#include "lib/xdp_lb.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_UNSPEC -1
#define TC_ACT_OK 0

#define IP_DF 0x4000
#define ENCAP_TTL 64
#define ICMP_QUOTE 128 /* bytes of the offending packet quoted in a too-big */

/*
 * Out of the device the frame came in on. Not XDP_TX: a veth sends XDP_TX
 * frames to its peer's queue but wakes the peer only when it runs an XDP
 * program, so behind a veth whose peer has just GRO (kernel-facts) they
 * wait, or are lost; a redirect to the same device flushes. On a NIC the
 * two cost about the same.
 */
static __always_inline int xdp_back(struct xdp_md *ctx)
{
	return bpf_redirect(ctx->ingress_ifindex, 0);
}

/* The one exit for drops the XDP program decides here (xlb_decide()
 * counts its own): counted by reason. */
static __always_inline int xdp_drop(enum tr_reason reason)
{
	stat_reason(reason);
	return XDP_DROP;
}

/* ---- translation of ICMP errors (XDP and tc) ------------------------- */

/*
 * Translate an ICMP error and the packet it quotes, from -> to (address)
 * and pfrom -> pto (port). Toward a backend (!out): the outer destination,
 * the quoted source and source port. From a backend (out): the outer
 * source, the quoted destination and destination port. Every checksum
 * follows: outer IPv4 header, quoted IPv4 header, the quoted L4 checksum
 * when it is quoted, and the ICMP checksum (with ICMPv6's pseudo-header).
 * Direct writes: the caller knows there is no checksum offload state.
 * Returns 0, or -1 when a header is not there (nothing written).
 */
static __always_inline int xnat_icmp(void *data, void *data_end, const struct xpkt *p,
				     const struct xpkt *q, const __be32 *from, const __be32 *to,
				     __be16 pfrom, __be16 pto, bool out)
{
	__u32 l3 = xp_off(p->l3_off), l4 = xp_off(p->l4_off);
	__u32 ql3 = xp_off(q->l3_off), ql4 = xp_off(q->l4_off);
	__u32 d_addr = 0, d_icmp = 0, d_ql4;
	__u16 *icsum = xp_ptr(data, l4 + 2);
	__be16 *qport = xp_ptr(data, ql4 + (out ? 2 : 0));
	__u16 *qcsum = NULL;
	__u16 old;

	if ((void *)(icsum + 1) > data_end || (void *)(qport + 1) > data_end)
		return -1;
	if (q->proto == IPPROTO_TCP && ql4 + 18 <= p->ip_end)
		qcsum = xp_ptr(data, ql4 + 16);
	else if (q->proto == IPPROTO_UDP && ql4 + 8 <= p->ip_end)
		qcsum = xp_ptr(data, ql4 + 6);
	if (qcsum && (void *)(qcsum + 1) > data_end)
		qcsum = NULL;
	csum_acc_addr(&d_addr, from, to, p->family);

	if (p->family == TR_AF_INET) {
		struct iphdr *ip = xp_ptr(data, l3), *qip = xp_ptr(data, ql3);

		if ((void *)(ip + 1) > data_end || (void *)(qip + 1) > data_end)
			return -1;
		old = qip->check;
		if (out)
			qip->daddr = to[0];
		else
			qip->saddr = to[0];
		csum_apply(&qip->check, d_addr);
		csum_acc16(&d_icmp, old, qip->check);
		if (out)
			ip->saddr = to[0];
		else
			ip->daddr = to[0];
		csum_apply(&ip->check, d_addr);
	} else {
		struct ipv6hdr *ip6 = xp_ptr(data, l3), *qip6 = xp_ptr(data, ql3);

		if ((void *)(ip6 + 1) > data_end || (void *)(qip6 + 1) > data_end)
			return -1;
		if (out) {
			__builtin_memcpy(&qip6->daddr, to, 16);
			__builtin_memcpy(&ip6->saddr, to, 16);
		} else {
			__builtin_memcpy(&qip6->saddr, to, 16);
			__builtin_memcpy(&ip6->daddr, to, 16);
		}
		d_icmp += d_addr; /* ICMPv6 pseudo-header: the outer address */
	}
	d_icmp += d_addr; /* the quoted address */

	*qport = pto;
	csum_acc16(&d_icmp, pfrom, pto);
	if (qcsum) {
		d_ql4 = d_addr;
		csum_acc16(&d_ql4, pfrom, pto);
		old = *qcsum;
		if (q->proto == IPPROTO_UDP && q->family == TR_AF_INET)
			csum_apply_udp(qcsum, d_ql4);
		else
			csum_apply(qcsum, d_ql4);
		csum_acc16(&d_icmp, old, *qcsum);
	}
	csum_apply(icsum, d_icmp);
	return 0;
}

/* ---- XDP: local backend ------------------------------------------------ */

/*
 * The XDP program's stages (decide, local, encap) are global functions:
 * the verifier checks each once, on its own, instead of once per path that
 * reaches it (decapsulated traffic runs them too). Inlined, the program
 * cost 6.1's verifier 880k of the 1M instructions it allows; so, 63k.
 * For it their pointer arguments may be NULL, offsets read through them
 * are unknown (hence xp_off() / xp_ptr()), and 6.1 takes no map key from
 * them (keys are copied to the stack).
 */

/*
 * Destination NAT to a backend on this node, TTL decremented, MACs for its
 * device, redirect. The packet is p (parsed at offset 14).
 */
__noinline int xact_local(struct xdp_md *ctx, const struct xpkt *p, const struct xdec *dec)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct tr_xdp_be *be;
	struct ethhdr *eth = data;
	__u32 d_l3 = 0, d_l4 = 0;

	if (!p || !dec)
		return XDP_ABORTED;
	be = xlb_be(dec->backend_id);
	if (!be)
		return xdp_drop(TR_REASON_SLOT_MISSING); /* removed just now */
	if (p->ttl <= 1) {
		stat_inc(TR_STAT_XDP_TTL); /* the stack answers time exceeded */
		return XDP_PASS;
	}
	if ((void *)(eth + 1) > data_end)
		return xdp_drop(TR_REASON_MALFORMED);

	if (dec->icmp) {
		struct xpkt q;

		if (!xp_parse_quoted(data, data_end, p, &q) ||
		    xnat_icmp(data, data_end, p, &q, dec->vip, be->addr, dec->vport, be->port,
			      false))
			return XDP_PASS; /* cannot happen: decided on the same bytes */
		stat_inc(TR_STAT_XDP_ICMP);
	} else {
		csum_acc_addr(&d_l4, p->daddr, be->addr, p->family);
		if (p->l4)
			csum_acc16(&d_l4, p->dport, be->port);
	}

	if (p->family == TR_AF_INET) {
		struct iphdr *ip = data + sizeof(*eth);
		__u16 *ttl_proto = (void *)&ip->ttl, old, new;

		if ((void *)(ip + 1) > data_end)
			return xdp_drop(TR_REASON_MALFORMED);
		if (!dec->icmp) {
			csum_acc32(&d_l3, ip->daddr, be->addr[0]);
			ip->daddr = be->addr[0];
		}
		/* TTL and protocol share a checksummed word; one write of it */
		old = *ttl_proto;
		new = bpf_htons(bpf_ntohs(old) - 0x100);
		*ttl_proto = new;
		csum_acc16(&d_l3, old, new);
		csum_apply(&ip->check, d_l3);
	} else {
		struct ipv6hdr *ip6 = data + sizeof(*eth);

		if ((void *)(ip6 + 1) > data_end)
			return xdp_drop(TR_REASON_MALFORMED);
		if (!dec->icmp)
			__builtin_memcpy(&ip6->daddr, be->addr, 16);
		ip6->hop_limit--;
	}

	if (!dec->icmp && p->l4) {
		__u32 l4 = xp_off(p->l4_off);

		if (p->proto == IPPROTO_TCP) {
			struct tcphdr *th = xp_ptr(data, l4);

			if ((void *)(th + 1) > data_end)
				return xdp_drop(TR_REASON_MALFORMED);
			th->dest = be->port;
			csum_apply(&th->check, d_l4);
		} else {
			struct udphdr *uh = xp_ptr(data, l4);

			if ((void *)(uh + 1) > data_end)
				return xdp_drop(TR_REASON_MALFORMED);
			uh->dest = be->port;
			if (p->family == TR_AF_INET)
				csum_apply_udp(&uh->check, d_l4);
			else
				csum_apply(&uh->check, d_l4);
		}
	}
	/* a later fragment has no L4 header, and its first fragment's L4
	 * checksum (over the whole datagram) was updated for the new address
	 * already */

	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, be->dev_mac, ETH_ALEN);
	stat_inc(TR_STAT_XDP_LOCAL);
	return bpf_redirect(be->ifindex, 0);
}

/* ---- XDP: remote backend ------------------------------------------------ */

/* Checksum of a freshly written IPv4 header. Read through a copy: clang's
 * type-based alias analysis would let 16-bit loads pass the header's
 * field stores (it did, for the TTL byte, before xact_local() wrote it as
 * a 16-bit word). */
static __always_inline __u16 csum_iphdr(const struct iphdr *ip)
{
	__u16 w[10];
	__u32 s = 0;

	__builtin_memcpy(w, ip, sizeof(w));
	for (int i = 0; i < 10; i++)
		s += w[i];
	return (__u16)~csum_fold(s);
}

/*
 * The packet p does not fit the route to the backend's node once
 * encapsulated: answer the client with ICMP "fragmentation needed" (IPv4)
 * or "packet too big" (IPv6) from the service address, quoting the first
 * ICMP_QUOTE bytes, so that it lowers its path MTU by the encapsulation.
 * Packets without DF (IPv4) cannot be fragmented here: dropped.
 */
static __always_inline int xicmp_too_big(struct xdp_md *ctx, const struct xpkt *p, __u32 mtu)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 hlen = p->family == TR_AF_INET ? 28 : 48; /* IP + ICMP headers */
	__u32 len;
	__u64 sum;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return xdp_drop(TR_REASON_MALFORMED);
	if (p->family == TR_AF_INET) {
		struct iphdr *ip = data + sizeof(*eth);

		if ((void *)(ip + 1) > data_end || !(ip->frag_off & bpf_htons(IP_DF)))
			return xdp_drop(TR_REASON_ENCAP_FAILED);
	}
	if (p->ip_end - p->l3_off < ICMP_QUOTE || mtu < 576)
		return xdp_drop(TR_REASON_ENCAP_FAILED);
	__builtin_memcpy(smac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(dmac, eth->h_dest, ETH_ALEN);

	if (bpf_xdp_adjust_head(ctx, -(int)hlen))
		return xdp_drop(TR_REASON_ENCAP_FAILED);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	len = data_end - data;
	if (bpf_xdp_adjust_tail(ctx, (int)(sizeof(*eth) + hlen + ICMP_QUOTE) - (int)len))
		return xdp_drop(TR_REASON_ENCAP_FAILED);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return xdp_drop(TR_REASON_MALFORMED);
	__builtin_memcpy(eth->h_dest, smac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, dmac, ETH_ALEN);

	if (p->family == TR_AF_INET) {
		struct iphdr *ip = (void *)(eth + 1);
		__u8 *icmp = (void *)(ip + 1);

		if ((void *)icmp + 8 + ICMP_QUOTE > data_end)
			return xdp_drop(TR_REASON_MALFORMED);
		eth->h_proto = bpf_htons(ETH_P_IP);
		__builtin_memset(ip, 0, sizeof(*ip));
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = bpf_htons(hlen + ICMP_QUOTE);
		ip->ttl = ENCAP_TTL;
		ip->protocol = IPPROTO_ICMP;
		ip->saddr = p->daddr[0];
		ip->daddr = p->saddr[0];
		ip->check = csum_iphdr(ip);
		__builtin_memset(icmp, 0, 8);
		icmp[0] = 3; /* destination unreachable */
		icmp[1] = 4; /* fragmentation needed */
		*(__be16 *)(icmp + 6) = bpf_htons(mtu > 0xffff ? 0xffff : mtu);
		sum = (__u32)bpf_csum_diff(NULL, 0, (void *)icmp, 8 + ICMP_QUOTE, 0);
		*(__u16 *)(icmp + 2) = (__u16)~csum_fold64(sum);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		__u8 *icmp = (void *)(ip6 + 1);
		__u32 plen = 8 + ICMP_QUOTE;

		if ((void *)icmp + 8 + ICMP_QUOTE > data_end)
			return xdp_drop(TR_REASON_MALFORMED);
		eth->h_proto = bpf_htons(ETH_P_IPV6);
		__builtin_memset(ip6, 0, sizeof(*ip6));
		ip6->version = 6;
		ip6->payload_len = bpf_htons(plen);
		ip6->nexthdr = IPPROTO_ICMPV6;
		ip6->hop_limit = ENCAP_TTL;
		__builtin_memcpy(&ip6->saddr, p->daddr, 16);
		__builtin_memcpy(&ip6->daddr, p->saddr, 16);
		__builtin_memset(icmp, 0, 8);
		icmp[0] = 2; /* packet too big */
		if (mtu < 1280)
			mtu = 1280;
		*(__be32 *)(icmp + 4) = bpf_htonl(mtu);
		sum = (__u32)bpf_csum_diff(NULL, 0, (void *)icmp, plen, 0);
		sum += (__u32)bpf_csum_diff(NULL, 0, (void *)&ip6->saddr, 32, 0);
		sum += bpf_htons(plen); /* pseudo-header: length and next header */
		sum += bpf_htons(IPPROTO_ICMPV6);
		*(__u16 *)(icmp + 2) = (__u16)~csum_fold64(sum);
	}
	stat_inc(TR_STAT_XDP_TOO_BIG);
	return xdp_back(ctx);
}

/*
 * Encapsulate p, unchanged, toward the backend's node: IPIP or IP6IP6 (or
 * across families) with this node's address as the outer source; the next
 * hop and its MAC come from the kernel's FIB. Without a neighbour entry the
 * encapsulated packet goes to the stack, which resolves it.
 */
__noinline int xact_encap(struct xdp_md *ctx, const struct xpkt *p, const struct xdec *dec)
{
	const struct tr_xdp_cfg *cfg = xlb_cfg();
	struct bpf_fib_lookup fib = {};
	__u8 tos = 0, smac[ETH_ALEN], dmac[ETH_ALEN];
	const struct tr_xdp_be *be;
	__u32 inner_len, olen;
	__u8 inner_proto;
	bool df = true, neigh = true;
	struct ethhdr *eth;
	void *data, *data_end;
	int rc;

	if (!p || !dec)
		return XDP_ABORTED;
	be = xlb_be(dec->backend_id);
	if (!be)
		return xdp_drop(TR_REASON_SLOT_MISSING); /* removed just now */
	inner_len = p->ip_end - p->l3_off;
	inner_proto = p->family == TR_AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6;
	olen = be->node_family == TR_AF_INET ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	if (!cfg || (be->node_family == TR_AF_INET && !cfg->node4) ||
	    (be->node_family == TR_AF_INET6 &&
	     !(cfg->node6[0] | cfg->node6[1] | cfg->node6[2] | cfg->node6[3])) ||
	    (be->node_family != TR_AF_INET && be->node_family != TR_AF_INET6))
		return xdp_drop(TR_REASON_ENCAP_FAILED);

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return xdp_drop(TR_REASON_MALFORMED);
	if (p->family == TR_AF_INET) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return xdp_drop(TR_REASON_MALFORMED);
		tos = ip->tos;
		df = ip->frag_off & bpf_htons(IP_DF);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return xdp_drop(TR_REASON_MALFORMED);
		tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	}

	fib.family = be->node_family;
	fib.l4_protocol = inner_proto;
	fib.tot_len = inner_len + olen;
	fib.ifindex = ctx->ingress_ifindex;
	if (be->node_family == TR_AF_INET) {
		fib.ipv4_src = cfg->node4;
		fib.ipv4_dst = be->node[0];
	} else {
		__builtin_memcpy(fib.ipv6_src, cfg->node6, 16);
		__builtin_memcpy(fib.ipv6_dst, be->node, 16);
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return xicmp_too_big(ctx, p, fib.mtu_result - olen);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		neigh = false;
	else if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return xdp_drop(TR_REASON_ENCAP_FAILED);

	__builtin_memcpy(smac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(dmac, eth->h_dest, ETH_ALEN);
	if (bpf_xdp_adjust_head(ctx, -(int)olen))
		return xdp_drop(TR_REASON_ENCAP_FAILED);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return xdp_drop(TR_REASON_MALFORMED);
	if (neigh) {
		__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	} else {
		/* as received: the stack takes it as addressed to this host */
		__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	}

	if (be->node_family == TR_AF_INET) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return xdp_drop(TR_REASON_MALFORMED);
		eth->h_proto = bpf_htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = tos;
		ip->tot_len = bpf_htons(inner_len + olen);
		ip->id = 0;
		ip->frag_off = df ? bpf_htons(IP_DF) : 0;
		ip->ttl = ENCAP_TTL;
		ip->protocol = inner_proto;
		ip->check = 0;
		ip->saddr = cfg->node4;
		ip->daddr = be->node[0];
		ip->check = csum_iphdr(ip);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return xdp_drop(TR_REASON_MALFORMED);
		eth->h_proto = bpf_htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->priority = tos >> 4;
		ip6->flow_lbl[0] = (tos & 0xf) << 4;
		ip6->flow_lbl[1] = 0;
		ip6->flow_lbl[2] = 0;
		ip6->payload_len = bpf_htons(inner_len);
		ip6->nexthdr = inner_proto;
		ip6->hop_limit = ENCAP_TTL;
		__builtin_memcpy(&ip6->saddr, cfg->node6, 16);
		__builtin_memcpy(&ip6->daddr, be->node, 16);
	}
	stat_inc(TR_STAT_XDP_ENCAP);
	if (!neigh) {
		stat_inc(TR_STAT_XDP_NO_NEIGH);
		return XDP_PASS;
	}
	if (fib.ifindex == ctx->ingress_ifindex)
		return xdp_back(ctx);
	return bpf_redirect(fib.ifindex, 0);
}

/* ---- XDP: the decision and decapsulation ------------------------------ */

/* xlb_decide() on the packet p of ctx (decap: it came encapsulated). */
__noinline int xact_decide(struct xdp_md *ctx, const struct xpkt *p, struct xdec *dec,
			   __u32 decap)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct tr_xdp_cfg *cfg = xlb_cfg();

	if (!p || !dec)
		return XD_PASS;
	/* cfg->gen is read here, before any service lookup (xdp.h) */
	return xlb_decide(data, data_end, p, dec, cfg ? cfg->hash_seed : 0, cfg ? cfg->gen : 0,
			  decap != 0);
}

static __always_inline bool xdp_to_node(const struct xpkt *p, const struct tr_xdp_cfg *cfg)
{
	if (p->frag != XF_NONE || (p->proto != IPPROTO_IPIP && p->proto != IPPROTO_IPV6))
		return false;
	if (p->family == TR_AF_INET)
		return cfg->node4 && p->daddr[0] == cfg->node4;
	return (cfg->node6[0] | cfg->node6[1] | cfg->node6[2] | cfg->node6[3]) &&
	       p->daddr[0] == cfg->node6[0] && p->daddr[1] == cfg->node6[1] &&
	       p->daddr[2] == cfg->node6[2] && p->daddr[3] == cfg->node6[3];
}

/*
 * Strip the outer header of olen bytes from an IPIP / IP6IP6 packet whose
 * inner packet (of family fam) is service traffic for a local backend,
 * keeping the Ethernet addresses, and parse what is left into p.
 */
static __always_inline int xdp_decap(struct xdp_md *ctx, __u32 olen, __u8 fam, struct xpkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(smac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(dmac, eth->h_dest, ETH_ALEN);
	if (olen > 64 || bpf_xdp_adjust_head(ctx, (int)olen))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	eth->h_proto = bpf_htons(fam == TR_AF_INET ? ETH_P_IP : ETH_P_IPV6);
	stat_inc(TR_STAT_XDP_DECAP);
	return xp_parse(data, data_end, p) == XP_OK ? 0 : -1;
}

SEC("xdp")
int tr_xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct tr_xdp_cfg *cfg = xlb_cfg();
	__u32 olen = 0;
	struct xdec dec;
	struct xpkt p;
	__u8 fam = 0;
	int r;

	r = xp_parse(data, data_end, &p);
	if (r == XP_SKIP)
		return XDP_PASS;
	if (r == XP_BAD)
		return xdp_drop(TR_REASON_MALFORMED);
	if (cfg && xdp_to_node(&p, cfg)) {
		/*
		 * IPIP / IP6IP6 to this node: look at the inner packet. Service
		 * traffic whose backend is here is decapsulated and delivered
		 * as if it had come unencapsulated; other tunnel traffic
		 * (another user of IPIP on the node) passes untouched.
		 */
		olen = p.l4_off - p.l3_off;
		fam = p.proto == IPPROTO_IPIP ? TR_AF_INET : TR_AF_INET6;
		r = xp_parse_ip(data, data_end, data_end - data, p.l4_off, fam,
				__builtin_memset(&p, 0, sizeof(p)), false);
		if (r != XP_OK)
			return XDP_PASS;
	}

	r = xact_decide(ctx, &p, &dec, olen != 0);
	if (r == XD_PASS)
		return XDP_PASS;
	if (r < 0)
		return XDP_DROP; /* counted by its reason */
	if (olen) {
		/* never encapsulated again: the rings of two nodes disagree */
		if (!(dec.be_flags & TR_XDP_BE_F_LOCAL))
			return xdp_drop(TR_REASON_DECAP_NOT_LOCAL);
		if (xdp_decap(ctx, olen, fam, &p))
			return xdp_drop(TR_REASON_MALFORMED);
		return xact_local(ctx, &p, &dec);
	}
	if (dec.be_flags & TR_XDP_BE_F_LOCAL)
		return xact_local(ctx, &p, &dec);
	return xact_encap(ctx, &p, &dec);
}

SEC("xdp")
int tr_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* ---- tc: replies from a local backend --------------------------------- */

static __always_inline const struct tr_xdp_rnat *rnat_find(const __be32 *saddr,
							   const __be32 *daddr, __be16 sport,
							   __be16 dport, __u8 proto, __u8 family)
{
	if (family == TR_AF_INET) {
		struct tr_xdp4_flow k = {};

		k.saddr = saddr[0];
		k.daddr = daddr[0];
		k.sport = sport;
		k.dport = dport;
		k.proto = proto;
		return bpf_map_lookup_elem(&tr_xdp4_rnat, &k);
	} else {
		struct tr_xdp6_flow k = {};

		__builtin_memcpy(k.saddr, saddr, 16);
		__builtin_memcpy(k.daddr, daddr, 16);
		k.sport = sport;
		k.dport = dport;
		k.proto = proto;
		return bpf_map_lookup_elem(&tr_xdp6_rnat, &k);
	}
}

/* Rewrite the IP source to addr, with the IPv4 header checksum and, when
 * l4_csum is an offset (not 0), the L4 checksum's pseudo-header. Through
 * the helpers: the skb may carry checksum offload state. */
static __always_inline int rnat_saddr(struct __sk_buff *skb, const struct xpkt *p,
				      const __be32 *addr, __u32 l4_csum, __u64 l4_flags)
{
	if (p->family == TR_AF_INET) {
		__u32 off = p->l3_off + offsetof(struct iphdr, saddr);

		if (l4_csum && bpf_l4_csum_replace(skb, l4_csum, p->saddr[0], addr[0],
						   l4_flags | BPF_F_PSEUDO_HDR | 4))
			return -1;
		if (bpf_l3_csum_replace(skb, p->l3_off + offsetof(struct iphdr, check),
					p->saddr[0], addr[0], 4))
			return -1;
		return bpf_skb_store_bytes(skb, off, addr, 4, 0);
	}
	if (l4_csum) {
#pragma unroll
		for (int i = 0; i < 4; i++)
			if (bpf_l4_csum_replace(skb, l4_csum, p->saddr[i], addr[i],
						l4_flags | BPF_F_PSEUDO_HDR | 4))
				return -1;
	}
	return bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct ipv6hdr, saddr), addr, 16, 0);
}

static __always_inline int rnat_frag(struct __sk_buff *skb, const struct xpkt *p)
{
	const struct tr_xdp_frag *fr = xlb_frag(p, NULL);
	const struct tr_xdp_be *be;

	if (!fr || !(fr->flags & TR_XDP_FRAG_F_REPLY))
		return TC_ACT_UNSPEC;
	be = xlb_be(fr->backend_id);
	if (!be || be->ifindex != skb->ifindex)
		return TC_ACT_UNSPEC; /* not from that backend's device */
	if (rnat_saddr(skb, p, fr->addr, 0, 0))
		return TC_ACT_UNSPEC;
	stat_inc(TR_STAT_XDP_REVNAT);
	return TC_ACT_OK;
}

/* An ICMP error a backend sends about a request it got (client -> backend). */
static __always_inline int rnat_icmp(struct __sk_buff *skb, struct xpkt *p)
{
	const struct tr_xdp_rnat *v;
	void *data, *data_end;
	struct xpkt q;

	if (bpf_skb_pull_data(skb, skb->len))
		return TC_ACT_UNSPEC;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (!xp_parse_quoted(data, data_end, p, &q) || q.daddr[0] != p->saddr[0] ||
	    q.daddr[1] != p->saddr[1] || q.daddr[2] != p->saddr[2] ||
	    q.daddr[3] != p->saddr[3])
		return TC_ACT_UNSPEC;
	v = rnat_find(q.daddr, q.saddr, q.dport, q.sport, q.proto, q.family);
	if (!v || v->ifindex != skb->ifindex)
		return TC_ACT_UNSPEC;
	if (xnat_icmp(data, data_end, p, &q, p->saddr, v->addr, q.dport, v->port, true))
		return TC_ACT_UNSPEC;
	stat_inc(TR_STAT_XDP_ICMP);
	stat_inc(TR_STAT_XDP_REVNAT);
	return TC_ACT_OK;
}

SEC("tc")
int tr_xdp_rnat(struct __sk_buff *skb)
{
	const struct tr_xdp_rnat *v;
	__u32 len = skb->len, want = len < XP_MAX_OFF ? len : XP_MAX_OFF;
	void *data, *data_end;
	__u64 l4_flags = 0;
	__u32 l4_csum;
	struct xpkt p;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + want > data_end) {
		/* headers must be in the linear part */
		if (bpf_skb_pull_data(skb, want))
			return TC_ACT_UNSPEC;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	if (xp_parse_len(data, data_end, len, &p) != XP_OK)
		return TC_ACT_UNSPEC; /* not ours; the stack judges the rest */
	if (p.frag == XF_LATER)
		return rnat_frag(skb, &p);
	if (xp_icmp_error(&p))
		return rnat_icmp(skb, &p);
	if (!p.l4)
		return TC_ACT_UNSPEC;
	v = rnat_find(p.saddr, p.daddr, p.sport, p.dport, p.proto, p.family);
	if (!v)
		return TC_ACT_UNSPEC;
	if (v->ifindex != skb->ifindex)
		return TC_ACT_UNSPEC; /* another device's backend address: spoofed */

	if (p.proto == IPPROTO_TCP) {
		l4_csum = p.l4_off + offsetof(struct tcphdr, check);
	} else {
		l4_csum = p.l4_off + offsetof(struct udphdr, check);
		l4_flags = BPF_F_MARK_MANGLED_0;
	}
	if (bpf_l4_csum_replace(skb, l4_csum, p.sport, v->port, l4_flags | 2) ||
	    bpf_skb_store_bytes(skb, p.l4_off, &v->port, 2, 0) ||
	    rnat_saddr(skb, &p, v->addr, l4_csum, l4_flags))
		return TC_ACT_UNSPEC;
	if (p.frag == XF_FIRST) {
		struct tr_xdp_frag f = {};

		__builtin_memcpy(f.addr, v->addr, 16);
		f.backend_id = v->backend_id;
		f.flags = TR_XDP_FRAG_F_REPLY;
		xlb_frag(&p, &f);
	}
	stat_inc(TR_STAT_XDP_REVNAT);
	return TC_ACT_OK;
}
