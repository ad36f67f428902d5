// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "netdev.h"

#include <errno.h>
#include <linux/if_link.h>
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
	unsigned int seq = ++n->seq, portid = mnl_socket_get_portid(n->query);
	ssize_t len;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (unsigned char)ip->family;
	rtm->rtm_dst_len = ip->family == AF_INET ? 32 : 128;
	mnl_attr_put(nlh, RTA_DST, ip->family == AF_INET ? 4 : 16, ip->bytes);
	if (mnl_socket_sendto(n->query, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	len = mnl_socket_recvfrom(n->query, buf, sizeof(buf));
	if (len < 0)
		return -errno;
	ret = mnl_cb_run(buf, (size_t)len, seq, portid, route_cb, &c);
	if (ret < 0)
		return errno ? -errno : -EIO;
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
	unsigned int seq = ++n->seq, portid = mnl_socket_get_portid(n->query);
	ssize_t rlen;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = (int)ifindex;
	if (mnl_socket_sendto(n->query, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	rlen = mnl_socket_recvfrom(n->query, buf, sizeof(buf));
	if (rlen < 0)
		return -errno;
	if (mnl_cb_run(buf, (size_t)rlen, seq, portid, link_cb, &c) < 0)
		return errno ? -errno : -EIO;
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

void netdev_close(struct netdev *n)
{
	if (n->query)
		mnl_socket_close(n->query);
	if (n->monitor)
		mnl_socket_close(n->monitor);
	n->query = n->monitor = NULL;
}
