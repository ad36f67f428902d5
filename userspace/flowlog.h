/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The flow log: BPF ring-buffer events (struct tr_flow_event) written as
 * JSON lines, with identities, workloads and policies by name. One record:
 *
 * {"time":"2026-11-26T10:00:00.123456Z","verdict":"deny",
 *  "reason":"policy_deny","hook":"connect","proto":"tcp",
 *  "src":{"address":"10.244.1.2","port":0,"workload":"shop/client",
 *         "identity":"spiffe://cluster.local/ns/shop/sa/client"},
 *  "dst":{...},"policy":"shop/deny-client","rule":0,"default":null,
 *  "audit_policy":null,"audit_rule":null}
 *
 * "audit":true is added when an AUDIT policy matched.
 *
 * The file is rotated by size (rotlog.h): flows.jsonl.1.gz ... .N.gz.
 */
#ifndef TRESTLE_FLOWLOG_H
#define TRESTLE_FLOWLOG_H

#include <stdint.h>
#include <stdio.h>

#include "polmaps.h"
#include "rotlog.h"

struct ring_buffer;

struct flowlog {
	struct ring_buffer *rb;
	struct rotlog log;
	bool log_open;
	bool write_failed; /* reported once, until a write succeeds */
	int wl_info_fd;
	const struct polmaps_state *names;
	int64_t boot_to_real_ns; /* add to a boot-time stamp for wall time */
	uint64_t written;
};

int flowlog_open(struct flowlog *f, int rb_fd, int wl_info_fd, const char *path,
		 const struct rotlog_limits *lim, const struct polmaps_state *names);
int flowlog_fd(const struct flowlog *f);
/* Write every pending event; returns how many. */
int flowlog_consume(struct flowlog *f);
/* Format one event as a JSON line into buf (exposed for tests). */
int flowlog_format(const struct flowlog *f, const struct tr_flow_event *e,
		   char *buf, size_t len);
void flowlog_close(struct flowlog *f);

#endif /* TRESTLE_FLOWLOG_H */
