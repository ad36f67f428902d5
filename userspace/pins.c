// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "pins.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <trestle/maps.h>

int pins_path(char *buf, size_t len, const char *bpffs, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", bpffs, name);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int pins_check_bpffs(const char *dir)
{
	struct statfs st;
	struct stat sb;

	if (stat(dir, &sb))
		return -errno;
	if (!S_ISDIR(sb.st_mode))
		return -ENOTDIR;
	if (statfs(dir, &st))
		return -errno;
	if ((unsigned long)st.f_type != BPF_FS_MAGIC)
		return -EXDEV;
	return 0;
}

int pins_map_open(const char *bpffs, const char *name)
{
	char path[4096];
	int err, fd;

	err = pins_path(path, sizeof(path), bpffs, name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	return fd;
}

int pins_meta_read(const char *bpffs, struct tr_meta *meta)
{
	__u32 zero = 0;
	int fd, err = 0;

	fd = pins_map_open(bpffs, TR_MAP_META);
	if (fd < 0)
		return fd;
	memset(meta, 0, sizeof(*meta));
	if (bpf_map_lookup_elem(fd, &zero, meta))
		err = -errno;
	else if (meta->magic != TR_META_MAGIC && meta->magic != 0)
		err = -EPROTO;
	close(fd);
	return err;
}

long pins_map_count(int map_fd, size_t key_size)
{
	unsigned char *cur, *next;
	long n = 0;
	int err;

	cur = calloc(1, key_size);
	next = calloc(1, key_size);
	if (!cur || !next) {
		free(cur);
		free(next);
		return -ENOMEM;
	}
	err = bpf_map_get_next_key(map_fd, NULL, next);
	while (!err) {
		n++;
		memcpy(cur, next, key_size);
		err = bpf_map_get_next_key(map_fd, cur, next);
	}
	free(cur);
	free(next);
	return n;
}
