// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Weighted selection tables: exact shares, apportionment, layout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "wselect.h"

struct row {
	const char *what;
	uint64_t weights[8];
	size_t n;
	uint32_t limit;
	long size;           /* expected table size */
	uint32_t slots[8];   /* expected slots */
};

static const struct row rows[] = {
	{ "single backend", { 1 }, 1, 4096, 1, { 1 } },
	{ "even split reduces to one slot each", { 5, 5, 5 }, 3, 4096, 3, { 1, 1, 1 } },
	{ "90/10 canary", { 90, 10 }, 2, 4096, 10, { 9, 1 } },
	{ "90/10 over 3+1 backends (lcm weights 30,30,30,10)", { 30, 30, 30, 10 }, 4, 4096, 10, { 3, 3, 3, 1 } },
	{ "zero weight gets nothing", { 0, 7, 0 }, 3, 4096, 1, { 0, 1, 0 } },
	{ "all zero", { 0, 0 }, 2, 4096, 0, { 0, 0 } },
	{ "99/1 fits exactly", { 99, 1 }, 2, 4096, 100, { 99, 1 } },
	{ "apportioned at limit 10: 2/3 vs 1/3 of 7", { 2, 1 }, 2, 2, 2, { 1, 1 } },
	{ "large coprime weights are scaled to the limit", { 1000003, 999983 }, 2, 100, 100, { 50, 50 } },
	{ "tiny share keeps one slot", { 1000000, 1 }, 2, 100, 100, { 99, 1 } },
};

static void test_apportion_table(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		uint32_t slots[8] = {};
		long size = wselect_apportion(rows[r].weights, rows[r].n, rows[r].limit, slots);

		print_message("row: %s\n", rows[r].what);
		assert_int_equal(size, rows[r].size);
		for (size_t i = 0; i < rows[r].n; i++)
			assert_int_equal(slots[i], rows[r].slots[i]);
	}
}

static void test_apportion_errors(void **state)
{
	uint64_t w[3] = { 1, 1, 1 };
	uint32_t slots[3];

	(void)state;
	assert_int_equal(wselect_apportion(w, 3, 0, slots), -EINVAL);
	/* three backends cannot share two slots */
	assert_int_equal(wselect_apportion(w, 3, 2, slots), -EINVAL);
}

/* Scaled shares stay within one slot of the exact share. */
static void test_apportion_bound(void **state)
{
	uint64_t w[7] = { 13, 29, 71, 1, 997, 500, 3 };
	uint64_t total = 0;
	uint32_t slots[7];
	long size;

	(void)state;
	for (size_t i = 0; i < 7; i++)
		total += w[i];
	size = wselect_apportion(w, 7, 256, slots);
	assert_int_equal(size, 256);
	for (size_t i = 0; i < 7; i++) {
		double exact = (double)w[i] * 256.0 / (double)total;

		assert_true((double)slots[i] <= exact + 1.0 + 1e-9);
		assert_true((double)slots[i] >= exact - 1.0 - 1e-9 || slots[i] == 1);
	}
}

static void test_layout_counts_and_interleave(void **state)
{
	uint32_t slots[3] = { 6, 3, 1 };
	uint32_t table[10], count[3] = {};

	(void)state;
	wselect_layout(slots, 3, table, 10);
	for (size_t k = 0; k < 10; k++) {
		assert_true(table[k] < 3);
		count[table[k]]++;
	}
	assert_int_equal(count[0], 6);
	assert_int_equal(count[1], 3);
	assert_int_equal(count[2], 1);
	/* interleaved: the heaviest backend never holds more than 2 in a row */
	for (size_t k = 2; k < 10; k++)
		assert_false(table[k] == 0 && table[k - 1] == 0 && table[k - 2] == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apportion_table),
		cmocka_unit_test(test_apportion_errors),
		cmocka_unit_test(test_apportion_bound),
		cmocka_unit_test(test_layout_counts_and_interleave),
	};

	return cmocka_run_group_tests_name("wselect", tests, NULL, NULL);
}
