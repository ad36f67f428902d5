// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The loader's plumbing: diagnostics with object and field path, field
 * tables that make every key either read, accepted, warned about or
 * refused, and typed readers that say what they expected.
 */
#include "config_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* diagnostics */

static void diag_append(struct loader *ld, enum tr_diag_level level,
			const char *file, int line, char *msg)
{
	struct tr_diags *d = ld->diags;
	struct tr_diag *items;
	char *f = NULL;

	if (!msg)
		goto nomem;
	if (file && !(f = strdup(file)))
		goto nomem;
	items = realloc(d->items, (d->n + 1) * sizeof(*items));
	if (!items)
		goto nomem;
	d->items = items;
	d->items[d->n].level = level;
	d->items[d->n].file = f;
	d->items[d->n].line = line;
	d->items[d->n].message = msg;
	d->n++;
	if (level == TR_DIAG_ERROR)
		d->n_errors++;
	return;
nomem:
	free(f);
	free(msg);
	ld->err = -ENOMEM;
}

static void ld_vdiag(struct loader *ld, enum tr_diag_level level, const char *file,
		     int line, const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (level == TR_DIAG_ERROR) {
		if (ld->errors_capped)
			return;
		if (ld->diags->n_errors >= CONFIG_MAX_ERRORS) {
			ld->errors_capped = true;
			if (asprintf(&msg, "too many errors; only the first %d are shown",
				     CONFIG_MAX_ERRORS) < 0)
				msg = NULL;
			diag_append(ld, level, NULL, 0, msg);
			return;
		}
	} else {
		if (ld->n_warnings >= CONFIG_MAX_WARNINGS)
			return;
		ld->n_warnings++;
	}
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	/* One line, whatever the manifest's strings contain. */
	for (char *p = msg; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	diag_append(ld, level, file, line, msg);
}

void ld_diag(struct loader *ld, enum tr_diag_level level, const char *file,
	     int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ld_vdiag(ld, level, file, line, fmt, ap);
	va_end(ap);
}

const char *obj_label(char *buf, size_t len, const char *kind, const char *ns,
		      const char *name)
{
	if (!name)
		name = "(unnamed)";
	if (ns)
		snprintf(buf, len, "%s %s/%s", kind, ns, name);
	else
		snprintf(buf, len, "%s %s", kind, name);
	return buf;
}

void obj_diag(struct obj *o, enum tr_diag_level level, int line, const char *fmt, ...)
{
	char label[512], *reason = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&reason, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->ld->err = -ENOMEM;
		return;
	}
	if (o->kind)
		obj_label(label, sizeof(label), o->kind, o->ns, o->name);
	else
		label[0] = '\0';
	ld_diag(o->ld, level, o->file, line, "%s%s%s%s%s", label,
		label[0] ? ": " : "", o->path, o->plen ? ": " : "", reason);
	free(reason);
}

/* ------------------------------------------------------------------ */
/* paths */

/* Append pre + s + post to the path, truncating visibly. */
static void path_add(struct obj *o, const char *pre, const char *s, const char *post)
{
	size_t room = sizeof(o->path) - o->plen;
	int n;

	n = snprintf(o->path + o->plen, room, "%s%s%s", pre, s, post);
	if (n < 0 || (size_t)n >= room) {
		/* Keep it printable; a path this long is itself suspicious. */
		o->plen = sizeof(o->path) - 1;
		memcpy(o->path + o->plen - 3, "...", 3);
		return;
	}
	o->plen += (size_t)n;
}

/* "a.b" for plain keys, a["kubernetes.io/name"] for the others. */
size_t path_key(struct obj *o, const char *key)
{
	size_t old = o->plen;
	bool simple = (*key >= 'a' && *key <= 'z') || (*key >= 'A' && *key <= 'Z');
	const char *p;

	for (p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			simple = false;
	if (simple)
		path_add(o, o->plen ? "." : "", key, "");
	else
		path_add(o, "[\"", key, "\"]");
	return old;
}

size_t path_idx(struct obj *o, size_t i)
{
	size_t old = o->plen;
	char num[24];

	snprintf(num, sizeof(num), "%zu", i);
	path_add(o, "[", num, "]");
	return old;
}

void path_pop(struct obj *o, size_t len)
{
	o->plen = len;
	o->path[len] = '\0';
}

/* ------------------------------------------------------------------ */
/* allocation */

void *ld_zalloc(struct loader *ld, size_t size)
{
	void *p = calloc(1, size);

	if (!p)
		ld->err = -ENOMEM;
	return p;
}

char *ld_strdup(struct loader *ld, const char *s)
{
	char *p = strdup(s);

	if (!p)
		ld->err = -ENOMEM;
	return p;
}

void *ld_push(struct loader *ld, void **arr, size_t *n, size_t size)
{
	size_t cap;
	char *p;

	/* Capacity is implied by n: grow to the next power of two. */
	if (*n == 0 || (*n & (*n - 1)) == 0) {
		cap = *n < 4 ? 4 : *n * 2;
		if (cap > SIZE_MAX / size) {
			ld->err = -ENOMEM;
			return NULL;
		}
		p = realloc(*arr, cap * size);
		if (!p) {
			ld->err = -ENOMEM;
			return NULL;
		}
		*arr = p;
	}
	p = (char *)*arr + *n * size;
	memset(p, 0, size);
	(*n)++;
	return p;
}

/* ------------------------------------------------------------------ */
/* field tables */

void walk_map(struct obj *o, const struct ynode *map, const struct field *fields,
	      size_t n_fields, bool strict, void *target)
{
	const struct ypair *p;
	const struct field *f;
	const char *near;
	size_t i, j, saved;

	if (!want_map(o, map))
		return;
	for (i = 0; i < map->n_pairs; i++) {
		p = &map->pairs[i];
		f = NULL;
		for (j = 0; j < n_fields; j++)
			if (!strcmp(fields[j].key, p->key->str))
				f = &fields[j];
		saved = path_key(o, p->key->str);
		if (!f) {
			if (strict) {
				near = closest_key(p->key->str, fields, n_fields);
				if (near)
					obj_err(o, p->key->line,
						"unknown field (hint: did you mean \"%s\"?)",
						near);
				else
					obj_err(o, p->key->line, "unknown field");
			}
		} else {
			switch (f->policy) {
			case F_READ:
				if (!is_null(p->val))
					f->read(o, p->val, target);
				break;
			case F_IGNORE:
				break;
			case F_WARN:
				if (!ynode_is_empty(p->val))
					obj_warn(o, p->key->line, "%s", f->why);
				break;
			case F_ERROR:
				if (!ynode_is_empty(p->val))
					obj_err(o, p->key->line, "%s", f->why);
				break;
			}
		}
		path_pop(o, saved);
	}
	for (j = 0; j < n_fields; j++) {
		const struct ynode *v;

		if (!(fields[j].flags & F_REQUIRED))
			continue;
		v = ymap_get(map, fields[j].key);
		if (v && !is_null(v))
			continue;
		saved = path_key(o, fields[j].key);
		obj_err(o, v ? v->line : map->line, "required field is missing");
		path_pop(o, saved);
	}
}

/* ------------------------------------------------------------------ */
/* typed values */

bool is_null(const struct ynode *v)
{
	return v->type == YNODE_SCALAR && yscalar_resolve(v) == YSCALAR_NULL;
}

bool want_map(struct obj *o, const struct ynode *v)
{
	if (v->type == YNODE_MAP)
		return true;
	obj_err(o, v->line, "expected a mapping, got %s", ynode_describe(v));
	return false;
}

bool want_seq(struct obj *o, const struct ynode *v)
{
	if (v->type == YNODE_SEQ)
		return true;
	obj_err(o, v->line, "expected a list, got %s", ynode_describe(v));
	return false;
}

bool get_str(struct obj *o, const struct ynode *v, char **out)
{
	enum yscalar k = yscalar_resolve(v);
	char *s;

	if (v->type != YNODE_SCALAR || k == YSCALAR_NULL) {
		obj_err(o, v->line, "expected a string, got %s", ynode_describe(v));
		return false;
	}
	if (k != YSCALAR_STR) {
		/* Kubernetes' decoder refuses these too; quoting is the fix. */
		obj_err(o, v->line,
			"expected a string, got %s (hint: quote it: \"%s\")",
			ynode_describe(v), v->str);
		return false;
	}
	s = ld_strdup(o->ld, v->str);
	if (!s)
		return false;
	free(*out);
	*out = s;
	return true;
}

bool get_nonempty_str(struct obj *o, const struct ynode *v, char **out)
{
	char *s = NULL;

	if (!get_str(o, v, &s))
		return false;
	if (!*s) {
		obj_err(o, v->line, "must not be empty");
		free(s);
		return false;
	}
	free(*out);
	*out = s;
	return true;
}

bool get_int(struct obj *o, const struct ynode *v, long long min, long long max,
	     long long *out)
{
	const char *s = v->str, *d;
	long long val = 0;
	bool neg = false;

	if (v->type != YNODE_SCALAR || yscalar_resolve(v) != YSCALAR_INT) {
		if (v->type == YNODE_SCALAR && !v->plain)
			obj_err(o, v->line,
				"expected an integer, got a string \"%s\" (hint: write the number without quotes)",
				v->str);
		else
			obj_err(o, v->line, "expected an integer, got %s%s%s%s",
				ynode_describe(v), v->type == YNODE_SCALAR ? " \"" : "",
				v->type == YNODE_SCALAR ? v->str : "",
				v->type == YNODE_SCALAR ? "\"" : "");
		return false;
	}
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	d = s;
	if (!*d || (d[0] == '0' && d[1]) || strspn(d, "0123456789") != strlen(d)) {
		obj_err(o, v->line, "\"%s\": write integers in plain decimal", v->str);
		return false;
	}
	for (; *d; d++) {
		if (val > (1LL << 40)) {
			obj_err(o, v->line, "%s is out of range %lld..%lld", v->str,
				min, max);
			return false;
		}
		val = val * 10 + (*d - '0');
	}
	if (neg)
		val = -val;
	if (val < min || val > max) {
		obj_err(o, v->line, "%lld is out of range %lld..%lld", val, min, max);
		return false;
	}
	*out = val;
	return true;
}

bool get_bool(struct obj *o, const struct ynode *v, bool *out)
{
	const char *s = v->str;

	if (v->type != YNODE_SCALAR || yscalar_resolve(v) != YSCALAR_BOOL) {
		obj_err(o, v->line, "expected true or false, got %s",
			ynode_describe(v));
		return false;
	}
	*out = !strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
	       !strcmp(s, "yes") || !strcmp(s, "Yes") || !strcmp(s, "YES") ||
	       !strcmp(s, "y") || !strcmp(s, "Y") || !strcmp(s, "on") ||
	       !strcmp(s, "On") || !strcmp(s, "ON");
	return true;
}

bool get_port(struct obj *o, const struct ynode *v, uint16_t *out)
{
	long long n;

	if (!get_int(o, v, 1, 65535, &n))
		return false;
	*out = (uint16_t)n;
	return true;
}

const char *proto_name(int proto)
{
	return proto == IPPROTO_UDP ? "UDP" : "TCP";
}

bool get_proto(struct obj *o, const struct ynode *v, int *proto)
{
	char *s = NULL;
	bool ok = true;

	if (!get_str(o, v, &s))
		return false;
	if (!strcmp(s, "TCP")) {
		*proto = IPPROTO_TCP;
	} else if (!strcmp(s, "UDP")) {
		*proto = IPPROTO_UDP;
	} else if (!strcmp(s, "SCTP")) {
		obj_err(o, v->line, "protocol SCTP is not supported (Trestle balances TCP and UDP)");
		ok = false;
	} else {
		obj_err(o, v->line, "unknown protocol \"%s\" (supported: TCP, UDP)", s);
		ok = false;
	}
	free(s);
	return ok;
}

bool get_ip(struct obj *o, const struct ynode *v, struct tr_ip *ip)
{
	char *s = NULL;
	bool ok = true;

	if (!get_str(o, v, &s))
		return false;
	if (tr_ip_parse(s, ip)) {
		obj_err(o, v->line, "\"%s\" is not a valid IPv4 or IPv6 address", s);
		ok = false;
	}
	free(s);
	return ok;
}

void ip_add_unique(struct loader *ld, struct tr_ip **arr, size_t *n,
		   const struct tr_ip *ip)
{
	struct tr_ip *slot;
	size_t i;

	for (i = 0; i < *n; i++)
		if (tr_ip_equal(&(*arr)[i], ip))
			return;
	slot = PUSH(ld, *arr, *n);
	if (slot)
		*slot = *ip;
}

void read_labels(struct obj *o, const struct ynode *v, struct tr_labels *out)
{
	const struct ypair *p;
	struct tr_label *l;
	const char *why;
	char *val;
	size_t i, saved;

	if (!want_map(o, v))
		return;
	for (i = 0; i < v->n_pairs; i++) {
		p = &v->pairs[i];
		saved = path_key(o, p->key->str);
		val = NULL;
		if ((why = check_label_key(p->key->str))) {
			obj_err(o, p->key->line, "invalid label key: %s", why);
		} else if (is_null(p->val)) {
			/* k8s: a null label value is the empty string */
			val = ld_strdup(o->ld, "");
		} else if (get_str(o, p->val, &val) &&
			   (why = check_label_value(val))) {
			obj_err(o, p->val->line, "invalid label value \"%s\": %s",
				val, why);
			free(val);
			val = NULL;
		}
		if (val && (l = PUSH(o->ld, out->items, out->n))) {
			l->key = ld_strdup(o->ld, p->key->str);
			l->value = val;
		} else {
			free(val);
		}
		path_pop(o, saved);
	}
}
