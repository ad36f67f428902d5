/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Loads Trestle's BPF programs, pins their maps and links under the bpffs
 * directory, and attaches them to the cgroup (and the tc programs to the
 * workload devices). A second agent on the same pins (a restart, an
 * upgrade) reuses the pinned maps and swaps its own programs into the
 * pinned links (or the tc filters) with one atomic update each, so the data
 * path never has a moment without programs.
 */
#ifndef TRESTLE_LOADER_H
#define TRESTLE_LOADER_H

#include <stdbool.h>

#include "maps.h"
#include "polmaps.h"
#include "xdpmaps.h"

struct tr_sock;
struct tr_tc;
struct tr_sockops;
struct tr_redir;
struct tr_xdp;

/*
 * How the tc programs attach to workload devices.
 *   tcx     BPF links (BPF_TCX_INGRESS/EGRESS, Linux 6.6 and later), pinned
 *           as links/tcx_<ifindex>_<direction>; a restart swaps the program
 *           inside the link.
 *   clsact  kernels without tcx: a clsact qdisc and a cls_bpf filter in
 *           direct-action mode at a fixed handle (0x7472) and priority (2;
 *           agents before the uplink load balancer used 1, and a start
 *           moves such a filter); a restart replaces the filter's program
 *           in place (BPF_TC_F_REPLACE). The attached program is pinned as
 *           links/tc_<ifindex>_<direction>_ns<inode> (the device's network
 *           namespace), so status shows it and cleanup finds it. The reply
 *           translation (tr_xdp_rnat) is a filter of its own at handle
 *           0x7278, priority 1, marked links/tcrnat_<ifindex>_ingress_ns<inode>.
 * LOADER_TC_AUTO probes once at start: tcx where the kernel has it.
 */
enum loader_tc_mode { LOADER_TC_AUTO, LOADER_TC_TCX, LOADER_TC_CLSACT };

struct tr_loader {
	struct tr_sock *skel;
	struct tr_tc *tc;          /* tc programs; share the pinned maps */
	struct tr_sockops *sockops; /* L4 metrics; shares the pinned maps */
	int l4_stat_fd;
	struct tr_redir *redir;     /* sk_msg on the redirection sockhash */
	int redir_cfg_fd;           /* tr_redir_cfg: the node's switch */
	struct tr_pol_fds pfds;
	int flow_rb_fd;
	uint32_t *tc_ifindexes;    /* devices this agent attached or adopted */
	size_t n_tc;
	char *bpffs;
	char *cgroup;
	int cgroup_fd;
	struct tr_map_fds fds;
	int n_attached;  /* links created by this agent */
	int n_replaced;  /* pinned links whose program this agent replaced */
	enum loader_tc_mode tc_mode; /* LOADER_TC_TCX or LOADER_TC_CLSACT */
	/* the uplink load balancer (--uplink); NULL when not asked for */
	struct tr_xdp *xdp;
	struct xdp_fds xfds;
	uint32_t *rnat_ifindexes;   /* devices with tr_xdp_rnat */
	size_t n_rnat;
};

/* One uplink device and how XDP runs there. */
struct loader_uplink {
	char name[16];
	uint32_t ifindex;
	const char *mode; /* "native" or "generic" */
};

struct loader_opts {
	bool l4_metrics; /* count connections and bytes in sockops */
	bool tunnels;    /* mTLS on: sockops hands steered connections over */
	unsigned int redirect;            /* TR_REDIR_* (redir.h) */
	unsigned int redirect_bulk_bytes; /* auto rule; 0 = the default */
	/* LOADER_TC_AUTO (0): probe; the environment variable
	 * TRESTLE_TC_MODE=tcx|clsact overrides the probe (tests use it to
	 * run the clsact path on a kernel that has tcx) */
	enum loader_tc_mode tc_mode;
};

/* "tcx", "clsact" or "auto". */
const char *loader_tc_mode_name(enum loader_tc_mode mode);

/* Open, load, pin and attach. Returns 0 or -errno; logs the reason. */
/*
 * tr_wl_addr or tr_lb_rbe may have changed: the per-CPU cache of
 * connection ends that sockops keeps for the L4 metrics (bpf/lib/ends.h)
 * is stale from now on. Call after every write to those maps.
 */
void loader_ends_changed(struct tr_loader *l);

int loader_start(struct tr_loader *l, const char *bpffs, const char *cgroup,
		 const struct loader_opts *opts);

/*
 * Make the tc programs run on exactly these devices (the host-side devices
 * of local workloads): attach where missing (pinned links, so they survive
 * restarts), take over pinned ones, detach from devices no longer listed.
 * Returns 0 or the first -errno; logs per device.
 */
int loader_tc_sync(struct tr_loader *l, const uint32_t *ifindexes, size_t n);

/*
 * Load the uplink load balancer (bpf/xdp.bpf.c) on the pinned maps;
 * flows: the size of each of its LRU tables (connections and reverse
 * translations, per family), 0 for the default TR_XDP_MAX_CT. Fills
 * l->xfds and the XDP deny maps of l->pfds. 0 or -errno (logged).
 */
int loader_xdp_start(struct tr_loader *l, uint32_t flows);

/*
 * Run tr_xdp_lb on device 'name': native (driver) mode where the driver
 * has it, generic otherwise; as a pinned link (links/xdp_<ifindex>), so a
 * restart swaps the program in place and traffic never sees a gap.
 * 0 or -errno (logged).
 */
int loader_xdp_attach(struct tr_loader *l, const char *name, struct loader_uplink *out);

/*
 * tr_xdp_pass on the far end of the veth uplink 'uplink' (device 'peer' in
 * the network namespace open as nsfd, -1 = this one), pinned as
 * links/xpass_<uplink ifindex>: frames XDP sends back out of a veth are
 * received by its peer only when the peer runs XDP or has GRO, and GRO
 * there would merge them into packets whose checksums the next XDP hop
 * cannot complete. 0 or -errno (logged).
 */
int loader_xdp_pass_peer(struct tr_loader *l, uint32_t uplink, uint32_t peer, int nsfd);

/* Detach XDP from pinned uplinks not in keep[] (a restart without them);
 * keep NULL: the agent runs without --uplink, so the reply translation
 * goes too. */
void loader_xdp_prune(struct tr_loader *l, const uint32_t *keep, size_t n);

/*
 * tr_xdp_rnat on the ingress of exactly these devices (local backends'
 * host-side devices), before the tc programs (tcx: first in the chain;
 * clsact: a cls_bpf filter at priority 1, ahead of the policy filter at 2).
 * Takes over what a previous agent attached, either way, and removes it
 * from devices no longer listed. Returns 0 or the first -errno (logged).
 */
int loader_xdp_rnat_sync(struct tr_loader *l, const uint32_t *ifindexes, size_t n);

/* Close everything without detaching: pinned links and maps stay. */
void loader_close(struct tr_loader *l);

/* Detach every pinned link and remove every pin under bpffs; tc filters
 * (clsact mode) are removed in the network namespace they were attached in. */
int loader_cleanup(const char *bpffs, const char *cgroup);

#endif /* TRESTLE_LOADER_H */
