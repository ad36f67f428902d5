// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle ca { init | help }
 *
 * A self-signed root CA for one trust domain (svid.h): DIR/ca.crt, which
 * every node gets as its trust bundle, and DIR/ca.key (0600), which stays
 * where SVIDs are issued (trestle cert issue --ca DIR). No pins needed.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "svid.h"

int do_ca(int argc, char **argv);

static int do_init(int argc, char **argv)
{
	const char *td = NULL, *out = NULL, *v;
	char err[1024], path[4200], key[4200];
	struct svid_info info;
	int kt = SVID_KEY_EC_P256;
	long long ttl = 0;
	bool force = false;
	int i, r;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if ((r = cli_opt_value(argc, argv, &i, "--trust-domain", &td)) ||
		    (r = cli_opt_value(argc, argv, &i, "--out", &out))) {
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
		if (!strcmp(a, "--force")) {
			force = true;
			continue;
		}
		if (a[0] == '-') {
			p_err("unknown option '%s' for ca init (valid: --trust-domain, --out, --key-type, --ttl, --force)",
			      a);
			return -1;
		}
		p_err("unexpected argument '%s' (ca init takes only options; try '%s ca help')",
		      a, bin_name);
		return -1;
	}
	if (!td) {
		p_err("ca init needs --trust-domain TD (e.g. --trust-domain example.org)");
		return -1;
	}
	if (!out) {
		p_err("ca init needs --out DIR (where ca.crt and ca.key are written)");
		return -1;
	}
	if (svid_ca_init(td, out, (enum svid_key_type)kt, (uint64_t)ttl, force, err,
			 sizeof(err))) {
		p_err("%s", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", out);
	snprintf(key, sizeof(key), "%s/ca.key", out);
	if (svid_describe_file(path, &info, err, sizeof(err))) {
		p_err("%s", err);
		return -1;
	}

	open_json_object(NULL);
	print_string(PRINT_ANY, "trust_domain", "created a CA for the trust domain %s\n", td);
	print_string(PRINT_ANY, "cert", "  certificate  %s\n", path);
	print_string(PRINT_ANY, "key", "  key          %s (mode 0600; keep it off the nodes)\n",
		     key);
	print_string(PRINT_ANY, "key_type", "  key type     %s\n", info.key_type);
	cli_print_time("not_before", "  valid from   %s\n", info.not_before);
	cli_print_time("not_after", "  valid until  %s\n", info.not_after);
	print_string(PRINT_ANY, "fingerprint_sha256", "  fingerprint  SHA256 %s\n",
		     info.fingerprint_sha256);
	close_json_object();
	return 0;
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
		"Usage: %s ca init --trust-domain TD --out DIR [ --key-type TYPE ]\n"
		"                     [ --ttl DURATION ] [ --force ]\n"
		"       %s ca help\n"
		"\n"
		"  init    create a self-signed root CA for the trust domain TD:\n"
		"          DIR/ca.crt (CA:TRUE, keyCertSign and cRLSign, URI SAN\n"
		"          spiffe://TD, subject O=Trestle, CN=TD) and DIR/ca.key (0600).\n"
		"          Copy ca.crt into every node's certificate directory (trestled\n"
		"          --certs); keep ca.key where SVIDs are issued (%s cert issue).\n"
		"\n"
		"  --trust-domain TD  lowercase letters, digits, '.', '-', '_'\n"
		"  --out DIR          created when missing (mode 0700)\n"
		"  --key-type TYPE    ec-p256 (default), ec-p384 or rsa-2048\n"
		"  --ttl DURATION     validity: 30s, 15m, 24h, 90d or seconds (default 10 years)\n"
		"  --force            replace an existing CA (SVIDs it issued stop verifying)\n",
		bin_name, bin_name, bin_name);
	return 0;
}

static const struct cmd cmds[] = {
	{ "init", do_init },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_ca(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "ca");
}
