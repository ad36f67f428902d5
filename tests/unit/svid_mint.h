/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Test helper: certificates that `trestle cert issue` refuses to make
 * (several URI SANs, CA:TRUE leaves, odd key usages), signed by a CA made
 * by svid_ca_init(). Built with OpenSSL directly, independent of svid.c.
 */
#ifndef TRESTLE_TEST_SVID_MINT_H
#define TRESTLE_TEST_SVID_MINT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

struct mint {
	const char *uris[4]; /* URI SANs, up to the first NULL */
	const char *dns;     /* a DNS SAN too, or NULL */
	bool ca;             /* CA:TRUE */
	const char *ku;      /* key usage; NULL: "critical,digitalSignature"; "": none */
	long nb, na;         /* validity from now; both 0: -60 .. +3600 */
};

static inline int mint_add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *val)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, val);
	int ok = e && X509_add_ext(x, e, -1);

	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* Write prefix.crt and prefix.key (0600), signed by ca_dir/ca.{crt,key}. */
static inline int mint_svid(const char *ca_dir, const struct mint *m, const char *prefix)
{
	char path[4200], san[2048] = "";
	EVP_PKEY *key = NULL, *cakey = NULL;
	X509 *x = NULL, *ca = NULL;
	X509V3_CTX v3;
	time_t now = time(NULL);
	long nb = m->nb, na = m->na;
	FILE *f;
	int ret = -1;

	if (!nb && !na) {
		nb = -60;
		na = 3600;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", ca_dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca.key", ca_dir);
	f = fopen(path, "r");
	if (!f)
		goto out;
	cakey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	x = X509_new();
	if (!ca || !cakey || !key || !x)
		goto out;
	for (int i = 0; i < 4 && m->uris[i]; i++)
		snprintf(san + strlen(san), sizeof(san) - strlen(san), "%sURI:%s",
			 *san ? "," : "", m->uris[i]);
	if (m->dns)
		snprintf(san + strlen(san), sizeof(san) - strlen(san), "%sDNS:%s",
			 *san ? "," : "", m->dns);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(now & 0xffffff) + 17);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
				   (const unsigned char *)"Trestle test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	ASN1_TIME_set(X509_getm_notBefore(x), now + nb);
	ASN1_TIME_set(X509_getm_notAfter(x), now + na);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	if (mint_add_ext(x, &v3, NID_basic_constraints,
			 m->ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
	    (!m->ku && mint_add_ext(x, &v3, NID_key_usage, "critical,digitalSignature")) ||
	    (m->ku && *m->ku && mint_add_ext(x, &v3, NID_key_usage, m->ku)) ||
	    mint_add_ext(x, &v3, NID_authority_key_identifier, "keyid:always") ||
	    (*san && mint_add_ext(x, &v3, NID_subject_alt_name, san)) ||
	    !X509_sign(x, cakey, EVP_sha256()))
		goto out;
	snprintf(path, sizeof(path), "%s.crt", prefix);
	f = fopen(path, "w");
	if (!f || !PEM_write_X509(f, x)) {
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s.key", prefix);
	f = fopen(path, "w");
	if (!f || fchmod(fileno(f), 0600) ||
	    !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) {
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);
	ret = 0;
out:
	ERR_clear_error();
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return ret;
}

#endif /* TRESTLE_TEST_SVID_MINT_H */
