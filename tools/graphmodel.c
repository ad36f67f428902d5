// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The service graph: series and denies summed into edges (the reporter
 * rule is explained in graphmodel.h), and its table, JSON and DOT forms.
 */
#include "graphmodel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <trestle/metrics.h>

#include "flowfilter.h"
#include "output.h"

int gm_reporter_parse(const char *s, enum gm_reporter *r)
{
	if (!strcmp(s, "source"))
		*r = GM_REP_SOURCE;
	else if (!strcmp(s, "destination"))
		*r = GM_REP_DESTINATION;
	else if (!strcmp(s, "both"))
		*r = GM_REP_BOTH;
	else
		return -EINVAL;
	return 0;
}

const char *gm_reporter_str(enum gm_reporter r)
{
	switch (r) {
	case GM_REP_SOURCE:
		return "source";
	case GM_REP_DESTINATION:
		return "destination";
	case GM_REP_BOTH:
		return "both";
	default:
		return "default";
	}
}

const char *gm_wl_name(const struct tr_wl_info *wl, char *buf, size_t len)
{
	if (!wl) {
		snprintf(buf, len, "%s", GM_UNKNOWN);
		return buf;
	}
	snprintf(buf, len, "%.*s/%.*s", (int)strnlen(wl->ns, sizeof(wl->ns)),
		 wl->ns, (int)strnlen(wl->workload, sizeof(wl->workload)),
		 wl->workload);
	return buf;
}

const char *gm_svc_name(const struct tr_lb_svcinfo *svc, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s/%.*s:%u%s",
		 (int)strnlen(svc->ns, sizeof(svc->ns)), svc->ns,
		 (int)strnlen(svc->name, sizeof(svc->name)), svc->name,
		 svc->port, svc->proto == TR_PROTO_UDP ? "/udp" : "");
	return buf;
}

void gm_init(struct gm_graph *g, enum gm_reporter mode)
{
	memset(g, 0, sizeof(*g));
	g->mode = mode;
}

static void edge_free(struct gm_edge *e)
{
	free(e->from);
	free(e->to);
	free(e->service);
	e->from = e->to = e->service = NULL;
}

void gm_free(struct gm_graph *g)
{
	for (size_t i = 0; i < g->n_in; i++) {
		free((char *)g->in[i].from);
		free((char *)g->in[i].to);
		free((char *)g->in[i].service);
	}
	free(g->in);
	for (size_t i = 0; i < g->n_deny; i++)
		edge_free(&g->deny[i]);
	free(g->deny);
	for (size_t i = 0; i < g->n_edges; i++)
		edge_free(&g->edges[i]);
	free(g->edges);
	for (size_t i = 0; i < g->n_nodes; i++)
		free(g->nodes[i].id);
	free(g->nodes);
	memset(g, 0, sizeof(*g));
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c;
	void *p;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 64;
	p = realloc(*v, c * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

/* strdup() of s, or of dflt when s is NULL; NULL stays NULL without one. */
static int dup_or(const char *s, const char *dflt, char **out)
{
	*out = NULL;
	if (!s)
		s = dflt;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

int gm_add_l4(struct gm_graph *g, const struct gm_l4 *s)
{
	char *from = NULL, *to = NULL, *svc = NULL;
	struct gm_l4 *d;

	if (grow((void **)&g->in, &g->cap_in, g->n_in, sizeof(*g->in)))
		return -ENOMEM;
	if (dup_or(s->from, GM_UNKNOWN, &from) ||
	    dup_or(s->to, GM_UNKNOWN, &to) || dup_or(s->service, NULL, &svc)) {
		free(from);
		free(to);
		return -ENOMEM;
	}
	d = &g->in[g->n_in++];
	*d = *s;
	d->from = from;
	d->to = to;
	d->service = svc;
	return 0;
}

static int edge_set(struct gm_edge *e, const char *from, const char *to,
		    const char *service)
{
	memset(e, 0, sizeof(*e));
	if (dup_or(from, GM_UNKNOWN, &e->from) ||
	    dup_or(to, GM_UNKNOWN, &e->to) ||
	    dup_or(service, NULL, &e->service)) {
		edge_free(e);
		return -ENOMEM;
	}
	return 0;
}

int gm_add_deny(struct gm_graph *g, const char *from, const char *to,
		const char *service, uint64_t n)
{
	struct gm_edge *e;

	if (grow((void **)&g->deny, &g->cap_deny, g->n_deny, sizeof(*g->deny)))
		return -ENOMEM;
	e = &g->deny[g->n_deny];
	if (edge_set(e, from, to, service))
		return -ENOMEM;
	e->denies = n;
	g->n_deny++;
	return 0;
}

uint64_t gm_active(const struct gm_edge *e)
{
	return e->opened > e->closed ? e->opened - e->closed : 0;
}

/* NULL (no service) sorts first. */
static int cmp_str0(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int cmp_triple(const struct gm_edge *x, const struct gm_edge *y)
{
	int d = strcmp(x->from, y->from);

	if (!d)
		d = strcmp(x->to, y->to);
	if (!d)
		d = cmp_str0(x->service, y->service);
	return d;
}

static int cmp_edge_triple(const void *a, const void *b)
{
	return cmp_triple(a, b);
}

static int cmp_edge_full(const void *a, const void *b)
{
	const struct gm_edge *x = a, *y = b;
	int d = cmp_triple(x, y);

	if (d)
		return d;
	return (x->reporters > y->reporters) - (x->reporters < y->reporters);
}

static void edge_add(struct gm_edge *to, const struct gm_edge *e)
{
	to->reporters |= e->reporters;
	to->opened += e->opened;
	to->closed += e->closed;
	to->sent += e->sent;
	to->received += e->received;
	to->denies += e->denies;
}

/* Sort v and sum neighbours that compare equal; returns the new count. */
static size_t merge(struct gm_edge *v, size_t n,
		    int (*cmp)(const void *, const void *))
{
	size_t o = 0;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp);
	for (size_t i = 1; i < n; i++) {
		if (!cmp(&v[o], &v[i])) {
			edge_add(&v[o], &v[i]);
			edge_free(&v[i]);
		} else {
			v[++o] = v[i];
		}
	}
	return o + 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t pair_key(uint32_t src, uint32_t dst)
{
	return (uint64_t)src << 32 | dst;
}

/* Default rule: the (src, dst) workload-id pairs some source series has. */
static int source_pairs(const struct gm_graph *g, uint64_t **out, size_t *n)
{
	uint64_t *v;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	v = malloc((g->n_in ? g->n_in : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_in; i++)
		if (g->in[i].reporter == TR_REPORTER_SOURCE)
			v[k++] = pair_key(g->in[i].src_id, g->in[i].dst_id);
	qsort(v, k, sizeof(*v), cmp_u64);
	*out = v;
	*n = k;
	return 0;
}

static bool use_series(const struct gm_graph *g, const struct gm_l4 *s,
		       const uint64_t *pairs, size_t n_pairs)
{
	uint64_t key;

	switch (g->mode) {
	case GM_REP_SOURCE:
		return s->reporter == TR_REPORTER_SOURCE;
	case GM_REP_DESTINATION:
		return s->reporter == TR_REPORTER_DESTINATION;
	case GM_REP_BOTH:
		return s->reporter == TR_REPORTER_SOURCE ||
		       s->reporter == TR_REPORTER_DESTINATION;
	default:
		if (s->reporter == TR_REPORTER_SOURCE)
			return true;
		if (s->reporter != TR_REPORTER_DESTINATION)
			return false;
		key = pair_key(s->src_id, s->dst_id);
		return !bsearch(&key, pairs, n_pairs, sizeof(key), cmp_u64);
	}
}

/* First edge of v[0..n) (sorted by triple) with e's triple, or NULL. */
static struct gm_edge *find_triple(struct gm_edge *v, size_t n,
				   const struct gm_edge *e)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_triple(&v[mid], e) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !cmp_triple(&v[lo], e) ? &v[lo] : NULL;
}

static int cmp_node(const void *a, const void *b)
{
	const struct gm_node *x = a, *y = b;
	int kx = x->kind == GM_NODE_SERVICE, ky = y->kind == GM_NODE_SERVICE;

	if (kx != ky)
		return kx - ky;
	return strcmp(x->id, y->id);
}

static int build_nodes(struct gm_graph *g)
{
	size_t max = g->n_edges * 3, n = 0, o = 0;
	struct gm_node *v;

	v = calloc(max ? max : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct gm_edge *e = &g->edges[i];
		const char *ends[2] = { e->from, e->to };

		for (int k = 0; k < 2; k++) {
			v[n].id = (char *)ends[k];
			v[n++].kind = strcmp(ends[k], GM_UNKNOWN) ?
					      GM_NODE_WORKLOAD : GM_NODE_UNKNOWN;
		}
		if (e->service) {
			v[n].id = e->service;
			v[n++].kind = GM_NODE_SERVICE;
		}
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_node);
	for (size_t i = 0; i < n; i++) {
		if (o && !cmp_node(&v[o - 1], &v[i]))
			continue;
		v[o] = v[i];
		v[o].id = strdup(v[i].id);
		if (!v[o].id) {
			for (size_t k = 0; k < o; k++)
				free(v[k].id);
			free(v);
			return -ENOMEM;
		}
		o++;
	}
	g->nodes = v;
	g->n_nodes = o;
	return 0;
}

int gm_finish(struct gm_graph *g)
{
	uint64_t *pairs = NULL;
	size_t n_pairs = 0, n_l4;
	int err;

	if (g->finished)
		return 0;
	if (g->mode == GM_REP_DEFAULT && (err = source_pairs(g, &pairs, &n_pairs)))
		return err;

	/* series -> edges */
	for (size_t i = 0; i < g->n_in; i++) {
		const struct gm_l4 *s = &g->in[i];
		struct gm_edge *e;

		if (!use_series(g, s, pairs, n_pairs))
			continue;
		if ((err = grow((void **)&g->edges, &g->cap_edges, g->n_edges,
				sizeof(*g->edges))))
			goto out;
		e = &g->edges[g->n_edges];
		if ((err = edge_set(e, s->from, s->to, s->service)))
			goto out;
		g->n_edges++;
		e->reporters = s->reporter == TR_REPORTER_SOURCE ?
				       GM_R_SOURCE : GM_R_DESTINATION;
		e->opened = s->opened;
		e->closed = s->closed;
		e->sent = s->sent;
		e->received = s->received;
	}
	/* one edge per (from, to, service), per reporter with "both" */
	g->n_edges = merge(g->edges, g->n_edges,
			   g->mode == GM_REP_BOTH ? cmp_edge_full : cmp_edge_triple);

	/* denies: onto the matching edge (source-reported first) or new */
	g->n_deny = merge(g->deny, g->n_deny, cmp_edge_triple);
	n_l4 = g->n_edges;
	for (size_t i = 0; i < g->n_deny; i++) {
		struct gm_edge *d = &g->deny[i];
		struct gm_edge *e = find_triple(g->edges, n_l4, d);

		if (e) {
			e->denies += d->denies;
			edge_free(d);
			continue;
		}
		if ((err = grow((void **)&g->edges, &g->cap_edges, g->n_edges,
				sizeof(*g->edges))))
			goto out;
		g->edges[g->n_edges++] = *d;
		memset(d, 0, sizeof(*d));
	}
	g->n_deny = 0;
	if (g->n_edges)
		qsort(g->edges, g->n_edges, sizeof(*g->edges), cmp_edge_full);
	err = build_nodes(g);
	if (!err)
		g->finished = true;
out:
	free(pairs);
	return err;
}

/* ---- text and JSON ----------------------------------------------------- */

static const char *node_kind_str(enum gm_node_kind k)
{
	switch (k) {
	case GM_NODE_SERVICE:
		return "service";
	case GM_NODE_UNKNOWN:
		return "unknown";
	default:
		return "workload";
	}
}

static const char *reporters_str(unsigned int r)
{
	switch (r & (GM_R_SOURCE | GM_R_DESTINATION)) {
	case GM_R_SOURCE:
		return "source";
	case GM_R_DESTINATION:
		return "destination";
	case GM_R_SOURCE | GM_R_DESTINATION:
		return "source+destination";
	default:
		return "-";
	}
}

static int width(size_t cur, const char *s)
{
	size_t n = strlen(s);

	return (int)(n > cur ? n : cur);
}

static int uwidth(int cur, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);

	return n > cur ? n : cur;
}

enum { C_FROM, C_TO, C_SVC, C_OPENED, C_ACTIVE, C_SENT, C_RECV, C_DENIES,
       C_N };

static const char *const col_head[C_N] = {
	"FROM", "TO", "SERVICE", "OPENED", "ACTIVE", "SENT", "RECEIVED", "DENIES",
};

void gm_print(const struct gm_graph *g)
{
	char fmt[C_N][32];
	int w[C_N];

	open_json_array(PRINT_JSON, "nodes");
	for (size_t i = 0; i < g->n_nodes; i++) {
		open_json_object(NULL);
		print_string(PRINT_JSON, "id", NULL, g->nodes[i].id);
		print_string(PRINT_JSON, "kind", NULL,
			     node_kind_str(g->nodes[i].kind));
		close_json_object();
	}
	close_json_array(PRINT_JSON, NULL);

	for (int c = 0; c < C_N; c++)
		w[c] = (int)strlen(col_head[c]);
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct gm_edge *e = &g->edges[i];

		w[C_FROM] = width((size_t)w[C_FROM], e->from);
		w[C_TO] = width((size_t)w[C_TO], e->to);
		w[C_SVC] = width((size_t)w[C_SVC], e->service ? e->service : "-");
		w[C_OPENED] = uwidth(w[C_OPENED], e->opened);
		w[C_ACTIVE] = uwidth(w[C_ACTIVE], gm_active(e));
		w[C_SENT] = uwidth(w[C_SENT], e->sent);
		w[C_RECV] = uwidth(w[C_RECV], e->received);
		w[C_DENIES] = uwidth(w[C_DENIES], e->denies);
	}
	for (int c = 0; c < C_N; c++)
		snprintf(fmt[c], sizeof(fmt[c]), c <= C_SVC ? "%%-%ds  " : "%%%dllu  ",
			 w[c]);
	if (!g->n_edges) {
		print_fp("No connections observed.\n");
	} else {
		for (int c = 0; c < C_N; c++)
			print_fp(c <= C_SVC ? "%-*s  " : "%*s  ", w[c], col_head[c]);
		print_fp("REPORTER\n");
	}

	open_json_array(PRINT_JSON, "edges");
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct gm_edge *e = &g->edges[i];

		open_json_object(NULL);
		print_string(PRINT_ANY, "from", fmt[C_FROM], e->from);
		print_string(PRINT_ANY, "to", fmt[C_TO], e->to);
		if (e->service) {
			print_string(PRINT_ANY, "service", fmt[C_SVC], e->service);
		} else {
			print_null(PRINT_JSON, "service", NULL);
			print_string(PRINT_FP, NULL, fmt[C_SVC], "-");
		}
		print_uint(PRINT_ANY, "connections_opened", fmt[C_OPENED],
			   e->opened);
		print_uint(PRINT_ANY, "connections_active", fmt[C_ACTIVE],
			   gm_active(e));
		print_uint(PRINT_ANY, "bytes_sent", fmt[C_SENT], e->sent);
		print_uint(PRINT_ANY, "bytes_received", fmt[C_RECV], e->received);
		print_uint(PRINT_ANY, "denies", fmt[C_DENIES], e->denies);
		open_json_array(PRINT_JSON, "reporters");
		if (e->reporters & GM_R_SOURCE)
			print_string(PRINT_JSON, NULL, NULL, "source");
		if (e->reporters & GM_R_DESTINATION)
			print_string(PRINT_JSON, NULL, NULL, "destination");
		close_json_array(PRINT_JSON, NULL);
		print_string(PRINT_FP, NULL, "%s\n", reporters_str(e->reporters));
		close_json_object();
	}
	close_json_array(PRINT_JSON, NULL);
}

/* ---- DOT --------------------------------------------------------------- */

/* A UTF-8 sequence at s: its length, or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

/*
 * The inside of a DOT quoted string. In DOT only \" is an escape of the
 * language, but labels interpret \n, \l, \N, ... and a trailing backslash
 * would swallow the closing quote: every backslash is doubled.
 */
static size_t dot_escape(const char *str, char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t o = 0, n;

#define PUT(ch)                                  \
	do {                                     \
		unsigned char c_ = (unsigned char)(ch); \
		if (o + 1 < len)                 \
			buf[o] = (char)c_;       \
		o++;                             \
	} while (0)
	while (*s) {
		if (*s == '"' || *s == '\\') {
			PUT('\\');
			PUT(*s++);
			continue;
		}
		if (*s < 0x20 || *s == 0x7f) {
			PUT('?');
			s++;
			continue;
		}
		n = utf8_len(s);
		if (!n) {
			PUT('?');
			s++;
			continue;
		}
		while (n--)
			PUT(*s++);
	}
#undef PUT
	if (len)
		buf[o < len ? o : len - 1] = '\0';
	return o;
}

size_t gm_dot_quote(const char *s, char *buf, size_t len)
{
	size_t n;

	if (len < 2) {
		n = dot_escape(s, NULL, 0);
		if (len)
			buf[0] = '\0';
		return n + 2;
	}
	buf[0] = '"';
	n = dot_escape(s, buf + 1, len - 1);
	if (n + 2 < len) {
		buf[n + 1] = '"';
		buf[n + 2] = '\0';
	} else {
		buf[len - 1] = '\0';
	}
	return n + 2;
}

static void dot_put(FILE *f, const char *s)
{
	size_t n = dot_escape(s, NULL, 0);
	char *b = malloc(n + 1);

	if (!b) {
		fputs("?", f);
		return;
	}
	dot_escape(s, b, n + 1);
	fputs(b, f);
	free(b);
}

static void dot_id(FILE *f, const char *s)
{
	fputc('"', f);
	dot_put(f, s);
	fputc('"', f);
}

int gm_write_dot(const struct gm_graph *g, FILE *f)
{
	fputs("digraph \"trestle\" {\n"
	      "\tgraph [rankdir=LR];\n"
	      "\tnode [shape=box, fontname=\"sans-serif\"];\n"
	      "\tedge [fontname=\"sans-serif\", fontsize=10];\n",
	      f);
	for (size_t i = 0; i < g->n_nodes; i++) {
		const struct gm_node *n = &g->nodes[i];

		if (n->kind == GM_NODE_SERVICE)
			continue; /* services label the edges */
		fputc('\t', f);
		dot_id(f, n->id);
		if (n->kind == GM_NODE_UNKNOWN)
			fputs(" [style=dashed]", f);
		fputs(";\n", f);
	}
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct gm_edge *e = &g->edges[i];

		fputc('\t', f);
		dot_id(f, e->from);
		fputs(" -> ", f);
		dot_id(f, e->to);
		fputs(" [label=\"", f);
		if (e->service) {
			dot_put(f, e->service);
			fputs("\\n", f);
		}
		fprintf(f, "opened %llu, active %llu\\nsent %llu B, received %llu B",
			(unsigned long long)e->opened,
			(unsigned long long)gm_active(e),
			(unsigned long long)e->sent,
			(unsigned long long)e->received);
		if (e->denies)
			fprintf(f, "\\ndenies %llu\", style=dashed, color=red, fontcolor=red",
				(unsigned long long)e->denies);
		else
			fputc('"', f);
		fputs("];\n", f);
	}
	fputs("}\n", f);
	return ferror(f) ? -EIO : 0;
}

/* ---- backends and flow records ----------------------------------------- */

static int cmp_be_addr(const struct gm_backend *x, const struct gm_backend *y)
{
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

static int cmp_be(const void *a, const void *b)
{
	const struct gm_backend *x = a, *y = b;
	int d = cmp_be_addr(x, y);

	if (d)
		return d;
	return (x->svc_id > y->svc_id) - (x->svc_id < y->svc_id);
}

void gm_backends_sort(struct gm_backend *v, size_t n)
{
	if (n)
		qsort(v, n, sizeof(*v), cmp_be);
}

uint32_t gm_backend_svc(const struct gm_backend *v, size_t n, uint8_t family,
			const __be32 addr[4], uint16_t port, uint8_t proto)
{
	struct gm_backend k = { .family = family, .proto = proto, .port = port };
	size_t lo = 0, hi = n;
	uint32_t svc = 0;

	if (family == TR_AF_INET)
		k.addr[0] = addr[0];
	else
		memcpy(k.addr, addr, sizeof(k.addr));
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_be_addr(&v[mid], &k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && !cmp_be_addr(&v[lo], &k); lo++) {
		if (svc && v[lo].svc_id != svc)
			return 0; /* several services: no answer */
		svc = v[lo].svc_id;
	}
	return svc;
}

bool gm_flow_deny(const struct fj_obj *rec, struct gm_flow *f)
{
	const struct fj_obj *src, *dst;
	const char *verdict, *addr, *proto;
	long long port;

	memset(f, 0, sizeof(*f));
	if (!flow_rec_valid(rec))
		return false;
	verdict = fj_str(rec, "verdict");
	if (!verdict || strcmp(verdict, "deny"))
		return false;
	src = fj_sub(rec, "src");
	dst = fj_sub(rec, "dst");
	f->src_workload = fj_str(src, "workload");
	f->dst_workload = fj_str(dst, "workload");
	proto = fj_str(rec, "proto");
	if (proto && !strcmp(proto, "tcp"))
		f->proto = TR_PROTO_TCP;
	else if (proto && !strcmp(proto, "udp"))
		f->proto = TR_PROTO_UDP;
	if (fj_int(dst, "port", &port) && port >= 0 && port <= 65535)
		f->dst_port = (uint16_t)port;
	addr = fj_str(dst, "address");
	if (addr && inet_pton(AF_INET, addr, f->dst_addr) == 1)
		f->family = TR_AF_INET;
	else if (addr && inet_pton(AF_INET6, addr, f->dst_addr) == 1)
		f->family = TR_AF_INET6;
	return true;
}
