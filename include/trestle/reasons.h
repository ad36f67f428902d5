/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Counters and drop/deny reasons.
 *
 * Reasons are negative and never renumbered: append only. tr_stats is a
 * per-CPU array indexed by TR_STAT_* (events) and by -reason (drops), so
 * one map answers "what happened and why". TR_REASONS() is an X-macro that
 * the agent and CLI expand into name tables.
 */
#ifndef TRESTLE_REASONS_H
#define TRESTLE_REASONS_H

/* X(enum suffix, value, "snake_case name", "description") */
#define TR_REASONS(X)                                                         \
	X(NO_BACKEND, -1, "no_backend",                                      \
	  "service VIP has no ready backend: connect refused")                \
	X(SLOT_MISSING, -2, "slot_missing",                                  \
	  "selection-table slot missing (agent mid-update or corrupted map)") \
	X(BAD_FAMILY, -3, "bad_family",                                      \
	  "backend family does not match the socket family")                  \
	X(POLICY_DENY, -4, "policy_deny",                                    \
	  "denied by a DENY AuthorizationPolicy rule")                        \
	X(POLICY_NO_ALLOW, -5, "policy_no_allow",                            \
	  "ALLOW policies select the destination and none matched")          \
	X(SPOOFED, -6, "spoofed_source",                                     \
	  "a workload sent from an address that is not its own")             \
	X(POLICY_STATE, -7, "policy_state",                                  \
	  "policy state inconsistent (agent mid-update): failed closed")       \
	X(MTLS_REQUIRED, -8, "mtls_required",                                \
	  "plaintext from outside the node to a STRICT mTLS workload port")    \
	X(TUNNEL_UNAVAILABLE, -9, "tunnel_unavailable",                      \
	  "must be encrypted but the agent's outbound port has no address of the family: refused") \
	X(XDP_DENY, -10, "xdp_deny_source",                                  \
	  "service traffic from a source an ipBlocks DENY covers: dropped at the uplink") \
	X(MALFORMED, -11, "malformed",                                       \
	  "truncated or malformed IP, TCP, UDP or ICMP header")              \
	X(ENCAP_FAILED, -12, "encap_failed",                                 \
	  "no route to a remote backend's node, or too big once encapsulated") \
	X(DECAP_NOT_LOCAL, -13, "decap_not_local",                           \
	  "decapsulated service traffic whose backend is not on this node (rings differ)")

enum tr_reason {
#define TR_REASON_ENUM(n, v, s, d) TR_REASON_##n = (v),
	TR_REASONS(TR_REASON_ENUM)
#undef TR_REASON_ENUM
};

#define TR_REASON_MAX 13 /* highest -reason value */

/* Event counters: indices into tr_stats above the reason range. */
#define TR_STATS(X)                                                           \
	X(LB_CONNECT, 16, "lb_connect", "connects to a VIP sent to a backend")   \
	X(LB_SENDMSG, 17, "lb_sendmsg", "UDP sends to a VIP sent to a backend")  \
	X(LB_REVNAT, 18, "lb_revnat",                                         \
	  "replies and peer names shown as the VIP")                          \
	X(LB_REVNAT_MISS, 19, "lb_revnat_miss",                               \
	  "reverse translation entry not found (LRU evicted)")                \
	X(POL_ALLOW, 20, "policy_allow", "connections and datagrams allowed by policy") \
	X(POL_AUDIT, 21, "policy_audit", "AUDIT policy matches")              \
	X(FLOW_LOST, 22, "flow_events_lost",                                  \
	  "flow events dropped because the ring buffer was full")             \
	X(L4_OPENED, 23, "l4_connections_opened",                             \
	  "TCP connection ends counted as opened by sockops")                 \
	X(L4_CLOSED, 24, "l4_connections_closed",                             \
	  "TCP connection ends counted as closed by sockops")                 \
	X(L4_STAT_FULL, 25, "l4_stat_full",                                   \
	  "connections not counted by series: tr_l4_stat was full")           \
	X(SK_FULL, 26, "sk_table_full",                                       \
	  "sockets without per-socket state: tr_sk_store could not allocate it")                  \
	X(TUN_STEERED, 27, "tunnel_steered",                                  \
	  "connections to another node's workload steered to the agent for mTLS") \
	X(XDP_NEW, 28, "xdp_new_flows",                                       \
	  "uplink flows given a backend by Maglev (connection table entries made)") \
	X(XDP_LOCAL, 29, "xdp_local",                                         \
	  "uplink packets translated and redirected to a backend on this node") \
	X(XDP_ENCAP, 30, "xdp_encap",                                         \
	  "uplink packets encapsulated to a remote backend's node")           \
	X(XDP_DECAP, 31, "xdp_decap",                                         \
	  "encapsulated service packets from another node decapsulated")      \
	X(XDP_REVNAT, 32, "xdp_revnat",                                       \
	  "backend replies given the service address back (tc)")             \
	X(XDP_ICMP, 33, "xdp_icmp_error",                                     \
	  "ICMP errors about a balanced flow translated with it")             \
	X(XDP_FRAG_UNKNOWN, 34, "xdp_frag_unknown",                           \
	  "later fragments with no record of their first fragment: to the stack") \
	X(XDP_NO_NEIGH, 35, "xdp_no_neigh",                                   \
	  "encapsulated packets passed to the stack to resolve the next hop")  \
	X(XDP_TTL, 36, "xdp_ttl_expired",                                     \
	  "service packets with TTL <= 1 passed to the stack (ICMP time exceeded)") \
	X(XDP_CT_STALE, 37, "xdp_ct_stale",                                   \
	  "connection table entries whose backend was removed: chosen again") \
	X(XDP_TOO_BIG, 38, "xdp_icmp_too_big",                                \
	  "ICMP fragmentation needed / packet too big sent for encapsulation") \
	X(REDIR_CONN, 39, "redirect_connections",                             \
	  "same-node connections whose two ends entered the redirection map")  \
	X(REDIR_BYTES, 40, "redirect_bytes",                                  \
	  "bytes moved socket to socket by redirection")                      \
	X(REDIR_BULK, 41, "redirect_bulk_seen",                               \
	  "redirected connections that carried a bulk transfer (auto: their server endpoint leaves redirection for a while)") \
	X(REDIR_NO_PEER, 42, "redirect_no_peer",                              \
	  "redirected sockets whose peer was not in the map: normal path")     \
	X(REDIR_UNSUITABLE, 43, "redirect_unsuitable",                        \
	  "eligible sockets that could not enter the redirection map (MPTCP, map full)") \
	X(REDIR_BULK_SKIP, 44, "redirect_bulk_skipped",                       \
	  "eligible connections left on the normal path: their server endpoint was seen carrying bulk (auto)")

enum tr_stat {
#define TR_STAT_ENUM(n, v, s, d) TR_STAT_##n = (v),
	TR_STATS(TR_STAT_ENUM)
#undef TR_STAT_ENUM
};

#define TR_STATS_SIZE 64 /* entries in tr_stats */

#endif /* TRESTLE_REASONS_H */
