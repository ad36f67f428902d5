/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TLS contexts for the agent's mTLS tunnels, and what a handshake says.
 *
 * Every context: TLS 1.3 only (a 1.2-only peer fails with
 * TR_TLS_PROTOCOL_VERSION), peer certificate required both ways
 * (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT), chain checked
 * against the trust bundle, and the peer leaf must be an SVID of the
 * configured trust domain (a verify callback records the first reason in
 * the SSL's ex data, see tls_failure_reason). No session tickets, no
 * resumption (SSL_OP_NO_TICKET, num_tickets 0), so that after the
 * handshake no record has been sent but the ones the tunnel sends itself:
 * the record sequence numbers the kernel needs are known (kTLS). Cipher
 * preference TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
 * TLS_CHACHA20_POLY1305_SHA256 (FIPS: the two AES-GCM only); groups X25519,
 * P-256, P-384 (FIPS: P-256, P-384); signature algorithms ECDSA P-256/P-384,
 * RSA-PSS (all approved: the same list in FIPS mode). Server contexts set
 * a client-hello callback (it notes whether the client offers TLS 1.3, for
 * tls_failure_reason); callers must not replace it.
 */
#ifndef TRESTLE_TLS_CTX_H
#define TRESTLE_TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "svid.h"

enum tls_role { TLS_ROLE_SERVER = 0, TLS_ROLE_CLIENT = 1 };

struct tls_opts {
	bool fips;             /* --fips: approved algorithms only */
	bool fips_require;     /* --fips=require: the FIPS provider must load */
};

/*
 * Once per process, before any context: with opts->fips, load OpenSSL's
 * "fips" provider (and "base") when installed and make it the default
 * property query ("fips=yes"); without the provider, fips_require fails
 * with a message that says so and how to proceed, plain fips logs that
 * only the algorithm restriction applies. *provider_loaded says which.
 */
int tls_global_init(const struct tls_opts *opts, bool *provider_loaded,
		    char *err, size_t errlen);

/*
 * A context for role. cert/key/chain may be NULL (a server context used
 * only until SNI selects the identity). bundle: the trust store (the
 * context takes its own reference). trust_domain: the peer's required
 * trust domain.
 */
SSL_CTX *tls_ctx_new(enum tls_role role, X509 *cert, EVP_PKEY *key,
		     STACK_OF(X509) *chain, X509_STORE *bundle,
		     const char *trust_domain, const struct tls_opts *opts,
		     char *err, size_t errlen);

/*
 * After SSL_connect/SSL_accept failed with ssl_err (SSL_get_error): the
 * reason, from the verify callback's record, the peer's alert, or the
 * error queue (which it clears). Call it right after the failing call, on
 * the same thread (the error queue is per thread).
 *
 * Both ends of a refused handshake classify it: the refusing end from its
 * own check, the refused end from the alert it receives. The alerts sent:
 *   unknown_ca             unknown_ca (48)
 *   expired                certificate_expired (45)
 *   not_yet_valid          certificate_unknown (46)
 *   bad_certificate        bad_certificate (42)
 *   no_spiffe_id,
 *   multiple_uri_san       unsupported_certificate (43): the refused end
 *                          reads no_spiffe_id for both
 *   wrong_trust_domain     handshake_failure (40) once the certificates
 *                          were sent (before that, 40 is handshake_failed)
 *   no_peer_certificate    certificate_required (116)
 *   protocol_version       protocol_version (70)
 * In TLS 1.3 the client's SSL_connect returns 1 before the server has
 * checked the client's certificate: a refusal of it reaches the client on
 * its first SSL_read/SSL_peek, which fails; tls_failure_reason classifies
 * that failure the same way.
 */
enum tr_tls_reason tls_failure_reason(SSL *ssl, int ssl_err);

/* The reason for an X509_V_ERR_* verification error (certstore, CLI). */
enum tr_tls_reason tls_verify_error_reason(int x509_err);

/* Is key allowed in FIPS mode (EC P-256/P-384, RSA >= 2048)? */
bool tls_key_fips_approved(EVP_PKEY *key);

/* After a handshake: the peer's SPIFFE ID (verified). 0 or -1. */
int tls_peer_identity(SSL *ssl, struct spiffe_id *out);

#endif /* TRESTLE_TLS_CTX_H */
