/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's certificates (--certs DIR):
 *   DIR/ca.crt                    trust bundle: one or more CA certificates
 *   DIR/NAMESPACE/SA.crt, SA.key  the SVID of each local workload identity
 *                                 (leaf first, intermediates may follow)
 *
 * The store loads everything, checks every file (SVID rules of svid.h,
 * key matches certificate, trust domain matches the mesh's, validity,
 * chains to the bundle) and builds one server and one client SSL_CTX per
 * identity (tls_ctx.h). certstore_reload() builds a complete new set and
 * swaps it in under a lock: connections already established keep the
 * SSL_CTX they took (reference counted), new ones get the renewed one. A
 * missing or bad file is logged naming the file and the reason; the
 * identity then has no context and its traffic is refused (never sent in
 * clear). Thread-safe: the tunnel threads call certstore_ctx concurrently.
 */
#ifndef TRESTLE_CERTSTORE_H
#define TRESTLE_CERTSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

#include "svid.h"
#include "tls_ctx.h"

struct certstore;

/* Open dir for trust_domain; the first load happens here (problems are
 * logged, not fatal, except an unreadable dir). NULL with err on failure. */
struct certstore *certstore_open(const char *dir, const char *trust_domain,
				 const struct tls_opts *opts, char *err, size_t errlen);
void certstore_close(struct certstore *cs);

/* Change the trust domain (Mesh object changed) and reload. */
int certstore_set_trust_domain(struct certstore *cs, const char *trust_domain);

/* Re-read everything; swap in the new set. Returns the number of usable
 * identities, or -1 when the bundle is unusable (then every identity is
 * without context). Logs what changed ("renewed ns/sa", "removed", ...). */
int certstore_reload(struct certstore *cs);

/* inotify fd (nonblocking) watching DIR and its namespace folders; when it
 * is readable call certstore_on_watch(), which drains it and reloads after
 * a short settle (it returns true when a reload happened). */
int certstore_watch_fd(const struct certstore *cs);
bool certstore_on_watch(struct certstore *cs);

/*
 * A new reference to the context for identity ns/sa and role, or NULL and
 * *why (TR_TLS_NO_LOCAL_CERT, TR_TLS_EXPIRED, ...) when there is no usable
 * SVID. The caller frees it with SSL_CTX_free.
 */
SSL_CTX *certstore_ctx(struct certstore *cs, const char *ns, const char *sa,
		       enum tls_role role, enum tr_tls_reason *why);

/* A server context with the bundle and verification but no certificate:
 * the listener's first context, before SNI picks the identity. New ref. */
SSL_CTX *certstore_base_server_ctx(struct certstore *cs);

/* One line per identity for logs and tests: "ns/sa ok|REASON not_after". */
struct certstore_entry {
	char ns[64], sa[64];
	enum tr_tls_reason state;
	long not_after;
	char file[512];
};
/* Up to max entries; returns the count. */
size_t certstore_list(struct certstore *cs, struct certstore_entry *out, size_t max);

/*
 * What the store does to each file, for the CLI (trestle cert verify) too.
 * certstore_load_bundle: the CA certificates of a PEM file as a new store
 * (every certificate must be a CA). NULL with err naming the file.
 */
X509_STORE *certstore_load_bundle(const char *path, char *err, size_t errlen);
/*
 * Check an SVID against a bundle: the chain (leaf, then intermediates in
 * chain, may be NULL) up to a CA of the bundle at time now, the SVID rules,
 * and, when trust_domain is not NULL, the trust domain. TR_TLS_OK with *id
 * filled, or the reason with a sentence in detail.
 */
enum tr_tls_reason certstore_check_svid(X509_STORE *bundle, X509 *leaf,
					STACK_OF(X509) *chain,
					const char *trust_domain, time_t now,
					struct spiffe_id *id, char *detail,
					size_t detail_len);

#endif /* TRESTLE_CERTSTORE_H */
