// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The CLI's text/JSON writer (tools/output.c): string escaping, nesting,
 * pretty printing, PRINT_FP/PRINT_JSON selection, and an error replacing
 * half-written JSON.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/output.h"

struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void cap_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

/* Close the stream; the caller frees c->buf. */
static const char *cap_close(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

static char *escaped(const char *s)
{
	struct capture c;

	cap_open(&c);
	json_write_string(c.f, s);
	return (char *)cap_close(&c);
}

static void check_escape(const char *in, const char *want)
{
	char *got = escaped(in);

	assert_string_equal(got, want);
	free(got);
}

static void test_escape_specials(void **state)
{
	(void)state;
	check_escape("", "\"\"");
	check_escape("plain", "\"plain\"");
	check_escape("a\"b", "\"a\\\"b\"");
	check_escape("back\\slash", "\"back\\\\slash\"");
	check_escape("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	check_escape("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	check_escape("a/b", "\"a/b\"");
	check_escape(NULL, "\"\"");
}

static void test_escape_utf8(void **state)
{
	(void)state;
	/* valid 2, 3 and 4 byte sequences pass through */
	check_escape("caf\xc3\xa9", "\"caf\xc3\xa9\"");
	check_escape("\xe2\x82\xac", "\"\xe2\x82\xac\"");
	check_escape("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
	/* a lone continuation byte, a truncated sequence, an overlong form,
	 * a surrogate, and a byte that never starts a sequence */
	check_escape("a\x80z", "\"a\\ufffdz\"");
	check_escape("a\xc3", "\"a\\ufffd\"");
	check_escape("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_escape("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xff", "\"\\ufffd\"");
}

static void test_compact_nesting(void **state)
{
	struct capture c;
	const char *out;

	(void)state;
	cap_open(&c);
	assert_int_equal(output_init(c.f, true, false), 0);
	assert_true(output_is_json());
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "name %s", "web");
	print_uint(PRINT_ANY, "port", " %llu", 80);
	print_int(PRINT_JSON, "delta", NULL, -3);
	print_bool(PRINT_ANY, "ready", "%s", true);
	print_null(PRINT_JSON, "applied_at", NULL);
	print_float(PRINT_ANY, "weight_pct", "%.2f", 12.5);
	print_float(PRINT_JSON, "nan", NULL, NAN);
	print_string(PRINT_FP, "text_only", "%s", "nope");
	open_json_array(PRINT_JSON, "backends");
	open_json_object(NULL);
	print_uint(PRINT_ANY, "id", "%llu", 1);
	close_json_object();
	open_json_object(NULL);
	print_uint(PRINT_ANY, "id", "%llu", 2);
	open_json_object("inner");
	close_json_object();
	close_json_object();
	close_json_array(PRINT_JSON, NULL);
	open_json_array(PRINT_JSON, "empty");
	close_json_array(PRINT_JSON, NULL);
	open_json_array(PRINT_JSON, "nums");
	print_uint(PRINT_JSON, NULL, NULL, 18446744073709551615ull);
	print_uint(PRINT_JSON, NULL, NULL, 0);
	close_json_array(PRINT_JSON, NULL);
	print_string(PRINT_ANY, "k\"ey", "%s", "v\n");
	close_json_object();
	assert_int_equal(output_finish(), 0);
	out = cap_close(&c);
	assert_string_equal(out,
		"{\"name\":\"web\",\"port\":80,\"delta\":-3,\"ready\":true,"
		"\"applied_at\":null,\"weight_pct\":12.5,\"nan\":null,"
		"\"backends\":[{\"id\":1},{\"id\":2,\"inner\":{}}],"
		"\"empty\":[],\"nums\":[18446744073709551615,0],"
		"\"k\\\"ey\":\"v\\n\"}\n");
	free((void *)out);
}

static void test_pretty(void **state)
{
	struct capture c;
	const char *out;

	(void)state;
	cap_open(&c);
	/* pretty implies JSON */
	assert_int_equal(output_init(c.f, false, true), 0);
	assert_true(output_is_json());
	open_json_array(PRINT_JSON, NULL);
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "%s", "a");
	open_json_array(PRINT_JSON, "list");
	print_uint(PRINT_JSON, NULL, NULL, 1);
	print_uint(PRINT_JSON, NULL, NULL, 2);
	close_json_array(PRINT_JSON, NULL);
	open_json_object("obj");
	close_json_object();
	close_json_object();
	close_json_array(PRINT_JSON, NULL);
	assert_int_equal(output_finish(), 0);
	out = cap_close(&c);
	assert_string_equal(out,
		"[\n"
		"    {\n"
		"        \"name\": \"a\",\n"
		"        \"list\": [\n"
		"            1,\n"
		"            2\n"
		"        ],\n"
		"        \"obj\": {}\n"
		"    }\n"
		"]\n");
	free((void *)out);
}

static void test_unclosed_containers_are_closed(void **state)
{
	struct capture c;
	const char *out;

	(void)state;
	cap_open(&c);
	assert_int_equal(output_init(c.f, true, false), 0);
	open_json_array(PRINT_JSON, NULL);
	open_json_object(NULL);
	print_uint(PRINT_JSON, "a", NULL, 1);
	assert_int_equal(output_finish(), 0);
	out = cap_close(&c);
	assert_string_equal(out, "[{\"a\":1}]\n");
	free((void *)out);
}

static void test_text_mode(void **state)
{
	struct capture c;
	const char *out;

	(void)state;
	cap_open(&c);
	assert_int_equal(output_init(c.f, false, false), 0);
	assert_false(output_is_json());
	open_json_array(PRINT_JSON, NULL);
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "%s", "web");
	print_string(PRINT_JSON, "hidden", "%s", "nope");
	print_uint(PRINT_ANY, "slots", "  slots %llu", 10);
	print_int(PRINT_ANY, "delta", " %lld", -2);
	print_bool(PRINT_ANY, "ready", " ready=%s", false);
	print_float(PRINT_ANY, "weight", " %.1f%%", 33.25);
	print_null(PRINT_ANY, "applied_at", " (never)");
	print_string(PRINT_FP, NULL, " pod %s", "evil\x1b[2J\x7f");
	print_fp(" n=%d", 3);
	close_json_object();
	print_nl();
	close_json_array(PRINT_ANY, "end\n");
	assert_int_equal(output_finish(), 0);
	out = cap_close(&c);
	assert_string_equal(out,
		"web  slots 10 -2 ready=false 33.2% (never) pod evil?[2J? n=3\n"
		"end\n");
	free((void *)out);
}

static void test_error_replaces_json(void **state)
{
	struct capture c;
	const char *out;

	(void)state;
	cap_open(&c);
	assert_int_equal(output_init(c.f, true, false), 0);
	open_json_array(PRINT_JSON, NULL);
	open_json_object(NULL);
	print_uint(PRINT_JSON, "half", NULL, 1);
	output_error("no service at \"10.0.0.1\"");
	/* later writes and a second error are ignored */
	print_uint(PRINT_JSON, "late", NULL, 2);
	close_json_object();
	output_error("second");
	assert_int_equal(output_finish(), 0);
	out = cap_close(&c);
	assert_string_equal(out,
		"{\"error\":\"no service at \\\"10.0.0.1\\\"\"}\n");
	free((void *)out);
}

static void test_error_pretty(void **state)
{
	struct capture c;
	const char *out;

	(void)state;
	cap_open(&c);
	assert_int_equal(output_init(c.f, true, true), 0);
	output_error("boom");
	assert_int_equal(output_finish(), 0);
	out = cap_close(&c);
	assert_string_equal(out, "{\n    \"error\": \"boom\"\n}\n");
	free((void *)out);
}

static void test_discard(void **state)
{
	struct capture c;
	const char *out;

	(void)state;
	cap_open(&c);
	assert_int_equal(output_init(c.f, true, false), 0);
	open_json_object(NULL);
	print_uint(PRINT_JSON, "a", NULL, 1);
	output_discard();
	out = cap_close(&c);
	assert_string_equal(out, "");
	free((void *)out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_specials),
		cmocka_unit_test(test_escape_utf8),
		cmocka_unit_test(test_compact_nesting),
		cmocka_unit_test(test_pretty),
		cmocka_unit_test(test_unclosed_containers_are_closed),
		cmocka_unit_test(test_text_mode),
		cmocka_unit_test(test_error_replaces_json),
		cmocka_unit_test(test_error_pretty),
		cmocka_unit_test(test_discard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
