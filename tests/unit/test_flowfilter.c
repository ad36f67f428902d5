// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Flow-log records (tools/flowfilter.c): the JSON-object reader on valid,
 * hostile and malformed lines, the filter of `trestle flows`, and the text
 * line.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/flowfilter.h"

static const char deny_rec[] =
	"{\"time\":\"2026-11-26T10:00:00.123456Z\",\"verdict\":\"deny\","
	"\"reason\":\"policy_deny\",\"hook\":\"connect\",\"proto\":\"tcp\","
	"\"src\":{\"address\":\"10.244.1.2\",\"port\":0,\"workload\":\"shop/client\","
	"\"identity\":\"spiffe://cluster.local/ns/shop/sa/client\"},"
	"\"dst\":{\"address\":\"10.244.2.2\",\"port\":80,\"workload\":\"shop/web\","
	"\"identity\":\"spiffe://cluster.local/ns/shop/sa/web\"},"
	"\"policy\":\"shop/deny-client\",\"rule\":0,\"default\":null,"
	"\"audit_policy\":null,\"audit_rule\":null}";

static const char audit_rec[] =
	"{\"time\":\"2026-11-26T10:00:01.5Z\",\"verdict\":\"allow\","
	"\"reason\":null,\"hook\":\"tc_to_workload\",\"proto\":\"udp\",\"audit\":true,"
	"\"src\":{\"address\":\"fd00::1:2\",\"port\":5353,\"workload\":null,\"identity\":null},"
	"\"dst\":{\"address\":\"fd00::2:2\",\"port\":53,\"workload\":\"kube-system/dns\","
	"\"identity\":\"spiffe://cluster.local/ns/kube-system/sa/dns\"},"
	"\"policy\":\"kube-system/allow-dns\",\"rule\":1,\"default\":null,"
	"\"audit_policy\":\"shop/audit-all\",\"audit_rule\":0}";

static const char default_rec[] =
	"{\"time\":\"2026-11-26T10:00:02Z\",\"verdict\":\"deny\","
	"\"reason\":\"policy_no_allow\",\"hook\":\"sendmsg\",\"proto\":\"udp\","
	"\"src\":{\"address\":\"8.8.8.8\",\"port\":0,\"workload\":null,\"identity\":null},"
	"\"dst\":{\"address\":\"10.244.2.2\",\"port\":53,\"workload\":\"shop/web\",\"identity\":null},"
	"\"policy\":null,\"rule\":null,\"default\":\"deny\","
	"\"audit_policy\":null,\"audit_rule\":null}";

static void parse_ok(const char *line, struct fj_obj *o)
{
	assert_int_equal(fj_parse(line, strlen(line), o), 0);
}

static int parse_err(const char *line)
{
	struct fj_obj o;
	int err = fj_parse(line, strlen(line), &o);

	if (!err)
		fj_free(&o);
	return err;
}

static void test_parse_record(void **state)
{
	const struct fj_obj *src, *dst;
	struct fj_obj o;
	long long v;

	(void)state;
	parse_ok(deny_rec, &o);
	assert_true(flow_rec_valid(&o));
	assert_string_equal(fj_str(&o, "verdict"), "deny");
	assert_string_equal(fj_str(&o, "hook"), "connect");
	assert_true(fj_int(&o, "rule", &v));
	assert_int_equal(v, 0);
	assert_null(fj_str(&o, "default"));
	assert_non_null(fj_get(&o, "default"));
	assert_int_equal(fj_get(&o, "default")->type, FJ_NULL);
	assert_false(fj_int(&o, "audit_rule", &v));
	src = fj_sub(&o, "src");
	dst = fj_sub(&o, "dst");
	assert_non_null(src);
	assert_non_null(dst);
	assert_string_equal(fj_str(src, "workload"), "shop/client");
	assert_true(fj_int(dst, "port", &v));
	assert_int_equal(v, 80);
	assert_null(fj_sub(&o, "verdict"));
	assert_null(fj_str(&o, "missing"));
	/* members keep their order */
	assert_string_equal(o.m[0].key, "time");
	assert_string_equal(o.m[o.n - 1].key, "audit_rule");
	fj_free(&o);
}

static void test_parse_values(void **state)
{
	struct fj_obj o;
	long long v;

	(void)state;
	parse_ok("  {\"a\" : -12 , \"b\":1.5e3,\"c\":true,\"d\":false,"
		 "\"e\":{},\"f\":\"\",\"g\":0}\r\n", &o);
	assert_int_equal(o.n, 7);
	assert_true(fj_int(&o, "a", &v));
	assert_int_equal(v, -12);
	assert_int_equal(fj_get(&o, "b")->type, FJ_NUM);
	assert_string_equal(fj_get(&o, "b")->s, "1.5e3");
	assert_false(fj_int(&o, "b", &v)); /* not an integer */
	assert_true(fj_get(&o, "c")->b);
	assert_false(fj_get(&o, "d")->b);
	assert_int_equal(fj_sub(&o, "e")->n, 0);
	assert_string_equal(fj_str(&o, "f"), "");
	fj_free(&o);

	parse_ok("{}", &o);
	assert_int_equal(o.n, 0);
	fj_free(&o);

	/* a repeated key: the last one counts */
	parse_ok("{\"k\":\"one\",\"k\":\"two\"}", &o);
	assert_string_equal(fj_str(&o, "k"), "two");
	fj_free(&o);
}

static void test_parse_escapes(void **state)
{
	struct fj_obj o;

	(void)state;
	parse_ok("{\"s\":\"a\\\"b\\\\c\\/d\\n\\t\\b\\f\\r\"}", &o);
	assert_string_equal(fj_str(&o, "s"), "a\"b\\c/d\n\t\b\f\r");
	fj_free(&o);

	/* BMP, surrogate pair, raw UTF-8 */
	parse_ok("{\"s\":\"\\u00e9\\u20ac\\ud83d\\ude00 caf\xc3\xa9\"}", &o);
	assert_string_equal(fj_str(&o, "s"),
			    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 caf\xc3\xa9");
	fj_free(&o);

	/* NUL and lone surrogates cannot cut or corrupt the string */
	parse_ok("{\"s\":\"a\\u0000b\\ud800c\\udc00\"}", &o);
	assert_string_equal(fj_str(&o, "s"),
			    "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd");
	fj_free(&o);

	/* high surrogate followed by a non-low escape: both stand alone */
	parse_ok("{\"s\":\"\\ud800\\u0041\"}", &o);
	assert_string_equal(fj_str(&o, "s"), "\xef\xbf\xbd" "A");
	fj_free(&o);
}

static void test_parse_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"[]",
		"\"just a string\"",
		"{",
		"{\"a\":1",
		"{\"a\":1,}",
		"{,}",
		"{\"a\" 1}",
		"{a:1}",
		"{\"a\":01}",
		"{\"a\":1.}",
		"{\"a\":-}",
		"{\"a\":1e}",
		"{\"a\":.5}",
		"{\"a\":+1}",
		"{\"a\":tru}",
		"{\"a\":nul}",
		"{\"a\":[1,2]}",
		"{\"a\":{\"b\":{\"c\":1}}}", /* deeper than one level */
		"{\"a\":\"unterminated}",
		"{\"a\":\"raw\ttab\"}",
		"{\"a\":\"bad \\x escape\"}",
		"{\"a\":\"short \\u12\"}",
		"{\"a\":\"bad \\u12g4\"}",
		"{\"a\":1} trailing",
		"{\"a\":1}{\"b\":2}",
		"{\"a\":{\"b\":1}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_err(bad[i]) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	/* a NUL byte inside the line */
	assert_int_equal(fj_parse("{\"a\":\"x\0y\"}", 11, &(struct fj_obj){}),
			 -EINVAL);
	/* a line cut short at every length */
	for (size_t n = 0; n < strlen(deny_rec); n++) {
		struct fj_obj o;

		if (!fj_parse(deny_rec, n, &o))
			fail_msg("accepted a prefix of %zu bytes", n);
	}
}

static void test_rec_valid(void **state)
{
	struct fj_obj o;

	(void)state;
	parse_ok("{\"time\":\"t\",\"verdict\":\"deny\",\"src\":{},\"dst\":{}}", &o);
	assert_true(flow_rec_valid(&o));
	fj_free(&o);
	parse_ok("{\"time\":\"t\",\"verdict\":\"deny\",\"src\":null,\"dst\":{}}", &o);
	assert_false(flow_rec_valid(&o));
	fj_free(&o);
	parse_ok("{\"time\":\"t\",\"verdict\":1,\"src\":{},\"dst\":{}}", &o);
	assert_false(flow_rec_valid(&o));
	fj_free(&o);
	parse_ok("{\"hello\":\"world\"}", &o);
	assert_false(flow_rec_valid(&o));
	fj_free(&o);
}

static void test_verdict_parse(void **state)
{
	(void)state;
	assert_int_equal(flow_verdict_parse("allow"), FLOW_V_ALLOW);
	assert_int_equal(flow_verdict_parse("deny"), FLOW_V_DENY);
	assert_int_equal(flow_verdict_parse("audit"), FLOW_V_AUDIT);
	assert_int_equal(flow_verdict_parse("DENY"), -1);
	assert_int_equal(flow_verdict_parse(""), -1);
	assert_int_equal(flow_verdict_parse("den"), -1);
}

static void test_endpoint_match(void **state)
{
	const struct fj_obj *src, *dst;
	struct fj_obj d, a;

	(void)state;
	parse_ok(deny_rec, &d);
	parse_ok(audit_rec, &a);
	src = fj_sub(&d, "src");
	assert_true(flow_endpoint_match(src, "shop/client"));
	assert_true(flow_endpoint_match(src, "10.244.1.2"));
	assert_true(flow_endpoint_match(
		src, "spiffe://cluster.local/ns/shop/sa/client"));
	assert_true(flow_endpoint_match(src, "cluster.local/ns/shop/sa/client"));
	assert_false(flow_endpoint_match(src, "shop/web"));
	assert_false(flow_endpoint_match(src, "shop"));
	assert_false(flow_endpoint_match(src, "10.244.1.20"));
	assert_false(flow_endpoint_match(src, "10.244.1"));
	assert_false(flow_endpoint_match(src, "cluster.local/ns/shop/sa/clien"));
	assert_false(flow_endpoint_match(src, "spiffe://"));
	assert_false(flow_endpoint_match(src, ""));
	assert_false(flow_endpoint_match(src, NULL));
	assert_false(flow_endpoint_match(NULL, "shop/client"));

	/* IPv6 compared as addresses; nulls never match */
	src = fj_sub(&a, "src");
	dst = fj_sub(&a, "dst");
	assert_true(flow_endpoint_match(src, "fd00::1:2"));
	assert_true(flow_endpoint_match(src, "fd00:0:0:0:0:0:1:2"));
	assert_true(flow_endpoint_match(src, "FD00::1:2"));
	assert_false(flow_endpoint_match(src, "fd00::1:3"));
	assert_false(flow_endpoint_match(src, "null"));
	assert_true(flow_endpoint_match(dst, "kube-system/dns"));
	fj_free(&d);
	fj_free(&a);
}

static void test_filter(void **state)
{
	struct fj_obj d, a, f;
	struct flow_filter flt;

	(void)state;
	parse_ok(deny_rec, &d);
	parse_ok(audit_rec, &a);
	parse_ok(default_rec, &f);

	memset(&flt, 0, sizeof(flt));
	assert_true(flow_match(&flt, &d));
	assert_true(flow_match(&flt, &a));

	flt.verdict = FLOW_V_DENY;
	assert_true(flow_match(&flt, &d));
	assert_false(flow_match(&flt, &a));
	assert_true(flow_match(&flt, &f));
	flt.verdict = FLOW_V_ALLOW;
	assert_false(flow_match(&flt, &d));
	assert_true(flow_match(&flt, &a));
	flt.verdict = FLOW_V_AUDIT;
	assert_false(flow_match(&flt, &d));
	assert_true(flow_match(&flt, &a));
	assert_false(flow_match(&flt, &f));

	memset(&flt, 0, sizeof(flt));
	flt.from = "shop/client";
	flt.to = "shop/web";
	assert_true(flow_match(&flt, &d));
	assert_false(flow_match(&flt, &a));
	flt.to = "10.244.2.2";
	assert_true(flow_match(&flt, &d));
	flt.to = "shop/client"; /* direction matters */
	assert_false(flow_match(&flt, &d));

	memset(&flt, 0, sizeof(flt));
	flt.policy = "shop/deny-client";
	assert_true(flow_match(&flt, &d));
	assert_false(flow_match(&flt, &a));
	flt.policy = "shop/audit-all"; /* the AUDIT policy counts too */
	assert_true(flow_match(&flt, &a));
	assert_false(flow_match(&flt, &d));
	flt.policy = "shop/deny";
	assert_false(flow_match(&flt, &d));

	fj_free(&d);
	fj_free(&a);
	fj_free(&f);
}

static void test_is_audit(void **state)
{
	struct fj_obj o;

	(void)state;
	parse_ok("{\"audit\":true}", &o);
	assert_true(flow_is_audit(&o));
	fj_free(&o);
	parse_ok("{\"audit\":false,\"audit_policy\":\"x/y\"}", &o);
	assert_false(flow_is_audit(&o));
	fj_free(&o);
	parse_ok("{\"audit_policy\":\"x/y\"}", &o);
	assert_true(flow_is_audit(&o));
	fj_free(&o);
	parse_ok("{\"audit_policy\":null}", &o);
	assert_false(flow_is_audit(&o));
	fj_free(&o);
}

static void check_text(const char *rec, const char *want)
{
	char buf[512];
	struct fj_obj o;
	int n;

	parse_ok(rec, &o);
	n = flow_format_text(&o, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(n, (int)strlen(want));
	fj_free(&o);
}

static void test_text(void **state)
{
	(void)state;
	check_text(deny_rec,
		   "2026-11-26T10:00:00.123Z DENY tcp shop/client(10.244.1.2) -> "
		   "shop/web(10.244.2.2):80 policy shop/deny-client rule 0 [connect]");
	check_text(audit_rec,
		   "2026-11-26T10:00:01.5Z ALLOW udp [fd00::1:2]:5353 -> "
		   "kube-system/dns(fd00::2:2):53 policy kube-system/allow-dns rule 1 "
		   "audit shop/audit-all rule 0 [tc_to_workload]");
	check_text(default_rec,
		   "2026-11-26T10:00:02Z DENY udp 8.8.8.8 -> shop/web(10.244.2.2):53 "
		   "default deny [sendmsg]");
	check_text("{\"time\":\"t\",\"verdict\":\"deny\",\"reason\":\"spoofed_source\","
		   "\"src\":{\"address\":\"10.1.1.1\"},\"dst\":{}}",
		   "t DENY ? 10.1.1.1 -> ? reason spoofed_source");
	/* fields of the wrong type are shown as unknown, not trusted */
	check_text("{\"time\":1,\"verdict\":\"allow\",\"proto\":6,"
		   "\"src\":{\"address\":1},\"dst\":{\"port\":\"80\"}}",
		   "? ALLOW ? ? -> ?");
}

static void test_text_truncation(void **state)
{
	char small[16], exact[256];
	struct fj_obj o;
	int n;

	(void)state;
	parse_ok(deny_rec, &o);
	n = flow_format_text(&o, exact, sizeof(exact));
	assert_true(n > (int)sizeof(small));
	memset(small, 'x', sizeof(small));
	assert_int_equal(flow_format_text(&o, small, sizeof(small)), n);
	assert_int_equal(small[sizeof(small) - 1], '\0');
	assert_memory_equal(small, exact, sizeof(small) - 1);
	assert_int_equal(flow_format_text(&o, NULL, 0), n);
	fj_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_record),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_parse_escapes),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_rec_valid),
		cmocka_unit_test(test_verdict_parse),
		cmocka_unit_test(test_endpoint_match),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_is_audit),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
