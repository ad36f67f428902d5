// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle service { list | show VIP[:PORT] | help }
 *
 * Service ports come from tr_lb4_svc and tr_lb6_svc, their names from
 * tr_lb_svcinfo, their backends from the selection table (tr_lb_slot) and
 * tr_lb_be, selections from tr_lb_bestat.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "abi_fmt.h"
#include "cli.h"

struct svc_row {
	int family;         /* TR_AF_* */
	__be32 vip[4];
	__u16 port;         /* host order */
	__u8 proto;
	struct tr_lb_svc svc;
	struct tr_lb_svcinfo info;
	bool have_info;
	unsigned int backends; /* entries of tr_lb_be naming this svc_id */
};

/* A VIP[:PORT] from the command line. */
struct vip_filter {
	int family;
	__be32 addr[4];
	int port; /* -1: any */
};

struct collect {
	struct svc_row *rows;
	size_t n, cap;
	int family;
	const struct vip_filter *filter;
};

struct fds {
	int svc4, svc6, info, be, slot, bestat;
};

static void fds_init(struct fds *f)
{
	f->svc4 = f->svc6 = f->info = f->be = f->slot = f->bestat = -1;
}

static void fds_close(struct fds *f)
{
	int *all[] = { &f->svc4, &f->svc6, &f->info, &f->be, &f->slot,
		       &f->bestat };

	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		if (*all[i] >= 0)
			close(*all[i]);
		*all[i] = -1;
	}
}

static int parse_port(const char *s)
{
	char *end;
	unsigned long v;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -1;
	return (int)v;
}

/* 10.0.0.1, 10.0.0.1:80, fd00::1, [fd00::1], [fd00::1]:80 */
static int parse_vip(const char *arg, struct vip_filter *f)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *port = NULL;
	char *p;

	memset(f, 0, sizeof(*f));
	f->port = -1;
	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	if (buf[0] == '[') {
		p = strchr(buf, ']');
		if (!p)
			return -EINVAL;
		*p = '\0';
		if (p[1] == ':')
			port = p + 2;
		else if (p[1])
			return -EINVAL;
		memmove(buf, buf + 1, strlen(buf + 1) + 1);
		f->family = TR_AF_INET6;
	} else {
		p = strchr(buf, ':');
		if (p && !strchr(p + 1, ':')) {
			*p = '\0';
			port = p + 1;
			f->family = TR_AF_INET;
		} else {
			f->family = p ? TR_AF_INET6 : TR_AF_INET;
		}
	}
	if (inet_pton(f->family == TR_AF_INET6 ? AF_INET6 : AF_INET, buf,
		      f->addr) != 1)
		return -EINVAL;
	if (port) {
		f->port = parse_port(port);
		if (f->port < 0)
			return -EINVAL;
	}
	return 0;
}

static int add_row(struct collect *c, const __be32 *vip, __be16 port,
		   __u8 proto, const struct tr_lb_svc *svc)
{
	struct svc_row *r;
	size_t alen = c->family == TR_AF_INET6 ? 16 : 4;

	if (c->filter) {
		if (c->filter->family != c->family ||
		    memcmp(c->filter->addr, vip, alen))
			return 0;
		if (c->filter->port >= 0 && c->filter->port != ntohs(port))
			return 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;

		r = realloc(c->rows, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		c->rows = r;
		c->cap = cap;
	}
	r = &c->rows[c->n++];
	memset(r, 0, sizeof(*r));
	r->family = c->family;
	memcpy(r->vip, vip, alen);
	r->port = ntohs(port);
	r->proto = proto;
	r->svc = *svc;
	return 0;
}

static int collect4(const void *key, const void *value, void *ctx)
{
	const struct tr_lb4_key *k = key;

	return add_row(ctx, &k->addr, k->port, k->proto, value);
}

static int collect6(const void *key, const void *value, void *ctx)
{
	const struct tr_lb6_key *k = key;

	return add_row(ctx, k->addr, k->port, k->proto, value);
}

static int cmp_rows(const void *a, const void *b)
{
	const struct svc_row *x = a, *y = b;
	int d;

	d = strncmp(x->info.ns, y->info.ns, sizeof(x->info.ns));
	if (d)
		return d;
	d = strncmp(x->info.name, y->info.name, sizeof(x->info.name));
	if (d)
		return d;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->vip, y->vip, sizeof(x->vip));
}

/*
 * Backends per (svc_id, family): the IPv4 and IPv6 VIPs of one service
 * port share a svc_id, and each VIP only reaches backends of its family.
 */
#define SVC_ID_MAX (TR_MAX_SERVICES * 2)

static size_t count_index(__u32 svc_id, int family)
{
	return (size_t)svc_id * 2 + (family == TR_AF_INET6);
}

static int count_backend(const void *key, const void *value, void *ctx)
{
	const struct tr_lb_backend *be = value;
	unsigned int *counts = ctx;

	(void)key;
	if (be->svc_id < SVC_ID_MAX)
		counts[count_index(be->svc_id, be->family)]++;
	return 0;
}

/* Open the maps and gather the service ports (matching filter if set). */
static int collect_services(struct fds *f, const struct vip_filter *filter,
			    struct collect *c)
{
	struct tr_meta meta;
	int err;

	memset(c, 0, sizeof(*c));
	c->filter = filter;
	if (cli_pins_open(&meta, true))
		return -1;
	f->svc4 = cli_map_open(TR_MAP_LB4_SVC, NULL);
	if (f->svc4 < 0)
		return -1;
	f->svc6 = cli_map_open(TR_MAP_LB6_SVC, NULL);
	if (f->svc6 < 0)
		return -1;
	f->info = cli_map_open(TR_MAP_LB_SVCINFO, NULL);
	if (f->info < 0)
		return -1;
	f->be = cli_map_open(TR_MAP_LB_BE, NULL);
	if (f->be < 0)
		return -1;

	if (!filter || filter->family == TR_AF_INET) {
		c->family = TR_AF_INET;
		err = cli_map_walk(f->svc4, sizeof(struct tr_lb4_key),
				   sizeof(struct tr_lb_svc), collect4, c);
		if (err)
			goto fail;
	}
	if (!filter || filter->family == TR_AF_INET6) {
		c->family = TR_AF_INET6;
		err = cli_map_walk(f->svc6, sizeof(struct tr_lb6_key),
				   sizeof(struct tr_lb_svc), collect6, c);
		if (err)
			goto fail;
	}
	for (size_t i = 0; i < c->n; i++)
		c->rows[i].have_info = svcinfo_lookup(
			f->info, c->rows[i].svc.svc_id, &c->rows[i].info);
	if (c->n) {
		unsigned int *counts = calloc(SVC_ID_MAX * 2, sizeof(*counts));

		if (!counts) {
			err = -ENOMEM;
			goto fail;
		}
		err = cli_map_walk(f->be, sizeof(__u32),
				   sizeof(struct tr_lb_backend), count_backend,
				   counts);
		for (size_t i = 0; !err && i < c->n; i++)
			if (c->rows[i].svc.svc_id < SVC_ID_MAX)
				c->rows[i].backends = counts[count_index(
					c->rows[i].svc.svc_id, c->rows[i].family)];
		free(counts);
		if (err)
			goto fail;
	}
	if (c->n)
		qsort(c->rows, c->n, sizeof(*c->rows), cmp_rows);
	return 0;
fail:
	p_err("cannot read the service maps at %s: %s", bpffs, strerror(-err));
	return -1;
}

/* Fields common to list and show. */
static void print_svc_head(const struct svc_row *r)
{
	char ns[TR_NAME_LEN + 1], name[TR_NAME_LEN + 1];
	char port_name[TR_SHORT_NAME_LEN + 1];
	char buf[2 * TR_NAME_LEN + TR_SHORT_NAME_LEN + 8];
	char vip[CLI_ADDR_LEN], vip_port[CLI_ADDR_LEN];

	CLI_STRFIELD(ns, r->info.ns);
	CLI_STRFIELD(name, r->info.name);
	CLI_STRFIELD(port_name, r->info.port_name);
	cli_addr(r->vip, r->family, vip, sizeof(vip));
	cli_addr_port(r->vip, r->family, r->port, vip_port, sizeof(vip_port));

	print_string(PRINT_FP, NULL, "%s",
		     svc_name_str(&r->info, r->have_info, buf, sizeof(buf)));
	print_string(PRINT_JSON, "namespace", NULL, ns);
	print_string(PRINT_JSON, "name", NULL, name);
	print_string(PRINT_JSON, "port_name", NULL, port_name);
	print_string(PRINT_JSON, "vip", NULL, vip);
	print_uint(PRINT_JSON, "port", NULL, r->port);
	print_string(PRINT_FP, NULL, "  %s", vip_port);
	print_string(PRINT_ANY, "protocol", "/%s", abi_proto_str(r->proto));
	print_uint(PRINT_ANY, "svc_id", "  svc_id %llu", r->svc.svc_id);
	print_uint(PRINT_ANY, "table", "  table %llu", r->svc.table);
	print_uint(PRINT_ANY, "slots", "  slots %llu", r->svc.slots);
}

static int do_list(int argc, char **argv)
{
	struct collect c;
	struct fds f;
	int ret = -1;

	if (cli_extra_args(argc, argv))
		return -1;
	fds_init(&f);
	if (collect_services(&f, NULL, &c))
		goto out;

	open_json_array(PRINT_JSON, NULL);
	for (size_t i = 0; i < c.n; i++) {
		open_json_object(NULL);
		print_svc_head(&c.rows[i]);
		print_uint(PRINT_ANY, "backends", "  backends %llu",
			   c.rows[i].backends);
		close_json_object();
		print_nl();
	}
	close_json_array(PRINT_JSON, NULL);
	ret = 0;
out:
	free(c.rows);
	fds_close(&f);
	return ret;
}

struct be_count {
	__u32 id;
	__u32 slots;
	struct tr_lb_slot slot; /* one of its slots, if any */
};

struct be_set {
	struct be_count *v;
	size_t n, cap;
	__u32 svc_id;
	int family; /* TR_AF_* of the VIP */
};

static struct be_count *be_set_get(struct be_set *s, __u32 id)
{
	struct be_count *b;

	for (size_t i = s->n; i > 0; i--)
		if (s->v[i - 1].id == id)
			return &s->v[i - 1];
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;

		b = realloc(s->v, cap * sizeof(*b));
		if (!b)
			return NULL;
		s->v = b;
		s->cap = cap;
	}
	b = &s->v[s->n++];
	memset(b, 0, sizeof(*b));
	b->id = id;
	return b;
}

static int add_owned_backend(const void *key, const void *value, void *ctx)
{
	const struct tr_lb_backend *be = value;
	struct be_set *s = ctx;

	if (be->svc_id != s->svc_id || be->family != s->family)
		return 0;
	return be_set_get(s, *(const __u32 *)key) ? 0 : -ENOMEM;
}

static int cmp_be(const void *a, const void *b)
{
	const struct be_count *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * The backends of one service: those its selection table holds (with
 * their slot counts) and those tr_lb_be assigns to it with no slot.
 */
static int service_backends(const struct fds *f, const struct svc_row *r,
			    struct be_set *s)
{
	struct tr_lb_slot_key key = {};
	struct tr_lb_slot slot;
	struct be_count *b;
	__u32 missing = 0;
	int err;

	memset(s, 0, sizeof(*s));
	s->svc_id = r->svc.svc_id;
	s->family = r->family;
	key.table = r->svc.table;
	for (__u32 i = 0; r->svc.table && i < r->svc.slots; i++) {
		key.slot = i;
		if (bpf_map_lookup_elem(f->slot, &key, &slot)) {
			if (errno != ENOENT)
				return -errno;
			missing++;
			continue;
		}
		b = be_set_get(s, slot.backend_id);
		if (!b)
			return -ENOMEM;
		if (!b->slots++)
			b->slot = slot;
	}
	if (missing)
		p_warn("table %u of service svc_id %u: %u of %u slots missing (agent mid-update?)",
		       r->svc.table, r->svc.svc_id, missing, r->svc.slots);
	err = cli_map_walk(f->be, sizeof(__u32), sizeof(struct tr_lb_backend),
			   add_owned_backend, s);
	if (err)
		return err;
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), cmp_be);
	return 0;
}

static int print_service(const struct fds *f, const struct svc_row *r)
{
	struct tr_lb_backend be;
	struct be_set s;
	__u64 sel;
	int err;

	err = service_backends(f, r, &s);
	if (err) {
		free(s.v);
		return err;
	}
	open_json_object(NULL);
	print_svc_head(r);
	print_uint(PRINT_FP, NULL, "  backends %llu\n", s.n);
	open_json_array(PRINT_JSON, "backends");
	for (size_t i = 0; i < s.n; i++) {
		const struct be_count *b = &s.v[i];

		if (bpf_map_lookup_elem(f->be, &b->id, &be)) {
			/* Only in the table: show what the slot says. */
			memset(&be, 0, sizeof(be));
			memcpy(be.addr, b->slot.addr, sizeof(be.addr));
			be.port = b->slot.port;
			be.family = b->slot.family;
			be.svc_id = r->svc.svc_id;
			be.flags = TR_BE_F_READY;
		}
		if (cli_percpu_u64(f->bestat, b->id, NULL, &sel))
			sel = 0;
		open_json_object(NULL);
		print_fp("\tbackend ");
		backend_print(b->id, &be, b->slots, sel, NULL);
		close_json_object();
		print_nl();
	}
	close_json_array(PRINT_JSON, NULL);
	close_json_object();
	free(s.v);
	return 0;
}

static int do_show(int argc, char **argv)
{
	struct vip_filter filter;
	struct collect c = {};
	struct fds f;
	int ret = -1, err;

	if (argc < 1) {
		p_err("service show needs VIP[:PORT] (IPv6 as [ADDR]:PORT or ADDR)");
		return -1;
	}
	if (parse_vip(argv[0], &filter)) {
		p_err("invalid VIP '%s' (expected ADDR, ADDR:PORT, [ADDR6]:PORT or ADDR6)",
		      argv[0]);
		return -1;
	}
	if (cli_extra_args(argc - 1, argv + 1))
		return -1;
	fds_init(&f);
	if (collect_services(&f, &filter, &c))
		goto out;
	if (!c.n) {
		p_err("no service at %s", argv[0]);
		goto out;
	}
	f.slot = cli_map_open(TR_MAP_LB_SLOT, NULL);
	if (f.slot < 0)
		goto out;
	f.bestat = cli_map_open(TR_MAP_LB_BESTAT, NULL);
	if (f.bestat < 0)
		goto out;

	open_json_array(PRINT_JSON, NULL);
	for (size_t i = 0; i < c.n; i++) {
		if (i)
			print_nl();
		err = print_service(&f, &c.rows[i]);
		if (err) {
			p_err("cannot read the backends of %s: %s", argv[0],
			      strerror(-err));
			goto out;
		}
	}
	close_json_array(PRINT_JSON, NULL);
	ret = 0;
out:
	free(c.rows);
	fds_close(&f);
	return ret;
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (json_output) {
		print_null(PRINT_JSON, NULL, NULL);
		return 0;
	}
	fprintf(stdout,
		"Usage: %s service { list | show VIP[:PORT] | help }\n"
		"\n"
		"  list               one line per service port (VIP, port, protocol)\n"
		"  show VIP[:PORT]    the services at VIP with their backends;\n"
		"                     IPv6 as [ADDR]:PORT or ADDR\n",
		bin_name);
	return 0;
}

static const struct cmd cmds[] = {
	{ "list", do_list },
	{ "show", do_show },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_service(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "service");
}
