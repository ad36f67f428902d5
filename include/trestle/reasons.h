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
	  "policy state inconsistent (agent mid-update): failed closed")

enum tr_reason {
#define TR_REASON_ENUM(n, v, s, d) TR_REASON_##n = (v),
	TR_REASONS(TR_REASON_ENUM)
#undef TR_REASON_ENUM
};

#define TR_REASON_MAX 7 /* highest -reason value */

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
	  "sockets without per-socket state: tr_sk was full")

enum tr_stat {
#define TR_STAT_ENUM(n, v, s, d) TR_STAT_##n = (v),
	TR_STATS(TR_STAT_ENUM)
#undef TR_STAT_ENUM
};

#define TR_STATS_SIZE 64 /* entries in tr_stats */

#endif /* TRESTLE_REASONS_H */
