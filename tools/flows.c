// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle flows [--follow] [--verdict allow|deny|audit] [--from X] [--to X]
 *               [--policy NS/NAME] [-n N] [--file PATH]
 *
 * The flow log trestled writes to <run_dir>/flows.jsonl (run_dir from
 * tr_meta): the last N matching records, then with --follow every new one,
 * across rotation (the file replaced) and truncation. Records are parsed,
 * filtered and put in one line by flowfilter.c; in JSON they are written
 * back as objects, every member kept, through the common writer: an array,
 * or with --follow one object per line.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "cli.h"
#include "flowfilter.h"
#include "linereader.h"

#define FLOWS_FILE "flows.jsonl"
#define FLOWS_DEFAULT_N 50
#define FLOWS_MAX_N 1000000L
#define FLOWS_POLL_NS (200 * 1000 * 1000L)
#define FLOWS_MAX_LINE (1024 * 1024) /* longer lines are malformed */

struct flows_opts {
	struct flow_filter filter;
	long n;
	bool follow;
	const char *file;
};


struct flows_run {
	const struct flows_opts *o;
	char path[4096];
	unsigned long malformed;
	/* history: the last o->n matching lines, a ring once full */
	char **ring;
	size_t ring_n, ring_head;
	bool streaming; /* print matches as they come (--follow, after history) */
};

int do_flows(int argc, char **argv);

static volatile sig_atomic_t flows_stop;

static void on_signal(int sig)
{
	(void)sig;
	flows_stop = 1;
}

static int parse_count(const char *s, long *n)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*n = strtol(s, &end, 10);
	if (errno || *end || *n > FLOWS_MAX_N)
		return -EINVAL;
	return 0;
}

static int parse_opts(int argc, char **argv, struct flows_opts *o)
{
	const char *v;
	int i, r;

	memset(o, 0, sizeof(*o));
	o->n = FLOWS_DEFAULT_N;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--follow") || !strcmp(a, "-f")) {
			o->follow = true;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--verdict", &v))) {
			if (r < 0)
				return -1;
			r = flow_verdict_parse(v);
			if (r < 0) {
				p_err("invalid --verdict '%s' (expected allow, deny or audit)",
				      v);
				return -1;
			}
			o->filter.verdict = (enum flow_verdict_filter)r;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--from", &o->filter.from)) ||
		    (r = cli_opt_value(argc, argv, &i, "--to", &o->filter.to)) ||
		    (r = cli_opt_value(argc, argv, &i, "--policy",
				   &o->filter.policy)) ||
		    (r = cli_opt_value(argc, argv, &i, "--file", &o->file))) {
			if (r < 0)
				return -1;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "-n", &v)) ||
		    (r = cli_opt_value(argc, argv, &i, "--lines", &v))) {
			if (r < 0)
				return -1;
			if (parse_count(v, &o->n)) {
				p_err("invalid count '%s' (expected 0 .. %ld)", v,
				      FLOWS_MAX_N);
				return -1;
			}
			continue;
		}
		if (a[0] == '-') {
			p_err("unknown option '%s' for flows (valid: --follow, --verdict, --from, --to, --policy, -n, --file)",
			      a);
			return -1;
		}
		return cli_extra_args(argc - i, argv + i);
	}
	if (o->filter.from && !*o->filter.from) {
		p_err("--from needs a workload, address or identity");
		return -1;
	}
	if (o->filter.to && !*o->filter.to) {
		p_err("--to needs a workload, address or identity");
		return -1;
	}
	return 0;
}

/* <run_dir>/flows.jsonl from tr_meta, unless --file. */
static int flows_path(const struct flows_opts *o, char *path, size_t len)
{
	char run_dir[sizeof(((struct tr_meta *)0)->run_dir) + 1];
	struct tr_meta meta;
	int n;

	if (o->file) {
		n = snprintf(path, len, "%s", o->file);
		goto check;
	}
	if (cli_pins_open(&meta, false))
		return -1;
	CLI_STRFIELD(run_dir, meta.run_dir);
	if (!*run_dir) {
		p_err("%s/%s names no runtime directory (trestled not initialised, or older than the flow log); give the log with --file PATH",
		      bpffs, TR_MAP_META);
		return -1;
	}
	n = snprintf(path, len, "%s/%s", run_dir, FLOWS_FILE);
check:
	if (n < 0 || (size_t)n >= len) {
		p_err("flow log path too long");
		return -1;
	}
	return 0;
}

/* JSON: a record written back, member by member, in its own order. */
static void emit_members(const struct fj_obj *o)
{
	for (size_t i = 0; i < o->n; i++) {
		const struct fj_member *m = &o->m[i];
		long long sv;
		unsigned long long uv;
		char *end;

		switch (m->type) {
		case FJ_NULL:
			print_null(PRINT_JSON, m->key, NULL);
			break;
		case FJ_BOOL:
			print_bool(PRINT_JSON, m->key, NULL, m->b);
			break;
		case FJ_STR:
			print_string(PRINT_JSON, m->key, NULL, m->s);
			break;
		case FJ_OBJ:
			open_json_object(m->key);
			emit_members(m->obj);
			close_json_object();
			break;
		case FJ_NUM:
			errno = 0;
			sv = strtoll(m->s, &end, 10);
			if (!errno && !*end) {
				print_int(PRINT_JSON, m->key, NULL, sv);
				break;
			}
			errno = 0;
			uv = strtoull(m->s, &end, 10);
			if (!errno && !*end && m->s[0] != '-') {
				print_uint(PRINT_JSON, m->key, NULL, uv);
				break;
			}
			print_float(PRINT_JSON, m->key, NULL, strtod(m->s, NULL));
			break;
		}
	}
}

static void emit_record(const struct fj_obj *rec)
{
	char line[1024], *big = NULL;
	int n;

	if (json_output) {
		open_json_object(NULL);
		emit_members(rec);
		close_json_object();
		return;
	}
	n = flow_format_text(rec, line, sizeof(line));
	if (n >= (int)sizeof(line)) {
		big = malloc((size_t)n + 1);
		if (big)
			flow_format_text(rec, big, (size_t)n + 1);
	}
	print_string(PRINT_FP, NULL, "%s\n", big ? big : line);
	free(big);
}

/* --follow: each record is a line of its own, written at once. */
static void stream_flush(void)
{
	if (json_output) {
		output_finish();
		output_init(stdout, true, false);
	} else {
		fflush(stdout);
	}
}

/*
 * Parse a line; NULL for a blank line (ignored) and for a malformed one
 * (counted unless it is the unterminated tail being written).
 */
static struct fj_obj *parse_line(struct flows_run *run, const char *line,
				 size_t len, bool count)
{
	struct fj_obj *rec;
	size_t i;

	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			break;
	if (i == len)
		return NULL;
	rec = calloc(1, sizeof(*rec));
	if (rec && !fj_parse(line, len, rec) && flow_rec_valid(rec))
		return rec;
	if (rec) {
		fj_free(rec);
		free(rec);
	}
	if (count)
		run->malformed++;
	return NULL;
}

static void rec_free(struct fj_obj *rec)
{
	fj_free(rec);
	free(rec);
}

/* A complete line: keep it for the history, or print it when streaming. */
static int on_line(struct flows_run *run, const char *line, size_t len,
		   bool complete)
{
	struct fj_obj *rec = parse_line(run, line, len, complete);
	char *copy;

	if (!rec)
		return 0;
	if (!flow_match(&run->o->filter, rec)) {
		rec_free(rec);
		return 0;
	}
	if (run->streaming) {
		emit_record(rec);
		stream_flush();
		rec_free(rec);
		return 0;
	}
	rec_free(rec);
	if (!run->o->n)
		return 0;
	copy = strndup(line, len);
	if (!copy)
		return -ENOMEM;
	if (run->ring_n < (size_t)run->o->n) {
		run->ring[run->ring_n++] = copy;
	} else {
		free(run->ring[run->ring_head]);
		run->ring[run->ring_head] = copy;
		run->ring_head = (run->ring_head + 1) % run->ring_n;
	}
	return 0;
}

/* A complete line of the flow log. */
static int flows_line(void *ctx, const char *line, size_t len)
{
	return on_line(ctx, line, len, true);
}

/* Everything readable now; while streaming, a signal stops it. */
static int reader_drain(struct linereader *r, struct flows_run *run)
{
	return lr_drain(r, flows_line, run, &run->malformed,
			run->streaming ? &flows_stop : NULL);
}

static void print_history(struct flows_run *run)
{
	for (size_t i = 0; i < run->ring_n; i++) {
		size_t k = (run->ring_head + i) % run->ring_n;
		struct fj_obj *rec = parse_line(run, run->ring[k],
						strlen(run->ring[k]), false);

		if (rec) {
			emit_record(rec);
			if (run->streaming)
				stream_flush();
			rec_free(rec);
		}
		free(run->ring[k]);
		run->ring[k] = NULL;
	}
	run->ring_n = 0;
	run->ring_head = 0;
}

static void sleep_poll(void)
{
	struct timespec ts = { 0, FLOWS_POLL_NS };

	nanosleep(&ts, NULL); /* a signal cuts it short */
}

/*
 * After the history: follow the file by path. Replaced (another inode at
 * the path): finish the old file, then read the new one from its start.
 * Truncated (shorter than what was read): read again from the start.
 * Removed and not yet recreated: keep waiting.
 */
static int follow(struct linereader *r, struct flows_run *run)
{
	struct sigaction sa = {};
	bool waiting = r->fd < 0;
	struct stat st;
	int err;

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	while (!flows_stop) {
		if (r->fd >= 0) {
			err = reader_drain(r, run);
			if (err)
				return err;
		}
		if (flows_stop)
			break;
		if (stat(run->path, &st)) {
			if (errno != ENOENT)
				return -errno;
			sleep_poll();
			continue;
		}
		if (r->fd < 0 || st.st_dev != r->dev || st.st_ino != r->ino) {
			/* rotated, or created: read what was appended to the
			 * old file between the drain above and the rename,
			 * then move on (an unterminated last line is dropped) */
			if (r->fd >= 0) {
				err = reader_drain(r, run);
				if (err)
					return err;
			}
			lr_close(r);
			err = lr_open(r, run->path, false);
			if (err == -ENOENT)
				continue;
			if (err)
				return err;
			if (waiting) {
				waiting = false;
				fprintf(stderr, "%s appeared, following it\n",
					run->path);
			}
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

static int do_flows_show(int argc, char **argv)
{
	struct linereader r;
	struct flows_run run = {};
	struct flows_opts o;
	int ret = -1, err;

	lr_init(&r, FLOWS_MAX_LINE);
	if (parse_opts(argc, argv, &o))
		return -1;
	run.o = &o;
	if (flows_path(&o, run.path, sizeof(run.path)))
		return -1;
	if (o.n) {
		run.ring = calloc((size_t)o.n, sizeof(*run.ring));
		if (!run.ring) {
			p_err("out of memory for %ld records", o.n);
			return -1;
		}
	}

	err = lr_open(&r, run.path, false);
	if (err == -ENOENT && o.follow) {
		fprintf(stderr, "%s does not exist yet, waiting for it\n",
			run.path);
	} else if (err) {
		p_err("cannot open flow log %s: %s%s", run.path, strerror(-err),
		      err == -ENOENT ?
			      " (nothing logged yet, or trestled writes no flow log; see --file)" :
			      "");
		goto out;
	}
	if (r.fd >= 0) {
		err = reader_drain(&r, &run);
		if (err)
			goto read_err;
		/* The unterminated tail is being written: use it if it is
		 * already whole, else leave it (no count) for --follow. */
		if (!o.follow && r.len && !r.skipping) {
			err = on_line(&run, r.buf, r.len, false);
			if (err)
				goto read_err;
		}
	}

	if (o.follow) {
		/* JSON lines, compact, each written as it comes */
		if (json_output) {
			output_discard();
			output_init(stdout, true, false);
		}
		run.streaming = true;
		print_history(&run);
		err = follow(&r, &run);
		if (err)
			goto read_err;
	} else {
		open_json_array(PRINT_JSON, NULL);
		print_history(&run);
		close_json_array(PRINT_JSON, NULL);
	}
	ret = 0;
	goto out;
read_err:
	p_err("cannot read flow log %s: %s", run.path, strerror(-err));
out:
	if (run.malformed)
		fprintf(stderr, "Note: skipped %lu malformed line%s of %s\n",
			run.malformed, run.malformed == 1 ? "" : "s", run.path);
	for (size_t i = 0; i < run.ring_n; i++)
		free(run.ring[i]);
	free(run.ring);
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
		"Usage: %s flows [ show ] [ OPTIONS ]\n"
		"       %s flows help\n"
		"\n"
		"The flow log of trestled (<run_dir>/%s, run_dir from %s):\n"
		"the last N matching records, and with --follow every new one.\n"
		"\n"
		"OPTIONS := { -f|--follow | --verdict allow|deny|audit | --from EP |\n"
		"             --to EP | --policy NS/NAME | -n N | --file PATH }\n"
		"  -f, --follow          keep printing new records (across rotation)\n"
		"  --verdict V           allow, deny, or audit (an AUDIT policy matched)\n"
		"  --from EP, --to EP    source / destination: workload NS/NAME, address,\n"
		"                        or identity (spiffe://TD/ns/NS/sa/SA or TD/ns/NS/sa/SA)\n"
		"  --policy NS/NAME      decided by, or AUDIT-matched by, this policy\n"
		"  -n N                  history records to print (default %d; 0: none)\n"
		"  --file PATH           read this file instead\n"
		"\n"
		"JSON (-j): an array of the records; with --follow, one record per line.\n",
		bin_name, bin_name, FLOWS_FILE, TR_MAP_META, FLOWS_DEFAULT_N);
	return 0;
}

static const struct cmd cmds[] = {
	{ "show", do_flows_show },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_flows(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "flows");
}
