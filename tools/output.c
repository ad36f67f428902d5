// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The text/JSON writer. Text formats: print_string and print_bool pass a
 * string, print_uint an unsigned long long, print_int a long long,
 * print_float a double.
 */
#include "output.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32
#define JSON_INDENT 4

struct level {
	bool array; /* array, else object */
	bool first; /* nothing written in it yet */
};

static struct {
	FILE *out;    /* where the result goes */
	FILE *f;      /* where JSON is being built (memory), or out */
	char *mem;
	size_t memlen;
	bool json;
	bool pretty;
	bool wrote;   /* a top-level JSON value exists */
	bool dead;    /* an error replaced the output: write no more JSON */
	int depth;
	struct level stack[JSON_MAX_DEPTH];
} w = { .out = NULL };

static FILE *out_stream(void)
{
	return w.out ? w.out : stdout;
}

int output_init(FILE *out, bool json, bool pretty)
{
	memset(&w, 0, sizeof(w));
	w.out = out;
	w.json = json || pretty;
	w.pretty = pretty;
	w.f = out;
	if (w.json) {
		w.f = open_memstream(&w.mem, &w.memlen);
		if (!w.f) {
			w.f = out;
			return -errno;
		}
	}
	return 0;
}

static void release(void)
{
	if (w.f && w.f != w.out)
		fclose(w.f);
	free(w.mem);
	w.mem = NULL;
	w.memlen = 0;
	w.f = w.out;
	w.depth = 0;
	w.wrote = false;
}

int output_finish(void)
{
	FILE *out = out_stream();
	int err = 0;

	if (w.json) {
		while (w.depth > 0) {
			if (w.stack[w.depth - 1].array)
				close_json_array(PRINT_JSON, NULL);
			else
				close_json_object();
		}
		if (w.f != w.out && fflush(w.f))
			err = -errno;
		if (!err && w.wrote) {
			fwrite(w.mem, 1, w.memlen, out);
			fputc('\n', out);
		}
		release();
	}
	if (fflush(out) || ferror(out))
		err = err ? err : -EIO;
	return err;
}

void output_discard(void)
{
	if (w.json)
		release();
}

bool output_is_json(void)
{
	return w.json;
}

/* A UTF-8 sequence starting at s: its length, or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

void json_write_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t n;

	fputc('"', f);
	while (*s) {
		switch (*s) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				fprintf(f, "\\u%04x", *s);
				break;
			}
			n = utf8_len(s);
			if (!n) {
				fputs("\\ufffd", f);
				break;
			}
			fwrite(s, 1, n, f);
			s += n;
			continue;
		}
		s++;
	}
	fputc('"', f);
}

static void indent(int depth)
{
	fputc('\n', w.f);
	for (int i = 0; i < depth * JSON_INDENT; i++)
		fputc(' ', w.f);
}

/* Separator, indentation and key before a value. */
static void json_begin_value(const char *key)
{
	struct level *lv;

	if (w.depth == 0) {
		if (w.wrote)
			fputc('\n', w.f);
		w.wrote = true;
		return;
	}
	lv = &w.stack[w.depth - 1];
	if (!lv->first)
		fputc(',', w.f);
	lv->first = false;
	if (w.pretty)
		indent(w.depth);
	if (!lv->array) {
		json_write_string(w.f, key ? key : "");
		fputs(w.pretty ? ": " : ":", w.f);
	}
}

static void json_open(const char *key, bool array)
{
	if (w.dead)
		return;
	json_begin_value(key);
	fputc(array ? '[' : '{', w.f);
	if (w.depth < JSON_MAX_DEPTH) {
		w.stack[w.depth].array = array;
		w.stack[w.depth].first = true;
	}
	w.depth++;
}

static void json_close(void)
{
	bool array = true, empty = true;

	if (w.dead || w.depth <= 0)
		return;
	w.depth--;
	if (w.depth < JSON_MAX_DEPTH) {
		array = w.stack[w.depth].array;
		empty = w.stack[w.depth].first;
	}
	if (w.pretty && !empty)
		indent(w.depth);
	fputc(array ? ']' : '}', w.f);
}

void open_json_object(const char *name)
{
	if (w.json)
		json_open(name, false);
}

void close_json_object(void)
{
	if (w.json)
		json_close();
}

void open_json_array(enum output_type type, const char *name)
{
	if (w.json && (type & PRINT_JSON))
		json_open(name, true);
}

void close_json_array(enum output_type type, const char *delim)
{
	if (w.json) {
		if (type & PRINT_JSON)
			json_close();
	} else if ((type & PRINT_FP) && delim) {
		fputs(delim, out_stream());
	}
}

static bool want_text(enum output_type type, const char *fmt)
{
	return !w.json && (type & PRINT_FP) && fmt;
}

static bool want_json(enum output_type type)
{
	return w.json && !w.dead && (type & PRINT_JSON);
}

/* fmt is chosen by the caller per field, as in iproute2. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

/* Text mode: a control character in a value (from a map) could drive the
 * terminal; show it as '?'. */
static void print_text_string(const char *fmt, const char *value)
{
	const unsigned char *p;
	char *copy;

	for (p = (const unsigned char *)value; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			break;
	if (!*p) {
		fprintf(out_stream(), fmt, value);
		return;
	}
	copy = strdup(value);
	if (!copy)
		return;
	for (char *c = copy; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	fprintf(out_stream(), fmt, copy);
	free(copy);
}

void print_string(enum output_type type, const char *key, const char *fmt,
		  const char *value)
{
	if (want_json(type)) {
		json_begin_value(key);
		json_write_string(w.f, value);
	} else if (want_text(type, fmt)) {
		print_text_string(fmt, value ? value : "");
	}
}

void print_uint(enum output_type type, const char *key, const char *fmt,
		uint64_t value)
{
	if (want_json(type)) {
		json_begin_value(key);
		fprintf(w.f, "%llu", (unsigned long long)value);
	} else if (want_text(type, fmt)) {
		fprintf(out_stream(), fmt, (unsigned long long)value);
	}
}

void print_int(enum output_type type, const char *key, const char *fmt,
	       int64_t value)
{
	if (want_json(type)) {
		json_begin_value(key);
		fprintf(w.f, "%lld", (long long)value);
	} else if (want_text(type, fmt)) {
		fprintf(out_stream(), fmt, (long long)value);
	}
}

void print_bool(enum output_type type, const char *key, const char *fmt,
		bool value)
{
	if (want_json(type)) {
		json_begin_value(key);
		fputs(value ? "true" : "false", w.f);
	} else if (want_text(type, fmt)) {
		fprintf(out_stream(), fmt, value ? "true" : "false");
	}
}

void print_float(enum output_type type, const char *key, const char *fmt,
		 double value)
{
	if (want_json(type)) {
		json_begin_value(key);
		if (isfinite(value))
			fprintf(w.f, "%.6g", value);
		else
			fputs("null", w.f);
	} else if (want_text(type, fmt)) {
		fprintf(out_stream(), fmt, value);
	}
}

void print_null(enum output_type type, const char *key, const char *fmt)
{
	if (want_json(type)) {
		json_begin_value(key);
		fputs("null", w.f);
	} else if (want_text(type, fmt)) {
		fputs(fmt, out_stream());
	}
}

#pragma GCC diagnostic pop

void print_fp(const char *fmt, ...)
{
	va_list ap;

	if (w.json)
		return;
	va_start(ap, fmt);
	vfprintf(out_stream(), fmt, ap);
	va_end(ap);
}

void print_nl(void)
{
	if (!w.json)
		fputc('\n', out_stream());
}

void output_error(const char *msg)
{
	FILE *out = out_stream();

	if (!w.json || w.dead)
		return;
	release();
	w.dead = true;
	fputs(w.pretty ? "{\n    " : "{", out);
	json_write_string(out, "error");
	fputs(w.pretty ? ": " : ":", out);
	json_write_string(out, msg);
	fputs(w.pretty ? "\n}\n" : "}\n", out);
	fflush(out);
}
