// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle status [show | help]
 *
 * What is pinned at the bpffs directory: ABI version and applied
 * configuration (tr_meta), the programs attached through pinned links
 * (<bpffs>/links/<program>; tc filters on kernels without tcx are pinned
 * programs there, tc_<ifindex>_<direction>_ns<netns>), and how full each
 * map is.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "cli.h"

#include <trestle/policy.h>
#include <trestle/redir.h>
#include "abi_fmt.h"
#include "pins.h"

static void print_applied(__u64 applied_ns)
{
	time_t secs = (time_t)(applied_ns / 1000000000ull);
	char buf[64];
	struct tm tm;

	if (!applied_ns || !gmtime_r(&secs, &tm) ||
	    !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		print_null(PRINT_ANY, "applied_at", " (never applied)");
		return;
	}
	print_string(PRINT_ANY, "applied_at", " (applied %s)", buf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A tc filter attached the classic way (the agent's clsact mode, kernels
 * without tcx): the agent pins its program as
 * links/tc_<ifindex>_<ingress|egress>_ns<netns inode>, and the uplink load
 * balancer's reply translation as links/tcrnat_<ifindex>_ingress_ns<inode>.
 * Closes fd.
 */
static bool print_tc_filter(int fd, const char *name)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	unsigned long long netns;
	unsigned int ifindex;
	const char *rest = !strncmp(name, "tcrnat_", 7) ? name + 7 :
			   !strncmp(name, "tc_", 3) ? name + 3 : NULL;
	char dir[8], type[16];
	int n = 0;

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || !rest ||
	    sscanf(rest, "%u_%7[a-z]_ns%llu%n", &ifindex, dir, &netns, &n) != 3 || rest[n]) {
		p_warn("%s is not a tc program pinned by trestled", name);
		close(fd);
		return false;
	}
	close(fd);
	snprintf(type, sizeof(type), "tc_%s", dir);
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "\t%-20s ", name);
	print_string(PRINT_ANY, "attach_type", "%-25s ", type);
	print_uint(PRINT_ANY, "prog_id", "prog_id %-6llu ", info.id);
	print_null(PRINT_ANY, "link_id", "(no link)     ");
	print_null(PRINT_JSON, "cgroup_id", NULL);
	print_uint(PRINT_ANY, "ifindex", " ifindex %llu", ifindex);
	close_json_object();
	print_nl();
	return true;
}

/* One pinned link; false if the pin is not a link or cannot be read. */
static bool print_link(const char *dir, const char *name)
{
	/* room for link kinds newer than libbpf's headers (tcx) */
	union {
		struct bpf_link_info li;
		unsigned char raw[256];
	} u = {};
	struct bpf_link_info *lip = &u.li;
	__u32 len = sizeof(u);
	__u32 tcx_ifindex = 0;
	const char *type = NULL;
	char path[4096];
	int fd;

	if (pins_path(path, sizeof(path), dir, name))
		return false;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		p_warn("cannot open pinned link %s: %s", path, strerror(errno));
		return false;
	}
	if (cli_fd_is(fd, "bpf-prog") || cli_fd_is(fd, "bpf_prog"))
		return print_tc_filter(fd, name);
	/* "bpf_link" before Linux 6.x, "bpf-link" since */
	if (!(cli_fd_is(fd, "bpf-link") || cli_fd_is(fd, "bpf_link")) ||
	    bpf_obj_get_info_by_fd(fd, &u, &len)) {
		p_warn("%s is not a readable BPF link", path);
		close(fd);
		return false;
	}
	close(fd);

#define TR_LINK_TYPE_TCX 11 /* Linux 6.6; {ifindex, attach_type} at offset 16 */
	if (lip->type == BPF_LINK_TYPE_CGROUP) {
		type = libbpf_bpf_attach_type_str(lip->cgroup.attach_type);
	} else if (lip->type == TR_LINK_TYPE_TCX) {
		__u32 at;

		memcpy(&tcx_ifindex, u.raw + 16, sizeof(tcx_ifindex));
		memcpy(&at, u.raw + 20, sizeof(at));
		type = at == 46 ? "tcx_ingress" : at == 47 ? "tcx_egress" : "tcx";
	} else {
		type = libbpf_bpf_link_type_str(lip->type);
	}
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "\t%-20s ", name);
	print_string(PRINT_ANY, "attach_type", "%-25s ", type ? type : "unknown");
	print_uint(PRINT_ANY, "prog_id", "prog_id %-6llu ", lip->prog_id);
	print_uint(PRINT_ANY, "link_id", "link_id %-6llu", lip->id);
	if (lip->type == BPF_LINK_TYPE_CGROUP)
		print_uint(PRINT_ANY, "cgroup_id", " cgroup_id %llu",
			   lip->cgroup.cgroup_id);
	else
		print_null(PRINT_JSON, "cgroup_id", NULL);
	if (lip->type == TR_LINK_TYPE_TCX)
		print_uint(PRINT_ANY, "ifindex", " ifindex %llu", tcx_ifindex);
	else
		print_null(PRINT_JSON, "ifindex", NULL);
	close_json_object();
	print_nl();
	return true;
}

/*
 * The uplinks (trestled --uplink): each XDP link the agent pinned as
 * links/xdp_<ifindex>, with the device's name and the mode XDP runs in
 * there (native: in the driver; generic: after the kernel built an skb).
 */
static void print_uplinks(void)
{
	char dir[4096], path[4096 + 256];
	struct dirent *de;
	size_t shown = 0;
	bool unknown = false;
	DIR *d;

	open_json_array(PRINT_JSON, "uplinks");
	print_fp("uplinks:\n");
	if (pins_path(dir, sizeof(dir), bpffs, TR_LINK_DIR) || !(d = opendir(dir)))
		goto out;
	while ((de = readdir(d))) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		struct bpf_link_info li = {};
		__u32 len = sizeof(li);
		char name[IF_NAMESIZE] = "?";
		const char *mode = "none";
		int fd;

		if (strncmp(de->d_name, "xdp_", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &li, &len) || li.type != BPF_LINK_TYPE_XDP) {
			close(fd);
			continue;
		}
		close(fd);
		/* ifindexes are per network namespace: the agent's is needed */
		if (!if_indextoname(li.xdp.ifindex, name)) {
			snprintf(name, sizeof(name), "?");
			mode = "?";
		} else if (!bpf_xdp_query((int)li.xdp.ifindex, 0, &q))
			mode = q.attach_mode == XDP_ATTACHED_DRV ? "native" :
			       q.attach_mode == XDP_ATTACHED_SKB ? "generic" :
			       q.attach_mode == XDP_ATTACHED_HW ? "offload" :
			       q.attach_mode == XDP_ATTACHED_MULTI ? "multi" : "none";
		open_json_object(NULL);
		print_string(PRINT_ANY, "device", "\t%-16s ", name);
		print_uint(PRINT_ANY, "ifindex", "ifindex %-5llu ", li.xdp.ifindex);
		print_string(PRINT_ANY, "xdp_mode", "xdp %-8s ", mode);
		print_uint(PRINT_ANY, "prog_id", "prog_id %llu", li.prog_id);
		close_json_object();
		print_nl();
		shown++;
		if (!strcmp(name, "?"))
			unknown = true;
	}
	closedir(d);
	if (unknown)
		print_fp("\t(ifindex unknown here: run trestle in trestled's network namespace)\n");
out:
	if (!shown)
		print_fp("\t(none: trestled runs without --uplink)\n");
	close_json_array(PRINT_JSON, NULL);
}

static void print_programs(void)
{
	char dir[4096], **names = NULL;
	size_t n = 0, cap = 0, shown = 0;
	struct dirent *de;
	DIR *d;

	open_json_array(PRINT_JSON, "programs");
	print_fp("programs:\n");
	if (pins_path(dir, sizeof(dir), bpffs, TR_LINK_DIR))
		goto out;
	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			p_warn("cannot read %s: %s", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
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
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (print_link(dir, names[i]))
			shown++;
		free(names[i]);
	}
	free(names);
out:
	if (!shown)
		print_fp("\t(none attached)\n");
	close_json_array(PRINT_JSON, NULL);
}

static void print_maps(void)
{
	open_json_array(PRINT_JSON, "maps");
	print_fp("maps:\n");
	for (size_t i = 0; i < map_descs_cnt; i++) {
		const char *name = map_descs[i].name;
		struct bpf_map_info info = {};
		long entries;
		int fd;

		open_json_object(NULL);
		print_string(PRINT_ANY, "name", "\t%-15s ", name);
		fd = cli_map_open_flags(name, &info,
					CLI_MAP_QUIET_ENOENT | CLI_MAP_NO_CHECK);
		if (fd < 0) {
			print_null(PRINT_ANY, "entries", "(not pinned)");
			print_null(PRINT_JSON, "max_entries", NULL);
			print_null(PRINT_JSON, "fill_pct", NULL);
		} else {
			entries = cli_map_entries(fd, &info);
			close(fd);
			/* arrays are always full and a ring buffer has no
			 * entries: a fill level would only mislead */
			if (info.type == BPF_MAP_TYPE_ARRAY ||
			    info.type == BPF_MAP_TYPE_PERCPU_ARRAY ||
			    info.type == BPF_MAP_TYPE_RINGBUF) {
				print_null(PRINT_ANY, "entries", "        -");
				print_uint(PRINT_ANY, "max_entries", " / %-9llu",
					   info.max_entries);
				print_null(PRINT_ANY, "fill_pct", "     -");
				close_json_object();
				print_nl();
				continue;
			}
			if (entries >= 0)
				print_uint(PRINT_ANY, "entries", "%9llu",
					   (__u64)entries);
			else
				print_null(PRINT_ANY, "entries", "        ?");
			print_uint(PRINT_ANY, "max_entries", " / %-9llu",
				   info.max_entries);
			print_float(PRINT_ANY, "fill_pct", " %5.1f%%",
				    cli_fill_pct(entries, info.max_entries));
		}
		close_json_object();
		print_nl();
	}
	close_json_array(PRINT_JSON, NULL);
}

static int do_show(int argc, char **argv)
{
	struct tr_meta meta;

	if (cli_extra_args(argc, argv))
		return -1;
	if (cli_pins_open(&meta, false))
		return -1;
	if (meta.abi_version > TR_ABI_VERSION)
		p_warn("pins at %s use ABI version %u, newer than this trestle's %u: only the metadata is shown correctly",
		       bpffs, meta.abi_version, TR_ABI_VERSION);
	if (meta.magic != TR_META_MAGIC)
		p_warn("%s/%s is empty: trestled has not initialised it yet",
		       bpffs, TR_MAP_META);

	open_json_object(NULL);
	print_string(PRINT_ANY, "bpffs", "bpffs:        %s\n", bpffs);
	print_uint(PRINT_ANY, "abi_version", "abi version:  %llu\n",
		   meta.abi_version);
	print_uint(PRINT_ANY, "generation", "generation:   %llu",
		   meta.generation);
	print_applied(meta.applied_ns);
	print_nl();
	print_uint(PRINT_ANY, "services", "services:     %llu\n",
		   meta.services);
	print_uint(PRINT_ANY, "backends", "backends:     %llu\n",
		   meta.backends);
	{
		/* a policy-only change moves the epoch, not the generation */
		struct tr_pol_cfg pc = {};
		__u32 zero = 0;
		int fd = cli_map_open_flags(TR_MAP_POL_CFG, NULL,
					    CLI_MAP_QUIET_ENOENT | CLI_MAP_NO_CHECK);

		if (fd >= 0 && !bpf_map_lookup_elem(fd, &zero, &pc))
			print_uint(PRINT_ANY, "policy_epoch", "policy epoch: %llu\n", pc.epoch);
		else
			print_null(PRINT_JSON, "policy_epoch", NULL);
		if (fd >= 0)
			close(fd);
	}
	{
		/* the node's redirection switch (BPF reads it per connection) */
		struct tr_redir_cfg rc = {};
		__u32 zero = 0;
		int fd = cli_map_open_flags(TR_MAP_REDIR_CFG, NULL,
					    CLI_MAP_QUIET_ENOENT | CLI_MAP_NO_CHECK);

		open_json_object("redirect");
		if (fd >= 0 && !bpf_map_lookup_elem(fd, &zero, &rc)) {
			print_string(PRINT_ANY, "mode", "redirect:     %s", abi_redir_mode_name(rc.mode));
			if (rc.mode == TR_REDIR_AUTO)
				print_uint(PRINT_ANY, "bulk_bytes", " (bulk above %llu bytes takes TCP)",
					   rc.bulk_bytes ? rc.bulk_bytes : TR_REDIR_BULK_BYTES_DEFAULT);
			print_nl();
		} else {
			print_null(PRINT_ANY, "mode", "redirect:     (not pinned)\n");
		}
		close_json_object();
		if (fd >= 0)
			close(fd);
	}
	print_uplinks();
	print_programs();
	print_maps();
	close_json_object();
	return 0;
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
		"Usage: %s status [ show | help ]\n"
		"\n"
		"  show    (default) bpffs directory, ABI version, applied configuration\n"
		"          generation, services and backends, uplinks with their XDP mode\n"
		"          (native or generic), attached programs, map fill\n",
		bin_name);
	return 0;
}

static const struct cmd cmds[] = {
	{ "show", do_show },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_status(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "status");
}
