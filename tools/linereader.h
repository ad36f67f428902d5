/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Lines of a log file that grows (the flow log, the audit log): complete
 * lines go to a callback as they arrive, the unterminated last one waits
 * for the rest, an over-long one is dropped. Callers follow rotation and
 * truncation with the identity (dev, ino) and offset kept here.
 */
#ifndef TRESTLE_LINEREADER_H
#define TRESTLE_LINEREADER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct linereader {
	int fd;          /* -1 when closed */
	dev_t dev;       /* the open file, to notice it was replaced */
	ino_t ino;
	off_t off;       /* bytes read from fd */
	char *buf;       /* the incomplete line so far */
	size_t len, cap;
	size_t max_line; /* longer lines are dropped */
	bool skipping;   /* inside an over-long line: drop up to its newline */
};

typedef int (*lr_line_fn)(void *ctx, const char *line, size_t len);

void lr_init(struct linereader *r, size_t max_line);
/* Open path (a regular file: -EISDIR / -EINVAL otherwise), from its start
 * or its end. Returns 0 or -errno. */
int lr_open(struct linereader *r, const char *path, bool at_end);
void lr_close(struct linereader *r);
/* Back to the start of the same file (it was truncated). */
int lr_rewind(struct linereader *r);
/*
 * Read everything readable now; each complete line to cb (a non-zero
 * return stops and is returned). Over-long lines are dropped and counted in
 * *dropped (may be NULL). Returns early, with 0, once *stop is set (may be
 * NULL).
 */
int lr_drain(struct linereader *r, lr_line_fn cb, void *ctx, unsigned long *dropped,
	     const volatile sig_atomic_t *stop);
void lr_free(struct linereader *r);

#endif /* TRESTLE_LINEREADER_H */
