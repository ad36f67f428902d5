/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One writer for text and JSON output (iproute2's json_print model).
 *
 * Each field is written once: print_uint(PRINT_ANY, "slots", "slots %u ", n)
 * prints "slots 3 " in text mode and "slots": 3 in JSON mode. PRINT_FP
 * fields exist only in text, PRINT_JSON fields only in JSON. A NULL key
 * writes a bare value (an array element).
 *
 * Text goes straight to the stream. JSON is built in memory and written by
 * output_finish(), so a command that fails half-way can replace everything
 * with {"error": "..."} (output_error()) and the reader always gets exactly
 * one valid JSON document.
 */
#ifndef TRESTLE_OUTPUT_H
#define TRESTLE_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum output_type {
	PRINT_FP = 1,   /* text only */
	PRINT_JSON = 2, /* JSON only */
	PRINT_ANY = 3,  /* both */
};

/* Start writing to out: text, or JSON (compact, or indented when pretty). */
int output_init(FILE *out, bool json, bool pretty);
/* Write the buffered JSON document and a newline; 0 or -errno. */
int output_finish(void);
/* Drop everything not yet written and release the writer. */
void output_discard(void);
/* Replace the output with an error: {"error": msg} on the stream in JSON
 * mode (and the writer is finished), nothing in text mode. */
void output_error(const char *msg);
bool output_is_json(void);

/* Containers. name is the member key inside an object, NULL elsewhere. */
void open_json_object(const char *name);
void close_json_object(void);
void open_json_array(enum output_type type, const char *name);
/* In text mode with PRINT_FP set, delim (if not NULL) is printed. */
void close_json_array(enum output_type type, const char *delim);

/* In text mode, fmt is a printf format taking the value (NULL: nothing). */
void print_string(enum output_type type, const char *key, const char *fmt,
		  const char *value);
void print_uint(enum output_type type, const char *key, const char *fmt,
		uint64_t value);
void print_int(enum output_type type, const char *key, const char *fmt,
	       int64_t value);
/* Text mode prints fmt with "true" or "false". */
void print_bool(enum output_type type, const char *key, const char *fmt,
		bool value);
/* JSON gets the number with up to 6 significant digits. */
void print_float(enum output_type type, const char *key, const char *fmt,
		 double value);
/* JSON null; text mode prints fmt (no argument) when not NULL. */
void print_null(enum output_type type, const char *key, const char *fmt);
/* Text-only free form output and newline. */
void print_fp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void print_nl(void);

/* Write s as a quoted JSON string: escapes '"', '\\' and control
 * characters; invalid UTF-8 bytes become U+FFFD. */
void json_write_string(FILE *f, const char *s);

#endif /* TRESTLE_OUTPUT_H */
