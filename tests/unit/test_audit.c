// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The audit log: object digests taken by the loader (paths, values, order,
 * what is left out), the diff of two configurations (added, removed,
 * modified with field paths), the record of an accepted and of a refused
 * change, the size bounds of one record, and the rotation of a JSON-lines
 * file (rotlog.c) without losing or duplicating a line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "audit.h"
#include "config.h"
#include "rotlog.h"

/* ------------------------------------------------------------------ */
/* helpers */

static const char svc_tmpl[] =
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata:\n"
	"  name: web\n"
	"  namespace: shop\n"
	"  uid: %s\n"
	"  labels:\n"
	"    app.kubernetes.io/name: web\n"
	"spec:\n"
	"  clusterIP: 10.96.0.10\n"
	"  selector:\n"
	"    app: web\n"
	"  ports:\n"
	"    - name: http\n"
	"      port: 80\n"
	"      targetPort: %s\n"
	"%s";

static const char pod_web2[] =
	"---\n"
	"apiVersion: v1\n"
	"kind: Pod\n"
	"metadata:\n"
	"  name: web-2\n"
	"  namespace: shop\n"
	"  labels: {app: web}\n"
	"spec:\n"
	"  nodeName: n1\n"
	"status:\n"
	"  podIP: 10.244.1.12\n";

static const char node_n3[] =
	"---\n"
	"apiVersion: v1\n"
	"kind: Node\n"
	"metadata:\n"
	"  name: n3\n"
	"status:\n"
	"  addresses:\n"
	"    - type: InternalIP\n"
	"      address: 10.0.0.3\n";

static void load(struct tr_config *cfg, const char *yaml)
{
	struct tr_diags d;
	int err = config_load_buffer("mesh.yaml", yaml, strlen(yaml), cfg, &d);

	for (size_t i = 0; err && i < d.n; i++)
		print_message("  diag: line %d: %s\n", d.items[i].line, d.items[i].message);
	assert_int_equal(err, 0);
	diags_free(&d);
}

static char *svc_yaml(const char *uid, const char *target_port, const char *more)
{
	char *s;

	assert_true(asprintf(&s, svc_tmpl, uid, target_port, more) > 0);
	return s;
}

static const struct tr_object_digest *find_obj(const struct tr_config *cfg,
					       const char *kind, const char *name)
{
	for (size_t i = 0; i < cfg->n_digests; i++)
		if (!strcmp(cfg->digests[i].kind, kind) && !strcmp(cfg->digests[i].name, name))
			return &cfg->digests[i];
	return NULL;
}

static const char *field(const struct tr_object_digest *d, const char *path)
{
	for (size_t i = 0; i < d->n_fields; i++)
		if (!strcmp(d->fields[i].path, path))
			return d->fields[i].value;
	return NULL;
}

static const struct timespec t0 = { 1700000000, 123456000 };

static char *record(const struct tr_config *running, const struct tr_config *candidate,
		    const struct audit_event *ev)
{
	char *line;
	size_t len;

	assert_int_equal(audit_format(running, candidate, ev, &t0, &line, &len), 0);
	if (line) {
		assert_int_equal(strlen(line), len);
		assert_true(len > 0 && line[len - 1] == '\n');
		assert_null(memchr(line, '\n', len - 1)); /* one line */
	}
	return line;
}

static void expect_in(const char *hay, const char *needle)
{
	assert_non_null(hay);
	if (!strstr(hay, needle))
		fail_msg("\"%s\" not in: %.2000s", needle, hay ? hay : "(null)");
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* digests */

static void test_digest_fields(void **state)
{
	const struct tr_object_digest *d;
	struct tr_config cfg;
	char *y;

	(void)state;
	y = svc_yaml("u1", "8080", "    - name: p2\n      port: 2\n"
				       "    - {name: p3, port: 3}\n    - {name: p4, port: 4}\n"
				       "    - {name: p5, port: 5}\n    - {name: p6, port: 6}\n"
				       "    - {name: p7, port: 7}\n    - {name: p8, port: 8}\n"
				       "    - {name: p9, port: 9}\n    - {name: p10, port: 10}\n"
				       "    - {name: p11, port: 11}\n"
				       "  sessionAffinityConfig: {}\n  externalIPs: []\n"
				       "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: q\n"
				       "  labels: {v: \"2\", w: \"x\", e: \"\"}\n");
	load(&cfg, y);
	free(y);
	assert_int_equal(cfg.n_digests, 2);
	/* a quoted string that would read as a number (or null) keeps its
	 * quotes; one that reads as a string anyway does not */
	d = find_obj(&cfg, "Pod", "q");
	assert_non_null(d);
	assert_string_equal(field(d, "metadata.labels.v"), "\"2\"");
	assert_string_equal(field(d, "metadata.labels.w"), "x");
	assert_string_equal(field(d, "metadata.labels.e"), "\"\"");
	d = find_obj(&cfg, "Service", "web");
	assert_non_null(d);
	assert_string_equal(d->ns, "shop");
	assert_string_equal(d->src.file, "mesh.yaml");
	assert_int_equal(d->src.line, 1);
	assert_string_equal(field(d, "spec.ports[0].targetPort"), "8080");
	assert_string_equal(field(d, "spec.ports[0].port"), "80");
	assert_string_equal(field(d, "spec.ports[10].name"), "p11");
	assert_string_equal(field(d, "metadata.labels[\"app.kubernetes.io/name\"]"), "web");
	assert_string_equal(field(d, "apiVersion"), "v1");
	assert_string_equal(field(d, "spec.sessionAffinityConfig"), "{}");
	assert_string_equal(field(d, "spec.externalIPs"), "[]");
	/* identity and bookkeeping are not fields */
	assert_null(field(d, "kind"));
	assert_null(field(d, "metadata.name"));
	assert_null(field(d, "metadata.namespace"));
	assert_null(field(d, "metadata.uid"));
	/* sorted, indices as numbers: [2] before [10] */
	for (size_t i = 1; i < d->n_fields; i++)
		assert_true(tr_digest_path_cmp(d->fields[i - 1].path, d->fields[i].path) < 0);
	config_free(&cfg);
	assert_int_equal(cfg.n_digests, 0);
}

static void test_path_cmp(void **state)
{
	(void)state;
	assert_true(tr_digest_path_cmp("a[2]", "a[10]") < 0);
	assert_true(tr_digest_path_cmp("a[10]", "a[2]") > 0);
	assert_true(tr_digest_path_cmp("a[1].b", "a[1].c") < 0);
	assert_true(tr_digest_path_cmp("a", "a.b") < 0);
	assert_int_equal(tr_digest_path_cmp("spec.x", "spec.x"), 0);
	assert_true(tr_digest_path_cmp("a[01]", "a[1]") != 0); /* total order */
}

/* ------------------------------------------------------------------ */
/* diff */

static void test_diff(void **state)
{
	struct tr_config old, new;
	struct audit_diff d;
	char *y1, *y2, *y1b, *y2b;
	const struct audit_change *c;

	(void)state;
	/* old: web (targetPort 8080) + Node n3; new: web (9090, a second port,
	 * another uid) + Pod web-2 */
	y1 = svc_yaml("u1", "8080", "");
	y2 = svc_yaml("u2", "9090", "    - name: admin\n      port: 81\n");
	assert_true(asprintf(&y1b, "%s%s", y1, node_n3) > 0);
	assert_true(asprintf(&y2b, "%s%s", y2, pod_web2) > 0);
	load(&old, y1b);
	load(&new, y2b);

	assert_int_equal(audit_diff(&old, &new, &d), 0);
	assert_int_equal(d.n_changes, 3);
	/* sorted by kind: Node, Pod, Service */
	c = &d.changes[0];
	assert_int_equal(c->op, AUDIT_REMOVED);
	assert_string_equal(c->obj->kind, "Node");
	assert_string_equal(c->obj->name, "n3");
	assert_null(c->obj->ns);
	c = &d.changes[1];
	assert_int_equal(c->op, AUDIT_ADDED);
	assert_string_equal(c->obj->kind, "Pod");
	assert_string_equal(c->obj->name, "web-2");
	c = &d.changes[2];
	assert_int_equal(c->op, AUDIT_MODIFIED);
	assert_string_equal(c->obj->kind, "Service");
	/* the uid is bookkeeping: not a change */
	assert_int_equal(c->n_fields, 3);
	assert_string_equal(c->fields[0].path, "spec.ports[0].targetPort");
	assert_string_equal(c->fields[0].old_value, "8080");
	assert_string_equal(c->fields[0].new_value, "9090");
	assert_string_equal(c->fields[1].path, "spec.ports[1].name");
	assert_null(c->fields[1].old_value);
	assert_string_equal(c->fields[1].new_value, "admin");
	assert_string_equal(c->fields[2].path, "spec.ports[1].port");
	assert_int_equal(d.n_fields, 3);
	audit_diff_free(&d);

	/* the other way round: a field removed has no new value */
	assert_int_equal(audit_diff(&new, &old, &d), 0);
	assert_int_equal(d.n_changes, 3);
	assert_int_equal(d.changes[0].op, AUDIT_ADDED);   /* Node */
	assert_int_equal(d.changes[1].op, AUDIT_REMOVED); /* Pod */
	assert_string_equal(d.changes[2].fields[1].old_value, "admin");
	assert_null(d.changes[2].fields[1].new_value);
	audit_diff_free(&d);

	/* nothing running yet: everything is added */
	assert_int_equal(audit_diff(NULL, &old, &d), 0);
	assert_int_equal(d.n_changes, 2);
	assert_int_equal(d.changes[0].op, AUDIT_ADDED);
	assert_int_equal(d.changes[1].op, AUDIT_ADDED);
	audit_diff_free(&d);

	/* the same configuration: no change */
	assert_int_equal(audit_diff(&old, &old, &d), 0);
	assert_int_equal(d.n_changes, 0);
	audit_diff_free(&d);

	config_free(&old);
	config_free(&new);
	free(y1);
	free(y2);
	free(y1b);
	free(y2b);
}

/* ------------------------------------------------------------------ */
/* records */

static void test_record_accepted(void **state)
{
	struct audit_event ev = { .generation = 7, .accepted = true, .trigger = "files changed" };
	struct tr_config old, new;
	char *y1, *y2, *line;

	(void)state;
	y1 = svc_yaml("u1", "8080", "");
	y2 = svc_yaml("u1", "9090", "");
	load(&old, y1);
	load(&new, y2);
	line = record(&old, &new, &ev);
	assert_non_null(line);
	expect_in(line, "{\"time\":\"2023-11-14T22:13:20.123456Z\",\"generation\":7,"
			"\"result\":\"accepted\",\"trigger\":\"files changed\","
			"\"reason\":null,\"errors\":[],\"changes\":[");
	expect_in(line, "{\"op\":\"modified\",\"kind\":\"Service\",\"namespace\":\"shop\","
			"\"name\":\"web\",\"file\":\"mesh.yaml\",\"line\":1,\"fields\":["
			"{\"path\":\"spec.ports[0].targetPort\",\"old\":\"8080\",\"new\":\"9090\"}]}");
	assert_null(strstr(line, "omitted"));
	free(line);

	/* accepted and nothing changed: no record */
	line = record(&old, &old, &ev);
	assert_null(line);
	config_free(&old);
	config_free(&new);
	free(y1);
	free(y2);
}

static void test_record_refused(void **state)
{
	struct tr_diag items[2] = {
		{ TR_DIAG_ERROR, "/cfg/web.yaml", 12, "Service shop/web: spec.ports[0].port: \"x\" is not a port" },
		{ TR_DIAG_WARNING, "/cfg/web.yaml", 3, "accepted, not enforced" },
	};
	struct tr_diags diags = { items, 2, 1 };
	struct audit_event ev = { .generation = 4, .accepted = false,
				  .reason = "1 error in /cfg", .diags = &diags };
	struct tr_config old, new;
	char *y1, *y2, *line;

	(void)state;
	y1 = svc_yaml("u1", "8080", "");
	load(&old, y1);
	/* the new manifests did not load: no changes, the errors */
	line = record(&old, NULL, &ev);
	assert_non_null(line);
	expect_in(line, "\"generation\":4,\"result\":\"refused\",\"trigger\":null,"
			"\"reason\":\"1 error in /cfg\",\"errors\":[\"/cfg/web.yaml:12: error: "
			"Service shop/web: spec.ports[0].port: \\\"x\\\" is not a port\"],"
			"\"changes\":[]}");
	assert_null(strstr(line, "warning")); /* errors only */
	free(line);

	/* loaded but refused later (compile, maps): what it would have done */
	y2 = svc_yaml("u1", "9090", "");
	load(&new, y2);
	line = record(&old, &new, &ev);
	assert_non_null(line);
	expect_in(line, "\"result\":\"refused\"");
	expect_in(line, "{\"path\":\"spec.ports[0].targetPort\",\"old\":\"8080\",\"new\":\"9090\"}");
	free(line);
	/* refused even when it changes nothing */
	line = record(&new, &new, &ev);
	assert_non_null(line);
	expect_in(line, "\"changes\":[]");
	free(line);
	config_free(&old);
	config_free(&new);
	free(y1);
	free(y2);
}

/* A Service with n ports, each port's number offset by off. */
static char *many_ports(size_t n, int off)
{
	size_t cap = 256 + n * 64, len;
	char *y = malloc(cap);

	assert_non_null(y);
	len = (size_t)snprintf(y, cap, "apiVersion: v1\nkind: Service\nmetadata: {name: big}\n"
				       "spec:\n  clusterIP: 10.96.0.99\n  ports:\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(y + len, cap - len, "    - {name: p%zu, port: %zu}\n",
					i, 1000 + i + (size_t)off);
	return y;
}

static void test_record_bounds(void **state)
{
	struct audit_event ev = { .generation = 9, .accepted = true };
	struct tr_config old, new;
	char *y1, *y2, *line, *p;
	size_t cap, len = 0, n = AUDIT_MAX_CHANGES + 50;

	(void)state;
	/* 300 modified fields: 200 listed, the rest counted */
	y1 = many_ports(300, 0);
	y2 = many_ports(300, 5000);
	load(&old, y1);
	load(&new, y2);
	line = record(&old, &new, &ev);
	assert_non_null(line);
	assert_int_equal(count_of(line, "{\"path\":"), AUDIT_MAX_FIELDS);
	expect_in(line, "\"fields_omitted\":100}");
	assert_null(strstr(line, "changes_omitted"));
	free(line);
	config_free(&old);
	config_free(&new);
	free(y1);
	free(y2);

	/* more objects than a record lists */
	cap = n * 64;
	p = malloc(cap);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(p + len, cap - len,
					"---\napiVersion: v1\nkind: Node\nmetadata: {name: n%zu}\n", i);
	load(&new, p);
	line = record(NULL, &new, &ev);
	assert_non_null(line);
	assert_int_equal(count_of(line, "{\"op\":\"added\""), AUDIT_MAX_CHANGES);
	expect_in(line, "\"changes_omitted\":50}");
	free(line);
	config_free(&new);
	free(p);
}

static void test_value_escaped(void **state)
{
	struct audit_event ev = { .generation = 1, .accepted = true };
	static const char y1[] =
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
		"    note: plain\n";
	static const char y2[] =
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
		"    note: \"a \\\"quoted\\\" \\\\ value\\twith tab\"\n";
	struct tr_config old, new;
	char *line;

	(void)state;
	load(&old, y1);
	load(&new, y2);
	/* the value went into the digest unharmed */
	assert_string_equal(field(&new.digests[0], "metadata.annotations.note"),
			    "a \"quoted\" \\ value\twith tab");
	line = record(&old, &new, &ev);
	assert_non_null(line);
	expect_in(line, "\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"p\"");
	/* and comes out as a JSON string */
	expect_in(line, "{\"path\":\"metadata.annotations.note\",\"old\":\"plain\","
			"\"new\":\"a \\\"quoted\\\" \\\\ value\\twith tab\"}");
	free(line);
	config_free(&old);
	config_free(&new);
}

/* ------------------------------------------------------------------ */
/* rotation */

static char tmpdir[256];

static int tmpdir_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_audit.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
	struct dirent *de;
	char p[512];
	DIR *d;

	(void)state;
	d = opendir(tmpdir);
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", tmpdir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	return rmdir(tmpdir);
}

/* Every "n=<i>" line of a (gzipped or plain) file: seen[i]++. */
static size_t count_lines(const char *path, unsigned char *seen, size_t n)
{
	gzFile gz = gzopen(path, "rb");
	char line[256];
	size_t lines = 0;
	unsigned long i;

	if (!gz)
		return 0;
	while (gzgets(gz, line, sizeof(line))) {
		assert_true(sscanf(line, "{\"n\":%lu}", &i) == 1);
		assert_true(i < n);
		seen[i]++;
		lines++;
	}
	gzclose(gz);
	return lines;
}

static bool exists(const char *path)
{
	return !access(path, F_OK);
}

static void test_rotation(void **state)
{
	struct rotlog_limits lim = { .max_bytes = 1000, .keep = 3 };
	enum { N = 1000 };
	unsigned char seen[N] = {};
	char path[512], p[600], line[64];
	struct rotlog r;
	struct stat st;
	size_t total = 0;
	int i, len;

	(void)state;
	snprintf(path, sizeof(path), "%s/flows.jsonl", tmpdir);
	assert_int_equal(rotlog_open(&r, path, &lim), 0);
	for (i = 0; i < N; i++) {
		len = snprintf(line, sizeof(line), "{\"n\":%d}\n", i);
		assert_int_equal(rotlog_write(&r, line, (size_t)len), 0);
	}
	rotlog_close(&r);

	/* no file over the limit, the current one plain */
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 0 && st.st_size <= 1000);
	snprintf(p, sizeof(p), "%s.0", path);
	assert_false(exists(p));
	for (i = 1; i <= 3; i++) {
		snprintf(p, sizeof(p), "%s.%d.gz", path, i);
		assert_true(exists(p));
	}
	snprintf(p, sizeof(p), "%s.4.gz", path);
	assert_false(exists(p));

	/* newest first, each line once, consecutive: nothing lost inside what
	 * is kept, nothing duplicated */
	total += count_lines(path, seen, N);
	for (i = 1; i <= 3; i++) {
		snprintf(p, sizeof(p), "%s.%d.gz", path, i);
		total += count_lines(p, seen, N);
		{
			unsigned char magic[2];
			FILE *f = fopen(p, "rb");

			assert_non_null(f);
			assert_int_equal(fread(magic, 1, 2, f), 2);
			fclose(f);
			assert_true(magic[0] == 0x1f && magic[1] == 0x8b); /* gzip */
		}
	}
	for (i = 0; i < N; i++)
		assert_true(seen[i] <= 1);
	for (i = N - (int)total; i < N; i++)
		if (!seen[i])
			fail_msg("line %d of the last %zu is missing", i, total);
	assert_true(total > 100 && total < N); /* the oldest were dropped */

	/* reopening appends; a PATH.0 left by a crash is compressed */
	snprintf(p, sizeof(p), "%s.0", path);
	{
		FILE *f = fopen(p, "w");

		assert_non_null(f);
		fputs("{\"n\":399}\n", f);
		fclose(f);
	}
	assert_int_equal(rotlog_open(&r, path, &lim), 0);
	rotlog_close(&r);
	assert_false(exists(p));
	snprintf(p, sizeof(p), "%s.1.gz", path);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(count_lines(p, seen, N), 1);
	assert_int_equal(seen[399], 1);
}

static void test_rotation_keep0(void **state)
{
	struct rotlog_limits lim = { .max_bytes = 100, .keep = 0 };
	char path[512], p[600];
	struct rotlog r;
	struct stat st;
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/audit.jsonl", tmpdir);
	assert_int_equal(rotlog_open(&r, path, &lim), 0);
	for (i = 0; i < 50; i++)
		assert_int_equal(rotlog_write(&r, "{\"n\":1234567}\n", 14), 0);
	assert_true(r.rotations > 0);
	rotlog_close(&r);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= 100);
	snprintf(p, sizeof(p), "%s.1.gz", path);
	assert_false(exists(p));
	snprintf(p, sizeof(p), "%s.0", path);
	assert_false(exists(p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_fields),
		cmocka_unit_test(test_path_cmp),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_record_accepted),
		cmocka_unit_test(test_record_refused),
		cmocka_unit_test(test_record_bounds),
		cmocka_unit_test(test_value_escaped),
		cmocka_unit_test_setup_teardown(test_rotation, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_rotation_keep0, tmpdir_setup,
						tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
