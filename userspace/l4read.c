// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "l4read.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define L4READ_TRIES 50

struct stat_entry {
	struct tr_l4_key key;
	struct tr_l4_val val;
};

/* A per-CPU value as the kernel lays it out: each CPU's rounded to 8. */
#define PERCPU_STRIDE(sz) (((sz) + 7) & ~(size_t)7)

static void val_add(struct tr_l4_val *sum, const struct tr_l4_val *v)
{
	sum->opened += v->opened;
	sum->closed += v->closed;
	sum->sent_bytes += v->sent_bytes;
	sum->received_bytes += v->received_bytes;
}

/* All slots of all CPUs into buf (TR_L4_ENDS_SLOTS x ncpus); *busy when one
 * was being used. 0 or -errno. */
static int read_slots(int fd, int ncpus, struct tr_l4_ends_slot *buf, bool *busy)
{
	*busy = false;
	for (__u32 i = 0; i < TR_L4_ENDS_SLOTS; i++) {
		struct tr_l4_ends_slot *row = buf + (size_t)i * ncpus;

		if (bpf_map_lookup_elem(fd, &i, row))
			return -errno;
		for (int c = 0; c < ncpus; c++)
			if (row[c].busy)
				*busy = true;
	}
	return 0;
}

/* tr_l4_stat summed over CPUs into *out (*n entries). 0 or -errno. */
static int read_stat(int fd, int ncpus, struct stat_entry **out, size_t *n)
{
	size_t per = PERCPU_STRIDE(sizeof(struct tr_l4_val)), cap = 0;
	struct tr_l4_key cur, next;
	unsigned char *vals = calloc((size_t)ncpus, per);
	struct stat_entry *v = NULL;
	int err;

	*out = NULL;
	*n = 0;
	if (!vals)
		return -ENOMEM;
	err = bpf_map_get_next_key(fd, NULL, &next);
	while (!err) {
		cur = next;
		if (!bpf_map_lookup_elem(fd, &cur, vals)) {
			struct stat_entry *e;

			if (*n == cap) {
				struct stat_entry *g = realloc(v, (cap ? cap * 2 : 64) * sizeof(*v));

				if (!g) {
					free(v);
					free(vals);
					return -ENOMEM;
				}
				v = g;
				cap = cap ? cap * 2 : 64;
			}
			e = &v[(*n)++];
			memset(e, 0, sizeof(*e));
			e->key = cur;
			for (int c = 0; c < ncpus; c++)
				val_add(&e->val, (const struct tr_l4_val *)(vals + (size_t)c * per));
		} else if (errno != ENOENT) {
			err = -errno;
			free(v);
			free(vals);
			return err;
		}
		err = bpf_map_get_next_key(fd, &cur, &next);
	}
	free(vals);
	if (errno != ENOENT) {
		free(v);
		return -errno;
	}
	*out = v;
	return 0;
}

int l4read(int stat_fd, int ends_fd, l4read_fn fn, void *ctx)
{
	int ncpus = libbpf_num_possible_cpus();
	struct tr_l4_ends_slot *a = NULL, *b = NULL;
	struct stat_entry *st = NULL;
	size_t n_st = 0, n_slots;
	int err = -EAGAIN;

	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	_Static_assert(sizeof(struct tr_l4_ends_slot) % 8 == 0, "per-CPU stride");
	n_slots = (size_t)TR_L4_ENDS_SLOTS * (size_t)ncpus;
	if (ends_fd >= 0) {
		a = calloc(n_slots, sizeof(*a));
		b = calloc(n_slots, sizeof(*b));
		if (!a || !b) {
			err = -ENOMEM;
			goto out;
		}
	}
	for (int t = 0; t < L4READ_TRIES; t++) {
		bool busy = false, moved = false;

		free(st);
		st = NULL;
		if (t) {
			/* a slot is busy for the few hundred nanoseconds of one
			 * program run: a short pause is plenty */
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
		}
		if (ends_fd >= 0) {
			err = read_slots(ends_fd, ncpus, a, &busy);
			if (err)
				goto out;
			if (busy) {
				err = -EAGAIN;
				continue;
			}
		}
		err = read_stat(stat_fd, ncpus, &st, &n_st);
		if (err)
			goto out;
		if (ends_fd < 0)
			break;
		err = read_slots(ends_fd, ncpus, b, &busy);
		if (err)
			goto out;
		for (size_t i = 0; i < n_slots && !moved; i++)
			moved = a[i].folds != b[i].folds;
		if (!moved) {
			err = 0;
			break;
		}
		err = -EAGAIN;
	}
	if (err)
		goto out;
	for (size_t i = 0; i < n_st && !err; i++)
		err = fn(&st[i].key, &st[i].val, ctx);
	for (size_t i = 0; ends_fd >= 0 && i < n_slots && !err; i++) {
		const struct tr_l4_ends_slot *s = &a[i];

		if (!(s->val.opened | s->val.closed | s->val.sent_bytes | s->val.received_bytes))
			continue;
		for (int k = 0; k < s->nkeys && k < 2 && !err; k++)
			err = fn(&s->key[k], &s->val, ctx);
	}
out:
	free(st);
	free(a);
	free(b);
	return err;
}
