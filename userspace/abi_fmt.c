// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "abi_fmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <trestle/reasons.h>
#include <trestle/redir.h>

const char *abi_addr_str(const __be32 addr[4], int family, char *buf, size_t len)
{
	if (!inet_ntop(family == TR_AF_INET6 ? AF_INET6 : AF_INET, addr, buf,
		       (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *abi_proto_str(int proto)
{
	static __thread char num[8];

	switch (proto) {
	case TR_PROTO_TCP:
		return "tcp";
	case TR_PROTO_UDP:
		return "udp";
	case 1:
		return "icmp";
	case 58:
		return "icmpv6";
	default:
		snprintf(num, sizeof(num), "%d", proto);
		return num;
	}
}

int abi_proto_parse(const char *s)
{
	if (!strcasecmp(s, "tcp"))
		return TR_PROTO_TCP;
	if (!strcasecmp(s, "udp"))
		return TR_PROTO_UDP;
	return -EINVAL;
}

struct reason_row {
	int code;
	const char *name;
	const char *desc;
};

static const struct reason_row reasons[] = {
#define ROW(n, v, s, d) { v, s, d },
	TR_REASONS(ROW)
#undef ROW
};

static const struct reason_row stats[] = {
#define ROW(n, v, s, d) { v, s, d },
	TR_STATS(ROW)
#undef ROW
};

const char *abi_reason_name(int reason)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == reason)
			return reasons[i].name;
	return NULL;
}

const char *abi_reason_desc(int reason)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == reason)
			return reasons[i].desc;
	return NULL;
}

const char *abi_stat_name(unsigned int idx)
{
	const char *n = abi_reason_name(-(int)idx);

	if (idx && n)
		return n;
	for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
		if ((unsigned int)stats[i].code == idx)
			return stats[i].name;
	return NULL;
}

static const char *const redir_modes[] = {
	[TR_REDIR_OFF] = "off",
	[TR_REDIR_ON] = "on",
	[TR_REDIR_AUTO] = "auto",
};

const char *abi_redir_mode_name(unsigned int mode)
{
	return mode < sizeof(redir_modes) / sizeof(redir_modes[0]) ? redir_modes[mode] : "?";
}

int abi_redir_mode_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(redir_modes) / sizeof(redir_modes[0]); i++)
		if (!strcmp(s, redir_modes[i]))
			return (int)i;
	return -EINVAL;
}
