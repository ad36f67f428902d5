// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Tunnel relays: OpenSSL in userspace, or kTLS + splice (relay.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ktls.h"
#include "relay.h"
#include "relay_bio.h"

#define BUF 65536
#define POLL_MS 1000 /* wake up now and then to notice stop */

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* --- userspace ---------------------------------------------------------- */

/*
 * OpenSSL's read buffer in the relay: with read-ahead, one read() takes in
 * up to four full records instead of two reads (header, body) per record.
 */
#define SSL_READ_BUF (4 * (16384 + 256) + 5)

struct half {
	unsigned char buf[BUF];
	size_t len, off;
	bool eof, done;
	bool shut; /* upstream: close_notify written (maybe not yet sent) */
};

static short ssl_want(SSL *ssl, int rc, int *err)
{
	int e = SSL_get_error(ssl, rc);

	*err = e;
	if (e == SSL_ERROR_WANT_READ)
		return POLLIN;
	if (e == SSL_ERROR_WANT_WRITE)
		return POLLOUT;
	return 0;
}

static int userspace_loop(int pfd, SSL *ssl, BIO *bio, struct relay_bytes *b,
			  const _Atomic int *stop, char *why, size_t len,
			  struct half *u, struct half *d);

int relay_userspace(int pfd, SSL *ssl, int tfd, struct relay_bytes *b,
		    const _Atomic int *stop, char *why, size_t len)
{
	struct half *hv = calloc(2, sizeof(*hv)); /* 128 KiB: off the stack */
	BIO *bio = relay_bio_new(tfd);
	int rc;

	if (!hv || !bio) {
		free(hv);
		BIO_free(bio);
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	set_nonblock(pfd);
	set_nonblock(tfd);
	/*
	 * The handshake and the verdict read exactly what they needed (no
	 * read-ahead), so OpenSSL holds no unread bytes: its buffers can go,
	 * and the read buffer comes back at the relay's size.
	 */
	SSL_free_buffers(ssl);
	SSL_set_default_read_buffer_len(ssl, SSL_READ_BUF);
	SSL_set_read_ahead(ssl, 1);
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_bio(ssl, bio, bio); /* the SSL owns it now */
	rc = userspace_loop(pfd, ssl, bio, b, stop, why, len, &hv[0], &hv[1]);
	free(hv);
	return rc;
}

/*
 * One pass over both directions moves everything that can move without
 * waiting; the loop repeats while a pass made progress, then polls for
 * exactly what it waits for. p_rd / p_wr (and the BIO's own flags for the
 * TLS socket) remember that a socket was found drained or full, so no
 * system call is spent on it until poll() says it is ready again.
 */
static int userspace_loop(int pfd, SSL *ssl, BIO *bio, struct relay_bytes *b,
			  const _Atomic int *stop, char *why, size_t len,
			  struct half *u, struct half *d)
{
	bool p_rd = true, p_wr = true;
	int err, rc;

	while (!(u->done && d->done)) {
		short pev = 0, tev = 0, sw = 0;
		bool progress = true;

		if (atomic_load(stop)) {
			snprintf(why, len, "agent stopping");
			return -ECANCELED;
		}
		while (progress) {
			progress = false;
			sw = 0; /* what OpenSSL waits for, as of this pass */
			/* workload -> peer */
			if (!u->eof && u->len == 0 && p_rd) {
				ssize_t n = read(pfd, u->buf, sizeof(u->buf));

				if (n > 0) {
					u->len = (size_t)n;
					u->off = 0;
					if ((size_t)n < sizeof(u->buf))
						p_rd = false; /* drained */
					progress = true;
				} else if (n == 0) {
					u->eof = true;
					progress = true;
				} else if (errno == EAGAIN) {
					p_rd = false;
				} else if (errno != EINTR) {
					snprintf(why, len, "workload read: %s", strerror(errno));
					return -errno;
				}
			}
			while (u->off < u->len) {
				/* one record per call (partial writes), into the BIO */
				int r = SSL_write(ssl, u->buf + u->off, (int)(u->len - u->off));

				if (r <= 0) {
					short w = ssl_want(ssl, r, &err);

					if (!w) {
						snprintf(why, len, "TLS write failed (%d)", err);
						ERR_clear_error();
						return -EIO;
					}
					sw |= w;
					break;
				}
				u->off += (size_t)r;
				atomic_fetch_add(&b->to_peer, (uint64_t)r);
				if (u->off == u->len)
					u->len = u->off = 0;
				progress = true;
			}
			if (u->eof && u->len == 0 && !u->shut) {
				int r = SSL_shutdown(ssl); /* close_notify: our half */

				if (r >= 0) {
					u->shut = true;
					progress = true;
				} else {
					short w = ssl_want(ssl, r, &err);

					if (!w) {
						/* peer already gone */
						ERR_clear_error();
						shutdown(BIO_get_fd(bio, NULL), SHUT_WR);
						u->shut = u->done = true;
						progress = true;
					}
					sw |= w;
				}
			}
			/* the records of this pass leave in one send() */
			if (!u->done && relay_bio_pending(bio) && relay_bio_writable(bio)) {
				size_t before = relay_bio_pending(bio);

				rc = relay_bio_flush(bio);
				if (rc && rc != -EAGAIN) {
					if (!u->shut) {
						snprintf(why, len, "TLS write: %s", strerror(-rc));
						return rc;
					}
					/* only our close_notify was left: the peer is gone */
					shutdown(BIO_get_fd(bio, NULL), SHUT_WR);
					u->done = true;
				}
				if (relay_bio_pending(bio) < before)
					progress = true;
			}
			if (u->shut && !u->done && !relay_bio_pending(bio)) {
				shutdown(BIO_get_fd(bio, NULL), SHUT_WR);
				u->done = true;
				progress = true;
			}
			/* peer -> workload: as many records as fit, then one send() */
			while (!d->eof && d->len < sizeof(d->buf)) {
				int r = SSL_read(ssl, d->buf + d->len, (int)(sizeof(d->buf) - d->len));

				if (r > 0) {
					d->len += (size_t)r;
					progress = true;
					continue;
				}
				{
					short w = ssl_want(ssl, r, &err);

					if (w) {
						sw |= w;
					} else if (err == SSL_ERROR_ZERO_RETURN ||
						   (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
						/* close_notify, or the connection ended */
						ERR_clear_error();
						d->eof = true;
						progress = true;
					} else {
						snprintf(why, len, "TLS read failed (%d)", err);
						ERR_clear_error();
						return -EIO;
					}
				}
				break;
			}
			if (d->off < d->len && p_wr) {
				ssize_t n = send(pfd, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);

				if (n > 0) {
					d->off += (size_t)n;
					atomic_fetch_add(&b->to_workload, (uint64_t)n);
					if (d->off == d->len)
						d->len = d->off = 0;
					else
						p_wr = false; /* full */
					progress = true;
				} else if (n < 0 && errno == EAGAIN) {
					p_wr = false;
				} else if (n < 0 && errno != EINTR) {
					snprintf(why, len, "workload write: %s", strerror(errno));
					return -errno;
				}
			}
			if (d->eof && d->len == 0 && !d->done) {
				shutdown(pfd, SHUT_WR);
				d->done = true;
				progress = true;
			}
			/* reading can make OpenSSL write (a KeyUpdate answer) */
			if (!u->done && relay_bio_pending(bio) && relay_bio_writable(bio)) {
				rc = relay_bio_flush(bio);
				if (rc == 0)
					progress = true;
			}
		}
		if (u->done && d->done)
			break;
		/* wait for exactly what blocks: a drained or full socket */
		if (!u->eof && u->len == 0 && !p_rd)
			pev |= POLLIN;
		if (d->off < d->len && !p_wr)
			pev |= POLLOUT;
		if (!d->eof && d->len < sizeof(d->buf) && !relay_bio_readable(bio))
			tev |= POLLIN;
		if (!u->done && relay_bio_pending(bio) && !relay_bio_writable(bio))
			tev |= POLLOUT;
		tev |= sw;
		{
			int tfd = BIO_get_fd(bio, NULL);
			struct pollfd p[2] = { { .fd = pev ? pfd : -1, .events = pev },
					       { .fd = tev ? tfd : -1, .events = tev } };
			const short any = POLLERR | POLLHUP;

			if (poll(p, 2, POLL_MS) < 0 && errno != EINTR) {
				snprintf(why, len, "poll: %s", strerror(errno));
				return -errno;
			}
			if (p[0].revents & (POLLIN | any))
				p_rd = true;
			if (p[0].revents & (POLLOUT | any))
				p_wr = true;
			relay_bio_ready(bio, p[1].revents & (POLLIN | any),
					p[1].revents & (POLLOUT | any));
		}
	}
	return 0;
}

/* --- kernel (kTLS + splice) ---------------------------------------------- */

#define PIPE_SIZE (256 * 1024)

struct pipe_half {
	int r, w;
	size_t in_pipe;
	bool eof, done;
};

static int pipe_open(struct pipe_half *h)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE); /* best effort */
	h->r = p[0];
	h->w = p[1];
	h->in_pipe = 0;
	h->eof = h->done = false;
	return 0;
}

static void pipe_close(struct pipe_half *h)
{
	if (h->r >= 0)
		close(h->r);
	if (h->w >= 0)
		close(h->w);
	h->r = h->w = -1;
}

/* Write all of buf to a nonblocking socket, waiting as needed. */
static int write_all(int fd, const unsigned char *buf, size_t n)
{
	while (n) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);

		if (w > 0) {
			buf += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			poll(&p, 1, POLL_MS);
		} else {
			return -errno;
		}
	}
	return 0;
}

int relay_kernel(int pfd, int tfd, struct relay_bytes *b,
		 const _Atomic int *stop, char *why, size_t len)
{
	struct pipe_half up = { -1, -1, 0, false, false }, down = { -1, -1, 0, false, false };
	const unsigned int fl = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
	int rc = 0;

	if ((rc = pipe_open(&up)) || (rc = pipe_open(&down))) {
		snprintf(why, len, "pipe: %s", strerror(-rc));
		goto out;
	}
	set_nonblock(pfd);
	set_nonblock(tfd);
	while (!(up.done && down.done)) {
		short pev = 0, tev = 0;
		bool progress = true;

		if (atomic_load(stop)) {
			snprintf(why, len, "agent stopping");
			rc = -ECANCELED;
			goto out;
		}
		while (progress) {
			ssize_t n;

			progress = false;
			/* workload -> pipe -> kTLS */
			if (!up.eof && up.in_pipe < PIPE_SIZE / 2) {
				n = splice(pfd, NULL, up.w, NULL, PIPE_SIZE / 2, fl);
				if (n > 0) {
					up.in_pipe += (size_t)n;
					progress = true;
				} else if (n == 0) {
					up.eof = true;
					progress = true;
				} else if (errno != EAGAIN && errno != EINTR) {
					snprintf(why, len, "splice from workload: %s", strerror(errno));
					rc = -errno;
					goto out;
				}
			}
			if (up.in_pipe) {
				n = splice(up.r, NULL, tfd, NULL, up.in_pipe, fl);
				if (n > 0) {
					up.in_pipe -= (size_t)n;
					atomic_fetch_add(&b->to_peer, (uint64_t)n);
					progress = true;
				} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
					snprintf(why, len, "splice to TLS: %s", strerror(errno));
					rc = -errno;
					goto out;
				} else {
					tev |= POLLOUT;
				}
			}
			if (up.eof && !up.in_pipe && !up.done) {
				ktls_send_close_notify(tfd);
				shutdown(tfd, SHUT_WR);
				up.done = true;
				progress = true;
			}
			/* kTLS -> pipe -> workload */
			if (!down.eof && down.in_pipe < PIPE_SIZE / 2) {
				n = splice(tfd, NULL, down.w, NULL, PIPE_SIZE / 2, fl);
				if (n > 0) {
					down.in_pipe += (size_t)n;
					progress = true;
				} else if (n == 0) {
					down.eof = true;
					progress = true;
				} else if (errno == EINVAL || errno == EIO) {
					/* a record that is not data: an alert, most likely */
					unsigned char rec[16384 + 256], type = 0;
					ssize_t r;

					if (down.in_pipe)
						goto drain; /* keep order: empty the pipe first */
					r = ktls_recv_record(tfd, rec, sizeof(rec), &type);
					if (r < 0) {
						snprintf(why, len, "TLS record: %s", strerror((int)-r));
						rc = (int)r;
						goto out;
					}
					if (r == 0 || (type == 21 && ktls_is_close_notify(rec, r))) {
						down.eof = true;
					} else if (type == 21) {
						snprintf(why, len, "TLS alert %u from the peer", rec[1]);
						rc = -ECONNABORTED;
						goto out;
					} else if (type == 23) {
						if (write_all(pfd, rec, (size_t)r)) {
							snprintf(why, len, "workload write: %s", strerror(errno));
							rc = -errno;
							goto out;
						}
						atomic_fetch_add(&b->to_workload, (uint64_t)r);
					}
					progress = true;
				} else if (errno != EAGAIN && errno != EINTR) {
					snprintf(why, len, "splice from TLS: %s", strerror(errno));
					rc = -errno;
					goto out;
				}
			}
drain:
			if (down.in_pipe) {
				n = splice(down.r, NULL, pfd, NULL, down.in_pipe, fl);
				if (n > 0) {
					down.in_pipe -= (size_t)n;
					atomic_fetch_add(&b->to_workload, (uint64_t)n);
					progress = true;
				} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
					snprintf(why, len, "splice to workload: %s", strerror(errno));
					rc = -errno;
					goto out;
				} else {
					pev |= POLLOUT;
				}
			}
			if (down.eof && !down.in_pipe && !down.done) {
				shutdown(pfd, SHUT_WR);
				down.done = true;
				progress = true;
			}
		}
		if (up.done && down.done)
			break;
		if (!up.eof && up.in_pipe < PIPE_SIZE / 2)
			pev |= POLLIN;
		if (!down.eof && down.in_pipe < PIPE_SIZE / 2)
			tev |= POLLIN;
		{
			struct pollfd p[2] = { { .fd = pfd, .events = pev },
					       { .fd = tfd, .events = tev } };

			if (poll(p, 2, POLL_MS) < 0 && errno != EINTR) {
				snprintf(why, len, "poll: %s", strerror(errno));
				rc = -errno;
				goto out;
			}
		}
	}
out:
	pipe_close(&up);
	pipe_close(&down);
	return rc;
}
