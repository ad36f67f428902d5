/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Packet parsing for tc programs: Ethernet, IPv4 (with options), IPv6 (with
 * up to four extension headers), TCP and UDP ports. Every access is checked
 * against data_end.
 */
#ifndef TR_BPF_PARSE_H
#define TR_BPF_PARSE_H

#include "common.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_DSTOPTS 60
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

struct pkt {
	__be32 saddr[4]; /* IPv4 in [0] */
	__be32 daddr[4];
	__be16 sport;    /* 0 when there is no L4 header (fragment, other proto) */
	__be16 dport;
	__u8 family;     /* TR_AF_* */
	__u8 proto;      /* IPPROTO_* of the L4 header (after extension headers) */
	__u8 tcp_flags;
	bool l4;         /* ports are valid */
};

/*
 * Parse skb into p. Returns 1 for an IP packet, 0 for a non-IP frame (ARP,
 * ...), and -1 for a truncated or malformed IP packet.
 */
static __always_inline int parse_pkt(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	void *l4;
	bool first_frag = true;

	__builtin_memset(p, 0, sizeof(*p));
	if ((void *)(eth + 1) > data_end)
		return -1;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return -1;
		p->family = TR_AF_INET;
		p->proto = ip->protocol;
		p->saddr[0] = ip->saddr;
		p->daddr[0] = ip->daddr;
		/* a non-first fragment carries no L4 header */
		first_frag = !(ip->frag_off & bpf_htons(0x1fff));
		l4 = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		__u8 nexthdr;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		p->family = TR_AF_INET6;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		nexthdr = ip6->nexthdr;
		l4 = ip6 + 1;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			struct ipv6_opt_hdr *opt = l4;

			if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
			    nexthdr != IPPROTO_DSTOPTS && nexthdr != IPPROTO_FRAGMENT)
				break;
			if ((void *)(opt + 1) > data_end)
				return -1;
			if (nexthdr == IPPROTO_FRAGMENT) {
				struct frag_hdr *fh = l4;

				if ((void *)(fh + 1) > data_end)
					return -1;
				first_frag = !(fh->frag_off & bpf_htons(0xfff8));
				nexthdr = fh->nexthdr;
				l4 = fh + 1;
			} else {
				nexthdr = opt->nexthdr;
				l4 = (void *)opt + (opt->hdrlen + 1) * 8;
			}
		}
		p->proto = nexthdr;
	} else {
		return 0;
	}

	if (!first_frag)
		return 1;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return -1;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		p->l4 = true;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return -1;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->l4 = true;
	}
	return 1;
}

#endif /* TR_BPF_PARSE_H */
