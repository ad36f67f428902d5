// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle backend { list | help }
 *
 * Every entry of tr_lb_be with its service's names (tr_lb_svcinfo) and how
 * often the BPF programs selected it (tr_lb_bestat, summed over CPUs).
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

void backend_print(__u32 id, const struct tr_lb_backend *be, __u32 slots,
		   __u64 selections, const struct tr_lb_svcinfo *svc)
{
	char addr[CLI_ADDR_LEN], addr_port[CLI_ADDR_LEN];
	char subset[TR_SHORT_NAME_LEN + 1], zone[TR_SHORT_NAME_LEN + 1];
	char node[TR_NAME_LEN + 1], pod[TR_NAME_LEN + 1];
	bool ready = be->flags & TR_BE_F_READY;

	cli_addr(be->addr, be->family, addr, sizeof(addr));
	cli_addr_port(be->addr, be->family, ntohs(be->port), addr_port,
		      sizeof(addr_port));
	CLI_STRFIELD(subset, be->subset);
	CLI_STRFIELD(node, be->node);
	CLI_STRFIELD(zone, be->zone);
	CLI_STRFIELD(pod, be->pod);

	print_uint(PRINT_ANY, "id", "%llu: ", id);
	print_string(PRINT_JSON, "address", NULL, addr);
	print_uint(PRINT_JSON, "port", NULL, ntohs(be->port));
	print_string(PRINT_FP, NULL, "%s", addr_port);
	if (svc) {
		char ns[TR_NAME_LEN + 1], name[TR_NAME_LEN + 1];
		char port_name[TR_SHORT_NAME_LEN + 1];
		char full[2 * TR_NAME_LEN + TR_SHORT_NAME_LEN + 8];

		CLI_STRFIELD(ns, svc->ns);
		CLI_STRFIELD(name, svc->name);
		CLI_STRFIELD(port_name, svc->port_name);
		print_string(PRINT_ANY, "protocol", "/%s",
			     abi_proto_str(be->proto));
		print_uint(PRINT_ANY, "svc_id", "  svc_id %llu", be->svc_id);
		print_string(PRINT_JSON, "namespace", NULL, ns);
		print_string(PRINT_JSON, "name", NULL, name);
		print_string(PRINT_JSON, "port_name", NULL, port_name);
		print_string(PRINT_FP, NULL, "  service %s",
			     svc_name_str(svc, *name != '\0', full,
					  sizeof(full)));
	}
	print_opt_string("subset", "  subset %s", subset);
	print_float(PRINT_ANY, "weight_pct", "  weight %.2f%%",
		    be->weight_ppm / 10000.0);
	print_uint(PRINT_ANY, "slots", "  slots %llu", slots);
	print_bool(PRINT_JSON, "ready", NULL, ready);
	print_string(PRINT_FP, NULL, "  %s", ready ? "ready" : "not-ready");
	print_opt_string("node", "  node %s", node);
	print_opt_string("zone", "  zone %s", zone);
	print_opt_string("pod", "  pod %s", pod);
	print_uint(PRINT_ANY, "selections", "  selections %llu", selections);
}

struct be_row {
	__u32 id;
	struct tr_lb_backend be;
};

struct be_rows {
	struct be_row *v;
	size_t n, cap;
};

static int collect(const void *key, const void *value, void *ctx)
{
	struct be_rows *r = ctx;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct be_row *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n].id = *(const __u32 *)key;
	r->v[r->n].be = *(const struct tr_lb_backend *)value;
	r->n++;
	return 0;
}

static int cmp_rows(const void *a, const void *b)
{
	const struct be_row *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int do_list(int argc, char **argv)
{
	int be_fd = -1, info_fd = -1, stat_fd = -1, ret = -1, err;
	struct tr_lb_svcinfo info;
	struct be_rows rows = {};
	struct tr_meta meta;
	__u64 sel;

	if (cli_extra_args(argc, argv))
		return -1;
	if (cli_pins_open(&meta, true))
		return -1;
	be_fd = cli_map_open(TR_MAP_LB_BE, NULL);
	if (be_fd < 0)
		goto out;
	info_fd = cli_map_open(TR_MAP_LB_SVCINFO, NULL);
	if (info_fd < 0)
		goto out;
	stat_fd = cli_map_open(TR_MAP_LB_BESTAT, NULL);
	if (stat_fd < 0)
		goto out;
	err = cli_map_walk(be_fd, sizeof(__u32), sizeof(struct tr_lb_backend),
			   collect, &rows);
	if (err) {
		p_err("cannot read %s/%s: %s", bpffs, TR_MAP_LB_BE,
		      strerror(-err));
		goto out;
	}
	if (rows.n)
		qsort(rows.v, rows.n, sizeof(*rows.v), cmp_rows);

	open_json_array(PRINT_JSON, NULL);
	for (size_t i = 0; i < rows.n; i++) {
		const struct be_row *r = &rows.v[i];

		svcinfo_lookup(info_fd, r->be.svc_id, &info);
		if (cli_percpu_u64(stat_fd, r->id, NULL, &sel))
			sel = 0;
		open_json_object(NULL);
		backend_print(r->id, &r->be, r->be.slots, sel, &info);
		close_json_object();
		print_nl();
	}
	close_json_array(PRINT_JSON, NULL);
	ret = 0;
out:
	free(rows.v);
	if (be_fd >= 0)
		close(be_fd);
	if (info_fd >= 0)
		close(info_fd);
	if (stat_fd >= 0)
		close(stat_fd);
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
		"Usage: %s backend { list | help }\n"
		"\n"
		"  list    every backend: address, service, subset, weight, slots,\n"
		"          readiness, node, zone, pod and selections\n",
		bin_name);
	return 0;
}

static const struct cmd cmds[] = {
	{ "list", do_list },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_backend(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "backend");
}
