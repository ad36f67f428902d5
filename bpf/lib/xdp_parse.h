/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Packet parsing and incremental checksums for the uplink load balancer.
 *
 * The parser works on (data, data_end) so that XDP and tc share it. It
 * records offsets, not pointers: the programs change the packet's head
 * (encapsulation) and re-derive pointers from offsets, each access checked
 * against data_end again. Offsets stay below XP_MAX_OFF so the verifier
 * can bound every pointer it is added to.
 */
#ifndef TR_BPF_XDP_PARSE_H
#define TR_BPF_XDP_PARSE_H

#include "common.h"

#ifndef ETH_P_IP
#define ETH_P_IP 0x0800
#endif
#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#ifndef IPPROTO_HOPOPTS
#define IPPROTO_HOPOPTS 0
#endif
#ifndef IPPROTO_ROUTING
#define IPPROTO_ROUTING 43
#endif
#ifndef IPPROTO_FRAGMENT
#define IPPROTO_FRAGMENT 44
#endif
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#ifndef IPPROTO_DSTOPTS
#define IPPROTO_DSTOPTS 60
#endif
#ifndef ETH_ALEN
#define ETH_ALEN 6
#endif
#ifndef TCP_FLAG_SYN
#define TCP_FLAG_SYN 0x02
#endif
#ifndef TCP_FLAG_ACK
#define TCP_FLAG_ACK 0x10
#endif

#define XP_IP_MF 0x2000     /* IPv4 more fragments */
#define XP_IP_OFFMASK 0x1fff
#define XP_MAX_OFF 1024     /* headers end before this offset, or we pass */
#define XP_MAX_EXT 4        /* IPv6 extension headers walked */

/* parse results */
#define XP_BAD -1  /* truncated or malformed: the stack would drop it too */
#define XP_SKIP 0  /* not IP, or not something we look into: untouched */
#define XP_OK 1

/* xpkt.frag */
#define XF_NONE 0
#define XF_FIRST 1 /* offset 0, more fragments follow: has the L4 header */
#define XF_LATER 2 /* offset > 0: no L4 header */

struct xpkt {
	__be32 saddr[4];  /* IPv4 in [0] */
	__be32 daddr[4];
	__be32 frag_id;   /* IPv4: the 16-bit id in the low-address half */
	__be16 sport;     /* TCP/UDP ports; ICMP echo: the identifier */
	__be16 dport;
	__u16 l3_off;     /* IP header */
	__u16 l4_off;     /* L4 header, after IPv6 extension headers */
	__u16 ip_end;     /* end of the IP packet (frames may be padded) */
	__u8 family;      /* TR_AF_* */
	__u8 proto;       /* L4 protocol */
	__u8 tcp_flags;
	__u8 frag;        /* XF_* */
	__u8 ttl;         /* TTL / hop limit */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 l4;          /* 1: sport/dport valid (TCP/UDP, not a later fragment) */
};

/*
 * Parse an IP header of `family` at `off`, then its L4 header. pkt_len is
 * the whole packet's length (an skb's may exceed its linear part: headers
 * must be linear, lengths are checked against pkt_len). With `embedded`
 * (the packet quoted in an ICMP error) the IP packet may be cut short:
 * its length is not checked, and only the first 8 bytes of L4 (ports) are
 * needed. Returns XP_OK, XP_SKIP or XP_BAD.
 */
static __always_inline int xp_parse_ip(void *data, void *data_end, __u32 pkt_len,
				       __u32 off, __u8 family, struct xpkt *p, bool embedded)
{
	__u32 l4_off, ip_end;
	__u8 nexthdr;

	if (off > XP_MAX_OFF)
		return XP_SKIP;
	p->l3_off = off;
	p->family = family;
	if (family == TR_AF_INET) {
		struct iphdr *ip = data + off;
		__u16 tot, fo;

		if ((void *)(ip + 1) > data_end)
			return XP_BAD;
		if (ip->version != 4 || ip->ihl < 5)
			return XP_BAD;
		tot = bpf_ntohs(ip->tot_len);
		l4_off = off + ip->ihl * 4;
		if (tot < ip->ihl * 4)
			return XP_BAD;
		ip_end = off + tot;
		if (!embedded && ip_end > pkt_len)
			return XP_BAD;
		p->saddr[0] = ip->saddr;
		p->daddr[0] = ip->daddr;
		p->proto = ip->protocol;
		p->ttl = ip->ttl;
		fo = bpf_ntohs(ip->frag_off);
		if (fo & XP_IP_OFFMASK)
			p->frag = XF_LATER;
		else if (fo & XP_IP_MF)
			p->frag = XF_FIRST;
		__builtin_memcpy(&p->frag_id, &ip->id, 2);
	} else {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) > data_end)
			return XP_BAD;
		if (ip6->version != 6)
			return XP_BAD;
		ip_end = off + sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		if (!embedded && ip_end > pkt_len)
			return XP_BAD;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		p->ttl = ip6->hop_limit;
		nexthdr = ip6->nexthdr;
		l4_off = off + sizeof(*ip6);
#pragma unroll
		for (int i = 0; i < XP_MAX_EXT; i++) {
			struct ipv6_opt_hdr *opt;

			if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
			    nexthdr != IPPROTO_DSTOPTS && nexthdr != IPPROTO_FRAGMENT)
				break;
			if (l4_off > XP_MAX_OFF)
				return XP_SKIP;
			opt = data + l4_off;
			if ((void *)(opt + 1) > data_end)
				return XP_BAD;
			if (nexthdr == IPPROTO_FRAGMENT) {
				struct frag_hdr *fh = data + l4_off;
				__u16 fo;

				if ((void *)(fh + 1) > data_end)
					return XP_BAD;
				fo = bpf_ntohs(fh->frag_off);
				if (fo & 0xfff8)
					p->frag = XF_LATER;
				else if (fo & 1)
					p->frag = XF_FIRST;
				p->frag_id = fh->identification;
				nexthdr = fh->nexthdr;
				l4_off += sizeof(*fh);
			} else {
				nexthdr = opt->nexthdr;
				l4_off += (opt->hdrlen + 1) * 8;
			}
		}
		if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
		    nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT)
			return XP_SKIP; /* more extension headers than we walk */
		p->proto = nexthdr;
	}
	if (l4_off > XP_MAX_OFF)
		return XP_SKIP;
	if (embedded)
		ip_end = l4_off + 8; /* all an ICMP error must quote */
	if (ip_end < l4_off)
		return XP_BAD;
	p->l4_off = l4_off;
	p->ip_end = ip_end;
	if (p->frag == XF_LATER)
		return XP_OK;

	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = data + l4_off;

		if (embedded) {
			if ((void *)th + 8 > data_end)
				return XP_BAD;
		} else {
			if ((void *)(th + 1) > data_end || l4_off + sizeof(*th) > ip_end ||
			    th->doff < 5)
				return XP_BAD;
			p->tcp_flags = ((__u8 *)th)[13];
		}
		p->sport = th->source;
		p->dport = th->dest;
		p->l4 = 1;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = data + l4_off;

		if ((void *)(uh + 1) > data_end || l4_off + sizeof(*uh) > ip_end)
			return XP_BAD;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->l4 = 1;
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		__u8 *ih = data + l4_off;

		if ((void *)(ih + 8) > data_end || l4_off + 8 > ip_end)
			return XP_BAD;
		p->icmp_type = ih[0];
		p->icmp_code = ih[1];
	}
	return XP_OK;
}

/*
 * An offset read from a parsed packet, pinned in a register: without this
 * clang may load it again from the struct to recompute a pointer, and the
 * verifier, for whom each load is a new unknown value, then sees a packet
 * pointer nobody checked against data_end. The mask changes nothing (the
 * parser keeps offsets below XP_MAX_OFF) but tells the verifier so: it
 * learns nothing from a bounds check on a pointer whose offset may reach
 * 64 KiB.
 */
static __always_inline __u32 xp_off(__u32 off)
{
	asm volatile("" : "+r"(off));
	return off & (2 * XP_MAX_OFF - 1);
}

/* data + off, pinned likewise: a bounds check made on (ptr + size) then
 * holds for the register later accesses use, instead of for a pointer
 * clang derived another way (data + (off + size)). */
static __always_inline void *xp_ptr(void *data, __u32 off)
{
	void *ptr = data + off;

	asm volatile("" : "+r"(ptr));
	return ptr;
}

/* Parse an Ethernet frame of pkt_len bytes. Returns XP_OK, XP_SKIP (not
 * IP) or XP_BAD. */
static __always_inline int xp_parse_len(void *data, void *data_end, __u32 pkt_len,
					struct xpkt *p)
{
	struct ethhdr *eth = data;

	__builtin_memset(p, 0, sizeof(*p));
	if ((void *)(eth + 1) > data_end)
		return XP_BAD;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return xp_parse_ip(data, data_end, pkt_len, sizeof(*eth), TR_AF_INET, p, false);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return xp_parse_ip(data, data_end, pkt_len, sizeof(*eth), TR_AF_INET6, p, false);
	return XP_SKIP;
}

/* An XDP frame: all of it is in [data, data_end). */
static __always_inline int xp_parse(void *data, void *data_end, struct xpkt *p)
{
	return xp_parse_len(data, data_end, data_end - data, p);
}

/* Is this ICMP / ICMPv6 message an error that quotes a packet? */
static __always_inline bool xp_icmp_error(const struct xpkt *p)
{
	if (p->proto == IPPROTO_ICMP)
		return p->icmp_type == 3 || p->icmp_type == 11 || p->icmp_type == 12;
	if (p->proto == IPPROTO_ICMPV6)
		return p->icmp_type >= 1 && p->icmp_type <= 4;
	return false;
}

/*
 * The packet an ICMP error quotes, parsed into q (TCP or UDP with ports,
 * not a later fragment). Returns true when it is one.
 */
static __always_inline bool xp_parse_quoted(void *data, void *data_end,
					    const struct xpkt *p, struct xpkt *q)
{
	__builtin_memset(q, 0, sizeof(*q));
	if (xp_parse_ip(data, data_end, 0, p->l4_off + 8, p->family, q, true) != XP_OK)
		return false;
	return q->l4 && (q->proto == IPPROTO_TCP || q->proto == IPPROTO_UDP);
}

/* ---- incremental checksums (RFC 1624, eqn. 3) -------------------------
 * A diff accumulates ~old + new for every changed 16-bit word, in the byte
 * order the words have in the packet (one's complement sums do not care);
 * csum_apply() folds it into a checksum field. */

static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

static __always_inline __u16 csum_fold64(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	return csum_fold((__u32)s);
}

static __always_inline void csum_acc16(__u32 *d, __u16 old, __u16 new)
{
	*d += (__u16)~old;
	*d += new;
}

static __always_inline void csum_acc32(__u32 *d, __u32 old, __u32 new)
{
	csum_acc16(d, old >> 16, new >> 16);
	csum_acc16(d, old & 0xffff, new & 0xffff);
}

static __always_inline void csum_acc_addr(__u32 *d, const __be32 *old, const __be32 *new,
					  __u8 family)
{
	csum_acc32(d, old[0], new[0]);
	if (family == TR_AF_INET6) {
		csum_acc32(d, old[1], new[1]);
		csum_acc32(d, old[2], new[2]);
		csum_acc32(d, old[3], new[3]);
	}
}

/* Apply diff d to the checksum at field; returns the new value. */
static __always_inline __u16 csum_apply(__u16 *field, __u32 d)
{
	__u32 s = (__u16)~*field;

	s += csum_fold(d);
	*field = (__u16)~csum_fold(s);
	return *field;
}

/* UDP over IPv4: 0 means "no checksum" and stays 0; a computed 0 is sent
 * as 0xffff. */
static __always_inline void csum_apply_udp(__u16 *field, __u32 d)
{
	if (!*field)
		return;
	if (!csum_apply(field, d))
		*field = 0xffff;
}

#endif /* TR_BPF_XDP_PARSE_H */
