// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle graph [show] [--format text|json|dot]
 *                      [--reporter source|destination|both] [--include-denies]
 *
 * The service graph this node has observed: who connected to whom, through
 * which service, with connection and byte counts, from the L4 connection
 * series of tr_l4_stat (names from tr_wl_info and tr_lb_svcinfo); with
 * --include-denies also the denied flows of the flow log
 * (<run_dir>/flows.jsonl), their service found from the backend they were
 * headed for (tr_lb_be). Aggregation, the reporter rule and the renderings
 * are graphmodel.c's.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/metrics.h>

#include "cli.h"
#include "l4read.h"
#include "flowfilter.h"
#include "graphmodel.h"

#define FLOWS_FILE "flows.jsonl"

int do_graph(int argc, char **argv);

enum graph_format { FMT_TEXT, FMT_JSON, FMT_DOT };

struct graph_opts {
	enum graph_format format;
	bool format_set;
	enum gm_reporter reporter;
	bool denies;
};

struct graph_fds {
	int l4, l4_ends, wl, svc, be;
};

/* "ns/pod" -> canonical "ns/workload", for flow-log names. */
struct pod_name {
	char pod[GM_NAME_LEN];
	char wl[GM_NAME_LEN];
};

struct pod_names {
	struct pod_name *v;
	size_t n, cap;
};

struct l4_ctx {
	struct gm_graph *g;
	const struct graph_fds *f;
	int err;
};

/* What --include-denies found, for the output. */
struct deny_stats {
	char path[4096];
	bool present;
	unsigned long records; /* deny records counted */
	unsigned long malformed;
};

static int parse_opts(int argc, char **argv, struct graph_opts *o)
{
	const char *v;
	int i, r;

	memset(o, 0, sizeof(*o));
	o->reporter = GM_REP_DEFAULT;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--include-denies")) {
			o->denies = true;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--format", &v))) {
			if (r < 0)
				return -1;
			if (!strcmp(v, "text")) {
				o->format = FMT_TEXT;
			} else if (!strcmp(v, "json")) {
				o->format = FMT_JSON;
			} else if (!strcmp(v, "dot")) {
				o->format = FMT_DOT;
			} else {
				p_err("invalid --format '%s' (expected text, json or dot)",
				      v);
				return -1;
			}
			o->format_set = true;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--reporter", &v))) {
			if (r < 0)
				return -1;
			if (gm_reporter_parse(v, &o->reporter)) {
				p_err("invalid --reporter '%s' (expected source, destination or both)",
				      v);
				return -1;
			}
			continue;
		}
		if (a[0] == '-') {
			p_err("unknown option '%s' for graph (valid: --format, --reporter, --include-denies)",
			      a);
			return -1;
		}
		return cli_extra_args(argc - i, argv + i);
	}
	if (json_output && o->format_set && o->format != FMT_JSON) {
		p_err("--format %s cannot be combined with -j",
		      o->format == FMT_DOT ? "dot" : "text");
		return -1;
	}
	if (json_output)
		o->format = FMT_JSON;
	return 0;
}

static void fds_close(struct graph_fds *f)
{
	int *all[] = { &f->l4, &f->l4_ends, &f->wl, &f->svc, &f->be };

	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		if (*all[i] >= 0)
			close(*all[i]);
		*all[i] = -1;
	}
}

static int open_maps(struct graph_fds *f, bool denies)
{
	struct bpf_map_info info = {};

	f->l4 = f->l4_ends = f->wl = f->svc = f->be = -1;
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
	f->wl = cli_map_open(TR_MAP_WL_INFO, NULL);
	if (f->wl < 0)
		return -1;
	f->svc = cli_map_open(TR_MAP_LB_SVCINFO, NULL);
	if (f->svc < 0)
		return -1;
	if (denies) {
		f->be = cli_map_open(TR_MAP_LB_BE, NULL);
		if (f->be < 0)
			return -1;
	}
	return 0;
}

/* Node name of workload id (0 or unknown to tr_wl_info: NULL). */
static const char *wl_name(int fd, __u32 id, char *buf, size_t len)
{
	struct tr_wl_info wl;

	if (!id || bpf_map_lookup_elem(fd, &id, &wl))
		return NULL;
	return gm_wl_name(&wl, buf, len);
}

static const char *svc_name(int fd, __u32 id, char *buf, size_t len)
{
	struct tr_lb_svcinfo info;

	if (!id)
		return NULL;
	if (!svcinfo_lookup(fd, id, &info)) {
		snprintf(buf, len, "svc#%u", id); /* removed since */
		return buf;
	}
	return gm_svc_name(&info, buf, len);
}

/* One contribution to a series (l4read.h); the model adds them up by edge. */
static int on_l4(const struct tr_l4_key *k, const struct tr_l4_val *v, void *ctx)
{
	struct l4_ctx *c = ctx;
	char from[GM_NAME_LEN], to[GM_NAME_LEN], svc[GM_NAME_LEN];
	struct gm_l4 s = {
		.src_id = k->src_workload,
		.dst_id = k->dst_workload,
		.reporter = k->reporter,
		.opened = v->opened,
		.closed = v->closed,
		.sent = v->sent_bytes,
		.received = v->received_bytes,
	};

	s.from = wl_name(c->f->wl, k->src_workload, from, sizeof(from));
	s.to = wl_name(c->f->wl, k->dst_workload, to, sizeof(to));
	s.service = svc_name(c->f->svc, k->svc_id, svc, sizeof(svc));
	return gm_add_l4(c->g, &s);
}

static int read_l4(const struct graph_fds *f, struct gm_graph *g)
{
	struct l4_ctx c = { .g = g, .f = f };
	int err;

	err = l4read(f->l4, f->l4_ends, on_l4, &c);
	if (err) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_L4_STAT,
		      strerror(-err));
		return -1;
	}
	return 0;
}

/* ---- denies -------------------------------------------------------------- */

static int on_pod(const void *key, const void *value, void *ctx)
{
	const struct tr_wl_info *wl = value;
	struct pod_names *p = ctx;
	struct pod_name *d;

	(void)key;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct pod_name *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	d = &p->v[p->n++];
	snprintf(d->pod, sizeof(d->pod), "%.*s/%.*s",
		 (int)strnlen(wl->ns, sizeof(wl->ns)), wl->ns,
		 (int)strnlen(wl->name, sizeof(wl->name)), wl->name);
	gm_wl_name(wl, d->wl, sizeof(d->wl));
	return 0;
}

static int cmp_pod(const void *a, const void *b)
{
	return strcmp(((const struct pod_name *)a)->pod,
		      ((const struct pod_name *)b)->pod);
}

/* A flow-log workload ("ns/pod") as a node name. */
static const char *pod_node(const struct pod_names *p, const char *pod)
{
	struct pod_name k;
	const struct pod_name *hit;

	if (!pod)
		return NULL;
	snprintf(k.pod, sizeof(k.pod), "%s", pod);
	hit = p->n ? bsearch(&k, p->v, p->n, sizeof(k), cmp_pod) : NULL;
	return hit ? hit->wl : pod; /* gone since: its Pod name */
}

struct be_ctx {
	struct gm_backend *v;
	size_t n, cap;
};

static int on_backend(const void *key, const void *value, void *ctx)
{
	const struct tr_lb_backend *be = value;
	struct be_ctx *c = ctx;
	struct gm_backend *d;

	(void)key;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct gm_backend *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
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

static int flow_log_path(const struct tr_meta *meta, char *path, size_t len)
{
	char run_dir[sizeof(meta->run_dir) + 1];
	int n;

	CLI_STRFIELD(run_dir, meta->run_dir);
	if (!*run_dir) {
		path[0] = '\0';
		return 0;
	}
	n = snprintf(path, len, "%s/%s", run_dir, FLOWS_FILE);
	if (n < 0 || (size_t)n >= len) {
		p_err("flow log path too long");
		return -1;
	}
	return 0;
}

static int read_denies(const struct tr_meta *meta, const struct graph_fds *f,
		       struct gm_graph *g, struct deny_stats *st)
{
	struct pod_names pods = {};
	struct be_ctx bes = {};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *in = NULL;
	int ret = -1, err;

	if (flow_log_path(meta, st->path, sizeof(st->path)))
		return -1;
	if (!st->path[0])
		return 0; /* no runtime directory: no flow log */
	in = fopen(st->path, "re");
	if (!in) {
		if (errno == ENOENT)
			return 0;
		p_err("cannot open flow log %s: %s", st->path, strerror(errno));
		return -1;
	}
	st->present = true;
	err = cli_map_walk(f->wl, sizeof(__u32), sizeof(struct tr_wl_info),
			   on_pod, &pods);
	if (err) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_WL_INFO,
		      strerror(-err));
		goto out;
	}
	if (pods.n)
		qsort(pods.v, pods.n, sizeof(*pods.v), cmp_pod);
	err = cli_map_walk(f->be, sizeof(__u32), sizeof(struct tr_lb_backend),
			   on_backend, &bes);
	if (err) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_LB_BE,
		      strerror(-err));
		goto out;
	}
	gm_backends_sort(bes.v, bes.n);

	while ((len = getline(&line, &cap, in)) >= 0) {
		char svc[GM_NAME_LEN];
		struct gm_flow fl;
		struct fj_obj rec;
		__u32 id;
		size_t i;

		err = 0;
		for (i = 0; i < (size_t)len; i++)
			if (!strchr(" \t\r\n", line[i]))
				break;
		if (i == (size_t)len)
			continue;
		if (fj_parse(line, (size_t)len, &rec)) {
			st->malformed++;
			continue;
		}
		if (!flow_rec_valid(&rec)) {
			st->malformed++;
		} else if (gm_flow_deny(&rec, &fl)) {
			id = fl.family ? gm_backend_svc(bes.v, bes.n, fl.family,
							fl.dst_addr, fl.dst_port,
							fl.proto) :
					 0;
			err = gm_add_deny(g, pod_node(&pods, fl.src_workload),
					  pod_node(&pods, fl.dst_workload),
					  svc_name(f->svc, id, svc, sizeof(svc)),
					  1);
			st->records++;
		}
		fj_free(&rec);
		if (err) {
			p_err("out of memory");
			goto out;
		}
	}
	if (ferror(in)) {
		p_err("cannot read flow log %s: %s", st->path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(line);
	free(pods.v);
	free(bes.v);
	fclose(in);
	return ret;
}

/* ---- output ------------------------------------------------------------ */

static void print_flow_log(const struct graph_opts *o,
			   const struct deny_stats *st)
{
	if (!o->denies) {
		print_null(PRINT_JSON, "flow_log", NULL);
		return;
	}
	open_json_object("flow_log");
	if (st->path[0])
		print_string(PRINT_JSON, "path", NULL, st->path);
	else
		print_null(PRINT_JSON, "path", NULL);
	print_bool(PRINT_JSON, "present", NULL, st->present);
	print_uint(PRINT_JSON, "deny_records", NULL, st->records);
	print_uint(PRINT_JSON, "malformed", NULL, st->malformed);
	close_json_object();
}

static void note_denies(const struct graph_opts *o, const struct deny_stats *st)
{
	if (!o->denies)
		return;
	if (!st->present)
		fprintf(stderr, "Note: no flow log at %s: no deny edges\n",
			st->path[0] ? st->path : "(trestled names no runtime directory)");
	if (st->malformed)
		fprintf(stderr, "Note: skipped %lu malformed line%s of %s\n",
			st->malformed, st->malformed == 1 ? "" : "s", st->path);
}

static int do_show(int argc, char **argv)
{
	struct deny_stats st = {};
	struct graph_fds f = { -1, -1, -1, -1 };
	struct graph_opts o;
	struct gm_graph g;
	struct tr_meta meta;
	int ret = -1, err;

	if (parse_opts(argc, argv, &o))
		return -1;
	if (o.format == FMT_JSON && !json_output) {
		/* --format json: the writer in JSON mode, errors as JSON */
		output_discard();
		if (output_init(stdout, true, false)) {
			p_err("cannot set up output: %s", strerror(errno));
			return -1;
		}
		json_output = true;
	}
	gm_init(&g, o.reporter);
	if (cli_pins_open(&meta, true) || open_maps(&f, o.denies) ||
	    read_l4(&f, &g))
		goto out;
	if (o.denies && read_denies(&meta, &f, &g, &st))
		goto out;
	err = gm_finish(&g);
	if (err) {
		p_err("cannot build the graph: %s", strerror(-err));
		goto out;
	}
	note_denies(&o, &st);

	if (o.format == FMT_DOT) {
		if (o.denies && !st.present)
			printf("// no flow log: no deny edges\n");
		if (gm_write_dot(&g, stdout)) {
			p_err("cannot write output: %s", strerror(errno));
			goto out;
		}
		ret = 0;
		goto out;
	}
	open_json_object(NULL);
	print_string(PRINT_JSON, "reporter", NULL, gm_reporter_str(o.reporter));
	gm_print(&g);
	print_flow_log(&o, &st);
	close_json_object();
	ret = 0;
out:
	gm_free(&g);
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
		"Usage: %s graph [ show ] [ OPTIONS ]\n"
		"       %s graph help\n"
		"\n"
		"The service graph this node observed (%s): edges from workload to\n"
		"workload (NS/WORKLOAD, \"unknown\" outside the mesh) with the service\n"
		"connected through, connections opened and active, and bytes.\n"
		"\n"
		"OPTIONS := { --format text|json|dot | --reporter source|destination|both |\n"
		"             --include-denies }\n"
		"  --format F        a table (default), JSON (same as -j), or a Graphviz\n"
		"                    digraph (dot -Tsvg)\n"
		"  --reporter R      whose counts: the client's side (source), the server's\n"
		"                    (destination, no service), or both as separate edges.\n"
		"                    Default: source, and destination for a pair of Pods\n"
		"                    no source series names, so a connection between two\n"
		"                    Pods of this node counts once.\n"
		"  --include-denies  add the denied flows of the flow log\n"
		"                    (<run_dir>/%s), on their own edges when nothing\n"
		"                    connected (dashed red in DOT)\n"
		"\n"
		"Bytes follow Istio: sent = response (server to client), received =\n"
		"request (client to server); they are counted when a connection closes.\n",
		bin_name, bin_name, TR_MAP_L4_STAT, FLOWS_FILE);
	return 0;
}

static const struct cmd cmds[] = {
	{ "show", do_show },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_graph(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "graph");
}
