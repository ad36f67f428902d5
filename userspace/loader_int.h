/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internals of the BPF loader, shared by its files only:
 *   loader.c         skeletons, pins, cgroup programs, close, --cleanup
 *   loader_tc.c      the tc attach mode, tcx links, loader_tc_sync()
 *   loader_clsact.c  clsact mode: cls_bpf filters, their marker pins,
 *                    netlink dumps, network namespaces
 *   loader_xdp.c     the uplink load balancer and its reply translation
 *   loader_sync.c    one kind of program on exactly a list of devices
 */
#ifndef TRESTLE_LOADER_INT_H
#define TRESTLE_LOADER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader.h"

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

/* The names of the pins under links/ (TR_LINK_DIR), by what they hold. */
#define TCX_PIN_PREFIX "tcx_"
#define XDP_PIN_PREFIX "xdp_"
#define RNAT_PIN_PREFIX "xrnat_"
#define PASS_PIN_PREFIX "xpass_"
#define CLSACT_PIN_PREFIX "tc_"
#define RNAT_CLSACT_PIN_PREFIX "tcrnat_"

static inline bool listed(const uint32_t *v, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* ---- loader_tc.c ---- */

/* The mode, and (why) the reason for the log line. */
enum loader_tc_mode tc_mode_choose(const struct loader_opts *lopts, int prog_fd,
				   const char **why);

/* ---- loader_clsact.c ---- */

/* One kind of filter of ours: its marker pins' prefix, handle, priority,
 * the priority older agents used for it (0: none), the program names. */
struct clsact_kind {
	const char *prefix;
	uint32_t handle;
	uint32_t prio;
	uint32_t prio_old;
	const char *prog_name[2]; /* ingress, egress */
};

extern const struct clsact_kind clsact_policy; /* tr_tc_from_wl, tr_tc_to_wl */
extern const struct clsact_kind clsact_rnat;   /* tr_xdp_rnat */

/* The network namespace (nsfs inode) this thread is in; 0 if unknown. */
unsigned long long netns_self(void);

/* links/<prefix><ifindex>_<direction>_ns<netns inode>: tc_ for the policy
 * filters, tcrnat_ for the reply translation */
void clsact_pin_path(const struct tr_loader *l, const struct clsact_kind *kind,
		     uint32_t ifindex, bool egress, unsigned long long netns, char *buf,
		     size_t len);

/* The kind of filter a marker pin's name stands for; NULL: no marker. */
const struct clsact_kind *clsact_pin_kind(const char *name);

/* Parse a marker pin's name; false: not one (or a stale "_new"). */
bool clsact_pin_parse(const char *name, uint32_t *ifindex, bool *egress,
		      unsigned long long *netns);

/* Attach (or replace in place) one filter of this kind on one direction of
 * one device in this network namespace, and pin its marker. 0 or -errno
 * (logged). */
int clsact_attach(struct tr_loader *l, const struct clsact_kind *kind, int prog_fd,
		  uint32_t ifindex, bool egress);

/* Remove the filter the marker dir/name stands for, in its network
 * namespace, then the marker. 0 or -errno. */
int clsact_remove(const char *dir, const char *name);

/* Remove pins of XDP maps an older ABI laid out differently (loader_xdp.c). */
void loader_xdp_unpin_former(const char *bpffs);

/* ---- loader_sync.c ---- */

/* Detach the link pinned at path (if it is one) and remove the pin. */
void link_pin_remove(const char *path);

/*
 * A kind of program loader_sync_devs() keeps on a list of devices. Two
 * shapes of pin under links/ stand for it: tcx links named
 * <link_prefix><ifindex>..., and clsact markers of the clsact kind.
 */
struct dev_sync {
	const char *link_prefix;          /* tcx mode's pinned links */
	const char *link_what;            /* "<link_what> removed from ifindex N" */
	const struct clsact_kind *clsact; /* clsact mode's marker pins */
	const char *clsact_what;          /* "<clsact_what> removed (<pin>)" */
	/* already attached to ifindex by this agent (nothing to do) */
	bool (*in_place)(const struct tr_loader *l, uint32_t ifindex);
	/* attach to ifindex in l->tc_mode; 0 or -errno; logs either way */
	int (*attach)(struct tr_loader *l, uint32_t ifindex);
};

/*
 * Make kind run on exactly ifindexes[n]: attach where not in place, then
 * remove its pins for devices not listed and those of the mode not in
 * use. *cur / *n_cur (the devices it was on) become the devices it is on
 * now. Returns 0 or the first -errno of an attach.
 */
int loader_sync_devs(struct tr_loader *l, const struct dev_sync *kind,
		     const uint32_t *ifindexes, size_t n, uint32_t **cur, size_t *n_cur);

#endif /* TRESTLE_LOADER_INT_H */
