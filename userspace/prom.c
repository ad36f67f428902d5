// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "prom.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

static bool reserve(struct prom_buf *b, size_t more)
{
	size_t cap;
	char *d;

	if (b->oom)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d) {
		b->oom = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	b->data[b->len] = '\0';
	return true;
}

static void put(struct prom_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void puts_(struct prom_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

void prom_buf_free(struct prom_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

char *prom_buf_take(struct prom_buf *b, size_t *len)
{
	char *d = b->data;

	if (b->oom || !reserve(b, 0)) {
		prom_buf_free(b);
		return NULL;
	}
	d = b->data;
	*len = b->len;
	memset(b, 0, sizeof(*b));
	return d;
}

void prom_escape_label(struct prom_buf *b, const char *s)
{
	const char *run = s ? s : "";

	for (s = run; *s; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" :
				  *s == '\n' ? "\\n" : NULL;

		if (!esc)
			continue;
		put(b, run, (size_t)(s - run));
		puts_(b, esc);
		run = s + 1;
	}
	put(b, run, (size_t)(s - run));
}

/* HELP text: backslash and newline escaped (quotes are literal there). */
static void escape_help(struct prom_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '\n')
			puts_(b, "\\n");
		else
			put(b, s, 1);
	}
}

bool prom_name_ok(const char *s, bool label)
{
	if (!s || !*s || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!(isalnum(c) || c == '_' || (!label && c == ':')) || c > 0x7f)
			return false;
	}
	return true;
}

void prom_family(struct prom_buf *b, const char *name, const char *type,
		 const char *help)
{
	puts_(b, "# HELP ");
	puts_(b, name);
	puts_(b, " ");
	escape_help(b, help);
	puts_(b, "\n# TYPE ");
	puts_(b, name);
	puts_(b, " ");
	puts_(b, type);
	puts_(b, "\n");
}

static void render_labels(struct prom_buf *b, const struct prom_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			puts_(b, ",");
		puts_(b, l[i].name);
		puts_(b, "=\"");
		prom_escape_label(b, l[i].value);
		puts_(b, "\"");
	}
}

static void sample_start(struct prom_buf *b, const char *name, const char *labels,
			 const struct prom_label *l, size_t n)
{
	puts_(b, name);
	if (labels || n) {
		puts_(b, "{");
		if (labels)
			puts_(b, labels);
		else
			render_labels(b, l, n);
		puts_(b, "}");
	}
	puts_(b, " ");
}

static void put_u64(struct prom_buf *b, uint64_t v)
{
	char num[32];
	int k = snprintf(num, sizeof(num), "%" PRIu64 "\n", v);

	put(b, num, (size_t)k);
}

void prom_sample_u64(struct prom_buf *b, const char *name,
		     const struct prom_label *l, size_t n, uint64_t v)
{
	sample_start(b, name, NULL, l, n);
	put_u64(b, v);
}

void prom_sample_f64(struct prom_buf *b, const char *name,
		     const struct prom_label *l, size_t n, double v)
{
	char num[64];
	int k;

	sample_start(b, name, NULL, l, n);
	if (isnan(v))
		k = snprintf(num, sizeof(num), "NaN\n");
	else if (isinf(v))
		k = snprintf(num, sizeof(num), "%sInf\n", v < 0 ? "-" : "+");
	else
		k = snprintf(num, sizeof(num), "%.15g\n", v);
	put(b, num, (size_t)k);
}

int prom_rows_add(struct prom_rows *r, const struct prom_label *l, size_t n,
		  const uint64_t *vals, size_t ncols)
{
	struct prom_buf lb = {};
	struct prom_row *row;
	size_t len;

	if (ncols > PROM_ROW_COLS)
		return -EINVAL;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct prom_row *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	render_labels(&lb, l, n);
	if (!reserve(&lb, 0))
		return -ENOMEM;
	row = &r->v[r->n];
	memset(row, 0, sizeof(*row));
	row->labels = prom_buf_take(&lb, &len);
	if (!row->labels)
		return -ENOMEM;
	/* the buffer grew in 4 KB steps; a row keeps only its labels (100,000
	 * backends would otherwise hold 400 MB during a scrape) */
	{
		char *fit = realloc(row->labels, len + 1);

		if (fit)
			row->labels = fit;
	}
	memcpy(row->val, vals, ncols * sizeof(*vals));
	r->n++;
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct prom_row *)a)->labels,
		      ((const struct prom_row *)b)->labels);
}

void prom_rows_merge(struct prom_rows *r, bool max)
{
	size_t out = 0;

	if (r->n < 2)
		return;
	qsort(r->v, r->n, sizeof(*r->v), cmp_row);
	for (size_t i = 1; i < r->n; i++) {
		struct prom_row *dst = &r->v[out];

		if (strcmp(dst->labels, r->v[i].labels)) {
			r->v[++out] = r->v[i];
			continue;
		}
		for (size_t c = 0; c < PROM_ROW_COLS; c++) {
			if (!max)
				dst->val[c] += r->v[i].val[c];
			else if (r->v[i].val[c] > dst->val[c])
				dst->val[c] = r->v[i].val[c];
		}
		free(r->v[i].labels);
	}
	r->n = out + 1;
}

void prom_rows_emit(struct prom_buf *b, const struct prom_rows *r,
		    const char *name, size_t col)
{
	for (size_t i = 0; i < r->n && col < PROM_ROW_COLS; i++) {
		sample_start(b, name, r->v[i].labels[0] ? r->v[i].labels : NULL, NULL, 0);
		put_u64(b, r->v[i].val[col]);
	}
}

void prom_rows_free(struct prom_rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].labels);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* One coding of an Accept-Encoding list: name, then ";q=..." parameters. */
static bool coding_accepts_gzip(const char *s, size_t len)
{
	size_t nlen = 0;
	double q = 1.0;

	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (nlen < len && s[nlen] != ';' && !isspace((unsigned char)s[nlen]))
		nlen++;
	if (!((nlen == 4 && !strncasecmp(s, "gzip", 4)) ||
	      (nlen == 6 && !strncasecmp(s, "x-gzip", 6)) ||
	      (nlen == 1 && s[0] == '*')))
		return false;
	for (size_t i = nlen; i + 1 < len; i++) {
		if (s[i] == ';') {
			const char *p = s + i + 1;

			while (p < s + len && isspace((unsigned char)*p))
				p++;
			if (p + 1 < s + len && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
				char tmp[16];
				size_t k = 0;

				for (p += 2; p < s + len && *p != ';' && k + 1 < sizeof(tmp); p++)
					tmp[k++] = *p;
				tmp[k] = '\0';
				q = strtod(tmp, NULL);
			}
		}
	}
	return q > 0;
}

bool prom_accepts_gzip(const char *ae)
{
	if (!ae)
		return false;
	while (*ae) {
		const char *end = strchr(ae, ',');
		size_t len = end ? (size_t)(end - ae) : strlen(ae);

		if (coding_accepts_gzip(ae, len))
			return true;
		if (!end)
			break;
		ae = end + 1;
	}
	return false;
}

int prom_gzip(const void *in, size_t len, void **out, size_t *out_len)
{
	z_stream z = {};
	uLong bound;
	void *buf;
	int ret;

	/* windowBits 15 + 16: a gzip wrapper; level 1: scrapes are latency-bound */
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)len);
	buf = malloc(bound);
	if (!buf) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)bound;
	ret = deflate(&z, Z_FINISH);
	if (ret != Z_STREAM_END) {
		deflateEnd(&z);
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_len = z.total_out;
	deflateEnd(&z);
	return 0;
}
