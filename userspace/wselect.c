// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "wselect.h"

#include <errno.h>
#include <stdlib.h>

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

long wselect_apportion(const uint64_t *weights, size_t n, uint32_t limit,
		       uint32_t *slots)
{
	unsigned __int128 total = 0;
	uint64_t g = 0;
	size_t nonzero = 0;
	uint64_t *rem;
	uint32_t used = 0;

	if (!limit)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		slots[i] = 0;
		if (!weights[i])
			continue;
		nonzero++;
		g = gcd64(g, weights[i]);
	}
	if (!nonzero)
		return 0;
	if (nonzero > limit)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		total += weights[i] / g;

	if (total <= limit) {
		for (size_t i = 0; i < n; i++)
			slots[i] = (uint32_t)(weights[i] / g);
		return (long)total;
	}

	/*
	 * Largest remainder (Hamilton): every share is within one slot of
	 * weight * limit / total. Then a backend that got no slot takes one
	 * from the backend furthest above its exact share, so every backend
	 * with a weight still gets some traffic.
	 */
	rem = calloc(n, sizeof(*rem));
	if (!rem)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned __int128 q = (unsigned __int128)(weights[i] / g) * limit;

		slots[i] = (uint32_t)(q / total);
		rem[i] = (uint64_t)(((q % total) << 32) / total);
		used += slots[i];
	}
	while (used < limit) {
		size_t best = n;

		for (size_t i = 0; i < n; i++)
			if (weights[i] && (best == n || rem[i] > rem[best]))
				best = i;
		slots[best]++;
		rem[best] = 0;
		used++;
	}
	for (size_t i = 0; i < n; i++) {
		size_t donor = n;
		double best = 0;

		if (!weights[i] || slots[i])
			continue;
		for (size_t j = 0; j < n; j++) {
			double surplus;

			if (slots[j] < 2)
				continue;
			surplus = (double)slots[j] -
				  (double)(weights[j] / g) * limit / (double)total;
			if (donor == n || surplus > best) {
				donor = j;
				best = surplus;
			}
		}
		/* nonzero <= limit guarantees a donor exists */
		slots[donor]--;
		slots[i] = 1;
	}
	free(rem);
	return (long)used;
}

void wselect_layout(const uint32_t *slots, size_t n, uint32_t *table, uint32_t size)
{
	/*
	 * Smooth weighted round robin (as nginx does): at each step every
	 * backend gains its weight, the richest is chosen and pays the total.
	 * The result interleaves backends instead of grouping them.
	 */
	int64_t *cur = calloc(n ? n : 1, sizeof(*cur));
	uint32_t k;

	if (!cur) {
		/* Fall back to a grouped layout; shares are the same. */
		k = 0;
		for (size_t i = 0; i < n && k < size; i++)
			for (uint32_t s = 0; s < slots[i] && k < size; s++)
				table[k++] = (uint32_t)i;
		return;
	}
	for (k = 0; k < size; k++) {
		size_t best = n;

		for (size_t i = 0; i < n; i++) {
			if (!slots[i])
				continue;
			cur[i] += slots[i];
			if (best == n || cur[i] > cur[best])
				best = i;
		}
		if (best == n)
			break;
		cur[best] -= size;
		table[k] = (uint32_t)best;
	}
	free(cur);
}
