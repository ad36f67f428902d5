// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The userspace relay's socket BIO: batched record writes, readiness
 * memory (relay_bio.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay_bio.h"

struct relay_bio {
	int fd;
	bool readable, writable, eof;
	size_t out_off, out_len; /* unsent bytes: out[out_off, out_len) */
	unsigned char out[RELAY_BIO_OUT_CAP];
};

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static struct relay_bio *rb_of(BIO *b)
{
	return BIO_get_data(b);
}

/* 0 when empty, -EAGAIN when the socket is full, -errno. */
static int out_send(struct relay_bio *r)
{
	while (r->out_off < r->out_len) {
		size_t want = r->out_len - r->out_off;
		ssize_t n;

		if (!r->writable)
			return -EAGAIN;
		n = send(r->fd, r->out + r->out_off, want, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				r->writable = false;
				return -EAGAIN;
			}
			return -errno;
		}
		r->out_off += (size_t)n;
		if ((size_t)n < want)
			r->writable = false; /* the socket's buffer is full */
	}
	r->out_off = r->out_len = 0;
	return 0;
}

static int rb_write(BIO *b, const char *in, int inl)
{
	struct relay_bio *r = rb_of(b);
	size_t room, n;
	int rc;

	BIO_clear_retry_flags(b);
	if (inl <= 0)
		return 0;
	if (r->out_len - r->out_off >= RELAY_BIO_FLUSH_AT ||
	    r->out_len + (size_t)inl > RELAY_BIO_OUT_CAP) {
		rc = out_send(r);
		if (rc && rc != -EAGAIN) {
			errno = -rc;
			return -1;
		}
	}
	if (r->out_off && r->out_len + (size_t)inl > RELAY_BIO_OUT_CAP) {
		memmove(r->out, r->out + r->out_off, r->out_len - r->out_off);
		r->out_len -= r->out_off;
		r->out_off = 0;
	}
	room = RELAY_BIO_OUT_CAP - r->out_len;
	if (!room) {
		BIO_set_retry_write(b);
		return -1;
	}
	n = (size_t)inl < room ? (size_t)inl : room;
	memcpy(r->out + r->out_len, in, n);
	r->out_len += n;
	return (int)n;
}

static int rb_read(BIO *b, char *buf, int len)
{
	struct relay_bio *r = rb_of(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (!r->readable) {
		BIO_set_retry_read(b);
		return -1;
	}
	do
		n = read(r->fd, buf, (size_t)len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			r->readable = false;
			BIO_set_retry_read(b);
		}
		return -1;
	}
	if (n == 0)
		r->eof = true;
	else if (n < len)
		r->readable = false; /* drained */
	return (int)n;
}

static long rb_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct relay_bio *r = rb_of(b);

	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH: {
		int rc = out_send(r);

		BIO_clear_retry_flags(b);
		if (!rc)
			return 1;
		if (rc == -EAGAIN)
			BIO_set_retry_write(b);
		else
			errno = -rc;
		return -1;
	}
	case BIO_CTRL_WPENDING:
		return (long)(r->out_len - r->out_off);
	case BIO_CTRL_EOF:
		return r->eof;
	case BIO_C_GET_FD:
		if (ptr)
			*(int *)ptr = r->fd;
		return r->fd;
	default:
		return 0;
	}
}

static int rb_create(BIO *b)
{
	BIO_set_data(b, NULL);
	return 1;
}

static int rb_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

static void method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
					     BIO_TYPE_DESCRIPTOR,
				     "trestle relay socket");

	if (m && BIO_meth_set_write(m, rb_write) && BIO_meth_set_read(m, rb_read) &&
	    BIO_meth_set_ctrl(m, rb_ctrl) && BIO_meth_set_create(m, rb_create) &&
	    BIO_meth_set_destroy(m, rb_destroy)) {
		method = m; /* one per process, never freed */
		return;
	}
	BIO_meth_free(m);
}

BIO *relay_bio_new(int fd)
{
	struct relay_bio *r;
	BIO *b;

	pthread_once(&method_once, method_init);
	if (!method)
		return NULL;
	r = malloc(sizeof(*r));
	if (!r)
		return NULL;
	r->fd = fd;
	r->readable = r->writable = true;
	r->eof = false;
	r->out_off = r->out_len = 0;
	b = BIO_new(method);
	if (!b) {
		free(r);
		return NULL;
	}
	BIO_set_data(b, r);
	BIO_set_init(b, 1);
	return b;
}

void relay_bio_ready(BIO *b, bool readable, bool writable)
{
	struct relay_bio *r = rb_of(b);

	r->readable |= readable;
	r->writable |= writable;
}

bool relay_bio_readable(BIO *b)
{
	return rb_of(b)->readable;
}

bool relay_bio_writable(BIO *b)
{
	return rb_of(b)->writable;
}

size_t relay_bio_pending(BIO *b)
{
	struct relay_bio *r = rb_of(b);

	return r->out_len - r->out_off;
}

int relay_bio_flush(BIO *b)
{
	return out_send(rb_of(b));
}
