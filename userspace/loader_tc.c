// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tc on workload devices: choosing the attach mode (tcx or clsact), tcx
 * links, and loader_tc_sync() keeping the programs on exactly the listed
 * devices. The clsact mode's filters are in loader_clsact.c.
 */
#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "loader_int.h"
#include "log.h"
#include "tc.skel.h"

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
enum loader_tc_mode tc_mode_choose(const struct loader_opts *lopts, int prog_fd,
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

/* Both directions of one device; logs success too. */
static int tc_attach_dev(struct tr_loader *l, uint32_t ifindex)
{
	int err;

	if (l->tc_mode == LOADER_TC_CLSACT) {
		err = clsact_attach(l, &clsact_policy, bpf_program__fd(tc_prog(l, true)), ifindex,
				    true);
		if (!err)
			err = clsact_attach(l, &clsact_policy, bpf_program__fd(tc_prog(l, false)),
					    ifindex, false);
	} else {
		err = tcx_attach(l, ifindex, true);
		if (!err)
			err = tcx_attach(l, ifindex, false);
	}
	if (!err)
		log_info("tc programs on ifindex %u (%s)", ifindex, loader_tc_mode_name(l->tc_mode));
	return err;
}

static bool tc_in_place(const struct tr_loader *l, uint32_t ifindex)
{
	return listed(l->tc_ifindexes, l->n_tc, ifindex);
}

/* The policy programs: detached from devices that no longer host a local
 * workload, and from wherever a previous agent attached them the other way. */
static const struct dev_sync tc_policy_sync = {
	.link_prefix = TCX_PIN_PREFIX,
	.link_what = "tc program",
	.clsact = &clsact_policy,
	.clsact_what = "tc filter",
	.in_place = tc_in_place,
	.attach = tc_attach_dev,
};

int loader_tc_sync(struct tr_loader *l, const uint32_t *ifindexes, size_t n)
{
	return loader_sync_devs(l, &tc_policy_sync, ifindexes, n, &l->tc_ifindexes, &l->n_tc);
}
