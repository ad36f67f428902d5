/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Stable small ids for names (identities, workloads, policies): the same
 * name keeps its id across reloads and agent restarts (ids are re-read from
 * the pinned info maps), so counters and logs keyed by id stay meaningful.
 * A mark-and-sweep per apply frees the ids of names that are gone.
 */
#ifndef TRESTLE_IDTABLE_H
#define TRESTLE_IDTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct id_entry {
	char *name;
	uint32_t id;
	bool used;  /* marked in the current apply */
	bool fresh; /* allocated in the current apply */
};

struct idtable {
	struct id_entry *items; /* sorted by name */
	size_t n, cap;
	uint64_t *bits;         /* ids in use */
	const char **by_id;     /* id -> name (points into items) */
	uint32_t max;           /* ids are 1 .. max-1 */
	uint32_t cursor;
};

int idtable_init(struct idtable *t, uint32_t max);
/* Record an existing (name, id), e.g. read back from a pinned map. */
int idtable_load(struct idtable *t, const char *name, uint32_t id);
/* Start an apply: nothing is marked used. */
void idtable_begin(struct idtable *t);
/* The id of name, allocating one if needed; 0 when the id space is full. */
uint32_t idtable_get(struct idtable *t, const char *name, bool *fresh);
/* Look up without allocating; 0 if unknown. */
uint32_t idtable_find(const struct idtable *t, const char *name);
const char *idtable_name(const struct idtable *t, uint32_t id);
/* Forget entries not marked since idtable_begin(); calls gone(id) for each. */
void idtable_sweep(struct idtable *t, void (*gone)(uint32_t id, void *ctx), void *ctx);
/* Undo an apply: forget the entries allocated since idtable_begin(),
 * calling gone(id) for each. */
void idtable_rollback(struct idtable *t, void (*gone)(uint32_t id, void *ctx), void *ctx);
void idtable_free(struct idtable *t);

#endif /* TRESTLE_IDTABLE_H */
