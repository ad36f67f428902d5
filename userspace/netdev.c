// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "netdev.h"
#include "netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int netdev_open(struct netdev *n)
{
	unsigned int groups = RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;

	memset(n, 0, sizeof(*n));
	n->seq = (unsigned int)time(NULL);
	n->query = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	n->monitor = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!n->query || !n->monitor)
		goto fail;
	if (mnl_socket_bind(n->query, 0, MNL_SOCKET_AUTOPID) ||
	    mnl_socket_bind(n->monitor, groups, MNL_SOCKET_AUTOPID))
		goto fail;
	return 0;
fail:
	{
		int err = -errno;

		netdev_close(n);
		return err ? err : -EIO;
	}
}

int netdev_fd(const struct netdev *n)
{
	return mnl_socket_get_fd(n->monitor);
}

bool netdev_drain(struct netdev *n)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	bool changed = false;
	ssize_t len;

	while ((len = mnl_socket_recvfrom(n->monitor, buf, sizeof(buf))) > 0) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int left = (int)len;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			switch (nlh->nlmsg_type) {
			case RTM_NEWLINK:
			case RTM_DELLINK:
			case RTM_NEWROUTE:
			case RTM_DELROUTE:
				changed = true;
				break;
			}
		}
	}
	/* ENOBUFS: we missed some; treat as a change and resynchronize */
	if (len < 0 && errno == ENOBUFS)
		changed = true;
	return changed;
}

/* A request of type on n->query: its header is put in buf (of
 * MNL_SOCKET_BUFFER_SIZE bytes) for the caller to add to. */
static struct nlmsghdr *request(struct netdev *n, char *buf, uint16_t type)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++n->seq;
	return nlh;
}

/* Send it and run cb on the answer. 0 or -errno. */
static int exchange(struct netdev *n, char *buf, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	unsigned int seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(n->query);
	ssize_t len;

	if (mnl_socket_sendto(n->query, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	len = mnl_socket_recvfrom(n->query, buf, MNL_SOCKET_BUFFER_SIZE);
	if (len < 0)
		return -errno;
	if (mnl_cb_run(buf, (size_t)len, seq, portid, cb, data) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

struct oif_ctx {
	uint32_t oif;
	bool gateway; /* the route goes through a router: not a workload's device */
};

static int route_attr(const struct nlattr *attr, void *data)
{
	struct oif_ctx *c = data;

	switch (mnl_attr_get_type(attr)) {
	case RTA_OIF:
		if (!mnl_attr_validate(attr, MNL_TYPE_U32))
			c->oif = mnl_attr_get_u32(attr);
		break;
	case RTA_GATEWAY:
	case RTA_VIA:
		c->gateway = true;
		break;
	}
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	mnl_attr_parse(nlh, sizeof(struct rtmsg), route_attr, data);
	return MNL_CB_OK;
}

int netdev_route_oif(struct netdev *n, const struct tr_ip *ip, uint32_t *ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	struct oif_ctx c = {};
	int ret;

	nlh = request(n, buf, RTM_GETROUTE);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (unsigned char)ip->family;
	rtm->rtm_dst_len = ip->family == AF_INET ? 32 : 128;
	mnl_attr_put(nlh, RTA_DST, ip->family == AF_INET ? 4 : 16, ip->bytes);
	ret = exchange(n, buf, nlh, route_cb, &c);
	if (ret)
		return ret;
	if (!c.oif || c.gateway)
		return -ENETUNREACH;
	*ifindex = c.oif;
	return 0;
}

struct kind_ctx {
	char kind[32];
};

static int linkinfo_attr(const struct nlattr *attr, void *data)
{
	struct kind_ctx *c = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND &&
	    !mnl_attr_validate(attr, MNL_TYPE_STRING))
		snprintf(c->kind, sizeof(c->kind), "%s", mnl_attr_get_str(attr));
	return MNL_CB_OK;
}

static int link_attr(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == IFLA_LINKINFO &&
	    !mnl_attr_validate(attr, MNL_TYPE_NESTED))
		mnl_attr_parse_nested(attr, linkinfo_attr, data);
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr, data);
	return MNL_CB_OK;
}

int netdev_link_kind(struct netdev *n, uint32_t ifindex, char *kind, size_t len)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	struct kind_ctx c = {};
	int ret;

	nlh = request(n, buf, RTM_GETLINK);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = (int)ifindex;
	ret = exchange(n, buf, nlh, link_cb, &c);
	if (ret)
		return ret;
	snprintf(kind, len, "%s", c.kind);
	return 0;
}

int netdev_workload_dev(struct netdev *n, const struct tr_ip *ip, uint32_t *ifindex)
{
	char kind[32];
	int err = netdev_route_oif(n, ip, ifindex);

	if (err)
		return err;
	err = netdev_link_kind(n, *ifindex, kind, sizeof(kind));
	if (err)
		return err;
	/* a workload's host side is a veth (or netkit) pair end, never the
	 * node's uplink: refuse anything else rather than attach to it */
	if (strcmp(kind, "veth") && strcmp(kind, "netkit"))
		return -EMEDIUMTYPE;
	return 0;
}

static int link_full_attr(const struct nlattr *attr, void *data)
{
	struct netdev_link *l = data;

	switch (mnl_attr_get_type(attr)) {
	case IFLA_IFNAME:
		if (!mnl_attr_validate(attr, MNL_TYPE_STRING))
			snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(attr));
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(attr) == 6)
			memcpy(l->mac, mnl_attr_get_payload(attr), 6);
		break;
	case IFLA_LINK:
		if (!mnl_attr_validate(attr, MNL_TYPE_U32))
			l->link = mnl_attr_get_u32(attr);
		break;
	case IFLA_LINK_NETNSID:
		if (!mnl_attr_validate(attr, MNL_TYPE_U32))
			l->link_nsid = (int)mnl_attr_get_u32(attr);
		break;
	case IFLA_LINKINFO: {
		struct kind_ctx c = {};

		if (!mnl_attr_validate(attr, MNL_TYPE_NESTED))
			mnl_attr_parse_nested(attr, linkinfo_attr, &c);
		snprintf(l->kind, sizeof(l->kind), "%s", c.kind);
		break;
	}
	}
	return MNL_CB_OK;
}

static int link_full_cb(const struct nlmsghdr *nlh, void *data)
{
	mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_full_attr, data);
	return MNL_CB_OK;
}

int netdev_link_get(struct netdev *n, uint32_t ifindex, int nsid, struct netdev_link *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;

	memset(out, 0, sizeof(*out));
	out->link_nsid = -1;
	nlh = request(n, buf, RTM_GETLINK);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = (int)ifindex;
	if (nsid >= 0)
		mnl_attr_put_u32(nlh, IFLA_TARGET_NETNSID, (uint32_t)nsid);
	return exchange(n, buf, nlh, link_full_cb, out);
}

struct nsid_ctx {
	int nsid;
};

static int nsid_attr(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == NETNSA_NSID &&
	    !mnl_attr_validate(attr, MNL_TYPE_U32))
		((struct nsid_ctx *)data)->nsid = (int)mnl_attr_get_u32(attr);
	return MNL_CB_OK;
}

static int nsid_cb(const struct nlmsghdr *nlh, void *data)
{
	mnl_attr_parse(nlh, sizeof(struct rtgenmsg), nsid_attr, data);
	return MNL_CB_OK;
}

/* The id this namespace gives the network namespace open as fd (-1: none). */
static int nsid_of_fd(struct netdev *n, int fd)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct rtgenmsg *g;
	struct nsid_ctx c = { -1 };

	nlh = request(n, buf, RTM_GETNSID);
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, NETNSA_FD, (uint32_t)fd);
	if (exchange(n, buf, nlh, nsid_cb, &c))
		return -1;
	return c.nsid;
}

struct nsid_find {
	struct netdev *n;
	int nsid;
};

static int open_if_nsid(const char *path, void *ctx)
{
	const struct nsid_find *f = ctx;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 && nsid_of_fd(f->n, fd) != f->nsid) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* An fd of the network namespace with id nsid; -ENOENT if none. */
static int netns_open_nsid(struct netdev *n, int nsid)
{
	struct nsid_find f = { n, nsid };

	return netns_find(open_if_nsid, &f);
}

/* GRO on for the device called name in this thread's namespace. */
static int gro_on(const char *name, bool *changed)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_GGRO };
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr)) {
		err = -errno;
	} else if (!ev.data) {
		ev.cmd = ETHTOOL_SGRO;
		ev.data = 1;
		if (ioctl(fd, SIOCETHTOOL, &ifr))
			err = -errno;
		else
			*changed = true;
	}
	close(fd);
	return err;
}

int netdev_veth_peer_gro(struct netdev *n, uint32_t ifindex, bool *changed)
{
	struct netdev_link l, peer;
	int nsfd, back, err;

	*changed = false;
	err = netdev_link_get(n, ifindex, -1, &l);
	if (err)
		return err;
	if (strcmp(l.kind, "veth") || !l.link)
		return -EMEDIUMTYPE;
	err = netdev_link_get(n, l.link, l.link_nsid, &peer);
	if (err)
		return err;
	if (l.link_nsid < 0)
		return gro_on(peer.name, changed);
	nsfd = netns_open_nsid(n, l.link_nsid);
	if (nsfd < 0)
		return nsfd;
	back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (back < 0 || setns(nsfd, CLONE_NEWNET)) {
		err = -errno;
		close(nsfd);
		if (back >= 0)
			close(back);
		return err;
	}
	err = gro_on(peer.name, changed);
	if (setns(back, CLONE_NEWNET))
		err = -errno; /* cannot happen: our own namespace */
	close(back);
	close(nsfd);
	return err;
}

int netdev_veth_peer(struct netdev *n, uint32_t ifindex, uint32_t *peer, int *nsfd)
{
	struct netdev_link l;
	int err;

	*nsfd = -1;
	err = netdev_link_get(n, ifindex, -1, &l);
	if (err)
		return err;
	if (strcmp(l.kind, "veth") || !l.link)
		return -EMEDIUMTYPE;
	*peer = l.link;
	if (l.link_nsid < 0)
		return 0;
	*nsfd = netns_open_nsid(n, l.link_nsid);
	if (*nsfd < 0) {
		err = *nsfd;
		*nsfd = -1;
		return err;
	}
	return 0;
}

const char *netdev_xdp_mode_name(uint32_t mode)
{
	switch (mode) {
	case XDP_ATTACHED_DRV:
		return "native";
	case XDP_ATTACHED_SKB:
		return "generic";
	case XDP_ATTACHED_HW:
		return "offload";
	case XDP_ATTACHED_MULTI:
		return "multi";
	default:
		return "none";
	}
}

void netdev_close(struct netdev *n)
{
	if (n->query)
		mnl_socket_close(n->query);
	if (n->monitor)
		mnl_socket_close(n->monitor);
	n->query = n->monitor = NULL;
}
