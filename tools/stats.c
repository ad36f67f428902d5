// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle stats [show | help]
 *
 * Every named counter of tr_stats (events and drop reasons, names from
 * reasons.h), summed over CPUs. JSON: {"name": value, ...}.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/reasons.h>

#include "abi_fmt.h"
#include "cli.h"

static int do_show(int argc, char **argv)
{
	struct bpf_map_info info;
	struct tr_meta meta;
	int fd, err = 0;
	__u64 sum;

	if (cli_extra_args(argc, argv))
		return -1;
	if (cli_pins_open(&meta, true))
		return -1;
	fd = cli_map_open(TR_MAP_STATS, &info);
	if (fd < 0)
		return -1;

	open_json_object(NULL);
	for (__u32 i = 0; i < info.max_entries; i++) {
		const char *name = abi_stat_name(i);

		if (!name)
			continue;
		err = cli_percpu_u64(fd, i, NULL, &sum);
		if (err) {
			p_err("cannot read %s/%s[%u]: %s", bpffs, TR_MAP_STATS,
			      i, strerror(-err));
			break;
		}
		print_string(PRINT_FP, NULL, "%-20s ", name);
		print_uint(PRINT_ANY, name, "%llu\n", sum);
	}
	close_json_object();
	close(fd);
	return err ? -1 : 0;
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
		"Usage: %s stats [ show | help ]\n"
		"\n"
		"  show    (default) every named counter (events, drop and deny\n"
		"          reasons) summed over CPUs\n",
		bin_name);
	return 0;
}

static const struct cmd cmds[] = {
	{ "show", do_show },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_stats(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "stats");
}
