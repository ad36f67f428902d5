/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Pinned map names (tr_<subsystem>[4|6]_<what>, at most 15 characters) and
 * their capacities. The BPF side declares the maps with these names; the
 * agent and CLI open them by name under the bpffs directory.
 */
#ifndef TRESTLE_MAPS_H
#define TRESTLE_MAPS_H

#define TR_DEFAULT_BPFFS "/sys/fs/bpf/trestle"

#define TR_MAP_META "tr_meta"
#define TR_MAP_LB4_SVC "tr_lb4_svc"
#define TR_MAP_LB6_SVC "tr_lb6_svc"
#define TR_MAP_LB_SLOT "tr_lb_slot"
#define TR_MAP_LB_BE "tr_lb_be"
#define TR_MAP_LB_BESTAT "tr_lb_bestat"
#define TR_MAP_LB_SVCINFO "tr_lb_svcinfo"
#define TR_MAP_LB_RBE "tr_lb_rbe"
#define TR_MAP_REVNAT "tr_revnat"
#define TR_MAP_STATS "tr_stats"

/* Identities and authorization (policy.h) */
#define TR_MAP_POL_CFG "tr_pol_cfg"
#define TR_MAP_IP4_INFO "tr_ip4_info"
#define TR_MAP_IP6_INFO "tr_ip6_info"
#define TR_MAP_CGROUP "tr_cgroup"
#define TR_MAP_POL "tr_pol"
#define TR_MAP_POL_DST "tr_pol_dst"
#define TR_MAP_POL_STAT "tr_pol_stat"
#define TR_MAP_FLOW_RB "tr_flow_rb"
#define TR_MAP_ID_INFO "tr_id_info"
#define TR_MAP_WL_INFO "tr_wl_info"
#define TR_MAP_POL_INFO "tr_pol_info"
#define TR_MAP_CT_UDP "tr_ct_udp"

/* L4 metrics (metrics.h) */
#define TR_MAP_L4_STAT "tr_l4_stat"
#define TR_MAP_L4_ENDS "tr_l4_ends" /* per CPU: connection ends and unfolded counts */
#define TR_MAP_SK "tr_sk_store" /* socket-local storage: no entries to list */
#define TR_MAP_WL_ADDR "tr_wl_addr"

/* mTLS tunnel steering (tunnel.h) */
#define TR_MAP_TUN_CFG "tr_tun_cfg"
#define TR_MAP_PEERAUTH "tr_peerauth"
#define TR_MAP_TUN_ORIG "tr_tun_orig"
#define TR_MAP_TUN_PEER "tr_tun_peer"

/* same-node socket redirection (redir.h) */
#define TR_MAP_REDIR_CFG "tr_redir_cfg"
#define TR_MAP_REDIR_SK "tr_redir_sk"
#define TR_MAP_REDIR_ST "tr_redir_st"
#define TR_MAP_REDIR_BULK "tr_redir_bulk"

#define TR_MAX_SERVICES 131072   /* per family: service ports (VIP, port, proto) */
#define TR_MAX_SLOTS_TOTAL 1048576
#define TR_MAX_BACKENDS 262144   /* ids 1 .. TR_MAX_BACKENDS-1 */
#define TR_MAX_REVNAT 262144     /* LRU */

#define TR_MAX_IP_INFO 262144    /* per family, both epochs during a switch */
#define TR_MAX_CGROUPS 65536
#define TR_MAX_POL_ENTRIES 1048576
#define TR_MAX_POL_DST 65536
#define TR_MAX_POLICIES 16384    /* ids 1 .. TR_MAX_POLICIES-1 */
#define TR_MAX_IDENTITIES 65536
#define TR_MAX_WORKLOADS 65536
#define TR_FLOW_RB_BYTES (1u << 20)
#define TR_MAX_UDP_CT 65536      /* LRU */
#define TR_MAX_L4_STAT 65536     /* (reporter, workload pair, service) series */
#define TR_MAX_PEERAUTH 65536    /* (workload, port) mTLS modes */
#define TR_MAX_TUN_ORIG 65536    /* LRU: steered connections not yet accepted */
#define TR_MAX_TUN_PEER 65536    /* LRU: agent connections to local workloads */
#define TR_MAX_REDIR_SOCKS 65536 /* redirected sockets open at once (two per connection) */
#define TR_MAX_REDIR_BULK 16384  /* LRU: server endpoints seen carrying bulk */

/* Every map Trestle pins, for cleanup and the CLI. */
#define TR_PINNED_MAPS                                                      \
	TR_MAP_META, TR_MAP_LB4_SVC, TR_MAP_LB6_SVC, TR_MAP_LB_SLOT,         \
	TR_MAP_LB_BE, TR_MAP_LB_BESTAT, TR_MAP_LB_SVCINFO, TR_MAP_REVNAT,    \
	TR_MAP_STATS, TR_MAP_POL_CFG, TR_MAP_IP4_INFO, TR_MAP_IP6_INFO,      \
	TR_MAP_CGROUP, TR_MAP_POL, TR_MAP_POL_DST, TR_MAP_POL_STAT,          \
	TR_MAP_FLOW_RB, TR_MAP_ID_INFO, TR_MAP_WL_INFO, TR_MAP_POL_INFO,     \
	TR_MAP_CT_UDP, TR_MAP_L4_STAT, TR_MAP_L4_ENDS, TR_MAP_SK, TR_MAP_LB_RBE, TR_MAP_WL_ADDR, \
	TR_MAP_TUN_CFG, TR_MAP_PEERAUTH, TR_MAP_TUN_ORIG, TR_MAP_TUN_PEER,  \
	TR_MAP_REDIR_CFG, TR_MAP_REDIR_SK, TR_MAP_REDIR_ST, TR_MAP_REDIR_BULK, \
	TR_XDP_MAPS

/* Pinned links, one file per attach point, under <bpffs>/links/. */
#define TR_LINK_DIR "links"

/*
 * What an agent of ABI 4 pinned that this one no longer has: the
 * per-socket hash (now socket-local storage) and the link of the program
 * that emptied it when a socket was released. The loader removes them
 * once its own programs are attached, and --cleanup does too.
 */
#define TR_FORMER_MAPS "tr_sk"
#define TR_FORMER_LINKS "tr_sock_release"

#endif /* TRESTLE_MAPS_H */
