/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016) for the uplink
 * load balancer's rings (tr_xdp_ring, include/trestle/xdp.h).
 *
 * Every node must build the same ring from the same backends, whatever
 * order it learnt them in: a backend is known by a 64-bit key derived from
 * what identifies it everywhere (its address and port, maglev_key()), never
 * by a node-local id; backends are sorted by key before the ring is filled;
 * the permutation hashes are pure integer arithmetic of the key and a seed
 * that all nodes share.
 *
 * Size: the smallest prime of a fixed list (1031, 2053, 4099, ... 65537,
 * 131071: about x2 apart) that is >= 1000 x (backends with a weight), at
 * most TR_XDP_RING_MAX (131071). Why 1000 and not the paper's 100: when one
 * backend of N leaves or joins, the flows on it must move (1/N), but
 * Maglev also moves some others, and how many falls with M/N. Measured
 * here (tests/unit/test_maglev.c; one backend removed, share of the flows
 * NOT on it that changed backend):
 *     M/N = 100: 1.3-2.5%   M/N = 330: 0.8-0.9%   M/N >= 1000: 0.3-0.7%
 * and with the cap, N = 132..1500 stays between 0.4% and 0.7%. So
 * M >= 1000 N (and a large cap) is what keeps "fewer than 1% of the other
 * flows move". A ring costs 4 bytes a slot (an array per ring), at most
 * 512 KiB. The coarse list keeps M unchanged while N varies within a
 * step (every N >= 66 has M = 131071): a change of M reshuffles the whole
 * ring (established flows keep their backend through the connection
 * table; new flows follow the new ring), so it happens only when N
 * crosses between 1|2, 2|3, 4|5, 8|9, 16|17, 32|33 and 65|66.
 *
 * Weights: each round, a backend earns its weight as credit and takes one
 * turn per max-weight of credit, so with equal weights this is the paper's
 * round robin (every backend floor(M/N) or ceil(M/N) slots) and otherwise
 * slots are proportional to weights.
 */
#ifndef TRESTLE_MAGLEV_H
#define TRESTLE_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

#define MAGLEV_SLOTS_PER_BACKEND 1000

struct maglev_backend {
	uint64_t key;    /* identity, the same on every node (maglev_key()) */
	uint32_t weight; /* relative weight; 0 = in no slot */
};

/* Ring size for n backends with a non-zero weight (n = 0 counts as 1). */
uint32_t maglev_size(size_t n);

/* Key of a backend from the bytes that identify it on every node, e.g.
 * family, address and port (FNV-1a, 64 bits). */
uint64_t maglev_key(const void *id, size_t len);

/*
 * Fill ring[0 .. size-1] with indices into be[]. size must be a prime
 * >= the number of backends with a weight (maglev_size() gives one).
 * Returns 0, -ENOENT when no backend has a weight, -EINVAL (size not
 * usable, two backends with one key), or -ENOMEM.
 */
int maglev_build(const struct maglev_backend *be, size_t n, uint64_t seed, uint32_t size,
		 uint32_t *ring);

#endif /* TRESTLE_MAGLEV_H */
