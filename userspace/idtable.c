// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "idtable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int idtable_init(struct idtable *t, uint32_t max)
{
	memset(t, 0, sizeof(*t));
	t->bits = calloc(max / 64 + 1, sizeof(uint64_t));
	t->by_id = calloc(max, sizeof(*t->by_id));
	t->max = max;
	t->cursor = 1;
	return t->bits && t->by_id ? 0 : -ENOMEM;
}

static bool bit_test(const struct idtable *t, uint32_t id)
{
	return t->bits[id / 64] & (1ULL << (id % 64));
}

static void bit_set(struct idtable *t, uint32_t id, bool on)
{
	if (on)
		t->bits[id / 64] |= 1ULL << (id % 64);
	else
		t->bits[id / 64] &= ~(1ULL << (id % 64));
}

/* Index of name, or where it would go (*found false). */
static size_t lookup(const struct idtable *t, const char *name, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(t->items[mid].name, name);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int insert(struct idtable *t, size_t at, const char *name, uint32_t id)
{
	char *copy = strdup(name);

	if (!copy)
		return -ENOMEM;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct id_entry *items = realloc(t->items, cap * sizeof(*items));

		if (!items) {
			free(copy);
			return -ENOMEM;
		}
		t->items = items;
		t->cap = cap;
	}
	memmove(&t->items[at + 1], &t->items[at], (t->n - at) * sizeof(*t->items));
	t->items[at] = (struct id_entry){ .name = copy, .id = id };
	t->n++;
	bit_set(t, id, true);
	t->by_id[id] = copy;
	return 0;
}

int idtable_load(struct idtable *t, const char *name, uint32_t id)
{
	bool found;
	size_t at;

	if (!id || id >= t->max || bit_test(t, id))
		return -EEXIST;
	at = lookup(t, name, &found);
	if (found)
		return -EEXIST;
	return insert(t, at, name, id);
}

void idtable_begin(struct idtable *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->items[i].used = t->items[i].fresh = false;
}

uint32_t idtable_get(struct idtable *t, const char *name, bool *fresh)
{
	bool found;
	size_t at = lookup(t, name, &found);

	if (found) {
		t->items[at].used = true;
		if (fresh)
			*fresh = t->items[at].fresh;
		return t->items[at].id;
	}
	for (uint32_t n = 0; n < t->max; n++) {
		uint32_t id = t->cursor;

		t->cursor = t->cursor + 1 >= t->max ? 1 : t->cursor + 1;
		if (!id || bit_test(t, id))
			continue;
		if (insert(t, at, name, id))
			return 0;
		t->items[at].used = true;
		t->items[at].fresh = true;
		if (fresh)
			*fresh = true;
		return id;
	}
	return 0;
}

uint32_t idtable_find(const struct idtable *t, const char *name)
{
	bool found;
	size_t at = lookup(t, name, &found);

	return found ? t->items[at].id : 0;
}

const char *idtable_name(const struct idtable *t, uint32_t id)
{
	return id < t->max ? t->by_id[id] : NULL;
}

static void drop_where(struct idtable *t, bool fresh_only,
		       void (*gone)(uint32_t id, void *ctx), void *ctx)
{
	size_t keep = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct id_entry *e = &t->items[i];
		bool drop = fresh_only ? e->fresh : !e->used;

		if (!drop) {
			t->items[keep++] = *e;
			continue;
		}
		if (gone)
			gone(e->id, ctx);
		bit_set(t, e->id, false);
		t->by_id[e->id] = NULL;
		free(e->name);
	}
	t->n = keep;
}

void idtable_sweep(struct idtable *t, void (*gone)(uint32_t id, void *ctx), void *ctx)
{
	drop_where(t, false, gone, ctx);
}

void idtable_rollback(struct idtable *t, void (*gone)(uint32_t id, void *ctx), void *ctx)
{
	drop_where(t, true, gone, ctx);
}

void idtable_free(struct idtable *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->items[i].name);
	free(t->items);
	free(t->bits);
	free(t->by_id);
	memset(t, 0, sizeof(*t));
}
