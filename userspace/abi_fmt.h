/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Formatting of ABI values for people: addresses, protocols, reasons. */
#ifndef TRESTLE_ABI_FMT_H
#define TRESTLE_ABI_FMT_H

#include <stddef.h>
#include <trestle/abi.h>

/* Format a map address (IPv4 in addr[0]) into buf; returns buf. */
const char *abi_addr_str(const __be32 addr[4], int family, char *buf, size_t len);
/* "tcp", "udp" or the number. */
const char *abi_proto_str(int proto);
/* Parse "tcp"/"udp"; returns TR_PROTO_* or -EINVAL. */
int abi_proto_parse(const char *s);
/* Name of a reason code ("no_backend"), or NULL if unknown. */
const char *abi_reason_name(int reason);
const char *abi_reason_desc(int reason);
/* Name of a tr_stats index (event or -reason), or NULL if unused. */
const char *abi_stat_name(unsigned int idx);

/* The redirection switch (TR_REDIR_*): "off", "on", "auto" ("?" if unknown);
 * parse returns the mode or -EINVAL. */
const char *abi_redir_mode_name(unsigned int mode);
int abi_redir_mode_parse(const char *s);

#endif /* TRESTLE_ABI_FMT_H */
