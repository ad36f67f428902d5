// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The Prometheus exposition writer, gzip, Accept-Encoding, --metrics-addr. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "metrics.h"
#include "prom.h"

static char *take(struct prom_buf *b)
{
	size_t len;
	char *s = prom_buf_take(b, &len);

	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

static void test_escape_label(void **state)
{
	static const struct { const char *in, *out; } rows[] = {
		{ "plain", "plain" },
		{ "", "" },
		{ "back\\slash", "back\\\\slash" },
		{ "a \"quoted\" word", "a \\\"quoted\\\" word" },
		{ "two\nlines", "two\\nlines" },
		{ "\\\"\n", "\\\\\\\"\\n" },
		{ "tab\tand unicode \xc3\xa9 stay", "tab\tand unicode \xc3\xa9 stay" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct prom_buf b = {};
		char *s;

		prom_escape_label(&b, rows[i].in);
		s = take(&b);
		assert_string_equal(s, rows[i].out);
		free(s);
	}
}

static void test_family_and_samples(void **state)
{
	struct prom_buf b = {};
	struct prom_label l[] = {
		{ "reporter", "source" },
		{ "source_workload", "we\"ird\\na\nme" },
		{ "empty", NULL },
	};
	char *s;

	(void)state;
	prom_family(&b, "x_total", "counter", "Help with \\ and\nnewline and \"quotes\"");
	prom_sample_u64(&b, "x_total", l, 3, 18446744073709551615ULL);
	prom_sample_u64(&b, "x_total", NULL, 0, 0);
	prom_family(&b, "y_seconds", "gauge", "A gauge");
	prom_sample_f64(&b, "y_seconds", NULL, 0, 1718000000.125);
	prom_sample_f64(&b, "y_seconds", l, 1, 0.5);
	s = take(&b);
	assert_string_equal(s,
		"# HELP x_total Help with \\\\ and\\nnewline and \"quotes\"\n"
		"# TYPE x_total counter\n"
		"x_total{reporter=\"source\",source_workload=\"we\\\"ird\\\\na\\nme\",empty=\"\"} 18446744073709551615\n"
		"x_total 0\n"
		"# HELP y_seconds A gauge\n"
		"# TYPE y_seconds gauge\n"
		"y_seconds 1718000000.125\n"
		"y_seconds{reporter=\"source\"} 0.5\n");
	free(s);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(prom_name_ok("istio_tcp_sent_bytes_total", false));
	assert_true(prom_name_ok("a:b", false));
	assert_false(prom_name_ok("a:b", true));
	assert_false(prom_name_ok("1abc", false));
	assert_false(prom_name_ok("a-b", true));
	assert_false(prom_name_ok("", true));
}

static void test_rows_merge(void **state)
{
	struct prom_rows r = {};
	struct prom_buf b = {};
	struct prom_label a[] = { { "wl", "web" }, { "ns", "default" } };
	struct prom_label c[] = { { "wl", "db" }, { "ns", "default" } };
	uint64_t v1[] = { 1, 10 }, v2[] = { 2, 20 }, v3[] = { 5, 3 };
	char *s;

	(void)state;
	/* two Pods of workload web: one series, summed; db sorts first */
	assert_int_equal(prom_rows_add(&r, a, 2, v1, 2), 0);
	assert_int_equal(prom_rows_add(&r, c, 2, v3, 2), 0);
	assert_int_equal(prom_rows_add(&r, a, 2, v2, 2), 0);
	assert_int_equal(prom_rows_add(&r, a, 2, v1, PROM_ROW_COLS + 1), -EINVAL);
	prom_rows_merge(&r, false);
	assert_int_equal(r.n, 2);
	prom_rows_emit(&b, &r, "m_total", 0);
	prom_rows_emit(&b, &r, "n_total", 1);
	s = take(&b);
	assert_string_equal(s,
		"m_total{wl=\"db\",ns=\"default\"} 5\n"
		"m_total{wl=\"web\",ns=\"default\"} 3\n"
		"n_total{wl=\"db\",ns=\"default\"} 3\n"
		"n_total{wl=\"web\",ns=\"default\"} 30\n");
	free(s);
	prom_rows_free(&r);

	/* max: the largest value of equal label sets */
	assert_int_equal(prom_rows_add(&r, a, 2, v1, 2), 0);
	assert_int_equal(prom_rows_add(&r, a, 2, v3, 2), 0);
	prom_rows_merge(&r, true);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].val[0], 5);
	assert_int_equal(r.v[0].val[1], 10);
	prom_rows_free(&r);

	/* no labels at all */
	assert_int_equal(prom_rows_add(&r, NULL, 0, v1, 1), 0);
	prom_rows_emit(&b, &r, "z", 0);
	s = take(&b);
	assert_string_equal(s, "z 1\n");
	free(s);
	prom_rows_free(&r);
}

static void test_accepts_gzip(void **state)
{
	static const struct { const char *ae; bool yes; } rows[] = {
		{ NULL, false },
		{ "", false },
		{ "gzip", true },
		{ "GZIP", true },
		{ "identity", false },
		{ "deflate, gzip;q=1.0, *;q=0.5", true },
		{ "gzip;q=0", false },
		{ "gzip; q=0.0, identity", false },
		{ "x-gzip", true },
		{ "*", true },
		{ "br, deflate", false },
		{ "gzipx", false },
		{ " gzip ", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (prom_accepts_gzip(rows[i].ae) != rows[i].yes)
			fail_msg("Accept-Encoding '%s': want %d", rows[i].ae ? rows[i].ae : "(null)",
				 rows[i].yes);
	}
}

static void test_gzip_roundtrip(void **state)
{
	const size_t n = 200000;
	char *in = malloc(n), *back = malloc(n + 16);
	void *z = NULL;
	size_t zlen = 0;
	z_stream s = {};

	(void)state;
	assert_non_null(in);
	assert_non_null(back);
	for (size_t i = 0; i < n; i++)
		in[i] = "istio_tcp_sent_bytes_total{reporter=\"source\"} 42\n"[i % 50];
	assert_int_equal(prom_gzip(in, n, &z, &zlen), 0);
	assert_true(zlen > 18 && zlen < n / 10);
	assert_int_equal(((unsigned char *)z)[0], 0x1f); /* gzip magic */
	assert_int_equal(((unsigned char *)z)[1], 0x8b);
	assert_int_equal(inflateInit2(&s, 15 + 16), Z_OK);
	s.next_in = z;
	s.avail_in = (uInt)zlen;
	s.next_out = (Bytef *)back;
	s.avail_out = (uInt)(n + 16);
	assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
	assert_int_equal(s.total_out, n);
	assert_memory_equal(in, back, n);
	inflateEnd(&s);
	free(z);
	free(in);
	free(back);
}

static void test_parse_addr(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char buf[64];
	socklen_t len;
	static const char *const bad[] = {
		"", "15020", "0.0.0.0", "0.0.0.0:", "0.0.0.0:0", "0.0.0.0:65536",
		"0.0.0.0:-1", "0.0.0.0:+1", "0.0.0.0:12x", "::1:15020", "[::1]15020",
		"[::1]:", "[nothost]:1", "host.example:80", "[::1", "1.2.3.4:5:6",
	};

	(void)state;
	assert_int_equal(metrics_parse_addr("0.0.0.0:15020", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(sin->sin_port), 15020);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));

	assert_int_equal(metrics_parse_addr("127.0.0.1:1", &ss, &len), 0);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(ntohs(sin->sin_port), 1);

	assert_int_equal(metrics_parse_addr(":9090", &ss, &len), 0);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));

	assert_int_equal(metrics_parse_addr("[fd00:243::1]:65535", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(sin6->sin6_port), 65535);
	assert_string_equal(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)),
			    "fd00:243::1");
	assert_int_equal(metrics_parse_addr("[::]:15020", &ss, &len), 0);

	assert_int_equal(metrics_parse_addr("none", &ss, &len), 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (metrics_parse_addr(bad[i], &ss, &len) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
}

/* Rendering against a directory with no pins: every family still has its
 * HELP and TYPE, and nothing fails. */
static void test_render_no_pins(void **state)
{
	size_t len;
	char *s = metrics_render("/nonexistent-trestle-pins", &len);

	(void)state;
	assert_non_null(s);
	assert_non_null(strstr(s, "# TYPE istio_tcp_connections_opened_total counter\n"));
	assert_non_null(strstr(s, "# TYPE istio_tcp_received_bytes_total counter\n"));
	assert_non_null(strstr(s, "# TYPE trestle_datapath_drops_total counter\n"));
	assert_non_null(strstr(s, "trestle_config_reloads_total{result=\"refused\"} 0\n"));
	assert_non_null(strstr(s, "trestle_build_info{version=\""));
	assert_non_null(strstr(s, "trestle_agent_ready 0\n"));
	/* every "# TYPE name" is preceded by its HELP, counters end in _total */
	for (const char *p = s; (p = strstr(p, "# TYPE ")); p++) {
		char name[128], type[32], help[160];

		assert_int_equal(sscanf(p, "# TYPE %127s %31s", name, type), 2);
		snprintf(help, sizeof(help), "# HELP %s ", name);
		assert_non_null(strstr(s, help));
		assert_true(prom_name_ok(name, false));
		if (!strcmp(type, "counter"))
			assert_string_equal(name + strlen(name) - 6, "_total");
	}
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_label),
		cmocka_unit_test(test_family_and_samples),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_rows_merge),
		cmocka_unit_test(test_accepts_gzip),
		cmocka_unit_test(test_gzip_roundtrip),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_render_no_pins),
	};

	return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
