/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The audit log: one JSON line per configuration change the agent accepted
 * or refused, in <run_dir>/audit.jsonl (rotated like the flow log, see
 * rotlog.h). A record:
 *
 * {"time":"2026-11-26T10:00:00.123456Z","generation":7,"result":"accepted",
 *  "trigger":"files changed","reason":null,"errors":[],
 *  "changes":[{"op":"modified","kind":"Service","namespace":"shop",
 *              "name":"web","file":"/etc/trestle/mesh.d/web.yaml","line":1,
 *              "fields":[{"path":"spec.ports[0].targetPort",
 *                         "old":"8080","new":"9090"}]},
 *             {"op":"added","kind":"Pod","namespace":"shop","name":"web-2",
 *              "file":"...","line":40},
 *             {"op":"removed","kind":"Node","namespace":null,"name":"n3",
 *              "file":"...","line":12}]}
 *
 * generation: accepted, the generation now active (a change that only
 * touches authorization keeps the generation); refused, the generation that
 * stays active. reason: one line for a refusal, null when accepted. errors:
 * the loader's and compiler's error messages ("file:line: error: ..."), at
 * most AUDIT_MAX_ERRORS. changes: the difference between the running
 * configuration and the new one, by object (kind, namespace, name), sorted;
 * for a refusal what the change would have done, empty when the new
 * manifests did not load. "old"/"new" are null for a field that is absent
 * on that side. At most AUDIT_MAX_FIELDS fields and AUDIT_MAX_CHANGES
 * objects are listed per record; the rest are counted in "fields_omitted"
 * (per object) and "changes_omitted" (per record), present only when
 * non-zero.
 */
#ifndef TRESTLE_AUDIT_H
#define TRESTLE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "rotlog.h"

#define AUDIT_MAX_FIELDS 200
#define AUDIT_MAX_CHANGES 1000
#define AUDIT_MAX_ERRORS 100

struct audit {
	struct rotlog log;
	bool open;
	bool write_failed; /* reported once, until a write succeeds */
};

/* What happened to one reload attempt. */
struct audit_event {
	uint64_t generation;          /* see above */
	bool accepted;
	const char *reason;           /* refused: why, one line; else NULL */
	const char *trigger;          /* "start", "SIGHUP", ...; may be NULL */
	const struct tr_diags *diags; /* errors listed; may be NULL */
};

/* Open (append to) the audit log at path. 0 or -errno (logged). */
int audit_open(struct audit *a, const char *path, const struct rotlog_limits *lim);
/*
 * Write the record of one reload attempt. running: the configuration in
 * force before it (NULL when none yet: everything is "added"); candidate:
 * the new configuration as loaded, NULL when it did not load. An accepted
 * attempt that changes no object writes nothing. Never fails (a write
 * error is logged once).
 */
void audit_record(struct audit *a, const struct tr_config *running,
		  const struct tr_config *candidate, const struct audit_event *ev);
void audit_close(struct audit *a);

/* --- the diff and the record, exposed for tests --- */

enum audit_op { AUDIT_ADDED, AUDIT_REMOVED, AUDIT_MODIFIED };

struct audit_field {
	const char *path;
	const char *old_value; /* NULL: absent before */
	const char *new_value; /* NULL: absent after */
};

struct audit_change {
	enum audit_op op;
	const struct tr_object_digest *obj; /* the new one; the old one if removed */
	struct audit_field *fields;         /* modified only */
	size_t n_fields;
};

struct audit_diff {
	struct audit_change *changes; /* sorted by kind, namespace, name */
	size_t n_changes;
	size_t n_fields; /* over all changes */
};

/* Strings point into old and new: keep them while d is used. 0 or -ENOMEM. */
int audit_diff(const struct tr_config *old, const struct tr_config *new,
	       struct audit_diff *d);
void audit_diff_free(struct audit_diff *d);

/*
 * The record (one line, with its newline) into *out (caller frees), or
 * *out = NULL when there is nothing to record. 0 or -ENOMEM.
 */
int audit_format(const struct tr_config *running, const struct tr_config *candidate,
		 const struct audit_event *ev, const struct timespec *now,
		 char **out, size_t *len);

#endif /* TRESTLE_AUDIT_H */
