// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tc's clsact mode (kernels without tcx): our cls_bpf filters in
 * direct-action mode at fixed handles and priorities, found through our
 * own netlink dumps (libmnl), marked by pinned programs under links/, and
 * removed in the network namespace they were attached in.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "loader_int.h"
#include "netns.h"
#include "log.h"

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

const struct clsact_kind clsact_policy = {
	CLSACT_PIN_PREFIX, CLSACT_HANDLE, CLSACT_PRIO, CLSACT_PRIO_OLD,
	{ "tr_tc_from_wl", "tr_tc_to_wl" },
};
const struct clsact_kind clsact_rnat = {
	RNAT_CLSACT_PIN_PREFIX, RNAT_HANDLE, RNAT_PRIO, 0,
	{ "tr_xdp_rnat", "tr_xdp_rnat" },
};

/* The network namespace (nsfs inode) this thread is in; 0 if unknown. */
unsigned long long netns_self(void)
{
	struct stat st;

	return stat("/proc/thread-self/ns/net", &st) ? 0 : (unsigned long long)st.st_ino;
}

static int open_if_ino(const char *path, void *ctx)
{
	const unsigned long long *ino = ctx;
	struct stat st;

	if (stat(path, &st) || (unsigned long long)st.st_ino != *ino)
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * Move this thread into the network namespace with nsfs inode 'ino', found
 * through /run/netns or a process living in it. *back gets an fd to return
 * with (or -1 when already there). Returns 0, or -ENOENT when no such
 * namespace exists any more.
 */
static int netns_enter(unsigned long long ino, int *back)
{
	int fd, err;

	*back = -1;
	if (netns_self() == ino)
		return 0;
	fd = netns_find(open_if_ino, &ino);
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
void clsact_pin_path(const struct tr_loader *l, const struct clsact_kind *kind,
		     uint32_t ifindex, bool egress, unsigned long long netns, char *buf,
		     size_t len)
{
	snprintf(buf, len, "%s/%s/%s%u_%s_ns%llu", l->bpffs, TR_LINK_DIR, kind->prefix, ifindex,
		 egress ? "egress" : "ingress", netns);
}

/* The kind of filter a marker pin's name stands for; NULL: no marker. */
const struct clsact_kind *clsact_pin_kind(const char *name)
{
	if (!strncmp(name, CLSACT_PIN_PREFIX, strlen(CLSACT_PIN_PREFIX)))
		return &clsact_policy;
	if (!strncmp(name, RNAT_CLSACT_PIN_PREFIX, strlen(RNAT_CLSACT_PIN_PREFIX)))
		return &clsact_rnat;
	return NULL;
}

bool clsact_pin_parse(const char *name, uint32_t *ifindex, bool *egress,
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
int clsact_attach(struct tr_loader *l, const struct clsact_kind *kind, int prog_fd,
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
int clsact_remove(const char *dir, const char *name)
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
