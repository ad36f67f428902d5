/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's HTTP endpoint (libmicrohttpd, its own threads): /metrics in
 * the Prometheus text format (gzip when asked), /healthz, /readyz.
 *
 * Rendering reads only the pinned maps (through fds opened per scrape; bpf
 * syscalls are thread-safe) and the agent_stats atomics, never the main
 * loop's memory, so a scrape never waits for a reload and a reload never
 * waits for a scrape. The families and their labels are listed in
 * metrics.c; no label is per connection or per client port.
 */
#ifndef TRESTLE_AGENT_METRICS_H
#define TRESTLE_AGENT_METRICS_H

#include <stddef.h>
#include <sys/socket.h>

#define METRICS_DEFAULT_ADDR "0.0.0.0:15020"

/*
 * Parse --metrics-addr: "A.B.C.D:PORT", "[V6]:PORT", ":PORT" (0.0.0.0) or
 * "none". Returns 0 with the address filled, 1 for "none", -EINVAL.
 */
int metrics_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/*
 * Serve on addr (as above; "none": do nothing) and render from the maps
 * pinned under bpffs. Returns 0 or -errno (logged). The server's threads
 * block every signal, so the main loop's signalfd sees them all.
 */
int metrics_start(const char *addr, const char *bpffs);
void metrics_stop(void);

/* What /metrics returns, uncompressed: malloc'd, NUL-terminated, or NULL. */
char *metrics_render(const char *bpffs, size_t *len);

#endif /* TRESTLE_AGENT_METRICS_H */
