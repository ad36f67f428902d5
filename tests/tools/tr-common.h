/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Address parsing and printing shared by tr-echo and tr-client. */
#ifndef TR_TOOLS_COMMON_H
#define TR_TOOLS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Longest "[v6addr]:port" string plus NUL. */
#define TR_ADDRSTRLEN 64

/*
 * Parse "A.B.C.D:PORT" or "[V6]:PORT" into ss (AF_INET / AF_INET6).
 * Returns 0, or -EINVAL with nothing written on a malformed string.
 */
int tr_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* Print ss as "A.B.C.D:PORT" or "[V6]:PORT"; IPv4-mapped IPv6 as IPv4. */
void tr_fmt_addr(const struct sockaddr *sa, char *buf, size_t len);

/* True when a and b are the same address and port (IPv4-mapped == IPv4). */
bool tr_addr_equal(const struct sockaddr *a, const struct sockaddr *b);

/* "ECONNREFUSED" for ECONNREFUSED; "E<num>" when the name is unknown. */
const char *tr_errname(int err);

/* Milliseconds on CLOCK_MONOTONIC. */
long long tr_now_ms(void);

#endif /* TR_TOOLS_COMMON_H */
