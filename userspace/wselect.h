/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Weighted selection tables.
 *
 * A connect picks one slot of its service's table uniformly at random, so a
 * backend's share of new connections is (its slots) / (table size). This
 * module turns weights into slot counts: exact when the reduced weights fit
 * in the size limit, otherwise by largest-remainder apportionment, which
 * puts each share within 1/limit of the asked one. Every backend with a
 * non-zero weight keeps at least one slot.
 */
#ifndef TRESTLE_WSELECT_H
#define TRESTLE_WSELECT_H

#include <stddef.h>
#include <stdint.h>

/*
 * weights[i] -> slots[i]. Returns the table size (sum of slots), 0 when
 * every weight is zero, or -EINVAL when limit < n non-zero weights or
 * limit is 0.
 */
long wselect_apportion(const uint64_t *weights, size_t n, uint32_t limit,
		       uint32_t *slots);

/* Lay slots out as a table: table[k] = backend index, interleaved so that a
 * prefix of the table is itself close to the weights (helps debugging and
 * keeps the layout independent of backend order only through indices). */
void wselect_layout(const uint32_t *slots, size_t n, uint32_t *table, uint32_t size);

#endif /* TRESTLE_WSELECT_H */
