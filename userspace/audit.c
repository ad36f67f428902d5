// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The audit log: configuration changes diffed by object and field. */
#include "audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ------------------------------------------------------------------ */
/* diff */

static int cmp_str_null(const char *a, const char *b)
{
	if (!a || !b)
		return a ? 1 : b ? -1 : 0;
	return strcmp(a, b);
}

static int cmp_ident(const struct tr_object_digest *a, const struct tr_object_digest *b)
{
	int c = strcmp(a->kind, b->kind);

	if (!c)
		c = cmp_str_null(a->ns, b->ns);
	if (!c)
		c = strcmp(a->name, b->name);
	return c;
}

static int cmp_digest_ptr(const void *a, const void *b)
{
	const struct tr_object_digest *da = *(const struct tr_object_digest *const *)a;
	const struct tr_object_digest *db = *(const struct tr_object_digest *const *)b;
	int c = cmp_ident(da, db);

	/* duplicates keep document order (one array) */
	return c ? c : da < db ? -1 : da > db;
}

/* The digests of cfg sorted by identity; *out NULL when there are none. */
static int sorted_digests(const struct tr_config *cfg, const struct tr_object_digest ***out,
			  size_t *n)
{
	const struct tr_object_digest **v;
	size_t i;

	*out = NULL;
	*n = cfg ? cfg->n_digests : 0;
	if (!*n)
		return 0;
	v = malloc(*n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < *n; i++)
		v[i] = &cfg->digests[i];
	qsort(v, *n, sizeof(*v), cmp_digest_ptr);
	*out = v;
	return 0;
}

static struct audit_change *push_change(struct audit_diff *d, size_t *cap)
{
	struct audit_change *c;

	if (d->n_changes == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		c = realloc(d->changes, ncap * sizeof(*c));
		if (!c)
			return NULL;
		d->changes = c;
		*cap = ncap;
	}
	c = &d->changes[d->n_changes++];
	memset(c, 0, sizeof(*c));
	return c;
}

static int push_field(struct audit_change *c, size_t *cap, const char *path,
		      const char *old_value, const char *new_value)
{
	struct audit_field *f;

	if (c->n_fields == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;

		f = realloc(c->fields, ncap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		c->fields = f;
		*cap = ncap;
	}
	f = &c->fields[c->n_fields++];
	f->path = path;
	f->old_value = old_value;
	f->new_value = new_value;
	return 0;
}

/* Field-level difference of two digests of the same object. */
static int diff_fields(struct audit_change *c, const struct tr_object_digest *a,
		       const struct tr_object_digest *b)
{
	size_t i = 0, j = 0, cap = 0;
	int cmp, err = 0;

	while (!err && (i < a->n_fields || j < b->n_fields)) {
		if (i == a->n_fields)
			cmp = 1;
		else if (j == b->n_fields)
			cmp = -1;
		else
			cmp = tr_digest_path_cmp(a->fields[i].path, b->fields[j].path);
		if (cmp < 0) {
			err = push_field(c, &cap, a->fields[i].path, a->fields[i].value, NULL);
			i++;
		} else if (cmp > 0) {
			err = push_field(c, &cap, b->fields[j].path, NULL, b->fields[j].value);
			j++;
		} else {
			if (strcmp(a->fields[i].value, b->fields[j].value))
				err = push_field(c, &cap, b->fields[j].path,
						 a->fields[i].value, b->fields[j].value);
			i++;
			j++;
		}
	}
	/* fields beyond the digest's cap differ unseen: say so */
	if (!err && !c->n_fields && a->n_fields_dropped != b->n_fields_dropped)
		err = push_field(c, &cap, "(fields beyond the digest limit)", "?", "?");
	return err;
}

int audit_diff(const struct tr_config *old, const struct tr_config *new,
	       struct audit_diff *d)
{
	const struct tr_object_digest **a = NULL, **b = NULL;
	size_t na, nb, i = 0, j = 0, cap = 0;
	struct audit_change *c;
	int cmp, err;

	memset(d, 0, sizeof(*d));
	err = sorted_digests(old, &a, &na);
	if (!err)
		err = sorted_digests(new, &b, &nb);
	while (!err && (i < na || j < nb)) {
		if (i == na)
			cmp = 1;
		else if (j == nb)
			cmp = -1;
		else
			cmp = cmp_ident(a[i], b[j]);
		if (cmp == 0) {
			struct audit_change tmp = { .op = AUDIT_MODIFIED, .obj = b[j] };

			err = diff_fields(&tmp, a[i], b[j]);
			if (!err && tmp.n_fields) {
				c = push_change(d, &cap);
				if (c) {
					*c = tmp;
					d->n_fields += tmp.n_fields;
					tmp.fields = NULL;
				} else {
					err = -ENOMEM;
				}
			}
			free(tmp.fields);
			i++;
			j++;
			continue;
		}
		c = push_change(d, &cap);
		if (!c) {
			err = -ENOMEM;
			break;
		}
		if (cmp < 0) {
			c->op = AUDIT_REMOVED;
			c->obj = a[i++];
		} else {
			c->op = AUDIT_ADDED;
			c->obj = b[j++];
		}
	}
	free(a);
	free(b);
	if (err)
		audit_diff_free(d);
	return err;
}

void audit_diff_free(struct audit_diff *d)
{
	size_t i;

	for (i = 0; i < d->n_changes; i++)
		free(d->changes[i].fields);
	free(d->changes);
	memset(d, 0, sizeof(*d));
}

/* ------------------------------------------------------------------ */
/* the record */

struct sbuf {
	char *s;
	size_t len, cap;
	bool nomem;
};

static void sb_grow(struct sbuf *b, size_t more)
{
	size_t cap;
	char *s;

	if (b->nomem || b->len + more < b->cap)
		return;
	cap = b->cap ? b->cap : 1024;
	while (cap <= b->len + more)
		cap *= 2;
	s = realloc(b->s, cap);
	if (!s) {
		b->nomem = true;
		return;
	}
	b->s = s;
	b->cap = cap;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	if (b->nomem)
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string, or null for NULL. */
static void sb_json(struct sbuf *b, const char *s)
{
	const char *run;
	char esc[8];

	if (!s) {
		sb_puts(b, "null");
		return;
	}
	sb_puts(b, "\"");
	while (*s) {
		for (run = s; *s && *s != '"' && *s != '\\' && (unsigned char)*s >= 0x20 &&
			      *s != 0x7f; s++)
			;
		sb_add(b, run, (size_t)(s - run));
		if (!*s)
			break;
		if (*s == '"' || *s == '\\')
			snprintf(esc, sizeof(esc), "\\%c", *s);
		else if (*s == '\n')
			snprintf(esc, sizeof(esc), "\\n");
		else if (*s == '\t')
			snprintf(esc, sizeof(esc), "\\t");
		else
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)*s);
		sb_puts(b, esc);
		s++;
	}
	sb_puts(b, "\"");
}

static const char *op_name(enum audit_op op)
{
	return op == AUDIT_ADDED ? "added" : op == AUDIT_REMOVED ? "removed" : "modified";
}

static void put_changes(struct sbuf *b, const struct audit_diff *d)
{
	size_t i, k, fields_left = AUDIT_MAX_FIELDS, listed;

	sb_puts(b, ",\"changes\":[");
	for (i = 0; i < d->n_changes && i < AUDIT_MAX_CHANGES; i++) {
		const struct audit_change *c = &d->changes[i];

		sb_puts(b, i ? ",{\"op\":" : "{\"op\":");
		sb_json(b, op_name(c->op));
		sb_puts(b, ",\"kind\":");
		sb_json(b, c->obj->kind);
		sb_puts(b, ",\"namespace\":");
		sb_json(b, c->obj->ns);
		sb_puts(b, ",\"name\":");
		sb_json(b, c->obj->name);
		sb_puts(b, ",\"file\":");
		sb_json(b, c->obj->src.file);
		sb_printf(b, ",\"line\":%d", c->obj->src.line);
		if (c->op == AUDIT_MODIFIED) {
			listed = c->n_fields < fields_left ? c->n_fields : fields_left;
			sb_puts(b, ",\"fields\":[");
			for (k = 0; k < listed; k++) {
				sb_puts(b, k ? ",{\"path\":" : "{\"path\":");
				sb_json(b, c->fields[k].path);
				sb_puts(b, ",\"old\":");
				sb_json(b, c->fields[k].old_value);
				sb_puts(b, ",\"new\":");
				sb_json(b, c->fields[k].new_value);
				sb_puts(b, "}");
			}
			sb_puts(b, "]");
			fields_left -= listed;
			if (listed < c->n_fields)
				sb_printf(b, ",\"fields_omitted\":%zu", c->n_fields - listed);
		}
		sb_puts(b, "}");
	}
	sb_puts(b, "]");
	if (d->n_changes > AUDIT_MAX_CHANGES)
		sb_printf(b, ",\"changes_omitted\":%zu", d->n_changes - AUDIT_MAX_CHANGES);
}

int audit_format(const struct tr_config *running, const struct tr_config *candidate,
		 const struct audit_event *ev, const struct timespec *now,
		 char **out, size_t *len)
{
	struct audit_diff d = {};
	struct sbuf b = {};
	size_t i, n_err = 0;
	struct tm tm;
	time_t sec = now->tv_sec;
	char ts[64];
	int err;

	*out = NULL;
	*len = 0;
	if (candidate) {
		err = audit_diff(running, candidate, &d);
		if (err)
			return err;
		if (ev->accepted && !d.n_changes)
			return 0; /* unchanged */
	}
	gmtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	sb_printf(&b, "{\"time\":\"%s.%06ldZ\",\"generation\":%llu,\"result\":\"%s\",\"trigger\":",
		  ts, now->tv_nsec / 1000, (unsigned long long)ev->generation,
		  ev->accepted ? "accepted" : "refused");
	sb_json(&b, ev->trigger);
	sb_puts(&b, ",\"reason\":");
	sb_json(&b, ev->accepted ? NULL : ev->reason ? ev->reason : "refused");
	sb_puts(&b, ",\"errors\":[");
	for (i = 0; ev->diags && i < ev->diags->n && n_err < AUDIT_MAX_ERRORS; i++) {
		const struct tr_diag *dg = &ev->diags->items[i];
		char *s;

		if (dg->level != TR_DIAG_ERROR)
			continue;
		s = diag_format(dg);
		if (n_err++)
			sb_puts(&b, ",");
		sb_json(&b, s ? s : dg->message);
		free(s);
	}
	sb_puts(&b, "]");
	put_changes(&b, &d);
	sb_puts(&b, "}\n");
	audit_diff_free(&d);
	if (b.nomem) {
		free(b.s);
		return -ENOMEM;
	}
	*out = b.s;
	*len = b.len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* the log */

int audit_open(struct audit *a, const char *path, const struct rotlog_limits *lim)
{
	int err;

	memset(a, 0, sizeof(*a));
	err = rotlog_open(&a->log, path, lim);
	if (err) {
		log_error("cannot open the audit log %s: %s", path, strerror(-err));
		return err;
	}
	a->open = true;
	return 0;
}

void audit_record(struct audit *a, const struct tr_config *running,
		  const struct tr_config *candidate, const struct audit_event *ev)
{
	struct timespec now;
	char *line;
	size_t len;
	int err;

	if (!a->open)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	err = audit_format(running, candidate, ev, &now, &line, &len);
	if (!err && !line)
		return;
	if (!err)
		err = rotlog_write(&a->log, line, len);
	free(line);
	if (err && !a->write_failed)
		log_error("cannot write the audit log %s: %s", a->log.path, strerror(-err));
	a->write_failed = err != 0;
}

void audit_close(struct audit *a)
{
	if (a->open)
		rotlog_close(&a->log);
	memset(a, 0, sizeof(*a));
}
