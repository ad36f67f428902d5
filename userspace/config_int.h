/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internals of the manifest loader, shared by its files only:
 *   config.c          files, documents, dispatch by kind, the Mesh object
 *   config_walk.c     diagnostics, field paths, field tables, typed values
 *   config_names.c    Kubernetes / Istio name and label syntax
 *   config_k8s.c      Service, EndpointSlice, Pod, Node
 *   config_istio.c    DestinationRule, VirtualService
 *   config_security.c AuthorizationPolicy
 *   config_peerauth.c PeerAuthentication, and its checks across the set
 *   config_validate.c checks across the whole set (duplicates, VIP clashes)
 *   config_model.c    the public helpers: IPs, labels, freeing, formatting
 *   config_digest.c   per-object field digests for the audit log
 */
#ifndef TRESTLE_CONFIG_INT_H
#define TRESTLE_CONFIG_INT_H

#include "config.h"
#include "yaml_tree.h"

/* More errors than this are summarised in one line. */
#define CONFIG_MAX_ERRORS 100
#define CONFIG_MAX_WARNINGS 100
/* Files larger than this are refused. */
#define CONFIG_MAX_FILE_SIZE (16u << 20)

/* One load: the model being built and the diagnostics. */
struct loader {
	struct tr_config *cfg;
	struct tr_diags *diags;
	int err;            /* -ENOMEM once an allocation failed */
	bool errors_capped;
	size_t n_warnings;
	char *mesh_name;    /* the first Mesh, for the "second Mesh" error */
};

/* One object (document) being read, with the path of the current field. */
struct obj {
	struct loader *ld;
	const char *file;   /* points into cfg->files */
	const char *kind;   /* NULL until the kind is known */
	const char *ns;     /* NULL for cluster-scoped kinds */
	const char *name;   /* NULL until known */
	char path[512];
	size_t plen;
};

/* metadata, read the same way for every kind */
struct meta {
	char *name;
	char *ns;
	struct tr_labels labels;
	char *cgroup;       /* annotation trestle.io/cgroup */
	int line;
};

/* --- diagnostics (config_walk.c) --- */
void ld_diag(struct loader *ld, enum tr_diag_level level, const char *file,
	     int line, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* "<Kind> <ns>/<name>: <path>: <message>" at file:line. */
void obj_diag(struct obj *o, enum tr_diag_level level, int line,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define obj_err(o, line, ...) obj_diag(o, TR_DIAG_ERROR, line, __VA_ARGS__)
#define obj_warn(o, line, ...) obj_diag(o, TR_DIAG_WARNING, line, __VA_ARGS__)
/* "Service default/foo" (or "Node n1") into buf. */
const char *obj_label(char *buf, size_t len, const char *kind, const char *ns,
		      const char *name);

/* --- field paths; each push returns the length to restore --- */
size_t path_key(struct obj *o, const char *key);
size_t path_idx(struct obj *o, size_t i);
void path_pop(struct obj *o, size_t len);

/* --- allocation; failures set ld->err and return NULL --- */
void *ld_zalloc(struct loader *ld, size_t size);
char *ld_strdup(struct loader *ld, const char *s);
/* Append one zeroed element to a growing array; NULL on ENOMEM. */
void *ld_push(struct loader *ld, void **arr, size_t *n, size_t size);
#define PUSH(ld, arr, n) \
	((__typeof__(arr))ld_push((ld), (void **)&(arr), &(n), sizeof(*(arr))))

/* --- field tables --- */
enum field_policy {
	F_READ,   /* read by .read (not called for null values) */
	F_IGNORE, /* accepted, not read (informational) */
	F_WARN,   /* accepted, warning "<why>" unless empty */
	F_ERROR,  /* refused, error "<why>" unless empty */
};
#define F_REQUIRED 1u

struct field {
	const char *key;
	enum field_policy policy;
	void (*read)(struct obj *o, const struct ynode *v, void *target);
	const char *why;
	unsigned flags;
};

/*
 * Walk a mapping with a field table. strict: unknown keys are errors with
 * their full path; otherwise they are ignored. Missing F_REQUIRED fields
 * are errors at the mapping's line.
 */
void walk_map(struct obj *o, const struct ynode *map, const struct field *fields,
	      size_t n_fields, bool strict, void *target);
#define WALK(o, map, table, strict, target) \
	walk_map(o, map, table, sizeof(table) / sizeof((table)[0]), strict, target)

/* --- typed values: each reports its own error and returns false --- */
bool want_map(struct obj *o, const struct ynode *v);
bool want_seq(struct obj *o, const struct ynode *v);
bool is_null(const struct ynode *v);
/* Replaces *out (freeing the old value). */
bool get_str(struct obj *o, const struct ynode *v, char **out);
bool get_nonempty_str(struct obj *o, const struct ynode *v, char **out);
bool get_int(struct obj *o, const struct ynode *v, long long min, long long max,
	     long long *out);
bool get_bool(struct obj *o, const struct ynode *v, bool *out);
bool get_port(struct obj *o, const struct ynode *v, uint16_t *out);
/* TCP | UDP; SCTP and others are errors. */
bool get_proto(struct obj *o, const struct ynode *v, int *proto);
bool get_ip(struct obj *o, const struct ynode *v, struct tr_ip *ip);
/* A map of label key -> value, both validated; appended to *out. */
void read_labels(struct obj *o, const struct ynode *v, struct tr_labels *out);
/* Append ip to a deduplicated array. */
void ip_add_unique(struct loader *ld, struct tr_ip **arr, size_t *n,
		   const struct tr_ip *ip);
const char *proto_name(int proto);

/* --- names (config_names.c); NULL = valid, else why not --- */
const char *check_dns_label(const char *s);
const char *check_dns_subdomain(const char *s);
const char *check_iana_svc_name(const char *s);
const char *check_label_key(const char *s);
const char *check_label_value(const char *s);
/* Istio host: FQDN or short name, optionally "*." wildcard, or "*". */
const char *check_istio_host(const char *s);
/* Closest known key within edit distance 2, for "did you mean". */
const char *closest_key(const char *key, const struct field *fields, size_t n);

/* --- kinds --- */
void load_service(struct obj *o, const struct ynode *root, struct meta *m);
void load_endpointslice(struct obj *o, const struct ynode *root, struct meta *m);
void load_pod(struct obj *o, const struct ynode *root, struct meta *m);
void load_node(struct obj *o, const struct ynode *root, struct meta *m);
void load_dest_rule(struct obj *o, const struct ynode *root, struct meta *m);
void load_virtual_service(struct obj *o, const struct ynode *root, struct meta *m);
void load_authz_policy(struct obj *o, const struct ynode *root, struct meta *m);
void load_peer_authn(struct obj *o, const struct ynode *root, struct meta *m);

/* --- whole set (config_validate.c) --- */
void validate_set(struct loader *ld);
/* Sorts cfg->peer_authns, warns about overlaps (config_peerauth.c). */
void validate_peer_authns(struct loader *ld);

/* --- digests (config_digest.c) --- */
/* Record the object o (kind and name known) as written in root. */
void digest_object(struct obj *o, const struct ynode *root);
void digests_free(struct tr_config *cfg);

/* --- model (config_model.c) --- */
void labels_free(struct tr_labels *l);
void meta_free(struct meta *m);

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define ANNOTATION_CGROUP "trestle.io/cgroup"

#endif /* TRESTLE_CONFIG_INT_H */
