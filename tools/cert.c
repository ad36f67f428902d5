// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle cert { issue | show | verify | help }
 *
 * X.509 SVIDs (svid.h): issue one from a CA made by `trestle ca init`,
 * show what a certificate holds, and verify one the way trestled does
 * (chain to the bundle, validity, SVID rules, trust domain). No pins
 * needed.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/x509.h>

#include "certstore.h"
#include "cli.h"
#include "svid.h"

int do_cert(int argc, char **argv);

/* ------------------------------------------------------------------ */
/* helpers shared with ca.c (cli.h) */

int cli_key_type(const char *v, int *kt)
{
	enum svid_key_type k;

	if (svid_key_type_parse(v, &k)) {
		p_err("invalid --key-type '%s' (expected ec-p256, ec-p384 or rsa-2048)", v);
		return -1;
	}
	*kt = (int)k;
	return 0;
}

int cli_duration(const char *opt, const char *v, bool allow_negative, long long *secs)
{
	bool neg = allow_negative && v[0] == '-';
	uint64_t s;

	if (svid_parse_duration(neg ? v + 1 : v, &s)) {
		p_err("invalid %s '%s' (expected %s30s, 15m, 24h, 90d or seconds)", opt, v,
		      allow_negative ? "an optional '-' and " : "");
		return -1;
	}
	if (!allow_negative && !s) {
		p_err("invalid %s '%s' (must be more than 0)", opt, v);
		return -1;
	}
	*secs = neg ? -(long long)s : (long long)s;
	return 0;
}

void cli_print_time(const char *key, const char *fmt, long t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, sizeof(buf), "%ld", t);
	print_string(PRINT_ANY, key, fmt, buf);
}

/* ------------------------------------------------------------------ */
/* issue */

static int do_issue(int argc, char **argv)
{
	const char *ca = NULL, *id = NULL, *prefix = NULL, *v;
	char err[1024], crt[4200], key[4200];
	long long ttl = 0, offset = 0;
	int kt = SVID_KEY_EC_P256, i, r;
	struct svid_info info;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if ((r = cli_opt_value(argc, argv, &i, "--ca", &ca)) ||
		    (r = cli_opt_value(argc, argv, &i, "--spiffe-id", &id)) ||
		    (r = cli_opt_value(argc, argv, &i, "--out", &prefix))) {
			if (r < 0)
				return -1;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--key-type", &v))) {
			if (r < 0 || cli_key_type(v, &kt))
				return -1;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--ttl", &v))) {
			if (r < 0 || cli_duration("--ttl", v, false, &ttl))
				return -1;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--not-before-offset", &v))) {
			if (r < 0 || cli_duration("--not-before-offset", v, true, &offset))
				return -1;
			continue;
		}
		if (a[0] == '-') {
			p_err("unknown option '%s' for cert issue (valid: --ca, --spiffe-id, --out, --ttl, --key-type, --not-before-offset)",
			      a);
			return -1;
		}
		p_err("unexpected argument '%s' (cert issue takes only options; try '%s cert help')",
		      a, bin_name);
		return -1;
	}
	if (!ca) {
		p_err("cert issue needs --ca DIR (the folder of ca.crt and ca.key, from %s ca init)",
		      bin_name);
		return -1;
	}
	if (!id) {
		p_err("cert issue needs --spiffe-id spiffe://TD/ns/NAMESPACE/sa/SERVICE_ACCOUNT");
		return -1;
	}
	if (!prefix) {
		p_err("cert issue needs --out PREFIX (PREFIX.crt and PREFIX.key are written, e.g. certs/NAMESPACE/SA)");
		return -1;
	}
	if (svid_issue(ca, id, prefix, (enum svid_key_type)kt, (uint64_t)ttl, offset, err,
		       sizeof(err))) {
		p_err("%s", err);
		return -1;
	}
	snprintf(crt, sizeof(crt), "%s.crt", prefix);
	snprintf(key, sizeof(key), "%s.key", prefix);
	if (svid_describe_file(crt, &info, err, sizeof(err))) {
		p_err("%s", err);
		return -1;
	}

	open_json_object(NULL);
	print_string(PRINT_ANY, "spiffe_id", "issued %s\n", info.spiffe_id);
	print_string(PRINT_ANY, "cert", "  certificate  %s\n", crt);
	print_string(PRINT_ANY, "key", "  key          %s (mode 0600)\n", key);
	print_string(PRINT_ANY, "key_type", "  key type     %s\n", info.key_type);
	print_string(PRINT_ANY, "serial", "  serial       %s\n", info.serial);
	cli_print_time("not_before", "  valid from   %s\n", info.not_before);
	cli_print_time("not_after", "  valid until  %s\n", info.not_after);
	print_string(PRINT_ANY, "fingerprint_sha256", "  fingerprint  SHA256 %s\n",
		     info.fingerprint_sha256);
	close_json_object();
	return 0;
}

/* ------------------------------------------------------------------ */
/* show */

static int do_show(int argc, char **argv)
{
	struct svid_info info;
	char err[1024];
	time_t now = time(NULL);
	bool expired, early;

	if (argc < 1) {
		p_err("cert show needs FILE (a PEM certificate)");
		return -1;
	}
	if (cli_extra_args(argc - 1, argv + 1))
		return -1;
	if (svid_describe_file(argv[0], &info, err, sizeof(err))) {
		p_err("%s", err);
		return -1;
	}
	expired = now > info.not_after;
	early = now < info.not_before;

	open_json_object(NULL);
	print_string(PRINT_JSON, "file", NULL, argv[0]);
	if (info.spiffe_id[0])
		print_string(PRINT_ANY, "spiffe_id", "identity     %s\n", info.spiffe_id);
	else
		print_null(PRINT_ANY, "spiffe_id", "identity     (none)\n");
	print_string(PRINT_ANY, "svid", "svid         %s",
		     info.svid_ok == TR_TLS_OK ? "ok" : tr_tls_reason_name(info.svid_ok));
	print_fp("%s\n", info.svid_ok == TR_TLS_OK ? "" :
			 info.is_ca ? " (a CA certificate, not an SVID)" : " (not an SVID)");
	print_string(PRINT_ANY, "subject", "subject      %s\n", info.subject);
	print_string(PRINT_ANY, "issuer", "issuer       %s\n", info.issuer);
	print_string(PRINT_ANY, "serial", "serial       %s\n", info.serial);
	print_string(PRINT_ANY, "key_type", "key          %s\n", info.key_type);
	print_string(PRINT_ANY, "signature_algorithm", "signature    %s\n", info.sig_alg);
	cli_print_time("not_before", "not_before   %s", info.not_before);
	print_fp("%s\n", early ? " (not yet valid)" : "");
	cli_print_time("not_after", "not_after    %s", info.not_after);
	print_fp("%s\n", expired ? " (expired)" : "");
	print_bool(PRINT_JSON, "expired", NULL, expired);
	print_bool(PRINT_JSON, "not_yet_valid", NULL, early);
	print_bool(PRINT_ANY, "is_ca", "ca           %s\n", info.is_ca);
	print_string(PRINT_ANY, "fingerprint_sha256", "fingerprint  SHA256 %s\n",
		     info.fingerprint_sha256);
	close_json_object();
	return 0;
}

/* ------------------------------------------------------------------ */
/* verify */

/* Without --trust-domain: the SVID's domain must be one of the bundle's
 * CAs' (those that name one). NULL when it is, or when none names one. */
static const char *bundle_domain_mismatch(X509_STORE *bundle, const char *td,
					  char *buf, size_t len)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(bundle);
	bool any = false;
	char d[128];

	buf[0] = '\0';
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (!x || svid_ca_trust_domain(x, d, sizeof(d)))
			continue;
		if (!strcmp(d, td))
			return NULL;
		if (!any)
			snprintf(buf, len, "%s", d);
		any = true;
	}
	return any ? buf : NULL;
}

static int do_verify(int argc, char **argv)
{
	const char *ca = NULL, *td = NULL, *file = NULL;
	char err[1024], detail[1024], bundle_path[4200], domains[128];
	STACK_OF(X509) *chain = NULL;
	X509_STORE *bundle = NULL;
	enum tr_tls_reason reason;
	struct spiffe_id id = {};
	char idstr[SPIFFE_ID_MAX] = "";
	X509 *leaf = NULL;
	long not_after = 0;
	struct stat st;
	int i, r, ret = -1;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if ((r = cli_opt_value(argc, argv, &i, "--ca", &ca)) ||
		    (r = cli_opt_value(argc, argv, &i, "--trust-domain", &td))) {
			if (r < 0)
				return -1;
			continue;
		}
		if (a[0] == '-') {
			p_err("unknown option '%s' for cert verify (valid: --ca, --trust-domain)", a);
			return -1;
		}
		if (file) {
			p_err("unexpected argument '%s' (cert verify checks one FILE)", a);
			return -1;
		}
		file = a;
	}
	if (!ca) {
		p_err("cert verify needs --ca DIR (the folder of ca.crt, or the bundle file itself)");
		return -1;
	}
	if (!file) {
		p_err("cert verify needs FILE (the SVID, leaf first, intermediates after)");
		return -1;
	}
	if (td && spiffe_trust_domain_check(td, err, sizeof(err))) {
		p_err("invalid --trust-domain '%s': %s", td, err);
		return -1;
	}
	if (!stat(ca, &st) && S_ISDIR(st.st_mode))
		snprintf(bundle_path, sizeof(bundle_path), "%s/ca.crt", ca);
	else
		snprintf(bundle_path, sizeof(bundle_path), "%s", ca);
	bundle = certstore_load_bundle(bundle_path, err, sizeof(err));
	if (!bundle) {
		p_err("%s", err);
		goto out;
	}
	if (svid_load_chain(file, &leaf, &chain, err, sizeof(err))) {
		p_err("%s", err);
		goto out;
	}
	reason = certstore_check_svid(bundle, leaf, chain, td, time(NULL), &id, detail,
				      sizeof(detail));
	if (reason == TR_TLS_OK && !td &&
	    bundle_domain_mismatch(bundle, id.trust_domain, domains, sizeof(domains))) {
		reason = TR_TLS_WRONG_TRUST_DOMAIN;
		snprintf(detail, sizeof(detail),
			 "its trust domain is %s, the bundle's CAs are for %s", id.trust_domain,
			 domains);
	}
	if (reason == TR_TLS_OK)
		spiffe_id_format(&id, idstr, sizeof(idstr));
	{
		struct tm tm = {};

		if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm))
			not_after = (long)timegm(&tm);
	}

	open_json_object(NULL);
	print_string(PRINT_ANY, "file", "%s: ", file);
	print_bool(PRINT_JSON, "valid", NULL, reason == TR_TLS_OK);
	print_fp("%s", reason == TR_TLS_OK ? "valid" : "refused: ");
	print_string(reason == TR_TLS_OK ? PRINT_JSON : PRINT_ANY, "reason", "%s",
		     tr_tls_reason_name(reason));
	if (reason == TR_TLS_OK) {
		print_string(PRINT_ANY, "spiffe_id", ", %s", idstr);
		cli_print_time("not_after", ", until %s", not_after);
		print_null(PRINT_JSON, "detail", NULL);
	} else {
		print_null(PRINT_JSON, "spiffe_id", NULL);
		print_string(PRINT_ANY, "detail", " (%s)", detail);
	}
	print_nl();
	close_json_object();
	/* a refused certificate is the command's answer, and exit status 1 */
	ret = reason == TR_TLS_OK ? 0 : -1;
out:
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	X509_STORE_free(bundle);
	return ret;
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (json_output) {
		print_null(PRINT_JSON, NULL, NULL);
		return 0;
	}
	fprintf(stdout,
		"Usage: %s cert issue --ca DIR --spiffe-id ID --out PREFIX [ --ttl DURATION ]\n"
		"                      [ --key-type TYPE ] [ --not-before-offset [-]DURATION ]\n"
		"       %s cert show FILE\n"
		"       %s cert verify --ca DIR FILE [ --trust-domain TD ]\n"
		"       %s cert help\n"
		"\n"
		"  issue   an SVID for ID (spiffe://TD/ns/NAMESPACE/sa/SERVICE_ACCOUNT, TD\n"
		"          the CA's), signed by DIR/ca.crt and DIR/ca.key: PREFIX.crt and\n"
		"          PREFIX.key (0600), written whole (temporary file, then rename).\n"
		"          One URI SAN, CA:FALSE, digitalSignature, serverAuth+clientAuth,\n"
		"          valid from 60 s ago for DURATION (default 24h). For trestled,\n"
		"          use --out CERTS/NAMESPACE/SERVICE_ACCOUNT.\n"
		"  show    identity, SVID verdict, subject, issuer, serial, key, signature\n"
		"          algorithm, validity (marked expired or not yet valid), and\n"
		"          SHA-256 fingerprint of FILE's first certificate\n"
		"  verify  check FILE as trestled does: chain to the CA(s) of DIR/ca.crt (or\n"
		"          DIR, a bundle file), validity now, SVID rules, and trust domain\n"
		"          (TD, or that of the bundle's CAs); prints valid or the reason;\n"
		"          exit status 1 when refused\n"
		"\n"
		"  --key-type TYPE              ec-p256 (default), ec-p384 or rsa-2048\n"
		"  --ttl DURATION               30s, 15m, 24h, 90d or seconds\n"
		"  --not-before-offset DURATION shift the validity (tests): -48h is in the\n"
		"                               past, 1h in the future\n",
		bin_name, bin_name, bin_name, bin_name);
	return 0;
}

static const struct cmd cmds[] = {
	{ "show", do_show },
	{ "issue", do_issue },
	{ "verify", do_verify },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_cert(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "cert");
}
