// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TLS contexts (tls_ctx.c) and the certificate store (certstore.c), with
 * real TLS 1.3 handshakes over a socketpair between contexts built by
 * tls_ctx_new(): success with the right peer identities, and every
 * refusal classified by tls_failure_reason() on BOTH ends (a peer from
 * another CA, expired, not yet valid, another trust domain, two URI SANs,
 * a CA:TRUE leaf, no URI SAN, no client certificate, a TLS 1.2-only peer);
 * FIPS mode (AES-GCM only, a ChaCha20-only or X25519-only peer refused,
 * --fips=require refused without the provider). The store: identities
 * listed with their state, bad and mismatched keys named with the reason
 * in the log, a missing bundle, renewal through inotify while an old
 * context stays usable, folders created later, a trust domain change.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "certstore.h"
#include "ktls.h"
#include "log.h"
#include "svid.h"
#include "svid_mint.h"
#include "tls_ctx.h"

static char tmpdir[64];
static X509_STORE *bundle_a;  /* CA A (example.org) */
static X509_STORE *bundle_ao; /* CA A and CA O (other.org) */
static const struct tls_opts no_opts;
static const struct tls_opts fips_opts = { .fips = true };

static const char *tpath(const char *rel)
{
	static char bufs[8][512];
	static int k;
	char *b = bufs[k++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, rel);
	return b;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void issue(const char *ca, const char *id, const char *prefix, uint64_t ttl,
		  int64_t offset)
{
	char err[1024];

	if (svid_issue(tpath(ca), id, tpath(prefix), SVID_KEY_EC_P256, ttl, offset, err,
		       sizeof(err)))
		print_error("issue %s: %s\n", id, err);
	assert_int_equal(svid_issue(tpath(ca), id, tpath(prefix), SVID_KEY_EC_P256, ttl,
				    offset, err, sizeof(err)), 0);
}

static void cat_files(const char *a, const char *b, const char *out)
{
	char buf[8192];
	FILE *fo = fopen(out, "w");
	const char *in[2] = { a, b };

	assert_non_null(fo);
	for (int i = 0; i < 2 && in[i]; i++) {
		FILE *fi = fopen(in[i], "r");
		size_t n;

		assert_non_null(fi);
		while ((n = fread(buf, 1, sizeof(buf), fi)) > 0)
			assert_int_equal(fwrite(buf, 1, n, fo), n);
		fclose(fi);
	}
	fclose(fo);
}

/*
 * The fixture: CA A and CA B (both example.org, different keys), CA O
 * (other.org), and the SVIDs the handshake tests present.
 */
static int group_setup(void **state)
{
	char err[1024];
	const struct { const char *ca, *td; } cas[] = {
		{ "caA", "example.org" }, { "caB", "example.org" }, { "caO", "other.org" },
	};

	(void)state;
	log_setup(LOG_FORMAT_TEXT, LOG_INFO);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tls_ctx.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	for (size_t i = 0; i < 3; i++)
		if (svid_ca_init(cas[i].td, tpath(cas[i].ca), SVID_KEY_EC_P256, 0, false, err,
				 sizeof(err)))
			return -1;
	if (tls_global_init(&no_opts, NULL, err, sizeof(err)))
		return -1;
	issue("caA", "spiffe://example.org/ns/shop/sa/web", "web", 3600, 0);
	issue("caA", "spiffe://example.org/ns/shop/sa/db", "db", 3600, 0);
	issue("caB", "spiffe://example.org/ns/shop/sa/web", "web_b", 3600, 0);
	issue("caA", "spiffe://example.org/ns/shop/sa/web", "expired", 86400, -2 * 86400);
	issue("caA", "spiffe://example.org/ns/shop/sa/web", "future", 86400, 3600);
	issue("caO", "spiffe://other.org/ns/shop/sa/web", "other_td", 3600, 0);
	if (svid_issue(tpath("caA"), "spiffe://example.org/ns/shop/sa/rsa", tpath("rsa"),
		       SVID_KEY_RSA2048, 3600, 0, err, sizeof(err)) ||
	    svid_issue(tpath("caA"), "spiffe://example.org/ns/shop/sa/p384", tpath("p384"),
		       SVID_KEY_EC_P384, 3600, 0, err, sizeof(err)))
		return -1;
	if (mint_svid(tpath("caA"),
		      &(struct mint){ .uris = { "spiffe://example.org/ns/shop/sa/web",
						"spiffe://example.org/ns/shop/sa/db" } },
		      tpath("two_uris")) ||
	    mint_svid(tpath("caA"),
		      &(struct mint){ .uris = { "spiffe://example.org/ns/shop/sa/web" },
				      .ca = true,
				      .ku = "critical,digitalSignature,keyCertSign" },
		      tpath("ca_leaf")) ||
	    mint_svid(tpath("caA"), &(struct mint){ .dns = "web.shop.svc" }, tpath("no_uri")))
		return -1;
	bundle_a = certstore_load_bundle(tpath("caA/ca.crt"), err, sizeof(err));
	cat_files(tpath("caA/ca.crt"), tpath("caO/ca.crt"), tpath("bundle_ao.crt"));
	bundle_ao = certstore_load_bundle(tpath("bundle_ao.crt"), err, sizeof(err));
	return bundle_a && bundle_ao ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_STORE_free(bundle_a);
	X509_STORE_free(bundle_ao);
	return nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A context for role from tmpdir/NAME.{crt,key} (NULL name: no certificate). */
static SSL_CTX *ctx_for(const char *name, enum tls_role role, X509_STORE *bundle,
			const char *td, const struct tls_opts *opts)
{
	char crt[512], key[512], err[1024];
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *leaf = NULL;
	SSL_CTX *ctx;

	if (name) {
		snprintf(crt, sizeof(crt), "%s/%s.crt", tmpdir, name);
		snprintf(key, sizeof(key), "%s/%s.key", tmpdir, name);
		assert_int_equal(svid_load_chain(crt, &leaf, &chain, err, sizeof(err)), 0);
		assert_int_equal(svid_load_key(key, &pkey, err, sizeof(err)), 0);
	}
	ctx = tls_ctx_new(role, leaf, pkey, chain, bundle, td, opts, err, sizeof(err));
	if (!ctx)
		print_error("tls_ctx_new(%s): %s\n", name ? name : "-", err);
	assert_non_null(ctx);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(pkey);
	return ctx;
}

/* ------------------------------------------------------------------ */
/* the handshake driver: both ends on this thread, non-blocking */

struct end {
	SSL *ssl;
	bool done, ok;
	enum tr_tls_reason reason;
	struct spiffe_id peer;
	bool have_peer;
};

struct hs {
	struct end c, s;
	char cipher[64];
	int group;
	int version;
};

static void end_fail(struct end *e, int ret)
{
	int err = SSL_get_error(e->ssl, ret);

	e->done = true;
	e->ok = false;
	/* right away: the error queue belongs to this thread, shared by both ends */
	e->reason = tls_failure_reason(e->ssl, err);
	ERR_clear_error();
}

static void step(struct end *e)
{
	int r, err;

	ERR_clear_error();
	r = SSL_do_handshake(e->ssl);
	if (r == 1) {
		e->done = e->ok = true;
		return;
	}
	err = SSL_get_error(e->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return;
	end_fail(e, r);
}

/* A completed end whose peer failed: its first read brings the alert. */
static void read_alert(struct end *e)
{
	char b[16];
	int r;

	for (int i = 0; i < 10; i++) {
		ERR_clear_error();
		r = SSL_read(e->ssl, b, sizeof(b));
		assert_true(r <= 0);
		if (SSL_get_error(e->ssl, r) != SSL_ERROR_WANT_READ) {
			end_fail(e, r);
			return;
		}
	}
	fail_msg("no alert reached the end whose peer failed");
}

static void xfer(SSL *from, SSL *to, const char *msg)
{
	char b[64] = "";
	int r = -1;

	assert_int_equal(SSL_write(from, msg, (int)strlen(msg)), (int)strlen(msg));
	for (int i = 0; i < 10 && r <= 0; i++)
		r = SSL_read(to, b, sizeof(b) - 1);
	assert_int_equal(r, (int)strlen(msg));
	assert_memory_equal(b, msg, strlen(msg));
}

static void handshake(SSL_CTX *cctx, SSL_CTX *sctx, struct hs *h)
{
	int fds[2];

	memset(h, 0, sizeof(*h));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	h->c.ssl = SSL_new(cctx);
	h->s.ssl = SSL_new(sctx);
	assert_non_null(h->c.ssl);
	assert_non_null(h->s.ssl);
	SSL_set_fd(h->c.ssl, fds[0]);
	SSL_set_fd(h->s.ssl, fds[1]);
	SSL_set_connect_state(h->c.ssl);
	SSL_set_accept_state(h->s.ssl);
	for (int i = 0; i < 50 && (!h->c.done || !h->s.done); i++) {
		if (!h->c.done)
			step(&h->c);
		if (!h->s.done)
			step(&h->s);
	}
	assert_true(h->c.done && h->s.done);
	if (h->c.ok && !h->s.ok)
		read_alert(&h->c);
	else if (h->s.ok && !h->c.ok)
		read_alert(&h->s);
	if (h->c.ok && h->s.ok) {
		xfer(h->c.ssl, h->s.ssl, "ping");
		xfer(h->s.ssl, h->c.ssl, "pong");
		h->c.have_peer = !tls_peer_identity(h->c.ssl, &h->c.peer);
		h->s.have_peer = !tls_peer_identity(h->s.ssl, &h->s.peer);
		snprintf(h->cipher, sizeof(h->cipher), "%s",
			 SSL_CIPHER_get_name(SSL_get_current_cipher(h->c.ssl)));
		h->group = SSL_get_negotiated_group(h->s.ssl);
		h->version = SSL_version(h->c.ssl);
	}
	/* the contexts keep kTLS traffic secrets per SSL (ktls.h) */
	ktls_forget(h->c.ssl);
	ktls_forget(h->s.ssl);
	SSL_free(h->c.ssl);
	SSL_free(h->s.ssl);
	close(fds[0]);
	close(fds[1]);
}

/* Handshake client NAME against server NAME; both fail with the reasons. */
static void expect_refusal(SSL_CTX *cctx, SSL_CTX *sctx, enum tr_tls_reason c_reason,
			   enum tr_tls_reason s_reason, const char *what)
{
	struct hs h;

	handshake(cctx, sctx, &h);
	if (h.c.ok || h.s.ok || h.c.reason != c_reason || h.s.reason != s_reason)
		print_error("%s: client %s %s, server %s %s (want %s, %s)\n", what,
			    h.c.ok ? "ok" : "failed", tr_tls_reason_name(h.c.reason),
			    h.s.ok ? "ok" : "failed", tr_tls_reason_name(h.s.reason),
			    tr_tls_reason_name(c_reason), tr_tls_reason_name(s_reason));
	assert_false(h.c.ok);
	assert_false(h.s.ok);
	assert_int_equal(h.c.reason, c_reason);
	assert_int_equal(h.s.reason, s_reason);
}

/* A refused client certificate, then a refused server certificate. */
static void expect_refused_cert(const char *name, X509_STORE *bundle,
				enum tr_tls_reason refusing, enum tr_tls_reason refused)
{
	SSL_CTX *c = ctx_for(name, TLS_ROLE_CLIENT, bundle, "example.org", &no_opts);
	SSL_CTX *s = ctx_for("db", TLS_ROLE_SERVER, bundle, "example.org", &no_opts);

	expect_refusal(c, s, refused, refusing, name);
	SSL_CTX_free(c);
	SSL_CTX_free(s);
	c = ctx_for("web", TLS_ROLE_CLIENT, bundle, "example.org", &no_opts);
	s = ctx_for(name, TLS_ROLE_SERVER, bundle, "example.org", &no_opts);
	expect_refusal(c, s, refusing, refused, name);
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

/* ------------------------------------------------------------------ */
/* handshakes */

static void test_handshake_ok(void **state)
{
	SSL_CTX *c = ctx_for("web", TLS_ROLE_CLIENT, bundle_a, "example.org", &no_opts);
	SSL_CTX *s = ctx_for("db", TLS_ROLE_SERVER, bundle_a, "example.org", &no_opts);
	struct hs h;

	(void)state;
	handshake(c, s, &h);
	assert_true(h.c.ok);
	assert_true(h.s.ok);
	assert_int_equal(h.version, TLS1_3_VERSION);
	assert_string_equal(h.cipher, "TLS_AES_128_GCM_SHA256");
	assert_int_equal(h.group, NID_X25519);
	assert_true(h.c.have_peer);
	assert_true(h.s.have_peer);
	assert_string_equal(h.c.peer.trust_domain, "example.org");
	assert_string_equal(h.c.peer.ns, "shop");
	assert_string_equal(h.c.peer.sa, "db");
	assert_string_equal(h.s.peer.ns, "shop");
	assert_string_equal(h.s.peer.sa, "web");
	SSL_CTX_free(c);
	SSL_CTX_free(s);

	/* RSA (RSA-PSS signatures) and P-384 SVIDs, also in FIPS mode */
	c = ctx_for("rsa", TLS_ROLE_CLIENT, bundle_a, "example.org", &fips_opts);
	s = ctx_for("p384", TLS_ROLE_SERVER, bundle_a, "example.org", &fips_opts);
	handshake(c, s, &h);
	assert_true(h.c.ok && h.s.ok);
	assert_string_equal(h.c.peer.sa, "p384");
	assert_string_equal(h.s.peer.sa, "rsa");
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

static void test_refused_certificates(void **state)
{
	(void)state;
	/* from another CA of the same trust domain */
	expect_refused_cert("web_b", bundle_a, TR_TLS_UNKNOWN_CA, TR_TLS_UNKNOWN_CA);
	expect_refused_cert("expired", bundle_a, TR_TLS_EXPIRED, TR_TLS_EXPIRED);
	expect_refused_cert("future", bundle_a, TR_TLS_NOT_YET_VALID, TR_TLS_NOT_YET_VALID);
	/* chains to a CA of the bundle, but that CA is other.org's */
	expect_refused_cert("other_td", bundle_ao, TR_TLS_WRONG_TRUST_DOMAIN,
			    TR_TLS_WRONG_TRUST_DOMAIN);
	/* other.org's CA is not in bundle_a at all */
	expect_refused_cert("other_td", bundle_a, TR_TLS_UNKNOWN_CA, TR_TLS_UNKNOWN_CA);
	/* the refused end learns "not a single SPIFFE ID" from the alert */
	expect_refused_cert("two_uris", bundle_a, TR_TLS_MULTIPLE_URI_SAN, TR_TLS_NO_SPIFFE_ID);
	expect_refused_cert("no_uri", bundle_a, TR_TLS_NO_SPIFFE_ID, TR_TLS_NO_SPIFFE_ID);
	expect_refused_cert("ca_leaf", bundle_a, TR_TLS_BAD_CERT, TR_TLS_BAD_CERT);
}

static void test_no_client_certificate(void **state)
{
	SSL_CTX *c = ctx_for(NULL, TLS_ROLE_CLIENT, bundle_a, "example.org", &no_opts);
	SSL_CTX *s = ctx_for("db", TLS_ROLE_SERVER, bundle_a, "example.org", &no_opts);
	struct hs h;

	(void)state;
	expect_refusal(c, s, TR_TLS_NO_PEER_CERT, TR_TLS_NO_PEER_CERT, "no client cert");
	SSL_CTX_free(s);
	/* a server without an SVID (the listener's context before SNI) */
	s = ctx_for(NULL, TLS_ROLE_SERVER, bundle_a, "example.org", &no_opts);
	SSL_CTX_free(c);
	c = ctx_for("web", TLS_ROLE_CLIENT, bundle_a, "example.org", &no_opts);
	handshake(c, s, &h);
	assert_false(h.c.ok);
	assert_false(h.s.ok);
	assert_int_equal(h.s.reason, TR_TLS_NO_LOCAL_CERT);
	SSL_CTX_free(c);
	/* ... but a TLS 1.2 client at it is still a protocol_version refusal */
	c = SSL_CTX_new(TLS_client_method());
	assert_int_equal(SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION), 1);
	expect_refusal(c, s, TR_TLS_PROTOCOL_VERSION, TR_TLS_PROTOCOL_VERSION,
		       "TLS 1.2 client, server without SVID");
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

/* A plain OpenSSL context capped at TLS 1.2, with an SVID. */
static SSL_CTX *tls12_ctx(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION), 1);
	assert_int_equal(SSL_CTX_use_certificate_file(ctx, tpath("web.crt"), SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, tpath("web.key"), SSL_FILETYPE_PEM), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static void test_tls12_peer(void **state)
{
	SSL_CTX *old_c = tls12_ctx(false), *old_s = tls12_ctx(true);
	SSL_CTX *c = ctx_for("web", TLS_ROLE_CLIENT, bundle_a, "example.org", &no_opts);
	SSL_CTX *s = ctx_for("db", TLS_ROLE_SERVER, bundle_a, "example.org", &no_opts);

	(void)state;
	expect_refusal(old_c, s, TR_TLS_PROTOCOL_VERSION, TR_TLS_PROTOCOL_VERSION,
		       "TLS 1.2 client");
	expect_refusal(c, old_s, TR_TLS_PROTOCOL_VERSION, TR_TLS_PROTOCOL_VERSION,
		       "TLS 1.2 server");
	SSL_CTX_free(old_c);
	SSL_CTX_free(old_s);
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

static void test_ctx_policy(void **state)
{
	SSL_CTX *c = ctx_for("web", TLS_ROLE_CLIENT, bundle_a, "example.org", &no_opts);
	char err[1024];
	X509 *leaf;
	EVP_PKEY *key, *ed;
	SSL *ssl;

	(void)state;
	assert_int_equal(SSL_CTX_get_min_proto_version(c), TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(c), TLS1_3_VERSION);
	assert_true(SSL_CTX_get_options(c) & SSL_OP_NO_TICKET);
	assert_int_equal(SSL_CTX_get_num_tickets(c), 0);
	assert_int_equal(SSL_CTX_get_verify_mode(c),
			 SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	ssl = SSL_new(c);
	{
		STACK_OF(SSL_CIPHER) *cs = SSL_get1_supported_ciphers(ssl);
		const char *want[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
				       "TLS_CHACHA20_POLY1305_SHA256" };

		assert_int_equal(sk_SSL_CIPHER_num(cs), 3);
		for (int i = 0; i < 3; i++)
			assert_string_equal(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(cs, i)),
					    want[i]);
		sk_SSL_CIPHER_free(cs);
	}
	SSL_free(ssl);
	SSL_CTX_free(c);

	/* refusals of tls_ctx_new itself */
	assert_int_equal(svid_load_chain(tpath("web.crt"), &leaf, NULL, err, sizeof(err)), 0);
	assert_int_equal(svid_load_key(tpath("db.key"), &key, err, sizeof(err)), 0);
	assert_null(tls_ctx_new(TLS_ROLE_SERVER, leaf, key, NULL, bundle_a, "example.org",
				&no_opts, err, sizeof(err)));
	assert_non_null(strstr(err, "does not match"));
	assert_null(tls_ctx_new(TLS_ROLE_SERVER, leaf, NULL, NULL, bundle_a, "example.org",
				&no_opts, err, sizeof(err)));
	assert_null(tls_ctx_new(TLS_ROLE_SERVER, NULL, NULL, NULL, NULL, "example.org",
				&no_opts, err, sizeof(err)));
	assert_string_equal(err, "no trust bundle");
	assert_null(tls_ctx_new(TLS_ROLE_SERVER, NULL, NULL, NULL, bundle_a, "",
				&no_opts, err, sizeof(err)));
	assert_non_null(strstr(err, "missing trust domain"));
	/* FIPS: only approved keys */
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(ed);
	assert_false(tls_key_fips_approved(ed));
	assert_true(tls_key_fips_approved(key));
	assert_null(tls_ctx_new(TLS_ROLE_SERVER, leaf, ed, NULL, bundle_a, "example.org",
				&fips_opts, err, sizeof(err)));
	assert_non_null(strstr(err, "FIPS mode: a ED25519 key is not approved"));
	EVP_PKEY_free(ed);
	EVP_PKEY_free(key);
	X509_free(leaf);
}

static void test_fips(void **state)
{
	SSL_CTX *c, *s, *chacha, *x25519;
	bool loaded = true;
	char err[1024];
	struct hs h;

	(void)state;
	/* no FIPS provider on this system: --fips=require says so and how to go on */
	if (tls_global_init(&(struct tls_opts){ .fips = true, .fips_require = true }, &loaded,
			    err, sizeof(err)) == 0) {
		assert_true(loaded);
		print_message("a FIPS provider is installed: the refusal is not tested\n");
	} else {
		assert_false(loaded);
		assert_non_null(strstr(err, "--fips=require: OpenSSL's FIPS provider is not available"));
		assert_non_null(strstr(err, "openssl fipsinstall"));
		assert_non_null(strstr(err, "use --fips"));
		/* plain --fips works: the algorithm restriction */
		assert_int_equal(tls_global_init(&fips_opts, &loaded, err, sizeof(err)), 0);
		assert_false(loaded);
	}

	/* a FIPS server and a client that prefers ChaCha20 and X25519: AES-GCM, P-256 */
	c = ctx_for("web", TLS_ROLE_CLIENT, bundle_a, "example.org", &no_opts);
	assert_int_equal(SSL_CTX_set_ciphersuites(c, "TLS_CHACHA20_POLY1305_SHA256:"
						     "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"), 1);
	s = ctx_for("db", TLS_ROLE_SERVER, bundle_a, "example.org", &fips_opts);
	handshake(c, s, &h);
	assert_true(h.c.ok && h.s.ok);
	assert_string_equal(h.cipher, "TLS_AES_128_GCM_SHA256");
	assert_int_equal(h.group, NID_X9_62_prime256v1);
	SSL_CTX_free(c);
	/* a FIPS client against a server that prefers ChaCha20 */
	c = ctx_for("web", TLS_ROLE_CLIENT, bundle_a, "example.org", &fips_opts);
	SSL_CTX_free(s);
	s = ctx_for("db", TLS_ROLE_SERVER, bundle_a, "example.org", &no_opts);
	assert_int_equal(SSL_CTX_set_ciphersuites(s, "TLS_CHACHA20_POLY1305_SHA256:"
						     "TLS_AES_256_GCM_SHA384"), 1);
	handshake(c, s, &h);
	assert_true(h.c.ok && h.s.ok);
	assert_string_equal(h.cipher, "TLS_AES_256_GCM_SHA384");
	assert_true(h.c.have_peer);
	assert_string_equal(h.c.peer.sa, "db");

	/* a ChaCha20-only peer is refused, on both ends, either way round */
	chacha = ctx_for("db", TLS_ROLE_SERVER, bundle_a, "example.org", &no_opts);
	assert_int_equal(SSL_CTX_set_ciphersuites(chacha, "TLS_CHACHA20_POLY1305_SHA256"), 1);
	expect_refusal(c, chacha, TR_TLS_HANDSHAKE, TR_TLS_HANDSHAKE, "ChaCha20-only server");
	SSL_CTX_free(chacha);
	SSL_CTX_free(s);
	s = ctx_for("db", TLS_ROLE_SERVER, bundle_a, "example.org", &fips_opts);
	chacha = ctx_for("web", TLS_ROLE_CLIENT, bundle_a, "example.org", &no_opts);
	assert_int_equal(SSL_CTX_set_ciphersuites(chacha, "TLS_CHACHA20_POLY1305_SHA256"), 1);
	expect_refusal(chacha, s, TR_TLS_HANDSHAKE, TR_TLS_HANDSHAKE, "ChaCha20-only client");
	/* an X25519-only peer too */
	x25519 = ctx_for("web", TLS_ROLE_CLIENT, bundle_a, "example.org", &no_opts);
	assert_int_equal(SSL_CTX_set1_groups_list(x25519, "X25519"), 1);
	expect_refusal(x25519, s, TR_TLS_HANDSHAKE, TR_TLS_HANDSHAKE, "X25519-only client");
	SSL_CTX_free(x25519);
	SSL_CTX_free(chacha);
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

/* ------------------------------------------------------------------ */
/* the certificate store */

static char cap_path[512];
static int saved_stderr = -1;

static void capture_start(void)
{
	int fd;

	snprintf(cap_path, sizeof(cap_path), "%s/log.txt", tmpdir);
	fflush(stderr);
	saved_stderr = dup(2);
	fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
}

/* Stop capturing; the log (caller frees). */
static char *capture_stop(void)
{
	char *buf = calloc(1, 65536);
	FILE *f;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	f = fopen(cap_path, "r");
	assert_non_null(f);
	assert_true(fread(buf, 1, 65535, f) < 65535);
	fclose(f);
	return buf;
}

static void assert_logged(const char *log, const char *what)
{
	if (!strstr(log, what))
		print_error("not in the log: '%s'\n--- log:\n%s---\n", what, log);
	assert_non_null(strstr(log, what));
}

static const struct certstore_entry *find_entry(const struct certstore_entry *e, size_t n,
						const char *ns, const char *sa)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].ns, ns) && !strcmp(e[i].sa, sa))
			return &e[i];
	return NULL;
}

static enum tr_tls_reason entry_state(struct certstore *cs, const char *ns, const char *sa)
{
	struct certstore_entry e[32];
	size_t n = certstore_list(cs, e, 32);
	const struct certstore_entry *x = find_entry(e, n, ns, sa);

	assert_non_null(x);
	return x->state;
}

/* Wait for the watch fd, then let the store take the change. */
static void watch_and_reload(struct certstore *cs)
{
	struct pollfd p = { .fd = certstore_watch_fd(cs), .events = POLLIN };

	assert_true(p.fd >= 0);
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_true(certstore_on_watch(cs));
}

static void copy_file(const char *from, const char *to)
{
	cat_files(from, NULL, to);
}

static void fingerprint_of(SSL_CTX *ctx, char *buf, size_t len)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);

	assert_non_null(x);
	svid_fingerprint(x, buf, len);
}

static void test_certstore(void **state)
{
	struct certstore_entry e[32];
	SSL_CTX *srv_old, *srv_new, *cli, *base;
	char err[1024], fp_old[96], fp_new[96];
	enum tr_tls_reason why;
	struct certstore *cs;
	struct hs h;
	char *log;
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(mkdir(tpath("store"), 0755), 0);
	copy_file(tpath("caA/ca.crt"), tpath("store/ca.crt"));
	issue("caA", "spiffe://example.org/ns/shop/sa/web", "store/shop/web", 3600, 0);
	issue("caA", "spiffe://example.org/ns/pay/sa/api", "store/pay/api", 3600, 0);
	/* db's key is web's: mismatched */
	issue("caA", "spiffe://example.org/ns/shop/sa/db", "store/shop/db", 3600, 0);
	copy_file(tpath("store/shop/web.key"), tpath("store/shop/db.key"));
	/* a key file that is no key */
	issue("caA", "spiffe://example.org/ns/shop/sa/junk", "store/shop/junk", 3600, 0);
	f = fopen(tpath("store/shop/junk.key"), "w");
	fputs("this is not a key\n", f);
	fclose(f);
	/* a certificate without its key */
	issue("caA", "spiffe://example.org/ns/shop/sa/lone", "store/shop/lone", 3600, 0);
	unlink(tpath("store/shop/lone.key"));
	/* expired; in the wrong place; from another CA */
	issue("caA", "spiffe://example.org/ns/shop/sa/old", "store/shop/old", 86400, -2 * 86400);
	issue("caA", "spiffe://example.org/ns/shop/sa/web", "store/shop/moved", 3600, 0);
	issue("caB", "spiffe://example.org/ns/shop/sa/stranger", "store/shop/stranger", 3600, 0);
	/* valid in an hour: contexts wait for it */
	issue("caA", "spiffe://example.org/ns/shop/sa/soon", "store/shop/soon", 86400, 3600);

	capture_start();
	cs = certstore_open(tpath("store"), "example.org", &no_opts, err, sizeof(err));
	log = capture_stop();
	assert_non_null(cs);
	assert_logged(log, "shop/db.key does not match the certificate");
	assert_logged(log, "shop/db.crt");
	assert_logged(log, "shop/junk.key: no private key in it");
	assert_logged(log, "shop/lone.crt has no key");
	assert_logged(log, "shop/old.crt refused: expired: it expired at");
	assert_logged(log, "shop/moved.crt holds spiffe://example.org/ns/shop/sa/web, which belongs in");
	assert_logged(log, "shop/stranger.crt refused: unknown_ca");
	assert_logged(log, "shop/soon.crt: it is not valid before");
	assert_logged(log, "2 of 9 identities usable");
	free(log);

	n = certstore_list(cs, e, 32);
	assert_int_equal(n, 9);
	/* sorted by namespace and name */
	assert_string_equal(e[0].ns, "pay");
	assert_string_equal(e[0].sa, "api");
	assert_int_equal(e[0].state, TR_TLS_OK);
	assert_true(e[0].not_after > time(NULL) + 3000);
	assert_non_null(strstr(e[0].file, "store/pay/api.crt"));
	assert_int_equal(entry_state(cs, "shop", "web"), TR_TLS_OK);
	assert_int_equal(entry_state(cs, "shop", "db"), TR_TLS_BAD_CERT);
	assert_int_equal(entry_state(cs, "shop", "junk"), TR_TLS_BAD_CERT);
	assert_int_equal(entry_state(cs, "shop", "lone"), TR_TLS_BAD_CERT);
	assert_int_equal(entry_state(cs, "shop", "old"), TR_TLS_EXPIRED);
	assert_int_equal(entry_state(cs, "shop", "moved"), TR_TLS_WRONG_IDENTITY);
	assert_int_equal(entry_state(cs, "shop", "stranger"), TR_TLS_UNKNOWN_CA);
	assert_int_equal(certstore_list(cs, e, 3), 3);

	assert_int_equal(entry_state(cs, "shop", "soon"), TR_TLS_NOT_YET_VALID);
	assert_null(certstore_ctx(cs, "shop", "soon", TLS_ROLE_CLIENT, &why));
	assert_int_equal(why, TR_TLS_NOT_YET_VALID);
	assert_null(certstore_ctx(cs, "shop", "old", TLS_ROLE_CLIENT, &why));
	assert_int_equal(why, TR_TLS_EXPIRED);
	assert_null(certstore_ctx(cs, "shop", "db", TLS_ROLE_SERVER, &why));
	assert_int_equal(why, TR_TLS_BAD_CERT);
	assert_null(certstore_ctx(cs, "shop", "nobody", TLS_ROLE_SERVER, &why));
	assert_int_equal(why, TR_TLS_NO_LOCAL_CERT);
	base = certstore_base_server_ctx(cs);
	assert_non_null(base);
	assert_null(SSL_CTX_get0_certificate(base));
	SSL_CTX_free(base);

	/* the contexts the store hands out talk to each other */
	srv_old = certstore_ctx(cs, "shop", "web", TLS_ROLE_SERVER, &why);
	assert_non_null(srv_old);
	assert_int_equal(why, TR_TLS_OK);
	cli = certstore_ctx(cs, "pay", "api", TLS_ROLE_CLIENT, &why);
	assert_non_null(cli);
	handshake(cli, srv_old, &h);
	assert_true(h.c.ok && h.s.ok);
	assert_string_equal(h.c.peer.sa, "web");
	assert_string_equal(h.s.peer.ns, "pay");
	fingerprint_of(srv_old, fp_old, sizeof(fp_old));

	/* renewal: the files are rewritten, the watch sees it, the store swaps */
	capture_start();
	issue("caA", "spiffe://example.org/ns/shop/sa/web", "store/shop/web", 7200, 0);
	watch_and_reload(cs);
	log = capture_stop();
	assert_logged(log, "shop/web renewed");
	free(log);
	srv_new = certstore_ctx(cs, "shop", "web", TLS_ROLE_SERVER, &why);
	assert_non_null(srv_new);
	assert_ptr_not_equal(srv_new, srv_old);
	fingerprint_of(srv_new, fp_new, sizeof(fp_new));
	assert_string_not_equal(fp_old, fp_new);
	/* the old reference is still a working context, and so is the new */
	handshake(cli, srv_old, &h);
	assert_true(h.c.ok && h.s.ok);
	handshake(cli, srv_new, &h);
	assert_true(h.c.ok && h.s.ok);
	SSL_CTX_free(srv_old);
	SSL_CTX_free(cli);
	cli = certstore_ctx(cs, "pay", "api", TLS_ROLE_CLIENT, &why);
	assert_non_null(cli);
	handshake(cli, srv_new, &h);
	assert_true(h.c.ok && h.s.ok);
	SSL_CTX_free(srv_new);

	/* a fixed key is taken on the next change */
	capture_start();
	issue("caA", "spiffe://example.org/ns/shop/sa/db", "store/shop/db", 3600, 0);
	watch_and_reload(cs);
	free(capture_stop());
	assert_int_equal(entry_state(cs, "shop", "db"), TR_TLS_OK);

	/* a namespace folder created later is watched too */
	capture_start();
	assert_int_equal(mkdir(tpath("store/late"), 0755), 0);
	watch_and_reload(cs);
	issue("caA", "spiffe://example.org/ns/late/sa/x", "store/late/x", 3600, 0);
	watch_and_reload(cs);
	log = capture_stop();
	assert_logged(log, "late/x loaded: spiffe://example.org/ns/late/sa/x");
	free(log);
	assert_int_equal(entry_state(cs, "late", "x"), TR_TLS_OK);
	SSL_CTX_free(cli);
	cli = certstore_ctx(cs, "late", "x", TLS_ROLE_CLIENT, &why);
	assert_non_null(cli);
	SSL_CTX_free(cli);

	/* removal */
	capture_start();
	unlink(tpath("store/late/x.crt"));
	unlink(tpath("store/late/x.key"));
	watch_and_reload(cs);
	log = capture_stop();
	assert_logged(log, "late/x removed");
	free(log);
	assert_null(certstore_ctx(cs, "late", "x", TLS_ROLE_CLIENT, &why));
	assert_int_equal(why, TR_TLS_NO_LOCAL_CERT);

	/* another trust domain for the mesh: every SVID is refused */
	capture_start();
	assert_int_equal(certstore_set_trust_domain(cs, "other.org"), 0);
	log = capture_stop();
	assert_logged(log, "shop/web.crt refused: wrong_trust_domain: its trust domain is example.org, the mesh's is other.org");
	assert_logged(log, "has no CA for the trust domain other.org (its CAs are for example.org)");
	free(log);
	assert_int_equal(entry_state(cs, "shop", "web"), TR_TLS_WRONG_TRUST_DOMAIN);
	assert_null(certstore_ctx(cs, "shop", "web", TLS_ROLE_SERVER, &why));
	assert_int_equal(why, TR_TLS_WRONG_TRUST_DOMAIN);
	capture_start();
	assert_int_equal(certstore_set_trust_domain(cs, "Bad.Domain"), -1);
	assert_int_equal(certstore_set_trust_domain(cs, "example.org"), 0);
	free(capture_stop());
	assert_int_equal(entry_state(cs, "shop", "web"), TR_TLS_OK);

	/* valid in 2 s (issue backdates by 60 s): handed out once it is */
	capture_start();
	issue("caA", "spiffe://example.org/ns/pay/sa/soon", "store/pay/soon", 3600, 62);
	watch_and_reload(cs);
	free(capture_stop());
	assert_int_equal(entry_state(cs, "pay", "soon"), TR_TLS_NOT_YET_VALID);
	assert_null(certstore_ctx(cs, "pay", "soon", TLS_ROLE_SERVER, &why));
	assert_int_equal(why, TR_TLS_NOT_YET_VALID);
	sleep(3);
	assert_int_equal(entry_state(cs, "pay", "soon"), TR_TLS_OK);
	srv_new = certstore_ctx(cs, "pay", "soon", TLS_ROLE_SERVER, &why);
	assert_non_null(srv_new);
	SSL_CTX_free(srv_new);
	certstore_close(cs);
}

static void test_certstore_no_bundle(void **state)
{
	char err[1024];
	enum tr_tls_reason why;
	struct certstore *cs;
	SSL_CTX *ctx;
	char *log;
	FILE *f;

	(void)state;
	assert_int_equal(mkdir(tpath("nb"), 0755), 0);
	issue("caA", "spiffe://example.org/ns/shop/sa/web", "nb/shop/web", 3600, 0);

	capture_start();
	cs = certstore_open(tpath("nb"), "example.org", &no_opts, err, sizeof(err));
	assert_non_null(cs);
	assert_int_equal(certstore_reload(cs), -1);
	log = capture_stop();
	assert_logged(log, "nb/ca.crt: no trust bundle (trestle ca init writes one)");
	free(log);
	assert_int_equal(entry_state(cs, "shop", "web"), TR_TLS_UNKNOWN_CA);
	assert_null(certstore_ctx(cs, "shop", "web", TLS_ROLE_SERVER, &why));
	assert_int_equal(why, TR_TLS_UNKNOWN_CA);
	assert_null(certstore_base_server_ctx(cs));

	/* a bundle that holds a leaf is refused, naming the certificate */
	capture_start();
	copy_file(tpath("web.crt"), tpath("nb/ca.crt"));
	watch_and_reload(cs);
	log = capture_stop();
	assert_logged(log, "nb/ca.crt: certificate 1 (/O=Trestle) is not a CA certificate");
	free(log);
	assert_int_equal(entry_state(cs, "shop", "web"), TR_TLS_UNKNOWN_CA);

	/* the bundle arrives: usable */
	capture_start();
	copy_file(tpath("caA/ca.crt"), tpath("nb/ca.crt"));
	watch_and_reload(cs);
	assert_int_equal(certstore_reload(cs), 1);
	free(capture_stop());
	ctx = certstore_ctx(cs, "shop", "web", TLS_ROLE_SERVER, &why);
	assert_non_null(ctx);
	SSL_CTX_free(ctx);

	/* garbage in the bundle */
	capture_start();
	f = fopen(tpath("nb/ca.crt"), "w");
	fputs("garbage\n", f);
	fclose(f);
	watch_and_reload(cs);
	log = capture_stop();
	assert_logged(log, "nb/ca.crt: no certificate in it");
	free(log);
	certstore_close(cs);

	/* no directory at all: an error for the caller */
	assert_null(certstore_open(tpath("absent"), "example.org", &no_opts, err, sizeof(err)));
	assert_non_null(strstr(err, "absent: No such file or directory (create it"));
	assert_null(certstore_open(tpath("nb"), "Example.org", &no_opts, err, sizeof(err)));
	assert_non_null(strstr(err, "uppercase"));
}

/* certstore_check_svid, which `trestle cert verify` uses */
static void test_check_svid(void **state)
{
	static const struct { const char *name; enum tr_tls_reason r; const char *detail; } cases[] = {
		{ "web", TR_TLS_OK, "" },
		{ "web_b", TR_TLS_UNKNOWN_CA, "does not chain to a CA of the trust bundle" },
		{ "expired", TR_TLS_EXPIRED, "it expired at" },
		{ "future", TR_TLS_NOT_YET_VALID, "it is not valid before" },
		{ "two_uris", TR_TLS_MULTIPLE_URI_SAN, "2 URI SANs" },
		{ "no_uri", TR_TLS_NO_SPIFFE_ID, "no URI SAN" },
		{ "ca_leaf", TR_TLS_BAD_CERT, "CA:TRUE" },
	};
	char err[1024], detail[512], path[512];
	struct spiffe_id id;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		STACK_OF(X509) *chain;
		X509 *leaf;

		snprintf(path, sizeof(path), "%s/%s.crt", tmpdir, cases[i].name);
		assert_int_equal(svid_load_chain(path, &leaf, &chain, err, sizeof(err)), 0);
		assert_int_equal(certstore_check_svid(bundle_a, leaf, chain, "example.org",
						      time(NULL), &id, detail, sizeof(detail)),
				 cases[i].r);
		if (!strstr(detail, cases[i].detail))
			print_error("%s: '%s'\n", cases[i].name, detail);
		assert_non_null(strstr(detail, cases[i].detail));
		X509_free(leaf);
		sk_X509_pop_free(chain, X509_free);
	}
	{
		STACK_OF(X509) *chain;
		X509 *leaf;

		assert_int_equal(svid_load_chain(tpath("other_td.crt"), &leaf, &chain, err,
						 sizeof(err)), 0);
		assert_int_equal(certstore_check_svid(bundle_ao, leaf, chain, "example.org",
						      time(NULL), &id, detail, sizeof(detail)),
				 TR_TLS_WRONG_TRUST_DOMAIN);
		assert_int_equal(certstore_check_svid(bundle_ao, leaf, chain, NULL, time(NULL),
						      &id, detail, sizeof(detail)), TR_TLS_OK);
		assert_string_equal(id.trust_domain, "other.org");
		X509_free(leaf);
		sk_X509_pop_free(chain, X509_free);
	}
	assert_int_equal(tls_verify_error_reason(X509_V_ERR_CERT_HAS_EXPIRED), TR_TLS_EXPIRED);
	assert_int_equal(tls_verify_error_reason(X509_V_ERR_CERT_NOT_YET_VALID),
			 TR_TLS_NOT_YET_VALID);
	assert_int_equal(tls_verify_error_reason(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
			 TR_TLS_UNKNOWN_CA);
	assert_int_equal(tls_verify_error_reason(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
			 TR_TLS_UNKNOWN_CA);
	assert_int_equal(tls_verify_error_reason(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN),
			 TR_TLS_UNKNOWN_CA);
	assert_int_equal(tls_verify_error_reason(X509_V_ERR_INVALID_PURPOSE), TR_TLS_BAD_CERT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_ok),
		cmocka_unit_test(test_refused_certificates),
		cmocka_unit_test(test_no_client_certificate),
		cmocka_unit_test(test_tls12_peer),
		cmocka_unit_test(test_ctx_policy),
		cmocka_unit_test(test_check_svid),
		cmocka_unit_test(test_certstore),
		cmocka_unit_test(test_certstore_no_bundle),
		/* last: a FIPS provider, where one is installed, stays loaded */
		cmocka_unit_test(test_fips),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
