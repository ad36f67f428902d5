// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "yaml_tree.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_SEQ "tag:yaml.org,2002:seq"
#define TAG_MAP "tag:yaml.org,2002:map"

void ynode_free(struct ynode *n)
{
	size_t i;

	if (!n)
		return;
	free(n->str);
	for (i = 0; i < n->n_items; i++)
		ynode_free(n->items[i]);
	free(n->items);
	for (i = 0; i < n->n_pairs; i++) {
		ynode_free(n->pairs[i].key);
		ynode_free(n->pairs[i].val);
	}
	free(n->pairs);
	ynode_free(n->pending_key);
	free(n);
}

static int mark_line(const yaml_mark_t *m)
{
	return m->line >= INT_MAX ? INT_MAX : (int)m->line + 1;
}

static void set_err(struct yerror *err, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(struct yerror *err, int line, const char *fmt, ...)
{
	va_list ap;

	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* libyaml's own error, with the line it happened on. */
static void parser_err(const yaml_parser_t *p, const char *buf, size_t len,
		       struct yerror *err)
{
	const char *problem = p->problem ? p->problem : "unknown error";
	size_t i, off, lines = 0;

	if (p->error == YAML_READER_ERROR) {
		/* Reader errors have an offset, not a mark. */
		off = p->problem_offset < len ? p->problem_offset : len;
		for (i = 0; i < off; i++)
			lines += buf[i] == '\n';
		if (p->problem_value >= 0)
			set_err(err, lines >= INT_MAX ? INT_MAX : (int)lines + 1,
				"YAML syntax error: %s (byte 0x%02x at offset %zu)",
				problem, p->problem_value & 0xff, p->problem_offset);
		else
			set_err(err, lines >= INT_MAX ? INT_MAX : (int)lines + 1,
				"YAML syntax error: %s", problem);
		return;
	}
	if (p->context)
		set_err(err, mark_line(&p->problem_mark),
			"YAML syntax error: %s (%s at line %d)", problem,
			p->context, mark_line(&p->context_mark));
	else
		set_err(err, mark_line(&p->problem_mark), "YAML syntax error: %s",
			problem);
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 4;
	if (ncap > SIZE_MAX / size)
		return -ENOMEM;
	p = realloc(*arr, ncap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Hang node under parent (or make it the root). Takes ownership of node. */
static int attach(struct ynode *parent, struct ynode *node, struct yerror *err)
{
	int rc;

	if (parent->type == YNODE_SEQ) {
		rc = grow((void **)&parent->items, &parent->cap, parent->n_items,
			  sizeof(*parent->items));
		if (rc)
			goto fail;
		parent->items[parent->n_items++] = node;
		return 0;
	}
	if (!parent->pending_key) {
		if (node->type != YNODE_SCALAR) {
			set_err(err, node->line,
				"mapping keys must be plain strings, not %s",
				node->type == YNODE_MAP ? "mappings" : "lists");
			rc = -EINVAL;
			goto fail;
		}
		parent->pending_key = node;
		return 0;
	}
	rc = grow((void **)&parent->pairs, &parent->cap, parent->n_pairs,
		  sizeof(*parent->pairs));
	if (rc)
		goto fail;
	parent->pairs[parent->n_pairs].key = parent->pending_key;
	parent->pairs[parent->n_pairs].val = node;
	parent->n_pairs++;
	parent->pending_key = NULL;
	return 0;
fail:
	ynode_free(node);
	return rc;
}

static int check_tag(const yaml_char_t *tag, const char *allowed, int line,
		     struct yerror *err)
{
	const char *t = (const char *)tag;

	if (!t || !strcmp(t, "!") || !strcmp(t, allowed))
		return 0;
	set_err(err, line, "explicit YAML tag %s is not supported", t);
	return -EINVAL;
}

static struct ynode *new_node(enum ynode_type type, const yaml_event_t *ev)
{
	struct ynode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type;
	n->line = mark_line(&ev->start_mark);
	return n;
}

static int scalar_node(const yaml_event_t *ev, struct ynode **out, struct yerror *err)
{
	size_t len = ev->data.scalar.length;
	int line = mark_line(&ev->start_mark);
	struct ynode *n;
	int rc;

	rc = check_tag(ev->data.scalar.tag, TAG_STR, line, err);
	if (rc)
		return rc;
	if (memchr(ev->data.scalar.value, 0, len)) {
		set_err(err, line, "a string contains a NUL character");
		return -EINVAL;
	}
	n = new_node(YNODE_SCALAR, ev);
	if (!n)
		return -ENOMEM;
	n->str = malloc(len + 1);
	if (!n->str) {
		free(n);
		return -ENOMEM;
	}
	memcpy(n->str, ev->data.scalar.value, len);
	n->str[len] = '\0';
	n->len = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		   !ev->data.scalar.tag;
	*out = n;
	return 0;
}

int ytree_parse(const char *buf, size_t len, ydoc_fn fn, void *ctx,
		struct yerror *err)
{
	struct ynode *stack[YTREE_MAX_DEPTH];
	struct ynode *root = NULL, *node;
	size_t depth = 0;
	yaml_parser_t p;
	yaml_event_t ev;
	bool done = false;
	int rc = 0;

	memset(err, 0, sizeof(*err));
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);

	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			if (p.error == YAML_MEMORY_ERROR) {
				rc = -ENOMEM;
			} else {
				parser_err(&p, buf, len, err);
				rc = -EINVAL;
			}
			break;
		}
		node = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			depth = 0;
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (root) {
				fn(ctx, root);
				ynode_free(root);
				root = NULL;
			}
			break;
		case YAML_ALIAS_EVENT:
			set_err(err, mark_line(&ev.start_mark),
				"YAML alias *%s is not supported (write the value out instead of referring to an anchor)",
				(const char *)ev.data.alias.anchor);
			rc = -EINVAL;
			break;
		case YAML_SCALAR_EVENT:
			rc = scalar_node(&ev, &node, err);
			break;
		case YAML_SEQUENCE_START_EVENT:
			rc = check_tag(ev.data.sequence_start.tag, TAG_SEQ,
				       mark_line(&ev.start_mark), err);
			if (!rc && !(node = new_node(YNODE_SEQ, &ev)))
				rc = -ENOMEM;
			break;
		case YAML_MAPPING_START_EVENT:
			rc = check_tag(ev.data.mapping_start.tag, TAG_MAP,
				       mark_line(&ev.start_mark), err);
			if (!rc && !(node = new_node(YNODE_MAP, &ev)))
				rc = -ENOMEM;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth)
				depth--;
			break;
		default:
			break;
		}
		if (!rc && node) {
			bool container = node->type != YNODE_SCALAR;

			if (container && depth == YTREE_MAX_DEPTH) {
				set_err(err, node->line,
					"YAML nested deeper than %d levels",
					YTREE_MAX_DEPTH);
				ynode_free(node);
				rc = -EINVAL;
			} else if (depth == 0 && !root) {
				root = node;
			} else if (depth == 0) {
				/* libyaml emits one root per document. */
				ynode_free(node);
				container = false;
			} else {
				rc = attach(stack[depth - 1], node, err);
			}
			if (!rc && container)
				stack[depth++] = node;
		}
		yaml_event_delete(&ev);
		if (rc)
			break;
	}
	ynode_free(root);
	yaml_parser_delete(&p);
	return rc;
}

const struct ynode *ymap_get(const struct ynode *map, const char *key)
{
	size_t i;

	if (!map || map->type != YNODE_MAP)
		return NULL;
	for (i = 0; i < map->n_pairs; i++)
		if (!strcmp(map->pairs[i].key->str, key))
			return map->pairs[i].val;
	return NULL;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

static bool is_int(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b') && s[2])
		return strspn(s + 2, "0123456789abcdefABCDEF_") == strlen(s + 2);
	return *s >= '0' && *s <= '9' && strspn(s, "0123456789_") == strlen(s);
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? (Go yaml.v2) */
static bool is_float(const char *s)
{
	size_t d;

	if (*s == '+' || *s == '-')
		s++;
	if (*s == '.') {
		s++;
		d = strspn(s, "0123456789");
		if (!d)
			return false;
		s += d;
	} else {
		d = strspn(s, "0123456789");
		if (!d)
			return false;
		s += d;
		if (*s == '.')
			s += 1 + strspn(s + 1, "0123456789");
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		d = strspn(s, "0123456789");
		if (!d)
			return false;
		s += d;
	}
	return *s == '\0';
}

enum yscalar yscalar_resolve(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const bools[] = {
		"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE",
		"on", "On", "ON", "off", "Off", "OFF", NULL,
	};
	static const char *const floats[] = {
		".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
		"-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL,
	};

	if (n->type != YNODE_SCALAR || !n->plain)
		return YSCALAR_STR;
	if (in_list(n->str, nulls))
		return YSCALAR_NULL;
	if (in_list(n->str, bools))
		return YSCALAR_BOOL;
	if (is_int(n->str))
		return YSCALAR_INT;
	if (is_float(n->str) || in_list(n->str, floats))
		return YSCALAR_FLOAT;
	return YSCALAR_STR;
}

bool ynode_is_empty(const struct ynode *n)
{
	switch (n->type) {
	case YNODE_SCALAR:
		return yscalar_resolve(n) == YSCALAR_NULL;
	case YNODE_SEQ:
		return n->n_items == 0;
	case YNODE_MAP:
		return n->n_pairs == 0;
	}
	return false;
}

const char *ynode_describe(const struct ynode *n)
{
	switch (n->type) {
	case YNODE_SEQ:
		return "a list";
	case YNODE_MAP:
		return "a mapping";
	case YNODE_SCALAR:
		break;
	}
	switch (yscalar_resolve(n)) {
	case YSCALAR_NULL:
		return "null";
	case YSCALAR_BOOL:
		return "a boolean";
	case YSCALAR_INT:
		return "an integer";
	case YSCALAR_FLOAT:
		return "a floating-point number";
	case YSCALAR_STR:
		break;
	}
	return "a string";
}
