// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Manifest loader: files, documents, dispatch by kind, the Mesh object.
 * The kinds themselves are read in config_k8s.c, config_istio.c,
 * config_security.c and config_peerauth.c, the checks across objects are
 * in config_validate.c.
 *
 * Policy: every field of a mesh-configuration object is read, accepted as
 * informational, warned about ("accepted, not enforced") or refused; an
 * unknown field is an error with its path. Pods and Nodes describe
 * workloads rather than mesh configuration, so outside metadata only the
 * fields Trestle reads are checked and the rest (containers, volumes,
 * conditions, ...) is accepted unread.
 */
#include "config_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_TRUST_DOMAIN "cluster.local"
#define DEFAULT_ROOT_NAMESPACE "istio-system"

/* ------------------------------------------------------------------ */
/* metadata: the same for every kind */

static void read_meta_name(struct obj *o, const struct ynode *v, void *t)
{
	get_str(o, v, &((struct meta *)t)->name);
}

static void read_meta_ns(struct obj *o, const struct ynode *v, void *t)
{
	get_str(o, v, &((struct meta *)t)->ns);
}

static void read_meta_labels(struct obj *o, const struct ynode *v, void *t)
{
	read_labels(o, v, &((struct meta *)t)->labels);
}

static void read_meta_annotations(struct obj *o, const struct ynode *v, void *t)
{
	struct meta *m = t;
	const struct ypair *p;
	const char *why;
	char *val;
	size_t i, saved;

	if (!want_map(o, v))
		return;
	for (i = 0; i < v->n_pairs; i++) {
		p = &v->pairs[i];
		saved = path_key(o, p->key->str);
		val = NULL;
		if ((why = check_label_key(p->key->str)))
			obj_err(o, p->key->line, "invalid annotation key: %s", why);
		else if (!is_null(p->val) && get_str(o, p->val, &val) &&
			 !strcmp(p->key->str, ANNOTATION_CGROUP)) {
			/* relative to the agent's --cgroup directory */
			if (!val[0] || val[0] == '/' || strstr(val, "..") || strstr(val, "//"))
				obj_err(o, p->val->line,
					"\"%s\" is not a cgroup path relative to the agent's --cgroup directory (hint: like kubepods/pod1234, without a leading / or ..)",
					val);
			free(m->cgroup);
			m->cgroup = val;
			val = NULL;
		}
		free(val);
		path_pop(o, saved);
	}
}

static const struct field meta_fields[] = {
	{ "name", F_READ, read_meta_name },
	{ "namespace", F_READ, read_meta_ns },
	{ "labels", F_READ, read_meta_labels },
	{ "annotations", F_READ, read_meta_annotations },
	{ "uid", F_IGNORE },
	{ "resourceVersion", F_IGNORE },
	{ "generation", F_IGNORE },
	{ "creationTimestamp", F_IGNORE },
	{ "managedFields", F_IGNORE },
	{ "ownerReferences", F_IGNORE },
	{ "finalizers", F_IGNORE },
	{ "generateName", F_IGNORE },
};

/* ------------------------------------------------------------------ */
/* Mesh */

static void read_trust_domain(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_mesh *mesh = t;
	const char *why;

	if (!get_str(o, v, &mesh->trust_domain))
		return;
	if ((why = check_dns_subdomain(mesh->trust_domain)))
		obj_err(o, v->line, "\"%s\" is not a valid trust domain: %s",
			mesh->trust_domain, why);
}

static void read_root_ns(struct obj *o, const struct ynode *v, void *t)
{
	struct tr_mesh *mesh = t;
	const char *why;

	if (!get_str(o, v, &mesh->root_namespace))
		return;
	if ((why = check_dns_label(mesh->root_namespace)))
		obj_err(o, v->line, "\"%s\" is not a valid namespace: %s",
			mesh->root_namespace, why);
}

static const struct field mesh_spec_fields[] = {
	{ "trustDomain", F_READ, read_trust_domain },
	{ "rootNamespace", F_READ, read_root_ns },
};

static void read_mesh_spec(struct obj *o, const struct ynode *v, void *t)
{
	WALK(o, v, mesh_spec_fields, true, t);
}

static const struct field mesh_fields[] = {
	{ "apiVersion", F_IGNORE },
	{ "kind", F_IGNORE },
	{ "metadata", F_IGNORE },
	{ "spec", F_READ, read_mesh_spec },
};

static void load_mesh(struct obj *o, const struct ynode *root, struct meta *m)
{
	struct tr_config *cfg = o->ld->cfg;
	char first[512];

	(void)m;
	if (cfg->mesh.present) {
		obj_err(o, root->line,
			"only one Mesh object is allowed; %s is already defined at %s:%d",
			obj_label(first, sizeof(first), "Mesh", NULL, o->ld->mesh_name),
			cfg->mesh.src.file, cfg->mesh.src.line);
		return;
	}
	cfg->mesh.present = true;
	cfg->mesh.src.file = o->file;
	cfg->mesh.src.line = root->line;
	if (o->name)
		o->ld->mesh_name = ld_strdup(o->ld, o->name);
	WALK(o, root, mesh_fields, true, &cfg->mesh);
}

/* ------------------------------------------------------------------ */
/* dispatch */

enum name_rule { NAME_LABEL, NAME_SUBDOMAIN };

struct kind {
	const char *kind;
	const char *api_versions[4];
	bool namespaced;
	enum name_rule name_rule;
	void (*load)(struct obj *o, const struct ynode *root, struct meta *m);
};

static const struct kind kinds[] = {
	{ "Service", { "v1" }, true, NAME_LABEL, load_service },
	{ "EndpointSlice", { "discovery.k8s.io/v1" }, true, NAME_SUBDOMAIN,
	  load_endpointslice },
	{ "Pod", { "v1" }, true, NAME_SUBDOMAIN, load_pod },
	{ "Node", { "v1" }, false, NAME_SUBDOMAIN, load_node },
	{ "DestinationRule",
	  { "networking.istio.io/v1", "networking.istio.io/v1beta1",
	    "networking.istio.io/v1alpha3" },
	  true, NAME_SUBDOMAIN, load_dest_rule },
	{ "VirtualService",
	  { "networking.istio.io/v1", "networking.istio.io/v1beta1",
	    "networking.istio.io/v1alpha3" },
	  true, NAME_SUBDOMAIN, load_virtual_service },
	{ "AuthorizationPolicy",
	  { "security.istio.io/v1", "security.istio.io/v1beta1" },
	  true, NAME_SUBDOMAIN, load_authz_policy },
	{ "PeerAuthentication",
	  { "security.istio.io/v1", "security.istio.io/v1beta1" },
	  true, NAME_SUBDOMAIN, load_peer_authn },
	{ "Mesh", { "trestle.io/v1alpha1" }, false, NAME_SUBDOMAIN, load_mesh },
};

#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static void list_kinds(char *buf, size_t len)
{
	size_t i, off = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < N_KINDS && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s %s", i ? ", " : "",
			     kinds[i].api_versions[0], kinds[i].kind);
		if (n < 0)
			return;
		off += (size_t)n;
	}
}

static void list_versions(const struct kind *k, char *buf, size_t len)
{
	size_t i, off = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < 4 && k->api_versions[i] && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
			     k->api_versions[i]);
		if (n < 0)
			return;
		off += (size_t)n;
	}
}

/* apiVersion / kind: a non-empty string, or an error. */
static const char *type_field(struct obj *o, const struct ynode *root, const char *key)
{
	const struct ynode *v = ymap_get(root, key);
	size_t saved = path_key(o, key);
	const char *s = NULL;

	if (!v || is_null(v))
		obj_err(o, root->line,
			"required field is missing (every object needs apiVersion and kind)");
	else if (v->type != YNODE_SCALAR || yscalar_resolve(v) != YSCALAR_STR)
		obj_err(o, v->line, "expected a string, got %s", ynode_describe(v));
	else if (!v->str[0])
		obj_err(o, v->line, "must not be empty");
	else
		s = v->str;
	path_pop(o, saved);
	return s;
}

static const struct kind *find_kind(struct obj *o, const struct ynode *root)
{
	const char *api, *kind;
	char list[512];
	size_t i, j;
	int line;

	api = type_field(o, root, "apiVersion");
	kind = type_field(o, root, "kind");
	if (!api || !kind)
		return NULL;
	for (i = 0; i < N_KINDS; i++) {
		if (strcmp(kinds[i].kind, kind))
			continue;
		for (j = 0; j < 4 && kinds[i].api_versions[j]; j++)
			if (!strcmp(kinds[i].api_versions[j], api))
				return &kinds[i];
		list_versions(&kinds[i], list, sizeof(list));
		line = ymap_get(root, "apiVersion")->line;
		obj_err(o, line,
			"apiVersion: %s %s is not supported (supported for %s: %s)",
			api, kind, kind, list);
		return NULL;
	}
	list_kinds(list, sizeof(list));
	line = ymap_get(root, "kind")->line;
	obj_err(o, line, "kind: unknown kind \"%s\" (apiVersion %s; supported: %s)",
		kind, api, list);
	return NULL;
}

static int cmp_pair_key(const void *a, const void *b)
{
	const struct ypair *const *pa = a, *const *pb = b;
	int c = strcmp((*pa)->key->str, (*pb)->key->str);

	if (c)
		return c;
	return *pa < *pb ? -1 : *pa > *pb;
}

/* Duplicate keys in any mapping of the document, with their path. */
static void check_dup_keys(struct obj *o, const struct ynode *n)
{
	const struct ypair **sorted;
	size_t i, saved;

	if (n->type == YNODE_SEQ) {
		for (i = 0; i < n->n_items; i++) {
			saved = path_idx(o, i);
			check_dup_keys(o, n->items[i]);
			path_pop(o, saved);
		}
		return;
	}
	if (n->type != YNODE_MAP)
		return;
	if (n->n_pairs > 1) {
		sorted = ld_zalloc(o->ld, n->n_pairs * sizeof(*sorted));
		if (!sorted)
			return;
		for (i = 0; i < n->n_pairs; i++)
			sorted[i] = &n->pairs[i];
		/* Ties keep document order: pairs sit in one array. */
		qsort(sorted, n->n_pairs, sizeof(*sorted), cmp_pair_key);
		for (i = 1; i < n->n_pairs; i++) {
			if (strcmp(sorted[i]->key->str, sorted[i - 1]->key->str))
				continue;
			saved = path_key(o, sorted[i]->key->str);
			obj_err(o, sorted[i]->key->line,
				"duplicate key (first written at line %d)",
				sorted[i - 1]->key->line);
			path_pop(o, saved);
		}
		free(sorted);
	}
	for (i = 0; i < n->n_pairs; i++) {
		saved = path_key(o, n->pairs[i].key->str);
		check_dup_keys(o, n->pairs[i].val);
		path_pop(o, saved);
	}
}

static void read_meta(struct obj *o, const struct kind *k, const struct ynode *root,
		      struct meta *m)
{
	const struct ynode *v = ymap_get(root, "metadata");
	const char *why;
	size_t saved;

	m->line = root->line;
	saved = path_key(o, "metadata");
	if (!v || is_null(v)) {
		obj_err(o, root->line, "required field is missing (metadata.name is required)");
		path_pop(o, saved);
		return;
	}
	m->line = v->line;
	WALK(o, v, meta_fields, true, m);
	path_pop(o, saved);

	if (!m->name) {
		saved = path_key(o, "metadata");
		path_key(o, "name");
		obj_err(o, v->line, "required field is missing");
		path_pop(o, saved);
	} else if ((why = k->name_rule == NAME_LABEL ? check_dns_label(m->name)
						      : check_dns_subdomain(m->name))) {
		saved = path_key(o, "metadata");
		path_key(o, "name");
		obj_err(o, ymap_get(v, "name")->line, "\"%s\" is not a valid name: %s",
			m->name, why);
		path_pop(o, saved);
	}
	if (m->ns && !k->namespaced) {
		saved = path_key(o, "metadata");
		path_key(o, "namespace");
		obj_warn(o, ymap_get(v, "namespace")->line,
			 "ignored: %s is not namespaced", k->kind);
		path_pop(o, saved);
		free(m->ns);
		m->ns = NULL;
	} else if (m->ns && (why = check_dns_label(m->ns))) {
		saved = path_key(o, "metadata");
		path_key(o, "namespace");
		obj_err(o, ymap_get(v, "namespace")->line,
			"\"%s\" is not a valid namespace: %s", m->ns, why);
		path_pop(o, saved);
	}
	if (k->namespaced && !m->ns)
		m->ns = ld_strdup(o->ld, "default");
}

static void load_doc(struct loader *ld, const char *file, const struct ynode *root)
{
	struct obj o = { .ld = ld, .file = file };
	const struct ynode *v;
	const struct kind *k;
	struct meta m = {};

	if (is_null(root))
		return; /* empty document */
	if (root->type != YNODE_MAP) {
		obj_err(&o, root->line,
			"a document must be a mapping with apiVersion and kind, not %s",
			ynode_describe(root));
		return;
	}
	k = find_kind(&o, root);
	if (!k)
		return;
	o.kind = k->kind;
	/* Name the object in metadata's own messages when it can be. */
	v = ymap_get(ymap_get(root, "metadata"), "name");
	if (v && v->type == YNODE_SCALAR && yscalar_resolve(v) == YSCALAR_STR)
		o.name = v->str;
	v = ymap_get(ymap_get(root, "metadata"), "namespace");
	if (k->namespaced)
		o.ns = v && v->type == YNODE_SCALAR && yscalar_resolve(v) == YSCALAR_STR ?
			       v->str : "default";
	read_meta(&o, k, root, &m);
	o.name = m.name;
	o.ns = m.ns;
	check_dup_keys(&o, root);
	k->load(&o, root, &m);
	digest_object(&o, root);
	meta_free(&m);
}

struct doc_ctx {
	struct loader *ld;
	const char *file;
};

static void load_doc_cb(void *ctx, const struct ynode *root)
{
	struct doc_ctx *c = ctx;

	load_doc(c->ld, c->file, root);
}

static void load_stream(struct loader *ld, const char *file, const char *buf,
			size_t len)
{
	struct doc_ctx c = { ld, file };
	struct yerror ye;
	int rc;

	rc = ytree_parse(buf, len, load_doc_cb, &c, &ye);
	if (rc == -ENOMEM)
		ld->err = -ENOMEM;
	else if (rc)
		ld_diag(ld, TR_DIAG_ERROR, file, ye.line, "%s", ye.msg);
}

/* ------------------------------------------------------------------ */
/* files */

static const char *add_file(struct loader *ld, const char *path)
{
	struct tr_config *cfg = ld->cfg;
	char **slot, *copy;

	copy = ld_strdup(ld, path);
	if (!copy)
		return NULL;
	slot = PUSH(ld, cfg->files, cfg->n_files);
	if (!slot) {
		free(copy);
		return NULL;
	}
	*slot = copy;
	return copy;
}

/* Read a whole regular file. *why explains a failure that has no errno. */
static int read_file(const char *path, char **buf, size_t *len, const char **why)
{
	size_t cap, n = 0;
	struct stat st;
	char *p = NULL, *q;
	ssize_t r;
	int fd, err = 0;

	*why = NULL;
	/* O_NONBLOCK: a FIFO must not hang the agent. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		err = -EINVAL;
		goto out;
	}
	if ((unsigned long long)st.st_size > CONFIG_MAX_FILE_SIZE) {
		*why = "file larger than 16 MiB";
		err = -EFBIG;
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	p = malloc(cap);
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (n == cap) {
			if (cap > CONFIG_MAX_FILE_SIZE) {
				*why = "file larger than 16 MiB";
				err = -EFBIG;
				goto out;
			}
			q = realloc(p, cap * 2);
			if (!q) {
				err = -ENOMEM;
				goto out;
			}
			p = q;
			cap *= 2;
		}
		r = read(fd, p + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = p;
	*len = n;
	p = NULL;
out:
	free(p);
	close(fd);
	return err;
}

static bool is_manifest(const char *name)
{
	size_t len = strlen(name);

	/* Hidden entries are skipped: editors' lock files, and the ..data
	 * links of a Kubernetes ConfigMap volume. */
	if (name[0] == '.')
		return false;
	return (len > 5 && !strcmp(name + len - 5, ".yaml")) ||
	       (len > 4 && !strcmp(name + len - 4, ".yml"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(struct loader *ld, const char *dir, char ***names, size_t *n)
{
	struct dirent *de;
	char **slot;
	DIR *d;
	int err = 0;

	d = opendir(dir);
	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			err = -errno;
			break;
		}
		if (!is_manifest(de->d_name))
			continue;
		slot = PUSH(ld, *names, *n);
		if (!slot || !(*slot = ld_strdup(ld, de->d_name))) {
			err = -ENOMEM;
			break;
		}
	}
	closedir(d);
	if (!err)
		qsort(*names, *n, sizeof(**names), cmp_str);
	return err;
}

/* ------------------------------------------------------------------ */
/* entry points */

static void loader_init(struct loader *ld, struct tr_config *out, struct tr_diags *diags)
{
	memset(out, 0, sizeof(*out));
	memset(diags, 0, sizeof(*diags));
	memset(ld, 0, sizeof(*ld));
	ld->cfg = out;
	ld->diags = diags;
}

static int loader_finish(struct loader *ld)
{
	struct tr_mesh *mesh = &ld->cfg->mesh;
	int err;

	/* Defaults first: the checks across the set use the root namespace. */
	if (!mesh->trust_domain)
		mesh->trust_domain = ld_strdup(ld, DEFAULT_TRUST_DOMAIN);
	if (!mesh->root_namespace)
		mesh->root_namespace = ld_strdup(ld, DEFAULT_ROOT_NAMESPACE);
	if (!ld->err)
		validate_set(ld);
	free(ld->mesh_name);
	ld->mesh_name = NULL;

	err = ld->err ? ld->err : ld->diags->n_errors ? -EINVAL : 0;
	if (err)
		config_free(ld->cfg);
	if (err == -ENOMEM)
		ld_diag(ld, TR_DIAG_ERROR, NULL, 0, "out of memory while loading the configuration");
	return err;
}

int config_load_buffer(const char *name, const char *buf, size_t len,
		       struct tr_config *out, struct tr_diags *diags)
{
	struct loader ld;
	const char *file;

	loader_init(&ld, out, diags);
	file = add_file(&ld, name ? name : "<buffer>");
	if (file)
		load_stream(&ld, file, buf ? buf : "", buf ? len : 0);
	return loader_finish(&ld);
}

int config_load_dir(const char *dir, struct tr_config *out, struct tr_diags *diags)
{
	char **names = NULL, *path, *buf;
	const char *file, *why;
	struct loader ld;
	size_t n = 0, i, len = 0;
	bool slash;
	int err;

	loader_init(&ld, out, diags);
	err = list_dir(&ld, dir, &names, &n);
	if (err) {
		ld_diag(&ld, TR_DIAG_ERROR, dir, 0, "cannot read the configuration directory: %s",
			strerror(-err));
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
		config_free(out);
		return err;
	}
	slash = dir[0] && dir[strlen(dir) - 1] == '/';
	for (i = 0; i < n; i++) {
		if (asprintf(&path, "%s%s%s", dir, slash ? "" : "/", names[i]) < 0) {
			ld.err = -ENOMEM;
			break;
		}
		file = add_file(&ld, path);
		free(path);
		if (!file)
			break;
		buf = NULL;
		err = read_file(file, &buf, &len, &why);
		if (err == -ENOMEM) {
			ld.err = err;
			break;
		}
		if (err)
			ld_diag(&ld, TR_DIAG_ERROR, file, 0, "cannot read: %s",
				why ? why : strerror(-err));
		else
			load_stream(&ld, file, buf, len);
		free(buf);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return loader_finish(&ld);
}
