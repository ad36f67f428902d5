// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The loader's core: open, load and pin the skeletons on the pinned maps,
 * attach the cgroup programs (and the sk_msg program of same-node
 * redirection), close, and remove everything on --cleanup. tc on workload
 * devices is in loader_tc.c and loader_clsact.c, the uplink load balancer
 * in loader_xdp.c.
 */
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
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/redir.h>

#include "abi_fmt.h"
#include "loader_int.h"
#include "log.h"
#include "pins.h"
#include "sock.skel.h"
#include "tc.skel.h"
#include "sockops.skel.h"
#include "redir.skel.h"
#include "xdp.skel.h"

/* Every map Trestle pins, for cleanup. */
static const char *const pinned_maps[] = { TR_PINNED_MAPS };

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

/*
 * Depth of a cgroup directory below its cgroup2 mount (the mount root is
 * level 0, as bpf_get_current_ancestor_cgroup_id() counts).
 */
static int cgroup_level(const char *path, unsigned int *level)
{
	char cur[4096], *slash;
	struct stat here, up;

	if (!realpath(path, cur))
		return -errno;
	*level = 0;
	for (;;) {
		if (stat(cur, &here))
			return -errno;
		slash = strrchr(cur, '/');
		if (!slash || slash == cur)
			return 0;
		*slash = '\0';
		if (stat(cur, &up))
			return -errno;
		if (up.st_dev != here.st_dev)
			return 0; /* crossed the mount point */
		(*level)++;
	}
}

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

/*
 * Same-node redirection: write the switch (read by BPF per connection and
 * per message, so no program changes with it) and attach the sk_msg program
 * to the pinned sockhash. bpf_prog_attach on a map replaces the program a
 * previous agent attached; sockets already in the map keep the program
 * they entered with until they close.
 */
static int redir_start(struct tr_loader *l, const struct loader_opts *lopts)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = l->bpffs);
	struct tr_redir_cfg cfg = {
		.mode = lopts ? lopts->redirect : TR_REDIR_OFF,
		.bulk_bytes = lopts ? lopts->redirect_bulk_bytes : 0,
	};
	__u32 zero = 0;
	int err;

	l->redir = tr_redir__open_opts(&opts);
	if (!l->redir) {
		err = -errno;
		log_error("cannot open the redirection BPF object: %s", strerror(-err));
		return err;
	}
	err = tr_redir__load(l->redir);
	if (err) {
		log_error("cannot load the sk_msg redirection program: %s (run with -v for the verifier log)",
			  strerror(-err));
		return err;
	}
	l->redir_cfg_fd = bpf_map__fd(l->redir->maps.tr_redir_cfg);
	if (bpf_map_update_elem(l->redir_cfg_fd, &zero, &cfg, BPF_ANY)) {
		err = -errno;
		log_error("cannot write %s/%s: %s", l->bpffs, TR_MAP_REDIR_CFG, strerror(-err));
		return err;
	}
	err = bpf_prog_attach(bpf_program__fd(l->redir->progs.tr_redir_msg),
			      bpf_map__fd(l->redir->maps.tr_redir_sk), BPF_SK_MSG_VERDICT, 0);
	if (err) {
		err = -errno;
		log_error("cannot attach the sk_msg program to %s/%s: %s", l->bpffs,
			  TR_MAP_REDIR_SK, strerror(-err));
		return err;
	}
	log_info("same-node redirection: %s%s", abi_redir_mode_name(cfg.mode),
		 cfg.mode == TR_REDIR_AUTO ? " (bulk transfers take the normal path)" : "");
	return 0;
}

/*
 * Remove what an agent of an older ABI pinned and this one has no use
 * for: links of programs it no longer has (detached), maps whose layout
 * or type changed. Called once the new programs are attached, so the old
 * ones are never all gone while neither set runs.
 */
static void unpin_former(const char *bpffs)
{
	static const char *const maps[] = { TR_FORMER_MAPS };
	static const char *const links[] = { TR_FORMER_LINKS };
	char path[4096];

	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", bpffs, TR_LINK_DIR, links[i]);
		if (!access(path, F_OK)) {
			link_pin_remove(path);
			log_info("detached %s (an older agent's program)", path);
		}
	}
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, maps[i]);
		if (!unlink(path))
			log_info("removed %s (an older agent's layout)", path);
	}
	loader_xdp_unpin_former(bpffs);
}

int loader_start(struct tr_loader *l, const char *bpffs, const char *cgroup,
		 const struct loader_opts *lopts)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct bpf_program *prog;
	char links[4096];
	int err;

	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
	l->xfds = (struct xdp_fds){ -1, -1, -1, -1, -1, -1 };
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
	{
		unsigned int level = 0;

		err = cgroup_level(cgroup, &level);
		if (err) {
			log_error("cannot find the depth of cgroup %s: %s", cgroup, strerror(-err));
			return err;
		}
		l->skel->rodata->cgroup_base_level = level;
		log_debug("cgroup %s is at level %u", cgroup, level);
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
	l->fds.rbe = bpf_map__fd(l->skel->maps.tr_lb_rbe);
	l->pfds.cfg = bpf_map__fd(l->skel->maps.tr_pol_cfg);
	l->pfds.ip4 = bpf_map__fd(l->skel->maps.tr_ip4_info);
	l->pfds.ip6 = bpf_map__fd(l->skel->maps.tr_ip6_info);
	l->pfds.cgroup = bpf_map__fd(l->skel->maps.tr_cgroup);
	l->pfds.pol = bpf_map__fd(l->skel->maps.tr_pol);
	l->pfds.pol_dst = bpf_map__fd(l->skel->maps.tr_pol_dst);
	l->pfds.pol_stat = bpf_map__fd(l->skel->maps.tr_pol_stat);
	l->pfds.id_info = bpf_map__fd(l->skel->maps.tr_id_info);
	l->pfds.wl_info = bpf_map__fd(l->skel->maps.tr_wl_info);
	l->pfds.pol_info = bpf_map__fd(l->skel->maps.tr_pol_info);
	l->pfds.wl_addr = bpf_map__fd(l->skel->maps.tr_wl_addr);
	l->pfds.xdp4_deny = l->pfds.xdp6_deny = -1;
	l->flow_rb_fd = bpf_map__fd(l->skel->maps.tr_flow_rb);

	/* the tc object reuses every pinned map by name */
	l->tc = tr_tc__open_opts(&opts);
	if (!l->tc) {
		err = -errno;
		log_error("cannot open the tc BPF object: %s", strerror(-err));
		return err;
	}
	err = tr_tc__load(l->tc);
	if (err) {
		log_error("cannot load the tc BPF programs: %s (run with -v for the verifier log)",
			  strerror(-err));
		return err;
	}
	{
		const char *why;

		l->tc_mode = tc_mode_choose(lopts, bpf_program__fd(l->tc->progs.tr_tc_from_wl),
					    &why);
		log_info("tc attach mode: %s (%s; %s)", loader_tc_mode_name(l->tc_mode),
			 l->tc_mode == LOADER_TC_TCX ? "BPF links" :
			 "clsact qdisc, cls_bpf in direct-action mode", why);
	}

	snprintf(links, sizeof(links), "%s/%s", bpffs, TR_LINK_DIR);
	err = mkdir_p(links);
	if (err) {
		log_error("cannot create %s: %s", links, strerror(-err));
		return err;
	}
	/* connection metrics: sockops on the same cgroup */
	l->sockops = tr_sockops__open_opts(&opts);
	if (!l->sockops) {
		err = -errno;
		log_error("cannot open the sockops BPF object: %s", strerror(-err));
		return err;
	}
	l->sockops->rodata->l4_metrics = lopts ? lopts->l4_metrics : true;
	err = tr_sockops__load(l->sockops);
	if (err) {
		log_error("cannot load the sockops BPF program: %s (run with -v for the verifier log)",
			  strerror(-err));
		return err;
	}
	l->l4_stat_fd = bpf_map__fd(l->sockops->maps.tr_l4_stat);
	/* slots of tr_l4_ends outlive the program: a generation of its own
	 * keeps a slot an older program filled from being taken as current */
	{
		__u32 gen = 0;

		if (getrandom(&gen, sizeof(gen), 0) != sizeof(gen))
			gen = (__u32)time(NULL) ^ ((__u32)getpid() << 16);
		l->sockops->bss->ends_gen = gen ? gen : 1;
	}

	/* redirection: switch first, then the sk_msg program on the sockhash,
	 * before sockops can put a socket there */
	err = redir_start(l, lopts);
	if (err)
		return err;

	bpf_object__for_each_program(prog, l->skel->obj) {
		err = attach_one(l, prog);
		if (err)
			return err;
	}
	if (!lopts || lopts->l4_metrics || lopts->tunnels || lopts->redirect != TR_REDIR_OFF) {
		err = attach_one(l, l->sockops->progs.tr_sockops);
		if (err)
			return err;
	} else {
		/* no counting, no tunnels, no redirection: no sockops program
		 * at all, since the kernel calls it several times per
		 * connection even to return */
		char path[4096];
		int fd;

		snprintf(path, sizeof(path), "%s/%s/%s", bpffs, TR_LINK_DIR,
			 bpf_program__name(l->sockops->progs.tr_sockops));
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			bpf_link_detach(fd);
			close(fd);
			unlink(path);
			log_info("L4 metrics, mTLS and redirection off: sockops detached");
		}
	}
	unpin_former(bpffs); /* with or without --uplink */
	log_info("programs ready on cgroup %s: %d attached, %d replaced in place",
		 cgroup, l->n_attached, l->n_replaced);
	return 0;
}
void loader_ends_changed(struct tr_loader *l)
{
	/* the program reads it before its lookups (bpf/lib/ends.h) */
	if (l->sockops && l->sockops->bss)
		__atomic_fetch_add(&l->sockops->bss->ends_gen, 1, __ATOMIC_SEQ_CST);
}

void loader_close(struct tr_loader *l)
{
	if (l->xdp)
		tr_xdp__destroy(l->xdp);
	free(l->rnat_ifindexes);
	if (l->sockops)
		tr_sockops__destroy(l->sockops);
	if (l->redir)
		tr_redir__destroy(l->redir);
	if (l->tc)
		tr_tc__destroy(l->tc);
	free(l->tc_ifindexes);
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
	int err = 0, n_links = 0, n_maps = 0, n_filters = 0;

	(void)cgroup; /* links know their cgroup; kept for symmetry and logs */
	snprintf(path, sizeof(path), "%s/%s", bpffs, TR_LINK_DIR);
	dir = opendir(path);
	if (dir) {
		while ((de = readdir(dir))) {
			char lpath[4096 + 256];
			int fd;

			if (de->d_name[0] == '.')
				continue;
			if (clsact_pin_kind(de->d_name)) {
				/* a tc filter (clsact mode), in its own netns */
				if (clsact_remove(path, de->d_name))
					err = -EIO;
				else
					n_filters++;
				continue;
			}
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
	unpin_former(bpffs);
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
	log_info("cleanup of %s%s%s: %d links detached, %d tc filters removed, %d maps unpinned",
		 bpffs, cgroup ? " on cgroup " : "", cgroup ? cgroup : "", n_links, n_filters,
		 n_maps);
	return err;
}
