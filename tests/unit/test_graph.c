// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The service graph (tools/graphmodel.c): the reporter rule (a connection
 * between two local Pods counts once), unknown ends, services, workloads
 * summed over Pods, denies on their edges; the table and JSON through the
 * writer; DOT quoting, and the DOT output checked by a parser of the DOT
 * grammar (the subset without subgraphs and HTML strings) written here, so
 * no Graphviz is needed.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <trestle/metrics.h>

#include "../../tools/flowfilter.h"
#include "../../tools/graphmodel.h"
#include "../../tools/output.h"

#define CLIENT "default/client"
#define WEB "default/web"
#define SVC "default/web:80"

static void add(struct gm_graph *g, uint32_t src, uint32_t dst, uint8_t rep,
		const char *from, const char *to, const char *svc,
		uint64_t opened, uint64_t closed, uint64_t sent, uint64_t recv)
{
	struct gm_l4 s = {
		.src_id = src, .dst_id = dst, .reporter = rep,
		.from = from, .to = to, .service = svc,
		.opened = opened, .closed = closed,
		.sent = sent, .received = recv,
	};

	assert_int_equal(gm_add_l4(g, &s), 0);
}

static const struct gm_edge *edge(const struct gm_graph *g, const char *from,
				  const char *to, const char *svc)
{
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct gm_edge *e = &g->edges[i];

		if (!strcmp(e->from, from) && !strcmp(e->to, to) &&
		    ((!svc && !e->service) ||
		     (svc && e->service && !strcmp(svc, e->service))))
			return e;
	}
	return NULL;
}

static const struct gm_node *node(const struct gm_graph *g, const char *id)
{
	for (size_t i = 0; i < g->n_nodes; i++)
		if (!strcmp(g->nodes[i].id, id))
			return &g->nodes[i];
	return NULL;
}

/*
 * A node n1 with client (Pod id 1), web (id 2) and a host process (0);
 * client2 (id 3) is on another node and reaches web directly:
 *   client -> web through the service: source and destination series;
 *   client2 -> web: destination only (its source series is on its node);
 *   outside (0) -> web: destination only;
 *   client -> outside (0): source only, no service.
 */
static void fixture(struct gm_graph *g, enum gm_reporter mode)
{
	gm_init(g, mode);
	add(g, 1, 2, TR_REPORTER_SOURCE, CLIENT, WEB, SVC, 10, 8, 1000, 100);
	add(g, 1, 2, TR_REPORTER_DESTINATION, CLIENT, WEB, NULL, 10, 8, 1000, 100);
	add(g, 3, 2, TR_REPORTER_DESTINATION, "default/client2", WEB, NULL, 4, 4, 40, 4);
	add(g, 0, 2, TR_REPORTER_DESTINATION, NULL, WEB, NULL, 2, 1, 20, 2);
	add(g, 1, 0, TR_REPORTER_SOURCE, CLIENT, NULL, NULL, 1, 0, 0, 0);
	assert_int_equal(gm_finish(g), 0);
}

static void test_reporter_parse(void **state)
{
	enum gm_reporter r;

	(void)state;
	assert_int_equal(gm_reporter_parse("source", &r), 0);
	assert_int_equal(r, GM_REP_SOURCE);
	assert_int_equal(gm_reporter_parse("destination", &r), 0);
	assert_int_equal(r, GM_REP_DESTINATION);
	assert_int_equal(gm_reporter_parse("both", &r), 0);
	assert_int_equal(r, GM_REP_BOTH);
	assert_int_not_equal(gm_reporter_parse("src", &r), 0);
	assert_int_not_equal(gm_reporter_parse("", &r), 0);
}

/* The default: each connection once, source preferred. */
static void test_default_rule(void **state)
{
	const struct gm_edge *e;
	struct gm_graph g;

	(void)state;
	fixture(&g, GM_REP_DEFAULT);
	assert_int_equal(g.n_edges, 4);

	e = edge(&g, CLIENT, WEB, SVC);
	assert_non_null(e);
	assert_int_equal(e->opened, 10); /* not 20: the destination copy dropped */
	assert_int_equal(gm_active(e), 2);
	assert_int_equal(e->sent, 1000);
	assert_int_equal(e->received, 100);
	assert_int_equal(e->reporters, GM_R_SOURCE);
	assert_null(edge(&g, CLIENT, WEB, NULL));

	e = edge(&g, "default/client2", WEB, NULL);
	assert_non_null(e); /* only the destination saw it */
	assert_int_equal(e->opened, 4);
	assert_int_equal(gm_active(e), 0);
	assert_int_equal(e->reporters, GM_R_DESTINATION);

	e = edge(&g, GM_UNKNOWN, WEB, NULL);
	assert_non_null(e);
	assert_int_equal(e->opened, 2);
	assert_int_equal(gm_active(e), 1);

	e = edge(&g, CLIENT, GM_UNKNOWN, NULL);
	assert_non_null(e);
	assert_int_equal(e->opened, 1);
	gm_free(&g);
}

static void test_reporter_modes(void **state)
{
	struct gm_graph g;

	(void)state;
	fixture(&g, GM_REP_SOURCE);
	assert_int_equal(g.n_edges, 2);
	assert_non_null(edge(&g, CLIENT, WEB, SVC));
	assert_non_null(edge(&g, CLIENT, GM_UNKNOWN, NULL));
	gm_free(&g);

	fixture(&g, GM_REP_DESTINATION);
	assert_int_equal(g.n_edges, 3);
	assert_null(edge(&g, CLIENT, WEB, SVC)); /* the server's side has none */
	assert_int_equal(edge(&g, CLIENT, WEB, NULL)->opened, 10);
	assert_null(edge(&g, CLIENT, GM_UNKNOWN, NULL));
	gm_free(&g);

	fixture(&g, GM_REP_BOTH);
	assert_int_equal(g.n_edges, 5);
	assert_int_equal(edge(&g, CLIENT, WEB, SVC)->reporters, GM_R_SOURCE);
	assert_int_equal(edge(&g, CLIENT, WEB, NULL)->reporters, GM_R_DESTINATION);
	gm_free(&g);
}

/* Both series of the same triple, kept apart with "both", summed without. */
static void test_both_same_triple(void **state)
{
	struct gm_graph g;

	(void)state;
	gm_init(&g, GM_REP_BOTH);
	add(&g, 1, 2, TR_REPORTER_SOURCE, CLIENT, WEB, NULL, 3, 0, 0, 0);
	add(&g, 1, 2, TR_REPORTER_DESTINATION, CLIENT, WEB, NULL, 3, 0, 0, 0);
	assert_int_equal(gm_finish(&g), 0);
	assert_int_equal(g.n_edges, 2);
	assert_int_equal(g.edges[0].reporters, GM_R_SOURCE);
	assert_int_equal(g.edges[1].reporters, GM_R_DESTINATION);
	gm_free(&g);

	/* default: a Pod pair without source series on this node, but another
	 * Pod of the same workload with one: both count, once each */
	gm_init(&g, GM_REP_DEFAULT);
	add(&g, 1, 2, TR_REPORTER_SOURCE, CLIENT, WEB, NULL, 3, 0, 0, 0);
	add(&g, 4, 2, TR_REPORTER_DESTINATION, CLIENT, WEB, NULL, 5, 0, 0, 0);
	assert_int_equal(gm_finish(&g), 0);
	assert_int_equal(g.n_edges, 1);
	assert_int_equal(g.edges[0].opened, 8);
	assert_int_equal(g.edges[0].reporters, GM_R_SOURCE | GM_R_DESTINATION);
	gm_free(&g);
}

/* Pods of one workload are one node; series of a pair are summed. */
static void test_workload_sum(void **state)
{
	struct gm_graph g;

	(void)state;
	gm_init(&g, GM_REP_DEFAULT);
	add(&g, 1, 2, TR_REPORTER_SOURCE, CLIENT, WEB, SVC, 1, 1, 10, 1);
	add(&g, 5, 2, TR_REPORTER_SOURCE, CLIENT, WEB, SVC, 2, 0, 20, 2);
	add(&g, 5, 6, TR_REPORTER_SOURCE, CLIENT, WEB, SVC, 3, 1, 30, 3);
	/* security differs: another series of the same pair */
	add(&g, 5, 6, TR_REPORTER_SOURCE, CLIENT, WEB, SVC, 4, 0, 40, 4);
	add(&g, 5, 6, TR_REPORTER_SOURCE, CLIENT, WEB, "default/web:53/udp", 0, 0, 0, 0);
	assert_int_equal(gm_finish(&g), 0);
	assert_int_equal(g.n_edges, 2);
	assert_int_equal(edge(&g, CLIENT, WEB, SVC)->opened, 10);
	assert_int_equal(gm_active(edge(&g, CLIENT, WEB, SVC)), 8);
	assert_int_equal(edge(&g, CLIENT, WEB, SVC)->sent, 100);

	/* nodes: workloads by name, then services */
	assert_int_equal(g.n_nodes, 4);
	assert_string_equal(g.nodes[0].id, CLIENT);
	assert_int_equal(g.nodes[0].kind, GM_NODE_WORKLOAD);
	assert_string_equal(g.nodes[1].id, WEB);
	assert_string_equal(g.nodes[2].id, "default/web:53/udp");
	assert_int_equal(g.nodes[2].kind, GM_NODE_SERVICE);
	assert_string_equal(g.nodes[3].id, SVC);
	gm_free(&g);
}

static void test_unknown_nodes(void **state)
{
	struct gm_graph g;

	(void)state;
	fixture(&g, GM_REP_DEFAULT);
	assert_non_null(node(&g, GM_UNKNOWN));
	assert_int_equal(node(&g, GM_UNKNOWN)->kind, GM_NODE_UNKNOWN);
	assert_int_equal(node(&g, CLIENT)->kind, GM_NODE_WORKLOAD);
	assert_int_equal(node(&g, SVC)->kind, GM_NODE_SERVICE);
	assert_int_equal(g.n_nodes, 5); /* client, client2, unknown, web, svc */
	gm_free(&g);
}

static void test_denies(void **state)
{
	const struct gm_edge *e;
	struct gm_graph g;

	(void)state;
	gm_init(&g, GM_REP_BOTH);
	add(&g, 1, 2, TR_REPORTER_SOURCE, CLIENT, WEB, SVC, 5, 5, 0, 0);
	add(&g, 1, 2, TR_REPORTER_DESTINATION, CLIENT, WEB, SVC, 5, 5, 0, 0);
	assert_int_equal(gm_add_deny(&g, CLIENT, WEB, SVC, 2), 0);
	assert_int_equal(gm_add_deny(&g, CLIENT, WEB, SVC, 1), 0);
	assert_int_equal(gm_add_deny(&g, "default/evil", WEB, SVC, 7), 0);
	assert_int_equal(gm_add_deny(&g, NULL, WEB, NULL, 1), 0);
	assert_int_equal(gm_finish(&g), 0);
	assert_int_equal(g.n_edges, 4);
	/* onto the source-reported edge only */
	assert_int_equal(g.edges[0].denies + g.edges[1].denies, 3);
	e = edge(&g, CLIENT, WEB, SVC);
	assert_int_equal(e->reporters, GM_R_SOURCE);
	assert_int_equal(e->denies, 3);
	e = edge(&g, "default/evil", WEB, SVC);
	assert_non_null(e);
	assert_int_equal(e->denies, 7);
	assert_int_equal(e->opened, 0);
	assert_int_equal(e->reporters, 0);
	assert_int_equal(edge(&g, GM_UNKNOWN, WEB, NULL)->denies, 1);
	assert_non_null(node(&g, "default/evil"));
	gm_free(&g);
}

static void test_names(void **state)
{
	struct tr_lb_svcinfo svc = { .ns = "shop", .name = "web", .port = 80,
				     .proto = TR_PROTO_TCP };
	struct tr_wl_info wl = { .ns = "shop", .name = "web-7d4f-x", .workload = "web" };
	char buf[GM_NAME_LEN];

	(void)state;
	assert_string_equal(gm_svc_name(&svc, buf, sizeof(buf)), "shop/web:80");
	svc.proto = TR_PROTO_UDP;
	svc.port = 53;
	assert_string_equal(gm_svc_name(&svc, buf, sizeof(buf)), "shop/web:53/udp");
	assert_string_equal(gm_wl_name(&wl, buf, sizeof(buf)), "shop/web");
	assert_string_equal(gm_wl_name(NULL, buf, sizeof(buf)), GM_UNKNOWN);
	/* full-length fields without a NUL */
	memset(wl.ns, 'n', sizeof(wl.ns));
	memset(wl.workload, 'w', sizeof(wl.workload));
	assert_int_equal(strlen(gm_wl_name(&wl, buf, sizeof(buf))),
			 sizeof(wl.ns) + 1 + sizeof(wl.workload));
}

/* ---- writer output ------------------------------------------------------- */

static char *render(const struct gm_graph *g, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(output_init(f, json, false), 0);
	open_json_object(NULL);
	gm_print(g);
	close_json_object();
	assert_int_equal(output_finish(), 0);
	fclose(f);
	return buf;
}

static void test_json(void **state)
{
	struct gm_graph g;
	char *s;

	(void)state;
	fixture(&g, GM_REP_DEFAULT);
	s = render(&g, true);
	assert_non_null(strstr(s, "\"nodes\":[{\"id\":\"default/client\",\"kind\":\"workload\"},"));
	assert_non_null(strstr(s, "{\"id\":\"unknown\",\"kind\":\"unknown\"}"));
	assert_non_null(strstr(s, "{\"id\":\"default/web:80\",\"kind\":\"service\"}]"));
	assert_non_null(strstr(s,
		"{\"from\":\"default/client\",\"to\":\"default/web\",\"service\":\"default/web:80\","
		"\"connections_opened\":10,\"connections_active\":2,\"bytes_sent\":1000,"
		"\"bytes_received\":100,\"denies\":0,\"reporters\":[\"source\"]}"));
	assert_non_null(strstr(s,
		"{\"from\":\"default/client2\",\"to\":\"default/web\",\"service\":null,"
		"\"connections_opened\":4,\"connections_active\":0,"));
	free(s);
	gm_free(&g);
}

static void test_text(void **state)
{
	struct gm_graph g;
	char *s, *line;

	(void)state;
	fixture(&g, GM_REP_DEFAULT);
	s = render(&g, false);
	assert_true(!strncmp(s, "FROM", 4));
	assert_non_null(strstr(s, "RECEIVED"));
	line = strstr(s, "\ndefault/client ");
	assert_non_null(line);
	/* the client -> web row: service, 10 opened, 2 active, 1000, 100, 0 */
	line = strstr(s, "default/web:80");
	assert_non_null(line);
	assert_non_null(strstr(line, " 10 "));
	assert_non_null(strstr(line, " 1000 "));
	assert_non_null(strstr(s, " source\n"));
	assert_non_null(strstr(s, " destination\n"));
	free(s);
	gm_free(&g);

	gm_init(&g, GM_REP_DEFAULT);
	assert_int_equal(gm_finish(&g), 0);
	s = render(&g, false);
	assert_string_equal(s, "No connections observed.\n");
	free(s);
	s = render(&g, true);
	assert_string_equal(s, "{\"nodes\":[],\"edges\":[]}\n");
	free(s);
	gm_free(&g);
}

/* ---- DOT ----------------------------------------------------------------- */

static void test_dot_quote(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(gm_dot_quote("plain", buf, sizeof(buf)), 7);
	assert_string_equal(buf, "\"plain\"");
	gm_dot_quote("a\"b", buf, sizeof(buf));
	assert_string_equal(buf, "\"a\\\"b\"");
	gm_dot_quote("trailing\\", buf, sizeof(buf));
	assert_string_equal(buf, "\"trailing\\\\\"");
	gm_dot_quote("nl\nx\\n", buf, sizeof(buf));
	assert_string_equal(buf, "\"nl?x\\\\n\"");
	gm_dot_quote("caf\xc3\xa9 \xff\xc3", buf, sizeof(buf));
	assert_string_equal(buf, "\"caf\xc3\xa9 ??\"");
	gm_dot_quote("", buf, sizeof(buf));
	assert_string_equal(buf, "\"\"");
	/* too small: truncated, still a C string, full length returned */
	assert_int_equal(gm_dot_quote("abcdef", buf, 4), 8);
	assert_int_equal(strlen(buf), 3);
	assert_int_equal(gm_dot_quote("ab", NULL, 0), 4);
}

/* A lexer and parser for DOT without subgraphs, ports and HTML strings. */
enum tok { T_EOF, T_ID, T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET,
	   T_SEMI, T_COMMA, T_EQ, T_EDGEOP, T_BAD };

struct lex {
	const char *p;
	enum tok t;
	char id[512];
	bool quoted;
};

static void next(struct lex *l)
{
	size_t n = 0;

	for (;;) {
		while (isspace((unsigned char)*l->p))
			l->p++;
		if (l->p[0] == '/' && l->p[1] == '/') {
			while (*l->p && *l->p != '\n')
				l->p++;
			continue;
		}
		break;
	}
	l->quoted = false;
	l->id[0] = '\0';
	switch (*l->p) {
	case '\0':
		l->t = T_EOF;
		return;
	case '{': l->t = T_LBRACE; l->p++; return;
	case '}': l->t = T_RBRACE; l->p++; return;
	case '[': l->t = T_LBRACKET; l->p++; return;
	case ']': l->t = T_RBRACKET; l->p++; return;
	case ';': l->t = T_SEMI; l->p++; return;
	case ',': l->t = T_COMMA; l->p++; return;
	case '=': l->t = T_EQ; l->p++; return;
	case '-':
		if (l->p[1] == '>') {
			l->t = T_EDGEOP;
			l->p += 2;
			return;
		}
		break;
	case '"':
		l->p++;
		l->quoted = true;
		while (*l->p && *l->p != '"') {
			if (*l->p == '\\' && l->p[1] == '"') {
				l->id[n++] = '"';
				l->p += 2;
			} else if (*l->p == '\\' && l->p[1]) {
				l->id[n++] = *l->p++; /* kept: DOT's only escape is \" */
				l->id[n++] = *l->p++;
			} else {
				l->id[n++] = *l->p++;
			}
			if (n >= sizeof(l->id) - 2) {
				l->t = T_BAD;
				return;
			}
		}
		if (*l->p != '"') {
			l->t = T_BAD;
			return;
		}
		l->p++;
		l->id[n] = '\0';
		l->t = T_ID;
		return;
	}
	if (isalpha((unsigned char)*l->p) || *l->p == '_' ||
	    (unsigned char)*l->p >= 0x80) {
		while ((isalnum((unsigned char)*l->p) || *l->p == '_' ||
			(unsigned char)*l->p >= 0x80) && n < sizeof(l->id) - 1)
			l->id[n++] = *l->p++;
		l->id[n] = '\0';
		l->t = T_ID;
		return;
	}
	if (isdigit((unsigned char)*l->p) || *l->p == '.' || *l->p == '-') {
		if (*l->p == '-')
			l->id[n++] = *l->p++;
		while ((isdigit((unsigned char)*l->p) || *l->p == '.') &&
		       n < sizeof(l->id) - 1)
			l->id[n++] = *l->p++;
		l->id[n] = '\0';
		l->t = n && strcmp(l->id, "-") ? T_ID : T_BAD;
		return;
	}
	l->t = T_BAD;
}

static bool kw(const struct lex *l, const char *k)
{
	return l->t == T_ID && !l->quoted && !strcasecmp(l->id, k);
}

struct dot_result {
	size_t nodes, edges, attrs;
	size_t dashed_red; /* edges with style=dashed and color=red */
	char first_from[512], first_to[512];
};

/* attr_list: ( '[' [ ID '=' ID [';'|','] ]* ']' )+ ; counts style/color. */
static bool attr_list(struct lex *l, bool *dashed, bool *red)
{
	if (l->t != T_LBRACKET)
		return false;
	while (l->t == T_LBRACKET) {
		next(l);
		while (l->t == T_ID) {
			char key[512];

			snprintf(key, sizeof(key), "%s", l->id);
			next(l);
			if (l->t != T_EQ)
				return false;
			next(l);
			if (l->t != T_ID)
				return false;
			if (!strcmp(key, "style") && !strcmp(l->id, "dashed"))
				*dashed = true;
			if (!strcmp(key, "color") && !strcmp(l->id, "red"))
				*red = true;
			next(l);
			if (l->t == T_SEMI || l->t == T_COMMA)
				next(l);
		}
		if (l->t != T_RBRACKET)
			return false;
		next(l);
	}
	return true;
}

static bool dot_parse(const char *text, struct dot_result *r)
{
	struct lex l = { .p = text };

	memset(r, 0, sizeof(*r));
	next(&l);
	if (kw(&l, "strict"))
		next(&l);
	if (!kw(&l, "digraph"))
		return false;
	next(&l);
	if (l.t == T_ID)
		next(&l);
	if (l.t != T_LBRACE)
		return false;
	next(&l);
	while (l.t != T_RBRACE) {
		bool dashed = false, red = false;
		char first[512];

		if (l.t != T_ID)
			return false;
		if (kw(&l, "graph") || kw(&l, "node") || kw(&l, "edge")) {
			next(&l);
			if (!attr_list(&l, &dashed, &red))
				return false;
			r->attrs++;
		} else if (kw(&l, "subgraph") || kw(&l, "digraph") ||
			   kw(&l, "strict")) {
			return false; /* not produced, not handled */
		} else {
			snprintf(first, sizeof(first), "%s", l.id);
			next(&l);
			if (l.t == T_EQ) {
				next(&l);
				if (l.t != T_ID)
					return false;
				next(&l);
			} else if (l.t == T_EDGEOP) {
				while (l.t == T_EDGEOP) {
					next(&l);
					if (l.t != T_ID || kw(&l, "node") ||
					    kw(&l, "edge") || kw(&l, "graph"))
						return false;
					if (!r->edges) {
						snprintf(r->first_from,
							 sizeof(r->first_from),
							 "%s", first);
						snprintf(r->first_to,
							 sizeof(r->first_to),
							 "%s", l.id);
					}
					next(&l);
				}
				if (l.t == T_LBRACKET &&
				    !attr_list(&l, &dashed, &red))
					return false;
				r->edges++;
				if (dashed && red)
					r->dashed_red++;
			} else {
				if (l.t == T_LBRACKET &&
				    !attr_list(&l, &dashed, &red))
					return false;
				r->nodes++;
			}
		}
		if (l.t == T_SEMI)
			next(&l);
	}
	next(&l);
	return l.t == T_EOF;
}

static char *dot_of(const struct gm_graph *g)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(gm_write_dot(g, f), 0);
	fclose(f);
	return buf;
}

/* The checker itself must reject what Graphviz rejects. */
static void test_dot_checker(void **state)
{
	struct dot_result r;

	(void)state;
	assert_true(dot_parse("digraph { a -> \"b c\" [label=\"x\\\"y\", color=red]; }", &r));
	assert_int_equal(r.edges, 1);
	assert_string_equal(r.first_to, "b c");
	assert_false(dot_parse("digraph { \"a\"b\" -> c; }", &r)); /* bad quote */
	assert_false(dot_parse("digraph { a -> b [label=\"x\\\"]; }", &r));
	assert_false(dot_parse("digraph { a -> b; ", &r));
	assert_false(dot_parse("digraph { a -> b; } }", &r));
	assert_false(dot_parse("digraph { default/web -> b; }", &r));
	assert_false(dot_parse("graph { a -> b; }", &r));
	assert_false(dot_parse("digraph { a -> [x=y]; }", &r));
}

static void test_dot_valid(void **state)
{
	static const char *const hostile[] = {
		"ns/we\"ird", "ns/back\\", "ns/new\nline", "ns/br{ace}",
		"ns/-> ;[x=y]", "ns/\xe2\x82\xac", "ns/bad\xff",
	};
	struct dot_result r;
	struct gm_graph g;
	char want[512];
	char *s;

	(void)state;
	fixture(&g, GM_REP_DEFAULT);
	s = dot_of(&g);
	assert_true(dot_parse(s, &r));
	assert_int_equal(r.edges, g.n_edges);
	assert_int_equal(r.nodes, 4); /* workloads and unknown, not services */
	assert_int_equal(r.dashed_red, 0);
	assert_non_null(strstr(s, "\"default/client\" -> \"default/web\" "
				  "[label=\"default/web:80\\nopened 10, active 2\\n"
				  "sent 1000 B, received 100 B\"];\n"));
	assert_non_null(strstr(s, "\t\"unknown\" [style=dashed];\n"));
	free(s);
	gm_free(&g);

	gm_init(&g, GM_REP_DEFAULT);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		add(&g, (uint32_t)i + 1, 99, TR_REPORTER_SOURCE, hostile[i], WEB,
		    hostile[(i + 1) % 7], 1, 0, 0, 0);
		assert_int_equal(gm_add_deny(&g, WEB, hostile[i], NULL, 2), 0);
	}
	assert_int_equal(gm_finish(&g), 0);
	s = dot_of(&g);
	assert_true(dot_parse(s, &r));
	assert_int_equal(r.edges, 14);
	assert_int_equal(r.dashed_red, 7);
	/* the first edge's ends, as the lexer reads them back */
	gm_dot_quote(g.edges[0].from, want, sizeof(want));
	want[strlen(want) - 1] = '\0';
	{
		/* undo \" like the lexer; other escapes stay */
		char *w = want + 1, *o = want + 1;

		while (*w) {
			if (w[0] == '\\' && w[1] == '"')
				w++;
			else if (w[0] == '\\' && w[1])
				*o++ = *w++;
			*o++ = *w++;
		}
		*o = '\0';
	}
	assert_string_equal(r.first_from, want + 1);
	assert_null(strchr(s, '\xff'));
	/* every line but the braces is one statement ending in ';' */
	for (char *p = s; *p;) {
		char *nl = strchr(p, '\n');

		assert_non_null(nl);
		if (strncmp(p, "digraph ", 8) && strncmp(p, "}", 1))
			assert_int_equal(nl[-1], ';');
		p = nl + 1;
	}
	free(s);
	gm_free(&g);
}

/* ---- backends and flow records ------------------------------------------- */

static struct gm_backend be4(const char *a, uint16_t port, uint32_t svc)
{
	struct gm_backend b = { .family = TR_AF_INET, .proto = TR_PROTO_TCP,
				.port = port, .svc_id = svc };

	assert_int_equal(inet_pton(AF_INET, a, b.addr), 1);
	return b;
}

static void test_backend_svc(void **state)
{
	struct gm_backend v[5];
	__be32 a[4] = {};

	(void)state;
	v[0] = be4("10.0.0.2", 8080, 7);
	v[1] = be4("10.0.0.1", 8080, 5);
	v[2] = be4("10.0.0.1", 8080, 5); /* same service twice (two families' slices) */
	v[3] = be4("10.0.0.3", 8080, 5);
	v[4] = be4("10.0.0.3", 8080, 6); /* shared by two services */
	gm_backends_sort(v, 5);
	inet_pton(AF_INET, "10.0.0.1", a);
	assert_int_equal(gm_backend_svc(v, 5, TR_AF_INET, a, 8080, TR_PROTO_TCP), 5);
	assert_int_equal(gm_backend_svc(v, 5, TR_AF_INET, a, 8081, TR_PROTO_TCP), 0);
	assert_int_equal(gm_backend_svc(v, 5, TR_AF_INET, a, 8080, TR_PROTO_UDP), 0);
	a[1] = 0xdeadbeef; /* beyond IPv4: ignored */
	assert_int_equal(gm_backend_svc(v, 5, TR_AF_INET, a, 8080, TR_PROTO_TCP), 5);
	inet_pton(AF_INET, "10.0.0.2", a);
	assert_int_equal(gm_backend_svc(v, 5, TR_AF_INET, a, 8080, TR_PROTO_TCP), 7);
	inet_pton(AF_INET, "10.0.0.3", a);
	assert_int_equal(gm_backend_svc(v, 5, TR_AF_INET, a, 8080, TR_PROTO_TCP), 0);
	assert_int_equal(gm_backend_svc(NULL, 0, TR_AF_INET, a, 8080, TR_PROTO_TCP), 0);
}

static void test_flow_deny(void **state)
{
	static const char deny[] =
		"{\"time\":\"2026-11-26T10:00:00.1Z\",\"verdict\":\"deny\",\"reason\":\"policy_deny\","
		"\"hook\":\"connect\",\"proto\":\"tcp\","
		"\"src\":{\"address\":\"10.244.1.2\",\"port\":0,\"workload\":\"default/client-1\",\"identity\":null},"
		"\"dst\":{\"address\":\"fd00::10\",\"port\":8080,\"workload\":null,\"identity\":null},"
		"\"policy\":null,\"rule\":null,\"default\":\"deny\",\"audit_policy\":null,\"audit_rule\":null}";
	static const char allow[] =
		"{\"time\":\"2026-11-26T10:00:00.1Z\",\"verdict\":\"allow\",\"proto\":\"udp\","
		"\"src\":{\"address\":null,\"port\":0,\"workload\":null,\"identity\":null},"
		"\"dst\":{\"address\":\"10.0.0.1\",\"port\":53,\"workload\":null,\"identity\":null}}";
	struct fj_obj rec;
	struct gm_flow f;
	__be32 want[4];

	(void)state;
	assert_int_equal(fj_parse(deny, strlen(deny), &rec), 0);
	assert_true(gm_flow_deny(&rec, &f));
	assert_string_equal(f.src_workload, "default/client-1");
	assert_null(f.dst_workload);
	assert_int_equal(f.family, TR_AF_INET6);
	assert_int_equal(f.proto, TR_PROTO_TCP);
	assert_int_equal(f.dst_port, 8080);
	inet_pton(AF_INET6, "fd00::10", want);
	assert_memory_equal(f.dst_addr, want, 16);
	fj_free(&rec);

	assert_int_equal(fj_parse(allow, strlen(allow), &rec), 0);
	assert_false(gm_flow_deny(&rec, &f));
	fj_free(&rec);
	assert_int_equal(fj_parse("{\"verdict\":\"deny\"}", 18, &rec), 0);
	assert_false(gm_flow_deny(&rec, &f)); /* not a flow record */
	fj_free(&rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reporter_parse),
		cmocka_unit_test(test_default_rule),
		cmocka_unit_test(test_reporter_modes),
		cmocka_unit_test(test_both_same_triple),
		cmocka_unit_test(test_workload_sum),
		cmocka_unit_test(test_unknown_nodes),
		cmocka_unit_test(test_denies),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_dot_quote),
		cmocka_unit_test(test_dot_checker),
		cmocka_unit_test(test_dot_valid),
		cmocka_unit_test(test_backend_svc),
		cmocka_unit_test(test_flow_deny),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
