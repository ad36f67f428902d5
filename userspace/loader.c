// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "log.h"
#include "pins.h"
#include "sock.skel.h"

/* Every map Trestle pins, for cleanup. */
static const char *const pinned_maps[] = {
	TR_MAP_META, TR_MAP_LB4_SVC, TR_MAP_LB6_SVC, TR_MAP_LB_SLOT,
	TR_MAP_LB_BE, TR_MAP_LB_BESTAT, TR_MAP_LB_SVCINFO, TR_MAP_REVNAT,
	TR_MAP_STATS,
};

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Refuse pins made by an agent of a newer ABI, or that are not ours. */
static int check_pinned_meta(const char *bpffs)
{
	struct tr_meta meta;
	int err = pins_meta_read(bpffs, &meta);

	if (err == -ENOENT)
		return 0;
	if (err == -EPROTO) {
		log_error("%s/%s is not Trestle state (bad magic); refusing to touch it (hint: trestled --cleanup --bpffs %s)",
			  bpffs, TR_MAP_META, bpffs);
		return err;
	}
	if (err) {
		log_error("cannot read %s/%s: %s", bpffs, TR_MAP_META, strerror(-err));
		return err;
	}
	if (meta.magic && meta.abi_version > TR_ABI_VERSION) {
		log_error("pins under %s were made by a newer agent (ABI %u, this agent speaks %u); refusing to touch them",
			  bpffs, meta.abi_version, TR_ABI_VERSION);
		return -EPROTO;
	}
	if (meta.magic)
		log_info("adopting pinned state under %s (generation %llu)", bpffs,
			 (unsigned long long)meta.generation);
	return 0;
}

struct attach_point {
	struct bpf_program *prog;
	const char *name;
};

static int attach_one(struct tr_loader *l, struct bpf_program *prog)
{
	const char *name = bpf_program__name(prog);
	char path[4096];
	struct bpf_link *link;
	int err;

	snprintf(path, sizeof(path), "%s/%s/%s", l->bpffs, TR_LINK_DIR, name);
	if (!access(path, F_OK)) {
		link = bpf_link__open(path);
		if (!link) {
			err = -errno;
			log_error("cannot open pinned link %s: %s (hint: trestled --cleanup)",
				  path, strerror(-err));
			return err;
		}
		err = bpf_link__update_program(link, prog);
		if (err) {
			log_error("cannot replace the program of pinned link %s: %s",
				  path, strerror(-err));
			bpf_link__disconnect(link);
			bpf_link__destroy(link);
			return err;
		}
		bpf_link__disconnect(link);
		bpf_link__destroy(link);
		l->n_replaced++;
		log_debug("replaced program of %s", path);
		return 0;
	}

	link = bpf_program__attach_cgroup(prog, l->cgroup_fd);
	if (!link) {
		err = -errno;
		log_error("cannot attach %s to cgroup %s: %s", name, l->cgroup,
			  strerror(-err));
		return err;
	}
	err = bpf_link__pin(link, path);
	if (err) {
		log_error("cannot pin link %s: %s", path, strerror(-err));
		bpf_link__destroy(link);
		return err;
	}
	/* the pin keeps it attached after this process exits */
	bpf_link__disconnect(link);
	bpf_link__destroy(link);
	l->n_attached++;
	return 0;
}

int loader_start(struct tr_loader *l, const char *bpffs, const char *cgroup)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct bpf_program *prog;
	char links[4096];
	int err;

	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
	l->bpffs = strdup(bpffs);
	l->cgroup = strdup(cgroup);
	if (!l->bpffs || !l->cgroup)
		return -ENOMEM;

	err = mkdir_p(bpffs);
	if (err) {
		log_error("cannot create pin directory %s: %s", bpffs, strerror(-err));
		return err;
	}
	err = pins_check_bpffs(bpffs);
	if (err == -EXDEV) {
		log_error("%s is not on a bpf filesystem (hint: mount -t bpf bpf /sys/fs/bpf)",
			  bpffs);
		return err;
	}
	if (err) {
		log_error("cannot use pin directory %s: %s", bpffs, strerror(-err));
		return err;
	}
	err = check_pinned_meta(bpffs);
	if (err)
		return err;

	l->cgroup_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->cgroup_fd < 0) {
		err = -errno;
		log_error("cannot open cgroup %s: %s (hint: --cgroup takes a cgroup v2 directory, e.g. /sys/fs/cgroup/unified/...)",
			  cgroup, strerror(-err));
		return err;
	}

	opts.pin_root_path = bpffs;
	l->skel = tr_sock__open_opts(&opts);
	if (!l->skel) {
		err = -errno;
		log_error("cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	err = tr_sock__load(l->skel);
	if (err) {
		log_error("cannot load BPF programs: %s (hint: a pinned map from an incompatible build? trestled --cleanup --bpffs %s; run with -v for the verifier log)",
			  strerror(-err), bpffs);
		return err;
	}

	l->fds.meta = bpf_map__fd(l->skel->maps.tr_meta);
	l->fds.lb4_svc = bpf_map__fd(l->skel->maps.tr_lb4_svc);
	l->fds.lb6_svc = bpf_map__fd(l->skel->maps.tr_lb6_svc);
	l->fds.slot = bpf_map__fd(l->skel->maps.tr_lb_slot);
	l->fds.be = bpf_map__fd(l->skel->maps.tr_lb_be);
	l->fds.bestat = bpf_map__fd(l->skel->maps.tr_lb_bestat);
	l->fds.svcinfo = bpf_map__fd(l->skel->maps.tr_lb_svcinfo);

	snprintf(links, sizeof(links), "%s/%s", bpffs, TR_LINK_DIR);
	err = mkdir_p(links);
	if (err) {
		log_error("cannot create %s: %s", links, strerror(-err));
		return err;
	}
	bpf_object__for_each_program(prog, l->skel->obj) {
		err = attach_one(l, prog);
		if (err)
			return err;
	}
	log_info("programs ready on cgroup %s: %d attached, %d replaced in place",
		 cgroup, l->n_attached, l->n_replaced);
	return 0;
}

void loader_close(struct tr_loader *l)
{
	if (l->skel)
		tr_sock__destroy(l->skel);
	if (l->cgroup_fd >= 0)
		close(l->cgroup_fd);
	free(l->bpffs);
	free(l->cgroup);
	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
}

int loader_cleanup(const char *bpffs, const char *cgroup)
{
	char path[4096];
	struct dirent *de;
	DIR *dir;
	int err = 0, n_links = 0, n_maps = 0;

	(void)cgroup; /* links know their cgroup; kept for symmetry and logs */
	snprintf(path, sizeof(path), "%s/%s", bpffs, TR_LINK_DIR);
	dir = opendir(path);
	if (dir) {
		while ((de = readdir(dir))) {
			char lpath[4096 + 256];
			int fd;

			if (de->d_name[0] == '.')
				continue;
			snprintf(lpath, sizeof(lpath), "%s/%s", path, de->d_name);
			fd = bpf_obj_get(lpath);
			if (fd >= 0) {
				if (bpf_link_detach(fd) && errno != EINVAL)
					log_warn("cannot detach %s: %s", lpath, strerror(errno));
				close(fd);
			}
			if (unlink(lpath)) {
				err = -errno;
				log_error("cannot remove %s: %s", lpath, strerror(errno));
				continue;
			}
			n_links++;
		}
		closedir(dir);
		if (rmdir(path) && errno != ENOENT) {
			err = -errno;
			log_error("cannot remove %s: %s", path, strerror(errno));
		}
	}
	for (size_t i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, pinned_maps[i]);
		if (!unlink(path))
			n_maps++;
		else if (errno != ENOENT) {
			err = -errno;
			log_error("cannot remove %s: %s", path, strerror(errno));
		}
	}
	if (rmdir(bpffs) && errno != ENOENT) {
		if (errno == ENOTEMPTY)
			log_warn("%s still holds files Trestle did not pin; left in place", bpffs);
		else {
			err = -errno;
			log_error("cannot remove %s: %s", bpffs, strerror(errno));
		}
	}
	log_info("cleanup of %s%s%s: %d links detached, %d maps unpinned", bpffs,
		 cgroup ? " on cgroup " : "", cgroup ? cgroup : "", n_links, n_maps);
	return err;
}
