// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TLS 1.3 contexts for the mTLS tunnels: the algorithm policy, the SVID
 * checks of the peer (a verify callback), and the classification of a
 * failed handshake on both of its ends.
 */
#include "ktls.h"
#include "tls_ctx.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include "log.h"

#define CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define CIPHERS_FIPS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
#define GROUPS "X25519:P-256:P-384"
#define GROUPS_FIPS "P-256:P-384"
/* ECDSA P-256/P-384 and RSA-PSS: all FIPS-approved, the same list in both
 * modes (no RSA PKCS#1 v1.5 signatures: TLS 1.3 forbids them anyway). */
#define SIGALGS "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:" \
		"rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:" \
		"rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512"
#define VERIFY_DEPTH 8

/*
 * The X509_V_ERR_* the verify callback leaves for each refusal: OpenSSL
 * turns it into the alert the peer receives (ssl_x509err2alert()), so the
 * peer can tell the reasons apart. A code OpenSSL's table does not list
 * becomes certificate_unknown (46), which carries not_yet_valid.
 */
#define X509_ERR_CERT_UNKNOWN X509_V_ERR_SUBTREE_MINMAX

struct ctx_data {
	char trust_domain[128];
	bool fips;
};

static pthread_once_t idx_once = PTHREAD_ONCE_INIT;
static int ctx_idx = -1; /* SSL_CTX: struct ctx_data */
static int ssl_idx = -1; /* SSL: the first refusal, reason | x509_err << 8 */
static int hello_idx = -1; /* SSL (server): HELLO_TLS13 or HELLO_OLD */

#define HELLO_TLS13 ((void *)1) /* the client offered TLS 1.3 */
#define HELLO_OLD ((void *)2)   /* it did not */

static pthread_mutex_t prov_lock = PTHREAD_MUTEX_INITIALIZER;
static OSSL_PROVIDER *fips_prov, *base_prov;

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const char *ossl_reason(char *buf, size_t len)
{
	unsigned long e, last = 0;
	const char *r;

	while ((e = ERR_get_error()))
		last = e;
	r = last ? ERR_reason_error_string(last) : NULL;
	snprintf(buf, len, "%s", r ? r : "unknown OpenSSL error");
	return buf;
}

static void ctx_data_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			  long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void init_indices(void)
{
	ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ctx_data_free);
	ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	hello_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static bool indices_ready(void)
{
	pthread_once(&idx_once, init_indices);
	return ctx_idx >= 0 && ssl_idx >= 0 && hello_idx >= 0;
}

/* ------------------------------------------------------------------ */
/* process set-up */

int tls_global_init(const struct tls_opts *opts, bool *provider_loaded,
		    char *err, size_t errlen)
{
	const char *dir;
	char why[256];
	int ret = 0;

	if (provider_loaded)
		*provider_loaded = false;
	if (!OPENSSL_init_ssl(0, NULL) || !indices_ready())
		return fail(err, errlen, "cannot initialize OpenSSL");
	if (!opts || !opts->fips)
		return 0;

	pthread_mutex_lock(&prov_lock);
	if (fips_prov)
		goto loaded;
	ERR_set_mark();
	fips_prov = OSSL_PROVIDER_load(NULL, "fips");
	if (fips_prov) {
		base_prov = OSSL_PROVIDER_load(NULL, "base");
		if (!base_prov || !EVP_default_properties_enable_fips(NULL, 1)) {
			ossl_reason(why, sizeof(why));
			ERR_pop_to_mark();
			if (base_prov)
				OSSL_PROVIDER_unload(base_prov);
			OSSL_PROVIDER_unload(fips_prov);
			base_prov = fips_prov = NULL;
			ret = fail(err, errlen,
				   "the FIPS provider loaded but cannot be made the default (%s)",
				   why);
			goto out;
		}
		ERR_pop_to_mark();
		log_info("FIPS mode: OpenSSL's FIPS provider is loaded; only approved algorithms are used");
		goto loaded;
	}
	ERR_pop_to_mark();
	dir = getenv("OPENSSL_MODULES");
	if (!dir || !*dir)
		dir = OPENSSL_info(OPENSSL_INFO_MODULES_DIR);
	if (opts->fips_require) {
		ret = fail(err, errlen,
			   "--fips=require: OpenSSL's FIPS provider is not available (no usable fips.so in %s, or no fipsmodule.cnf; Debian 12 ships none). Install a FIPS 140-3 validated OpenSSL 3 provider and run 'openssl fipsinstall', or use --fips to restrict the algorithms without it",
			   dir ? dir : "the OpenSSL modules directory");
		goto out;
	}
	log_warn("--fips: OpenSSL's FIPS provider is not available (no usable fips.so in %s); only the algorithm restriction applies (AES-GCM, P-256/P-384, ECDSA/RSA-PSS), with OpenSSL's default implementations",
		 dir ? dir : "the OpenSSL modules directory");
	goto out;
loaded:
	if (provider_loaded)
		*provider_loaded = true;
out:
	pthread_mutex_unlock(&prov_lock);
	return ret;
}

/* ------------------------------------------------------------------ */
/* verification */

enum tr_tls_reason tls_verify_error_reason(int x509_err)
{
	switch (x509_err) {
	case X509_V_OK:
		return TR_TLS_OK;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return TR_TLS_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TR_TLS_NOT_YET_VALID;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_AKID_SKID_MISMATCH:
	case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_PATH_LOOP:
		return TR_TLS_UNKNOWN_CA;
	default:
		return TR_TLS_BAD_CERT;
	}
}

static int reason_x509_err(enum tr_tls_reason r)
{
	switch (r) {
	case TR_TLS_UNKNOWN_CA:
		return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY; /* unknown_ca */
	case TR_TLS_EXPIRED:
		return X509_V_ERR_CERT_HAS_EXPIRED;   /* certificate_expired */
	case TR_TLS_NOT_YET_VALID:
		return X509_ERR_CERT_UNKNOWN;          /* certificate_unknown */
	case TR_TLS_NO_SPIFFE_ID:
	case TR_TLS_MULTIPLE_URI_SAN:
		return X509_V_ERR_INVALID_PURPOSE;     /* unsupported_certificate */
	case TR_TLS_WRONG_TRUST_DOMAIN:
		return X509_V_ERR_APPLICATION_VERIFICATION; /* handshake_failure */
	default:
		return X509_V_ERR_CERT_REJECTED;       /* bad_certificate */
	}
}

static void record(SSL *ssl, enum tr_tls_reason r, int x509_err)
{
	uintptr_t v = (uintptr_t)r | ((uintptr_t)(unsigned int)x509_err << 8);

	if (!SSL_get_ex_data(ssl, ssl_idx))
		SSL_set_ex_data(ssl, ssl_idx, (void *)v);
}

/*
 * Called by OpenSSL for every problem in the peer's chain (ok 0) and once
 * per certificate that passed (ok 1), the leaf (depth 0) last: the SVID
 * rules and the trust domain are checked on the leaf once the chain is
 * good. The first refusal is recorded; its X509 error picks the alert.
 */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	int x509_err = X509_STORE_CTX_get_error(xs);
	enum tr_tls_reason r = TR_TLS_OK;
	const struct ctx_data *d;
	struct spiffe_id id;

	if (!ssl)
		return 0;
	if (!ok) {
		r = tls_verify_error_reason(x509_err);
	} else if (X509_STORE_CTX_get_error_depth(xs) == 0) {
		d = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx);
		r = svid_identity(X509_STORE_CTX_get_current_cert(xs), &id);
		if (r == TR_TLS_OK && (!d || strcmp(id.trust_domain, d->trust_domain)))
			r = TR_TLS_WRONG_TRUST_DOMAIN;
		x509_err = r == TR_TLS_OK ? X509_V_OK : X509_V_ERR_APPLICATION_VERIFICATION;
	}
	if (r == TR_TLS_OK)
		return 1;
	record(ssl, r, x509_err);
	X509_STORE_CTX_set_error(xs, reason_x509_err(r));
	return 0;
}

/*
 * Servers: note whether the client offers TLS 1.3 (supported_versions), so
 * that a server without a certificate, which cannot do TLS 1.3, is told
 * apart from a client that cannot.
 */
static int client_hello_cb(SSL *ssl, int *al, void *arg)
{
	const unsigned char *p;
	size_t len, n;
	bool v13 = false;

	(void)al;
	(void)arg;
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions, &p, &len) &&
	    len >= 1) {
		n = p[0];
		for (size_t i = 1; i + 1 < len && i + 1 <= n; i += 2)
			if (p[i] == 0x03 && p[i + 1] == 0x04)
				v13 = true;
	}
	SSL_set_ex_data(ssl, hello_idx, v13 ? HELLO_TLS13 : HELLO_OLD);
	return SSL_CLIENT_HELLO_SUCCESS;
}

bool tls_key_fips_approved(EVP_PKEY *key)
{
	char group[64];

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(key, group, sizeof(group), NULL))
			return false;
		return !strcmp(group, "prime256v1") || !strcmp(group, "P-256") ||
		       !strcmp(group, "secp384r1") || !strcmp(group, "P-384");
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		return EVP_PKEY_get_bits(key) >= 2048;
	default:
		return false;
	}
}

SSL_CTX *tls_ctx_new(enum tls_role role, X509 *cert, EVP_PKEY *key,
		     STACK_OF(X509) *chain, X509_STORE *bundle,
		     const char *trust_domain, const struct tls_opts *opts,
		     char *err, size_t errlen)
{
	bool fips = opts && opts->fips;
	struct ctx_data *d = NULL;
	SSL_CTX *ctx = NULL;
	char why[256], msg[160];

	if (!indices_ready()) {
		fail(err, errlen, "cannot initialize OpenSSL");
		return NULL;
	}
	if (!bundle) {
		fail(err, errlen, "no trust bundle");
		return NULL;
	}
	if (spiffe_trust_domain_check(trust_domain, msg, sizeof(msg))) {
		fail(err, errlen, "trust domain: %s", msg);
		return NULL;
	}
	if (!cert != !key) {
		fail(err, errlen, "a certificate needs its key, and a key its certificate");
		return NULL;
	}
	if (fips && key && !tls_key_fips_approved(key)) {
		svid_key_desc(key, msg, sizeof(msg));
		fail(err, errlen,
		     "FIPS mode: a %s key is not approved (use EC P-256, EC P-384 or RSA of 2048 bits or more)",
		     msg);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(d->trust_domain, sizeof(d->trust_domain), "%s", trust_domain);
	d->fips = fips;

	ERR_clear_error();
	ctx = SSL_CTX_new(role == TLS_ROLE_SERVER ? TLS_server_method() : TLS_client_method());
	if (!ctx)
		goto ossl_fail;
	if (!SSL_CTX_set_ex_data(ctx, ctx_idx, d))
		goto ossl_fail;
	d = NULL; /* the context owns it now */
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		goto ossl_fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!SSL_CTX_set_num_tickets(ctx, 0) ||
	    !SSL_CTX_set_ciphersuites(ctx, fips ? CIPHERS_FIPS : CIPHERS) ||
	    !SSL_CTX_set1_groups_list(ctx, fips ? GROUPS_FIPS : GROUPS) ||
	    !SSL_CTX_set1_sigalgs_list(ctx, SIGALGS))
		goto ossl_fail;
	SSL_CTX_set1_cert_store(ctx, bundle);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_verify_depth(ctx, VERIFY_DEPTH);
	if (role == TLS_ROLE_SERVER)
		SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, NULL);
	/* kTLS: the traffic secrets the kernel's keys are derived from */
	SSL_CTX_set_keylog_callback(ctx, ktls_keylog_cb);
	if (cert && !SSL_CTX_use_cert_and_key(ctx, cert, key, chain, 1)) {
		ERR_clear_error();
		fail(err, errlen, "the key does not match the certificate, or the certificate cannot be used");
		SSL_CTX_free(ctx);
		return NULL;
	}
	ERR_clear_error();
	return ctx;

ossl_fail:
	fail(err, errlen, "cannot set up the TLS context: %s", ossl_reason(why, sizeof(why)));
	free(d);
	SSL_CTX_free(ctx);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* what a failed handshake says */

/*
 * Had our certificate reached the peer when its alert came? A client's
 * (TLS 1.3) goes last: its handshake was complete. A server's goes in its
 * first flight, after which it waits for the client's certificate.
 */
static bool after_our_certificate(SSL *ssl)
{
	OSSL_HANDSHAKE_STATE st = SSL_get_state(ssl);

	/* after its Finished a TLS 1.3 server is in the (early data) state
	 * that waits for the client's flight */
	if (SSL_is_server(ssl))
		return st == TLS_ST_SW_FINISHED || st == TLS_ST_EARLY_DATA ||
		       st == TLS_ST_SR_CERT || st == TLS_ST_SR_CERT_VRFY ||
		       st == TLS_ST_SR_FINISHED;
	return st == TLS_ST_OK || st == TLS_ST_CW_FINISHED;
}

static enum tr_tls_reason classify_ssl_error(SSL *ssl, int reason)
{
	switch (reason) {
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return TR_TLS_UNKNOWN_CA;
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		return TR_TLS_EXPIRED;
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
		return TR_TLS_NOT_YET_VALID;
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
		return TR_TLS_BAD_CERT;
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
		return TR_TLS_NO_SPIFFE_ID;
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
		return TR_TLS_WRONG_TRUST_DOMAIN;
	case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
		return ssl && after_our_certificate(ssl) ? TR_TLS_WRONG_TRUST_DOMAIN :
							   TR_TLS_HANDSHAKE;
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_NO_CERTIFICATE:
		return TR_TLS_NO_PEER_CERT;
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_VERSION_TOO_HIGH:
	case SSL_R_WRONG_SSL_VERSION:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_TLSV1_ALERT_INAPPROPRIATE_FALLBACK:
		return TR_TLS_PROTOCOL_VERSION;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		if (ssl)
			return tls_verify_error_reason((int)SSL_get_verify_result(ssl));
		return TR_TLS_BAD_CERT;
	default:
		return TR_TLS_HANDSHAKE;
	}
}

enum tr_tls_reason tls_failure_reason(SSL *ssl, int ssl_err)
{
	enum tr_tls_reason r = TR_TLS_HANDSHAKE, q;
	uintptr_t rec = 0;
	unsigned long e;
	bool found = false;

	if (ssl && indices_ready())
		rec = (uintptr_t)SSL_get_ex_data(ssl, ssl_idx);
	if (rec & 0xff) {
		r = (enum tr_tls_reason)(rec & 0xff);
		found = true;
		/* the natural verify error again, for whoever logs it */
		SSL_set_verify_result(ssl, (long)(rec >> 8));
	}
	while ((e = ERR_get_error())) {
		if (found || ERR_GET_LIB(e) != ERR_LIB_SSL)
			continue;
		q = classify_ssl_error(ssl, ERR_GET_REASON(e));
		if (q != TR_TLS_HANDSHAKE) {
			r = q;
			found = true;
		}
	}
	/*
	 * A server that holds no SVID (none configured, or SNI selected none)
	 * cannot do TLS 1.3: to a client that offered it, that is our
	 * problem, not the client's version.
	 */
	if (ssl && !(rec & 0xff) && SSL_is_server(ssl) && !SSL_get_certificate(ssl) &&
	    (r == TR_TLS_HANDSHAKE ||
	     (r == TR_TLS_PROTOCOL_VERSION && SSL_get_ex_data(ssl, hello_idx) == HELLO_TLS13)))
		r = TR_TLS_NO_LOCAL_CERT;
	(void)ssl_err; /* SYSCALL, ZERO_RETURN: the peer went away */
	return r;
}

int tls_peer_identity(SSL *ssl, struct spiffe_id *out)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);

	if (!peer || SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	return svid_identity(peer, out) == TR_TLS_OK ? 0 : -1;
}
