/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trestle ABI: L4 connection metrics, counted in the kernel.
 *
 * sockops sees every TCP connection of the node's workloads become
 * established (active = the client's side, passive = the server's) and
 * close. Each side is counted once, under a key of who talked to whom,
 * into per-CPU counters the agent sums at scrape time: a slot of
 * tr_l4_ends and, once folded out of it, the hash tr_l4_stat (below). The
 * labels of Istio's standard TCP metrics come from the ids (workloads,
 * services). The key is derived at establishment and again at TCP_CLOSE
 * (no per-connection state besides a VIP connect's): a connection whose
 * workloads are reconfigured while it is open closes under the new key. When both ends
 * are workloads of this node, the connecting end counts both series
 * (reporter source and destination are then identical) and the accepting
 * socket is not counted at all: half the work for node-local traffic.
 */
#ifndef TRESTLE_METRICS_H
#define TRESTLE_METRICS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* tr_l4_key.reporter: which end of the connection counted it (Istio's
 * "reporter" label) */
#define TR_REPORTER_SOURCE 1      /* the connecting (client) side */
#define TR_REPORTER_DESTINATION 2 /* the accepting (server) side */

/* tr_l4_key.security: Istio's connection_security_policy label */
#define TR_SECURITY_NONE 0
#define TR_SECURITY_MUTUAL_TLS 1

struct tr_l4_key {
	__u32 src_workload; /* tr_wl_info id; 0 = outside the mesh */
	__u32 dst_workload; /* tr_wl_info id; 0 = outside the mesh */
	__u32 svc_id;       /* tr_lb_svcinfo id the client connected to; 0 = none */
	__u8 reporter;      /* TR_REPORTER_* */
	__u8 security;      /* TR_SECURITY_* */
	__u16 pad;
};

/* Istio's directions: "received" = request bytes (client to server),
 * "sent" = response bytes (server to client), whichever side reports. */
struct tr_l4_val {
	__u64 opened;
	__u64 closed;
	__u64 sent_bytes;
	__u64 received_bytes;
};

/*
 * tr_l4_ends: per CPU, TR_L4_ENDS_SLOTS slots of connection ends and the
 * counts of their connections not yet moved to tr_l4_stat.
 *
 * sockops identifies a connection's ends (workload at each address, the
 * service of the server end) at establishment and at TCP_CLOSE; the
 * answer depends only on the slot's query (both addresses, the server
 * port, the side, the VIP's service), so a connection whose query is
 * already in its slot costs one array access, and its counts go into
 * that same slot: no hash lookup, no other memory page. When a slot is
 * given to another query, or the agent changed the maps the answer came
 * from (gen, bpf/lib/ends.h), the program first adds the slot's counts to
 * tr_l4_stat under the slot's keys (a fold) and counts the fold.
 *
 * A series' count is tr_l4_stat's plus every slot's holding its key, on
 * every CPU. Readers (userspace/l4read.c) take the slots, then
 * tr_l4_stat, then the slots' fold counters again, and read again when a
 * slot was busy or folded in between, so a fold is never seen twice or
 * not at all.
 */
#define TR_L4_ENDS_SLOTS 512 /* per CPU; a power of two */

struct tr_l4_ends_q {
	__be32 laddr[4]; /* this socket's address; IPv4 in [0] */
	__be32 raddr[4]; /* the peer's */
	__u32 meta;      /* server port (network order) | TR_AF_* << 16 | connecting side << 24 */
	__u32 vip_svc;   /* the service a VIP connect asked for (connecting side); 0 */
};

struct tr_l4_ends_slot {
	__u32 busy;   /* 1 while a program uses it: a program that interrupted
		       * that one on this CPU counts into tr_l4_stat instead */
	__u32 folds;  /* counts moved to tr_l4_stat, or slot given to other ends */
	__u32 gen;    /* the agent's generation of the maps the keys came from */
	__u8 nkeys;   /* series in key[]: 1, or 2 (the connecting end of a
		       * connection between two workloads of this node: source,
		       * destination) */
	__u8 both;    /* both ends are workloads of this node (the accepting
		       * end then counts no opening: the connecting end did) */
	__u8 pad[2];
	struct tr_l4_ends_q q;
	struct tr_l4_key key[2];
	struct tr_l4_val val; /* not yet in tr_l4_stat; each key's series has all of it */
	__u64 pad2;
};

/*
 * Workload address -> workload id (tr_wl_addr), exact match: what sockops
 * asks twice per connection end, cheaper than the epoch-keyed LPM map the
 * policy hooks use (metrics need no atomic policy switch).
 */
struct tr_wl_addr_key {
	__be32 addr[4]; /* IPv4 in [0] */
	__u8 family;    /* TR_AF_* */
	__u8 pad[3];
};

#define TR_WLA_F_LOCAL 0x1u /* the workload runs on this node */

struct tr_wl_addr {
	__u32 workload; /* tr_wl_info id */
	__u32 flags;    /* TR_WLA_F_* */
};

/* tr_sk.flags */
#define TR_SK_F_LB 0x1      /* the load-balancing fields are set (a VIP connect) */
/* 0x2 was TR_SK_F_COUNTED (ABI 4: the entry outlived the release for the
 * close); socket-local storage lives as long as the socket */
#define TR_SK_F_TUNNEL 0x4  /* steered to the agent for mTLS (tunnel.h): backend
			     * is the agent, orig the real destination */
#define TR_SK_F_REDIR 0x8   /* the connect hook allowed a TCP connect from a local
			     * workload to a local workload, not steered: both
			     * ends may be redirected (redir.h) */

/* The kernel's byte counters count sequence space, where a FIN takes one
 * number: which FINs to take off to get payload bytes (sockops). */
#define TR_SK_FIN_SENT_ACKED 0x1 /* our FIN was acknowledged */
#define TR_SK_FIN_RECEIVED 0x2   /* the peer's FIN arrived */

/*
 * Per-socket state in socket-local storage (tr_sk_store): made by the
 * connect hook for a socket that needs it (a VIP connect, a steered or a
 * redirectable one), freed by the kernel with the socket. A socket without
 * state costs the hooks a NULL check, not a lookup in a table sized for
 * every open socket; there is no capacity to run out of (an allocation
 * that fails is counted, TR_STAT_SK_FULL). ABI 4 kept it in a preallocated
 * hash by socket cookie (tr_sk), emptied by a sock_release program.
 */
struct tr_sk {
	/* load balancing: what a connected socket asked for */
	__be32 backend[4]; /* backend address; IPv4 in [0] */
	__be32 vip[4];     /* service VIP; IPv4 in [0] */
	__be16 bport;      /* backend port */
	__be16 vport;      /* service port */
	__u8 family;       /* TR_AF_* of both */
	__u8 flags;        /* TR_SK_F_* */
	__u8 pad[2];
	__u32 svc_id;
	/* metrics: who talked to whom, for the close */
	struct tr_l4_key key;
	/* mTLS steering (TR_SK_F_TUNNEL): the destination before steering */
	__be32 orig[4];    /* backend address; IPv4 in [0] */
	__be16 oport;      /* backend port */
	__u16 pad2;
	__u32 src_wl;      /* connecting workload (tr_wl_info id) */
	__u32 dst_wl;      /* workload at orig */
};

#endif /* TRESTLE_METRICS_H */
