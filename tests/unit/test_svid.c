// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * SPIFFE IDs and X.509 SVIDs (svid.c): the ID parser (every invalid form
 * with its message), durations and key types, `ca init` and `cert issue`
 * producing exactly what the spec says (one URI SAN, CA:FALSE,
 * digitalSignature, EC P-256, validity, 0600 keys), what `cert show`
 * reads, and the SVID rules on certificates issue would never make.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "svid.h"
#include "svid_mint.h"

static char tmpdir[64];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int tmpdir_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_svid.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tpath(const char *rel)
{
	static char bufs[4][512];
	static int k;
	char *b = bufs[k++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, rel);
	return b;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* The URI SANs of x, comma-separated, and their count. */
static int uri_sans(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int n = 0;

	buf[0] = '\0';
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type != GEN_URI)
			continue;
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", n++ ? "," : "",
			 (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
	}
	GENERAL_NAMES_free(gens);
	return n;
}

static time_t asn1_to_time(const ASN1_TIME *t)
{
	struct tm tm = {};

	assert_true(ASN1_TIME_to_tm(t, &tm));
	return timegm(&tm);
}

/* ------------------------------------------------------------------ */
/* SPIFFE IDs */

struct id_case {
	const char *uri;
	const char *td, *ns, *sa; /* NULL td: invalid */
	const char *msg;          /* a part of the message */
};

static void test_id_parse_table(void **state)
{
	static char long_uri[2100], long_td[200], long_ns[120];
	struct id_case cases[] = {
		{ "spiffe://example.org/ns/shop/sa/web", "example.org", "shop", "web" },
		{ "spiffe://a-b_c.0/ns/A.b-c_9/sa/X", "a-b_c.0", "A.b-c_9", "X" },
		{ "spiffe://td/ns/n/sa/s", "td", "n", "s" },
		{ "", NULL, NULL, NULL, "empty SPIFFE ID" },
		{ "http://example.org/ns/a/sa/b", NULL, NULL, NULL, "scheme must be 'spiffe://' (got 'http:')" },
		{ "SPIFFE://example.org/ns/a/sa/b", NULL, NULL, NULL, "scheme must be lowercase" },
		{ "example.org/ns/a/sa/b", NULL, NULL, NULL, "not a URI" },
		{ "spiffe:/example.org/ns/a/sa/b", NULL, NULL, NULL, "scheme must be 'spiffe://'" },
		{ "spiffe://", NULL, NULL, NULL, "missing trust domain" },
		{ "spiffe:///ns/a/sa/b", NULL, NULL, NULL, "missing trust domain" },
		{ "spiffe://Example.org/ns/a/sa/b", NULL, NULL, NULL, "uppercase letter 'E'" },
		{ "spiffe://user@example.org/ns/a/sa/b", NULL, NULL, NULL, "userinfo ('user@')" },
		{ "spiffe://example.org:8443/ns/a/sa/b", NULL, NULL, NULL, "a port (':8443')" },
		{ "spiffe://exa mple.org/ns/a/sa/b", NULL, NULL, NULL, "invalid character ' ' in trust domain" },
		{ "spiffe://example.org", NULL, NULL, NULL, "missing path: want spiffe://example.org/ns/NAMESPACE/sa/SERVICE_ACCOUNT" },
		{ "spiffe://example.org/", NULL, NULL, NULL, "missing path" },
		{ "spiffe://example.org/ns/a/sa/b?x=1", NULL, NULL, NULL, "a query ('?x=1')" },
		{ "spiffe://example.org/ns/a/sa/b#frag", NULL, NULL, NULL, "a fragment ('#frag')" },
		{ "spiffe://example.org/ns//sa/b", NULL, NULL, NULL, "empty path segment" },
		{ "spiffe://example.org/ns/a/sa/b/", NULL, NULL, NULL, "must not end with '/'" },
		{ "spiffe://example.org/ns/a/sa/b/c", NULL, NULL, NULL, "not of the form /ns/NAMESPACE/sa/SERVICE_ACCOUNT" },
		{ "spiffe://example.org/ns/a", NULL, NULL, NULL, "not of the form" },
		{ "spiffe://example.org/namespace/a/sa/b", NULL, NULL, NULL, "not of the form" },
		{ "spiffe://example.org/ns/a/serviceaccount/b", NULL, NULL, NULL, "not of the form" },
		{ "spiffe://example.org/NS/a/sa/b", NULL, NULL, NULL, "not of the form" },
		{ "spiffe://example.org/ns/a%20b/sa/b", NULL, NULL, NULL, "invalid character '%' in path segment 'a%20b'" },
		{ "spiffe://example.org/ns/a/sa/b:c", NULL, NULL, NULL, "invalid character ':'" },
		{ "spiffe://example.org/ns/./sa/b", NULL, NULL, NULL, "path segment '.' is not allowed" },
		{ "spiffe://example.org/ns/../sa/b", NULL, NULL, NULL, "path segment '..' is not allowed" },
		{ long_uri, NULL, NULL, NULL, "longer than 2048 characters" },
		{ long_td, NULL, NULL, NULL, "trust domain longer than 127 characters" },
		{ long_ns, NULL, NULL, NULL, "namespace longer than 63 characters" },
	};
	struct spiffe_id id;
	char err[256];

	(void)state;
	snprintf(long_uri, sizeof(long_uri), "spiffe://example.org/ns/a/sa/%02040d", 0);
	snprintf(long_td, sizeof(long_td), "spiffe://%0150d/ns/a/sa/b", 0);
	snprintf(long_ns, sizeof(long_ns), "spiffe://td/ns/%070d/sa/b", 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct id_case *c = &cases[i];
		int r;

		memset(&id, 0x5a, sizeof(id));
		err[0] = '\0';
		r = spiffe_id_parse(c->uri, &id, err, sizeof(err));
		if (c->td) {
			if (r)
				print_error("'%s': %s\n", c->uri, err);
			assert_int_equal(r, 0);
			assert_string_equal(id.trust_domain, c->td);
			assert_string_equal(id.ns, c->ns);
			assert_string_equal(id.sa, c->sa);
		} else {
			if (!r || !strstr(err, c->msg))
				print_error("'%.60s': got %d '%s', want '%s'\n", c->uri, r, err,
					    c->msg);
			assert_int_equal(r, -1);
			assert_non_null(strstr(err, c->msg));
		}
	}
	/* NULL out and err are allowed */
	assert_int_equal(spiffe_id_parse("spiffe://td/ns/a/sa/b", NULL, NULL, 0), 0);
	assert_int_equal(spiffe_id_parse("spiffe://td/x", NULL, NULL, 0), -1);
	assert_int_equal(spiffe_id_parse(NULL, &id, err, sizeof(err)), -1);
}

static void test_id_format(void **state)
{
	struct spiffe_id id = { "example.org", "shop", "web" }, back;
	char buf[SPIFFE_ID_MAX], small[16], big_id[SPIFFE_ID_MAX];

	(void)state;
	spiffe_id_format(&id, buf, sizeof(buf));
	assert_string_equal(buf, "spiffe://example.org/ns/shop/sa/web");
	assert_int_equal(spiffe_id_parse(buf, &back, NULL, 0), 0);
	assert_memory_equal(&back, &id, sizeof(id));
	spiffe_id_format(&id, small, sizeof(small));
	assert_string_equal(small, "spiffe://exampl");
	/* the longest parseable ID fits SPIFFE_ID_MAX */
	memset(&id, 0, sizeof(id));
	memset(id.trust_domain, 'a', sizeof(id.trust_domain) - 1);
	memset(id.ns, 'n', sizeof(id.ns) - 1);
	memset(id.sa, 's', sizeof(id.sa) - 1);
	spiffe_id_format(&id, big_id, sizeof(big_id));
	assert_int_equal(spiffe_id_parse(big_id, &back, NULL, 0), 0);
	assert_memory_equal(&back, &id, sizeof(id));
}

static void test_trust_domain_and_segments(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(spiffe_trust_domain_check("example.org", err, sizeof(err)), 0);
	assert_int_equal(spiffe_trust_domain_check("", err, sizeof(err)), -1);
	assert_string_equal(err, "missing trust domain");
	assert_int_equal(spiffe_trust_domain_check("Example.org", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lowercase"));
	assert_int_equal(spiffe_trust_domain_check("a/b", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid character '/'"));
	assert_int_equal(spiffe_trust_domain_check(NULL, err, sizeof(err)), -1);
	assert_true(spiffe_segment_valid("shop-1.A_b"));
	assert_false(spiffe_segment_valid(""));
	assert_false(spiffe_segment_valid("."));
	assert_false(spiffe_segment_valid(".."));
	assert_false(spiffe_segment_valid("a/b"));
	assert_false(spiffe_segment_valid("a b"));
}

static void test_duration_and_key_type(void **state)
{
	static const struct { const char *s; int ok; uint64_t v; } cases[] = {
		{ "30s", 0, 30 }, { "15m", 0, 900 }, { "24h", 0, 86400 },
		{ "90d", 0, 90 * 86400ULL }, { "3600", 0, 3600 }, { "0", 0, 0 },
		{ "", -1, 0 }, { "h", -1, 0 }, { "-1h", -1, 0 }, { "1x", -1, 0 },
		{ "1hh", -1, 0 }, { "1 h", -1, 0 }, { "1.5h", -1, 0 },
		{ "99999999999999999999", -1, 0 }, { "99999999999d", -1, 0 },
	};
	enum svid_key_type kt;
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		assert_int_equal(svid_parse_duration(cases[i].s, &v), cases[i].ok);
		if (!cases[i].ok)
			assert_int_equal(v, cases[i].v);
	}
	assert_int_equal(svid_key_type_parse("ec-p256", &kt), 0);
	assert_int_equal(kt, SVID_KEY_EC_P256);
	assert_int_equal(svid_key_type_parse("ec-p384", &kt), 0);
	assert_int_equal(kt, SVID_KEY_EC_P384);
	assert_int_equal(svid_key_type_parse("rsa-2048", &kt), 0);
	assert_int_equal(kt, SVID_KEY_RSA2048);
	assert_int_equal(svid_key_type_parse("rsa-1024", &kt), -1);
	assert_int_equal(svid_key_type_parse("EC-P256", &kt), -1);
}

static void test_reason_names(void **state)
{
	static const char *const want[] = {
		"ok", "unknown_ca", "expired", "not_yet_valid", "wrong_trust_domain",
		"multiple_uri_san", "no_spiffe_id", "no_peer_certificate", "protocol_version",
		"wrong_identity", "bad_certificate", "no_local_certificate", "handshake_failed",
	};

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), TR_TLS_REASON_MAX);
	for (int i = 0; i < TR_TLS_REASON_MAX; i++)
		assert_string_equal(tr_tls_reason_name((enum tr_tls_reason)i), want[i]);
	assert_string_equal(tr_tls_reason_name(TR_TLS_REASON_MAX), "unknown");
	assert_string_equal(tr_tls_reason_name((enum tr_tls_reason)-1), "unknown");
}

/* ------------------------------------------------------------------ */
/* ca init, cert issue */

static void test_ca_init(void **state)
{
	char err[1024], buf[512], fp1[96], fp2[96];
	ASN1_OCTET_STRING *skid;
	BASIC_CONSTRAINTS *bc;
	EVP_PKEY *key;
	X509 *ca;
	int crit = -1;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(svid_ca_init("example.org", tpath("ca"), SVID_KEY_EC_P256, 0, false,
				      err, sizeof(err)), 0);
	assert_int_equal(file_mode(tpath("ca/ca.key")), 0600);
	assert_int_equal(file_mode(tpath("ca")) & 0077, 0);
	ca = read_cert(tpath("ca/ca.crt"));
	key = read_key(tpath("ca/ca.key"));

	assert_int_equal(X509_get_version(ca), X509_VERSION_3);
	assert_int_equal(X509_check_private_key(ca, key), 1);
	assert_int_equal(X509_verify(ca, key), 1); /* self-signed */
	bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_get_ext_by_NID(ca, NID_ext_key_usage, -1), -1);
	assert_int_equal(X509_get_extension_flags(ca) & EXFLAG_CRITICAL, 0);
	assert_int_equal(uri_sans(ca, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "spiffe://example.org");
	skid = X509_get_ext_d2i(ca, NID_subject_key_identifier, NULL, NULL);
	assert_non_null(skid);
	ASN1_OCTET_STRING_free(skid);
	X509_NAME_oneline(X509_get_subject_name(ca), buf, sizeof(buf));
	assert_string_equal(buf, "/O=Trestle/CN=example.org");
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_issuer_name(ca)), 0);
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(key), 256);
	/* 10 years by default, backdated 60 s */
	assert_true(labs((long)(asn1_to_time(X509_get0_notBefore(ca)) - (now - 60))) <= 5);
	assert_true(labs((long)(asn1_to_time(X509_get0_notAfter(ca)) -
				(now + 10L * 365 * 86400))) <= 5);
	assert_int_equal(svid_ca_trust_domain(ca, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "example.org");
	svid_fingerprint(ca, fp1, sizeof(fp1));
	X509_free(ca);
	EVP_PKEY_free(key);

	/* no overwrite without force */
	assert_int_equal(svid_ca_init("example.org", tpath("ca"), SVID_KEY_EC_P256, 0, false,
				      err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ca/ca.key exists"));
	assert_non_null(strstr(err, "--force"));
	assert_int_equal(svid_ca_init("example.org", tpath("ca"), SVID_KEY_EC_P384, 3600, true,
				      err, sizeof(err)), 0);
	ca = read_cert(tpath("ca/ca.crt"));
	svid_fingerprint(ca, fp2, sizeof(fp2));
	assert_string_not_equal(fp1, fp2);
	assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA384);
	assert_true(labs((long)(asn1_to_time(X509_get0_notAfter(ca)) - (now + 3600))) <= 5);
	X509_free(ca);

	assert_int_equal(svid_ca_init("Example.org", tpath("ca2"), SVID_KEY_EC_P256, 0, false,
				      err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid trust domain 'Example.org'"));
	assert_int_equal(access(tpath("ca2/ca.key"), F_OK), -1);
	/* no temporary files left behind */
	{
		DIR *d = opendir(tpath("ca"));
		struct dirent *de;
		int n = 0;

		while ((de = readdir(d)))
			if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
				n++;
		closedir(d);
		assert_int_equal(n, 2);
	}
}

static void test_issue(void **state)
{
	char err[1024], buf[512];
	EXTENDED_KEY_USAGE *eku;
	AUTHORITY_KEYID *akid;
	BASIC_CONSTRAINTS *bc;
	struct spiffe_id id;
	EVP_PKEY *key, *cakey;
	BIGNUM *serial;
	X509 *x, *ca;
	int crit = -1;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(svid_ca_init("example.org", tpath("ca"), SVID_KEY_EC_P256, 0, false,
				      err, sizeof(err)), 0);
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/ns/shop/sa/web",
				    tpath("certs/shop/web"), SVID_KEY_EC_P256, 7200, 0, err,
				    sizeof(err)), 0);
	assert_int_equal(file_mode(tpath("certs/shop/web.key")), 0600);
	assert_int_equal(file_mode(tpath("certs/shop/web.crt")), 0644);
	x = read_cert(tpath("certs/shop/web.crt"));
	key = read_key(tpath("certs/shop/web.key"));
	ca = read_cert(tpath("ca/ca.crt"));
	cakey = read_key(tpath("ca/ca.key"));

	/* exactly one URI SAN, the ID */
	assert_int_equal(uri_sans(x, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "spiffe://example.org/ns/shop/sa/web");
	/* CA:FALSE, critical */
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_false(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	/* digitalSignature only, critical */
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_EXTENSION_get_critical(
		X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1))), 1);
	/* serverAuth + clientAuth */
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	assert_non_null(eku);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 2);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_server_auth);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 1)), NID_client_auth);
	EXTENDED_KEY_USAGE_free(eku);
	akid = X509_get_ext_d2i(x, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(akid);
	assert_non_null(akid->keyid);
	AUTHORITY_KEYID_free(akid);
	/* EC P-256, matching its key file, signed by the CA */
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(key), 256);
	assert_int_equal(X509_check_private_key(x, key), 1);
	assert_int_equal(X509_verify(x, cakey), 1);
	assert_int_equal(X509_check_issued(ca, x), X509_V_OK);
	X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof(buf));
	assert_string_equal(buf, "/O=Trestle");
	/* a random positive 128-bit serial */
	serial = ASN1_INTEGER_to_BN(X509_get_serialNumber(x), NULL);
	assert_false(BN_is_negative(serial));
	assert_int_equal(BN_num_bits(serial), 127);
	BN_free(serial);
	/* validity: now - 60 s .. now + ttl */
	assert_true(labs((long)(asn1_to_time(X509_get0_notBefore(x)) - (now - 60))) <= 5);
	assert_true(labs((long)(asn1_to_time(X509_get0_notAfter(x)) - (now + 7200))) <= 5);
	assert_int_equal(svid_identity(x, &id), TR_TLS_OK);
	assert_string_equal(id.ns, "shop");
	assert_string_equal(id.sa, "web");
	X509_free(x);
	EVP_PKEY_free(key);

	/* default ttl 24 h; another issue gets another serial */
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/ns/shop/sa/db",
				    tpath("certs/shop/db"), SVID_KEY_EC_P256, 0, 0, err,
				    sizeof(err)), 0);
	x = read_cert(tpath("certs/shop/db.crt"));
	assert_true(labs((long)(asn1_to_time(X509_get0_notAfter(x)) - (now + 86400))) <= 5);
	X509_free(x);

	/* RSA: keyEncipherment too; P-384 */
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/ns/shop/sa/rsa",
				    tpath("certs/shop/rsa"), SVID_KEY_RSA2048, 0, 0, err,
				    sizeof(err)), 0);
	x = read_cert(tpath("certs/shop/rsa.crt"));
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(x)), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(x)), 2048);
	assert_int_equal(svid_identity(x, &id), TR_TLS_OK);
	X509_free(x);
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/ns/shop/sa/p384",
				    tpath("certs/shop/p384"), SVID_KEY_EC_P384, 0, 0, err,
				    sizeof(err)), 0);
	x = read_cert(tpath("certs/shop/p384.crt"));
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(x)), 384);
	X509_free(x);

	/* validity shifted for tests */
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/ns/shop/sa/old",
				    tpath("certs/shop/old"), SVID_KEY_EC_P256, 86400,
				    -2 * 86400, err, sizeof(err)), 0);
	x = read_cert(tpath("certs/shop/old.crt"));
	assert_true(asn1_to_time(X509_get0_notAfter(x)) < now - 86000);
	X509_free(x);
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/ns/shop/sa/new",
				    tpath("certs/shop/new"), SVID_KEY_EC_P256, 86400, 3600, err,
				    sizeof(err)), 0);
	x = read_cert(tpath("certs/shop/new.crt"));
	assert_true(asn1_to_time(X509_get0_notBefore(x)) > now + 3000);
	X509_free(x);

	/* refusals, each naming what is wrong */
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://other.org/ns/shop/sa/web",
				    tpath("certs/x"), SVID_KEY_EC_P256, 0, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "trust domain 'other.org'"));
	assert_non_null(strstr(err, "is for 'example.org'"));
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/shop/web",
				    tpath("certs/x"), SVID_KEY_EC_P256, 0, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid SPIFFE ID 'spiffe://example.org/shop/web'"));
	assert_non_null(strstr(err, "/ns/NAMESPACE/sa/SERVICE_ACCOUNT"));
	assert_int_equal(svid_issue(tpath("nowhere"), "spiffe://example.org/ns/a/sa/b",
				    tpath("certs/x"), SVID_KEY_EC_P256, 0, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nowhere/ca.crt: cannot open"));
	assert_int_equal(access(tpath("certs/x.crt"), F_OK), -1);
	assert_int_equal(access(tpath("certs/x.key"), F_OK), -1);

	/* a CA key that is not the CA certificate's */
	assert_int_equal(svid_ca_init("example.org", tpath("ca3"), SVID_KEY_EC_P256, 0, false,
				      err, sizeof(err)), 0);
	assert_int_equal(rename(tpath("certs/shop/web.key"), tpath("ca3/ca.key")), 0);
	assert_int_equal(svid_issue(tpath("ca3"), "spiffe://example.org/ns/a/sa/b",
				    tpath("certs/x"), SVID_KEY_EC_P256, 0, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ca3/ca.key does not match"));
	X509_free(ca);
	EVP_PKEY_free(cakey);
}

/* ------------------------------------------------------------------ */
/* cert show */

static void test_describe(void **state)
{
	char err[1024], fp[96], want[64];
	struct svid_info info;
	X509 *x;
	time_t now = time(NULL);
	FILE *f;

	(void)state;
	assert_int_equal(svid_ca_init("example.org", tpath("ca"), SVID_KEY_EC_P256, 0, false,
				      err, sizeof(err)), 0);
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/ns/shop/sa/web",
				    tpath("web"), SVID_KEY_EC_P256, 3600, 0, err, sizeof(err)), 0);
	assert_int_equal(svid_describe_file(tpath("web.crt"), &info, err, sizeof(err)), 0);
	assert_string_equal(info.spiffe_id, "spiffe://example.org/ns/shop/sa/web");
	assert_int_equal(info.svid_ok, TR_TLS_OK);
	assert_string_equal(info.subject, "O=Trestle");
	assert_string_equal(info.issuer, "CN=example.org,O=Trestle");
	assert_int_equal(strlen(info.serial), 32);
	assert_int_equal(strspn(info.serial, "0123456789ABCDEF"), 32);
	assert_string_equal(info.key_type, "EC P-256");
	assert_string_equal(info.sig_alg, "ecdsa-with-SHA256");
	assert_true(labs((long)(info.not_before - (now - 60))) <= 5);
	assert_true(labs((long)(info.not_after - (now + 3600))) <= 5);
	assert_false(info.is_ca);
	x = read_cert(tpath("web.crt"));
	{
		unsigned char md[32];
		unsigned int n = 0;

		assert_true(X509_digest(x, EVP_sha256(), md, &n));
		snprintf(want, sizeof(want), "%02X:%02X:%02X", md[0], md[1], md[2]);
		snprintf(fp, sizeof(fp), "%02X", md[31]);
	}
	X509_free(x);
	assert_int_equal(strlen(info.fingerprint_sha256), 95);
	assert_memory_equal(info.fingerprint_sha256, want, 8);
	assert_string_equal(info.fingerprint_sha256 + 93, fp);

	/* the CA: not an SVID, its trust domain as identity */
	assert_int_equal(svid_describe_file(tpath("ca/ca.crt"), &info, err, sizeof(err)), 0);
	assert_true(info.is_ca);
	assert_int_equal(info.svid_ok, TR_TLS_BAD_CERT);
	assert_string_equal(info.spiffe_id, "spiffe://example.org");
	assert_string_equal(info.subject, "CN=example.org,O=Trestle");

	/* other key types */
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/ns/shop/sa/rsa",
				    tpath("rsa"), SVID_KEY_RSA2048, 3600, 0, err, sizeof(err)), 0);
	assert_int_equal(svid_describe_file(tpath("rsa.crt"), &info, err, sizeof(err)), 0);
	assert_string_equal(info.key_type, "RSA 2048");

	/* an expired one says so through its dates */
	assert_int_equal(svid_issue(tpath("ca"), "spiffe://example.org/ns/shop/sa/old",
				    tpath("old"), SVID_KEY_EC_P256, 3600, -7200, err, sizeof(err)), 0);
	assert_int_equal(svid_describe_file(tpath("old.crt"), &info, err, sizeof(err)), 0);
	assert_true(info.not_after < now);

	/* files that are not certificates */
	assert_int_equal(svid_describe_file(tpath("missing.crt"), &info, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing.crt: cannot open: No such file or directory"));
	assert_int_equal(svid_describe_file(tpath("web.key"), &info, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "web.key: no certificate in it"));
	f = fopen(tpath("junk.crt"), "w");
	fputs("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	assert_int_equal(svid_describe_file(tpath("junk.crt"), &info, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "junk.crt"));
}

/* ------------------------------------------------------------------ */
/* the SVID rules on certificates issue would not make */

static enum tr_tls_reason mint_verdict(const struct mint *m, char *detail, size_t len)
{
	struct spiffe_id id;
	enum tr_tls_reason r;
	X509 *x;

	assert_int_equal(mint_svid(tpath("ca"), m, tpath("m")), 0);
	x = read_cert(tpath("m.crt"));
	r = svid_identity_detail(x, &id, detail, len);
	X509_free(x);
	return r;
}

static void test_identity_rules(void **state)
{
	char err[1024], d[512];

	(void)state;
	assert_int_equal(svid_ca_init("example.org", tpath("ca"), SVID_KEY_EC_P256, 0, false,
				      err, sizeof(err)), 0);
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://example.org/ns/a/sa/b" } },
				      d, sizeof(d)), TR_TLS_OK);
	assert_string_equal(d, "");
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://example.org/ns/a/sa/b" },
						      .dns = "b.a.svc" }, d, sizeof(d)), TR_TLS_OK);
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://example.org/ns/a/sa/b",
								"spiffe://example.org/ns/a/sa/c" } },
				      d, sizeof(d)), TR_TLS_MULTIPLE_URI_SAN);
	assert_string_equal(d, "2 URI SANs (an SVID has exactly one)");
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://example.org/ns/a/sa/b",
								"https://example.org/" } },
				      d, sizeof(d)), TR_TLS_MULTIPLE_URI_SAN);
	assert_int_equal(mint_verdict(&(struct mint){ .dns = "b.a.svc" }, d, sizeof(d)),
			 TR_TLS_NO_SPIFFE_ID);
	assert_non_null(strstr(d, "no URI SAN"));
	assert_int_equal(mint_verdict(&(struct mint){ 0 }, d, sizeof(d)), TR_TLS_NO_SPIFFE_ID);
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://Example.org/ns/a/sa/b" } },
				      d, sizeof(d)), TR_TLS_NO_SPIFFE_ID);
	assert_non_null(strstr(d, "uppercase"));
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://example.org/a/b" } },
				      d, sizeof(d)), TR_TLS_NO_SPIFFE_ID);
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://example.org/ns/a/sa/b" },
						      .ca = true, .ku = "critical,digitalSignature,keyCertSign" },
				      d, sizeof(d)), TR_TLS_BAD_CERT);
	assert_non_null(strstr(d, "CA:TRUE"));
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://example.org/ns/a/sa/b" },
						      .ku = "" }, d, sizeof(d)), TR_TLS_BAD_CERT);
	assert_string_equal(d, "no digitalSignature key usage");
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://example.org/ns/a/sa/b" },
						      .ku = "critical,keyEncipherment" },
				      d, sizeof(d)), TR_TLS_BAD_CERT);
	assert_int_equal(mint_verdict(&(struct mint){ .uris = { "spiffe://example.org/ns/a/sa/b" },
						      .ku = "critical,digitalSignature,cRLSign" },
				      d, sizeof(d)), TR_TLS_BAD_CERT);
	assert_non_null(strstr(d, "cRLSign"));
	assert_int_equal(svid_identity(NULL, NULL), TR_TLS_NO_PEER_CERT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_parse_table),
		cmocka_unit_test(test_id_format),
		cmocka_unit_test(test_trust_domain_and_segments),
		cmocka_unit_test(test_duration_and_key_type),
		cmocka_unit_test(test_reason_names),
		cmocka_unit_test_setup_teardown(test_ca_init, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_issue, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_describe, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_identity_rules, tmpdir_setup,
						tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
