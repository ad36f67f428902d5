/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The service graph of `trestle graph` and the pieces `trestle top`
 * shares with it: aggregation of L4 connection series (tr_l4_stat) and
 * denied flows into edges, and rendering as a table, JSON (through the
 * common writer, output.h) or Graphviz DOT. Pure: no maps, no files, so
 * tests/unit/test_graph.c covers all of it.
 *
 * Nodes are workloads, named "NS/WORKLOAD" (tr_wl_info.ns and the canonical
 * workload name), or "unknown" for an end outside the mesh (workload id 0),
 * and services, named "NS/NAME:PORT" ("NS/NAME:PORT/udp" for UDP). An edge
 * goes from a workload to a workload and carries the service the client
 * connected through, or none.
 *
 * Reporters. Both ends of a TCP connection may count it, each on its own
 * node: the client's side as a "source" series (which knows the service),
 * the server's side as a "destination" series (which does not). On one
 * node, a connection between two local workloads is in both. The default
 * rule (GM_REP_DEFAULT) counts every connection once: series reported by
 * the source are used, and destination series only for a (source workload,
 * destination workload) pair, by workload id (that is, per Pod), that no
 * source series names. GM_REP_SOURCE and GM_REP_DESTINATION use one kind
 * only; GM_REP_BOTH keeps both as separate edges (each connection between
 * two local workloads then appears twice).
 */
#ifndef TRESTLE_GRAPHMODEL_H
#define TRESTLE_GRAPHMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <trestle/abi.h>
#include <trestle/policy.h>

#define GM_UNKNOWN "unknown"
/* "NS/NAME:65535/udp" and "NS/WORKLOAD" fit */
#define GM_NAME_LEN (2 * TR_NAME_LEN + 16)

enum gm_reporter {
	GM_REP_DEFAULT = 0, /* source, destination where no source series */
	GM_REP_SOURCE,
	GM_REP_DESTINATION,
	GM_REP_BOTH,
};

/* "source", "destination", "both" -> 0 with *r set; -EINVAL otherwise. */
int gm_reporter_parse(const char *s, enum gm_reporter *r);
const char *gm_reporter_str(enum gm_reporter r);

/* gm_edge.reporters: which kinds of series were summed into it. */
#define GM_R_SOURCE 0x1u
#define GM_R_DESTINATION 0x2u

/* A workload's node name: "NS/WORKLOAD" from tr_wl_info, or "unknown"
 * for NULL. */
const char *gm_wl_name(const struct tr_wl_info *wl, char *buf, size_t len);
/* A service's node name, "NS/NAME:PORT" (TCP) or "NS/NAME:PORT/udp". */
const char *gm_svc_name(const struct tr_lb_svcinfo *svc, char *buf, size_t len);

/* One tr_l4_stat series, summed over CPUs, with its ids resolved. */
struct gm_l4 {
	uint32_t src_id;     /* tr_l4_key.src_workload (the rule works on ids) */
	uint32_t dst_id;
	uint8_t reporter;    /* TR_REPORTER_* */
	const char *from;    /* node name; NULL = GM_UNKNOWN */
	const char *to;
	const char *service; /* node name; NULL = none */
	uint64_t opened, closed;
	uint64_t sent, received; /* Istio's directions: sent = response
				  * (server to client), received = request */
};

struct gm_edge {
	char *from, *to;
	char *service;       /* NULL: none */
	unsigned int reporters; /* GM_R_* */
	uint64_t opened, closed, sent, received;
	uint64_t denies;     /* denied flows (the flow log) */
};

enum gm_node_kind {
	GM_NODE_WORKLOAD,
	GM_NODE_UNKNOWN, /* outside the mesh */
	GM_NODE_SERVICE,
};

struct gm_node {
	char *id;
	enum gm_node_kind kind;
};

struct gm_graph {
	enum gm_reporter mode;
	/* input, until gm_finish() */
	struct gm_l4 *in;
	size_t n_in, cap_in;
	struct gm_edge *deny;
	size_t n_deny, cap_deny;
	/* result */
	struct gm_edge *edges; /* by from, to, service, reporters */
	size_t n_edges, cap_edges;
	struct gm_node *nodes; /* workloads and unknown, by id; then services */
	size_t n_nodes;
	bool finished;
};

void gm_init(struct gm_graph *g, enum gm_reporter mode);
void gm_free(struct gm_graph *g);
/* Add a series (the strings are copied). 0 or -ENOMEM. */
int gm_add_l4(struct gm_graph *g, const struct gm_l4 *s);
/* Add n denied flows from -> to (NULL = unknown) through service (NULL =
 * none). 0 or -ENOMEM. */
int gm_add_deny(struct gm_graph *g, const char *from, const char *to,
		const char *service, uint64_t n);
/*
 * Apply the reporter rule, sum series into edges, add the denies (to the
 * edge with the same ends and service, the source-reported one first, or
 * to an edge of their own) and list the nodes. 0 or -ENOMEM.
 */
int gm_finish(struct gm_graph *g);

/* Connections still open on an edge: opened - closed (0 if negative). */
uint64_t gm_active(const struct gm_edge *e);

/*
 * Through the common writer (output.h): text, a table with a header line;
 * JSON, the members "nodes" ([{"id", "kind"}]) and "edges" ([{"from", "to",
 * "service" (or null), "reporters", "connections_opened",
 * "connections_active", "bytes_sent", "bytes_received", "denies"}]) of the
 * object the caller has opened.
 */
void gm_print(const struct gm_graph *g);

/*
 * A Graphviz digraph: workload nodes as boxes ("unknown" dashed), one edge
 * per graph edge labelled with its service and counts; edges with denies
 * are dashed and red. 0, or -EIO when writing failed.
 */
int gm_write_dot(const struct gm_graph *g, FILE *f);
/* s as a DOT quoted string ('"' and '\' escaped, control characters and
 * invalid UTF-8 as '?'). The length it needs, as snprintf(). */
size_t gm_dot_quote(const char *s, char *buf, size_t len);

/*
 * Backends by address, for finding the service a denied flow was headed
 * for: the flow log names the destination after load balancing (the
 * backend), not the VIP.
 */
struct gm_backend {
	uint8_t family;  /* TR_AF_* */
	uint8_t proto;   /* TR_PROTO_* */
	uint16_t port;   /* host order */
	__be32 addr[4];
	uint32_t svc_id;
};

/* Sort a backend table for gm_backend_svc(). */
void gm_backends_sort(struct gm_backend *v, size_t n);
/* The service whose backend family/addr/port/proto is, when exactly one
 * service has it; 0 when none or several do. */
uint32_t gm_backend_svc(const struct gm_backend *v, size_t n, uint8_t family,
			const __be32 addr[4], uint16_t port, uint8_t proto);

/* A denied flow, from a flow-log record (flowfilter.h). */
struct fj_obj;
struct gm_flow {
	const char *src_workload; /* "NS/POD" or NULL */
	const char *dst_workload;
	uint8_t family;           /* 0 when the address is absent or bad */
	uint8_t proto;            /* TR_PROTO_*, 0 unknown */
	uint16_t dst_port;
	__be32 dst_addr[4];
};
/* Is rec a flow record with verdict "deny"? Fills f (pointing into rec). */
bool gm_flow_deny(const struct fj_obj *rec, struct gm_flow *f);

#endif /* TRESTLE_GRAPHMODEL_H */
