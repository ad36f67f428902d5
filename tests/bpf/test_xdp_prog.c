// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The uplink load balancer under BPF_PROG_TEST_RUN, table-driven: each row
 * an input frame, the program (XDP on the uplink, or the reply's tc), the
 * expected verdict, the expected output frame, compared byte for byte, and
 * the counters that must move. Frames, input and expected alike, are built
 * by one builder whose checksums come from a reference RFC 1071 function,
 * so every incremental update in the programs is checked against a
 * from-scratch computation.
 *
 * The test runs in a network namespace of its own with an uplink (up0),
 * a second link with a small MTU (up2) and a workload's host-side device
 * (wl0), so that bpf_fib_lookup() finds real routes and neighbours. The
 * maps are the real ones, pinned in a private directory, filled the way
 * the agent will fill them. Rows run in order and share state (a flow's
 * connection entry made by one row is used by the next). Besides the rows:
 * the flow hash against userspace's over a maglev_build() ring, every row
 * cut and corrupted (never an abort, every drop counted once), and the
 * checksum walker itself. Needs root; TR_TEST_VERBOSE=1 shows libbpf's
 * output (the verifier's log when a program does not load).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <trestle/abi.h>
#include <trestle/maps.h>
#include <trestle/policy.h>
#include <trestle/reasons.h>
#include <trestle/xdp.h>

#include "maglev.h"
#include "pins.h"
#include "xdp.skel.h"

/* tr_xdp_rnat's verdicts, the same under tcx and cls_bpf direct action:
 * TC_ACT_OK (translated) ends the chain, TC_ACT_UNSPEC runs the next
 * program (TCX_NEXT; cls_bpf goes on to the next filter on it). */
#define TC_ACT_UNSPEC -1
#define TC_ACT_OK 0
_Static_assert(TC_ACT_UNSPEC == -1 && TC_ACT_OK == 0, "tcx and cls_bpf verdict values");
#define SEED 7
#define EPOCH 7
#define CLS_WEB 0x100   /* dst class of the local backends */
#define CLS_WORLD 0x200 /* src class of every address */
#define CLS_BAD 0x300   /* src class no policy allows */

/* The ABI layout is loud (include/trestle/xdp.h): a change here means a
 * new map name and an ABI bump. Checked at build time. */
_Static_assert(sizeof(struct tr_xdp_cfg) == 32, "tr_xdp_cfg size");
_Static_assert(offsetof(struct tr_xdp_cfg, hash_seed) == 20, "tr_xdp_cfg.hash_seed");
_Static_assert(sizeof(struct tr_xdp_svc) == 16, "tr_xdp_svc size");
_Static_assert(sizeof(struct tr_xdp_be) == 56, "tr_xdp_be size");
_Static_assert(offsetof(struct tr_xdp_be, port) == 32, "tr_xdp_be.port");
_Static_assert(offsetof(struct tr_xdp_be, ifindex) == 40, "tr_xdp_be.ifindex");
_Static_assert(offsetof(struct tr_xdp_be, dev_mac) == 50, "tr_xdp_be.dev_mac");
_Static_assert(sizeof(struct tr_xdp4_flow) == 16, "tr_xdp4_flow size");
_Static_assert(sizeof(struct tr_xdp6_flow) == 40, "tr_xdp6_flow size");
_Static_assert(offsetof(struct tr_xdp6_flow, proto) == 36, "tr_xdp6_flow.proto");
_Static_assert(sizeof(struct tr_xdp_ct) == 24, "tr_xdp_ct size");
_Static_assert(offsetof(struct tr_xdp_ct, gen) == 16, "tr_xdp_ct.gen");
_Static_assert(offsetof(struct tr_xdp_cfg, gen) == 28, "tr_xdp_cfg.gen");
_Static_assert(sizeof(struct tr_xdp_rnat) == 28, "tr_xdp_rnat size");
_Static_assert(offsetof(struct tr_xdp_rnat, ifindex) == 20, "tr_xdp_rnat.ifindex");
_Static_assert(sizeof(struct tr_xdp4_frag_key) == 12, "tr_xdp4_frag_key size");
_Static_assert(sizeof(struct tr_xdp6_frag_key) == 40, "tr_xdp6_frag_key size");
_Static_assert(sizeof(struct tr_xdp_frag) == 24, "tr_xdp_frag size");
_Static_assert(sizeof(struct tr_xdp_deny) == 8, "tr_xdp_deny size");
/* the kernel keeps 15 characters of a map name */
_Static_assert(sizeof(TR_MAP_XDP_CFG) <= 16 && sizeof(TR_MAP_XDP4_VIP) <= 16 &&
		       sizeof(TR_MAP_XDP_RING) <= 16 && sizeof(TR_MAP_XDP_BE) <= 16 &&
		       sizeof(TR_MAP_XDP4_CT) <= 16 && sizeof(TR_MAP_XDP4_RNAT) <= 16 &&
		       sizeof(TR_MAP_XDP6_RNAT) <= 16 && sizeof(TR_MAP_XDP4_FRAG) <= 16 &&
		       sizeof(TR_MAP_XDP6_FRAG) <= 16 && sizeof(TR_MAP_XDP4_DENY) <= 16 &&
		       sizeof(TR_MAP_XDP6_DENY) <= 16 && sizeof(TR_MAP_XDP_PORTS) <= 16 &&
		       sizeof(TR_MAP_XDP6_CT) <= 16,
	       "XDP map names fit");

static struct tr_xdp *skel;
static char pin_dir[128];
static int if_up0, if_up2, if_wl0;

static const uint8_t MAC_UP0[6] = { 2, 0, 0, 0, 0, 0x01 };   /* the uplink */
static const uint8_t MAC_RTR[6] = { 2, 0, 0, 0, 0, 0xfe };   /* who sent it to us */
static const uint8_t MAC_NODEB[6] = { 2, 0, 0, 0, 0, 0x02 }; /* node B, via up0 */
static const uint8_t MAC_UP2[6] = { 2, 0, 0, 0, 0, 0x21 };
static const uint8_t MAC_NODED[6] = { 2, 0, 0, 0, 0, 0x0d }; /* node D, via up2 */
static const uint8_t MAC_POD[6] = { 2, 0, 0, 0, 1, 0x05 };   /* the workload */
static const uint8_t MAC_WL0[6] = { 2, 0, 0, 0, 1, 0x01 };   /* its host-side device */

/* ---- frames ------------------------------------------------------------ */

struct ip_spec {
	int family;        /* AF_INET / AF_INET6; 0 = an ARP frame */
	const char *src, *dst;
	uint8_t ttl;       /* 0 = 64 */
	uint8_t tos;       /* IPv4 TOS / IPv6 traffic class */
	bool df;
	uint32_t id;       /* IPv4 identification (16 bits) / IPv6 fragment id */
	bool frag6;        /* IPv6: a fragment header */
	uint16_t frag_off; /* fragment: bytes into the L4 segment (x8) */
	uint16_t frag_len; /* fragment: bytes of the L4 segment, 0 = the rest */
	bool mf;
	int opt_words;     /* IPv4 options (NOP words) */
	bool dstopts;      /* IPv6: a destination options header */
};

struct pkt {
	struct ip_spec ip;
	int proto;
	uint16_t sport, dport;  /* TCP/UDP ports; ICMP echo: identifier */
	uint8_t flags;          /* TCP */
	int payload;            /* payload bytes */
	bool nocsum;            /* UDP over IPv4 without checksum */
	uint8_t icmp_type, icmp_code;
	uint32_t icmp_rest;     /* the 4 bytes after the ICMP checksum */
	const struct pkt *quote; /* an ICMP error's quoted packet */
	int quote_len;          /* bytes of it quoted */
	const struct ip_spec *outer; /* IPIP / IP6IP6 around it */
	const uint8_t *dmac, *smac;  /* NULL: to MAC_UP0 from MAC_RTR */
	int truncate;           /* bytes cut off the frame's end */
	int raw_len;            /* nonzero: keep only this many bytes */
	int ihl;                /* nonzero: IPv4 header length field */
	int tot_len_extra;      /* added to the IPv4 / IPv6 length field */
};

/* RFC 1071, from scratch. */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static int alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

static void addr(int family, const char *s, uint8_t *out)
{
	assert_int_equal(inet_pton(family, s, out), 1);
}

/* Pseudo-header sum for an L4 checksum. */
static uint32_t pseudo(int family, const uint8_t *src, const uint8_t *dst, uint32_t len,
		       uint8_t proto)
{
	uint32_t s = sum16(src, (size_t)alen(family), 0);

	s = sum16(dst, (size_t)alen(family), s);
	if (family == AF_INET)
		return s + proto + len;
	return s + (len >> 16) + (len & 0xffff) + proto;
}

static size_t build_ip(const struct pkt *s, uint8_t *out);

/* The whole L4 segment (header and payload), checksum included. */
static size_t build_l4(const struct pkt *s, const uint8_t *src, const uint8_t *dst,
		       uint8_t *seg)
{
	int fam = s->ip.family;
	size_t n = 0;
	uint16_t c;

	if (s->proto == IPPROTO_TCP) {
		memset(seg, 0, 20);
		put16(seg, s->sport);
		put16(seg + 2, s->dport);
		put32(seg + 4, 1000);
		put32(seg + 8, (s->flags & 0x10) ? 2000 : 0);
		seg[12] = 5 << 4;
		seg[13] = s->flags;
		put16(seg + 14, 65535);
		n = 20;
	} else if (s->proto == IPPROTO_UDP) {
		memset(seg, 0, 8);
		put16(seg, s->sport);
		put16(seg + 2, s->dport);
		put16(seg + 4, (uint16_t)(8 + s->payload));
		n = 8;
	} else if (s->proto == IPPROTO_ICMP || s->proto == IPPROTO_ICMPV6) {
		memset(seg, 0, 8);
		seg[0] = s->icmp_type;
		seg[1] = s->icmp_code;
		put32(seg + 4, s->quote ? s->icmp_rest : ((uint32_t)s->sport << 16 | 1));
		n = 8;
		if (s->quote) {
			uint8_t q[2048];
			size_t ql = build_ip(s->quote, q);

			if (s->quote_len && (size_t)s->quote_len < ql)
				ql = (size_t)s->quote_len;
			memcpy(seg + 8, q, ql);
			n += ql;
		}
	}
	for (int i = 0; i < s->payload; i++)
		seg[n + i] = (uint8_t)(i * 7 + 3);
	n += (size_t)s->payload;

	if (s->proto == IPPROTO_TCP) {
		c = fold(sum16(seg, n, pseudo(fam, src, dst, (uint32_t)n, IPPROTO_TCP)));
		put16(seg + 16, c);
	} else if (s->proto == IPPROTO_UDP && !s->nocsum) {
		c = fold(sum16(seg, n, pseudo(fam, src, dst, (uint32_t)n, IPPROTO_UDP)));
		put16(seg + 6, c ? c : 0xffff);
	} else if (s->proto == IPPROTO_ICMP) {
		put16(seg + 2, fold(sum16(seg, n, 0)));
	} else if (s->proto == IPPROTO_ICMPV6) {
		c = fold(sum16(seg, n, pseudo(fam, src, dst, (uint32_t)n, IPPROTO_ICMPV6)));
		put16(seg + 2, c);
	}
	return n;
}

/* An IP header for payload of plen bytes; returns its length. */
static size_t build_hdr(const struct ip_spec *ip, uint8_t proto, size_t plen, uint8_t *out,
			const struct pkt *dmg)
{
	uint8_t ttl = ip->ttl ? ip->ttl : 64;

	if (ip->family == AF_INET) {
		int words = 5 + ip->opt_words;
		uint16_t fo = (uint16_t)(ip->frag_off / 8);

		memset(out, 0, (size_t)words * 4);
		out[0] = (uint8_t)(0x40 | (dmg && dmg->ihl ? dmg->ihl : words));
		out[1] = ip->tos;
		put16(out + 2, (uint16_t)((size_t)words * 4 + plen + (dmg ? dmg->tot_len_extra : 0)));
		put16(out + 4, (uint16_t)ip->id);
		fo |= ip->df ? 0x4000 : 0;
		fo |= ip->mf ? 0x2000 : 0;
		put16(out + 6, fo);
		out[8] = ttl;
		out[9] = proto;
		addr(AF_INET, ip->src, out + 12);
		addr(AF_INET, ip->dst, out + 16);
		for (int i = 5; i < words; i++)
			memset(out + i * 4, 1, 4); /* NOP */
		put16(out + 10, fold(sum16(out, (size_t)words * 4, 0)));
		return (size_t)words * 4;
	}
	memset(out, 0, 40);
	out[0] = (uint8_t)(0x60 | ip->tos >> 4);
	out[1] = (uint8_t)(ip->tos << 4);
	put16(out + 4, (uint16_t)(plen + (dmg ? dmg->tot_len_extra : 0)));
	out[6] = proto;
	out[7] = ttl;
	addr(AF_INET6, ip->src, out + 8);
	addr(AF_INET6, ip->dst, out + 24);
	return 40;
}

/* The IP packet of s (its fragment, when s is one). */
static size_t build_ip(const struct pkt *s, uint8_t *out)
{
	const struct ip_spec *ip = &s->ip;
	uint8_t src[16], dst[16], seg[2048], ext[16];
	size_t seglen, off, len, extlen = 0, h;
	uint8_t first = (uint8_t)s->proto;

	addr(ip->family, ip->src, src);
	addr(ip->family, ip->dst, dst);
	seglen = build_l4(s, src, dst, seg);
	off = ip->frag_off;
	len = ip->frag_len ? ip->frag_len : seglen - off;
	if (ip->family == AF_INET6) {
		uint8_t *e = ext;

		if (ip->frag6) {
			memset(e, 0, 8);
			e[0] = first;
			put16(e + 2, (uint16_t)(off | (ip->mf ? 1 : 0)));
			put32(e + 4, ip->id);
			first = IPPROTO_FRAGMENT;
			e += 8;
		}
		if (ip->dstopts) {
			/* goes before the fragment header: shift it */
			memmove(ext + 8, ext, (size_t)(e - ext));
			memset(ext, 0, 8);
			ext[0] = first;
			ext[2] = 1; /* PadN */
			ext[3] = 4;
			first = 60;
			e += 8;
		}
		extlen = (size_t)(e - ext);
	}
	h = build_hdr(ip, first, extlen + len, out, s);
	memcpy(out + h, ext, extlen);
	memcpy(out + h + extlen, seg + off, len);
	return h + extlen + len;
}

/* The whole frame. */
static size_t build(const struct pkt *s, uint8_t *buf)
{
	size_t n = 14;

	memset(buf, 0, 4096);
	memcpy(buf, s->dmac ? s->dmac : MAC_UP0, 6);
	memcpy(buf + 6, s->smac ? s->smac : MAC_RTR, 6);
	if (!s->ip.family) {
		put16(buf + 12, 0x0806);
		return 60;
	}
	if (s->outer) {
		uint8_t inner[2048];
		size_t il = build_ip(s, inner);

		put16(buf + 12, s->outer->family == AF_INET ? 0x0800 : 0x86dd);
		n += build_hdr(s->outer, s->ip.family == AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6,
			       il, buf + n, NULL);
		memcpy(buf + n, inner, il);
		n += il;
	} else {
		put16(buf + 12, s->ip.family == AF_INET ? 0x0800 : 0x86dd);
		n += build_ip(s, buf + n);
	}
	if (s->raw_len)
		return (size_t)s->raw_len;
	return n - (size_t)s->truncate;
}

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
	print_message("%s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i++)
		print_message("%s%02x", i % 16 ? " " : "\n  ", p[i]);
	print_message("\n");
}

/*
 * Walk a frame and check every checksum in it that can be checked from its
 * bytes alone: IPv4 headers (outer, inner, quoted when whole), and the L4 /
 * ICMP checksum of a packet that is not a fragment (a fragment's L4
 * checksum covers the whole datagram). Independent of the builder: it
 * only sums what is there. Returns false at the first bad checksum.
 */
static bool verify_ip(const uint8_t *p, size_t n, bool quoted)
{
	int family = p[0] >> 4;
	size_t hl, len, off;
	uint8_t proto;
	bool frag = false;

	if (family == 4) {
		hl = (size_t)(p[0] & 0xf) * 4;
		if (n < hl)
			return true;
		if (fold(sum16(p, hl, 0)))
			return false;
		len = (size_t)(p[2] << 8 | p[3]);
		proto = p[9];
		frag = (p[6] & 0x3f) || p[7];
		off = hl;
	} else {
		len = 40 + (size_t)(p[4] << 8 | p[5]);
		proto = p[6];
		off = 40;
		while ((proto == 60 || proto == IPPROTO_FRAGMENT) && off + 8 <= n) {
			uint8_t next = p[off];

			if (proto == IPPROTO_FRAGMENT) {
				frag = true;
				off += 8;
			} else {
				off += (size_t)(p[off + 1] + 1) * 8;
			}
			proto = next;
		}
	}
	if (quoted || frag || len > n)
		return true;
	if (proto == IPPROTO_IPIP || proto == IPPROTO_IPV6)
		return verify_ip(p + off, len - off, false);
	if (proto == IPPROTO_ICMP) {
		if (fold(sum16(p + off, len - off, 0)))
			return false;
		if (p[off] == 3 || p[off] == 11)
			return verify_ip(p + off + 8, len - off - 8, true);
	} else if (proto == IPPROTO_TCP || proto == IPPROTO_ICMPV6 ||
		   (proto == IPPROTO_UDP && (p[off + 6] | p[off + 7]))) {
		const uint8_t *src = family == 4 ? p + 12 : p + 8;
		const uint8_t *dst = family == 4 ? p + 16 : p + 24;
		int af = family == 4 ? AF_INET : AF_INET6;

		return !fold(sum16(p + off, len - off,
				   pseudo(af, src, dst, (uint32_t)(len - off), proto)));
	}
	return true;
}

static bool verify_frame(const uint8_t *f, size_t n)
{
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);

	if (n > 14 && (type == 0x0800 || type == 0x86dd))
		return verify_ip(f + 14, n - 14, false);
	return true;
}

/* ---- running ------------------------------------------------------------- */

static int run_xdp(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	struct xdp_md md = { .data = 0, .data_end = (__u32)len, .ingress_ifindex = (__u32)if_up0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = 4096, .ctx_in = &md,
		    .ctx_size_in = sizeof(md));

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.tr_xdp_lb), &opts), 0);
	*out_len = opts.data_size_out;
	return (int)opts.retval;
}

/* Returns the verdict, or INT_MIN when the kernel refuses the test run
 * itself (it wants an skb to hold the network header it names). */
static int try_tc(const uint8_t *in, size_t len, int ifindex, uint8_t *out, size_t *out_len)
{
	struct __sk_buff ctx = { .ifindex = (__u32)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = 4096, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.tr_xdp_rnat), &opts);

	if (err == -EINVAL && len < 14 + 40)
		return INT_MIN;
	assert_int_equal(err, 0);
	*out_len = opts.data_size_out;
	return (int)opts.retval;
}

static int run_tc(const uint8_t *in, size_t len, int ifindex, uint8_t *out, size_t *out_len)
{
	int r = try_tc(in, len, ifindex, out, out_len);

	assert_int_not_equal(r, INT_MIN);
	return r;
}

static uint64_t stat_sum(uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[512] = {}, sum = 0;

	assert_true(ncpu > 0 && ncpu <= 512);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.tr_stats), &idx, vals), 0);
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

#define SAME 1 /* the output must be the input, unchanged */
#define NONE 2 /* no output to compare (a drop) */

enum prog { XDP, TC, TC_UP0 };

struct row {
	const char *what;
	enum prog prog;
	struct pkt in;
	int want;
	int out_kind;    /* 0: compare with out; SAME; NONE */
	struct pkt out;
	int counter[2];  /* tr_stats indices that must grow by one (0 = none) */
	void (*prep)(void);
};

static void run_rows(const struct row *rows, size_t n)
{
	static uint8_t in[4096], out[4096], want[4096];

	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		uint64_t before[2] = {};
		size_t len, out_len, want_len = 0;
		int got;

		if (r->prep)
			r->prep();
		for (int c = 0; c < 2; c++)
			if (r->counter[c])
				before[c] = stat_sum((uint32_t)r->counter[c]);
		len = build(&r->in, in);
		if (r->prog == XDP)
			got = run_xdp(in, len, out, &out_len);
		else
			got = run_tc(in, len, r->prog == TC ? if_wl0 : if_up0, out, &out_len);
		print_message("row %zu: %s -> %d\n", i, r->what, got);
		assert_int_equal(got, r->want);
		if (r->out_kind == SAME) {
			memcpy(want, in, len);
			want_len = len;
		} else if (r->out_kind == 0) {
			want_len = build(&r->out, want);
		}
		if (r->out_kind != NONE &&
		    (want_len != out_len || memcmp(want, out, out_len))) {
			hexdump("want", want, want_len);
			hexdump("got", out, out_len);
			fail_msg("row %zu (%s): output differs", i, r->what);
		}
		if (r->out_kind != NONE && !r->in.truncate && !r->in.raw_len &&
		    !r->in.tot_len_extra && !verify_frame(out, out_len))
			fail_msg("row %zu (%s): a checksum does not verify", i, r->what);
		for (int c = 0; c < 2; c++)
			if (r->counter[c])
				assert_int_equal(stat_sum((uint32_t)r->counter[c]), before[c] + 1);
	}
}

/* ---- the node: links, routes, maps ---------------------------------------- */

static int sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		fprintf(stderr, "setup: '%s' failed (%d)\n", cmd, rc);
	return rc;
}

static int write_file(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(val, f);
	return fclose(f);
}

static int make_netns(void)
{
	static const char *const cmds[] = {
		"ip link set lo up",
		"ip link add up0 address 02:00:00:00:00:01 type veth peer name up1",
		"ip link add up2 address 02:00:00:00:00:21 mtu 1300 type veth peer name up3 mtu 1300",
		"ip link add wl0 address 02:00:00:00:01:01 type veth peer name wl1",
		"ip link set up0 up", "ip link set up1 up", "ip link set up2 up",
		"ip link set up3 up", "ip link set wl0 up", "ip link set wl1 up",
		"ip addr add 192.0.2.1/24 dev up0",
		"ip addr add 2001:db8::1/64 dev up0 nodad",
		"ip addr add 100.64.0.1/24 dev up2",
		"ip neigh replace 192.0.2.2 lladdr 02:00:00:00:00:02 dev up0 nud permanent",
		"ip neigh replace 2001:db8::2 lladdr 02:00:00:00:00:02 dev up0 nud permanent",
		"ip neigh replace 100.64.0.4 lladdr 02:00:00:00:00:0d dev up2 nud permanent",
	};

	if (unshare(CLONE_NEWNET))
		return -1;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (sh(cmds[i]))
			return -1;
	if (write_file("/proc/sys/net/ipv4/ip_forward", "1") ||
	    write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1"))
		return -1;
	if_up0 = (int)if_nametoindex("up0");
	if_up2 = (int)if_nametoindex("up2");
	if_wl0 = (int)if_nametoindex("wl0");
	return if_up0 && if_up2 && if_wl0 ? 0 : -1;
}

static void put_be(uint32_t id, int family, const char *a, uint16_t port, int node_family,
		   const char *node, bool local)
{
	struct tr_xdp_be be = {};

	addr(family, a, (uint8_t *)be.addr);
	be.port = htons(port);
	be.family = family == AF_INET ? TR_AF_INET : TR_AF_INET6;
	if (local) {
		be.flags = TR_XDP_BE_F_LOCAL;
		be.ifindex = (__u32)if_wl0;
		memcpy(be.mac, MAC_POD, 6);
		memcpy(be.dev_mac, MAC_WL0, 6);
	} else {
		addr(node_family, node, (uint8_t *)be.node);
		be.node_family = node_family == AF_INET ? TR_AF_INET : TR_AF_INET6;
	}
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.tr_xdp_backend), &id, &be, 0), 0);
}

/* A ring as the agent makes one: an array of its own, then its id. */
static void put_ring(uint32_t ring, const uint32_t *ids, uint32_t size)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_INNER_MAP);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tr_xdp_ring_in", 4, 4, size, &o);

	assert_true(fd >= 0);
	for (uint32_t s = 0; s < size; s++)
		assert_int_equal(bpf_map_update_elem(fd, &s, &ids[s], 0), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.tr_xdp_ring), &ring, &fd, 0),
			 0);
	close(fd);
}

static void put_ring1(uint32_t ring, uint32_t id)
{
	put_ring(ring, &id, 1);
}

/* The port's bit in tr_xdp_ports, as the agent sets it for its keys. */
static void put_port(uint16_t port)
{
	int fd = bpf_map__fd(skel->maps.tr_xdp_ports);
	uint32_t w = port / 64;
	uint64_t v = 0;

	assert_int_equal(bpf_map_lookup_elem(fd, &w, &v), 0);
	v |= 1ull << (port % 64);
	assert_int_equal(bpf_map_update_elem(fd, &w, &v, 0), 0);
}

/* The agent's move of the external-key generation (xdp.h). */
static void bump_gen(void)
{
	int fd = bpf_map__fd(skel->maps.tr_xdp_cfg);
	struct tr_xdp_cfg c;
	uint32_t zero = 0;

	assert_int_equal(bpf_map_lookup_elem(fd, &zero, &c), 0);
	c.gen++;
	assert_int_equal(bpf_map_update_elem(fd, &zero, &c, 0), 0);
}

static void put_vip(const char *a, uint16_t port, int proto, uint32_t ring, uint32_t size,
		    uint32_t flags)
{
	struct tr_xdp_svc v = { .svc_id = ring, .ring = ring, .ring_size = size, .flags = flags };

	put_port(port);
	if (strchr(a, ':')) {
		struct tr_lb6_key k = {};

		addr(AF_INET6, a, (uint8_t *)k.addr);
		k.port = htons(port);
		k.proto = (uint8_t)proto;
		assert_int_equal(
			bpf_map_update_elem(bpf_map__fd(skel->maps.tr_xdp6_vip), &k, &v, 0), 0);
	} else {
		struct tr_lb4_key k = {};

		addr(AF_INET, a, (uint8_t *)&k.addr);
		k.port = htons(port);
		k.proto = (uint8_t)proto;
		assert_int_equal(
			bpf_map_update_elem(bpf_map__fd(skel->maps.tr_xdp4_vip), &k, &v, 0), 0);
	}
}

static void put_info(const char *a, int plen, uint32_t src_class, uint32_t dst_class)
{
	struct tr_ipinfo v = { .src_class = src_class, .dst_class = dst_class };

	if (strchr(a, ':')) {
		struct tr_ip6_lpm_key k = { .prefixlen = 32u + (unsigned)plen, .epoch = EPOCH };

		addr(AF_INET6, a, (uint8_t *)k.addr);
		assert_int_equal(
			bpf_map_update_elem(bpf_map__fd(skel->maps.tr_ip6_info), &k, &v, 0), 0);
	} else {
		struct tr_ip4_lpm_key k = { .prefixlen = 32u + (unsigned)plen, .epoch = EPOCH };

		addr(AF_INET, a, (uint8_t *)&k.addr);
		assert_int_equal(
			bpf_map_update_elem(bpf_map__fd(skel->maps.tr_ip4_info), &k, &v, 0), 0);
	}
}

static void put_deny(const char *a, int plen, uint32_t policy)
{
	struct tr_xdp_deny v = { .policy = policy };

	if (strchr(a, ':')) {
		struct tr_ip6_lpm_key k = { .prefixlen = 32u + (unsigned)plen, .epoch = EPOCH };

		addr(AF_INET6, a, (uint8_t *)k.addr);
		assert_int_equal(
			bpf_map_update_elem(bpf_map__fd(skel->maps.tr_xdp6_deny), &k, &v, 0), 0);
	} else {
		struct tr_ip4_lpm_key k = { .prefixlen = 32u + (unsigned)plen, .epoch = EPOCH };

		addr(AF_INET, a, (uint8_t *)&k.addr);
		assert_int_equal(
			bpf_map_update_elem(bpf_map__fd(skel->maps.tr_xdp4_deny), &k, &v, 0), 0);
	}
}

/* Backends: 1, 5, 6 on this node (behind wl0); the others on nodes B
 * (192.0.2.2 / 2001:db8::2, neighbour known), C (192.0.2.3, no neighbour)
 * and D (100.64.0.4, behind up2 whose MTU is 1300). */
static void fill_maps(void)
{
	struct tr_xdp_cfg cfg = { .hash_seed = SEED };
	struct tr_pol_cfg pcfg = { .epoch = EPOCH, .flags = TR_POL_F_XDP_DENY };
	struct tr_pol_key allow = { .dst_class = CLS_WEB, .src_class = CLS_WORLD };
	struct tr_pol_verdict v_allow = { .action = TR_ACT_ALLOW, .policy = 3 };
	struct tr_pol_verdict v_deny = { .action = TR_ACT_DENY, .flags = TR_VERD_F_DEFAULT,
					 .rule = TR_RULE_NONE };
	uint32_t zero = 0, web = CLS_WEB;

	addr(AF_INET, "192.0.2.1", (uint8_t *)&cfg.node4);
	addr(AF_INET6, "2001:db8::1", (uint8_t *)cfg.node6);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.tr_xdp_cfg), &zero, &cfg, 0),
			 0);

	put_be(1, AF_INET, "10.1.0.5", 8080, 0, NULL, true);
	put_be(2, AF_INET, "10.2.0.7", 8080, AF_INET, "192.0.2.2", false);
	put_be(3, AF_INET, "10.3.0.9", 8080, AF_INET, "192.0.2.3", false);
	put_be(4, AF_INET, "10.4.0.4", 8080, AF_INET, "100.64.0.4", false);
	put_be(5, AF_INET, "10.1.0.6", 5353, 0, NULL, true);
	put_be(6, AF_INET6, "fd00:1::5", 8080, 0, NULL, true);
	put_be(7, AF_INET6, "fd00:2::7", 8080, AF_INET6, "2001:db8::2", false);
	put_be(8, AF_INET, "10.8.0.8", 8080, AF_INET6, "2001:db8::2", false);
	for (uint32_t i = 1; i <= 8; i++)
		put_ring1(i, i);
	put_ring1(10, 1);

	put_vip("203.0.113.10", 80, IPPROTO_TCP, 10, 1, 0);
	put_vip("203.0.113.10", 53, IPPROTO_UDP, 5, 1, 0);
	put_vip("203.0.113.11", 80, IPPROTO_TCP, 2, 1, 0);
	put_vip("203.0.113.12", 80, IPPROTO_TCP, 3, 1, 0);
	put_vip("203.0.113.13", 80, IPPROTO_TCP, 4, 1, 0);
	put_vip("203.0.113.14", 80, IPPROTO_TCP, 1, 0, 0);  /* no ready backend */
	put_vip("203.0.113.15", 80, IPPROTO_TCP, 99, 1, 0); /* ring missing */
	put_vip("203.0.113.16", 80, IPPROTO_TCP, 1, 1, 0);
	put_vip("203.0.113.17", 80, IPPROTO_TCP, 8, 1, 0);
	/* the generation rows: their own keys, rings and a backend */
	put_be(11, AF_INET, "10.1.0.5", 8080, 0, NULL, true);
	put_ring1(11, 11);
	put_ring1(12, 2);
	put_vip("203.0.113.18", 80, IPPROTO_TCP, 1, 1, 0);
	put_vip("203.0.113.19", 80, IPPROTO_TCP, 1, 1, 0);
	put_vip("203.0.113.20", 80, IPPROTO_TCP, 11, 1, 0);
	put_vip("192.0.2.1", 30080, IPPROTO_TCP, 1, 1, 0);  /* NodePort */
	put_vip("2001:db8:100::10", 80, IPPROTO_TCP, 6, 1, 0);
	put_vip("2001:db8:100::10", 53, IPPROTO_UDP, 6, 1, 0);
	put_vip("2001:db8:100::11", 53, IPPROTO_UDP, 7, 1, 0);

	/* policy: the local backends admit everyone but CLS_BAD */
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.tr_pol_cfg), &zero, &pcfg, 0),
			 0);
	put_info("0.0.0.0", 0, CLS_WORLD, 0);
	put_info("::", 0, CLS_WORLD, 0);
	put_info("10.1.0.5", 32, CLS_WORLD, CLS_WEB);
	put_info("fd00:1::5", 128, CLS_WORLD, CLS_WEB);
	put_info("198.51.100.99", 32, CLS_BAD, 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.tr_pol), &allow, &v_allow, 0),
			 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.tr_pol_dst), &web, &v_deny, 0),
			 0);
	put_deny("198.18.66.0", 24, 9);
	put_deny("2001:db8:bad::", 48, 9);
}

static int setup(void **state)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);

	(void)state;
	if (geteuid() != 0 || pins_check_bpffs("/sys/fs/bpf"))
		return -1;
	if (make_netns())
		return -1;
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/trtest-xdp-%d", getpid());
	if (mkdir(pin_dir, 0700))
		return -1;
	opts.pin_root_path = pin_dir;
	skel = tr_xdp__open_opts(&opts);
	if (!skel || tr_xdp__load(skel))
		return -1;
	fill_maps();
	return 0;
}

static int teardown(void **state)
{
	struct bpf_map *map;

	(void)state;
	if (skel) {
		bpf_object__for_each_map(map, skel->obj)
			bpf_map__unpin(map, NULL);
		tr_xdp__destroy(skel);
	}
	rmdir(pin_dir);
	return 0;
}

/* ---- rows ------------------------------------------------------------------ */

#define SYN 0x02
#define ACK 0x10
#define CLIENT "198.51.100.20"
#define CLIENT6 "2001:db8:55::20"

/* to the workload, from its host-side device */
#define TO_POD .dmac = MAC_POD, .smac = MAC_WL0
/* out of up0 to node B */
#define TO_NODEB .dmac = MAC_NODEB, .smac = MAC_UP0
/* from the workload's device (tc rows) */
#define FROM_POD .dmac = MAC_WL0, .smac = MAC_POD

static void vip10_ring_to_remote(void)
{
	put_ring1(10, 2); /* VIP 203.0.113.10:80 now has only node B's backend */
}

static void gen_moves(void)
{
	bump_gen();
}

/* 203.0.113.18:80 is removed; the agent moves the generation after. */
static void vip18_removed(void)
{
	struct tr_lb4_key k = { .port = htons(80), .proto = IPPROTO_TCP };

	addr(AF_INET, "203.0.113.18", (uint8_t *)&k.addr);
	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(skel->maps.tr_xdp4_vip), &k), 0);
	bump_gen();
}

/* 203.0.113.19:80 now belongs to service 12 (node B's backend). */
static void vip19_other_service(void)
{
	put_vip("203.0.113.19", 80, IPPROTO_TCP, 12, 1, 0);
	bump_gen();
}

/* Backend 11 goes (its id zeroed) and its service's ring points to node
 * B's backend; the generation stays: no key changed. */
static void be11_removed(void)
{
	static const struct tr_xdp_be unused;
	uint32_t id = 11;

	put_ring1(11, 2);
	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(skel->maps.tr_xdp_backend), &id, &unused, 0), 0);
}

static void vip11_ring_to_local(void)
{
	put_ring1(2, 1); /* VIP 203.0.113.11:80: this node's rings now agree with B's */
}

static const struct ip_spec outer_b_to_a = { AF_INET, "192.0.2.2", "192.0.2.1", .df = true };
static const struct ip_spec outer_a_to_c = { AF_INET, "192.0.2.1", "192.0.2.3", .df = true };
static const struct ip_spec outer_a_to_d = { AF_INET, "192.0.2.1", "100.64.0.4", .df = true };
static const struct ip_spec outer_a_to_b = { AF_INET, "192.0.2.1", "192.0.2.2", .df = true };
static const struct ip_spec outer6_b_to_a = { AF_INET6, "2001:db8::2", "2001:db8::1" };
static const struct ip_spec outer6_a_to_b = { AF_INET6, "2001:db8::1", "2001:db8::2" };

/* the reply the client was sent (service -> client), as quoted in errors */
static const struct pkt reply_seen = {
	{ AF_INET, "203.0.113.10", CLIENT, .df = true }, IPPROTO_TCP, 80, 40000, SYN | ACK,
	.payload = 8 };
/* ... and as the backend sent it */
static const struct pkt reply_sent = {
	{ AF_INET, "10.1.0.5", CLIENT, .df = true }, IPPROTO_TCP, 8080, 40000, SYN | ACK,
	.payload = 8 };
/* a flow no node has seen: the NodePort, client port 41000 */
static const struct pkt reply_np_seen = {
	{ AF_INET, "192.0.2.1", CLIENT, .df = true }, IPPROTO_TCP, 30080, 41000, ACK };
static const struct pkt reply_np_sent = {
	{ AF_INET, "10.1.0.5", CLIENT, .df = true }, IPPROTO_TCP, 8080, 41000, ACK };
static const struct pkt reply_node_ssh = {
	{ AF_INET, "192.0.2.1", CLIENT, .df = true }, IPPROTO_TCP, 22, 40000, ACK };
static const struct pkt reply6_seen = {
	{ AF_INET6, "2001:db8:100::10", CLIENT6 }, IPPROTO_TCP, 80, 40000, ACK, .payload = 16 };
static const struct pkt reply6_sent = {
	{ AF_INET6, "fd00:1::5", CLIENT6 }, IPPROTO_TCP, 8080, 40000, ACK, .payload = 16 };
/* a request as the backend got it, and as the client sent it */
static const struct pkt req_udp_got = {
	{ AF_INET, CLIENT, "10.1.0.6", .ttl = 63 }, IPPROTO_UDP, 5000, 5353, .payload = 20 };
static const struct pkt req_udp_sent = {
	{ AF_INET, CLIENT, "203.0.113.10", .ttl = 63 }, IPPROTO_UDP, 5000, 53, .payload = 20 };
static const struct pkt req6_udp_got = {
	{ AF_INET6, CLIENT6, "fd00:1::5", .ttl = 63 }, IPPROTO_UDP, 5001, 8080, .payload = 12 };
static const struct pkt req6_udp_sent = {
	{ AF_INET6, CLIENT6, "2001:db8:100::10", .ttl = 63 }, IPPROTO_UDP, 5001, 53, .payload = 12 };
/* a big segment for the 1300-byte link */
static const struct pkt big_df = {
	{ AF_INET, CLIENT, "203.0.113.13", .df = true }, IPPROTO_TCP, 40100, 80, ACK,
	.payload = 1400 };

static const struct row rows[] = {
	/* IPv4, local backend, and the connection table */
	{ "SYN to a LoadBalancer IP: DNAT to the local backend, redirect", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10", .df = true }, IPPROTO_TCP, 40000, 80, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 40000, 8080, SYN, TO_POD },
	  { TR_STAT_XDP_NEW, TR_STAT_XDP_LOCAL } },
	{ "mid-flow segment with payload", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10", .df = true }, IPPROTO_TCP, 40000, 80, ACK, 100 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 40000, 8080, ACK, 100, TO_POD },
	  { TR_STAT_XDP_LOCAL } },
	{ "the ring changes: the established flow keeps its backend", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10", .df = true }, IPPROTO_TCP, 40000, 80, ACK, 10 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 40000, 8080, ACK, 10, TO_POD },
	  { TR_STAT_XDP_LOCAL }, vip10_ring_to_remote },
	{ "the generation moves, the key stays: the flow keeps its backend", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10", .df = true }, IPPROTO_TCP, 40000, 80, ACK, 10 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 40000, 8080, ACK, 10, TO_POD },
	  { TR_STAT_XDP_LOCAL }, gen_moves },
	{ "a new flow takes the new ring: IPIP to node B, back out the uplink", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10", .df = true, .tos = 0x28 }, IPPROTO_TCP, 40001, 80, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "203.0.113.10", .df = true, .tos = 0x28 }, IPPROTO_TCP, 40001, 80, SYN,
	    .outer = &(const struct ip_spec){ AF_INET, "192.0.2.1", "192.0.2.2", .df = true, .tos = 0x28 },
	    TO_NODEB },
	  { TR_STAT_XDP_NEW, TR_STAT_XDP_ENCAP } },
	{ "UDP to a VIP: DNAT with the UDP checksum", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_UDP, 5000, 53, .payload = 20 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.6", .ttl = 63 }, IPPROTO_UDP, 5000, 5353, .payload = 20, TO_POD },
	  { TR_STAT_XDP_LOCAL } },
	{ "UDP without a checksum stays without", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_UDP, 5002, 53, .payload = 9, .nocsum = true },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.6", .ttl = 63 }, IPPROTO_UDP, 5002, 5353, .payload = 9, .nocsum = true, TO_POD } },
	{ "NodePort on the node's address", XDP,
	  { { AF_INET, CLIENT, "192.0.2.1", .df = true }, IPPROTO_TCP, 40002, 30080, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 40002, 8080, SYN, TO_POD } },
	{ "IPv4 options are kept", XDP,
	  { { AF_INET, CLIENT, "192.0.2.1", .df = true, .opt_words = 2 }, IPPROTO_TCP, 40003, 30080, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.5", .ttl = 63, .df = true, .opt_words = 2 }, IPPROTO_TCP, 40003, 8080, SYN, TO_POD } },
	{ "TTL 1: to the stack (time exceeded)", XDP,
	  { { AF_INET, CLIENT, "192.0.2.1", .ttl = 1 }, IPPROTO_TCP, 40004, 30080, SYN },
	  XDP_PASS, SAME, {}, { TR_STAT_XDP_TTL } },

	/* remote backends */
	{ "remote backend, no neighbour yet: encapsulated, to the stack", XDP,
	  { { AF_INET, CLIENT, "203.0.113.12", .df = true }, IPPROTO_TCP, 40005, 80, SYN },
	  XDP_PASS, 0,
	  { { AF_INET, CLIENT, "203.0.113.12", .df = true }, IPPROTO_TCP, 40005, 80, SYN, .outer = &outer_a_to_c },
	  { TR_STAT_XDP_NO_NEIGH, TR_STAT_XDP_ENCAP } },
	{ "remote backend behind another link: redirect there", XDP,
	  { { AF_INET, CLIENT, "203.0.113.13", .df = true }, IPPROTO_TCP, 40006, 80, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "203.0.113.13", .df = true }, IPPROTO_TCP, 40006, 80, SYN,
	    .outer = &outer_a_to_d, .dmac = MAC_NODED, .smac = MAC_UP2 },
	  { TR_STAT_XDP_ENCAP } },
	{ "too big once encapsulated: ICMP fragmentation needed, MTU 1280, from the VIP", XDP,
	  big_df, XDP_REDIRECT, 0,
	  { { AF_INET, "203.0.113.13", CLIENT }, IPPROTO_ICMP, .icmp_type = 3, .icmp_code = 4,
	    .icmp_rest = 1280, .quote = &big_df, .quote_len = 128, .dmac = MAC_RTR, .smac = MAC_UP0 },
	  { TR_STAT_XDP_TOO_BIG } },
	{ "too big without DF: dropped", XDP,
	  { { AF_INET, CLIENT, "203.0.113.13" }, IPPROTO_TCP, 40101, 80, ACK, 1400 },
	  XDP_DROP, NONE, {}, { -TR_REASON_ENCAP_FAILED } },
	{ "IPv4 service, backend's node IPv6-only: IPv4 in IPv6", XDP,
	  { { AF_INET, CLIENT, "203.0.113.17", .df = true }, IPPROTO_TCP, 40007, 80, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "203.0.113.17", .df = true }, IPPROTO_TCP, 40007, 80, SYN,
	    .outer = &outer6_a_to_b, TO_NODEB },
	  { TR_STAT_XDP_ENCAP } },

	/* drops */
	{ "service without a ready backend", XDP,
	  { { AF_INET, CLIENT, "203.0.113.14" }, IPPROTO_TCP, 40008, 80, SYN },
	  XDP_DROP, NONE, {}, { -TR_REASON_NO_BACKEND } },
	{ "ring missing (agent mid-update): fail closed", XDP,
	  { { AF_INET, CLIENT, "203.0.113.15" }, IPPROTO_TCP, 40009, 80, SYN },
	  XDP_DROP, NONE, {}, { -TR_REASON_SLOT_MISSING } },
	{ "source in a denied ipBlock, to a VIP: early drop", XDP,
	  { { AF_INET, "198.18.66.7", "203.0.113.11" }, IPPROTO_TCP, 40010, 80, SYN },
	  XDP_DROP, NONE, {}, { -TR_REASON_XDP_DENY } },
	{ "denied source to the node's own ssh: not ours to deny", XDP,
	  { { AF_INET, "198.18.66.7", "192.0.2.1" }, IPPROTO_TCP, 40011, 22, SYN },
	  XDP_PASS, SAME },
	{ "the local backend's policy denies this source", XDP,
	  { { AF_INET, "198.51.100.99", "192.0.2.1" }, IPPROTO_TCP, 40012, 30080, SYN },
	  XDP_DROP, NONE, {}, { -TR_REASON_POLICY_NO_ALLOW } },

	/* not ours */
	{ "TCP to the node, not a service: untouched", XDP,
	  { { AF_INET, CLIENT, "192.0.2.1" }, IPPROTO_TCP, 40013, 22, SYN }, XDP_PASS, SAME },
	{ "a VIP's other port: untouched", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_TCP, 40014, 8443, SYN }, XDP_PASS, SAME },
	{ "ARP: untouched", XDP, { { 0 } }, XDP_PASS, SAME },
	{ "ICMP echo to a VIP: untouched", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_ICMP, 77, .icmp_type = 8, .payload = 16 },
	  XDP_PASS, SAME },

	/* ICMP errors about a flow */
	{ "fragmentation needed about a reply (quoted TCP checksum updated)", XDP,
	  { { AF_INET, "198.51.100.1", "203.0.113.10" }, IPPROTO_ICMP, .icmp_type = 3,
	    .icmp_code = 4, .icmp_rest = 1400, .quote = &reply_seen, .quote_len = 48 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, "198.51.100.1", "10.1.0.5", .ttl = 63 }, IPPROTO_ICMP, .icmp_type = 3,
	    .icmp_code = 4, .icmp_rest = 1400, .quote = &reply_sent, .quote_len = 48, TO_POD },
	  { TR_STAT_XDP_ICMP, TR_STAT_XDP_LOCAL } },
	{ "the same with 8 bytes of TCP quoted", XDP,
	  { { AF_INET, "198.51.100.1", "203.0.113.10" }, IPPROTO_ICMP, .icmp_type = 3,
	    .icmp_code = 4, .icmp_rest = 1400, .quote = &reply_seen, .quote_len = 28 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, "198.51.100.1", "10.1.0.5", .ttl = 63 }, IPPROTO_ICMP, .icmp_type = 3,
	    .icmp_code = 4, .icmp_rest = 1400, .quote = &reply_sent, .quote_len = 28, TO_POD },
	  { TR_STAT_XDP_ICMP } },
	{ "ICMP error about a flow this node never saw: Maglev decides", XDP,
	  { { AF_INET, "198.51.100.1", "192.0.2.1" }, IPPROTO_ICMP, .icmp_type = 11,
	    .quote = &reply_np_seen, .quote_len = 40 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, "198.51.100.1", "10.1.0.5", .ttl = 63 }, IPPROTO_ICMP, .icmp_type = 11,
	    .quote = &reply_np_sent, .quote_len = 40, TO_POD },
	  { TR_STAT_XDP_ICMP } },
	{ "ICMP error about the node's own traffic: untouched", XDP,
	  { { AF_INET, "198.51.100.1", "192.0.2.1" }, IPPROTO_ICMP, .icmp_type = 3,
	    .icmp_code = 1, .quote = &reply_node_ssh, .quote_len = 28 },
	  XDP_PASS, SAME },

	/* fragments */
	{ "first fragment of a UDP datagram: by its ports", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10", .id = 0x1234, .mf = true, .frag_len = 24 },
	    IPPROTO_UDP, 5001, 53, .payload = 40 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.6", .ttl = 63, .id = 0x1234, .mf = true, .frag_len = 24 },
	    IPPROTO_UDP, 5001, 5353, .payload = 40, TO_POD },
	  { TR_STAT_XDP_LOCAL } },
	{ "its later fragment follows it", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10", .id = 0x1234, .frag_off = 24 },
	    IPPROTO_UDP, 5001, 53, .payload = 40 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.6", .ttl = 63, .id = 0x1234, .frag_off = 24 },
	    IPPROTO_UDP, 5001, 5353, .payload = 40, TO_POD },
	  { TR_STAT_XDP_LOCAL } },
	{ "later fragment without its first: to the stack", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10", .id = 0x9999, .frag_off = 24 },
	    IPPROTO_UDP, 5001, 53, .payload = 40 },
	  XDP_PASS, SAME, {}, { TR_STAT_XDP_FRAG_UNKNOWN } },

	/* decapsulation */
	{ "IPIP from node B, service traffic for a local backend: decap, DNAT", XDP,
	  { { AF_INET, "198.51.100.30", "203.0.113.16", .df = true }, IPPROTO_TCP, 42000, 80, SYN,
	    .outer = &outer_b_to_a, .smac = MAC_NODEB },
	  XDP_REDIRECT, 0,
	  { { AF_INET, "198.51.100.30", "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 42000, 8080, SYN, TO_POD },
	  { TR_STAT_XDP_DECAP, TR_STAT_XDP_LOCAL } },
	{ "IPIP to this node that is not service traffic: untouched", XDP,
	  { { AF_INET, "10.9.0.1", "10.9.0.2" }, IPPROTO_TCP, 42001, 80, SYN,
	    .outer = &outer_b_to_a, .smac = MAC_NODEB },
	  XDP_PASS, SAME },
	{ "IPIP whose backend is not here: dropped, never encapsulated again", XDP,
	  { { AF_INET, "198.51.100.30", "203.0.113.11" }, IPPROTO_TCP, 42002, 80, SYN,
	    .outer = &outer_b_to_a, .smac = MAC_NODEB },
	  XDP_DROP, NONE, {}, { -TR_REASON_DECAP_NOT_LOCAL } },
	{ "the same flow once the rings agree: nothing was recorded, decided afresh", XDP,
	  { { AF_INET, "198.51.100.30", "203.0.113.11", .df = true }, IPPROTO_TCP, 42002, 80, SYN,
	    .outer = &outer_b_to_a, .smac = MAC_NODEB },
	  XDP_REDIRECT, 0,
	  { { AF_INET, "198.51.100.30", "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 42002, 8080, SYN, TO_POD },
	  { TR_STAT_XDP_DECAP, TR_STAT_XDP_LOCAL }, vip11_ring_to_local },

	/* connection entries and the generation (include/trestle/xdp.h) */
	{ "a flow to 203.0.113.18 (to be removed)", XDP,
	  { { AF_INET, CLIENT, "203.0.113.18", .df = true }, IPPROTO_TCP, 40200, 80, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 40200, 8080, SYN, TO_POD },
	  { TR_STAT_XDP_NEW, TR_STAT_XDP_LOCAL } },
	{ "its key removed, the generation moved: the flow's packets are not ours", XDP,
	  { { AF_INET, CLIENT, "203.0.113.18", .df = true }, IPPROTO_TCP, 40200, 80, ACK, 10 },
	  XDP_PASS, SAME, {}, { 0 }, vip18_removed },
	{ "a flow to 203.0.113.19 (to change service)", XDP,
	  { { AF_INET, CLIENT, "203.0.113.19", .df = true }, IPPROTO_TCP, 40201, 80, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 40201, 8080, SYN, TO_POD },
	  { TR_STAT_XDP_NEW, TR_STAT_XDP_LOCAL } },
	{ "its address now another service's: balanced anew, IPIP to node B", XDP,
	  { { AF_INET, CLIENT, "203.0.113.19", .df = true }, IPPROTO_TCP, 40201, 80, ACK, 10 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "203.0.113.19", .df = true }, IPPROTO_TCP, 40201, 80, ACK, 10,
	    .outer = &outer_a_to_b, TO_NODEB },
	  { TR_STAT_XDP_NEW, TR_STAT_XDP_ENCAP }, vip19_other_service },
	{ "a flow to 203.0.113.20 (its backend to be removed)", XDP,
	  { { AF_INET, CLIENT, "203.0.113.20", .df = true }, IPPROTO_TCP, 40202, 80, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "10.1.0.5", .ttl = 63, .df = true }, IPPROTO_TCP, 40202, 8080, SYN, TO_POD },
	  { TR_STAT_XDP_NEW, TR_STAT_XDP_LOCAL } },
	{ "its backend's id zeroed: stale, balanced anew on the new ring", XDP,
	  { { AF_INET, CLIENT, "203.0.113.20", .df = true }, IPPROTO_TCP, 40202, 80, ACK, 10 },
	  XDP_REDIRECT, 0,
	  { { AF_INET, CLIENT, "203.0.113.20", .df = true }, IPPROTO_TCP, 40202, 80, ACK, 10,
	    .outer = &outer_a_to_b, TO_NODEB },
	  { TR_STAT_XDP_CT_STALE, TR_STAT_XDP_ENCAP }, be11_removed },

	/* malformed: dropped and counted, never a crash */
	{ "an Ethernet header alone (type IPv4)", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_TCP, 1, 80, SYN, .raw_len = 14 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },
	{ "IPv4 header cut short", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_TCP, 1, 80, SYN, .raw_len = 24 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },
	{ "IPv4 header length 4", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_TCP, 1, 80, SYN, .ihl = 4 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },
	{ "IPv4 total length beyond the frame", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_TCP, 1, 80, SYN, .tot_len_extra = 20 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },
	{ "TCP header cut short", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_TCP, 1, 80, SYN, .truncate = 10,
	    .tot_len_extra = -10 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },
	{ "UDP header cut short", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_UDP, 1, 53, .truncate = 4,
	    .tot_len_extra = -4 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },
	{ "ICMP header cut short", XDP,
	  { { AF_INET, CLIENT, "203.0.113.10" }, IPPROTO_ICMP, .icmp_type = 8, .truncate = 4,
	    .tot_len_extra = -4 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },
	{ "IPv6 header cut short", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8:100::10" }, IPPROTO_TCP, 1, 80, SYN, .raw_len = 40 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },
	{ "IPv6 payload length beyond the frame", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8:100::10" }, IPPROTO_TCP, 1, 80, SYN, .tot_len_extra = 8 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },
	{ "IPv6 extension header cut short", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8:100::10", .dstopts = true }, IPPROTO_TCP, 1, 80, SYN,
	    .raw_len = 14 + 40 + 4 },
	  XDP_DROP, NONE, {}, { -TR_REASON_MALFORMED } },

	/* IPv6 */
	{ "IPv6 SYN to a VIP: DNAT to the local backend", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8:100::10" }, IPPROTO_TCP, 40000, 80, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET6, CLIENT6, "fd00:1::5", .ttl = 63 }, IPPROTO_TCP, 40000, 8080, SYN, TO_POD },
	  { TR_STAT_XDP_NEW, TR_STAT_XDP_LOCAL } },
	{ "IPv6 mid-flow, traffic class kept", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8:100::10", .tos = 0xb8 }, IPPROTO_TCP, 40000, 80, ACK, 33 },
	  XDP_REDIRECT, 0,
	  { { AF_INET6, CLIENT6, "fd00:1::5", .ttl = 63, .tos = 0xb8 }, IPPROTO_TCP, 40000, 8080, ACK, 33, TO_POD } },
	{ "IPv6 with a destination options header", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8:100::10", .dstopts = true }, IPPROTO_TCP, 40001, 80, SYN },
	  XDP_REDIRECT, 0,
	  { { AF_INET6, CLIENT6, "fd00:1::5", .ttl = 63, .dstopts = true }, IPPROTO_TCP, 40001, 8080, SYN, TO_POD } },
	{ "IPv6 UDP, remote backend: IP6IP6 to node B", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8:100::11", .tos = 0x20 }, IPPROTO_UDP, 5000, 53, .payload = 30 },
	  XDP_REDIRECT, 0,
	  { { AF_INET6, CLIENT6, "2001:db8:100::11", .tos = 0x20 }, IPPROTO_UDP, 5000, 53, .payload = 30,
	    .outer = &(const struct ip_spec){ AF_INET6, "2001:db8::1", "2001:db8::2", .tos = 0x20 },
	    TO_NODEB },
	  { TR_STAT_XDP_ENCAP } },
	{ "IPv6 first fragment", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8:100::10", .frag6 = true, .id = 0xabcdef, .mf = true,
	      .frag_len = 16 }, IPPROTO_UDP, 5001, 53, .payload = 40 },
	  XDP_REDIRECT, 0,
	  { { AF_INET6, CLIENT6, "fd00:1::5", .ttl = 63, .frag6 = true, .id = 0xabcdef, .mf = true,
	      .frag_len = 16 }, IPPROTO_UDP, 5001, 8080, .payload = 40, TO_POD } },
	{ "IPv6 later fragment", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8:100::10", .frag6 = true, .id = 0xabcdef, .frag_off = 16 },
	    IPPROTO_UDP, 5001, 53, .payload = 40 },
	  XDP_REDIRECT, 0,
	  { { AF_INET6, CLIENT6, "fd00:1::5", .ttl = 63, .frag6 = true, .id = 0xabcdef, .frag_off = 16 },
	    IPPROTO_UDP, 5001, 8080, .payload = 40, TO_POD } },
	{ "ICMPv6 packet too big about a reply", XDP,
	  { { AF_INET6, "2001:db8:55::1", "2001:db8:100::10" }, IPPROTO_ICMPV6, .icmp_type = 2,
	    .icmp_rest = 1280, .quote = &reply6_seen, .quote_len = 40 + 20 + 16 },
	  XDP_REDIRECT, 0,
	  { { AF_INET6, "2001:db8:55::1", "fd00:1::5", .ttl = 63 }, IPPROTO_ICMPV6, .icmp_type = 2,
	    .icmp_rest = 1280, .quote = &reply6_sent, .quote_len = 40 + 20 + 16, TO_POD },
	  { TR_STAT_XDP_ICMP } },
	{ "IP6IP6 from node B: decap, DNAT", XDP,
	  { { AF_INET6, "2001:db8:55::30", "2001:db8:100::10" }, IPPROTO_TCP, 42000, 80, SYN,
	    .outer = &outer6_b_to_a, .smac = MAC_NODEB },
	  XDP_REDIRECT, 0,
	  { { AF_INET6, "2001:db8:55::30", "fd00:1::5", .ttl = 63 }, IPPROTO_TCP, 42000, 8080, SYN, TO_POD },
	  { TR_STAT_XDP_DECAP } },
	{ "IPv6 source in a denied ipBlock", XDP,
	  { { AF_INET6, "2001:db8:bad::1", "2001:db8:100::10" }, IPPROTO_TCP, 40002, 80, SYN },
	  XDP_DROP, NONE, {}, { -TR_REASON_XDP_DENY } },
	{ "IPv6 not a service: untouched", XDP,
	  { { AF_INET6, CLIENT6, "2001:db8::1" }, IPPROTO_TCP, 40003, 22, SYN }, XDP_PASS, SAME },
	{ "ICMPv6 neighbour solicitation: untouched", XDP,
	  { { AF_INET6, "fe80::1", "ff02::1:ff00:1", .ttl = 255 }, IPPROTO_ICMPV6, .icmp_type = 135,
	    .payload = 16 },
	  XDP_PASS, SAME },

	/* tc: the replies */
	{ "reply from the local backend: source back to the VIP", TC,
	  { { AF_INET, "10.1.0.5", CLIENT, .df = true }, IPPROTO_TCP, 8080, 40000, SYN | ACK, FROM_POD },
	  TC_ACT_OK, 0,
	  { { AF_INET, "203.0.113.10", CLIENT, .df = true }, IPPROTO_TCP, 80, 40000, SYN | ACK, FROM_POD },
	  { TR_STAT_XDP_REVNAT } },
	{ "the same reply seen on another device: not translated", TC_UP0,
	  { { AF_INET, "10.1.0.5", CLIENT, .df = true }, IPPROTO_TCP, 8080, 40000, SYN | ACK, FROM_POD },
	  TC_ACT_UNSPEC, SAME },
	{ "backend traffic that is no balanced flow: untouched", TC,
	  { { AF_INET, "10.1.0.5", CLIENT }, IPPROTO_TCP, 8080, 49999, ACK, FROM_POD },
	  TC_ACT_UNSPEC, SAME },
	{ "NodePort reply: from the node's address", TC,
	  { { AF_INET, "10.1.0.5", CLIENT, .df = true }, IPPROTO_TCP, 8080, 40002, SYN | ACK, FROM_POD },
	  TC_ACT_OK, 0,
	  { { AF_INET, "192.0.2.1", CLIENT, .df = true }, IPPROTO_TCP, 30080, 40002, SYN | ACK, FROM_POD } },
	{ "UDP reply", TC,
	  { { AF_INET, "10.1.0.6", CLIENT }, IPPROTO_UDP, 5353, 5000, .payload = 33, FROM_POD },
	  TC_ACT_OK, 0,
	  { { AF_INET, "203.0.113.10", CLIENT }, IPPROTO_UDP, 53, 5000, .payload = 33, FROM_POD } },
	{ "UDP reply without a checksum stays without", TC,
	  { { AF_INET, "10.1.0.6", CLIENT }, IPPROTO_UDP, 5353, 5002, .payload = 3, .nocsum = true, FROM_POD },
	  TC_ACT_OK, 0,
	  { { AF_INET, "203.0.113.10", CLIENT }, IPPROTO_UDP, 53, 5002, .payload = 3, .nocsum = true, FROM_POD } },
	{ "port unreachable from the backend about a request", TC,
	  { { AF_INET, "10.1.0.6", CLIENT }, IPPROTO_ICMP, .icmp_type = 3, .icmp_code = 3,
	    .quote = &req_udp_got, .quote_len = 48, FROM_POD },
	  TC_ACT_OK, 0,
	  { { AF_INET, "203.0.113.10", CLIENT }, IPPROTO_ICMP, .icmp_type = 3, .icmp_code = 3,
	    .quote = &req_udp_sent, .quote_len = 48, FROM_POD },
	  { TR_STAT_XDP_ICMP, TR_STAT_XDP_REVNAT } },
	{ "first fragment of a UDP reply", TC,
	  { { AF_INET, "10.1.0.6", CLIENT, .id = 0x4321, .mf = true, .frag_len = 32 },
	    IPPROTO_UDP, 5353, 5000, .payload = 60, FROM_POD },
	  TC_ACT_OK, 0,
	  { { AF_INET, "203.0.113.10", CLIENT, .id = 0x4321, .mf = true, .frag_len = 32 },
	    IPPROTO_UDP, 53, 5000, .payload = 60, FROM_POD } },
	{ "its later fragment, seen on another device: untouched", TC_UP0,
	  { { AF_INET, "10.1.0.6", CLIENT, .id = 0x4321, .frag_off = 32 },
	    IPPROTO_UDP, 5353, 5000, .payload = 60, FROM_POD },
	  TC_ACT_UNSPEC, SAME },
	{ "its later fragment", TC,
	  { { AF_INET, "10.1.0.6", CLIENT, .id = 0x4321, .frag_off = 32 },
	    IPPROTO_UDP, 5353, 5000, .payload = 60, FROM_POD },
	  TC_ACT_OK, 0,
	  { { AF_INET, "203.0.113.10", CLIENT, .id = 0x4321, .frag_off = 32 },
	    IPPROTO_UDP, 53, 5000, .payload = 60, FROM_POD } },
	{ "IPv6 reply", TC,
	  { { AF_INET6, "fd00:1::5", CLIENT6 }, IPPROTO_TCP, 8080, 40000, SYN | ACK, 5, FROM_POD },
	  TC_ACT_OK, 0,
	  { { AF_INET6, "2001:db8:100::10", CLIENT6 }, IPPROTO_TCP, 80, 40000, SYN | ACK, 5, FROM_POD } },
	{ "ICMPv6 port unreachable from the backend", TC,
	  { { AF_INET6, "fd00:1::5", CLIENT6 }, IPPROTO_ICMPV6, .icmp_type = 1, .icmp_code = 4,
	    .quote = &req6_udp_got, .quote_len = 40 + 8 + 12, FROM_POD },
	  TC_ACT_OK, 0,
	  { { AF_INET6, "2001:db8:100::10", CLIENT6 }, IPPROTO_ICMPV6, .icmp_type = 1,
	    .icmp_code = 4, .quote = &req6_udp_sent, .quote_len = 40 + 8 + 12, FROM_POD } },
	{ "truncated reply: untouched", TC,
	  { { AF_INET, "10.1.0.5", CLIENT }, IPPROTO_TCP, 8080, 40000, ACK, .truncate = 10, FROM_POD },
	  TC_ACT_UNSPEC, SAME },
	{ "ARP from the workload: untouched", TC, { { 0 }, FROM_POD }, TC_ACT_UNSPEC, SAME },
};

/* Every map name the ABI header promises is a map of the object. */
static void test_map_names(void **state)
{
	static const char *const names[] = { TR_XDP_MAPS };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_non_null(bpf_object__find_map_by_name(skel->obj, names[i]));
}

/* How hard the verifier worked: far from its 1M-instruction limit. */
static void test_complexity(void **state)
{
	struct bpf_program *prog;

	(void)state;
	bpf_object__for_each_program(prog, skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		assert_int_equal(bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len), 0);
		print_message("%s: %u instructions, %u verified\n", bpf_program__name(prog),
			      info.xlated_prog_len / 8, info.verified_insns);
		assert_true(info.verified_insns < 500000);
	}
}

/* The checksum walker accepts every frame the builder makes and rejects
 * each of them with a checksum byte changed. */
static void test_verifier(void **state)
{
	static uint8_t f[4096];
	int rejected = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct pkt *p = rows[i].out_kind ? &rows[i].in : &rows[i].out;
		size_t n = build(p, f);

		if (p->truncate || p->raw_len || p->tot_len_extra || p->ihl || !p->ip.family)
			continue; /* damaged on purpose */
		if (!verify_frame(f, n))
			fail_msg("row %zu (%s): the builder's frame does not verify", i,
				 rows[i].what);
		/* the frame's last byte: only an L4 / ICMP checksum covers it */
		f[n - 1] ^= 0x40;
		rejected += !verify_frame(f, n);
	}
	print_message("%d frames: a changed last byte is caught\n", rejected);
	assert_true(rejected > 40);
}

static void test_rows(void **state)
{
	(void)state;
	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static uint64_t drops_counted(void)
{
	uint64_t sum = 0;

	for (uint32_t r = 1; r <= TR_REASON_MAX; r++)
		sum += stat_sum(r);
	return sum;
}

/*
 * Every row's input cut at every length, and with single bytes of its
 * headers corrupted: the programs never abort, XDP answers only PASS,
 * DROP, TX or REDIRECT, every XDP_DROP is counted under exactly one
 * reason (and nothing else is), and the tc program only OK or UNSPEC.
 */
static void test_damage(void **state)
{
	static uint8_t in[4096], out[4096];
	unsigned long runs = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		size_t full = build(&r->in, in), out_len;

		for (size_t variant = 0; variant < 2 * full; variant++) {
			size_t len = full;
			uint8_t saved = 0;
			size_t at = 0;
			uint64_t before;
			int got;

			if (variant < full) {
				len = variant; /* cut */
				if (len < 14)
					continue;
			} else {
				at = variant - full; /* corrupt one byte of the headers */
				if (at < 12 || at >= 14 + 80 || at >= full)
					continue;
				saved = in[at];
				in[at] ^= (uint8_t)(0x5a + at);
			}
			before = drops_counted();
			if (r->prog == XDP) {
				got = run_xdp(in, len, out, &out_len);
				assert_true(got == XDP_PASS || got == XDP_DROP || got == XDP_TX ||
					    got == XDP_REDIRECT);
				assert_int_equal(drops_counted(), before + (got == XDP_DROP));
			} else {
				got = try_tc(in, len, if_wl0, out, &out_len);
				assert_true(got == TC_ACT_OK || got == TC_ACT_UNSPEC || got == INT_MIN);
				/* TC_ACT_UNSPEC hands the packet to the next program (tcx:
				 * TCX_NEXT; cls_bpf direct action: the next filter, the
				 * policy one): it must get the frame as it came */
				if (got == TC_ACT_UNSPEC) {
					assert_int_equal(out_len, len);
					assert_memory_equal(out, in, len);
				}
			}
			if (variant >= full)
				in[at] = saved;
			runs++;
		}
	}
	print_message("%lu damaged frames, none aborted, every drop counted\n", runs);
}

/*
 * The program's flow hash is userspace's (trestle/xdp.h): over a ring that
 * maglev_build() made (local backend 1 and node B's backend 2), each flow
 * goes where userspace says slot hash % size points.
 */
static void check_hash(bool client_ip, int family)
{
	struct maglev_backend mb[2] = { { 0x1111, 1 }, { 0x2222, 1 } };
	uint32_t size = maglev_size(2), *ring = calloc(size, sizeof(*ring)), *ids;
	uint32_t ring_id = family == AF_INET ? 20 : 21;
	const char *vip = family == AF_INET ? "203.0.113.20" : "2001:db8:100::20";
	int local = 0, remote = 0;

	assert_non_null(ring);
	assert_int_equal(maglev_build(mb, 2, 1, size, ring), 0);
	ids = calloc(size, sizeof(*ids));
	assert_non_null(ids);
	for (uint32_t s = 0; s < size; s++)
		ids[s] = family == AF_INET ? ring[s] + 1 : (ring[s] ? 7 : 6);
	put_ring(ring_id, ids, size);
	put_vip(vip, 80, IPPROTO_TCP, ring_id, size, client_ip ? TR_XDP_SVC_F_CLIENT_IP : 0);

	for (int i = 0; i < 64; i++) {
		struct pkt p = { { family, family == AF_INET ? CLIENT : CLIENT6, vip },
				 IPPROTO_TCP, (uint16_t)(20000 + i * 37 + (client_ip ? 7 : 0)), 80,
				 SYN };
		uint8_t in[4096], out[4096], s[16], d[16];
		uint32_t ports = client_ip ? 0 : ((uint32_t)p.sport << 16 | 80), h, slot;
		size_t len = build(&p, in), out_len;
		int got, want;

		addr(family, p.ip.src, s);
		addr(family, p.ip.dst, d);
		if (family == AF_INET) {
			uint32_t sa, da;

			memcpy(&sa, s, 4);
			memcpy(&da, d, 4);
			h = tr_xdp_hash4(ntohl(sa), ntohl(da), ports, IPPROTO_TCP, SEED);
		} else {
			uint32_t sw[4], dw[4];

			for (int w = 0; w < 4; w++) {
				memcpy(&sw[w], s + 4 * w, 4);
				memcpy(&dw[w], d + 4 * w, 4);
				sw[w] = ntohl(sw[w]);
				dw[w] = ntohl(dw[w]);
			}
			h = tr_xdp_hash6(sw, dw, ports, IPPROTO_TCP, SEED);
		}
		slot = h % size;
		/* both leave by redirect: to the pod, or encapsulated back out */
		want = ring[slot] == 0 ? 0 : 1;
		got = run_xdp(in, len, out, &out_len);
		assert_int_equal(got, XDP_REDIRECT);
		assert_int_equal(out_len > len, want);
		if (out_len > len)
			remote++;
		else
			local++;
	}
	print_message("%s%s: %d flows local, %d remote\n", family == AF_INET ? "IPv4" : "IPv6",
		      client_ip ? " client-IP affinity" : "", local, remote);
	if (client_ip)
		assert_true(local == 0 || remote == 0);
	else
		assert_true(local > 10 && remote > 10);
	free(ring);
	free(ids);
}

static void test_flow_hash(void **state)
{
	(void)state;
	check_hash(false, AF_INET);
	check_hash(false, AF_INET6);
	check_hash(true, AF_INET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_names),
		cmocka_unit_test(test_complexity),
		cmocka_unit_test(test_verifier),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_flow_hash),
		cmocka_unit_test(test_damage),
	};

	if (!getenv("TR_TEST_VERBOSE"))
		libbpf_set_print(NULL);
	return cmocka_run_group_tests_name("xdp_prog", tests, setup, teardown);
}
