// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Name syntax, as Kubernetes (apimachinery/pkg/util/validation) and Istio
 * check it. Each check returns NULL when valid, else a short reason.
 */
#include "config_int.h"

#include <ctype.h>
#include <string.h>

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
	return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..len) */
static bool dns_label(const char *s, size_t len)
{
	size_t i;

	if (!len || !lower_alnum(s[0]) || !lower_alnum(s[len - 1]))
		return false;
	for (i = 0; i < len; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

const char *check_dns_label(const char *s)
{
	size_t len = strlen(s);

	if (!len)
		return "must not be empty";
	if (len > 63)
		return "must be at most 63 characters";
	if (!dns_label(s, len))
		return "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit";
	return NULL;
}

const char *check_dns_subdomain(const char *s)
{
	size_t len = strlen(s);
	const char *dot;

	if (!len)
		return "must not be empty";
	if (len > 253)
		return "must be at most 253 characters";
	for (;;) {
		dot = strchr(s, '.');
		if (!dns_label(s, dot ? (size_t)(dot - s) : strlen(s)))
			return "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit";
		if (!dot)
			return NULL;
		s = dot + 1;
	}
}

const char *check_iana_svc_name(const char *s)
{
	size_t len = strlen(s), i;
	bool letter = false;

	if (!len || len > 15)
		return "a port name must be 1 to 15 characters";
	for (i = 0; i < len; i++) {
		if (!lower_alnum(s[i]) && s[i] != '-')
			return "a port name may contain only lowercase letters, digits and '-'";
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
	}
	if (!letter)
		return "a port name must contain at least one letter";
	if (s[0] == '-' || s[len - 1] == '-' || strstr(s, "--"))
		return "a port name must not start or end with '-' or contain \"--\"";
	return NULL;
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 characters */
static const char *qualified_name(const char *s, size_t len)
{
	size_t i;

	if (!len)
		return "the name part must not be empty";
	if (len > 63)
		return "the name part must be at most 63 characters";
	if (!alnum(s[0]) || !alnum(s[len - 1]))
		return "must start and end with a letter or digit";
	for (i = 0; i < len; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return "may contain only letters, digits, '-', '_' and '.'";
	return NULL;
}

const char *check_label_key(const char *s)
{
	const char *slash = strchr(s, '/');
	char prefix[256];
	size_t plen;

	if (!slash)
		return qualified_name(s, strlen(s));
	plen = (size_t)(slash - s);
	if (!plen || plen > 253)
		return "the prefix must be a DNS subdomain of 1 to 253 characters";
	memcpy(prefix, s, plen);
	prefix[plen] = '\0';
	if (check_dns_subdomain(prefix))
		return "the prefix must be a DNS-1123 subdomain";
	return qualified_name(slash + 1, strlen(slash + 1));
}

const char *check_label_value(const char *s)
{
	size_t len = strlen(s);

	if (!len)
		return NULL;
	return qualified_name(s, len);
}

const char *check_istio_host(const char *s)
{
	struct tr_ip ip;

	if (!strcmp(s, "*") || !tr_ip_parse(s, &ip))
		return NULL;
	if (!strncmp(s, "*.", 2))
		s += 2;
	if (check_dns_subdomain(s))
		return "must be a DNS name (optionally starting with \"*.\"), \"*\" or an IP address";
	return NULL;
}

/* Case-insensitive edit distance, capped: short keys only. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[33], prev, tmp, cost;

	if (la > 32 || lb > 32)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			cost = tolower((unsigned char)a[i - 1]) !=
			       tolower((unsigned char)b[j - 1]);
			row[j] = prev + cost;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

const char *closest_key(const char *key, const struct field *fields, size_t n)
{
	size_t i, d, best = 3;
	const char *hit = NULL;

	for (i = 0; i < n; i++) {
		d = distance(key, fields[i].key);
		if (d < best && d < strlen(key)) {
			best = d;
			hit = fields[i].key;
		}
	}
	return hit;
}
