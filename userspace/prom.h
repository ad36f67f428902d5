/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prometheus text exposition format (version 0.0.4), written into a
 * growing buffer: families (HELP, TYPE), samples with escaped label values,
 * and "rows" -- series that several families share, merged when their
 * label sets are equal (two Pods of one workload are one series). No I/O,
 * no threads: the metrics server renders into one buffer per scrape.
 */
#ifndef TRESTLE_PROM_H
#define TRESTLE_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct prom_buf {
	char *data;
	size_t len, cap;
	bool oom; /* an allocation failed: the output is incomplete */
};

struct prom_label {
	const char *name;
	const char *value; /* NULL is written as "" */
};

void prom_buf_free(struct prom_buf *b);
/* Take the buffer (NUL-terminated; NULL after an allocation failure). */
char *prom_buf_take(struct prom_buf *b, size_t *len);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, ...). */
void prom_family(struct prom_buf *b, const char *name, const char *type,
		 const char *help);
/* name{l1="v1",...} value -- n may be 0 (no braces). */
void prom_sample_u64(struct prom_buf *b, const char *name,
		     const struct prom_label *l, size_t n, uint64_t v);
void prom_sample_f64(struct prom_buf *b, const char *name,
		     const struct prom_label *l, size_t n, double v);

/* Append s as a label value: backslash, double quote and newline escaped. */
void prom_escape_label(struct prom_buf *b, const char *s);
/* Metric and label names: [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no ':'). */
bool prom_name_ok(const char *s, bool label);

/*
 * Series with up to PROM_ROW_COLS values each, keyed by their rendered label
 * set. prom_rows_merge() sorts them and folds equal label sets (adding the
 * values, or keeping the largest with max); prom_rows_emit() writes one
 * column as one family's samples.
 */
#define PROM_ROW_COLS 4

struct prom_row {
	char *labels; /* rendered: l1="v1",l2="v2" */
	uint64_t val[PROM_ROW_COLS];
};

struct prom_rows {
	struct prom_row *v;
	size_t n, cap;
};

int prom_rows_add(struct prom_rows *r, const struct prom_label *l, size_t n,
		  const uint64_t *vals, size_t ncols);
void prom_rows_merge(struct prom_rows *r, bool max);
void prom_rows_emit(struct prom_buf *b, const struct prom_rows *r,
		    const char *name, size_t col);
void prom_rows_free(struct prom_rows *r);

/* Does an Accept-Encoding header value accept gzip (and not with q=0)? */
bool prom_accepts_gzip(const char *accept_encoding);
/* gzip in[0..len) into a malloc'd *out. Returns 0 or -errno. */
int prom_gzip(const void *in, size_t len, void **out, size_t *out_len);

#endif /* TRESTLE_PROM_H */
