// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The uplink load balancer's side of the loader: its skeleton on the
 * pinned maps, tr_xdp_lb on the uplinks and tr_xdp_pass on veth peers (as
 * pinned links), pruning uplinks no longer asked for, and the reply
 * translation (tr_xdp_rnat) ahead of the tc programs on backends' devices.
 */
#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/xdp.h>

#include "loader_int.h"
#include "log.h"
#include "xdp.skel.h"

/* Pins an agent of an older ABI made for maps whose layout changed. */
static const char *const former_maps[] = { TR_XDP_FORMER_MAPS };

void loader_xdp_unpin_former(const char *bpffs)
{
	char path[512];

	for (size_t i = 0; i < sizeof(former_maps) / sizeof(former_maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, former_maps[i]);
		if (!unlink(path))
			log_info("removed %s (an older agent's layout; its flows are balanced anew)",
				 path);
	}
}

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
		struct bpf_map *lru[] = { l->xdp->maps.tr_xdp4_conn, l->xdp->maps.tr_xdp6_conn,
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
	l->xfds.be = bpf_map__fd(l->xdp->maps.tr_xdp_backend);
	l->xfds.ports = bpf_map__fd(l->xdp->maps.tr_xdp_ports);
	l->pfds.xdp4_deny = bpf_map__fd(l->xdp->maps.tr_xdp4_deny);
	l->pfds.xdp6_deny = bpf_map__fd(l->xdp->maps.tr_xdp6_deny);
	log_info("uplink load balancer loaded (%u flows per family in its connection tables)",
		 bpf_map__max_entries(l->xdp->maps.tr_xdp4_conn));
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
		link_pin_remove(path);
		log_info("%s removed (ifindex %u is no longer an uplink)", de->d_name, ifindex);
	}
	if (dir)
		closedir(dir);
}

/* tr_xdp_rnat on one device's ingress, first: a tcx link (pinned
 * links/xrnat_<ifindex>) or a cls_bpf filter ahead of the policy filter
 * (marker links/tcrnat_<ifindex>_ingress_ns<inode>). Logs success too. */
static int rnat_attach(struct tr_loader *l, uint32_t ifindex)
{
	int prog_fd = bpf_program__fd(l->xdp->progs.tr_xdp_rnat), err;
	bool clsact = l->tc_mode == LOADER_TC_CLSACT;
	char path[4096];

	if (clsact) {
		err = clsact_attach(l, &clsact_rnat, prog_fd, ifindex, false);
	} else {
		link_pin_path(l, RNAT_PIN_PREFIX, ifindex, path, sizeof(path));
		err = link_take_over(path, prog_fd);
		if (err)
			err = link_create_pin(prog_fd, ifindex, BPF_TCX_INGRESS, BPF_F_BEFORE,
					      path);
		if (err)
			log_error("cannot attach tr_xdp_rnat to ifindex %u: %s", ifindex,
				  strerror(-err));
	}
	if (!err)
		log_info("reply translation (tr_xdp_rnat) on ifindex %u, ahead of the tc programs (%s)",
			 ifindex, clsact ? "cls_bpf priority 1" : "tcx, first");
	return err;
}

/* Listed, and its pin still there (loader_xdp_prune() without uplinks
 * removes it behind the list's back). */
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

static const struct dev_sync rnat_sync = {
	.link_prefix = RNAT_PIN_PREFIX,
	.link_what = "reply translation",
	.clsact = &clsact_rnat,
	.clsact_what = "reply translation",
	.in_place = rnat_attached,
	.attach = rnat_attach,
};

int loader_xdp_rnat_sync(struct tr_loader *l, const uint32_t *ifindexes, size_t n)
{
	if (!l->xdp)
		return 0;
	return loader_sync_devs(l, &rnat_sync, ifindexes, n, &l->rnat_ifindexes, &l->n_rnat);
}
