// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Flow-log records: a small JSON-object reader, the filter of
 * `trestle flows` and the text line. See flowfilter.h.
 */
#include "flowfilter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nested objects allowed below the record itself. */
#define FJ_MAX_DEPTH 1

struct parser {
	const char *p;
	const char *end;
};

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool at(const struct parser *ps, char c)
{
	return ps->p < ps->end && *ps->p == c;
}

/* A growing byte buffer for decoded strings. */
struct sbuf {
	char *s;
	size_t n, cap;
};

static int sbuf_put(struct sbuf *b, const char *src, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 32;
		char *s;

		while (cap < b->n + n + 1)
			cap *= 2;
		s = realloc(b->s, cap);
		if (!s)
			return -ENOMEM;
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->n, src, n);
	b->n += n;
	b->s[b->n] = '\0';
	return 0;
}

static int sbuf_put_cp(struct sbuf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return sbuf_put(b, u, n);
}

static int hex4(struct parser *ps, uint32_t *v)
{
	*v = 0;
	if (ps->end - ps->p < 4)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	return 0;
}

/* \uXXXX (after the "\u"), with surrogate pairs; U+0000 and unpaired
 * surrogates become U+FFFD so the result stays a C string. */
static int parse_uescape(struct parser *ps, struct sbuf *b)
{
	uint32_t cp, lo;
	int err;

	err = hex4(ps, &cp);
	if (err)
		return err;
	if (cp >= 0xd800 && cp <= 0xdbff && ps->end - ps->p >= 6 &&
	    ps->p[0] == '\\' && ps->p[1] == 'u') {
		struct parser save = *ps;

		ps->p += 2;
		err = hex4(ps, &lo);
		if (err)
			return err;
		if (lo >= 0xdc00 && lo <= 0xdfff)
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		else
			*ps = save; /* the next escape stands alone */
	}
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	return sbuf_put_cp(b, cp);
}

static int parse_string(struct parser *ps, char **out)
{
	struct sbuf b = {};
	int err = -EINVAL;

	if (!at(ps, '"'))
		return -EINVAL;
	ps->p++;
	err = sbuf_put(&b, "", 0);
	if (err)
		goto fail;
	while (ps->p < ps->end) {
		const char *run = ps->p;
		unsigned char c;

		while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
		       (unsigned char)*ps->p >= 0x20)
			ps->p++;
		err = sbuf_put(&b, run, (size_t)(ps->p - run));
		if (err)
			goto fail;
		if (ps->p >= ps->end)
			break;
		c = (unsigned char)*ps->p++;
		if (c == '"') {
			*out = b.s;
			return 0;
		}
		err = -EINVAL;
		if (c < 0x20 || ps->p >= ps->end) /* raw control character */
			goto fail;
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"': err = sbuf_put(&b, "\"", 1); break;
		case '\\': err = sbuf_put(&b, "\\", 1); break;
		case '/': err = sbuf_put(&b, "/", 1); break;
		case 'b': err = sbuf_put(&b, "\b", 1); break;
		case 'f': err = sbuf_put(&b, "\f", 1); break;
		case 'n': err = sbuf_put(&b, "\n", 1); break;
		case 'r': err = sbuf_put(&b, "\r", 1); break;
		case 't': err = sbuf_put(&b, "\t", 1); break;
		case 'u': err = parse_uescape(ps, &b); break;
		default: err = -EINVAL; break;
		}
		if (err)
			goto fail;
	}
	err = -EINVAL; /* unterminated */
fail:
	free(b.s);
	return err;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(struct parser *ps, char **out)
{
	const char *start = ps->p;
	size_t n;

	if (at(ps, '-'))
		ps->p++;
	if (at(ps, '0')) {
		ps->p++;
	} else if (ps->p < ps->end && is_digit(*ps->p)) {
		while (ps->p < ps->end && is_digit(*ps->p))
			ps->p++;
	} else {
		return -EINVAL;
	}
	if (at(ps, '.')) {
		ps->p++;
		if (ps->p >= ps->end || !is_digit(*ps->p))
			return -EINVAL;
		while (ps->p < ps->end && is_digit(*ps->p))
			ps->p++;
	}
	if (at(ps, 'e') || at(ps, 'E')) {
		ps->p++;
		if (at(ps, '+') || at(ps, '-'))
			ps->p++;
		if (ps->p >= ps->end || !is_digit(*ps->p))
			return -EINVAL;
		while (ps->p < ps->end && is_digit(*ps->p))
			ps->p++;
	}
	n = (size_t)(ps->p - start);
	*out = strndup(start, n);
	return *out ? 0 : -ENOMEM;
}

static bool parse_word(struct parser *ps, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n))
		return false;
	ps->p += n;
	return true;
}

static int parse_object(struct parser *ps, struct fj_obj *o, int depth);

static struct fj_member *obj_add(struct fj_obj *o)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct fj_member *m = realloc(o->m, cap * sizeof(*m));

		if (!m)
			return NULL;
		o->m = m;
		o->cap = cap;
	}
	memset(&o->m[o->n], 0, sizeof(o->m[0]));
	return &o->m[o->n++];
}

static int parse_value(struct parser *ps, struct fj_member *m, int depth)
{
	if (ps->p >= ps->end)
		return -EINVAL;
	switch (*ps->p) {
	case '"':
		m->type = FJ_STR;
		return parse_string(ps, &m->s);
	case '{':
		if (depth >= FJ_MAX_DEPTH)
			return -EINVAL;
		m->type = FJ_OBJ;
		m->obj = calloc(1, sizeof(*m->obj));
		if (!m->obj)
			return -ENOMEM;
		return parse_object(ps, m->obj, depth + 1);
	case 't':
		m->type = FJ_BOOL;
		m->b = true;
		return parse_word(ps, "true") ? 0 : -EINVAL;
	case 'f':
		m->type = FJ_BOOL;
		return parse_word(ps, "false") ? 0 : -EINVAL;
	case 'n':
		m->type = FJ_NULL;
		return parse_word(ps, "null") ? 0 : -EINVAL;
	default:
		m->type = FJ_NUM;
		return parse_number(ps, &m->s);
	}
}

static int parse_object(struct parser *ps, struct fj_obj *o, int depth)
{
	struct fj_member *m;
	int err;

	skip_ws(ps);
	if (!at(ps, '{'))
		return -EINVAL;
	ps->p++;
	skip_ws(ps);
	if (at(ps, '}')) {
		ps->p++;
		return 0;
	}
	for (;;) {
		m = obj_add(o);
		if (!m)
			return -ENOMEM;
		skip_ws(ps);
		err = parse_string(ps, &m->key);
		if (err)
			return err;
		skip_ws(ps);
		if (!at(ps, ':'))
			return -EINVAL;
		ps->p++;
		skip_ws(ps);
		err = parse_value(ps, m, depth);
		if (err)
			return err;
		skip_ws(ps);
		if (at(ps, ',')) {
			ps->p++;
			continue;
		}
		if (at(ps, '}')) {
			ps->p++;
			return 0;
		}
		return -EINVAL;
	}
}

int fj_parse(const char *line, size_t len, struct fj_obj *out)
{
	struct parser ps = { line, line + len };
	int err;

	memset(out, 0, sizeof(*out));
	err = parse_object(&ps, out, 0);
	if (!err) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			err = -EINVAL;
	}
	if (err)
		fj_free(out);
	return err;
}

void fj_free(struct fj_obj *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++) {
		free(o->m[i].key);
		free(o->m[i].s);
		if (o->m[i].obj) {
			fj_free(o->m[i].obj);
			free(o->m[i].obj);
		}
	}
	free(o->m);
	memset(o, 0, sizeof(*o));
}

const struct fj_member *fj_get(const struct fj_obj *o, const char *key)
{
	if (!o)
		return NULL;
	for (size_t i = o->n; i > 0; i--)
		if (o->m[i - 1].key && !strcmp(o->m[i - 1].key, key))
			return &o->m[i - 1];
	return NULL;
}

const char *fj_str(const struct fj_obj *o, const char *key)
{
	const struct fj_member *m = fj_get(o, key);

	return m && m->type == FJ_STR ? m->s : NULL;
}

const struct fj_obj *fj_sub(const struct fj_obj *o, const char *key)
{
	const struct fj_member *m = fj_get(o, key);

	return m && m->type == FJ_OBJ ? m->obj : NULL;
}

bool fj_int(const struct fj_obj *o, const char *key, long long *v)
{
	const struct fj_member *m = fj_get(o, key);
	char *end;

	if (!m || m->type != FJ_NUM)
		return false;
	errno = 0;
	*v = strtoll(m->s, &end, 10);
	return !errno && !*end;
}

bool flow_rec_valid(const struct fj_obj *rec)
{
	return fj_str(rec, "time") && fj_str(rec, "verdict") &&
	       fj_sub(rec, "src") && fj_sub(rec, "dst");
}

int flow_verdict_parse(const char *s)
{
	if (!strcmp(s, "allow"))
		return FLOW_V_ALLOW;
	if (!strcmp(s, "deny"))
		return FLOW_V_DENY;
	if (!strcmp(s, "audit"))
		return FLOW_V_AUDIT;
	return -1;
}

bool flow_is_audit(const struct fj_obj *rec)
{
	const struct fj_member *m = fj_get(rec, "audit");

	if (m && m->type == FJ_BOOL)
		return m->b;
	return fj_str(rec, "audit_policy") != NULL;
}

/* Parse an IPv4 or IPv6 address; the family or 0. */
static int parse_addr(const char *s, unsigned char a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, a) == 1)
		return AF_INET6;
	return 0;
}

static const char spiffe_scheme[] = "spiffe://";

bool flow_endpoint_match(const struct fj_obj *ep, const char *spec)
{
	size_t slen = sizeof(spiffe_scheme) - 1;
	const char *wl, *addr, *id;
	unsigned char a[16], b[16];
	int fa;

	if (!ep || !spec)
		return false;
	wl = fj_str(ep, "workload");
	if (wl && !strcmp(wl, spec))
		return true;
	addr = fj_str(ep, "address");
	fa = parse_addr(spec, a);
	if (fa && addr && parse_addr(addr, b) == fa && !memcmp(a, b, 16))
		return true;
	id = fj_str(ep, "identity");
	if (!id)
		return false;
	if (!strcmp(id, spec))
		return true;
	/* principal form: the identity without its scheme */
	return !strncmp(id, spiffe_scheme, slen) &&
	       strncmp(spec, spiffe_scheme, slen) && !strcmp(id + slen, spec);
}

bool flow_match(const struct flow_filter *f, const struct fj_obj *rec)
{
	const char *v = fj_str(rec, "verdict");

	switch (f->verdict) {
	case FLOW_V_ANY:
		break;
	case FLOW_V_ALLOW:
		if (!v || strcmp(v, "allow"))
			return false;
		break;
	case FLOW_V_DENY:
		if (!v || strcmp(v, "deny"))
			return false;
		break;
	case FLOW_V_AUDIT:
		if (!flow_is_audit(rec))
			return false;
		break;
	}
	if (f->from && !flow_endpoint_match(fj_sub(rec, "src"), f->from))
		return false;
	if (f->to && !flow_endpoint_match(fj_sub(rec, "dst"), f->to))
		return false;
	if (f->policy) {
		const char *p = fj_str(rec, "policy");
		const char *ap = fj_str(rec, "audit_policy");

		if (!(p && !strcmp(p, f->policy)) &&
		    !(ap && !strcmp(ap, f->policy)))
			return false;
	}
	return true;
}

/* Appends to a fixed buffer, counting what would have been written. */
struct line {
	char *buf;
	size_t len;
	size_t n; /* length so far, maybe beyond len */
};

__attribute__((format(printf, 2, 3)))
static void put(struct line *l, const char *fmt, ...)
{
	size_t room = l->n < l->len ? l->len - l->n : 0;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(room ? l->buf + l->n : NULL, room, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->n += (size_t)k;
}

/* "2026-11-26T10:00:00.123456Z" -> "2026-11-26T10:00:00.123Z" */
static void put_time(struct line *l, const char *t)
{
	const char *dot = strchr(t, '.');
	size_t digits = 0;

	if (!dot) {
		put(l, "%s", t);
		return;
	}
	while (is_digit(dot[1 + digits]))
		digits++;
	if (digits <= 3) {
		put(l, "%s", t);
		return;
	}
	put(l, "%.*s%s", (int)(dot - t) + 4, t, dot + 1 + digits);
}

static void put_upper(struct line *l, const char *s)
{
	char v[16];
	size_t i;

	for (i = 0; s[i] && i < sizeof(v) - 1; i++)
		v[i] = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 'a' + 'A') :
						    s[i];
	v[i] = '\0';
	put(l, "%s", v);
}

/* workload(address):port, address:port ([v6]:port), or "?" */
static void put_endpoint(struct line *l, const struct fj_obj *ep)
{
	const char *wl = fj_str(ep, "workload");
	const char *addr = fj_str(ep, "address");
	bool v6 = addr && strchr(addr, ':');
	long long port = 0;
	bool has_port = fj_int(ep, "port", &port) && port > 0;

	if (wl && addr)
		put(l, "%s(%s)", wl, addr);
	else if (wl)
		put(l, "%s", wl);
	else if (addr && v6 && has_port)
		put(l, "[%s]", addr);
	else
		put(l, "%s", addr ? addr : "?");
	if (has_port)
		put(l, ":%lld", port);
}

int flow_format_text(const struct fj_obj *rec, char *buf, size_t len)
{
	struct line l = { buf, len, 0 };
	const char *time = fj_str(rec, "time");
	const char *verdict = fj_str(rec, "verdict");
	const char *proto = fj_str(rec, "proto");
	const char *policy = fj_str(rec, "policy");
	const char *def = fj_str(rec, "default");
	const char *reason = fj_str(rec, "reason");
	const char *hook = fj_str(rec, "hook");
	long long rule;

	if (len)
		buf[0] = '\0';
	put_time(&l, time ? time : "?");
	put(&l, " ");
	put_upper(&l, verdict ? verdict : "?");
	put(&l, " %s ", proto ? proto : "?");
	put_endpoint(&l, fj_sub(rec, "src"));
	put(&l, " -> ");
	put_endpoint(&l, fj_sub(rec, "dst"));
	if (policy) {
		put(&l, " policy %s", policy);
		if (fj_int(rec, "rule", &rule))
			put(&l, " rule %lld", rule);
	} else if (def) {
		put(&l, " default %s", def);
	} else if (reason) {
		put(&l, " reason %s", reason);
	}
	if (flow_is_audit(rec)) {
		const char *ap = fj_str(rec, "audit_policy");

		put(&l, " audit");
		if (ap)
			put(&l, " %s", ap);
		if (ap && fj_int(rec, "audit_rule", &rule))
			put(&l, " rule %lld", rule);
	}
	if (hook)
		put(&l, " [%s]", hook);
	return l.n > INT_MAX ? INT_MAX : (int)l.n;
}
