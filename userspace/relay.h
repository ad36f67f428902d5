/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Moving a tunnel's bytes between the workload's plain socket and the
 * peer agent's TLS connection, until both directions are closed.
 *
 * relay_userspace: OpenSSL seals and opens the records (kernels without
 * kTLS). relay_kernel: the TLS socket has kTLS on both directions and the
 * data moves with splice() through a pipe, never copied into userspace.
 * Half-close is carried both ways: a workload's shutdown(SHUT_WR) becomes
 * a close_notify (TLS 1.3 closes one direction with it) and a received
 * close_notify becomes shutdown(SHUT_WR) toward the workload.
 */
#ifndef TRESTLE_RELAY_H
#define TRESTLE_RELAY_H

#include <stdatomic.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct relay_bytes {
	_Atomic uint64_t to_peer;     /* workload -> TLS (plaintext bytes) */
	_Atomic uint64_t to_workload; /* TLS -> workload */
};

/* 0 when both directions closed cleanly, -errno (why says more) otherwise.
 * stop: set by another thread to end the relay (agent shutdown). */
int relay_userspace(int pfd, SSL *ssl, int tfd, struct relay_bytes *b,
		    const _Atomic int *stop, char *why, size_t len);
int relay_kernel(int pfd, int tfd, struct relay_bytes *b,
		 const _Atomic int *stop, char *why, size_t len);

#endif /* TRESTLE_RELAY_H */
