/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trestle ABI: steering connections into the agent's mTLS tunnels.
 *
 * A local workload's TCP connect to a workload on another node that takes
 * mTLS (its PeerAuthentication is not DISABLE for that port) is rewritten,
 * after load balancing and authorization, to this node's agent
 * (TR_TUN_OUTBOUND_PORT on the node's InternalIP). When the connection is
 * established, sockops records what the workload asked for under the
 * workload socket's own address and port (tr_tun_orig). The agent accepts,
 * looks up its peer's address and port there, and so learns the original
 * destination and the source workload from the kernel: a workload cannot
 * write that map, the entry names the workload whose cgroup made the
 * connect, and tc lets a workload send only from its own addresses, so a
 * workload cannot borrow another's identity.
 *
 * The destination node's agent connects to its workload with TR_MARK_AGENT
 * on the socket, so tc on the workload device lets it through (the agent
 * has authorized it with the peer's certificate), and records the source
 * workload in tr_tun_peer so the accepting side's metrics name it.
 */
#ifndef TRESTLE_TUNNEL_H
#define TRESTLE_TUNNEL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TR_TUN_OUTBOUND_PORT 15001 /* where local workloads' connections are steered */
#define TR_TUN_INBOUND_PORT 15008  /* mTLS from other nodes' agents */

/* SO_MARK of the agent's connections to local workloads (tc lets them in). */
#define TR_MARK_AGENT 0x7e5c0001u

/* tr_tun_cfg[0]: set by the agent; zeroed = no steering, no STRICT. */
struct tr_tun_cfg {
	__be32 node4;      /* this node's InternalIP (IPv4), 0 = none */
	__be32 node6[4];   /* this node's InternalIP (IPv6), :: = none */
	__u32 enabled;     /* 1 when the agent's outbound listener is up */
	__u32 flags;       /* TR_TUN_F_*: which modes tr_peerauth holds at all */
};

/* tr_tun_cfg.flags: lets the hot paths skip tr_peerauth when no workload
 * has the mode they care about (the common case: all PERMISSIVE). */
#define TR_TUN_F_ANY_STRICT 0x1u  /* tc: some port drops plaintext */
#define TR_TUN_F_ANY_DISABLE 0x2u /* connect: some port is not tunneled */

/* PeerAuthentication modes, resolved per workload and port by the agent. */
#define TR_MTLS_UNSET 0      /* no entry: PERMISSIVE (Istio's default) */
#define TR_MTLS_PERMISSIVE 1 /* mTLS and plaintext accepted */
#define TR_MTLS_STRICT 2     /* plaintext from outside the node dropped at tc */
#define TR_MTLS_DISABLE 3    /* not tunneled; plaintext */

/* tr_peerauth: (workload, port) -> mode. port 0 = the workload's mode for
 * every port without an entry of its own (portLevelMtls). */
struct tr_peerauth_key {
	__u32 workload; /* tr_wl_info id */
	__u16 port;     /* host order; 0 = default */
	__u16 pad;
};

struct tr_peerauth {
	__u32 mode; /* TR_MTLS_* */
};

/* tr_tun_orig key: the workload socket's own address and port. */
struct tr_tun_key {
	__be32 addr[4]; /* IPv4 in [0] */
	__be16 port;
	__u8 family;    /* TR_AF_* */
	__u8 pad;
};

struct tr_tun_orig {
	__be32 daddr[4];    /* the backend (after load balancing); IPv4 in [0] */
	__be32 vip[4];      /* what the workload connected to (VIP or daddr) */
	__be16 dport;
	__be16 vport;
	__u8 family;        /* TR_AF_* of daddr and vip */
	__u8 pad[3];
	__u32 src_workload; /* tr_wl_info id of the connecting workload */
	__u32 dst_workload; /* tr_wl_info id at daddr */
	__u32 svc_id;       /* service connected through, 0 = none */
	__u64 cgroup_id;    /* the connecting task's cgroup */
};

/* tr_tun_peer key: the agent's connection to a local workload, as the
 * accepting workload socket sees it. */
struct tr_tun_peer_key {
	__be32 waddr[4];    /* the workload's address; IPv4 in [0] */
	__be16 agent_port;  /* the agent's local port */
	__u8 family;
	__u8 pad;
};

struct tr_tun_peer {
	__u32 src_workload; /* the peer workload proven by its certificate */
	__u32 pad;
};

#endif /* TRESTLE_TUNNEL_H */
