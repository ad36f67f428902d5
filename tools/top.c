// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle top [show] [--interval MS] [--iterations N]
 *
 * A live view per service port, refreshed every interval: new connections
 * per second, connections open, request and response bytes per second (the
 * source-reported series of tr_l4_stat with that service), load-balancer
 * selections per second (tr_lb_bestat summed over the service's backends in
 * tr_lb_be), ready backends, and denied flows per second toward it (new
 * deny records of the flow log whose destination is one of its backends).
 * Rates are differences between two refreshes divided by the time between
 * them; the first refresh comes one interval after the start.
 *
 * On a terminal each refresh replaces the last (ANSI clear screen);
 * otherwise refreshes follow each other. With -j, one JSON object per
 * refresh and line. SIGINT and SIGTERM end it with status 0.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/metrics.h>

#include "cli.h"
#include "l4read.h"
#include "linereader.h"
#include "flowfilter.h"
#include "graphmodel.h"

#define FLOWS_FILE "flows.jsonl"
#define TOP_DEFAULT_MS 1000L
#define TOP_MIN_MS 10L
#define TOP_MAX_MS 3600000L
#define TOP_MAX_LINE (1024 * 1024)

int do_top(int argc, char **argv);

struct top_opts {
	long interval_ms;
	long iterations; /* 0: until interrupted */
};

/* One service port at one refresh: counters as read, rates from the last. */
struct svc_row {
	__u32 id;
	char name[GM_NAME_LEN];
	struct tr_lb_svcinfo info;
	__u64 opened, closed, sent, received; /* source series, summed */
	__u64 selections;
	__u32 backends, ready;
	__u64 denies;  /* deny records since the last refresh */
	bool have_prev;
	double conn_rate, in_rate, out_rate, sel_rate, deny_rate;
};

struct sample {
	struct svc_row *v; /* by id */
	size_t n, cap;
	struct timespec t;
};

/* The flow log, followed from its end as it was at the start. */
struct tail {
	char path[4096];
	struct linereader lr;
};

struct top_fds {
	int l4, l4_ends, svc, be, bestat;
};

static volatile sig_atomic_t top_stop;

static void on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static int parse_long(const char *s, long min, long max, long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtol(s, &end, 10);
	if (errno || *end || *v < min || *v > max)
		return -EINVAL;
	return 0;
}

static int parse_opts(int argc, char **argv, struct top_opts *o)
{
	o->interval_ms = TOP_DEFAULT_MS;
	o->iterations = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v;
		size_t n;
		bool interval;

		if (!strncmp(a, "--interval", 10))
			n = 10;
		else if (!strncmp(a, "--iterations", 12))
			n = 12;
		else if (a[0] == '-')
			n = 0;
		else
			return cli_extra_args(argc - i, argv + i);
		if (!n || (a[n] && a[n] != '=')) {
			p_err("unknown option '%s' for top (valid: --interval, --iterations)",
			      a);
			return -1;
		}
		interval = n == 10;
		if (a[n] == '=') {
			v = a + n + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			p_err("option '%.*s' needs an argument", (int)n, a);
			return -1;
		}
		if (interval && parse_long(v, TOP_MIN_MS, TOP_MAX_MS,
					   &o->interval_ms)) {
			p_err("invalid --interval '%s' (expected milliseconds, %ld .. %ld)",
			      v, TOP_MIN_MS, TOP_MAX_MS);
			return -1;
		}
		if (!interval && parse_long(v, 1, 1000000000L, &o->iterations)) {
			p_err("invalid --iterations '%s' (expected 1 or more)", v);
			return -1;
		}
	}
	return 0;
}

static void fds_close(struct top_fds *f)
{
	int *all[] = { &f->l4, &f->l4_ends, &f->svc, &f->be, &f->bestat };

	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		if (*all[i] >= 0)
			close(*all[i]);
		*all[i] = -1;
	}
}

static int open_maps(struct top_fds *f)
{
	struct bpf_map_info info = {};

	f->l4_ends = -1;
	f->l4 = cli_map_open(TR_MAP_L4_STAT, &info);
	if (f->l4 < 0)
		return -1;
	if (info.key_size != sizeof(struct tr_l4_key) ||
	    info.value_size != sizeof(struct tr_l4_val)) {
		p_err("map %s/%s has key %u B and value %u B, this trestle expects key %zu B and value %zu B (ABI mismatch)",
		      bpffs, TR_MAP_L4_STAT, info.key_size, info.value_size,
		      sizeof(struct tr_l4_key), sizeof(struct tr_l4_val));
		return -1;
	}
	/* the slots' counts not yet in tr_l4_stat (absent: an older agent's pins) */
	f->l4_ends = cli_map_try_open(TR_MAP_L4_ENDS, NULL);
	if (f->l4_ends < 0)
		f->l4_ends = -1;
	if ((f->svc = cli_map_open(TR_MAP_LB_SVCINFO, NULL)) < 0 ||
	    (f->be = cli_map_open(TR_MAP_LB_BE, NULL)) < 0 ||
	    (f->bestat = cli_map_open(TR_MAP_LB_BESTAT, NULL)) < 0)
		return -1;
	return 0;
}

/* ---- one refresh -------------------------------------------------------- */

static int cmp_row_id(const void *a, const void *b)
{
	__u32 x = ((const struct svc_row *)a)->id;
	__u32 y = ((const struct svc_row *)b)->id;

	return (x > y) - (x < y);
}

static struct svc_row *row_find(const struct sample *s, __u32 id)
{
	struct svc_row k = { .id = id };

	return s->n ? bsearch(&k, s->v, s->n, sizeof(k), cmp_row_id) : NULL;
}

static int on_svc(const void *key, const void *value, void *ctx)
{
	struct sample *s = ctx;
	struct svc_row *r;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct svc_row *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	r = &s->v[s->n++];
	memset(r, 0, sizeof(*r));
	r->id = *(const __u32 *)key;
	r->info = *(const struct tr_lb_svcinfo *)value;
	gm_svc_name(&r->info, r->name, sizeof(r->name));
	return 0;
}

struct l4_ctx {
	struct sample *s;
};

/* One contribution to a series (l4read.h), added to its service's row. */
static int on_l4(const struct tr_l4_key *k, const struct tr_l4_val *v, void *ctx)
{
	struct l4_ctx *c = ctx;
	struct svc_row *r;

	/* only the client's side knows the service */
	if (k->reporter != TR_REPORTER_SOURCE || !k->svc_id)
		return 0;
	r = row_find(c->s, k->svc_id);
	if (!r)
		return 0;
	r->opened += v->opened;
	r->closed += v->closed;
	r->sent += v->sent_bytes;
	r->received += v->received_bytes;
	return 0;
}

/* A backend counted once per endpoint: its Pod, or its address without
 * one (a dual-stack Pod has a backend per family). */
struct endpoint {
	__u32 svc_id;
	bool ready;
	char key[TR_NAME_LEN + CLI_ADDR_LEN];
};

struct be_ctx {
	struct sample *s;
	int stat_fd;
	struct gm_backend *v;
	size_t n, cap;
	struct endpoint *ep;
	size_t n_ep;
};

static int on_backend(const void *key, const void *value, void *ctx)
{
	const struct tr_lb_backend *be = value;
	struct be_ctx *c = ctx;
	struct gm_backend *d;
	struct svc_row *r;
	__u64 sel;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct gm_backend *v = realloc(c->v, cap * sizeof(*v));
		struct endpoint *ep = realloc(c->ep, cap * sizeof(*ep));

		if (ep)
			c->ep = ep;
		if (v)
			c->v = v;
		if (!v || !ep)
			return -ENOMEM;
		c->cap = cap;
	}
	r = row_find(c->s, be->svc_id);
	if (r) {
		struct endpoint *e = &c->ep[c->n_ep++];
		char pod[TR_NAME_LEN + 1], addr[CLI_ADDR_LEN];

		e->svc_id = be->svc_id;
		e->ready = be->flags & TR_BE_F_READY;
		CLI_STRFIELD(pod, be->pod);
		snprintf(e->key, sizeof(e->key), "%s", *pod ? pod :
			 cli_addr(be->addr, be->family, addr, sizeof(addr)));
		if (!cli_percpu_u64(c->stat_fd, *(const __u32 *)key, NULL, &sel))
			r->selections += sel;
	}
	d = &c->v[c->n++];
	memset(d, 0, sizeof(*d));
	d->family = be->family;
	d->proto = be->proto;
	d->port = ntohs(be->port);
	memcpy(d->addr, be->addr, sizeof(d->addr));
	if (d->family == TR_AF_INET)
		memset(&d->addr[1], 0, 3 * sizeof(d->addr[1]));
	d->svc_id = be->svc_id;
	return 0;
}

static int cmp_endpoint(const void *a, const void *b)
{
	const struct endpoint *x = a, *y = b;

	if (x->svc_id != y->svc_id)
		return x->svc_id < y->svc_id ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Backends and ready backends per service, by endpoint. */
static void count_endpoints(struct be_ctx *c)
{
	size_t i = 0;

	if (c->n_ep)
		qsort(c->ep, c->n_ep, sizeof(*c->ep), cmp_endpoint);
	while (i < c->n_ep) {
		struct svc_row *r = row_find(c->s, c->ep[i].svc_id);
		bool ready = false;
		size_t j = i;

		for (; j < c->n_ep && !cmp_endpoint(&c->ep[i], &c->ep[j]); j++)
			ready |= c->ep[j].ready;
		if (r) {
			r->backends++;
			r->ready += ready;
		}
		i = j;
	}
}

/* ---- the flow log ------------------------------------------------------- */

static int tail_open(struct tail *t, bool at_end)
{
	return lr_open(&t->lr, t->path, at_end);
}

static void tail_close(struct tail *t)
{
	lr_free(&t->lr);
}

static void on_flow_line(const char *line, size_t len, struct sample *s,
			 const struct be_ctx *bes)
{
	struct gm_flow fl;
	struct fj_obj rec;
	struct svc_row *r;

	if (fj_parse(line, len, &rec))
		return;
	if (gm_flow_deny(&rec, &fl) && fl.family) {
		r = row_find(s, gm_backend_svc(bes->v, bes->n, fl.family,
					       fl.dst_addr, fl.dst_port,
					       fl.proto));
		if (r)
			r->denies++;
	}
	fj_free(&rec);
}

struct flow_line_ctx {
	struct sample *s;
	const struct be_ctx *bes;
};

static int flow_line(void *ctx, const char *line, size_t len)
{
	struct flow_line_ctx *c = ctx;

	on_flow_line(line, len, c->s, c->bes);
	return 0;
}

/* New complete lines since the last call, across rotation and truncation. */
static int tail_read(struct tail *t, struct sample *s, const struct be_ctx *bes)
{
	struct flow_line_ctx c = { s, bes };
	struct stat st;
	int err;

	if (!t->path[0])
		return 0;
	if (t->lr.fd < 0) {
		err = tail_open(t, false); /* appeared since: all of it is new */
		if (err)
			return err == -ENOENT ? 0 : err;
	} else if (!stat(t->path, &st) &&
		   (st.st_dev != t->lr.dev || st.st_ino != t->lr.ino)) {
		lr_close(&t->lr); /* rotated: the new file from its start */
		err = tail_open(t, false);
		if (err)
			return err == -ENOENT ? 0 : err;
	} else if (!fstat(t->lr.fd, &st) && st.st_size < t->lr.off) {
		err = lr_rewind(&t->lr); /* truncated */
		if (err)
			return err;
	}
	return lr_drain(&t->lr, flow_line, &c, NULL, NULL);
}

/* Read everything for one refresh into s (s->v freed by the caller). */
static int take_sample(const struct top_fds *f, struct tail *t,
		       struct sample *s)
{
	struct be_ctx bes = { .s = s, .stat_fd = f->bestat };
	struct l4_ctx l4 = { .s = s };
	int err;

	s->n = 0;
	clock_gettime(CLOCK_MONOTONIC, &s->t);
	err = cli_map_walk(f->svc, sizeof(__u32), sizeof(struct tr_lb_svcinfo),
			   on_svc, s);
	if (err) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_LB_SVCINFO,
		      strerror(-err));
		return -1;
	}
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), cmp_row_id);
	err = l4read(f->l4, f->l4_ends, on_l4, &l4);
	if (err) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_L4_STAT,
		      strerror(-err));
		return -1;
	}
	err = cli_map_walk(f->be, sizeof(__u32), sizeof(struct tr_lb_backend),
			   on_backend, &bes);
	if (err) {
		free(bes.v);
		free(bes.ep);
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_LB_BE,
		      strerror(-err));
		return -1;
	}
	count_endpoints(&bes);
	gm_backends_sort(bes.v, bes.n);
	err = tail_read(t, s, &bes);
	free(bes.v);
	free(bes.ep);
	if (err) {
		p_err("cannot read flow log %s: %s", t->path, strerror(-err));
		return -1;
	}
	return 0;
}

static double rate(__u64 cur, __u64 prev, double secs)
{
	return cur >= prev && secs > 0 ? (double)(cur - prev) / secs : 0.0;
}

static double elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Rates of cur against prev (a service new since then has none yet). */
static void compute_rates(const struct sample *prev, struct sample *cur)
{
	double secs = elapsed(&prev->t, &cur->t);

	for (size_t i = 0; i < cur->n; i++) {
		struct svc_row *r = &cur->v[i];
		const struct svc_row *p = row_find(prev, r->id);

		r->deny_rate = secs > 0 ? (double)r->denies / secs : 0.0;
		if (!p)
			continue;
		r->have_prev = true;
		r->conn_rate = rate(r->opened, p->opened, secs);
		r->in_rate = rate(r->received, p->received, secs);
		r->out_rate = rate(r->sent, p->sent, secs);
		r->sel_rate = rate(r->selections, p->selections, secs);
	}
}

static __u64 active(const struct svc_row *r)
{
	return r->opened > r->closed ? r->opened - r->closed : 0;
}

static int cmp_row_rank(const void *a, const void *b)
{
	const struct svc_row *x = a, *y = b;

	if (x->conn_rate != y->conn_rate)
		return x->conn_rate < y->conn_rate ? 1 : -1;
	if (active(x) != active(y))
		return active(x) < active(y) ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* ---- output ------------------------------------------------------------- */

static const char *proto_str(__u8 proto)
{
	return proto == TR_PROTO_UDP ? "udp" : proto == TR_PROTO_TCP ? "tcp" : "?";
}

static void print_sample(const struct sample *prev, struct sample *cur,
			 const struct tail *t, bool tty, long refresh)
{
	bool have_flows = t->lr.fd >= 0;
	struct svc_row *rows;
	char when[32], fmt[32];
	struct timespec now;
	struct tm tm;
	size_t max = cur->n, w = strlen("SERVICE");

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

	/* ranked copy; the sample itself stays sorted by id for the next */
	rows = malloc((cur->n ? cur->n : 1) * sizeof(*rows));
	if (!rows)
		return;
	memcpy(rows, cur->v, cur->n * sizeof(*rows));
	if (cur->n)
		qsort(rows, cur->n, sizeof(*rows), cmp_row_rank);
	if (tty) {
		struct winsize ws;

		print_fp("\033[H\033[2J");
		if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row > 3 &&
		    max > (size_t)ws.ws_row - 3)
			max = (size_t)ws.ws_row - 3;
	} else if (refresh > 1) {
		print_nl();
	}
	for (size_t i = 0; i < max; i++)
		if (strlen(rows[i].name) > w)
			w = strlen(rows[i].name);
	snprintf(fmt, sizeof(fmt), "%%-%zus", w);

	open_json_object(NULL);
	print_string(PRINT_ANY, "time", "trestle top  %s", when);
	print_float(PRINT_ANY, "interval_s", "  interval %.2f s",
		    elapsed(&prev->t, &cur->t));
	print_uint(PRINT_ANY, "refresh", "  refresh %llu", (__u64)refresh);
	print_uint(PRINT_ANY, "services_total", "  services %llu", cur->n);
	print_bool(PRINT_JSON, "flow_log", NULL, have_flows);
	print_fp("%s\n", have_flows ? "" : "  (no flow log: denies/s -)");
	print_fp(fmt, "SERVICE");
	print_fp(" %9s %7s %11s %11s %8s %5s %9s\n", "CONN/S", "ACTIVE",
		 "IN B/S", "OUT B/S", "LB/S", "READY", "DENIES/S");
	open_json_array(PRINT_JSON, "services");
	for (size_t i = 0; i < cur->n; i++) {
		const struct svc_row *r = &rows[i];
		char ns[TR_NAME_LEN + 1], name[TR_NAME_LEN + 1];
		enum output_type any = i < max ? PRINT_ANY : PRINT_JSON;

		CLI_STRFIELD(ns, r->info.ns);
		CLI_STRFIELD(name, r->info.name);
		open_json_object(NULL);
		print_string(any, "service", fmt, r->name);
		print_string(PRINT_JSON, "namespace", NULL, ns);
		print_string(PRINT_JSON, "name", NULL, name);
		print_uint(PRINT_JSON, "port", NULL, r->info.port);
		print_string(PRINT_JSON, "protocol", NULL, proto_str(r->info.proto));
		print_float(any, "connections_per_s", " %9.1f", r->conn_rate);
		print_uint(any, "connections_active", " %7llu", active(r));
		print_float(any, "bytes_in_per_s", " %11.0f", r->in_rate);
		print_float(any, "bytes_out_per_s", " %11.0f", r->out_rate);
		print_float(any, "lb_selections_per_s", " %8.1f", r->sel_rate);
		print_uint(any, "backends_ready", " %5llu", r->ready);
		print_uint(PRINT_JSON, "backends", NULL, r->backends);
		if (have_flows)
			print_float(any, "denies_per_s", " %9.1f", r->deny_rate);
		else
			print_null(any, "denies_per_s", "         -");
		if (i < max)
			print_nl();
		close_json_object();
	}
	close_json_array(PRINT_JSON, NULL);
	if (max < cur->n)
		print_fp("(%zu more)\n", cur->n - max);
	close_json_object();
	free(rows);
}

static void flush_refresh(void)
{
	if (json_output) {
		output_finish();
		output_init(stdout, true, false);
	} else {
		fflush(stdout);
	}
}

/* Sleep until start + ms, or a signal. */
static void sleep_until(const struct timespec *start, long ms)
{
	struct timespec until = *start;

	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!top_stop &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) ==
		       EINTR)
		;
}

static int do_show(int argc, char **argv)
{
	struct top_fds f = { -1, -1, -1, -1 };
	struct tail t = { .lr = { .fd = -1, .max_line = TOP_MAX_LINE } };
	struct sample a = {}, b = {}, *prev = &a, *cur = &b, *tmp;
	struct sigaction sa = {};
	struct top_opts o;
	struct tr_meta meta;
	char run_dir[sizeof(meta.run_dir) + 1];
	bool tty;
	int ret = -1, err;

	if (parse_opts(argc, argv, &o))
		return -1;
	if (cli_pins_open(&meta, true) || open_maps(&f))
		goto out;
	CLI_STRFIELD(run_dir, meta.run_dir);
	if (*run_dir) {
		snprintf(t.path, sizeof(t.path), "%s/%s", run_dir, FLOWS_FILE);
		err = tail_open(&t, true);
		if (err && err != -ENOENT) {
			p_err("cannot open flow log %s: %s", t.path,
			      strerror(-err));
			goto out;
		}
	}
	tty = !json_output && isatty(STDOUT_FILENO);
	if (json_output) {
		/* JSON lines: compact, one object per refresh */
		output_discard();
		output_init(stdout, true, false);
	}
	sa.sa_handler = on_signal; /* no SA_RESTART: the sleep ends */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (take_sample(&f, &t, prev))
		goto out;
	for (long n = 1; !o.iterations || n <= o.iterations; n++) {
		sleep_until(&prev->t, o.interval_ms);
		if (top_stop)
			break;
		if (take_sample(&f, &t, cur))
			goto out;
		compute_rates(prev, cur);
		print_sample(prev, cur, &t, tty, n);
		flush_refresh();
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	ret = 0;
out:
	free(a.v);
	free(b.v);
	tail_close(&t);
	fds_close(&f);
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
		"Usage: %s top [ show ] [ --interval MS ] [ --iterations N ]\n"
		"       %s top help\n"
		"\n"
		"Per service port, refreshed every interval (default %ld ms): new\n"
		"connections/s, active connections, request (in) and response (out)\n"
		"bytes/s, load-balancer selections/s, ready backends, and denied flows/s\n"
		"toward its backends (from the flow log). Connections and bytes are\n"
		"those of this node's clients; bytes are counted when a connection\n"
		"closes. Sorted by connections/s.\n"
		"\n"
		"  --interval MS     time between refreshes (%ld .. %ld)\n"
		"  --iterations N    stop after N refreshes (default: until interrupted)\n"
		"\n"
		"JSON (-j): one object per refresh and line.\n",
		bin_name, bin_name, TOP_DEFAULT_MS, TOP_MIN_MS, TOP_MAX_MS);
	return 0;
}

static const struct cmd cmds[] = {
	{ "show", do_show },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_top(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "top");
}
