/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * An append-only JSON-lines file rotated by size (the flow log, the audit
 * log). When the next write would take the file past max_bytes, it is
 * renamed to PATH.0 and a new PATH is started; a helper thread then shifts
 * PATH.1.gz .. PATH.<keep-1>.gz up by one (the oldest, PATH.<keep>.gz, is
 * replaced), gzips PATH.0 into PATH.1.gz and removes PATH.0. So at any time
 * the records are, newest first: PATH, PATH.0 (while compressing), PATH.1.gz,
 * ... PATH.<keep>.gz, and every record is in exactly one of them: rename
 * moves whole files, records are written whole (one write per line).
 *
 * The event loop only renames and opens; it waits for the helper only when
 * a second rotation comes while the first is still compressing. A PATH.0
 * left by a crash is compressed when the log is opened.
 */
#ifndef TRESTLE_ROTLOG_H
#define TRESTLE_ROTLOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROTLOG_DEFAULT_MAX_BYTES (16ull << 20)
#define ROTLOG_DEFAULT_KEEP 5
#define ROTLOG_MAX_KEEP 100

struct rotlog_limits {
	uint64_t max_bytes; /* 0: never rotate */
	unsigned int keep;  /* compressed files kept; 0: old records dropped */
};

struct rotlog_job;

struct rotlog {
	char *path;
	int fd;        /* O_APPEND; -1 when closed */
	uint64_t size; /* bytes in the current file */
	struct rotlog_limits lim;
	uint64_t rotations;
	/* the compression helper, at most one at a time */
	pthread_t thread;
	struct rotlog_job *job; /* non-NULL while a helper has to be joined */
};

/* Open (append to) path. 0 or -errno (not logged: the caller names the log). */
int rotlog_open(struct rotlog *r, const char *path, const struct rotlog_limits *lim);
/* Append len bytes: whole lines. Rotates first when needed. 0 or -errno. */
int rotlog_write(struct rotlog *r, const char *buf, size_t len);
/* Wait for the helper, close. */
void rotlog_close(struct rotlog *r);

/* Compress src into dst (gzip, via dst.tmp and rename); for tests too. */
int rotlog_gzip(const char *src, const char *dst);

#endif /* TRESTLE_ROTLOG_H */
