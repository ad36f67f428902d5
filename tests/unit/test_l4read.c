// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * l4read against real maps of tr_l4_stat's and tr_l4_ends' types (needs
 * root; skips without): a series' count is tr_l4_stat's on every CPU plus
 * every slot holding its key on every CPU; a slot without counts or
 * without keys adds nothing; a slot that stays busy is never read as it
 * stands (-EAGAIN); without the slots' map, tr_l4_stat alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/metrics.h>

#include "l4read.h"

struct st {
	int stat, ends, ncpus;
};

static int setup(void **state)
{
	struct st *s = calloc(1, sizeof(*s));

	*state = NULL;
	if (!s || geteuid() != 0) {
		free(s);
		return 0;
	}
	s->ncpus = libbpf_num_possible_cpus();
	s->stat = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, NULL, sizeof(struct tr_l4_key),
				 sizeof(struct tr_l4_val), 64, NULL);
	s->ends = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, NULL, sizeof(__u32),
				 sizeof(struct tr_l4_ends_slot), TR_L4_ENDS_SLOTS, NULL);
	assert_true(s->ncpus > 0);
	assert_true(s->stat >= 0);
	assert_true(s->ends >= 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct st *s = *state;

	if (s) {
		close(s->stat);
		close(s->ends);
		free(s);
	}
	return 0;
}

static struct tr_l4_key key_of(__u32 src, __u32 dst, __u32 svc, __u8 reporter)
{
	struct tr_l4_key k;

	memset(&k, 0, sizeof(k));
	k.src_workload = src;
	k.dst_workload = dst;
	k.svc_id = svc;
	k.reporter = reporter;
	return k;
}

/* tr_l4_stat[k] = v on CPU 0 and 2 x v on every other CPU. */
static void put_stat(struct st *s, const struct tr_l4_key *k, __u64 opened, __u64 sent)
{
	struct tr_l4_val *v = calloc((size_t)s->ncpus, sizeof(*v));

	assert_non_null(v);
	for (int c = 0; c < s->ncpus; c++) {
		v[c].opened = c ? 2 * opened : opened;
		v[c].closed = v[c].opened;
		v[c].sent_bytes = c ? 2 * sent : sent;
	}
	assert_int_equal(bpf_map_update_elem(s->stat, k, v, BPF_ANY), 0);
	free(v);
}

/* Slot idx: on CPU cpu, the given keys and counts (other CPUs: empty). */
static void put_slot(struct st *s, __u32 idx, int cpu, const struct tr_l4_key *keys,
		     __u8 nkeys, __u64 opened, __u64 sent, __u32 busy)
{
	struct tr_l4_ends_slot *v = calloc((size_t)s->ncpus, sizeof(*v));

	assert_non_null(v);
	assert_int_equal(bpf_map_lookup_elem(s->ends, &idx, v), 0);
	v[cpu].busy = busy;
	v[cpu].nkeys = nkeys;
	for (int i = 0; i < nkeys; i++)
		v[cpu].key[i] = keys[i];
	v[cpu].val.opened = opened;
	v[cpu].val.closed = opened;
	v[cpu].val.sent_bytes = sent;
	assert_int_equal(bpf_map_update_elem(s->ends, &idx, v, BPF_ANY), 0);
	free(v);
}

/* What l4read reported, summed by key. */
struct seen {
	struct tr_l4_key key[8];
	struct tr_l4_val val[8];
	int n, calls;
};

static int on_series(const struct tr_l4_key *k, const struct tr_l4_val *v, void *ctx)
{
	struct seen *sn = ctx;
	int i;

	sn->calls++;
	for (i = 0; i < sn->n; i++)
		if (!memcmp(&sn->key[i], k, sizeof(*k)))
			break;
	if (i == sn->n) {
		if (sn->n == 8)
			return -ENOSPC;
		sn->key[sn->n] = *k;
		memset(&sn->val[sn->n], 0, sizeof(sn->val[0]));
		sn->n++;
	}
	sn->val[i].opened += v->opened;
	sn->val[i].closed += v->closed;
	sn->val[i].sent_bytes += v->sent_bytes;
	return 0;
}

static const struct tr_l4_val *seen_val(const struct seen *sn, const struct tr_l4_key *k)
{
	for (int i = 0; i < sn->n; i++)
		if (!memcmp(&sn->key[i], k, sizeof(*k)))
			return &sn->val[i];
	return NULL;
}

static void test_stat_plus_slots(void **state)
{
	struct st *s = *state;
	struct tr_l4_key src, dst, other, both[2];
	const struct tr_l4_val *v;
	struct seen sn = {};
	__u64 cpus;

	if (!s)
		skip();
	cpus = (__u64)(2 * s->ncpus - 1); /* 1 on CPU 0, 2 on each other */
	src = key_of(1, 2, 0, TR_REPORTER_SOURCE);
	dst = key_of(1, 2, 7, TR_REPORTER_DESTINATION);
	other = key_of(3, 2, 7, TR_REPORTER_DESTINATION);
	put_stat(s, &src, 5, 50);
	put_stat(s, &other, 1, 0);
	/* a node-local connection's two series in one slot, on CPU 0 */
	both[0] = src;
	both[1] = dst;
	put_slot(s, 17, 0, both, 2, 3, 30, 0);
	/* the destination series alone in another slot, on the last CPU */
	put_slot(s, 400, s->ncpus - 1, &dst, 1, 4, 40, 0);
	/* keys but no counts yet, and counts but no keys: nothing */
	put_slot(s, 9, 0, &other, 1, 0, 0, 0);
	put_slot(s, 10, 0, &other, 0, 99, 99, 0);

	assert_int_equal(l4read(s->stat, s->ends, on_series, &sn), 0);
	assert_int_equal(sn.n, 3);
	v = seen_val(&sn, &src);
	assert_non_null(v);
	assert_int_equal(v->opened, 5 * cpus + 3);
	assert_int_equal(v->closed, 5 * cpus + 3);
	assert_int_equal(v->sent_bytes, 50 * cpus + 30);
	v = seen_val(&sn, &dst);
	assert_non_null(v);
	assert_int_equal(v->opened, 3 + 4);
	assert_int_equal(v->sent_bytes, 30 + 40);
	v = seen_val(&sn, &other);
	assert_non_null(v);
	assert_int_equal(v->opened, cpus);

	/* without the slots' map: tr_l4_stat alone */
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(l4read(s->stat, -1, on_series, &sn), 0);
	assert_int_equal(sn.n, 2);
	assert_int_equal(seen_val(&sn, &src)->opened, 5 * cpus);
	assert_null(seen_val(&sn, &dst));
}

static void test_busy_slot(void **state)
{
	struct st *s = *state;
	struct tr_l4_key k;
	struct seen sn = {};

	if (!s)
		skip();
	k = key_of(1, 2, 0, TR_REPORTER_SOURCE);
	put_stat(s, &k, 1, 0);
	/* a program that never finished with its slot (a fold may be half
	 * done): no reading rather than a wrong one */
	put_slot(s, 3, 0, &k, 1, 2, 0, 1);
	assert_int_equal(l4read(s->stat, s->ends, on_series, &sn), -EAGAIN);
	assert_int_equal(sn.calls, 0);
	put_slot(s, 3, 0, &k, 1, 2, 0, 0);
	assert_int_equal(l4read(s->stat, s->ends, on_series, &sn), 0);
	assert_int_equal(seen_val(&sn, &k)->opened, (__u64)(2 * s->ncpus - 1) + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stat_plus_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_slot, setup, teardown),
	};

	return cmocka_run_group_tests_name("l4read", tests, NULL, NULL);
}
