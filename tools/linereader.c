// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "linereader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void lr_init(struct linereader *r, size_t max_line)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->max_line = max_line;
}

int lr_open(struct linereader *r, const char *path, bool at_end)
{
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	r->fd = fd;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->off = at_end ? st.st_size : 0;
	if (at_end && lseek(fd, r->off, SEEK_SET) < 0)
		r->off = 0;
	r->len = 0;
	r->skipping = false;
	return 0;
}

void lr_close(struct linereader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->len = 0;
	r->skipping = false;
}

int lr_rewind(struct linereader *r)
{
	if (lseek(r->fd, 0, SEEK_SET) < 0)
		return -errno;
	r->off = 0;
	r->len = 0;
	r->skipping = false;
	return 0;
}

/* Add p[0..n) to the incomplete line (or start skipping it: too long). */
static int keep(struct linereader *r, const char *p, size_t n)
{
	if (r->skipping || !n)
		return 0;
	if (r->len + n > r->max_line) {
		r->skipping = true; /* counted when its newline comes */
		r->len = 0;
		return 0;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *b;

		while (cap < r->len + n)
			cap *= 2;
		b = realloc(r->buf, cap);
		if (!b)
			return -ENOMEM;
		r->buf = b;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	return 0;
}

int lr_drain(struct linereader *r, lr_line_fn cb, void *ctx, unsigned long *dropped,
	     const volatile sig_atomic_t *stop)
{
	char chunk[65536];
	ssize_t got;
	int err;

	while (!stop || !*stop) {
		const char *p = chunk, *nl;
		size_t left;

		got = read(r->fd, chunk, sizeof(chunk));
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!got)
			return 0;
		r->off += got;
		left = (size_t)got;
		while (left && (nl = memchr(p, '\n', left))) {
			size_t n = (size_t)(nl - p);

			err = 0;
			if (!r->skipping && r->len)
				err = keep(r, p, n);
			else if (!r->skipping && n > r->max_line)
				r->skipping = true; /* whole, but too long */
			if (err)
				return err;
			if (r->skipping) {
				r->skipping = false;
				if (dropped)
					(*dropped)++;
			} else if (r->len) {
				err = cb(ctx, r->buf, r->len);
			} else {
				err = cb(ctx, p, n);
			}
			r->len = 0;
			if (err)
				return err;
			p = nl + 1;
			left -= n + 1;
		}
		err = keep(r, p, left);
		if (err)
			return err;
	}
	return 0;
}

void lr_free(struct linereader *r)
{
	lr_close(r);
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}
