// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Object digests for the audit log: each object's identity and its fields
 * flattened from the YAML tree into sorted (path, value) strings, so two
 * configurations can be compared field by field (audit.c) without knowing
 * the kinds. Built while the document's tree is still alive (load_doc).
 */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIGEST_MAX_PATH 1024

struct flat {
	struct loader *ld;
	struct tr_object_digest *d;
	char path[DIGEST_MAX_PATH];
	size_t plen;
};

/* Fields that change without anyone changing the object. */
static bool skipped(const char *path)
{
	static const char *const skip[] = {
		"kind",
		"metadata.name",
		"metadata.namespace",
		"metadata.uid",
		"metadata.resourceVersion",
		"metadata.generation",
		"metadata.creationTimestamp",
		"metadata.managedFields",
		"metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]",
	};
	size_t i;

	for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (!strcmp(path, skip[i]))
			return true;
	return false;
}

static bool plain_key(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '_' && *k != '-')
			return false;
	return true;
}

/* Append to the path; false when it does not fit. */
static bool path_put(struct flat *f, const char *s, size_t n)
{
	if (f->plen + n >= sizeof(f->path))
		return false;
	memcpy(f->path + f->plen, s, n);
	f->plen += n;
	f->path[f->plen] = '\0';
	return true;
}

static bool path_push_key(struct flat *f, const char *key)
{
	const char *k;

	if (plain_key(key))
		return (!f->plen || path_put(f, ".", 1)) && path_put(f, key, strlen(key));
	if (!path_put(f, "[\"", 2))
		return false;
	for (k = key; *k; k++) {
		if ((*k == '"' || *k == '\\') && !path_put(f, "\\", 1))
			return false;
		if (!path_put(f, (unsigned char)*k < 0x20 ? "?" : k, 1))
			return false;
	}
	return path_put(f, "\"]", 2);
}

static bool path_push_idx(struct flat *f, size_t i)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "[%zu]", i);

	return path_put(f, b, (size_t)n);
}

/* The value as the digest keeps it: owned, at most TR_DIGEST_MAX_VALUE. */
static char *value_str(struct loader *ld, const struct ynode *n)
{
	struct ynode plain;
	size_t len, cut;
	char *s;

	if (n->type == YNODE_SEQ)
		return ld_strdup(ld, "[]");
	if (n->type == YNODE_MAP)
		return ld_strdup(ld, "{}");
	if (n->plain && !n->str[0])
		return ld_strdup(ld, "null");
	if (!n->plain) {
		/* "8080" quoted is a string where 8080 is a number: show it */
		plain = *n;
		plain.plain = true;
		if (!n->str[0] || yscalar_resolve(&plain) != YSCALAR_STR) {
			if (asprintf(&s, "\"%s\"", n->str) < 0) {
				ld->err = -ENOMEM;
				return NULL;
			}
			goto cut;
		}
	}
	s = ld_strdup(ld, n->str);
	if (!s)
		return NULL;
cut:
	len = strlen(s);
	if (len > TR_DIGEST_MAX_VALUE) {
		cut = TR_DIGEST_MAX_VALUE - 3;
		while (cut && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--; /* not inside a UTF-8 sequence */
		memcpy(s + cut, "...", 4);
	}
	return s;
}

static void add_field(struct flat *f, const struct ynode *n)
{
	struct tr_object_digest *d = f->d;
	struct tr_field_digest *fd;
	char *path, *val;

	if (d->n_fields >= TR_DIGEST_MAX_FIELDS) {
		d->n_fields_dropped++;
		return;
	}
	path = ld_strdup(f->ld, f->path);
	val = path ? value_str(f->ld, n) : NULL;
	fd = val ? PUSH(f->ld, d->fields, d->n_fields) : NULL;
	if (!fd) {
		free(path);
		free(val);
		return;
	}
	fd->path = path;
	fd->value = val;
}

static void flatten(struct flat *f, const struct ynode *n)
{
	size_t saved = f->plen, i;

	if (f->ld->err)
		return;
	if (f->plen && skipped(f->path))
		return;
	if (n->type == YNODE_SCALAR || ynode_is_empty(n)) {
		add_field(f, n);
		return;
	}
	if (n->type == YNODE_SEQ) {
		for (i = 0; i < n->n_items; i++) {
			if (path_push_idx(f, i))
				flatten(f, n->items[i]);
			else
				f->d->n_fields_dropped++;
			f->plen = saved;
			f->path[saved] = '\0';
		}
		return;
	}
	for (i = 0; i < n->n_pairs; i++) {
		if (path_push_key(f, n->pairs[i].key->str))
			flatten(f, n->pairs[i].val);
		else
			f->d->n_fields_dropped++;
		f->plen = saved;
		f->path[saved] = '\0';
	}
}

static int cmp_field(const void *a, const void *b)
{
	const struct tr_field_digest *fa = a, *fb = b;

	return tr_digest_path_cmp(fa->path, fb->path);
}

void digest_object(struct obj *o, const struct ynode *root)
{
	struct loader *ld = o->ld;
	struct tr_config *cfg = ld->cfg;
	struct tr_object_digest *d;
	struct flat f = { .ld = ld };

	if (!o->kind || !o->name || ld->err)
		return;
	d = PUSH(ld, cfg->digests, cfg->n_digests);
	if (!d)
		return;
	d->kind = o->kind;
	d->name = ld_strdup(ld, o->name);
	d->ns = o->ns ? ld_strdup(ld, o->ns) : NULL;
	d->src.file = o->file;
	d->src.line = root->line;
	f.d = d;
	flatten(&f, root);
	if (d->n_fields > 1)
		qsort(d->fields, d->n_fields, sizeof(*d->fields), cmp_field);
}

/* Length of the digit run at s, leading zeros not counted in *sig. */
static size_t digits(const char *s, size_t *sig, const char **first)
{
	size_t n = 0;

	while (s[n] == '0')
		n++;
	*first = s + n;
	while (isdigit((unsigned char)s[n]))
		n++;
	*sig = (size_t)(s + n - *first);
	return n;
}

int tr_digest_path_cmp(const char *a, const char *b)
{
	const char *pa = a, *pb = b, *fa, *fb;
	size_t na, nb, sa, sb;
	int c;

	while (*pa && *pb) {
		if (isdigit((unsigned char)*pa) && isdigit((unsigned char)*pb)) {
			na = digits(pa, &sa, &fa);
			nb = digits(pb, &sb, &fb);
			if (sa != sb)
				return sa < sb ? -1 : 1;
			c = memcmp(fa, fb, sa);
			if (c)
				return c < 0 ? -1 : 1;
			pa += na;
			pb += nb;
			continue;
		}
		if (*pa != *pb)
			return (unsigned char)*pa < (unsigned char)*pb ? -1 : 1;
		pa++;
		pb++;
	}
	if (*pa || *pb)
		return *pa ? 1 : -1;
	c = strcmp(a, b); /* "01" and "1": still a total order */
	return c < 0 ? -1 : c > 0;
}

void digests_free(struct tr_config *cfg)
{
	struct tr_object_digest *d;
	size_t i, j;

	for (i = 0; i < cfg->n_digests; i++) {
		d = &cfg->digests[i];
		free(d->ns);
		free(d->name);
		for (j = 0; j < d->n_fields; j++) {
			free(d->fields[j].path);
			free(d->fields[j].value);
		}
		free(d->fields);
	}
	free(cfg->digests);
	cfg->digests = NULL;
	cfg->n_digests = 0;
}
