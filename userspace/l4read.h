/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading Istio's L4 series as the kernel counts them: tr_l4_stat (per
 * CPU, by series) plus the counts not yet folded out of the per-CPU slots
 * of tr_l4_ends (include/trestle/metrics.h). Shared by the agent's
 * /metrics and the CLI's graph and top.
 */
#ifndef TRESTLE_L4READ_H
#define TRESTLE_L4READ_H

#include <trestle/metrics.h>

/* One contribution to a series: the same key comes once from tr_l4_stat
 * and again from every slot holding it, on every CPU; add them up. */
typedef int (*l4read_fn)(const struct tr_l4_key *key, const struct tr_l4_val *val, void *ctx);

/*
 * Every contribution, consistent: the slots, then tr_l4_stat, then the
 * slots' fold counters again; read again (a few times) when a slot was
 * busy or folded its counts into tr_l4_stat meanwhile, so no count is
 * seen twice or not at all. ends_fd may be -1 (no slots: an older
 * agent's pins). 0, -EAGAIN when the slots never held still, a callback's
 * non-zero return, or -errno.
 */
int l4read(int stat_fd, int ends_fd, l4read_fn fn, void *ctx);

#endif /* TRESTLE_L4READ_H */
