/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel TLS for the tunnels: after OpenSSL's TLS 1.3 handshake, install
 * the traffic keys on the socket (TLS_TX and TLS_RX) so records are sealed
 * and opened in the kernel, and bulk data can move without userspace.
 *
 * Debian's OpenSSL 3.0 cannot hand the receive side of TLS 1.3 to the
 * kernel, so the keys are derived here from the handshake's traffic
 * secrets, which a keylog callback (ktls_keylog_cb, set on every tunnel
 * context) keeps in the SSL's ex data. The record sequence numbers are
 * the count of records each side protected after the handshake: the
 * contexts send no session tickets, so those are only the tunnel's own.
 */
#ifndef TRESTLE_KTLS_H
#define TRESTLE_KTLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* Does this kernel take the "tls" ULP? Probed once per process. */
bool ktls_available(void);

/* The keylog callback that records the traffic secrets (install on each
 * SSL_CTX used for tunnels). */
void ktls_keylog_cb(const SSL *ssl, const char *line);

/* Forget what the callback stored for ssl (call before SSL_free; also
 * clears the secrets from memory). */
void ktls_forget(SSL *ssl);

/*
 * Move ssl's connection (fd) into the kernel: TLS_TX with tx_seq records
 * already sent, TLS_RX with rx_seq records already received. 0, or -errno
 * with why (the socket is then unchanged when the ULP could not be set,
 * and unusable otherwise: the caller closes it).
 */
int ktls_install(SSL *ssl, int fd, uint64_t tx_seq, uint64_t rx_seq,
		 char *why, size_t len);

/* With TLS_TX installed: send a close_notify alert (TLS 1.3 half-close). */
int ktls_send_close_notify(int fd);

/*
 * With TLS_RX installed, a splice() that fails with EINVAL or EIO stopped at
 * a record that is not application data: read one record with its type
 * into buf. Returns the length (0 at end of stream) and *type (21 alert,
 * 22 handshake, 23 data), or -errno.
 */
ssize_t ktls_recv_record(int fd, void *buf, size_t len, unsigned char *type);

/* An alert record's bytes: is it close_notify? */
static inline bool ktls_is_close_notify(const unsigned char *rec, ssize_t n)
{
	return n >= 2 && rec[1] == 0;
}

#endif /* TRESTLE_KTLS_H */
