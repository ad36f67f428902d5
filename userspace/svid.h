/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * X.509 SVIDs: SPIFFE identities in certificates.
 *
 * An SVID here is a leaf certificate with exactly one URI SAN
 * spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT, CA:FALSE and
 * digitalSignature, signed (directly or through intermediates) by a CA of
 * the trust bundle. Used by the CLI (ca init, cert issue, cert show) and by
 * the agent (certstore.h, tls_ctx.h).
 */
#ifndef TRESTLE_SVID_H
#define TRESTLE_SVID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

/* The longest ID struct spiffe_id can hold, formatted, with its NUL:
 * "spiffe://" + 127 + "/ns/" + 63 + "/sa/" + 63 + 1. */
#define SPIFFE_ID_MAX 272

/* Why a peer (or our own certificate) is refused. Never renumbered: the
 * names are metric label values and log words (tr_tls_reason_name). */
enum tr_tls_reason {
	TR_TLS_OK = 0,
	TR_TLS_UNKNOWN_CA,          /* "unknown_ca": chain does not reach the bundle */
	TR_TLS_EXPIRED,             /* "expired" */
	TR_TLS_NOT_YET_VALID,       /* "not_yet_valid" */
	TR_TLS_WRONG_TRUST_DOMAIN,  /* "wrong_trust_domain" */
	TR_TLS_MULTIPLE_URI_SAN,    /* "multiple_uri_san" */
	TR_TLS_NO_SPIFFE_ID,        /* "no_spiffe_id": no URI SAN, or not a valid spiffe://TD/ns/NS/sa/SA */
	TR_TLS_NO_PEER_CERT,        /* "no_peer_certificate" */
	TR_TLS_PROTOCOL_VERSION,    /* "protocol_version": peer cannot do TLS 1.3 */
	TR_TLS_WRONG_IDENTITY,      /* "wrong_identity": valid SVID, not the one expected */
	TR_TLS_BAD_CERT,            /* "bad_certificate": CA:TRUE leaf, wrong key usage, key mismatch, unreadable */
	TR_TLS_NO_LOCAL_CERT,       /* "no_local_certificate": we hold no usable SVID for the workload */
	TR_TLS_HANDSHAKE,           /* "handshake_failed": anything else (cipher/group mismatch, reset, timeout) */
	TR_TLS_REASON_MAX,
};

const char *tr_tls_reason_name(enum tr_tls_reason r);

/* spiffe://TD/ns/NS/sa/SA, split. */
struct spiffe_id {
	char trust_domain[128];
	char ns[64];
	char sa[64];
};

/* Parse and validate a SPIFFE ID of the workload form. 0, or -1 with a
 * message naming what is wrong in err. */
int spiffe_id_parse(const char *uri, struct spiffe_id *out, char *err, size_t errlen);
/* "spiffe://TD/ns/NS/sa/SA" into buf; buf too short is a truncation. */
void spiffe_id_format(const struct spiffe_id *id, char *buf, size_t len);
/* A trust domain alone ("example.org"): 0, or -1 with a message in err. */
int spiffe_trust_domain_check(const char *td, char *err, size_t errlen);
/* A path segment (namespace or service account name): true when valid. */
bool spiffe_segment_valid(const char *s);

/*
 * The SPIFFE ID of a leaf certificate: TR_TLS_OK and *out filled, or the
 * reason it is not an SVID (TR_TLS_MULTIPLE_URI_SAN, TR_TLS_NO_SPIFFE_ID,
 * TR_TLS_BAD_CERT for CA:TRUE or missing digitalSignature).
 */
enum tr_tls_reason svid_identity(X509 *leaf, struct spiffe_id *out);
/* The same, with a sentence saying what is wrong in detail ("" when OK). */
enum tr_tls_reason svid_identity_detail(X509 *leaf, struct spiffe_id *out,
					char *detail, size_t len);

/* What `trestle cert show` prints. */
struct svid_info {
	char spiffe_id[SPIFFE_ID_MAX]; /* "" when the certificate has none */
	enum tr_tls_reason svid_ok;    /* svid_identity's verdict */
	char subject[256];
	char issuer[256];
	char serial[80];               /* hex */
	char key_type[32];             /* "EC P-256", "EC P-384", "RSA 2048", ... */
	char sig_alg[64];
	time_t not_before, not_after;
	bool is_ca;
	char fingerprint_sha256[96];   /* AA:BB:... */
};
/* Read the first certificate of a PEM file. 0 or -1 with err. */
int svid_describe_file(const char *path, struct svid_info *out, char *err, size_t errlen);

/* Key algorithms for new keys. */
enum svid_key_type { SVID_KEY_EC_P256 = 0, SVID_KEY_EC_P384, SVID_KEY_RSA2048 };
int svid_key_type_parse(const char *s, enum svid_key_type *out); /* "ec-p256", "ec-p384", "rsa-2048" */

/*
 * `trestle ca init`: a self-signed root CA for trust_domain (CA:TRUE,
 * keyCertSign+cRLSign, URI SAN spiffe://TD, subject O=Trestle, CN=TD),
 * written to outdir/ca.crt and outdir/ca.key (0600; refuses to overwrite
 * unless force). ttl in seconds (0 = 10 years).
 */
int svid_ca_init(const char *trust_domain, const char *outdir, enum svid_key_type kt,
		 uint64_t ttl, bool force, char *err, size_t errlen);

/*
 * `trestle cert issue`: an SVID for spiffe_id signed by ca_dir/ca.{crt,key}:
 * exactly one URI SAN, CA:FALSE, digitalSignature (+ keyEncipherment for
 * RSA), extendedKeyUsage serverAuth+clientAuth, subject O=Trestle, random
 * 128-bit serial, not_before = now - 60 s (clock skew), ttl seconds
 * (0 = 24 hours). The ID's trust domain must be the CA's. Writes
 * prefix.crt (leaf, then nothing else) and prefix.key (0600). Writes
 * through temporary files renamed into place so a watcher never sees half
 * a file. not_before_offset shifts validity (tests: negative = in the past,
 * positive = not yet valid); 0 normally.
 */
int svid_issue(const char *ca_dir, const char *spiffe_id, const char *prefix,
	       enum svid_key_type kt, uint64_t ttl, int64_t not_before_offset,
	       char *err, size_t errlen);

/* "30s", "15m", "24h", "90d", or plain seconds. 0 or -1. */
int svid_parse_duration(const char *s, uint64_t *seconds);

/*
 * Helpers the CLI and the certificate store share. Each returns 0, or -1
 * with a message naming the file in err; what they return the caller frees
 * (X509_free, OSSL_STACK_OF_X509_free / sk_X509_pop_free, EVP_PKEY_free).
 */
/* All certificates of a PEM file (or one DER certificate): the first in
 * *leaf, the others in *chain (may be empty; chain may be NULL). */
int svid_load_chain(const char *path, X509 **leaf, STACK_OF(X509) **chain,
		    char *err, size_t errlen);
/* An unencrypted private key, PEM (PKCS#8, SEC1 or PKCS#1). */
int svid_load_key(const char *path, EVP_PKEY **key, char *err, size_t errlen);
/* "EC P-256", "EC P-384", "RSA 2048", "ED25519", ... */
void svid_key_desc(EVP_PKEY *key, char *buf, size_t len);
/* The trust domain of a CA certificate: its URI SAN spiffe://TD. 0, or -1
 * when it has none. */
int svid_ca_trust_domain(X509 *ca, char *td, size_t len);
/* SHA-256 fingerprint "AA:BB:..." (95 characters and a NUL). */
void svid_fingerprint(X509 *x, char *buf, size_t len);

#endif /* TRESTLE_SVID_H */
