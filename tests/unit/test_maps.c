// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * maps_apply against real BPF maps (needs root and a bpf filesystem; skips
 * otherwise). The maps are the agent's own, loaded from the skeleton and
 * pinned in a private directory, some shrunk so that "map full" is easy to
 * reach. Checks: what a connect would see after each apply, the swap to
 * fresh tables, removal of what is gone, refusal of an over-capacity
 * change with the old state intact, and adoption after a restart.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "compile.h"
#include "config.h"
#include "maps.h"
#include "pins.h"
#include "sock.skel.h"

#define SMALL_SVC_MAP 4

struct env {
	char dir[128];
	struct tr_sock *skel;
	struct tr_map_fds fds;
};

static int setup(void **state)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct env *e = calloc(1, sizeof(*e));

	if (!e || geteuid() != 0 || pins_check_bpffs("/sys/fs/bpf")) {
		free(e);
		print_message("skipped: needs root and bpffs at /sys/fs/bpf\n");
		return -1;
	}
	snprintf(e->dir, sizeof(e->dir), "/sys/fs/bpf/trtest-maps-%d", getpid());
	if (mkdir(e->dir, 0700)) {
		free(e);
		return -1;
	}
	opts.pin_root_path = e->dir;
	e->skel = tr_sock__open_opts(&opts);
	if (!e->skel)
		return -1;
	bpf_map__set_max_entries(e->skel->maps.tr_lb4_svc, SMALL_SVC_MAP);
	if (tr_sock__load(e->skel))
		return -1;
	e->fds.meta = bpf_map__fd(e->skel->maps.tr_meta);
	e->fds.lb4_svc = bpf_map__fd(e->skel->maps.tr_lb4_svc);
	e->fds.lb6_svc = bpf_map__fd(e->skel->maps.tr_lb6_svc);
	e->fds.slot = bpf_map__fd(e->skel->maps.tr_lb_slot);
	e->fds.be = bpf_map__fd(e->skel->maps.tr_lb_be);
	e->fds.bestat = bpf_map__fd(e->skel->maps.tr_lb_bestat);
	e->fds.svcinfo = bpf_map__fd(e->skel->maps.tr_lb_svcinfo);
	e->fds.rbe = bpf_map__fd(e->skel->maps.tr_lb_rbe);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	struct bpf_map *map;

	bpf_object__for_each_map(map, e->skel->obj)
		bpf_map__unpin(map, NULL);
	tr_sock__destroy(e->skel);
	rmdir(e->dir);
	free(e);
	return 0;
}

static const char *svc_yaml(char *buf, size_t len, int n_services, int n_backends,
			    int first_backend)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int s = 1; s <= n_services; s++) {
		off += (size_t)snprintf(buf + off, len - off,
			"---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: t}\n"
			"spec: {clusterIP: 10.96.0.%d, ports: [{port: 80, targetPort: 8080}]}\n"
			"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			"metadata: {name: s%d-a, namespace: t, labels: {kubernetes.io/service-name: s%d}}\n"
			"addressType: IPv4\nendpoints:\n", s, s, s, s);
		for (int b = 0; b < n_backends; b++)
			off += (size_t)snprintf(buf + off, len - off,
				"- {addresses: [10.244.%d.%d]}\n", s, first_backend + b);
	}
	return buf;
}

static void compile_str(const char *yaml, struct tr_config *cfg, struct tr_compiled *c)
{
	struct tr_diags d = {};

	assert_int_equal(config_load_buffer("t.yaml", yaml, strlen(yaml), cfg, &d), 0);
	assert_int_equal(compile_config(cfg, c, &d), 0);
	diags_free(&d);
}

/* Resolve VIP as the BPF program does: service entry, then every slot. */
static int lookup_backends(const struct env *e, const char *vip, uint16_t port,
			   uint32_t *slots, char backends[][32], size_t max)
{
	struct tr_lb4_key k = {};
	struct tr_lb_svc v;
	size_t n = 0;

	inet_pton(AF_INET, vip, &k.addr);
	k.port = htons(port);
	k.proto = TR_PROTO_TCP;
	if (bpf_map_lookup_elem(e->fds.lb4_svc, &k, &v))
		return -errno;
	*slots = v.slots;
	for (uint32_t i = 0; i < v.slots && n < max; i++) {
		struct tr_lb_slot_key sk = { .table = v.table, .slot = i };
		struct tr_lb_slot sv;

		if (bpf_map_lookup_elem(e->fds.slot, &sk, &sv))
			return -EIO; /* a hole in a live table */
		inet_ntop(AF_INET, &sv.addr[0], backends[n], 32);
		snprintf(backends[n] + strlen(backends[n]), 32 - strlen(backends[n]),
			 ":%u", ntohs(sv.port));
		n++;
	}
	return (int)n;
}

static long count(int fd, size_t ksz)
{
	return pins_map_count(fd, ksz);
}

static void test_apply_change_remove(void **state)
{
	struct env *e = *state;
	struct tr_applied st;
	struct tr_config cfg = {};
	struct tr_compiled c = {};
	struct apply_result res;
	char yaml[8192], msg[256], be[8][32];
	uint32_t slots;

	assert_int_equal(maps_adopt(&e->fds, &st), 0);
	assert_int_equal(st.meta.generation, 0);

	/* generation 1: three services, two backends each */
	compile_str(svc_yaml(yaml, sizeof(yaml), 3, 2, 2), &cfg, &c);
	assert_int_equal(maps_apply(&e->fds, &st, &c, &res, msg, sizeof(msg)), 0);
	assert_int_equal(res.svc_added, 3);
	assert_int_equal(res.be_added, 6);
	assert_int_equal(st.meta.generation, 1);
	assert_int_equal(lookup_backends(e, "10.96.0.2", 80, &slots, be, 8), 2);
	assert_string_equal(be[0], "10.244.2.2:8080");
	assert_string_equal(be[1], "10.244.2.3:8080");
	assert_int_equal(count(e->fds.slot, sizeof(struct tr_lb_slot_key)), 6);
	/* every backend names its service for the accepting side's metrics */
	assert_int_equal(count(e->fds.rbe, sizeof(struct tr_lb_rbe_key)), 6);
	{
		struct tr_lb_rbe_key rk = { .port = htons(8080), .family = TR_AF_INET,
					    .proto = TR_PROTO_TCP };
		__u32 svc = 0;

		inet_pton(AF_INET, "10.244.2.3", &rk.addr[0]);
		assert_int_equal(bpf_map_lookup_elem(e->fds.rbe, &rk, &svc), 0);
		assert_int_not_equal(svc, 0);
	}
	compiled_free(&c);
	config_free(&cfg);

	/* generation 2: service 3 gone; 1 and 2 get backends .3 and .4 */
	compile_str(svc_yaml(yaml, sizeof(yaml), 2, 2, 3), &cfg, &c);
	assert_int_equal(maps_apply(&e->fds, &st, &c, &res, msg, sizeof(msg)), 0);
	assert_int_equal(res.svc_removed, 1);
	assert_int_equal(res.svc_changed, 2);
	assert_int_equal(res.be_added, 2);   /* .4 twice */
	assert_int_equal(res.be_removed, 4); /* .2 of s1 and s2, both of s3 */
	assert_int_equal(lookup_backends(e, "10.96.0.3", 80, &slots, be, 8), -ENOENT);
	assert_int_equal(lookup_backends(e, "10.96.0.1", 80, &slots, be, 8), 2);
	assert_string_equal(be[0], "10.244.1.3:8080");
	assert_string_equal(be[1], "10.244.1.4:8080");
	/* old tables are gone: only the live ones remain */
	assert_int_equal(count(e->fds.slot, sizeof(struct tr_lb_slot_key)), 4);
	assert_int_equal(count(e->fds.be, sizeof(__u32)), 4);
	assert_int_equal(count(e->fds.svcinfo, sizeof(__u32)), 2);
	assert_int_equal(count(e->fds.rbe, sizeof(struct tr_lb_rbe_key)), 4);
	assert_int_equal(st.meta.generation, 2);
	compiled_free(&c);
	config_free(&cfg);

	/* the same configuration again changes nothing in the tables */
	compile_str(svc_yaml(yaml, sizeof(yaml), 2, 2, 3), &cfg, &c);
	assert_int_equal(maps_apply(&e->fds, &st, &c, &res, msg, sizeof(msg)), 0);
	assert_int_equal(res.slots_written, 0);
	assert_int_equal(res.svc_unchanged, 2);
	compiled_free(&c);
	config_free(&cfg);
	applied_free(&st);
}

static void test_full_map_is_refused_whole(void **state)
{
	struct env *e = *state;
	struct tr_applied st;
	struct tr_config cfg = {};
	struct tr_compiled c = {};
	struct apply_result res;
	char yaml[16384], msg[256], be[8][32];
	uint32_t slots;
	__u64 gen;

	assert_int_equal(maps_adopt(&e->fds, &st), 0);
	gen = st.meta.generation;
	/* one more service than tr_lb4_svc holds */
	compile_str(svc_yaml(yaml, sizeof(yaml), SMALL_SVC_MAP + 1, 1, 9), &cfg, &c);
	assert_int_equal(maps_apply(&e->fds, &st, &c, &res, msg, sizeof(msg)), -ENOSPC);
	assert_non_null(strstr(msg, TR_MAP_LB4_SVC));
	assert_non_null(strstr(msg, "capacity"));
	/* the map is named for the map-pressure metric */
	assert_non_null(res.failed_map);
	assert_string_equal(res.failed_map, TR_MAP_LB4_SVC);
	/* the running state is exactly the old one */
	assert_int_equal(st.meta.generation, gen);
	assert_int_equal(lookup_backends(e, "10.96.0.1", 80, &slots, be, 8), 2);
	assert_string_equal(be[0], "10.244.1.3:8080");
	assert_int_equal(lookup_backends(e, "10.96.0.5", 80, &slots, be, 8), -ENOENT);
	assert_int_equal(count(e->fds.slot, sizeof(struct tr_lb_slot_key)), 4);
	assert_int_equal(count(e->fds.be, sizeof(__u32)), 4);
	compiled_free(&c);
	config_free(&cfg);
	applied_free(&st);
}

/* A restarted agent adopts the maps, then replaces them without a gap. */
static void test_adopt_then_apply(void **state)
{
	struct env *e = *state;
	struct tr_applied st;
	struct tr_config cfg = {};
	struct tr_compiled c = {};
	struct apply_result res;
	char yaml[8192], msg[256], be[8][32];
	uint32_t slots;
	struct tr_lb_slot_key orphan = { .table = 999999, .slot = 0 };
	struct tr_lb_slot ov = {};

	/* an interrupted apply left a table nothing points to */
	assert_int_equal(bpf_map_update_elem(e->fds.slot, &orphan, &ov, BPF_ANY), 0);
	assert_int_equal(maps_adopt(&e->fds, &st), 0);
	assert_int_equal(st.n_svcs, 2);
	assert_int_equal(st.n_bes, 4);
	assert_int_not_equal(bpf_map_lookup_elem(e->fds.slot, &orphan, &ov), 0);

	compile_str(svc_yaml(yaml, sizeof(yaml), 2, 1, 7), &cfg, &c);
	assert_int_equal(maps_apply(&e->fds, &st, &c, &res, msg, sizeof(msg)), 0);
	assert_int_equal(lookup_backends(e, "10.96.0.2", 80, &slots, be, 8), 1);
	assert_string_equal(be[0], "10.244.2.7:8080");
	assert_int_equal(count(e->fds.slot, sizeof(struct tr_lb_slot_key)), 2);
	assert_int_equal(count(e->fds.be, sizeof(__u32)), 2);
	compiled_free(&c);
	config_free(&cfg);
	applied_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_change_remove),
		cmocka_unit_test(test_full_map_is_refused_whole),
		cmocka_unit_test(test_adopt_then_apply),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests_name("maps", tests, setup, teardown);
}
