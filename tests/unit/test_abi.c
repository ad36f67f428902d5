// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The ABI layout is loud: any change of size or offset of a pinned struct
 * fails here, which is the reminder to rename the map and bump the ABI.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <trestle/abi.h>
#include <trestle/maps.h>
#include <trestle/metrics.h>
#include <trestle/reasons.h>

#include "abi_fmt.h"

_Static_assert(sizeof(struct tr_meta) == 144, "tr_meta size");
_Static_assert(offsetof(struct tr_meta, generation) == 8, "tr_meta.generation");
_Static_assert(offsetof(struct tr_meta, config_hash) == 40, "tr_meta.config_hash");
_Static_assert(sizeof(struct tr_lb4_key) == 8, "tr_lb4_key size");
_Static_assert(offsetof(struct tr_lb4_key, port) == 4, "tr_lb4_key.port");
_Static_assert(offsetof(struct tr_lb4_key, proto) == 6, "tr_lb4_key.proto");
_Static_assert(sizeof(struct tr_lb6_key) == 20, "tr_lb6_key size");
_Static_assert(offsetof(struct tr_lb6_key, port) == 16, "tr_lb6_key.port");
_Static_assert(sizeof(struct tr_lb_svc) == 16, "tr_lb_svc size");
_Static_assert(sizeof(struct tr_lb_slot_key) == 8, "tr_lb_slot_key size");
_Static_assert(sizeof(struct tr_lb_slot) == 24, "tr_lb_slot size");
_Static_assert(offsetof(struct tr_lb_slot, backend_id) == 20, "tr_lb_slot.backend_id");
_Static_assert(sizeof(struct tr_lb_backend) == 232, "tr_lb_backend size");
_Static_assert(offsetof(struct tr_lb_backend, subset) == 40, "tr_lb_backend.subset");
_Static_assert(sizeof(struct tr_lb_svcinfo) == 168, "tr_lb_svcinfo size");
_Static_assert(sizeof(struct tr_revnat_key) == 32, "tr_revnat_key size");
_Static_assert(sizeof(struct tr_revnat) == 24, "tr_revnat size");
_Static_assert(sizeof(struct tr_sk) == 88, "tr_sk size");
_Static_assert(sizeof(struct tr_lb_rbe_key) == 20, "tr_lb_rbe_key size");
_Static_assert(sizeof(struct tr_wl_addr_key) == 20, "tr_wl_addr_key size");
_Static_assert(sizeof(struct tr_wl_addr) == 8, "tr_wl_addr size");
_Static_assert(offsetof(struct tr_sk, key) == 44, "tr_sk.key");
_Static_assert(sizeof(struct tr_l4_key) == 16, "tr_l4_key size");
_Static_assert(sizeof(struct tr_l4_val) == 32, "tr_l4_val size");
_Static_assert(sizeof(struct tr_l4_ends_q) == 40, "tr_l4_ends_q size");
_Static_assert(sizeof(struct tr_l4_ends_slot) == 128, "tr_l4_ends_slot size");
_Static_assert(offsetof(struct tr_l4_ends_slot, q) == 16, "tr_l4_ends_slot.q");
_Static_assert(offsetof(struct tr_l4_ends_slot, key) == 56, "tr_l4_ends_slot.key");
_Static_assert(offsetof(struct tr_l4_ends_slot, val) == 88, "tr_l4_ends_slot.val");
_Static_assert((TR_L4_ENDS_SLOTS & (TR_L4_ENDS_SLOTS - 1)) == 0, "TR_L4_ENDS_SLOTS: a power of two");

static const char *const map_names[] = {
	TR_MAP_META, TR_MAP_LB4_SVC, TR_MAP_LB6_SVC, TR_MAP_LB_SLOT, TR_MAP_LB_BE,
	TR_MAP_LB_BESTAT, TR_MAP_LB_SVCINFO, TR_MAP_REVNAT, TR_MAP_STATS,
};

/* The kernel keeps 15 characters of a map name. */
static void test_map_names_fit(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(map_names) / sizeof(map_names[0]); i++) {
		assert_true(strlen(map_names[i]) <= 15);
		assert_memory_equal(map_names[i], "tr_", 3);
	}
}

/* Reasons are negative, unique and named; counters do not overlap them. */
static void test_reasons(void **state)
{
	static const int codes[] = {
#define CODE(n, v, s, d) v,
		TR_REASONS(CODE)
#undef CODE
	};
	static const int stats[] = {
#define CODE(n, v, s, d) v,
		TR_STATS(CODE)
#undef CODE
	};

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		assert_true(codes[i] < 0);
		assert_true(-codes[i] <= TR_REASON_MAX);
		assert_non_null(abi_reason_name(codes[i]));
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(codes[i], codes[j]);
	}
	for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++) {
		assert_true(stats[i] > TR_REASON_MAX);
		assert_true(stats[i] < TR_STATS_SIZE);
		assert_non_null(abi_stat_name((unsigned int)stats[i]));
	}
	assert_string_equal(abi_reason_name(TR_REASON_NO_BACKEND), "no_backend");
	assert_string_equal(abi_stat_name(1), "no_backend");
	assert_null(abi_reason_name(-999));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_names_fit),
		cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
