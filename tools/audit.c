// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle audit [-n N] [--follow] [--result accepted|refused] [--file PATH]
 *
 * The audit log trestled writes to <run_dir>/audit.jsonl (run_dir from
 * tr_meta; the format is in userspace/audit.h): one record per accepted or
 * refused configuration change. The last N records, read across rotation
 * (PATH, PATH.0, PATH.1.gz, ...), then with --follow every new one. Text:
 * one block per record; JSON: an array of the records, or with --follow one
 * record per line.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <trestle/maps.h>

#include "cli.h"
#include "linereader.h"

#define AUDIT_FILE "audit.jsonl"
#define AUDIT_DEFAULT_N 20
#define AUDIT_MAX_N 1000000L
#define AUDIT_MAX_ROTATED 100
#define AUDIT_POLL_NS (200 * 1000 * 1000L)
#define AUDIT_MAX_LINE (64 * 1024 * 1024)
#define JV_MAX_DEPTH 16

int do_audit(int argc, char **argv);

/* ------------------------------------------------------------------ */
/* a small JSON reader: the records hold arrays and nested objects */

enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

struct jv {
	enum jv_type t;
	bool b;
	char *s;          /* JV_STR: decoded; JV_NUM: as written */
	struct jv *items; /* JV_ARR, JV_OBJ */
	char **keys;      /* JV_OBJ */
	size_t n;
};

struct jp {
	const char *p, *end;
};

static void jv_free(struct jv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		jv_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	memset(v, 0, sizeof(*v));
}

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

static int hex4(const char *p, unsigned int *out)
{
	unsigned int v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		if (!isxdigit((unsigned char)p[i]))
			return -1;
		v = v * 16 + (unsigned int)(isdigit((unsigned char)p[i]) ? p[i] - '0' :
					    (tolower((unsigned char)p[i]) - 'a' + 10));
	}
	*out = v;
	return 0;
}

static size_t utf8_put(char *o, unsigned int c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

static int jp_string(struct jp *j, char **out)
{
	const char *p = j->p + 1;
	size_t n = 0;
	unsigned int c, lo;
	char *o;

	/* decoded is never longer than the source */
	o = malloc((size_t)(j->end - j->p));
	if (!o)
		return -ENOMEM;
	while (p < j->end && *p != '"') {
		if ((unsigned char)*p < 0x20)
			goto bad;
		if (*p != '\\') {
			o[n++] = *p++;
			continue;
		}
		if (++p >= j->end)
			goto bad;
		switch (*p) {
		case '"': case '\\': case '/':
			o[n++] = *p;
			break;
		case 'b': o[n++] = '\b'; break;
		case 'f': o[n++] = '\f'; break;
		case 'n': o[n++] = '\n'; break;
		case 'r': o[n++] = '\r'; break;
		case 't': o[n++] = '\t'; break;
		case 'u':
			if (j->end - p < 5 || hex4(p + 1, &c))
				goto bad;
			p += 4;
			if (c >= 0xd800 && c < 0xdc00 && j->end - p >= 7 && p[1] == '\\' &&
			    p[2] == 'u' && !hex4(p + 3, &lo) && lo >= 0xdc00 && lo < 0xe000) {
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (c >= 0xd800 && c < 0xe000) {
				c = 0xfffd;
			}
			if (!c)
				goto bad; /* no NUL inside C strings */
			n += utf8_put(o + n, c);
			break;
		default:
			goto bad;
		}
		p++;
	}
	if (p >= j->end)
		goto bad;
	o[n] = '\0';
	j->p = p + 1;
	*out = o;
	return 0;
bad:
	free(o);
	return -EINVAL;
}

static int jp_value(struct jp *j, struct jv *v, int depth);

static int jp_push(struct jv *v, size_t *cap, bool obj)
{
	if (v->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct jv *it = realloc(v->items, ncap * sizeof(*it));

		if (!it)
			return -ENOMEM;
		v->items = it;
		if (obj) {
			char **k = realloc(v->keys, ncap * sizeof(*k));

			if (!k)
				return -ENOMEM;
			v->keys = k;
		}
		*cap = ncap;
	}
	memset(&v->items[v->n], 0, sizeof(v->items[0]));
	if (obj)
		v->keys[v->n] = NULL;
	v->n++;
	return 0;
}

static int jp_container(struct jp *j, struct jv *v, int depth, bool obj)
{
	char close = obj ? '}' : ']';
	size_t cap = 0;
	int err;

	v->t = obj ? JV_OBJ : JV_ARR;
	j->p++;
	jp_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		err = jp_push(v, &cap, obj);
		if (err)
			return err;
		jp_ws(j);
		if (obj) {
			if (j->p >= j->end || *j->p != '"')
				return -EINVAL;
			err = jp_string(j, &v->keys[v->n - 1]);
			if (err)
				return err;
			jp_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return -EINVAL;
			j->p++;
		}
		err = jp_value(j, &v->items[v->n - 1], depth + 1);
		if (err)
			return err;
		jp_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		return -EINVAL;
	}
}

static int jp_value(struct jp *j, struct jv *v, int depth)
{
	const char *start;

	if (depth > JV_MAX_DEPTH)
		return -EINVAL;
	jp_ws(j);
	if (j->p >= j->end)
		return -EINVAL;
	switch (*j->p) {
	case '{':
		return jp_container(j, v, depth, true);
	case '[':
		return jp_container(j, v, depth, false);
	case '"':
		v->t = JV_STR;
		return jp_string(j, &v->s);
	}
	if (j->end - j->p >= 4 && !memcmp(j->p, "null", 4)) {
		v->t = JV_NULL;
		j->p += 4;
		return 0;
	}
	if (j->end - j->p >= 4 && !memcmp(j->p, "true", 4)) {
		v->t = JV_BOOL;
		v->b = true;
		j->p += 4;
		return 0;
	}
	if (j->end - j->p >= 5 && !memcmp(j->p, "false", 5)) {
		v->t = JV_BOOL;
		j->p += 5;
		return 0;
	}
	start = j->p;
	if (*j->p == '-')
		j->p++;
	if (j->p >= j->end || !isdigit((unsigned char)*j->p))
		return -EINVAL;
	while (j->p < j->end && (isdigit((unsigned char)*j->p) || strchr(".eE+-", *j->p)))
		j->p++;
	v->t = JV_NUM;
	v->s = strndup(start, (size_t)(j->p - start));
	return v->s ? 0 : -ENOMEM;
}

/* One JSON object, nothing else on the line. */
static int jv_parse_object(const char *line, size_t len, struct jv *v)
{
	struct jp j = { line, line + len };
	int err;

	memset(v, 0, sizeof(*v));
	jp_ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return -EINVAL;
	err = jp_value(&j, v, 0);
	if (!err) {
		jp_ws(&j);
		if (j.p != j.end)
			err = -EINVAL;
	}
	if (err)
		jv_free(v);
	return err;
}

static const struct jv *jv_get(const struct jv *o, const char *key)
{
	size_t i;

	if (!o || o->t != JV_OBJ)
		return NULL;
	for (i = o->n; i-- > 0;)
		if (!strcmp(o->keys[i], key))
			return &o->items[i];
	return NULL;
}

static const char *jv_str(const struct jv *o, const char *key)
{
	const struct jv *v = jv_get(o, key);

	return v && (v->t == JV_STR || v->t == JV_NUM) ? v->s : NULL;
}

/* ------------------------------------------------------------------ */
/* records */

struct audit_opts {
	long n;
	bool follow;
	const char *result; /* "accepted", "refused" or NULL */
	const char *file;
};

struct audit_run {
	const struct audit_opts *o;
	char path[4096];
	unsigned long malformed;
	bool streaming;
};

static volatile sig_atomic_t audit_stop;

static void on_signal(int sig)
{
	(void)sig;
	audit_stop = 1;
}

static bool rec_valid(const struct jv *r)
{
	const struct jv *c = jv_get(r, "changes");

	return jv_str(r, "time") && jv_str(r, "result") && c && c->t == JV_ARR;
}

/* Parse a line; NULL when blank, malformed (counted if count) or filtered. */
static struct jv *rec_parse(struct audit_run *run, const char *line, size_t len,
			    bool count)
{
	struct jv *r;
	size_t i;

	for (i = 0; i < len && isspace((unsigned char)line[i]); i++)
		;
	if (i == len)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (jv_parse_object(line, len, r) || !rec_valid(r)) {
		jv_free(r);
		free(r);
		if (count)
			run->malformed++;
		return NULL;
	}
	if (run->o->result && strcmp(jv_str(r, "result"), run->o->result)) {
		jv_free(r);
		free(r);
		return NULL;
	}
	return r;
}

static void rec_free(struct jv *r)
{
	jv_free(r);
	free(r);
}

static void emit_jv(const char *key, const struct jv *v)
{
	long long sv;
	unsigned long long uv;
	char *end;
	size_t i;

	switch (v->t) {
	case JV_NULL:
		print_null(PRINT_JSON, key, NULL);
		break;
	case JV_BOOL:
		print_bool(PRINT_JSON, key, NULL, v->b);
		break;
	case JV_STR:
		print_string(PRINT_JSON, key, NULL, v->s);
		break;
	case JV_NUM:
		errno = 0;
		sv = strtoll(v->s, &end, 10);
		if (!errno && !*end) {
			print_int(PRINT_JSON, key, NULL, sv);
			break;
		}
		errno = 0;
		uv = strtoull(v->s, &end, 10);
		if (!errno && !*end && v->s[0] != '-') {
			print_uint(PRINT_JSON, key, NULL, uv);
			break;
		}
		print_float(PRINT_JSON, key, NULL, strtod(v->s, NULL));
		break;
	case JV_ARR:
		open_json_array(PRINT_JSON, key);
		for (i = 0; i < v->n; i++)
			emit_jv(NULL, &v->items[i]);
		close_json_array(PRINT_JSON, NULL);
		break;
	case JV_OBJ:
		open_json_object(key);
		for (i = 0; i < v->n; i++)
			emit_jv(v->keys[i], &v->items[i]);
		close_json_object();
		break;
	}
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

/* "Service shop/web", "Node n1" */
static void print_object(const char *mark, const struct jv *c)
{
	const char *ns = jv_str(c, "namespace");

	printf("  %s %s %s%s%s", mark, or_dash(jv_str(c, "kind")), ns ? ns : "",
	       ns ? "/" : "", or_dash(jv_str(c, "name")));
}

static void text_record(const struct jv *r, bool first)
{
	const struct jv *errs = jv_get(r, "errors"), *changes = jv_get(r, "changes");
	const char *trigger = jv_str(r, "trigger"), *reason = jv_str(r, "reason");
	const char *omitted;
	size_t i, k;

	if (!first)
		putchar('\n');
	printf("%s  generation %s  %s", jv_str(r, "time"), or_dash(jv_str(r, "generation")),
	       jv_str(r, "result"));
	if (trigger)
		printf(" (%s)", trigger);
	if (reason)
		printf(": %s", reason);
	putchar('\n');
	for (i = 0; errs && errs->t == JV_ARR && i < errs->n; i++)
		if (errs->items[i].t == JV_STR)
			printf("  ! %s\n", errs->items[i].s);
	for (i = 0; i < changes->n; i++) {
		const struct jv *c = &changes->items[i], *fields = jv_get(c, "fields");
		const char *op = jv_str(c, "op");

		if (!op)
			continue;
		if (strcmp(op, "modified")) {
			print_object(!strcmp(op, "added") ? "+" : !strcmp(op, "removed") ? "-" : "?", c);
			putchar('\n');
			continue;
		}
		for (k = 0; fields && fields->t == JV_ARR && k < fields->n; k++) {
			const struct jv *f = &fields->items[k];

			print_object("~", c);
			printf("  %s: %s -> %s\n", or_dash(jv_str(f, "path")),
			       jv_str(f, "old") ? jv_str(f, "old") : "(absent)",
			       jv_str(f, "new") ? jv_str(f, "new") : "(absent)");
		}
		omitted = jv_str(c, "fields_omitted");
		if (omitted) {
			print_object("~", c);
			printf("  ... and %s more field%s\n", omitted, strcmp(omitted, "1") ? "s" : "");
		}
	}
	omitted = jv_str(r, "changes_omitted");
	if (omitted)
		printf("  ... and %s more change%s\n", omitted, strcmp(omitted, "1") ? "s" : "");
}

static bool printed_any;

static void emit_record(struct audit_run *run, const struct jv *r)
{
	if (json_output) {
		emit_jv(NULL, r);
		if (run->streaming) {
			output_finish();
			output_init(stdout, true, false);
		}
		return;
	}
	text_record(r, !printed_any);
	printed_any = true;
	if (run->streaming)
		fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* history: matching lines of one file, the last 'keep' of them */

struct lines {
	char **v;
	size_t n, head, cap; /* a ring of at most cap */
};

static int lines_add(struct lines *l, const char *s, size_t len)
{
	char *copy;

	if (!l->cap)
		return 0;
	copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	if (l->n < l->cap) {
		l->v[l->n++] = copy;
	} else {
		free(l->v[l->head]);
		l->v[l->head] = copy;
		l->head = (l->head + 1) % l->n;
	}
	return 0;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static const char *lines_at(const struct lines *l, size_t i)
{
	return l->v[(l->head + i) % l->n];
}

/* A matching record line goes into l. */
static int keep_line(struct audit_run *run, struct lines *l, const char *s, size_t len,
		     bool count)
{
	struct jv *r = rec_parse(run, s, len, count);

	if (!r)
		return 0;
	rec_free(r);
	return lines_add(l, s, len);
}

/* A rotated file (gzip or plain: gzread reads both). -ENOENT if absent. */
static int read_rotated(struct audit_run *run, const char *path, struct lines *l)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	gzFile gz;
	int fd, n, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	gz = gzdopen(fd, "rb");
	if (!gz) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (cap - len < 65536) {
			if (cap >= AUDIT_MAX_LINE) {
				run->malformed++; /* an over-long line: drop it */
				len = 0;
			} else {
				nb = realloc(buf, cap ? cap * 2 : 131072);
				if (!nb) {
					err = -ENOMEM;
					break;
				}
				buf = nb;
				cap = cap ? cap * 2 : 131072;
			}
		}
		n = gzread(gz, buf + len, 65536);
		if (n < 0) {
			err = -EIO;
			break;
		}
		if (!n)
			break;
		len += (size_t)n;
		/* complete lines */
		char *p = buf, *nl;

		while ((nl = memchr(p, '\n', len - (size_t)(p - buf)))) {
			err = keep_line(run, l, p, (size_t)(nl - p), true);
			if (err)
				goto out;
			p = nl + 1;
		}
		len -= (size_t)(p - buf);
		memmove(buf, p, len);
	}
	if (!err && len)
		err = keep_line(run, l, buf, len, true);
out:
	gzclose(gz);
	free(buf);
	return err;
}

/* the current file, read through one fd so --follow misses nothing */
static int reader_drain(struct linereader *r, lr_line_fn cb, void *ctx)
{
	return lr_drain(r, cb, ctx, NULL, &audit_stop);
}

struct keep_ctx {
	struct audit_run *run;
	struct lines *l;
};

static int keep_cb(void *ctx, const char *s, size_t len)
{
	struct keep_ctx *k = ctx;

	return keep_line(k->run, k->l, s, len, true);
}

static int stream_cb(void *ctx, const char *s, size_t len)
{
	struct audit_run *run = ctx;
	struct jv *r = rec_parse(run, s, len, true);

	if (r) {
		emit_record(run, r);
		rec_free(r);
	}
	return 0;
}

static void sleep_poll(void)
{
	struct timespec ts = { 0, AUDIT_POLL_NS };

	nanosleep(&ts, NULL);
}

/* Follow the current file by path across rotation and truncation. */
static int follow(struct linereader *r, struct audit_run *run)
{
	struct sigaction sa = {};
	struct stat st;
	int err;

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!audit_stop) {
		if (r->fd >= 0) {
			err = reader_drain(r, stream_cb, run);
			if (err)
				return err;
		}
		if (audit_stop)
			break;
		if (stat(run->path, &st)) {
			if (errno != ENOENT)
				return -errno;
			sleep_poll();
			continue;
		}
		if (r->fd < 0 || st.st_dev != r->dev || st.st_ino != r->ino) {
			/* rotated: what was written to the old file after the
			 * drain above, before the rename, is read here */
			if (r->fd >= 0 && (err = reader_drain(r, stream_cb, run)))
				return err;
			lr_close(r);
			err = lr_open(r, run->path, false);
			if (err && err != -ENOENT)
				return err;
			continue;
		}
		if (st.st_size < r->off) {
			err = lr_rewind(r); /* truncated */
			if (err)
				return err;
			continue;
		}
		if (st.st_size == r->off)
			sleep_poll();
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* the command */

static int parse_opts(int argc, char **argv, struct audit_opts *o)
{
	const char *v;
	char *end;
	int i, r;

	memset(o, 0, sizeof(*o));
	o->n = AUDIT_DEFAULT_N;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--follow") || !strcmp(a, "-f")) {
			o->follow = true;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--result", &v))) {
			if (r < 0)
				return -1;
			if (strcmp(v, "accepted") && strcmp(v, "refused")) {
				p_err("invalid --result '%s' (expected accepted or refused)", v);
				return -1;
			}
			o->result = v;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--file", &o->file))) {
			if (r < 0)
				return -1;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "-n", &v)) ||
		    (r = cli_opt_value(argc, argv, &i, "--lines", &v))) {
			if (r < 0)
				return -1;
			errno = 0;
			o->n = strtol(v, &end, 10);
			if (!isdigit((unsigned char)*v) || errno || *end || o->n > AUDIT_MAX_N) {
				p_err("invalid count '%s' (expected 0 .. %ld)", v, AUDIT_MAX_N);
				return -1;
			}
			continue;
		}
		if (a[0] == '-') {
			p_err("unknown option '%s' for audit (valid: --follow, --result, -n, --file)", a);
			return -1;
		}
		return cli_extra_args(argc - i, argv + i);
	}
	return 0;
}

/* <run_dir>/audit.jsonl from tr_meta, unless --file. */
static int audit_path(const struct audit_opts *o, char *path, size_t len)
{
	char run_dir[sizeof(((struct tr_meta *)0)->run_dir) + 1];
	struct tr_meta meta;
	int n;

	if (o->file) {
		n = snprintf(path, len, "%s", o->file);
	} else {
		if (cli_pins_open(&meta, false))
			return -1;
		CLI_STRFIELD(run_dir, meta.run_dir);
		if (!*run_dir) {
			p_err("%s/%s names no runtime directory (trestled not initialised); give the log with --file PATH",
			      bpffs, TR_MAP_META);
			return -1;
		}
		n = snprintf(path, len, "%s/%s", run_dir, AUDIT_FILE);
	}
	/* room for ".100.gz" */
	if (n < 0 || (size_t)n + 16 >= len) {
		p_err("audit log path too long");
		return -1;
	}
	return 0;
}

static bool same_file(const char *path, const struct linereader *r)
{
	struct stat st;

	return r->fd >= 0 && !stat(path, &st) && st.st_dev == r->dev && st.st_ino == r->ino;
}

static int do_audit_show(int argc, char **argv)
{
	struct lines *hist = NULL; /* [0]: the current file, then older ones */
	struct linereader r = { .fd = -1, .max_line = AUDIT_MAX_LINE };
	struct audit_run run = {};
	struct audit_opts o;
	size_t nfiles = 0, total = 0, i, k;
	char rpath[4200];
	const char *bad = run.path;
	int ret = -1, err;

	if (parse_opts(argc, argv, &o))
		return -1;
	run.o = &o;
	if (audit_path(&o, run.path, sizeof(run.path)))
		return -1;
	hist = calloc(AUDIT_MAX_ROTATED + 2, sizeof(*hist));
	if (!hist) {
		p_err("out of memory");
		return -1;
	}

	err = lr_open(&r, run.path, false);
	if (err == -ENOENT && o.follow) {
		fprintf(stderr, "%s does not exist yet, waiting for it\n", run.path);
	} else if (err) {
		p_err("cannot open audit log %s: %s%s", run.path, strerror(-err),
		      err == -ENOENT ? " (no configuration change recorded yet; see --file)" : "");
		goto out;
	}
	/* newest first: the current file, PATH.0, PATH.1.gz, ... */
	/* the current file is always read to its end: --follow goes on from there */
	for (i = 0; i < AUDIT_MAX_ROTATED + 2 && (!i || total < (size_t)o.n); i++) {
		struct lines *l = &hist[nfiles];

		l->cap = (size_t)o.n - total;
		l->v = calloc(l->cap ? l->cap : 1, sizeof(*l->v));
		if (!l->v) {
			err = -ENOMEM;
			goto read_err;
		}
		nfiles++;
		if (i == 0) {
			if (r.fd < 0)
				continue;
			struct keep_ctx kc = { &run, l };

			err = reader_drain(&r, keep_cb, &kc);
			if (!err && !o.follow && r.len)
				err = keep_line(&run, l, r.buf, r.len, false);
		} else {
			if (i == 1)
				snprintf(rpath, sizeof(rpath), "%s.0", run.path);
			else
				snprintf(rpath, sizeof(rpath), "%s.%zu.gz", run.path, i - 1);
			/* rotated since we opened it: already read */
			if (same_file(rpath, &r))
				continue;
			err = read_rotated(&run, rpath, l);
			if (err == -ENOENT) {
				err = 0;
				if (i > 1)
					break;
				continue;
			}
		}
		if (err) {
			bad = i ? rpath : run.path;
			goto read_err;
		}
		total += l->n;
	}

	if (o.follow && json_output) {
		output_discard();
		output_init(stdout, true, false);
	}
	run.streaming = o.follow;
	if (!o.follow)
		open_json_array(PRINT_JSON, NULL);
	for (k = nfiles; k-- > 0;) {
		for (i = 0; i < hist[k].n; i++) {
			const char *s = lines_at(&hist[k], i);
			struct jv *rec = rec_parse(&run, s, strlen(s), false);

			if (rec) {
				emit_record(&run, rec);
				rec_free(rec);
			}
		}
	}
	if (!o.follow) {
		close_json_array(PRINT_JSON, NULL);
	} else {
		err = follow(&r, &run);
		if (err)
			goto read_err;
	}
	ret = 0;
	goto out;
read_err:
	p_err("cannot read audit log %s: %s", bad, strerror(-err));
out:
	if (run.malformed)
		fprintf(stderr, "Note: skipped %lu malformed line%s of %s\n", run.malformed,
			run.malformed == 1 ? "" : "s", run.path);
	for (i = 0; i < nfiles; i++)
		lines_free(&hist[i]);
	free(hist);
	lr_free(&r);
	return ret;
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (json_output) {
		print_null(PRINT_JSON, NULL, NULL);
		return 0;
	}
	fprintf(stdout,
		"Usage: %s audit [ show ] [ OPTIONS ]\n"
		"       %s audit help\n"
		"\n"
		"The configuration audit log of trestled (<run_dir>/%s, run_dir from %s,\n"
		"and its rotated files): every accepted or refused configuration change,\n"
		"with the objects added (+), removed (-) and modified (~, field by field).\n"
		"\n"
		"OPTIONS := { -f|--follow | --result accepted|refused | -n N | --file PATH }\n"
		"  -f, --follow          keep printing new records (across rotation)\n"
		"  --result R            only accepted, or only refused changes\n"
		"  -n N                  history records to print (default %d; 0: none)\n"
		"  --file PATH           read this file (and PATH.0, PATH.N.gz) instead\n"
		"\n"
		"JSON (-j): an array of the records; with --follow, one record per line.\n",
		bin_name, bin_name, AUDIT_FILE, TR_MAP_META, AUDIT_DEFAULT_N);
	return 0;
}

static const struct cmd cmds[] = {
	{ "show", do_audit_show },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_audit(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "audit");
}
