// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_format log_fmt = LOG_FORMAT_TEXT;
static enum log_level log_max = LOG_INFO;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_setup(enum log_format format, enum log_level max_level)
{
	log_fmt = format;
	log_max = max_level;
}

bool log_enabled(enum log_level level)
{
	return level <= log_max;
}

/* Write s as a JSON string body (without quotes). */
static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char buf[2048], *msg = buf;
	char ts[64];
	struct timespec now;
	struct tm tm;
	va_list copy;
	size_t n;
	int len;

	if (!log_enabled(level))
		return;
	/* most lines fit; a verifier log does not, and must arrive whole */
	va_copy(copy, ap);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (len >= (int)sizeof(buf) && vasprintf(&msg, fmt, copy) < 0)
		msg = buf;
	va_end(copy);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);

	flockfile(stderr);
	if (log_fmt == LOG_FORMAT_JSON) {
		fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
			level_names[level]);
		json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "%s %-5s %s\n", ts, level_names[level], msg);
	}
	funlockfile(stderr);
	fflush(stderr);
	if (msg != buf)
		free(msg);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level l = level == LIBBPF_WARN ? LOG_WARN :
			   level == LIBBPF_INFO ? LOG_DEBUG : LOG_DEBUG;

	if (!log_enabled(l))
		return 0;
	log_vmsg(l, fmt, ap);
	return 0;
}

void log_capture_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
