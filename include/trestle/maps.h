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
#define TR_MAP_REVNAT "tr_revnat"
#define TR_MAP_STATS "tr_stats"

#define TR_MAX_SERVICES 131072   /* per family: service ports (VIP, port, proto) */
#define TR_MAX_SLOTS_TOTAL 1048576
#define TR_MAX_BACKENDS 262144   /* ids 1 .. TR_MAX_BACKENDS-1 */
#define TR_MAX_REVNAT 262144     /* LRU */

/* Pinned links, one file per attach point, under <bpffs>/links/. */
#define TR_LINK_DIR "links"

#endif /* TRESTLE_MAPS_H */
