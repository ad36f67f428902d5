// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/redir.h>
#include <trestle/xdp.h>

#include "abi_fmt.h"
#include "log.h"
#include "pins.h"
#include "sock.skel.h"
#include "tc.skel.h"
#include "sockops.skel.h"
#include "redir.skel.h"
#include "xdp.skel.h"

/* libbpf 1.1's headers predate tcx (Linux 6.6); the kernel ABI values: */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#define BPF_TCX_EGRESS 47
#endif

/* ENOTSUPP, the kernel-internal "not supported" some BPF paths return */
#define ENOTSUP_KERNEL 524

/* tcx: insert at the front of the chain (Linux 6.6 uapi) */
#ifndef BPF_F_BEFORE
#define BPF_F_BEFORE (1U << 3)
#endif
#ifndef BPF_XDP
#define BPF_XDP 37
#endif

#define TCX_PIN_PREFIX "tcx_"
#define XDP_PIN_PREFIX "xdp_"
#define RNAT_PIN_PREFIX "xrnat_"
#define PASS_PIN_PREFIX "xpass_"
#define CLSACT_PIN_PREFIX "tc_"
#define RNAT_CLSACT_PIN_PREFIX "tcrnat_"

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

const char *loader_tc_mode_name(enum loader_tc_mode mode)
{
	switch (mode) {
	case LOADER_TC_TCX:
		return "tcx";
	case LOADER_TC_CLSACT:
		return "clsact";
	default:
		return "auto";
	}
}

/*
 * Does the kernel have tcx? A tcx link on ifindex 0 attaches nothing: a
 * kernel with tcx refuses the device (ENODEV), one without refuses the
 * attach type (EINVAL; Linux 6.1 among them).
 */
static enum loader_tc_mode tc_probe(int prog_fd)
{
	int fd = bpf_link_create(prog_fd, 0, BPF_TCX_INGRESS, NULL);
	int err = fd < 0 ? errno : 0;

	if (fd >= 0)
		close(fd);
	if (!err || err == ENODEV || err == ENXIO)
		return LOADER_TC_TCX;
	if (err != EINVAL && err != EOPNOTSUPP && err != ENOTSUP_KERNEL)
		log_warn("tcx probe: unexpected %s; using clsact", strerror(err));
	return LOADER_TC_CLSACT;
}

/* The mode, and (why) the reason for the log line. */
static enum loader_tc_mode tc_mode_choose(const struct loader_opts *lopts, int prog_fd,
					  const char **why)
{
	const char *env = getenv("TRESTLE_TC_MODE");
	enum loader_tc_mode mode;

	*why = "as asked";
	if (lopts && lopts->tc_mode != LOADER_TC_AUTO)
		return lopts->tc_mode;
	*why = "TRESTLE_TC_MODE";
	if (env && !strcmp(env, "tcx"))
		return LOADER_TC_TCX;
	if (env && !strcmp(env, "clsact"))
		return LOADER_TC_CLSACT;
	if (env && *env && strcmp(env, "auto"))
		log_warn("TRESTLE_TC_MODE=%s: want tcx, clsact or auto; probing", env);
	mode = tc_probe(prog_fd);
	*why = mode == LOADER_TC_TCX ? "the kernel has tcx" : "the kernel has no tcx";
	return mode;
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
	l->xfds = (struct xdp_fds){ -1, -1, -1, -1, -1 };
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
	log_info("programs ready on cgroup %s: %d attached, %d replaced in place",
		 cgroup, l->n_attached, l->n_replaced);
	return 0;
}

/* ---- tc on workload devices ------------------------------------------ */

static struct bpf_program *tc_prog(const struct tr_loader *l, bool egress)
{
	return egress ? l->tc->progs.tr_tc_to_wl : l->tc->progs.tr_tc_from_wl;
}

static void tcx_pin_path(const struct tr_loader *l, uint32_t ifindex, bool egress,
			 char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/" TCX_PIN_PREFIX "%u_%s", l->bpffs, TR_LINK_DIR,
		 ifindex, egress ? "egress" : "ingress");
}

/* Attach (or take over the pinned link of) one direction of one device. */
static int tcx_attach(struct tr_loader *l, uint32_t ifindex, bool egress)
{
	int prog_fd = bpf_program__fd(tc_prog(l, egress));
	char path[4096];
	int fd, err;

	tcx_pin_path(l, ifindex, egress, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		/* a previous agent's link: swap our program in, in place */
		err = bpf_link_update(fd, prog_fd, NULL);
		close(fd);
		if (!err)
			return 0;
		/* the device it was on is gone (ifindex reused): start over */
		unlink(path);
	}
	fd = bpf_link_create(prog_fd, (int)ifindex,
			     egress ? BPF_TCX_EGRESS : BPF_TCX_INGRESS, NULL);
	if (fd < 0) {
		err = -errno;
		if (err == -EINVAL)
			log_error("cannot attach tc to ifindex %u: %s (hint: tcx needs Linux 6.6 or later; TRESTLE_TC_MODE=clsact)",
				  ifindex, strerror(-err));
		else
			log_error("cannot attach tc to ifindex %u: %s", ifindex, strerror(-err));
		return err;
	}
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		log_error("cannot pin %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	close(fd);
	return 0;
}

/* -- clsact: classic tc, cls_bpf in direct-action mode -- */

/*
 * Our filters on the clsact hooks, each at a fixed handle and priority, so
 * a restart finds and replaces exactly it and nothing else. cls_bpf runs
 * the lower priority first and goes on to the next filter only when a
 * direct-action program returns TC_ACT_UNSPEC (as tcx on TCX_NEXT): the
 * reply translation (tr_xdp_rnat, uplink load balancer) takes priority 1 on
 * ingress, ahead of the policy filters at 2. Agents before it had the
 * policy filters at 1 (CLSACT_PRIO_OLD): a start puts the new filter in
 * place at 2, then removes the old one, so packets always meet one.
 */
#define CLSACT_HANDLE 0x7472u /* "tr" */
#define CLSACT_PRIO 2u
#define CLSACT_PRIO_OLD 1u
#define RNAT_HANDLE 0x7278u /* "rx" */
#define RNAT_PRIO 1u

/* One kind of filter of ours: its marker pins' prefix, handle, priority,
 * the priority older agents used for it (0: none), the program names. */
struct clsact_kind {
	const char *prefix;
	uint32_t handle;
	uint32_t prio;
	uint32_t prio_old;
	const char *prog_name[2]; /* ingress, egress */
};

static const struct clsact_kind clsact_policy = {
	CLSACT_PIN_PREFIX, CLSACT_HANDLE, CLSACT_PRIO, CLSACT_PRIO_OLD,
	{ "tr_tc_from_wl", "tr_tc_to_wl" },
};
static const struct clsact_kind clsact_rnat = {
	RNAT_CLSACT_PIN_PREFIX, RNAT_HANDLE, RNAT_PRIO, 0,
	{ "tr_xdp_rnat", "tr_xdp_rnat" },
};

/* The network namespace (nsfs inode) this thread is in; 0 if unknown. */
static unsigned long long netns_self(void)
{
	struct stat st;

	return stat("/proc/thread-self/ns/net", &st) ? 0 : (unsigned long long)st.st_ino;
}

/*
 * Move this thread into the network namespace with nsfs inode 'ino', found
 * through /run/netns or a process living in it. *back gets an fd to return
 * with (or -1 when already there). Returns 0, or -ENOENT when no such
 * namespace exists any more.
 */
static int netns_enter(unsigned long long ino, int *back)
{
	static const char *const dirs[] = { "/run/netns", "/proc" };
	char path[512];
	struct dirent *de;
	struct stat st;
	int fd = -1, err;

	*back = -1;
	if (netns_self() == ino)
		return 0;
	for (size_t i = 0; i < 2 && fd < 0; i++) {
		DIR *d = opendir(dirs[i]);

		while (d && fd < 0 && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			if (i == 0)
				snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
			else if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
				snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
			else
				continue;
			if (!stat(path, &st) && (unsigned long long)st.st_ino == ino)
				fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		if (d)
			closedir(d);
	}
	if (fd < 0)
		return -ENOENT;
	*back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*back < 0 || setns(fd, CLONE_NEWNET)) {
		err = -errno;
		close(fd);
		if (*back >= 0)
			close(*back);
		*back = -1;
		return err;
	}
	close(fd);
	return 0;
}

static void netns_leave(int back)
{
	if (back < 0)
		return;
	if (setns(back, CLONE_NEWNET))
		log_error("cannot return to the agent's network namespace: %s", strerror(errno));
	close(back);
}

/* What an RTM_GETTFILTER / RTM_GETQDISC dump found on one device. */
struct tc_scan {
	uint32_t ifindex;
	uint32_t handle;  /* the filter looked for (tc_scan's arguments) */
	uint32_t prio;
	int filters;      /* filters on the hook */
	uint32_t prog_id; /* of the filter at (handle, prio); 0 = none */
	bool clsact;      /* the device has a clsact qdisc */
};

static int tc_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, TCA_MAX) > 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int tc_bpf_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, TCA_BPF_MAX) > 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int tc_filter_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct tcmsg *t = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[TCA_MAX + 1] = {}, *bb[TCA_BPF_MAX + 1] = {};
	struct tc_scan *sc = data;

	if (nlh->nlmsg_type != RTM_NEWTFILTER || t->tcm_ifindex != (int)sc->ifindex ||
	    !t->tcm_handle)
		return MNL_CB_OK; /* handle 0: the priority's header, not a filter */
	sc->filters++;
	mnl_attr_parse(nlh, sizeof(*t), tc_attr_cb, tb);
	if (t->tcm_handle != sc->handle || TC_H_MAJ(t->tcm_info) >> 16 != sc->prio ||
	    !tb[TCA_KIND] || strcmp(mnl_attr_get_str(tb[TCA_KIND]), "bpf") || !tb[TCA_OPTIONS])
		return MNL_CB_OK;
	mnl_attr_parse_nested(tb[TCA_OPTIONS], tc_bpf_attr_cb, bb);
	if (bb[TCA_BPF_ID])
		sc->prog_id = mnl_attr_get_u32(bb[TCA_BPF_ID]);
	return MNL_CB_OK;
}

static int tc_qdisc_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct tcmsg *t = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[TCA_MAX + 1] = {};
	struct tc_scan *sc = data;

	if (nlh->nlmsg_type != RTM_NEWQDISC || t->tcm_ifindex != (int)sc->ifindex)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*t), tc_attr_cb, tb);
	if (tb[TCA_KIND] && !strcmp(mnl_attr_get_str(tb[TCA_KIND]), "clsact"))
		sc->clsact = true;
	return MNL_CB_OK;
}

/*
 * Dump the filters of one clsact hook (egress or ingress) of a device, with
 * the program of the filter at (handle, prio), or (qdisc) the qdiscs, into
 * *sc. Our own netlink socket rather than bpf_tc_query(): libbpf logs the
 * kernel's "not found" as a warning, and "not there" is a normal answer
 * here. Returns 0 or -errno.
 */
static int tc_scan(uint32_t ifindex, bool qdisc, bool egress, uint32_t handle, uint32_t prio,
		   struct tc_scan *sc)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct tcmsg *t;
	unsigned int seq = 1, portid;
	ssize_t len;
	int ret, err = 0;

	memset(sc, 0, sizeof(*sc));
	sc->ifindex = ifindex;
	sc->handle = handle;
	sc->prio = prio;
	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID)) {
		err = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = qdisc ? RTM_GETQDISC : RTM_GETTFILTER;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = (int)ifindex;
	if (!qdisc)
		t->tcm_parent = TC_H_MAKE(TC_H_CLSACT,
					  egress ? TC_H_MIN_EGRESS : TC_H_MIN_INGRESS);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len < 0) {
			err = -errno;
			break;
		}
		ret = mnl_cb_run(buf, (size_t)len, seq, portid,
				 qdisc ? tc_qdisc_cb : tc_filter_cb, sc);
		if (ret <= MNL_CB_STOP) {
			if (ret < 0)
				err = -errno;
			break;
		}
	}
out:
	mnl_socket_close(nl);
	return err;
}

/* links/<prefix><ifindex>_<direction>_ns<netns inode>: tc_ for the policy
 * filters, tcrnat_ for the reply translation */
static void clsact_pin_path(const struct tr_loader *l, const struct clsact_kind *kind,
			    uint32_t ifindex, bool egress, unsigned long long netns, char *buf,
			    size_t len)
{
	snprintf(buf, len, "%s/%s/%s%u_%s_ns%llu", l->bpffs, TR_LINK_DIR, kind->prefix, ifindex,
		 egress ? "egress" : "ingress", netns);
}

/* The kind of filter a marker pin's name stands for; NULL: no marker. */
static const struct clsact_kind *clsact_pin_kind(const char *name)
{
	if (!strncmp(name, CLSACT_PIN_PREFIX, strlen(CLSACT_PIN_PREFIX)))
		return &clsact_policy;
	if (!strncmp(name, RNAT_CLSACT_PIN_PREFIX, strlen(RNAT_CLSACT_PIN_PREFIX)))
		return &clsact_rnat;
	return NULL;
}

static bool clsact_pin_parse(const char *name, uint32_t *ifindex, bool *egress,
			     unsigned long long *netns)
{
	const struct clsact_kind *kind = clsact_pin_kind(name);
	char dir[8];
	int n = 0;

	if (!kind)
		return false;
	name += strlen(kind->prefix);
	if (sscanf(name, "%u_%7[a-z]_ns%llu%n", ifindex, dir, netns, &n) != 3 ||
	    name[n] || (strcmp(dir, "egress") && strcmp(dir, "ingress")))
		return false;
	*egress = !strcmp(dir, "egress");
	return true;
}

/* The id of the program pinned at path (0 if none). */
static uint32_t pinned_prog_id(const char *path)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);
	uint32_t id = 0;

	if (fd < 0)
		return 0;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		id = info.id;
	close(fd);
	return id;
}

/* Is program 'id' the program of ours called 'name'? */
static bool prog_is_ours(uint32_t id, const char *name)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	bool ours = false;
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return false;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		/* names are cut to 15 characters */
		ours = !strncmp(info.name, name, sizeof(info.name) - 1);
	close(fd);
	return ours;
}

/*
 * Remove the filter of this kind at priority prio from one hook of a device
 * (in this network namespace) when it runs program 'pinned' or the program
 * of ours by that name; what: for the log. 1 removed, 0 none of ours there
 * (none at all, no device, no qdisc), or -errno.
 */
static int clsact_detach_ours(uint32_t ifindex, bool egress, const struct clsact_kind *kind,
			      uint32_t prio, uint32_t pinned, const char *what)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kind->handle, .priority = prio);
	struct tc_scan sc;
	int err = tc_scan(ifindex, false, egress, kind->handle, prio, &sc);

	if (err || !sc.prog_id)
		return 0;
	if (sc.prog_id != pinned && !prog_is_ours(sc.prog_id, kind->prog_name[egress])) {
		log_warn("%s: the filter at handle %#x priority %u runs program %u, not ours; left in place",
			 what, kind->handle, prio, sc.prog_id);
		return 0;
	}
	err = bpf_tc_detach(&hook, &opts);
	if (err && err != -ENOENT) {
		log_warn("cannot detach tc from ifindex %u %s (handle %#x priority %u): %s",
			 ifindex, egress ? "egress" : "ingress", kind->handle, prio,
			 strerror(-err));
		return err;
	}
	return 1;
}

/*
 * Attach (or replace in place) one filter of ours on one direction of one
 * device: the clsact qdisc if missing, then the filter with
 * BPF_TC_F_REPLACE, which the kernel swaps atomically when it exists; then
 * an older agent's filter at the kind's old priority goes (ours runs by
 * now). Last, the program is pinned as the marker.
 */
static int clsact_attach(struct tr_loader *l, const struct clsact_kind *kind, int prog_fd,
			 uint32_t ifindex, bool egress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kind->handle, .priority = kind->prio,
		    .flags = BPF_TC_F_REPLACE, .prog_fd = prog_fd);
	unsigned long long netns = netns_self();
	char path[4096], tmp[4096 + 8];
	struct tc_scan sc;
	int err;

	err = tc_scan(ifindex, true, egress, 0, 0, &sc);
	if (err) {
		log_error("cannot list the qdiscs of ifindex %u: %s", ifindex, strerror(-err));
		return err;
	}
	if (!sc.clsact) {
		err = bpf_tc_hook_create(&hook);
		if (err && err != -EEXIST) {
			log_error("cannot add a clsact qdisc to ifindex %u: %s", ifindex,
				  strerror(-err));
			return err;
		}
	}
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		log_error("cannot attach %s (cls_bpf) to ifindex %u %s: %s",
			  kind->prog_name[egress], ifindex, egress ? "egress" : "ingress",
			  strerror(-err));
		return err;
	}
	clsact_pin_path(l, kind, ifindex, egress, netns, path, sizeof(path));
	if (kind->prio_old &&
	    clsact_detach_ours(ifindex, egress, kind, kind->prio_old, pinned_prog_id(path),
			       path + strlen(l->bpffs) + strlen(TR_LINK_DIR) + 2) > 0)
		log_info("ifindex %u %s: %s moved from priority %u to %u", ifindex,
			 egress ? "egress" : "ingress", kind->prog_name[egress], kind->prio_old,
			 kind->prio);
	/* the marker: a new pin renamed over the old one, never a moment
	 * without (cleanup relies on it) */
	snprintf(tmp, sizeof(tmp), "%s_new", path); /* bpffs forbids '.' in names */
	unlink(tmp);
	if (bpf_obj_pin(opts.prog_fd, tmp) || rename(tmp, path)) {
		err = -errno;
		log_error("cannot pin %s: %s", path, strerror(-err));
		unlink(tmp);
		return err;
	}
	return 0;
}

/*
 * Remove the filter a marker (tc_* or tcrnat_*) stands for, in the network
 * namespace it was attached in, then the marker. Only our filter (the
 * kind's handle and priority, or the priority older agents used for it,
 * running the pinned program or ours by name) is removed; the clsact qdisc
 * goes too once neither of its hooks holds a filter. A namespace or device
 * that is gone took the filter with it.
 */
static int clsact_remove(const char *dir, const char *name)
{
	const struct clsact_kind *kind = clsact_pin_kind(name);
	unsigned long long netns;
	uint32_t ifindex, pinned;
	struct tc_scan sc, other;
	char path[4096 + 256];
	int back = -1, removed = 0, err = 0;
	bool egress;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!clsact_pin_parse(name, &ifindex, &egress, &netns)) {
		unlink(path); /* a stale "_new" */
		return 0;
	}
	err = netns_enter(netns, &back);
	if (err) {
		log_debug("%s: network namespace %llu is gone, and its filters with it",
			  name, netns);
		err = 0;
		goto out;
	}
	pinned = pinned_prog_id(path);
	for (int i = 0; i < 2; i++) {
		uint32_t prio = i ? kind->prio_old : kind->prio;
		int r;

		if (!prio)
			continue;
		r = clsact_detach_ours(ifindex, egress, kind, prio, pinned, name);
		if (r < 0) {
			err = r;
			goto leave;
		}
		removed += r;
	}
	if (removed && !tc_scan(ifindex, false, egress, 0, 0, &sc) && !sc.filters &&
	    !tc_scan(ifindex, false, !egress, 0, 0, &other) && !other.filters) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		bpf_tc_hook_destroy(&hook); /* the now empty clsact qdisc */
	}
leave:
	netns_leave(back);
out:
	unlink(path);
	return err;
}

static bool listed(const uint32_t *v, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static int tc_attach_dev(struct tr_loader *l, uint32_t ifindex)
{
	int err;

	if (l->tc_mode == LOADER_TC_CLSACT) {
		err = clsact_attach(l, &clsact_policy, bpf_program__fd(tc_prog(l, true)), ifindex,
				    true);
		if (!err)
			err = clsact_attach(l, &clsact_policy, bpf_program__fd(tc_prog(l, false)),
					    ifindex, false);
		return err;
	}
	err = tcx_attach(l, ifindex, true);
	if (!err)
		err = tcx_attach(l, ifindex, false);
	return err;
}

int loader_tc_sync(struct tr_loader *l, const uint32_t *ifindexes, size_t n)
{
	unsigned long long here = netns_self();
	char dirpath[4096];
	struct dirent *de;
	uint32_t *have;
	size_t n_have = 0;
	int first_err = 0;
	DIR *dir;

	have = calloc(n + 1, sizeof(*have));
	if (!have)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int err;

		if (listed(have, n_have, ifindexes[i]))
			continue;
		if (listed(l->tc_ifindexes, l->n_tc, ifindexes[i])) {
			have[n_have++] = ifindexes[i];
			continue;
		}
		err = tc_attach_dev(l, ifindexes[i]);
		if (err) {
			first_err = first_err ? first_err : err;
			continue;
		}
		log_info("tc programs on ifindex %u (%s)", ifindexes[i],
			 loader_tc_mode_name(l->tc_mode));
		have[n_have++] = ifindexes[i];
	}

	/*
	 * Detach from devices that no longer host a local workload, and
	 * whatever a previous agent attached the other way (the new way is
	 * in place by now, so nothing runs a moment unchecked).
	 */
	snprintf(dirpath, sizeof(dirpath), "%s/%s", l->bpffs, TR_LINK_DIR);
	dir = opendir(dirpath);
	while (dir && (de = readdir(dir))) {
		char path[4096 + 256];
		unsigned long long netns;
		unsigned int ifindex;
		bool egress;
		int fd;

		if (!strncmp(de->d_name, CLSACT_PIN_PREFIX, strlen(CLSACT_PIN_PREFIX))) {
			if (clsact_pin_parse(de->d_name, &ifindex, &egress, &netns) &&
			    l->tc_mode == LOADER_TC_CLSACT && netns == here &&
			    listed(have, n_have, ifindex))
				continue;
			clsact_remove(dirpath, de->d_name);
			log_info("tc filter removed (%s)", de->d_name);
			continue;
		}
		if (strncmp(de->d_name, TCX_PIN_PREFIX, strlen(TCX_PIN_PREFIX)) ||
		    sscanf(de->d_name + strlen(TCX_PIN_PREFIX), "%u_", &ifindex) != 1 ||
		    (l->tc_mode == LOADER_TC_TCX && listed(have, n_have, ifindex)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			bpf_link_detach(fd);
			close(fd);
		}
		unlink(path);
		log_info("tc program removed from ifindex %u (%s)", ifindex, de->d_name);
	}
	if (dir)
		closedir(dir);
	free(l->tc_ifindexes);
	l->tc_ifindexes = have;
	l->n_tc = n_have;
	return first_err;
}

/* ---- the uplink load balancer ------------------------------------------ */

int loader_xdp_start(struct tr_loader *l, uint32_t flows)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = l->bpffs);
	int err;

	l->xdp = tr_xdp__open_opts(&opts);
	if (!l->xdp) {
		err = -errno;
		log_error("cannot open the XDP BPF object: %s", strerror(-err));
		return err;
	}
	if (flows) {
		struct bpf_map *lru[] = { l->xdp->maps.tr_xdp4_ct, l->xdp->maps.tr_xdp6_ct,
					  l->xdp->maps.tr_xdp4_rnat, l->xdp->maps.tr_xdp6_rnat };

		for (size_t i = 0; i < sizeof(lru) / sizeof(lru[0]); i++)
			bpf_map__set_max_entries(lru[i], flows);
	}
	err = tr_xdp__load(l->xdp);
	if (err) {
		log_error("cannot load the XDP programs: %s (hint: pinned XDP maps of another size? --xdp-flows must match, or trestled --cleanup; run with -v for the verifier log)",
			  strerror(-err));
		return err;
	}
	l->xfds.cfg = bpf_map__fd(l->xdp->maps.tr_xdp_cfg);
	l->xfds.vip4 = bpf_map__fd(l->xdp->maps.tr_xdp4_vip);
	l->xfds.vip6 = bpf_map__fd(l->xdp->maps.tr_xdp6_vip);
	l->xfds.ring = bpf_map__fd(l->xdp->maps.tr_xdp_ring);
	l->xfds.be = bpf_map__fd(l->xdp->maps.tr_xdp_be);
	l->pfds.xdp4_deny = bpf_map__fd(l->xdp->maps.tr_xdp4_deny);
	l->pfds.xdp6_deny = bpf_map__fd(l->xdp->maps.tr_xdp6_deny);
	log_info("uplink load balancer loaded (%u flows per family in its connection tables)",
		 bpf_map__max_entries(l->xdp->maps.tr_xdp4_ct));
	return 0;
}

static void link_pin_path(const struct tr_loader *l, const char *prefix, uint32_t ifindex,
			  char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/%s%u", l->bpffs, TR_LINK_DIR, prefix, ifindex);
}

/* Take over the pinned link at path (swap prog in), 0; or -ENOENT. */
static int link_take_over(const char *path, int prog_fd)
{
	int fd = bpf_obj_get(path), err;

	if (fd < 0)
		return -ENOENT;
	err = bpf_link_update(fd, prog_fd, NULL) ? -errno : 0;
	close(fd);
	if (err) {
		/* its device is gone (the ifindex was reused): start over */
		unlink(path);
		return -ENOENT;
	}
	return 0;
}

static int link_create_pin(int prog_fd, uint32_t ifindex, enum bpf_attach_type type,
			   uint32_t flags, const char *path)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = flags);
	int fd = bpf_link_create(prog_fd, (int)ifindex, type, &lo), err;

	if (fd < 0)
		return -errno;
	err = bpf_obj_pin(fd, path) ? -errno : 0;
	if (err)
		bpf_link_detach(fd);
	close(fd);
	return err;
}

int loader_xdp_attach(struct tr_loader *l, const char *name, struct loader_uplink *out)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int prog_fd = bpf_program__fd(l->xdp->progs.tr_xdp_lb);
	uint32_t ifindex = if_nametoindex(name);
	char path[4096];
	int err;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	if (!ifindex) {
		log_error("--uplink %s: no such device in this network namespace", name);
		return -ENODEV;
	}
	out->ifindex = ifindex;
	link_pin_path(l, XDP_PIN_PREFIX, ifindex, path, sizeof(path));
	err = link_take_over(path, prog_fd);
	if (err) {
		err = link_create_pin(prog_fd, ifindex, BPF_XDP, XDP_FLAGS_DRV_MODE, path);
		if (err == -EOPNOTSUPP || err == -EINVAL || err == -ENOTSUP_KERNEL) {
			log_info("%s: the driver has no native XDP (%s); using generic mode",
				 name, strerror(-err));
			err = link_create_pin(prog_fd, ifindex, BPF_XDP, XDP_FLAGS_SKB_MODE, path);
		}
		if (err) {
			log_error("cannot attach XDP to %s: %s%s", name, strerror(-err),
				  err == -EBUSY || err == -EEXIST ?
				  " (hint: another XDP program is attached there; ip link set dev DEV xdp off)" : "");
			return err;
		}
	}
	out->mode = "generic";
	if (!bpf_xdp_query((int)ifindex, 0, &q) && q.attach_mode == XDP_ATTACHED_DRV)
		out->mode = "native";
	log_info("uplink %s (ifindex %u): XDP load balancer in %s mode", name, ifindex,
		 out->mode);
	return 0;
}

int loader_xdp_pass_peer(struct tr_loader *l, uint32_t uplink, uint32_t peer, int nsfd)
{
	int prog_fd = bpf_program__fd(l->xdp->progs.tr_xdp_pass);
	char path[4096];
	int back = -1, err;

	link_pin_path(l, PASS_PIN_PREFIX, uplink, path, sizeof(path));
	if (!link_take_over(path, prog_fd))
		return 0;
	if (nsfd >= 0) {
		back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (back < 0 || setns(nsfd, CLONE_NEWNET)) {
			err = -errno;
			if (back >= 0)
				close(back);
			log_error("cannot enter the network namespace of ifindex %u's peer: %s",
				  uplink, strerror(-err));
			return err;
		}
	}
	err = link_create_pin(prog_fd, peer, BPF_XDP, XDP_FLAGS_DRV_MODE, path);
	if (back >= 0) {
		if (setns(back, CLONE_NEWNET))
			log_error("cannot return to the agent's network namespace: %s",
				  strerror(errno));
		close(back);
	}
	if (err)
		log_error("cannot attach tr_xdp_pass to the veth peer of ifindex %u: %s", uplink,
			  strerror(-err));
	return err;
}

void loader_xdp_prune(struct tr_loader *l, const uint32_t *keep, size_t n)
{
	char dirpath[4096], path[4096 + 256];
	struct dirent *de;
	unsigned int ifindex;
	DIR *dir;

	snprintf(dirpath, sizeof(dirpath), "%s/%s", l->bpffs, TR_LINK_DIR);
	dir = opendir(dirpath);
	while (dir && (de = readdir(dir))) {
		int fd;

		if (!strncmp(de->d_name, XDP_PIN_PREFIX, strlen(XDP_PIN_PREFIX))) {
			if (sscanf(de->d_name + strlen(XDP_PIN_PREFIX), "%u", &ifindex) != 1 ||
			    listed(keep, n, ifindex))
				continue;
		} else if (!strncmp(de->d_name, PASS_PIN_PREFIX, strlen(PASS_PIN_PREFIX))) {
			if (sscanf(de->d_name + strlen(PASS_PIN_PREFIX), "%u", &ifindex) != 1 ||
			    listed(keep, n, ifindex))
				continue;
		} else if (!keep && !strncmp(de->d_name, RNAT_PIN_PREFIX, strlen(RNAT_PIN_PREFIX))) {
			/* no uplink at all: no reply translation either */
			if (sscanf(de->d_name + strlen(RNAT_PIN_PREFIX), "%u", &ifindex) != 1)
				continue;
		} else if (!keep && clsact_pin_kind(de->d_name) == &clsact_rnat) {
			clsact_remove(dirpath, de->d_name);
			log_info("%s removed (no uplink)", de->d_name);
			continue;
		} else {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			bpf_link_detach(fd);
			close(fd);
		}
		unlink(path);
		log_info("%s removed (ifindex %u is no longer an uplink)", de->d_name, ifindex);
	}
	if (dir)
		closedir(dir);
}

/* tr_xdp_rnat on one device's ingress, first: a tcx link (pinned
 * links/xrnat_<ifindex>) or a cls_bpf filter ahead of the policy filter
 * (marker links/tcrnat_<ifindex>_ingress_ns<inode>). */
static int rnat_attach(struct tr_loader *l, uint32_t ifindex)
{
	int prog_fd = bpf_program__fd(l->xdp->progs.tr_xdp_rnat), err;
	char path[4096];

	if (l->tc_mode == LOADER_TC_CLSACT)
		return clsact_attach(l, &clsact_rnat, prog_fd, ifindex, false);
	link_pin_path(l, RNAT_PIN_PREFIX, ifindex, path, sizeof(path));
	err = link_take_over(path, prog_fd);
	if (err)
		err = link_create_pin(prog_fd, ifindex, BPF_TCX_INGRESS, BPF_F_BEFORE, path);
	if (err)
		log_error("cannot attach tr_xdp_rnat to ifindex %u: %s", ifindex, strerror(-err));
	return err;
}

static bool rnat_attached(const struct tr_loader *l, uint32_t ifindex)
{
	char path[4096];

	if (!listed(l->rnat_ifindexes, l->n_rnat, ifindex))
		return false;
	if (l->tc_mode == LOADER_TC_CLSACT)
		clsact_pin_path(l, &clsact_rnat, ifindex, false, netns_self(), path, sizeof(path));
	else
		link_pin_path(l, RNAT_PIN_PREFIX, ifindex, path, sizeof(path));
	return !access(path, F_OK);
}

int loader_xdp_rnat_sync(struct tr_loader *l, const uint32_t *ifindexes, size_t n)
{
	unsigned long long here = netns_self();
	bool clsact = l->tc_mode == LOADER_TC_CLSACT;
	int first_err = 0;
	char dirpath[4096];
	struct dirent *de;
	uint32_t *have;
	size_t n_have = 0;
	DIR *dir;

	if (!l->xdp)
		return 0;
	have = calloc(n + 1, sizeof(*have));
	if (!have)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int err;

		if (listed(have, n_have, ifindexes[i]))
			continue;
		if (rnat_attached(l, ifindexes[i])) {
			have[n_have++] = ifindexes[i];
			continue;
		}
		err = rnat_attach(l, ifindexes[i]);
		if (err) {
			first_err = first_err ? first_err : err;
			continue;
		}
		log_info("reply translation (tr_xdp_rnat) on ifindex %u, ahead of the tc programs (%s)",
			 ifindexes[i], clsact ? "cls_bpf priority 1" : "tcx, first");
		have[n_have++] = ifindexes[i];
	}
	/* devices no longer listed, and what a previous agent attached the
	 * other way (the new way is in place by now) */
	snprintf(dirpath, sizeof(dirpath), "%s/%s", l->bpffs, TR_LINK_DIR);
	dir = opendir(dirpath);
	while (dir && (de = readdir(dir))) {
		char path[4096 + 256];
		unsigned long long netns;
		unsigned int ifindex;
		bool egress;
		int fd;

		if (clsact_pin_kind(de->d_name) == &clsact_rnat) {
			if (clsact && clsact_pin_parse(de->d_name, &ifindex, &egress, &netns) &&
			    netns == here && listed(have, n_have, ifindex))
				continue;
			clsact_remove(dirpath, de->d_name);
			log_info("reply translation removed (%s)", de->d_name);
			continue;
		}
		if (strncmp(de->d_name, RNAT_PIN_PREFIX, strlen(RNAT_PIN_PREFIX)) ||
		    sscanf(de->d_name + strlen(RNAT_PIN_PREFIX), "%u", &ifindex) != 1 ||
		    (!clsact && listed(have, n_have, ifindex)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			bpf_link_detach(fd);
			close(fd);
		}
		unlink(path);
		log_info("reply translation removed (%s)", de->d_name);
	}
	if (dir)
		closedir(dir);
	free(l->rnat_ifindexes);
	l->rnat_ifindexes = have;
	l->n_rnat = n_have;
	return first_err;
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
