// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <stdio.h>

#include "netns.h"

int netns_find(int (*open_if)(const char *path, void *ctx), void *ctx)
{
	static const char *const dirs[] = { "/run/netns", "/proc" };
	char path[300];
	struct dirent *de;

	for (size_t i = 0; i < 2; i++) {
		DIR *d = opendir(dirs[i]);

		while (d && (de = readdir(d))) {
			int fd;

			if (de->d_name[0] == '.')
				continue;
			if (i == 0)
				snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
			else if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
				snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
			else
				continue;
			fd = open_if(path, ctx);
			if (fd >= 0) {
				closedir(d);
				return fd;
			}
		}
		if (d)
			closedir(d);
	}
	return -ENOENT;
}
