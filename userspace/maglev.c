// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "maglev.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <trestle/xdp.h>

/* Primes, about x2 apart; the last is TR_XDP_RING_MAX. */
static const uint32_t sizes[] = {
	1031, 2053, 4099, 8209, 16411, 32771, 65537, TR_XDP_RING_MAX,
};

uint32_t maglev_size(size_t n)
{
	uint64_t want = (uint64_t)(n ? n : 1) * MAGLEV_SLOTS_PER_BACKEND;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (sizes[i] >= want)
			return sizes[i];
	return TR_XDP_RING_MAX;
}

uint64_t maglev_key(const void *id, size_t len)
{
	const unsigned char *p = id;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* splitmix64's finalizer: a well-mixed 64-bit function of x. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static bool is_prime(uint32_t v)
{
	if (v < 2)
		return false;
	for (uint32_t d = 2; (uint64_t)d * d <= v; d++)
		if (v % d == 0)
			return false;
	return true;
}

struct mg_state {
	uint64_t key;
	uint32_t index;  /* into the caller's array */
	uint32_t weight;
	uint32_t offset; /* first preferred slot */
	uint32_t skip;   /* step through the preferences, 1 .. M-1 */
	uint32_t next;   /* preferences used so far */
	uint64_t credit;
};

static int cmp_key(const void *a, const void *b)
{
	const struct mg_state *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

int maglev_build(const struct maglev_backend *be, size_t n, uint64_t seed, uint32_t size,
		 uint32_t *ring)
{
	struct mg_state *st;
	size_t m = 0;
	uint32_t wmax = 0, filled = 0;

	for (size_t i = 0; i < n; i++)
		if (be[i].weight)
			m++;
	if (!m)
		return -ENOENT;
	/* a prime size makes every skip walk all slots: the fill ends */
	if (size < m || !is_prime(size))
		return -EINVAL;
	st = calloc(m, sizeof(*st));
	if (!st)
		return -ENOMEM;
	m = 0;
	for (size_t i = 0; i < n; i++) {
		if (!be[i].weight)
			continue;
		st[m].key = be[i].key;
		st[m].index = (uint32_t)i;
		st[m].weight = be[i].weight;
		st[m].offset = (uint32_t)(mix64(be[i].key ^ seed ^ 0x6d61676c65763031ull) % size);
		st[m].skip = (uint32_t)(mix64(be[i].key ^ seed ^ 0x6d61676c65763032ull) %
					(size - 1)) + 1;
		if (be[i].weight > wmax)
			wmax = be[i].weight;
		m++;
	}
	qsort(st, m, sizeof(*st), cmp_key);
	for (size_t i = 1; i < m; i++) {
		if (st[i].key == st[i - 1].key) {
			free(st);
			return -EINVAL;
		}
	}

	for (uint32_t s = 0; s < size; s++)
		ring[s] = UINT32_MAX;
	while (filled < size) {
		for (size_t i = 0; i < m && filled < size; i++) {
			st[i].credit += st[i].weight;
			while (st[i].credit >= wmax && filled < size) {
				uint32_t slot;

				st[i].credit -= wmax;
				do {
					/* the j-th preference: (offset + j * skip) mod M,
					 * a permutation of the slots since M is prime */
					slot = (uint32_t)(((uint64_t)st[i].offset +
							   (uint64_t)st[i].next * st[i].skip) % size);
					st[i].next++;
				} while (ring[slot] != UINT32_MAX);
				ring[slot] = st[i].index;
				filled++;
			}
		}
	}
	free(st);
	return 0;
}
