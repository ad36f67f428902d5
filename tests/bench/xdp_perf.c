// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * xdp_perf: the uplink load balancer's benchmarks (suite "xdp" of
 * scripts/bench; tests/bench/README.md).
 *
 *   xdp_perf prog [--rounds R] [--repeat N] [--flows K]
 *       BPF_PROG_TEST_RUN of bpf/xdp.bpf.c on its own maps (pinned in a
 *       private directory, removed at exit): one service VIP with a Maglev
 *       ring of two local backends, the policy and mTLS maps filled as the
 *       agent fills them for a mesh without policies. The kernel times each
 *       run (duration: ns per repetition). tr_xdp_lb rewrites the packet,
 *       and BPF_PROG_TEST_RUN does not restore it between repetitions, so
 *       its packets run one per call (repeat 1), K per case, and the
 *       median is taken; tr_xdp_pass changes nothing and also runs with
 *       repeat N. Per round, in turns (the order rotates):
 *         pass_rep   tr_xdp_pass, repeat N: the program alone
 *         pass_one   tr_xdp_pass, K calls of repeat 1: the program plus the
 *                    timer's own cost in a call of one repetition
 *         est        tr_xdp_lb, K calls: a TCP ACK of an established flow
 *         est_rep    tr_xdp_lb, K/10 calls of repeat 250: the same ACK,
 *                    with repeat: each backend address:port is also a
 *                    service (a loop fill_loop() sets up) whose
 *                    established flow leads back to the VIP, so every
 *                    repetition is an established-flow packet doing the
 *                    whole of that path (service, connection table,
 *                    backend, rewrite with checksums, redirect) on the
 *                    rewritten packet of the one before (250: each
 *                    repetition forwards, so takes one off the TTL)
 *         new        tr_xdp_lb, K calls: K TCP SYNs of K new flows
 *       Ratios est/pass_one and new/pass_one are paired within a round;
 *       "net" figures subtract the single-call overhead (pass_one -
 *       pass_rep), i.e. est_net = est - pass_one + pass_rep: what the
 *       program costs a packet. One JSON document on stdout.
 *   xdp_perf flood --target A.B.C.D:PORT --duration S [--size BYTES]
 *       UDP datagrams (without a checksum: SO_NO_CHECK, so that what a
 *       veth carries is a whole frame) as fast as sendmmsg goes, one flow;
 *       prints {"sent": N, "seconds": S}.
 *
 *   xdp_perf sink --listen A.B.C.D:PORT --duration S
 *       counts the datagrams that arrive within S seconds of the first one;
 *       prints {"received": N, "seconds": S}.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <trestle/abi.h>
#include <trestle/policy.h>
#include <trestle/tunnel.h>
#include <trestle/xdp.h>

#include "xdp.skel.h"

#ifndef SO_NO_CHECK
#define SO_NO_CHECK 11
#endif

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_ep(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* ---- flood / sink ---------------------------------------------------------- */

#define BATCH 64

static int do_flood(const char *target, double duration, size_t size)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in sa;
	char buf[2048] = "xdp_perf";
	unsigned long long sent = 0;
	double t0, t1;
	int fd, one = 1;

	if (parse_ep(target, &sa) || size > sizeof(buf)) {
		fprintf(stderr, "xdp_perf flood: bad --target or --size\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("xdp_perf flood");
		return 1;
	}
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = size;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_s();
	do {
		int n = sendmmsg(fd, msgs, BATCH, 0);

		if (n > 0)
			sent += (unsigned long long)n;
		else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
			perror("xdp_perf flood: sendmmsg");
			return 1;
		}
		t1 = now_s();
	} while (t1 - t0 < duration);
	printf("{\"sent\": %llu, \"seconds\": %.6f}\n", sent, t1 - t0);
	close(fd);
	return 0;
}

static int do_sink(const char *listen_ep, double duration)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	static char bufs[BATCH][2048];
	struct sockaddr_in sa;
	struct timeval tv = { 0, 200000 };
	unsigned long long got = 0;
	double first = 0, last = 0, start = now_s();
	int fd, big = 8 << 20;

	if (parse_ep(listen_ep, &sa)) {
		fprintf(stderr, "xdp_perf sink: bad --listen\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("xdp_perf sink");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* wait up to 10 s for the first datagram, then count for duration */
	for (;;) {
		int n = recvmmsg(fd, msgs, BATCH, 0, NULL);
		double t = now_s();

		if (n > 0) {
			if (!got)
				first = t;
			got += (unsigned long long)n;
			last = t;
		}
		if (got && t - first >= duration)
			break;
		if (!got && t - start > 10)
			break;
	}
	printf("{\"received\": %llu, \"seconds\": %.6f}\n", got, got ? last - first : 0.0);
	close(fd);
	return got ? 0 : 1;
}

/* ---- prog ------------------------------------------------------------------ */

static struct tr_xdp *skel;
static char pin_dir[128];

#define VIP "203.0.113.10"
#define CLIENT_NET 0xc6336400u /* 198.51.100.0 */

static void fail(const char *what)
{
	fprintf(stderr, "xdp_perf prog: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void put(struct bpf_map *m, const void *k, const void *v)
{
	if (bpf_map_update_elem(bpf_map__fd(m), k, v, BPF_ANY))
		fail(bpf_map__name(m));
}

/* Mark a destination port as some external key's (tr_xdp_ports). */
static void port_bit(uint16_t port)
{
	uint32_t w = port / 64;
	uint64_t v = 0;

	bpf_map_lookup_elem(bpf_map__fd(skel->maps.tr_xdp_ports), &w, &v);
	v |= 1ull << (port % 64);
	put(skel->maps.tr_xdp_ports, &w, &v);
}

static void fill_maps(void)
{
	struct tr_xdp_cfg cfg = { .hash_seed = 1 };
	struct tr_pol_cfg pcfg = { .epoch = 1 };
	struct tr_lb4_key k = { .port = htons(80), .proto = TR_PROTO_TCP };
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_INNER_MAP);
	uint32_t zero = 0, ring = 1, size = 1031;
	struct tr_xdp_svc svc = { .svc_id = 1, .ring = 1, .ring_size = size };
	int fd;

	put(skel->maps.tr_xdp_cfg, &zero, &cfg);
	put(skel->maps.tr_pol_cfg, &zero, &pcfg);
	port_bit(80);
	port_bit(8080); /* fill_loop()'s services */
	for (uint32_t id = 1; id <= 2; id++) {
		struct tr_xdp_be be = { .port = htons(8080), .family = TR_AF_INET,
					.flags = TR_XDP_BE_F_LOCAL, .ifindex = 1,
					.mac = { 2, 0, 0, 0, 0, (uint8_t)id },
					.dev_mac = { 2, 0, 0, 0, 1, (uint8_t)id } };
		struct tr_ip4_lpm_key lk = { .prefixlen = 64, .epoch = 1 };
		struct tr_ipinfo info = { .workload = id, .flags = TR_IP_F_WORKLOAD | TR_IP_F_LOCAL,
					  .ifindex = 1 };

		be.addr[0] = htonl(0x0af40100u + id); /* 10.244.1.x */
		put(skel->maps.tr_xdp_backend, &id, &be);
		lk.addr = be.addr[0];
		put(skel->maps.tr_ip4_info, &lk, &info);
	}
	{
		/* the whole space: the world class, as the agent writes it */
		struct tr_ip4_lpm_key lk = { .prefixlen = 32, .epoch = 1 };
		struct tr_ipinfo info = {};

		put(skel->maps.tr_ip4_info, &lk, &info);
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tr_xdp_r1", 4, 4, size, &o);
	if (fd < 0)
		fail("ring");
	for (uint32_t s = 0; s < size; s++) {
		uint32_t id = 1 + s % 2;

		if (bpf_map_update_elem(fd, &s, &id, BPF_ANY))
			fail("ring slot");
	}
	put(skel->maps.tr_xdp_ring, &ring, &fd);
	close(fd);
	inet_pton(AF_INET, VIP, &k.addr);
	put(skel->maps.tr_xdp4_vip, &k, &svc);
}

static uint16_t csum16(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet + IPv4 + TCP (no payload) from saddr:sport to the VIP. */
static size_t build(uint8_t *f, uint32_t saddr, uint16_t sport, uint8_t flags)
{
	uint8_t *ip = f + 14, *tcp = ip + 20;
	uint32_t daddr, sum = 0;
	uint8_t ph[12];

	memset(f, 0, 54);
	memcpy(f, "\x02\x00\x00\x00\x00\x10\x02\x00\x00\x00\x00\x20", 12);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = 40;
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	saddr = htonl(saddr);
	memcpy(ip + 12, &saddr, 4);
	inet_pton(AF_INET, VIP, &daddr);
	memcpy(ip + 16, &daddr, 4);
	ip[10] = 0;
	ip[11] = 0;
	{
		uint16_t c = htons(csum16(ip, 20, 0));

		memcpy(ip + 10, &c, 2);
	}
	tcp[0] = (uint8_t)(sport >> 8);
	tcp[1] = (uint8_t)sport;
	tcp[2] = 0;
	tcp[3] = 80;
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	tcp[14] = 0xff;
	tcp[15] = 0xff;
	memcpy(ph, ip + 12, 8);
	ph[8] = 0;
	ph[9] = IPPROTO_TCP;
	ph[10] = 0;
	ph[11] = 20;
	for (int i = 0; i < 12; i += 2)
		sum += (uint32_t)(ph[i] << 8 | ph[i + 1]);
	{
		uint16_t c = htons(csum16(tcp, 20, sum));

		memcpy(tcp + 16, &c, 2);
	}
	return 54;
}

/* ns per repetition as the kernel timed it; exits on failure. */
static double run(int prog_fd, const uint8_t *pkt, size_t len, unsigned int repeat,
		  unsigned int want)
{
	uint8_t out[256];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		fail("BPF_PROG_TEST_RUN");
	if (opts.retval != want) {
		int ncpu = libbpf_num_possible_cpus(), sfd = bpf_map__fd(skel->maps.tr_stats);

		fprintf(stderr, "xdp_perf prog: verdict %u, expected %u; counters:", opts.retval,
			want);
		for (uint32_t i = 0; ncpu > 0 && i < 64; i++) {
			uint64_t vals[ncpu], sum = 0;

			if (bpf_map_lookup_elem(sfd, &i, vals))
				break;
			for (int c = 0; c < ncpu; c++)
				sum += vals[c];
			if (sum)
				fprintf(stderr, " [%u]=%llu", i, (unsigned long long)sum);
		}
		fprintf(stderr, "\n");
		exit(1);
	}
	return (double)opts.duration;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* q-quantile of v[0..n-1] (sorted in place). */
static double quant(double *v, size_t n, double q)
{
	double pos;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_d);
	pos = q * (double)(n - 1);
	i = (size_t)pos;
	return i + 1 < n ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v[i];
}

static void cleanup(void)
{
	struct bpf_map *map;

	if (skel) {
		bpf_object__for_each_map(map, skel->obj)
			bpf_map__unpin(map, NULL);
		tr_xdp__destroy(skel);
		skel = NULL;
	}
	if (pin_dir[0])
		rmdir(pin_dir);
}

enum { C_PASS_REP, C_PASS_ONE, C_EST, C_NEW, C_EST_REP, N_CASES };
static const char *const case_names[N_CASES] = { "pass_rep", "pass_one", "est", "new",
						 "est_rep" };

static void json_stat(const char *name, double *v, size_t n, bool last)
{
	double p25 = quant(v, n, 0.25), med = quant(v, n, 0.5), p75 = quant(v, n, 0.75);

	printf("    \"%s\": {\"median\": %.2f, \"p25\": %.2f, \"p75\": %.2f}%s\n", name, med, p25,
	       p75, last ? "" : ",");
}

/*
 * For est_rep: make each backend address:8080 a service of its own whose
 * one backend is the VIP:80 (local), and give the client's flow to each
 * an established entry, so that a rewritten packet is again an
 * established-flow packet (to the VIP, then to the backend, ...).
 */
static void fill_loop(uint32_t client, uint16_t sport)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_INNER_MAP);
	uint32_t back_id = 3, ring = 2, slot = 0;
	struct tr_xdp_svc svc = { .svc_id = 2, .ring = 2, .ring_size = 1 };
	struct tr_xdp_be be = { .port = htons(80), .family = TR_AF_INET,
				.flags = TR_XDP_BE_F_LOCAL, .ifindex = 1,
				.mac = { 2, 0, 0, 0, 0, 0x10 }, .dev_mac = { 2, 0, 0, 0, 1, 0x10 } };
	int fd;

	inet_pton(AF_INET, VIP, &be.addr[0]);
	put(skel->maps.tr_xdp_backend, &back_id, &be);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tr_xdp_r2", 4, 4, 1, &o);
	if (fd < 0 || bpf_map_update_elem(fd, &slot, &back_id, BPF_ANY))
		fail("loop ring");
	put(skel->maps.tr_xdp_ring, &ring, &fd);
	close(fd);
	for (uint32_t id = 1; id <= 2; id++) {
		struct tr_lb4_key k = { .addr = htonl(0x0af40100u + id), .port = htons(8080),
					.proto = TR_PROTO_TCP };
		struct tr_xdp4_flow f = { .saddr = htonl(client), .daddr = k.addr,
					  .sport = htons(sport), .dport = htons(8080),
					  .proto = IPPROTO_TCP };
		struct tr_xdp_ct ct = { .backend_id = back_id, .svc_id = 2 };

		put(skel->maps.tr_xdp4_vip, &k, &svc);
		put(skel->maps.tr_xdp4_conn, &f, &ct);
	}
}

/*
 * est_rep: median over K/10 calls of EST_LOOP_REPEAT repetitions of the
 * established flow's ACK around the loop (fill_loop). Forwarding takes one
 * off the TTL each time, so a call starts at TTL 255 and stays above 1.
 */
#define EST_LOOP_REPEAT 250
static double est_loop(int prog, double *one, unsigned int flows, uint32_t saddr)
{
	unsigned int calls = flows / 10 ? flows / 10 : 1;
	uint8_t pkt[64];
	size_t len = build(pkt, saddr, 40000, 0x10);
	uint16_t c;

	pkt[14 + 8] = 255;
	pkt[14 + 10] = pkt[14 + 11] = 0;
	c = htons(csum16(pkt + 14, 20, 0));
	memcpy(pkt + 14 + 10, &c, 2);
	for (unsigned int i = 0; i < calls; i++)
		one[i] = run(prog, pkt, len, EST_LOOP_REPEAT, XDP_REDIRECT);
	return quant(one, calls, 0.5);
}

/* Median over K single calls of prog on packets from build(saddr, 1024+f). */
static double singles(int prog, double *one, unsigned int flows, uint32_t saddr,
		      bool vary_port, uint8_t flags, unsigned int want)
{
	uint8_t pkt[64];

	for (unsigned int f = 0; f < flows; f++) {
		size_t len = build(pkt, saddr, (uint16_t)(vary_port ? 1024 + f : 40000), flags);

		one[f] = run(prog, pkt, len, 1, want);
	}
	return quant(one, flows, 0.5);
}

/*
 * Attach both programs (native XDP) to a veth pair in a network namespace
 * of this process's own, which goes when it exits. BPF_PROG_TEST_RUN with
 * repeat puts the program into the kernel's XDP dispatcher for the call
 * and takes it out after, rewriting kernel text twice per call (and
 * waiting for RCU); a program already attached to a device is in the
 * dispatcher, so the calls find it there, warm, as traffic does. Without
 * this, code layout decided ~30% of the figure for 250 repetitions.
 */
static void attach_to_veth(int lb, int pass)
{
	int a, b;

	if (unshare(CLONE_NEWNET))
		fail("unshare(CLONE_NEWNET)");
	if (system("ip link add trbx0 type veth peer name trbx1 && ip link set trbx0 up && "
		   "ip link set trbx1 up"))
		fail("a veth pair in a private namespace");
	a = (int)if_nametoindex("trbx0");
	b = (int)if_nametoindex("trbx1");
	if (!a || !b || bpf_xdp_attach(a, lb, XDP_FLAGS_DRV_MODE, NULL) ||
	    bpf_xdp_attach(b, pass, XDP_FLAGS_DRV_MODE, NULL))
		fail("attaching XDP to the veth pair");
}

static int do_prog(unsigned int rounds, unsigned int repeat, unsigned int flows)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	double *v[N_CASES], *r_est, *r_new, *r_est_rep, *net_est, *net_new;
	double *one = calloc(flows, sizeof(*one));
	uint8_t pkt[64];
	size_t len;
	int lb, pass;
	uint32_t base = CLIENT_NET;

	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/trbench-xdp-%d", getpid());
	if (mkdir(pin_dir, 0700))
		fail(pin_dir);
	atexit(cleanup);
	oo.pin_root_path = pin_dir;
	libbpf_set_print(NULL);
	skel = tr_xdp__open_opts(&oo);
	if (!skel || tr_xdp__load(skel))
		fail("loading bpf/xdp.bpf.c");
	fill_maps();
	lb = bpf_program__fd(skel->progs.tr_xdp_lb);
	pass = bpf_program__fd(skel->progs.tr_xdp_pass);
	attach_to_veth(lb, pass);
	for (int c = 0; c < N_CASES; c++)
		v[c] = calloc(rounds, sizeof(double));
	r_est = calloc(rounds, sizeof(double));
	r_new = calloc(rounds, sizeof(double));
	r_est_rep = calloc(rounds, sizeof(double));
	net_est = calloc(rounds, sizeof(double));
	net_new = calloc(rounds, sizeof(double));
	if (!one || !r_est || !r_new || !r_est_rep || !net_est || !net_new)
		fail("calloc");

	/* the established flow: its first packet makes the entry */
	len = build(pkt, base + 1, 40000, 0x02);
	run(lb, pkt, len, 1, XDP_REDIRECT);
	fill_loop(base + 1, 40000);
	for (unsigned int r = 0; r < rounds; r++) {
		for (int i = 0; i < N_CASES; i++) {
			int c = (int)((i + r) % N_CASES);

			switch (c) {
			case C_PASS_REP:
				len = build(pkt, base + 1, 40000, 0x10);
				v[c][r] = run(pass, pkt, len, repeat, XDP_PASS);
				break;
			case C_PASS_ONE:
				v[c][r] = singles(pass, one, flows, base + 2, true, 0x02, XDP_PASS);
				break;
			case C_EST:
				v[c][r] = singles(lb, one, flows, base + 1, false, 0x10, XDP_REDIRECT);
				break;
			case C_EST_REP:
				v[c][r] = est_loop(lb, one, flows, base + 1);
				break;
			case C_NEW:
				/* a source address per round: every SYN is a new flow */
				v[c][r] = singles(lb, one, flows, base + 16 + r, true, 0x02,
						  XDP_REDIRECT);
				break;
			}
		}
		r_est[r] = v[C_EST][r] / v[C_PASS_ONE][r];
		r_new[r] = v[C_NEW][r] / v[C_PASS_ONE][r];
		r_est_rep[r] = v[C_EST_REP][r] / v[C_PASS_REP][r];
		net_est[r] = v[C_EST][r] - v[C_PASS_ONE][r] + v[C_PASS_REP][r];
		net_new[r] = v[C_NEW][r] - v[C_PASS_ONE][r] + v[C_PASS_REP][r];
	}
	printf("{\n  \"rounds\": %u, \"repeat\": %u, \"calls_per_case\": %u,\n", rounds,
	       repeat, flows);
	printf("  \"ns\": {\n");
	for (int c = 0; c < N_CASES; c++)
		json_stat(case_names[c], v[c], rounds, c == N_CASES - 1);
	printf("  },\n  \"ratio\": {\n");
	json_stat("est_vs_pass", r_est, rounds, false);
	json_stat("new_vs_pass", r_new, rounds, false);
	json_stat("est_rep_vs_pass_rep", r_est_rep, rounds, true);
	printf("  },\n  \"net_ns\": {\n");
	json_stat("est", net_est, rounds, false);
	json_stat("new", net_new, rounds, true);
	printf("  }\n}\n");
	for (int c = 0; c < N_CASES; c++)
		free(v[c]);
	free(r_est);
	free(r_new);
	free(r_est_rep);
	free(net_est);
	free(net_new);
	free(one);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xdp_perf prog [--rounds R] [--repeat N] [--flows K]\n"
		"       xdp_perf flood --target A.B.C.D:PORT --duration S [--size BYTES]\n"
		"       xdp_perf sink --listen A.B.C.D:PORT --duration S\n");
}

int main(int argc, char **argv)
{
	const char *ep = NULL;
	double duration = 1;
	unsigned int rounds = 10, repeat = 1000000, flows = 2000;
	size_t size = 18;

	if (argc < 2) {
		usage();
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--rounds"))
			rounds = (unsigned int)atoi(v);
		else if (!strcmp(k, "--repeat"))
			repeat = (unsigned int)atoi(v);
		else if (!strcmp(k, "--flows"))
			flows = (unsigned int)atoi(v);
		else if (!strcmp(k, "--target") || !strcmp(k, "--listen"))
			ep = v;
		else if (!strcmp(k, "--duration"))
			duration = atof(v);
		else if (!strcmp(k, "--size"))
			size = (size_t)atoi(v);
		else {
			usage();
			return 2;
		}
	}
	if (!strcmp(argv[1], "prog")) {
		if (!rounds || rounds > 1000 || !repeat || !flows || flows > 60000) {
			usage();
			return 2;
		}
		return do_prog(rounds, repeat, flows);
	}
	if (!strcmp(argv[1], "flood") && ep && duration > 0)
		return do_flood(ep, duration, size);
	if (!strcmp(argv[1], "sink") && ep && duration > 0)
		return do_sink(ep, duration);
	usage();
	return 2;
}
