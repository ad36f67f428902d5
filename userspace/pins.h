/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Paths and access to what Trestle pins under its bpffs directory. */
#ifndef TRESTLE_PINS_H
#define TRESTLE_PINS_H

#include <stddef.h>
#include <trestle/abi.h>

/* "<bpffs>/<name>" into buf. Returns 0 or -ENAMETOOLONG. */
int pins_path(char *buf, size_t len, const char *bpffs, const char *name);

/* 0 when dir is on a bpf filesystem; -ENOENT / -ENOTDIR / -EXDEV otherwise. */
int pins_check_bpffs(const char *dir);

/* Open the pinned map 'name'. Returns an fd or -errno. */
int pins_map_open(const char *bpffs, const char *name);

/* Read tr_meta. Returns 0, -ENOENT when nothing is pinned, -EPROTO when
 * the magic is wrong, or another -errno. */
int pins_meta_read(const char *bpffs, struct tr_meta *meta);

/* Count the entries of a map by walking its keys (hash maps). */
long pins_map_count(int map_fd, size_t key_size);

#endif /* TRESTLE_PINS_H */
