// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle map { list | dump NAME | help }
 *
 * map_descs[] is the one table of the maps Trestle pins: the layout this
 * CLI expects (checked when a map is opened) and how to print its keys and
 * values with named fields.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/reasons.h>

#include "abi_fmt.h"
#include "cli.h"
#include "pins.h"

/* Key and value printers: fields inside an object the caller opened; in
 * text each field starts with a space. */

static void print_u32_field(const char *key, __u32 v)
{
	char fmt[64];

	snprintf(fmt, sizeof(fmt), " %s %%llu", key);
	print_uint(PRINT_ANY, key, fmt, v);
}

static void print_addr_field(const char *key, const __be32 addr[4],
			     int family)
{
	char buf[CLI_ADDR_LEN], fmt[64];

	snprintf(fmt, sizeof(fmt), " %s %%s", key);
	print_string(PRINT_ANY, key, fmt, cli_addr(addr, family, buf,
						   sizeof(buf)));
}

static void print_port_field(const char *key, __be16 port)
{
	char fmt[64];

	snprintf(fmt, sizeof(fmt), " %s %%llu", key);
	print_uint(PRINT_ANY, key, fmt, ntohs(port));
}

static void print_family_field(int family)
{
	print_string(PRINT_ANY, "family", " family %s",
		     family == TR_AF_INET6 ? "ipv6" :
		     family == TR_AF_INET  ? "ipv4" : "?");
}

static void print_name_field(const char *key, const char *field, size_t len)
{
	char buf[TR_NAME_LEN + 1], fmt[64];

	cli_strfield(buf, sizeof(buf), field, len);
	snprintf(fmt, sizeof(fmt), " %s %%s", key);
	print_string(*buf ? PRINT_ANY : PRINT_JSON, key, fmt, buf);
}

static void key_index(const void *key)
{
	print_u32_field("index", *(const __u32 *)key);
}

static void key_id(const void *key)
{
	print_u32_field("id", *(const __u32 *)key);
}

static void key_svc_id(const void *key)
{
	print_u32_field("svc_id", *(const __u32 *)key);
}

static void key_backend_id(const void *key)
{
	print_u32_field("backend_id", *(const __u32 *)key);
}

static void key_stat(const void *key)
{
	__u32 idx = *(const __u32 *)key;
	const char *name = abi_stat_name(idx);

	print_u32_field("index", idx);
	if (name)
		print_string(PRINT_ANY, "name", " (%s)", name);
	else
		print_null(PRINT_JSON, "name", NULL);
}

static void val_meta(const void *value)
{
	const struct tr_meta *m = value;

	print_uint(PRINT_ANY, "magic", " magic 0x%llx", m->magic);
	print_u32_field("abi_version", m->abi_version);
	print_uint(PRINT_ANY, "generation", " generation %llu", m->generation);
	print_uint(PRINT_ANY, "applied_ns", " applied_ns %llu", m->applied_ns);
	print_u32_field("next_table", m->next_table);
	print_u32_field("next_backend", m->next_backend);
	print_u32_field("services", m->services);
	print_u32_field("backends", m->backends);
	print_uint(PRINT_ANY, "config_hash", " config_hash 0x%016llx",
		   m->config_hash);
}

static void key_lb4(const void *key)
{
	const struct tr_lb4_key *k = key;
	__be32 addr[4] = { k->addr };

	print_addr_field("vip", addr, TR_AF_INET);
	print_port_field("port", k->port);
	print_string(PRINT_ANY, "protocol", " protocol %s",
		     abi_proto_str(k->proto));
}

static void key_lb6(const void *key)
{
	const struct tr_lb6_key *k = key;

	print_addr_field("vip", k->addr, TR_AF_INET6);
	print_port_field("port", k->port);
	print_string(PRINT_ANY, "protocol", " protocol %s",
		     abi_proto_str(k->proto));
}

static void val_svc(const void *value)
{
	const struct tr_lb_svc *v = value;

	print_u32_field("svc_id", v->svc_id);
	print_u32_field("table", v->table);
	print_u32_field("slots", v->slots);
	print_uint(PRINT_ANY, "flags", " flags 0x%llx", v->flags);
}

static void key_slot(const void *key)
{
	const struct tr_lb_slot_key *k = key;

	print_u32_field("table", k->table);
	print_u32_field("slot", k->slot);
}

static void val_slot(const void *value)
{
	const struct tr_lb_slot *v = value;

	print_addr_field("address", v->addr, v->family);
	print_port_field("port", v->port);
	print_family_field(v->family);
	print_u32_field("backend_id", v->backend_id);
}

static void val_backend(const void *value)
{
	const struct tr_lb_backend *v = value;

	print_addr_field("address", v->addr, v->family);
	print_port_field("port", v->port);
	print_family_field(v->family);
	print_string(PRINT_ANY, "protocol", " protocol %s",
		     abi_proto_str(v->proto));
	print_u32_field("svc_id", v->svc_id);
	print_uint(PRINT_ANY, "flags", " flags 0x%llx", v->flags);
	print_bool(PRINT_JSON, "ready", NULL, v->flags & TR_BE_F_READY);
	print_u32_field("slots", v->slots);
	print_u32_field("weight_ppm", v->weight_ppm);
	print_name_field("subset", v->subset, sizeof(v->subset));
	print_name_field("node", v->node, sizeof(v->node));
	print_name_field("zone", v->zone, sizeof(v->zone));
	print_name_field("pod", v->pod, sizeof(v->pod));
}

static void val_svcinfo(const void *value)
{
	const struct tr_lb_svcinfo *v = value;

	print_name_field("namespace", v->ns, sizeof(v->ns));
	print_name_field("name", v->name, sizeof(v->name));
	print_name_field("port_name", v->port_name, sizeof(v->port_name));
	print_uint(PRINT_ANY, "port", " port %llu", v->port);
	print_string(PRINT_ANY, "protocol", " protocol %s",
		     abi_proto_str(v->proto));
}

static void key_revnat(const void *key)
{
	const struct tr_revnat_key *k = key;

	print_uint(PRINT_ANY, "cookie", " cookie %llu", k->cookie);
	print_addr_field("address", k->addr, k->family);
	print_port_field("port", k->port);
	print_family_field(k->family);
}

static void val_revnat(const void *value)
{
	const struct tr_revnat *v = value;

	print_addr_field("vip", v->addr, v->family);
	print_port_field("port", v->port);
	print_family_field(v->family);
	print_u32_field("svc_id", v->svc_id);
}

const struct map_desc map_descs[] = {
	{ TR_MAP_META, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct tr_meta), key_index, val_meta },
	{ TR_MAP_LB4_SVC, BPF_MAP_TYPE_HASH, sizeof(struct tr_lb4_key),
	  sizeof(struct tr_lb_svc), key_lb4, val_svc },
	{ TR_MAP_LB6_SVC, BPF_MAP_TYPE_HASH, sizeof(struct tr_lb6_key),
	  sizeof(struct tr_lb_svc), key_lb6, val_svc },
	{ TR_MAP_LB_SLOT, BPF_MAP_TYPE_HASH, sizeof(struct tr_lb_slot_key),
	  sizeof(struct tr_lb_slot), key_slot, val_slot },
	{ TR_MAP_LB_BE, BPF_MAP_TYPE_HASH, sizeof(__u32),
	  sizeof(struct tr_lb_backend), key_id, val_backend },
	{ TR_MAP_LB_BESTAT, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
	  sizeof(__u64), key_backend_id, NULL },
	{ TR_MAP_LB_SVCINFO, BPF_MAP_TYPE_HASH, sizeof(__u32),
	  sizeof(struct tr_lb_svcinfo), key_svc_id, val_svcinfo },
	{ TR_MAP_REVNAT, BPF_MAP_TYPE_LRU_HASH, sizeof(struct tr_revnat_key),
	  sizeof(struct tr_revnat), key_revnat, val_revnat },
	{ TR_MAP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
	  sizeof(__u64), key_stat, NULL },
};

const size_t map_descs_cnt = ARRAY_SIZE(map_descs);

static const char *map_type_str(__u32 type)
{
	const char *s = libbpf_bpf_map_type_str(type);

	return s ? s : "unknown";
}

static void print_list_header(void)
{
	print_fp("%-15s %-13s %5s %6s %9s %9s %7s %6s\n", "NAME", "TYPE", "KEY",
		 "VALUE", "ENTRIES", "MAX", "FILL", "ID");
}

static void print_list_row(const char *name, int fd,
			   const struct bpf_map_info *info)
{
	long entries;

	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "%-15s ", name);
	if (fd < 0) {
		print_bool(PRINT_JSON, "pinned", NULL, false);
		print_null(PRINT_ANY, "type", "(not pinned)");
		print_null(PRINT_JSON, "key_size", NULL);
		print_null(PRINT_JSON, "value_size", NULL);
		print_null(PRINT_JSON, "entries", NULL);
		print_null(PRINT_JSON, "max_entries", NULL);
		print_null(PRINT_JSON, "fill_pct", NULL);
		print_null(PRINT_JSON, "map_id", NULL);
		close_json_object();
		print_nl();
		return;
	}
	entries = cli_map_entries(fd, info);
	print_bool(PRINT_JSON, "pinned", NULL, true);
	print_string(PRINT_ANY, "type", "%-13s ", map_type_str(info->type));
	print_uint(PRINT_ANY, "key_size", "%5llu ", info->key_size);
	print_uint(PRINT_ANY, "value_size", "%6llu ", info->value_size);
	if (entries >= 0)
		print_uint(PRINT_ANY, "entries", "%9llu ", (__u64)entries);
	else
		print_null(PRINT_ANY, "entries", "        ? ");
	print_uint(PRINT_ANY, "max_entries", "%9llu ", info->max_entries);
	print_float(PRINT_ANY, "fill_pct", "%6.1f%% ",
		    cli_fill_pct(entries, info->max_entries));
	print_uint(PRINT_ANY, "map_id", "%6llu", info->id);
	close_json_object();
	print_nl();
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Maps pinned at bpffs that map_descs does not know (newer agent). */
static void list_other_maps(void)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(bpffs);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (de->d_type != DT_REG || map_desc_find(de->d_name))
			continue;
		if (n == cap) {
			char **v;

			cap = cap ? cap * 2 : 16;
			v = realloc(names, cap * sizeof(*v));
			if (!v)
				break;
			names = v;
		}
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(dir);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int fd;

		if (!pins_path(path, sizeof(path), bpffs, names[i])) {
			fd = bpf_obj_get(path);
			if (fd >= 0) {
				if (cli_fd_is(fd, "bpf-map") &&
				    !bpf_obj_get_info_by_fd(fd, &info, &len))
					print_list_row(names[i], fd, &info);
				close(fd);
			}
		}
		free(names[i]);
	}
	free(names);
}

static int do_list(int argc, char **argv)
{
	struct tr_meta meta;

	if (cli_extra_args(argc, argv))
		return -1;
	if (cli_pins_open(&meta, false))
		return -1;
	print_list_header();
	open_json_array(PRINT_JSON, NULL);
	for (size_t i = 0; i < map_descs_cnt; i++) {
		struct bpf_map_info info = {};
		int fd;

		fd = cli_map_open_flags(map_descs[i].name, &info,
					CLI_MAP_QUIET_ENOENT |
					CLI_MAP_NO_CHECK);
		if (fd < 0 && fd != -ENOENT) {
			close_json_array(PRINT_JSON, NULL);
			return -1;
		}
		print_list_row(map_descs[i].name, fd, &info);
		if (fd >= 0)
			close(fd);
	}
	list_other_maps();
	close_json_array(PRINT_JSON, NULL);
	return 0;
}

struct dump_ctx {
	const struct map_desc *d;
	size_t count;
};

static int dump_entry(const void *key, const void *value, void *ctx)
{
	struct dump_ctx *c = ctx;

	open_json_object(NULL);
	open_json_object("key");
	print_fp("key:");
	c->d->print_key(key);
	close_json_object();
	open_json_object("value");
	print_fp("  value:");
	c->d->print_value(value);
	close_json_object();
	close_json_object();
	print_nl();
	c->count++;
	return 0;
}

/* Per-CPU arrays: entries whose sum is not zero, with the per-CPU values
 * in JSON. */
static int dump_percpu(int fd, const struct bpf_map_info *info,
		       const struct map_desc *d, size_t *count)
{
	int ncpus = cli_ncpus();
	__u64 *vals, sum;
	int err = 0;

	if (ncpus < 0)
		return -EINVAL;
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 i = 0; i < info->max_entries; i++) {
		err = cli_percpu_u64(fd, i, vals, &sum);
		if (err)
			break;
		if (!sum)
			continue;
		open_json_object(NULL);
		open_json_object("key");
		print_fp("key:");
		d->print_key(&i);
		close_json_object();
		open_json_object("value");
		print_uint(PRINT_ANY, "sum", "  value: sum %llu", sum);
		open_json_array(PRINT_JSON, "per_cpu");
		for (int c = 0; c < ncpus; c++)
			print_uint(PRINT_JSON, NULL, NULL, vals[c]);
		close_json_array(PRINT_JSON, NULL);
		close_json_object();
		close_json_object();
		print_nl();
		(*count)++;
	}
	free(vals);
	return err;
}

static void known_maps(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < map_descs_cnt; i++) {
		int k = snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
				 map_descs[i].name);

		if (k < 0 || (size_t)k >= len - n)
			break;
		n += (size_t)k;
	}
}

static int do_dump(int argc, char **argv)
{
	struct dump_ctx ctx = {};
	struct bpf_map_info info;
	struct tr_meta meta;
	int fd, err;

	if (argc < 1) {
		char known[512];

		known_maps(known, sizeof(known));
		p_err("map dump needs a map name (one of: %s)", known);
		return -1;
	}
	ctx.d = map_desc_find(argv[0]);
	if (!ctx.d) {
		char known[512];

		known_maps(known, sizeof(known));
		p_err("unknown map '%s' (known: %s)", argv[0], known);
		return -1;
	}
	if (cli_extra_args(argc - 1, argv + 1))
		return -1;
	if (cli_pins_open(&meta, true))
		return -1;
	fd = cli_map_open(ctx.d->name, &info);
	if (fd < 0)
		return -1;

	open_json_array(PRINT_JSON, NULL);
	if (!ctx.d->print_value)
		err = dump_percpu(fd, &info, ctx.d, &ctx.count);
	else
		err = cli_map_walk(fd, ctx.d->key_size, ctx.d->value_size,
				   dump_entry, &ctx);
	close_json_array(PRINT_JSON, NULL);
	close(fd);
	if (err) {
		p_err("cannot dump %s/%s: %s", bpffs, ctx.d->name,
		      strerror(-err));
		return -1;
	}
	if (!ctx.count)
		print_fp("(no entries%s)\n",
			 ctx.d->print_value ? "" : " with a non-zero sum");
	return 0;
}

static int do_help(int argc, char **argv)
{
	char known[512];

	(void)argc;
	(void)argv;
	if (json_output) {
		print_null(PRINT_JSON, NULL, NULL);
		return 0;
	}
	known_maps(known, sizeof(known));
	fprintf(stdout,
		"Usage: %s map { list | dump NAME | help }\n"
		"\n"
		"  list         the pinned maps: type, sizes, entries, fill, id\n"
		"  dump NAME    the entries of a map, decoded; per-CPU maps show\n"
		"               entries with a non-zero sum\n"
		"\n"
		"NAME := { %s }\n",
		bin_name, known);
	return 0;
}

static const struct cmd cmds[] = {
	{ "list", do_list },
	{ "dump", do_dump },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_map(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "map");
}
