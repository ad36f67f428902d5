// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "rotlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"

/* One compression: shift the .gz files, gzip PATH.0, remove it. */
struct rotlog_job {
	char *path;
	unsigned int keep;
	atomic_bool done;
	int err;
	char msg[8704]; /* what failed, logged by the main thread */
};

int rotlog_gzip(const char *src, const char *dst)
{
	char buf[65536], tmp[4096];
	gzFile gz = NULL;
	int in, out = -1, err = 0, zerr;
	ssize_t n;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", dst) >= sizeof(tmp))
		return -ENAMETOOLONG;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		err = -errno;
		goto out;
	}
	gz = gzdopen(out, "wb6");
	if (!gz) {
		err = -ENOMEM;
		close(out);
		goto out_unlink;
	}
	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (!n)
			break;
		if (gzwrite(gz, buf, (unsigned int)n) != (int)n) {
			gzerror(gz, &zerr);
			err = zerr == Z_ERRNO && errno ? -errno : -EIO;
			break;
		}
	}
	/* gzclose closes out as well */
	zerr = gzclose(gz);
	if (!err && zerr != Z_OK)
		err = zerr == Z_ERRNO && errno ? -errno : -EIO;
	if (!err && rename(tmp, dst))
		err = -errno;
out_unlink:
	if (err)
		unlink(tmp);
out:
	close(in);
	return err;
}

static void *compress_main(void *arg)
{
	struct rotlog_job *j = arg;
	char from[4096], to[4096];
	unsigned int i;
	int err;

	/* the oldest, PATH.<keep>.gz, is replaced by the rename */
	for (i = j->keep - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%u.gz", j->path, i);
		snprintf(to, sizeof(to), "%s.%u.gz", j->path, i + 1);
		if (rename(from, to) && errno != ENOENT) {
			j->err = -errno;
			snprintf(j->msg, sizeof(j->msg), "cannot rename %s to %s: %s", from,
				 to, strerror(errno));
			goto out;
		}
	}
	snprintf(from, sizeof(from), "%s.0", j->path);
	snprintf(to, sizeof(to), "%s.1.gz", j->path);
	err = rotlog_gzip(from, to);
	if (err) {
		j->err = err;
		snprintf(j->msg, sizeof(j->msg),
			 "cannot compress %s into %s: %s (it stays uncompressed until the next rotation)",
			 from, to, strerror(-err));
		goto out;
	}
	if (unlink(from)) {
		j->err = -errno;
		snprintf(j->msg, sizeof(j->msg), "cannot remove %s: %s", from, strerror(errno));
	}
out:
	atomic_store(&j->done, true);
	return NULL;
}

/* Wait for the helper (if any) and report how it went. */
static void join_helper(struct rotlog *r)
{
	struct rotlog_job *j = r->job;

	if (!j)
		return;
	pthread_join(r->thread, NULL);
	if (j->err)
		log_warn("log rotation: %s", j->msg);
	free(j->path);
	free(j);
	r->job = NULL;
}

/* Compress PATH.0 in a helper thread (or here if none can start). */
static int start_helper(struct rotlog *r)
{
	struct rotlog_job *j = calloc(1, sizeof(*j));
	int err;

	if (!j || !(j->path = strdup(r->path))) {
		free(j);
		return -ENOMEM;
	}
	j->keep = r->lim.keep;
	err = pthread_create(&r->thread, NULL, compress_main, j);
	if (err) {
		compress_main(j);
		if (j->err)
			log_warn("log rotation: %s", j->msg);
		free(j->path);
		free(j);
		return 0;
	}
	r->job = j;
	return 0;
}

static int open_current(struct rotlog *r)
{
	struct stat st;
	int err;

	r->fd = open(r->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
	if (r->fd < 0)
		return -errno;
	if (fstat(r->fd, &st)) {
		err = -errno;
		close(r->fd);
		r->fd = -1;
		return err;
	}
	r->size = (uint64_t)st.st_size;
	return 0;
}

static int rotate(struct rotlog *r)
{
	char old[4096];
	int err;

	join_helper(r);
	snprintf(old, sizeof(old), "%s.0", r->path);
	if (rename(r->path, old)) {
		/* removed under us: start a new file, nothing to compress */
		err = -errno;
		log_warn("log rotation: cannot rename %s to %s: %s", r->path, old,
			 strerror(-err));
		old[0] = '\0';
	}
	close(r->fd);
	err = open_current(r);
	if (err) {
		log_error("log rotation: cannot open %s: %s", r->path, strerror(-err));
		return err;
	}
	r->rotations++;
	if (!old[0])
		return 0;
	if (!r->lim.keep) {
		unlink(old);
		return 0;
	}
	return start_helper(r);
}

int rotlog_open(struct rotlog *r, const char *path, const struct rotlog_limits *lim)
{
	char old[4096];
	unsigned int i;
	int err;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->lim = *lim;
	if (r->lim.keep > ROTLOG_MAX_KEEP)
		r->lim.keep = ROTLOG_MAX_KEEP;
	if (strlen(path) + 16 > sizeof(old))
		return -ENAMETOOLONG;
	r->path = strdup(path);
	if (!r->path)
		return -ENOMEM;
	err = open_current(r);
	if (err) {
		free(r->path);
		r->path = NULL;
		return err;
	}
	/* kept files beyond a lowered --*-keep */
	for (i = r->lim.keep + 1; i <= ROTLOG_MAX_KEEP; i++) {
		snprintf(old, sizeof(old), "%s.%u.gz", path, i);
		unlink(old);
	}
	/* a rotation a crash interrupted */
	snprintf(old, sizeof(old), "%s.0", path);
	if (!access(old, F_OK)) {
		if (r->lim.keep)
			return start_helper(r);
		unlink(old);
	}
	return 0;
}

int rotlog_write(struct rotlog *r, const char *buf, size_t len)
{
	ssize_t n;
	int err;

	if (!r->path)
		return -EBADF;
	if (r->fd < 0 && (err = open_current(r)))
		return err; /* a failed rotation: try again */
	if (r->job && atomic_load(&r->job->done))
		join_helper(r);
	if (r->lim.max_bytes && r->size && r->size + len > r->lim.max_bytes) {
		err = rotate(r);
		if (err)
			return err;
	}
	while (len) {
		n = write(r->fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
		r->size += (uint64_t)n;
	}
	return 0;
}

void rotlog_close(struct rotlog *r)
{
	join_helper(r);
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}
