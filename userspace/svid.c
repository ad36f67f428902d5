// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * SPIFFE IDs and X.509 SVIDs: parsing, checking, describing, and the small
 * CA of `trestle ca init` / `trestle cert issue` (OpenSSL 3 APIs only).
 */
#include "svid.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define SPIFFE_URI_MAX 2048
#define CA_DEFAULT_TTL (10ULL * 365 * 24 * 3600)
#define SVID_DEFAULT_TTL (24ULL * 3600)
#define SVID_BACKDATE 60 /* seconds of clock skew a new SVID tolerates */

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

/* The innermost OpenSSL reason, for messages; clears the queue. */
static const char *ossl_reason(char *buf, size_t len)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()))
		last = e;
	if (!last) {
		snprintf(buf, len, "unknown OpenSSL error");
		return buf;
	}
	ERR_error_string_n(last, buf, len);
	/* "error:0480006C:PEM routines::no start line": keep the words */
	{
		const char *p = strrchr(buf, ':');

		if (p && p[1])
			memmove(buf, p + 1, strlen(p + 1) + 1);
	}
	return buf;
}

/* ------------------------------------------------------------------ */
/* reasons */

static const char *const reason_names[TR_TLS_REASON_MAX] = {
	[TR_TLS_OK] = "ok",
	[TR_TLS_UNKNOWN_CA] = "unknown_ca",
	[TR_TLS_EXPIRED] = "expired",
	[TR_TLS_NOT_YET_VALID] = "not_yet_valid",
	[TR_TLS_WRONG_TRUST_DOMAIN] = "wrong_trust_domain",
	[TR_TLS_MULTIPLE_URI_SAN] = "multiple_uri_san",
	[TR_TLS_NO_SPIFFE_ID] = "no_spiffe_id",
	[TR_TLS_NO_PEER_CERT] = "no_peer_certificate",
	[TR_TLS_PROTOCOL_VERSION] = "protocol_version",
	[TR_TLS_WRONG_IDENTITY] = "wrong_identity",
	[TR_TLS_BAD_CERT] = "bad_certificate",
	[TR_TLS_NO_LOCAL_CERT] = "no_local_certificate",
	[TR_TLS_HANDSHAKE] = "handshake_failed",
};

const char *tr_tls_reason_name(enum tr_tls_reason r)
{
	if ((unsigned int)r >= TR_TLS_REASON_MAX || !reason_names[r])
		return "unknown";
	return reason_names[r];
}

/* ------------------------------------------------------------------ */
/* SPIFFE IDs */

static bool td_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '-' || c == '_';
}

static bool seg_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* The trust domain td[0..n): 0 or -1 with err. */
static int td_check_n(const char *td, size_t n, char *err, size_t errlen)
{
	size_t i;

	if (!n)
		return fail(err, errlen, "missing trust domain");
	for (i = 0; i < n; i++) {
		char c = td[i];

		if (c == '@')
			return fail(err, errlen,
				    "userinfo ('%.*s') is not allowed in a SPIFFE ID",
				    (int)(i + 1), td);
		if (c == ':')
			return fail(err, errlen,
				    "a port ('%.*s') is not allowed in the trust domain",
				    (int)(n - i), td + i);
		if (c >= 'A' && c <= 'Z')
			return fail(err, errlen,
				    "trust domain '%.*s' has an uppercase letter '%c' (trust domains are lowercase)",
				    (int)n, td, c);
		if (!td_char(c))
			return fail(err, errlen,
				    "invalid character '%c' in trust domain '%.*s' (allowed: a-z, 0-9, '.', '-', '_')",
				    c, (int)n, td);
	}
	if (n >= sizeof(((struct spiffe_id *)0)->trust_domain))
		return fail(err, errlen, "trust domain longer than %zu characters",
			    sizeof(((struct spiffe_id *)0)->trust_domain) - 1);
	return 0;
}

int spiffe_trust_domain_check(const char *td, char *err, size_t errlen)
{
	if (!td)
		return fail(err, errlen, "missing trust domain");
	return td_check_n(td, strlen(td), err, errlen);
}

bool spiffe_segment_valid(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!seg_char(*s))
			return false;
	return true;
}

int spiffe_id_parse(const char *uri, struct spiffe_id *out, char *err, size_t errlen)
{
	static const char scheme[] = "spiffe://";
	const char *td, *path, *p, *segs[4];
	size_t len, seglen[4], nseg = 0;
	struct spiffe_id id = {};

	if (!uri || !*uri)
		return fail(err, errlen, "empty SPIFFE ID");
	len = strnlen(uri, SPIFFE_URI_MAX + 1);
	if (len > SPIFFE_URI_MAX)
		return fail(err, errlen, "SPIFFE ID longer than %d characters",
			    SPIFFE_URI_MAX);
	if (strncmp(uri, scheme, sizeof(scheme) - 1)) {
		size_t n = strcspn(uri, ":");

		if (!strncasecmp(uri, scheme, sizeof(scheme) - 1))
			return fail(err, errlen, "scheme must be lowercase 'spiffe://'");
		if (uri[n] == ':')
			return fail(err, errlen, "scheme must be 'spiffe://' (got '%.*s:')",
				    (int)(n > 32 ? 32 : n), uri);
		return fail(err, errlen, "not a URI: want spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT");
	}
	if ((p = strpbrk(uri, "?#")))
		return fail(err, errlen, "%s ('%s') is not allowed in a SPIFFE ID",
			    *p == '?' ? "a query" : "a fragment", p);
	td = uri + sizeof(scheme) - 1;
	path = strchr(td, '/');
	if (td_check_n(td, path ? (size_t)(path - td) : strlen(td), err, errlen))
		return -1;
	memcpy(id.trust_domain, td, path ? (size_t)(path - td) : strlen(td));
	if (!path || !path[1])
		return fail(err, errlen,
			    "missing path: want spiffe://%s/ns/NAMESPACE/sa/SERVICE_ACCOUNT",
			    id.trust_domain);

	for (p = path; *p;) {
		const char *s = p + 1;
		size_t n = strcspn(s, "/");

		if (!n)
			return fail(err, errlen,
				    s[0] ? "empty path segment ('//') in '%s'" :
					   "path '%s' must not end with '/'", path);
		if (nseg < 4) {
			segs[nseg] = s;
			seglen[nseg] = n;
		}
		nseg++;
		for (size_t i = 0; i < n; i++)
			if (!seg_char(s[i]))
				return fail(err, errlen,
					    "invalid character '%c' in path segment '%.*s' (allowed: A-Z, a-z, 0-9, '.', '-', '_')",
					    s[i], (int)n, s);
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return fail(err, errlen,
				    "path segment '%.*s' is not allowed ('.' and '..' are relative)",
				    (int)n, s);
		p = s + n;
	}
	if (nseg != 4 || seglen[0] != 2 || memcmp(segs[0], "ns", 2) ||
	    seglen[2] != 2 || memcmp(segs[2], "sa", 2))
		return fail(err, errlen,
			    "path '%s' is not of the form /ns/NAMESPACE/sa/SERVICE_ACCOUNT",
			    path);
	if (seglen[1] >= sizeof(id.ns))
		return fail(err, errlen, "namespace longer than %zu characters",
			    sizeof(id.ns) - 1);
	if (seglen[3] >= sizeof(id.sa))
		return fail(err, errlen, "service account longer than %zu characters",
			    sizeof(id.sa) - 1);
	memcpy(id.ns, segs[1], seglen[1]);
	memcpy(id.sa, segs[3], seglen[3]);
	if (out)
		*out = id;
	return 0;
}

void spiffe_id_format(const struct spiffe_id *id, char *buf, size_t len)
{
	snprintf(buf, len, "spiffe://%s/ns/%s/sa/%s", id->trust_domain, id->ns,
		 id->sa);
}

/* ------------------------------------------------------------------ */
/* SVIDs */

/* The URI SANs of x: count, and the first one (NUL-free) in buf. */
static int uri_sans(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *names;
	int crit = -1, n = 0;

	if (len)
		buf[0] = '\0';
	names = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!names)
		return crit == -2 ? -1 : 0; /* -2: the extension twice */
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const unsigned char *d;
		int l;

		if (gn->type != GEN_URI)
			continue;
		if (n++ || !len)
			continue;
		d = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		l = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (l < 0 || memchr(d, '\0', (size_t)l) || (size_t)l >= len) {
			buf[0] = '\0'; /* embedded NUL or too long: not an ID */
			continue;
		}
		memcpy(buf, d, (size_t)l);
		buf[l] = '\0';
	}
	GENERAL_NAMES_free(names);
	return n;
}

enum tr_tls_reason svid_identity_detail(X509 *leaf, struct spiffe_id *out,
					char *detail, size_t len)
{
	char uri[SPIFFE_URI_MAX + 1], msg[256];
	uint32_t flags, ku;
	int n;

	if (detail && len)
		detail[0] = '\0';
	if (!leaf) {
		fail(detail, len, "no certificate");
		return TR_TLS_NO_PEER_CERT;
	}
	flags = X509_get_extension_flags(leaf);
	if (flags & EXFLAG_INVALID) {
		fail(detail, len, "the certificate has invalid or duplicate extensions");
		return TR_TLS_BAD_CERT;
	}
	if (flags & EXFLAG_CA) {
		fail(detail, len, "a CA certificate (CA:TRUE) cannot be an SVID");
		return TR_TLS_BAD_CERT;
	}
	ku = X509_get_key_usage(leaf);
	if (!(flags & EXFLAG_KUSAGE) || !(ku & KU_DIGITAL_SIGNATURE)) {
		fail(detail, len, "no digitalSignature key usage");
		return TR_TLS_BAD_CERT;
	}
	if (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) {
		fail(detail, len, "keyCertSign or cRLSign key usage on a leaf certificate");
		return TR_TLS_BAD_CERT;
	}
	n = uri_sans(leaf, uri, sizeof(uri));
	if (n < 0) {
		fail(detail, len, "more than one subjectAltName extension");
		return TR_TLS_BAD_CERT;
	}
	if (n > 1) {
		fail(detail, len, "%d URI SANs (an SVID has exactly one)", n);
		return TR_TLS_MULTIPLE_URI_SAN;
	}
	if (n == 0) {
		fail(detail, len, "no URI SAN (want spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT)");
		return TR_TLS_NO_SPIFFE_ID;
	}
	if (spiffe_id_parse(uri, out, msg, sizeof(msg))) {
		fail(detail, len, "URI SAN '%.*s' is not a workload SPIFFE ID: %s", 300, uri, msg);
		return TR_TLS_NO_SPIFFE_ID;
	}
	return TR_TLS_OK;
}

enum tr_tls_reason svid_identity(X509 *leaf, struct spiffe_id *out)
{
	return svid_identity_detail(leaf, out, NULL, 0);
}

int svid_ca_trust_domain(X509 *ca, char *td, size_t len)
{
	static const char scheme[] = "spiffe://";
	char uri[SPIFFE_URI_MAX + 1];
	const char *t;

	if (uri_sans(ca, uri, sizeof(uri)) < 1 ||
	    strncmp(uri, scheme, sizeof(scheme) - 1))
		return -1;
	t = uri + sizeof(scheme) - 1;
	/* "spiffe://TD" or "spiffe://TD/" */
	if (t[strcspn(t, "/")] && strcmp(t + strcspn(t, "/"), "/"))
		return -1;
	t = strndupa(t, strcspn(t, "/"));
	if (spiffe_trust_domain_check(t, NULL, 0) || strlen(t) >= len)
		return -1;
	strcpy(td, t);
	return 0;
}

void svid_fingerprint(X509 *x, char *buf, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t off = 0;

	if (len)
		buf[0] = '\0';
	if (!X509_digest(x, EVP_sha256(), md, &n))
		return;
	for (unsigned int i = 0; i < n && off + 3 <= len; i++)
		off += (size_t)snprintf(buf + off, len - off, i ? ":%02X" : "%02X",
					md[i]);
}

void svid_key_desc(EVP_PKEY *key, char *buf, size_t len)
{
	char group[64];
	int id;

	if (!key) {
		snprintf(buf, len, "none");
		return;
	}
	id = EVP_PKEY_get_base_id(key);
	if (id == EVP_PKEY_EC) {
		const char *nist = NULL;

		if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL))
			nist = EC_curve_nid2nist(OBJ_txt2nid(group));
		else
			snprintf(group, sizeof(group), "?");
		snprintf(buf, len, "EC %s", nist ? nist : group);
	} else if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
		snprintf(buf, len, "%s %d", id == EVP_PKEY_RSA ? "RSA" : "RSA-PSS",
			 EVP_PKEY_get_bits(key));
	} else {
		const char *name = EVP_PKEY_get0_type_name(key);

		snprintf(buf, len, "%s", name ? name : OBJ_nid2sn(id));
	}
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm = {};

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

static void name_str(const X509_NAME *name, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;

	buf[0] = '\0';
	if (!b)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(b, &data);
		if (n >= (long)len)
			n = (long)len - 1;
		if (n > 0) {
			memcpy(buf, data, (size_t)n);
			buf[n] = '\0';
		}
	}
	BIO_free(b);
}

int svid_load_chain(const char *path, X509 **leaf, STACK_OF(X509) **chain,
		    char *err, size_t errlen)
{
	STACK_OF(X509) *sk = NULL;
	char why[256];
	X509 *x, *first = NULL;
	BIO *b;
	int ret = -1;

	*leaf = NULL;
	if (chain)
		*chain = NULL;
	ERR_clear_error();
	errno = 0;
	b = BIO_new_file(path, "r");
	if (!b) {
		int e = errno ? errno : EIO;

		ERR_clear_error();
		return fail(err, errlen, "%s: cannot open: %s", path, strerror(e));
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (!first) {
			first = x;
			continue;
		}
		if (!chain) {
			X509_free(x);
			continue;
		}
		if (!sk && !(sk = sk_X509_new_null())) {
			X509_free(x);
			fail(err, errlen, "%s: out of memory", path);
			goto out;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			fail(err, errlen, "%s: out of memory", path);
			goto out;
		}
	}
	if (!first) {
		/* not PEM: perhaps a single DER certificate */
		ERR_clear_error();
		if (BIO_reset(b) == 0)
			first = d2i_X509_bio(b, NULL);
		if (!first) {
			ERR_clear_error();
			fail(err, errlen, "%s: no certificate in it (want PEM, -----BEGIN CERTIFICATE-----)",
			     path);
			goto out;
		}
	} else {
		/* stopped at the end, or at something that is not a certificate */
		unsigned long e = ERR_peek_last_error();

		if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM &&
			   ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
			fail(err, errlen, "%s: certificate %d cannot be read: %s", path,
			     (sk ? sk_X509_num(sk) : 0) + 2, ossl_reason(why, sizeof(why)));
			goto out;
		}
		ERR_clear_error();
	}
	if (chain && !sk && !(sk = sk_X509_new_null())) {
		fail(err, errlen, "%s: out of memory", path);
		goto out;
	}
	*leaf = first;
	first = NULL;
	if (chain) {
		*chain = sk;
		sk = NULL;
	}
	ret = 0;
out:
	X509_free(first);
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	return ret;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int svid_load_key(const char *path, EVP_PKEY **key, char *err, size_t errlen)
{
	char why[256];
	BIO *b;

	*key = NULL;
	ERR_clear_error();
	errno = 0;
	b = BIO_new_file(path, "r");
	if (!b) {
		int e = errno ? errno : EIO;

		ERR_clear_error();
		return fail(err, errlen, "%s: cannot open: %s", path, strerror(e));
	}
	*key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	if (!*key) {
		unsigned long e = ERR_peek_last_error();
		char head[4096];
		int n;

		/* OpenSSL 3 says "unsupported" for a file without any PEM */
		(void)BIO_reset(b);
		n = BIO_read(b, head, sizeof(head) - 1);
		head[n > 0 ? n : 0] = '\0';
		BIO_free(b);
		if (!strstr(head, "-----BEGIN ") ||
		    (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
			ERR_clear_error();
			return fail(err, errlen,
				    "%s: no private key in it (want PEM, -----BEGIN PRIVATE KEY-----)",
				    path);
		}
		if (ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ ||
		    ERR_GET_REASON(e) == PEM_R_PROBLEMS_GETTING_PASSWORD) {
			ERR_clear_error();
			return fail(err, errlen,
				    "%s: the key is encrypted (keys must be unencrypted, mode 0600)",
				    path);
		}
		return fail(err, errlen, "%s: not a usable private key: %s", path,
			    ossl_reason(why, sizeof(why)));
	}
	BIO_free(b);
	return 0;
}

int svid_describe_file(const char *path, struct svid_info *out, char *err, size_t errlen)
{
	struct spiffe_id id;
	char uri[SPIFFE_URI_MAX + 1];
	EVP_PKEY *pub;
	ASN1_INTEGER *serial;
	BIGNUM *bn;
	X509 *x;

	memset(out, 0, sizeof(*out));
	if (svid_load_chain(path, &x, NULL, err, errlen))
		return -1;
	out->svid_ok = svid_identity(x, &id);
	if (out->svid_ok == TR_TLS_OK)
		spiffe_id_format(&id, out->spiffe_id, sizeof(out->spiffe_id));
	else if (uri_sans(x, uri, sizeof(uri)) > 0 && !strncmp(uri, "spiffe://", 9))
		snprintf(out->spiffe_id, sizeof(out->spiffe_id), "%.*s",
			 (int)sizeof(out->spiffe_id) - 1, uri);
	name_str(X509_get_subject_name(x), out->subject, sizeof(out->subject));
	name_str(X509_get_issuer_name(x), out->issuer, sizeof(out->issuer));
	serial = X509_get_serialNumber(x);
	bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
	if (bn) {
		char *hex = BN_bn2hex(bn);

		if (hex)
			snprintf(out->serial, sizeof(out->serial), "%s", hex);
		OPENSSL_free(hex);
		BN_free(bn);
	}
	pub = X509_get0_pubkey(x);
	svid_key_desc(pub, out->key_type, sizeof(out->key_type));
	{
		int nid = X509_get_signature_nid(x);
		const char *ln = nid != NID_undef ? OBJ_nid2ln(nid) : NULL;

		snprintf(out->sig_alg, sizeof(out->sig_alg), "%s", ln ? ln : "unknown");
	}
	out->not_before = asn1_time(X509_get0_notBefore(x));
	out->not_after = asn1_time(X509_get0_notAfter(x));
	out->is_ca = X509_get_extension_flags(x) & EXFLAG_CA;
	svid_fingerprint(x, out->fingerprint_sha256, sizeof(out->fingerprint_sha256));
	X509_free(x);
	ERR_clear_error();
	return 0;
}

/* ------------------------------------------------------------------ */
/* issuing */

int svid_key_type_parse(const char *s, enum svid_key_type *out)
{
	if (!strcmp(s, "ec-p256"))
		*out = SVID_KEY_EC_P256;
	else if (!strcmp(s, "ec-p384"))
		*out = SVID_KEY_EC_P384;
	else if (!strcmp(s, "rsa-2048"))
		*out = SVID_KEY_RSA2048;
	else
		return -1;
	return 0;
}

int svid_parse_duration(const char *s, uint64_t *seconds)
{
	unsigned long long v = 0, mult = 1;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (ULLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	switch (*p) {
	case '\0': break;
	case 's': mult = 1; p++; break;
	case 'm': mult = 60; p++; break;
	case 'h': mult = 3600; p++; break;
	case 'd': mult = 86400; p++; break;
	default: return -1;
	}
	if (*p)
		return -1;
	/* beyond year 9999 is useless to X.509 and to time_t arithmetic */
	if (v > (1ULL << 40) / mult)
		return -1;
	*seconds = v * mult;
	return 0;
}

static EVP_PKEY *new_key(enum svid_key_type kt)
{
	switch (kt) {
	case SVID_KEY_EC_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case SVID_KEY_EC_P384:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	case SVID_KEY_RSA2048:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	}
	return NULL;
}

/* The digest a key signs certificates with: SHA-384 for P-384 and larger. */
static const EVP_MD *sign_md(EVP_PKEY *key)
{
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && EVP_PKEY_get_bits(key) >= 384)
		return EVP_sha384();
	return EVP_sha256();
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int random_serial(X509 *x)
{
	unsigned char buf[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		return -1;
	buf[0] &= 0x7f; /* positive */
	buf[0] |= 0x40; /* and a full 127 bits, never a short one */
	bn = BN_bin2bn(buf, sizeof(buf), NULL);
	if (!bn)
		return -1;
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int set_validity(X509 *x, time_t nb, time_t na)
{
	if (!ASN1_TIME_set(X509_getm_notBefore(x), nb) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), na))
		return -1;
	return 0;
}

/* Create the parent folders of path (mode for the new ones). */
static int mkdirs_for(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	p = strrchr(buf, '/');
	if (!p || p == buf)
		return 0;
	*p = '\0';
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

enum pem_what { PEM_CERT, PEM_KEY };

/*
 * Write obj as PEM to path through a hidden temporary file in the same
 * folder, renamed into place: a watcher never sees half a file.
 */
static int write_pem(const char *path, enum pem_what what, void *obj, mode_t mode,
		     char *err, size_t errlen)
{
	char tmp[PATH_MAX], why[256];
	const char *base = strrchr(path, '/');
	BIO *b = NULL;
	int fd, ok, e;
	FILE *f;

	base = base ? base + 1 : path;
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp.XXXXXX", (int)(base - path), path,
		     base) >= (int)sizeof(tmp))
		return fail(err, errlen, "%s: path too long", path);
	fd = mkstemp(tmp); /* 0600 */
	if (fd < 0)
		return fail(err, errlen, "cannot create a file next to %s: %s", path,
			    strerror(errno));
	if (fchmod(fd, mode)) {
		e = errno;
		close(fd);
		unlink(tmp);
		return fail(err, errlen, "%s: chmod: %s", tmp, strerror(e));
	}
	f = fdopen(fd, "w");
	if (!f) {
		e = errno;
		close(fd);
		unlink(tmp);
		return fail(err, errlen, "%s: %s", tmp, strerror(e));
	}
	b = BIO_new_fp(f, BIO_NOCLOSE);
	if (what == PEM_CERT)
		ok = b && PEM_write_bio_X509(b, obj);
	else
		ok = b && PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL);
	ok = ok && BIO_flush(b) == 1;
	BIO_free(b);
	if (!ok) {
		fclose(f);
		unlink(tmp);
		return fail(err, errlen, "cannot write %s: %s", path,
			    ossl_reason(why, sizeof(why)));
	}
	if (fflush(f) || fsync(fileno(f))) {
		e = errno;
		fclose(f);
		unlink(tmp);
		return fail(err, errlen, "cannot write %s: %s", path, strerror(e));
	}
	if (fclose(f)) {
		e = errno;
		unlink(tmp);
		return fail(err, errlen, "cannot write %s: %s", path, strerror(e));
	}
	if (rename(tmp, path)) {
		e = errno;
		unlink(tmp);
		return fail(err, errlen, "cannot rename %s to %s: %s", tmp, path,
			    strerror(e));
	}
	return 0;
}

static X509_NAME *make_name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (!n)
		return NULL;
	if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
					(const unsigned char *)"Trestle", -1, -1, 0) ||
	    (cn && !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
					       (const unsigned char *)cn, -1, -1, 0))) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

int svid_ca_init(const char *trust_domain, const char *outdir, enum svid_key_type kt,
		 uint64_t ttl, bool force, char *err, size_t errlen)
{
	char crt_path[PATH_MAX], key_path[PATH_MAX], why[256], msg[256], uri[160];
	X509_NAME *name = NULL;
	EVP_PKEY *key = NULL;
	X509V3_CTX v3;
	X509 *x = NULL;
	time_t now = time(NULL);
	struct stat st;
	int ret = -1;

	if (spiffe_trust_domain_check(trust_domain, msg, sizeof(msg)))
		return fail(err, errlen, "invalid trust domain '%s': %s",
			    trust_domain ? trust_domain : "", msg);
	if (!ttl)
		ttl = CA_DEFAULT_TTL;
	if (snprintf(crt_path, sizeof(crt_path), "%s/ca.crt", outdir) >= (int)sizeof(crt_path) ||
	    snprintf(key_path, sizeof(key_path), "%s/ca.key", outdir) >= (int)sizeof(key_path))
		return fail(err, errlen, "%s: path too long", outdir);
	ret = mkdirs_for(crt_path, 0700);
	if (ret)
		return fail(err, errlen, "cannot create %s: %s", outdir, strerror(-ret));
	ret = -1;
	if (stat(outdir, &st) || !S_ISDIR(st.st_mode))
		return fail(err, errlen, "%s is not a directory", outdir);
	if (!force) {
		if (!access(key_path, F_OK))
			return fail(err, errlen,
				    "%s exists (use --force to replace the CA; the SVIDs it issued will no longer verify)",
				    key_path);
		if (!access(crt_path, F_OK))
			return fail(err, errlen,
				    "%s exists (use --force to replace the CA; the SVIDs it issued will no longer verify)",
				    crt_path);
	}

	ERR_clear_error();
	key = new_key(kt);
	if (!key) {
		fail(err, errlen, "cannot generate a key: %s", ossl_reason(why, sizeof(why)));
		goto out;
	}
	snprintf(uri, sizeof(uri), "URI:spiffe://%s", trust_domain);
	x = X509_new();
	name = make_name(trust_domain);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (!x || !name || !X509_set_version(x, X509_VERSION_3) || random_serial(x) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    set_validity(x, now - SVID_BACKDATE, now + (time_t)ttl) ||
	    !X509_set_pubkey(x, key) ||
	    add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE") ||
	    add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
	    add_ext(x, &v3, NID_subject_alt_name, uri) ||
	    !X509_sign(x, key, sign_md(key))) {
		fail(err, errlen, "cannot build the CA certificate: %s",
		     ossl_reason(why, sizeof(why)));
		goto out;
	}
	if (write_pem(key_path, PEM_KEY, key, 0600, err, errlen) ||
	    write_pem(crt_path, PEM_CERT, x, 0644, err, errlen))
		goto out;
	ret = 0;
out:
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

int svid_issue(const char *ca_dir, const char *spiffe_id, const char *prefix,
	       enum svid_key_type kt, uint64_t ttl, int64_t not_before_offset,
	       char *err, size_t errlen)
{
	char crt_path[PATH_MAX], key_path[PATH_MAX], ca_crt[PATH_MAX], ca_key[PATH_MAX];
	char why[256], msg[256], san[SPIFFE_ID_MAX + 8], ca_td[128];
	const char *ku;
	struct spiffe_id id;
	X509_NAME *name = NULL;
	EVP_PKEY *key = NULL, *cakey = NULL;
	X509 *x = NULL, *ca = NULL;
	X509V3_CTX v3;
	time_t now = time(NULL), base;
	int ret = -1;

	if (spiffe_id_parse(spiffe_id, &id, msg, sizeof(msg)))
		return fail(err, errlen, "invalid SPIFFE ID '%s': %s",
			    spiffe_id ? spiffe_id : "", msg);
	if (!ttl)
		ttl = SVID_DEFAULT_TTL;
	if (not_before_offset > (int64_t)1 << 40 || not_before_offset < -((int64_t)1 << 40))
		return fail(err, errlen, "not-before offset out of range");
	if (snprintf(crt_path, sizeof(crt_path), "%s.crt", prefix) >= (int)sizeof(crt_path) ||
	    snprintf(key_path, sizeof(key_path), "%s.key", prefix) >= (int)sizeof(key_path) ||
	    snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", ca_dir) >= (int)sizeof(ca_crt) ||
	    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", ca_dir) >= (int)sizeof(ca_key))
		return fail(err, errlen, "path too long");

	if (svid_load_chain(ca_crt, &ca, NULL, err, errlen))
		goto out;
	if (svid_load_key(ca_key, &cakey, err, errlen))
		goto out;
	if (!(X509_get_extension_flags(ca) & EXFLAG_CA)) {
		fail(err, errlen, "%s is not a CA certificate (no CA:TRUE)", ca_crt);
		goto out;
	}
	if (X509_check_private_key(ca, cakey) != 1) {
		ERR_clear_error();
		fail(err, errlen, "%s does not match %s", ca_key, ca_crt);
		goto out;
	}
	if (!svid_ca_trust_domain(ca, ca_td, sizeof(ca_td)) &&
	    strcmp(ca_td, id.trust_domain)) {
		fail(err, errlen,
		     "%s is in trust domain '%s', the CA %s is for '%s' (issue spiffe://%s/ns/%s/sa/%s, or use that trust domain's CA)",
		     spiffe_id, id.trust_domain, ca_crt, ca_td, ca_td, id.ns, id.sa);
		goto out;
	}
	if (asn1_time(X509_get0_notAfter(ca)) < now) {
		fail(err, errlen, "the CA certificate %s has expired (create a new CA with trestle ca init --force)",
		     ca_crt);
		goto out;
	}
	ret = mkdirs_for(crt_path, 0755);
	if (ret) {
		fail(err, errlen, "cannot create the folder of %s: %s", crt_path,
		     strerror(-ret));
		ret = -1;
		goto out;
	}

	ERR_clear_error();
	key = new_key(kt);
	if (!key) {
		fail(err, errlen, "cannot generate a key: %s", ossl_reason(why, sizeof(why)));
		goto out;
	}
	base = now + (time_t)not_before_offset;
	ku = kt == SVID_KEY_RSA2048 ? "critical,digitalSignature,keyEncipherment" :
				      "critical,digitalSignature";
	snprintf(san, sizeof(san), "URI:spiffe://%s/ns/%s/sa/%s", id.trust_domain, id.ns,
		 id.sa);
	x = X509_new();
	name = make_name(NULL);
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	if (!x || !name || !X509_set_version(x, X509_VERSION_3) || random_serial(x) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
	    set_validity(x, base - SVID_BACKDATE, base + (time_t)ttl) ||
	    !X509_set_pubkey(x, key) ||
	    add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(x, &v3, NID_key_usage, ku) ||
	    add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth") ||
	    add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
	    add_ext(x, &v3, NID_authority_key_identifier, "keyid:always") ||
	    add_ext(x, &v3, NID_subject_alt_name, san) ||
	    !X509_sign(x, cakey, sign_md(cakey))) {
		fail(err, errlen, "cannot build the certificate: %s",
		     ossl_reason(why, sizeof(why)));
		goto out;
	}
	/* the key first: a reader that sees the new certificate finds its key */
	if (write_pem(key_path, PEM_KEY, key, 0600, err, errlen) ||
	    write_pem(crt_path, PEM_CERT, x, 0644, err, errlen))
		goto out;
	ret = 0;
out:
	X509_NAME_free(name);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	ERR_clear_error();
	return ret;
}
