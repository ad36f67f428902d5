/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small YAML tree built from libyaml's event API: scalars, sequences and
 * mappings with the 1-based line each was written on. It is what the
 * manifest loader (config.c) walks.
 *
 * Deliberately stricter than YAML: aliases are refused (no billion laughs,
 * no shared subtrees), nesting is limited to YTREE_MAX_DEPTH, mapping keys
 * must be scalars, scalars may not contain NUL, and explicit tags other
 * than !!str, !!seq and !!map are refused. Duplicate keys are kept (in
 * order) for the caller to report with a field path.
 */
#ifndef TRESTLE_YAML_TREE_H
#define TRESTLE_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#define YTREE_MAX_DEPTH 64

enum ynode_type { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

/* What a scalar means, YAML 1.1 as Kubernetes' decoder resolves it. */
enum yscalar { YSCALAR_NULL, YSCALAR_BOOL, YSCALAR_INT, YSCALAR_FLOAT, YSCALAR_STR };

struct ynode;

struct ypair {
	struct ynode *key; /* always a scalar */
	struct ynode *val;
};

struct ynode {
	enum ynode_type type;
	int line;            /* 1-based line of the node's first character */
	/* YNODE_SCALAR */
	char *str;           /* NUL-terminated, never contains NUL */
	size_t len;
	bool plain;          /* unquoted and untagged: subject to resolution */
	/* YNODE_SEQ */
	struct ynode **items;
	size_t n_items;
	/* YNODE_MAP, in document order */
	struct ypair *pairs;
	size_t n_pairs;
	/* construction only */
	size_t cap;
	struct ynode *pending_key;
};

struct yerror {
	int line;       /* 1-based, 0 when unknown */
	char msg[320];  /* "YAML syntax error: ..." and friends */
};

/* Called with each document as soon as it is complete (null documents
 * included); the tree is freed when the callback returns. */
typedef void (*ydoc_fn)(void *ctx, const struct ynode *root);

/*
 * Parse buf, one document at a time. Returns 0, -EINVAL with *err filled
 * (the documents before the error have been passed to fn), or -ENOMEM.
 */
int ytree_parse(const char *buf, size_t len, ydoc_fn fn, void *ctx,
		struct yerror *err);
void ynode_free(struct ynode *n);

/* First value of key in a mapping, NULL when absent or not a mapping. */
const struct ynode *ymap_get(const struct ynode *map, const char *key);
/* Resolve a scalar; non-scalars resolve to YSCALAR_STR (check type first). */
enum yscalar yscalar_resolve(const struct ynode *n);
/* True for a null scalar, an empty sequence or an empty mapping. */
bool ynode_is_empty(const struct ynode *n);
/* "a mapping", "a list", "a string", "an integer", ... for messages. */
const char *ynode_describe(const struct ynode *n);

#endif /* TRESTLE_YAML_TREE_H */
