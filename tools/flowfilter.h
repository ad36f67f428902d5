/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Flow-log records for `trestle flows`: a minimal JSON-object reader, the
 * record filter and the one-line text form. Pure (no maps, no output
 * writer), so tests/unit/test_flowfilter.c covers all of it.
 *
 * A record is one line of <run_dir>/flows.jsonl, one JSON object whose
 * values are strings, numbers, true/false/null, or (one level deep) flat
 * objects such as "src" and "dst". Arrays and deeper nesting are not part
 * of the format: such a line is rejected as malformed.
 */
#ifndef TRESTLE_FLOWFILTER_H
#define TRESTLE_FLOWFILTER_H

#include <stdbool.h>
#include <stddef.h>

enum fj_type {
	FJ_NULL,
	FJ_BOOL,
	FJ_NUM, /* s holds the number as written (validated JSON grammar) */
	FJ_STR, /* s holds the decoded UTF-8 string */
	FJ_OBJ, /* obj holds the members of a nested object */
};

struct fj_obj;

struct fj_member {
	char *key;
	enum fj_type type;
	bool b;
	char *s;
	struct fj_obj *obj;
};

/* Members in the order they were written. */
struct fj_obj {
	struct fj_member *m;
	size_t n, cap;
};

/*
 * Parse one JSON object from line[0..len) (surrounding white space is
 * allowed, anything else after the object is not). On success out owns
 * the members; free them with fj_free(). Returns 0, -EINVAL for input
 * that is not such an object, or -ENOMEM.
 */
int fj_parse(const char *line, size_t len, struct fj_obj *out);
void fj_free(struct fj_obj *o);

/* The last member named key, or NULL. */
const struct fj_member *fj_get(const struct fj_obj *o, const char *key);
/* The string value of key, or NULL when absent, null or not a string. */
const char *fj_str(const struct fj_obj *o, const char *key);
/* The nested object at key, or NULL. */
const struct fj_obj *fj_sub(const struct fj_obj *o, const char *key);
/* The integer value of key; false when absent or not an integer. */
bool fj_int(const struct fj_obj *o, const char *key, long long *v);

/*
 * Is rec a flow record: "time" and "verdict" strings, "src" and "dst"
 * objects? A line that parses but fails this counts as malformed too.
 */
bool flow_rec_valid(const struct fj_obj *rec);

enum flow_verdict_filter {
	FLOW_V_ANY = 0,
	FLOW_V_ALLOW,
	FLOW_V_DENY,
	FLOW_V_AUDIT, /* an AUDIT policy matched, whatever the verdict */
};

struct flow_filter {
	enum flow_verdict_filter verdict;
	const char *from;   /* endpoint spec (flow_endpoint_match), or NULL */
	const char *to;
	const char *policy; /* "ns/name": deciding or AUDIT policy, or NULL */
};

/* "allow", "deny", "audit" -> FLOW_V_*; -1 for anything else. */
int flow_verdict_parse(const char *s);

/* Did an AUDIT policy match: "audit": true, or a non-null audit_policy. */
bool flow_is_audit(const struct fj_obj *rec);

/*
 * Does endpoint object ep ("src" or "dst") match spec: its workload
 * ("ns/name"), its address (compared as addresses, so "fd00::1" matches
 * "fd00:0::1"), or its identity, given as "spiffe://TD/ns/NS/sa/SA" or
 * in principal form "TD/ns/NS/sa/SA".
 */
bool flow_endpoint_match(const struct fj_obj *ep, const char *spec);

bool flow_match(const struct flow_filter *f, const struct fj_obj *rec);

/*
 * The text line of a record (no newline), e.g.
 *   2026-11-26T10:00:00.123Z DENY tcp shop/client(10.244.1.2) ->
 *   shop/web(10.244.2.2):80 policy shop/deny-client rule 0 [connect]
 * The time is cut to milliseconds. Returns the length snprintf() would
 * have written (the line is truncated when it does not fit).
 */
int flow_format_text(const struct fj_obj *rec, char *buf, size_t len);

#endif /* TRESTLE_FLOWFILTER_H */
