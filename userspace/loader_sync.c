// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Keeping one kind of program on exactly a list of devices, for
 * loader_tc_sync() (the policy programs) and loader_xdp_rnat_sync() (the
 * reply translation): attach where missing, keep what is in place, then
 * sweep links/ of the pins of devices no longer listed and of what a
 * previous agent attached the other way (a tcx link where clsact is in
 * use now, or the reverse). The sweep runs last, so the new way is in
 * place before the old one goes and no packet meets neither.
 */
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "loader_int.h"
#include "log.h"

void link_pin_remove(const char *path)
{
	int fd = bpf_obj_get(path);

	if (fd >= 0) {
		bpf_link_detach(fd);
		close(fd);
	}
	unlink(path);
}

/* Remove the pins of this kind under dirpath that stand for none of
 * have[] in the mode in use (and, clsact, this network namespace). */
static void sync_sweep(const struct tr_loader *l, const struct dev_sync *kind,
		       const char *dirpath, const uint32_t *have, size_t n_have)
{
	bool clsact = l->tc_mode == LOADER_TC_CLSACT;
	unsigned long long here = netns_self();
	size_t plen = strlen(kind->link_prefix);
	struct dirent *de;
	DIR *dir = opendir(dirpath);

	while (dir && (de = readdir(dir))) {
		char path[4096 + 256];
		unsigned long long netns;
		unsigned int ifindex;
		bool egress;

		if (clsact_pin_kind(de->d_name) == kind->clsact) {
			if (clsact && clsact_pin_parse(de->d_name, &ifindex, &egress, &netns) &&
			    netns == here && listed(have, n_have, ifindex))
				continue;
			clsact_remove(dirpath, de->d_name);
			log_info("%s removed (%s)", kind->clsact_what, de->d_name);
			continue;
		}
		if (strncmp(de->d_name, kind->link_prefix, plen) ||
		    sscanf(de->d_name + plen, "%u", &ifindex) != 1 ||
		    (!clsact && listed(have, n_have, ifindex)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		link_pin_remove(path);
		log_info("%s removed from ifindex %u (%s)", kind->link_what, ifindex, de->d_name);
	}
	if (dir)
		closedir(dir);
}

int loader_sync_devs(struct tr_loader *l, const struct dev_sync *kind,
		     const uint32_t *ifindexes, size_t n, uint32_t **cur, size_t *n_cur)
{
	char dirpath[4096];
	uint32_t *have;
	size_t n_have = 0;
	int first_err = 0;

	have = calloc(n + 1, sizeof(*have));
	if (!have)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int err;

		if (listed(have, n_have, ifindexes[i]))
			continue;
		if (!kind->in_place(l, ifindexes[i])) {
			err = kind->attach(l, ifindexes[i]);
			if (err) {
				first_err = first_err ? first_err : err;
				continue;
			}
		}
		have[n_have++] = ifindexes[i];
	}
	snprintf(dirpath, sizeof(dirpath), "%s/%s", l->bpffs, TR_LINK_DIR);
	sync_sweep(l, kind, dirpath, have, n_have);
	free(*cur);
	*cur = have;
	*n_cur = n_have;
	return first_err;
}
