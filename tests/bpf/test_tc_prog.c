// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tc programs under BPF_PROG_TEST_RUN, table-driven: each row a packet
 * built byte by byte, the program, and the expected verdict (and, for
 * drops, the counter that must move). The maps are the real ones, loaded
 * from the skeleton and pinned in a private directory, and filled the way
 * the agent fills them. Needs root and a bpf filesystem.
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
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <trestle/abi.h>
#include <trestle/maps.h>
#include <trestle/policy.h>
#include <trestle/reasons.h>

#include "pins.h"
#include "tc.skel.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define EPOCH 7
#define CLS_DST 0x1000005u  /* dst class of the workload "web" */
#define CLS_CLIENT 0x1000001u /* src class of workload "client" */
#define CLS_WORLD 0x1000002u  /* every other address */
#define LO_IFINDEX 1          /* test runs see the loopback device */

static struct tr_tc *skel;
static char pin_dir[128];

/* ---- packet building ------------------------------------------------- */

struct pkt_spec {
	int family;         /* AF_INET / AF_INET6 / 0 = ARP */
	const char *src, *dst;
	int proto;          /* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t sport, dport;
	uint8_t tcp_flags;
	int ip_options;     /* IPv4 option words (ihl = 5 + n) */
	bool frag_later;    /* IPv4: a non-first fragment */
	int truncate;       /* bytes cut off the end */
};

static size_t build(const struct pkt_spec *s, unsigned char *buf)
{
	struct ethhdr *eth = (void *)buf;
	size_t off = sizeof(*eth), l4len;

	memset(buf, 0, 256);
	if (!s->family) {
		eth->h_proto = htons(ETH_P_ARP);
		return 60;
	}
	l4len = s->proto == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr);
	if (s->family == AF_INET) {
		struct iphdr *ip = (void *)(buf + off);

		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5 + s->ip_options;
		ip->ttl = 64;
		ip->protocol = s->proto;
		ip->tot_len = htons(ip->ihl * 4 + l4len);
		if (s->frag_later)
			ip->frag_off = htons(100);
		inet_pton(AF_INET, s->src, &ip->saddr);
		inet_pton(AF_INET, s->dst, &ip->daddr);
		off += ip->ihl * 4;
	} else {
		struct ipv6hdr *ip6 = (void *)(buf + off);

		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->nexthdr = s->proto;
		ip6->hop_limit = 64;
		ip6->payload_len = htons(l4len);
		inet_pton(AF_INET6, s->src, &ip6->saddr);
		inet_pton(AF_INET6, s->dst, &ip6->daddr);
		off += sizeof(*ip6);
	}
	if (s->proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(buf + off);

		th->source = htons(s->sport);
		th->dest = htons(s->dport);
		th->doff = 5;
		((uint8_t *)th)[13] = s->tcp_flags;
	} else {
		struct udphdr *uh = (void *)(buf + off);

		uh->source = htons(s->sport);
		uh->dest = htons(s->dport);
		uh->len = htons(sizeof(*uh));
	}
	off += l4len;
	return off - s->truncate;
}

static int run(struct bpf_program *prog, const struct pkt_spec *s)
{
	unsigned char buf[256];
	struct __sk_buff ctx = { .ifindex = LO_IFINDEX };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));
	size_t len = build(s, buf);

	/* the kernel wants at least an Ethernet header's worth */
	opts.data_size_in = (__u32)(len < 14 ? 14 : len);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0);
	return (int)opts.retval;
}

/* ---- map contents ----------------------------------------------------- */

static void put_ip4(const char *cidr_addr, int plen, const struct tr_ipinfo *v)
{
	struct tr_ip4_lpm_key k = { .prefixlen = 32u + (unsigned)plen, .epoch = EPOCH };

	inet_pton(AF_INET, cidr_addr, &k.addr);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.tr_ip4_info), &k, v, 0), 0);
}

static void put_ip6(const char *addr, int plen, const struct tr_ipinfo *v)
{
	struct tr_ip6_lpm_key k = { .prefixlen = 32u + (unsigned)plen, .epoch = EPOCH };

	inet_pton(AF_INET6, addr, k.addr);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.tr_ip6_info), &k, v, 0), 0);
}

static uint64_t stat_sum(uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[256] = {}, sum = 0;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.tr_stats), &idx, vals), 0);
	for (int i = 0; i < ncpu && i < 256; i++)
		sum += vals[i];
	return sum;
}

static int setup(void **state)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct tr_ipinfo web = { .dst_class = CLS_DST, .src_class = CLS_DST, .identity = 2,
				 .workload = 2, .ifindex = 99, .flags = TR_IP_F_WORKLOAD | TR_IP_F_LOCAL };
	struct tr_ipinfo client = { .src_class = CLS_CLIENT, .identity = 1, .workload = 1,
				    .ifindex = LO_IFINDEX, .flags = TR_IP_F_WORKLOAD | TR_IP_F_LOCAL };
	struct tr_ipinfo world = { .src_class = CLS_WORLD };
	struct tr_pol_cfg cfg = { .epoch = EPOCH };
	struct tr_pol_key allow = { .dst_class = CLS_DST, .src_class = CLS_CLIENT, .port = 80 };
	struct tr_pol_verdict v_allow = { .action = TR_ACT_ALLOW, .rule = 0, .policy = 3 };
	struct tr_pol_verdict v_default = { .action = TR_ACT_DENY, .flags = TR_VERD_F_DEFAULT,
					    .rule = TR_RULE_NONE };
	uint32_t dst = CLS_DST, zero = 0;

	(void)state;
	if (geteuid() != 0 || pins_check_bpffs("/sys/fs/bpf"))
		return -1;
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/trtest-tc-%d", getpid());
	if (mkdir(pin_dir, 0700))
		return -1;
	opts.pin_root_path = pin_dir;
	skel = tr_tc__open_opts(&opts);
	if (!skel || tr_tc__load(skel))
		return -1;

	bpf_map_update_elem(bpf_map__fd(skel->maps.tr_pol_cfg), &zero, &cfg, 0);
	put_ip4("10.0.0.2", 32, &web);
	put_ip4("10.0.0.1", 32, &client);
	put_ip4("0.0.0.0", 0, &world);
	put_ip6("fd00::2", 128, &web);
	put_ip6("fd00::1", 128, &client);
	put_ip6("::", 0, &world);
	bpf_map_update_elem(bpf_map__fd(skel->maps.tr_pol), &allow, &v_allow, 0);
	bpf_map_update_elem(bpf_map__fd(skel->maps.tr_pol_dst), &dst, &v_default, 0);
	return 0;
}

static int teardown(void **state)
{
	struct bpf_map *map;

	(void)state;
	if (skel) {
		bpf_object__for_each_map(map, skel->obj)
			bpf_map__unpin(map, NULL);
		tr_tc__destroy(skel);
	}
	rmdir(pin_dir);
	return 0;
}

/* ---- rows ------------------------------------------------------------- */

struct row {
	const char *what;
	struct pkt_spec pkt;
	int want;
	int counter; /* tr_stats index that must grow by one, or 0 */
};

#define SYN 0x02
#define ACK 0x10

static const struct row to_wl_rows[] = {
	{ "SYN from an allowed workload", { AF_INET, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 4000, 80, SYN }, TC_ACT_OK, TR_STAT_POL_ALLOW },
	{ "SYN from the world: default deny", { AF_INET, "192.0.2.9", "10.0.0.2", IPPROTO_TCP, 4000, 80, SYN }, TC_ACT_SHOT, -TR_REASON_POLICY_NO_ALLOW },
	{ "SYN from the client to another port", { AF_INET, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 4000, 81, SYN }, TC_ACT_SHOT, -TR_REASON_POLICY_NO_ALLOW },
	{ "ACK from the world: not a new connection", { AF_INET, "192.0.2.9", "10.0.0.2", IPPROTO_TCP, 4000, 80, ACK }, TC_ACT_OK, 0 },
	{ "SYN-ACK from the world: a reply", { AF_INET, "192.0.2.9", "10.0.0.2", IPPROTO_TCP, 80, 4000, SYN | ACK }, TC_ACT_OK, 0 },
	{ "UDP from the world", { AF_INET, "192.0.2.9", "10.0.0.2", IPPROTO_UDP, 4000, 80 }, TC_ACT_SHOT, -TR_REASON_POLICY_NO_ALLOW },
	{ "UDP from the client", { AF_INET, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 4000, 80 }, TC_ACT_OK, TR_STAT_POL_ALLOW },
	{ "SYN with IPv4 options from the world", { AF_INET, "192.0.2.9", "10.0.0.2", IPPROTO_TCP, 4000, 80, SYN, .ip_options = 2 }, TC_ACT_SHOT, -TR_REASON_POLICY_NO_ALLOW },
	{ "UDP non-first fragment: no ports, left to the stack", { AF_INET, "192.0.2.9", "10.0.0.2", IPPROTO_UDP, 4000, 80, .frag_later = true }, TC_ACT_OK, 0 },
	{ "truncated TCP header: never crashes, passes to the stack", { AF_INET, "192.0.2.9", "10.0.0.2", IPPROTO_TCP, 4000, 80, SYN, .truncate = 10 }, TC_ACT_OK, 0 },
	{ "SYN to an address no policy covers", { AF_INET, "192.0.2.9", "10.0.0.3", IPPROTO_TCP, 4000, 80, SYN }, TC_ACT_OK, 0 },
	{ "ARP", { 0 }, TC_ACT_OK, 0 },
	{ "IPv6 SYN from the client", { AF_INET6, "fd00::1", "fd00::2", IPPROTO_TCP, 4000, 80, SYN }, TC_ACT_OK, TR_STAT_POL_ALLOW },
	{ "IPv6 SYN from the world", { AF_INET6, "2001:db8::9", "fd00::2", IPPROTO_TCP, 4000, 80, SYN }, TC_ACT_SHOT, -TR_REASON_POLICY_NO_ALLOW },
	{ "IPv6 truncated TCP header", { AF_INET6, "2001:db8::9", "fd00::2", IPPROTO_TCP, 4000, 80, SYN, .truncate = 10 }, TC_ACT_OK, 0 },
};

static const struct row from_wl_rows[] = {
	{ "a workload sending from its own address, on its own device", { AF_INET, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 4000, 80, SYN }, TC_ACT_OK, 0 },
	{ "spoofed source: another workload's address", { AF_INET, "10.0.0.2", "10.0.0.9", IPPROTO_TCP, 4000, 80, SYN }, TC_ACT_SHOT, -TR_REASON_SPOOFED },
	{ "spoofed source: an address outside the mesh", { AF_INET, "192.0.2.9", "10.0.0.2", IPPROTO_UDP, 4000, 53 }, TC_ACT_SHOT, -TR_REASON_SPOOFED },
	{ "IPv6 own address", { AF_INET6, "fd00::1", "fd00::2", IPPROTO_UDP, 4000, 53 }, TC_ACT_OK, 0 },
	{ "IPv6 link-local (neighbour discovery) passes", { AF_INET6, "fe80::1", "fd00::2", IPPROTO_UDP, 4000, 53 }, TC_ACT_OK, 0 },
	{ "IPv6 spoofed", { AF_INET6, "fd00::2", "fd00::1", IPPROTO_UDP, 4000, 53 }, TC_ACT_SHOT, -TR_REASON_SPOOFED },
	{ "ARP passes", { 0 }, TC_ACT_OK, 0 },
};

static void run_rows(struct bpf_program *prog, const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t before = rows[i].counter ? stat_sum((uint32_t)rows[i].counter) : 0;
		int got = run(prog, &rows[i].pkt);

		print_message("row: %s -> %d\n", rows[i].what, got);
		assert_int_equal(got, rows[i].want);
		if (rows[i].counter)
			assert_int_equal(stat_sum((uint32_t)rows[i].counter), before + 1);
	}
}

static void test_to_workload(void **state)
{
	(void)state;
	run_rows(skel->progs.tr_tc_to_wl, to_wl_rows, sizeof(to_wl_rows) / sizeof(to_wl_rows[0]));
}

static void test_from_workload(void **state)
{
	(void)state;
	run_rows(skel->progs.tr_tc_from_wl, from_wl_rows,
		 sizeof(from_wl_rows) / sizeof(from_wl_rows[0]));
}

/* A UDP datagram the workload sent makes the reply a reply, not a new flow. */
static void test_udp_reply_tracking(void **state)
{
	struct pkt_spec out = { AF_INET, "10.0.0.1", "192.0.2.53", IPPROTO_UDP, 5555, 53 };
	struct pkt_spec reply = { AF_INET, "192.0.2.53", "10.0.0.1", IPPROTO_UDP, 53, 5555 };
	struct pkt_spec other = { AF_INET, "192.0.2.53", "10.0.0.2", IPPROTO_UDP, 53, 5556 };
	struct tr_ipinfo client = { .src_class = CLS_CLIENT, .dst_class = CLS_DST, .identity = 1,
				    .workload = 1, .ifindex = LO_IFINDEX,
				    .flags = TR_IP_F_WORKLOAD | TR_IP_F_LOCAL };

	(void)state;
	/* make the client a policy-selected destination too */
	put_ip4("10.0.0.1", 32, &client);
	assert_int_equal(run(skel->progs.tr_tc_to_wl, &reply), TC_ACT_SHOT);
	assert_int_equal(run(skel->progs.tr_tc_from_wl, &out), TC_ACT_OK);
	assert_int_equal(run(skel->progs.tr_tc_to_wl, &reply), TC_ACT_OK);
	/* a datagram to another port is still a new flow */
	assert_int_equal(run(skel->progs.tr_tc_to_wl, &other), TC_ACT_SHOT);
}

/* With no policy state (epoch 0) everything passes: nothing is enforced. */
static void test_no_policy_state(void **state)
{
	struct tr_pol_cfg off = { .epoch = 0 }, on = { .epoch = EPOCH };
	struct pkt_spec syn = { AF_INET, "192.0.2.9", "10.0.0.2", IPPROTO_TCP, 4000, 80, SYN };
	uint32_t zero = 0;
	int fd = bpf_map__fd(skel->maps.tr_pol_cfg);

	(void)state;
	assert_int_equal(bpf_map_update_elem(fd, &zero, &off, 0), 0);
	assert_int_equal(run(skel->progs.tr_tc_to_wl, &syn), TC_ACT_OK);
	assert_int_equal(bpf_map_update_elem(fd, &zero, &on, 0), 0);
	assert_int_equal(run(skel->progs.tr_tc_to_wl, &syn), TC_ACT_SHOT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_to_workload),
		cmocka_unit_test(test_from_workload),
		cmocka_unit_test(test_udp_reply_tracking),
		cmocka_unit_test(test_no_policy_state),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests_name("tc_prog", tests, setup, teardown);
}
