/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The OpenSSL BIO under a tunnel's userspace relay (relay.c): a
 * nonblocking TCP socket with two things OpenSSL's socket BIO lacks.
 *
 * Write batching: OpenSSL writes each TLS record (at most 16 KiB of data)
 * to its BIO separately, so a 64 KiB chunk from the workload became four
 * send() calls and four small segments through the stack. Here records
 * collect in an output buffer that goes out in one send() when it holds
 * RELAY_BIO_FLUSH_AT bytes or when the relay flushes (it does, every time
 * it runs out of input). The buffer is bounded (RELAY_BIO_OUT_CAP): when
 * it is full and the socket takes nothing, writes ask OpenSSL to retry,
 * which the relay sees as SSL_ERROR_WANT_WRITE (backpressure).
 *
 * Readiness memory: a read() that returns less than asked for drained the
 * socket, and a send() that takes less than offered filled it; until the
 * relay's poll() reports the socket ready again, further reads (writes)
 * ask OpenSSL to retry without a system call. poll() is level-triggered,
 * so nothing that arrives in between is missed.
 */
#ifndef TRESTLE_RELAY_BIO_H
#define TRESTLE_RELAY_BIO_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/bio.h>

#define RELAY_BIO_FLUSH_AT (64 * 1024)
#define RELAY_BIO_OUT_CAP (96 * 1024)

/* A BIO on fd (not closed by the BIO), or NULL (out of memory). */
BIO *relay_bio_new(int fd);

/* What the relay's poll() said about the socket. */
void relay_bio_ready(BIO *b, bool readable, bool writable);

/* Would a read (write) try the socket, or is it known to be drained (full)? */
bool relay_bio_readable(BIO *b);
bool relay_bio_writable(BIO *b);

/* Bytes of records waiting in the output buffer. */
size_t relay_bio_pending(BIO *b);

/* Send what the output buffer holds: 0 when it is empty, -EAGAIN when the
 * socket took only part of it, -errno on a socket error. */
int relay_bio_flush(BIO *b);

#endif /* TRESTLE_RELAY_BIO_H */
