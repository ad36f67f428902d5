// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The CLI's reader of growing log files: lines split across writes, the
 * unterminated last line, over-long lines, truncation, start at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linereader.h"

struct got {
	char lines[16][64];
	int n;
};

static int collect(void *ctx, const char *line, size_t len)
{
	struct got *g = ctx;

	assert_true(g->n < 16 && len < 64);
	memcpy(g->lines[g->n], line, len);
	g->lines[g->n][len] = '\0';
	g->n++;
	return 0;
}

static void append(const char *path, const char *s)
{
	FILE *f = fopen(path, "a");

	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static void test_lines_across_writes(void **state)
{
	char path[] = "/tmp/trt-linereader-XXXXXX";
	int fd = mkstemp(path);
	struct linereader r;
	struct got g = {};
	unsigned long dropped = 0;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	lr_init(&r, 16);
	append(path, "one\ntw");
	assert_int_equal(lr_open(&r, path, false), 0);
	assert_int_equal(lr_drain(&r, collect, &g, &dropped, NULL), 0);
	assert_int_equal(g.n, 1); /* "tw" waits for its newline */
	append(path, "o\nthis line is far too long for sixteen\nthree\n");
	assert_int_equal(lr_drain(&r, collect, &g, &dropped, NULL), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.lines[0], "one");
	assert_string_equal(g.lines[1], "two");
	assert_string_equal(g.lines[2], "three");
	assert_int_equal(dropped, 1); /* too long, even whole in one read */
	/* an over-long line that arrives in pieces is dropped and counted */
	append(path, "abcdefghij");
	assert_int_equal(lr_drain(&r, collect, &g, &dropped, NULL), 0);
	append(path, "klmnopqrstuvwxyz\nfour\n");
	assert_int_equal(lr_drain(&r, collect, &g, &dropped, NULL), 0);
	assert_int_equal(dropped, 2);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.lines[3], "four");
	/* truncated and rewritten: read again from the start */
	assert_int_equal(truncate(path, 0), 0);
	append(path, "five\n");
	assert_int_equal(lr_rewind(&r), 0);
	assert_int_equal(lr_drain(&r, collect, &g, &dropped, NULL), 0);
	assert_string_equal(g.lines[4], "five");
	lr_free(&r);
	/* from the end: only what comes after */
	g.n = 0;
	lr_init(&r, 16);
	assert_int_equal(lr_open(&r, path, true), 0);
	append(path, "six\n");
	assert_int_equal(lr_drain(&r, collect, &g, NULL, NULL), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.lines[0], "six");
	lr_free(&r);
	unlink(path);
}

static void test_not_a_file(void **state)
{
	struct linereader r;

	(void)state;
	lr_init(&r, 16);
	assert_int_equal(lr_open(&r, "/tmp", false), -EISDIR);
	assert_int_equal(lr_open(&r, "/nonexistent/trestle", false), -ENOENT);
	assert_int_equal(r.fd, -1);
	lr_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_across_writes),
		cmocka_unit_test(test_not_a_file),
	};

	return cmocka_run_group_tests_name("linereader", tests, NULL, NULL);
}
