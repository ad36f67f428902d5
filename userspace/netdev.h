/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The node's network devices, through rtnetlink (libmnl): which host-side
 * device leads to a local workload (a route lookup of its address), and a
 * monitor of link and route changes so that tc programs follow workloads
 * as their devices appear and go.
 */
#ifndef TRESTLE_NETDEV_H
#define TRESTLE_NETDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct mnl_socket;

struct netdev {
	struct mnl_socket *query;   /* requests */
	struct mnl_socket *monitor; /* RTMGRP_LINK and route groups */
	unsigned int seq;
};

int netdev_open(struct netdev *n);
/* The monitor's fd, for the event loop. */
int netdev_fd(const struct netdev *n);
/* Read pending notifications; true if a link or route changed. */
bool netdev_drain(struct netdev *n);
/* The output device of the route to ip in this namespace: 0 or -errno
 * (-ENETUNREACH when there is none). */
int netdev_route_oif(struct netdev *n, const struct tr_ip *ip, uint32_t *ifindex);
/* The kind of a link ("veth", ...; "" for devices without one). */
int netdev_link_kind(struct netdev *n, uint32_t ifindex, char *kind, size_t len);
/*
 * The host-side device of a local workload: the device of a direct route
 * (no gateway) to ip, which must be a veth or netkit. -ENETUNREACH when
 * the route is missing or goes through a router, -EMEDIUMTYPE when the
 * device is of another kind (never the node's own uplink).
 */
int netdev_workload_dev(struct netdev *n, const struct tr_ip *ip, uint32_t *ifindex);
/* What RTM_GETLINK says of one device. */
struct netdev_link {
	char name[16];
	char kind[32];      /* "veth", ...; "" for devices without one */
	uint8_t mac[6];
	uint32_t link;      /* the peer's ifindex (veth), 0 = none */
	int link_nsid;      /* the peer's network namespace id, -1 = this one */
};

/*
 * Device ifindex, in this network namespace (nsid -1) or in the one with
 * that id as seen from here (IFLA_TARGET_NETNSID). 0 or -errno.
 */
int netdev_link_get(struct netdev *n, uint32_t ifindex, int nsid, struct netdev_link *out);

/*
 * Make sure frames redirected by XDP into the veth 'ifindex' are received
 * by its peer (include/trestle/xdp.h; a veth peer drops them unless it has
 * an XDP program or GRO): GRO on at the peer, in whatever network
 * namespace it lives in. *changed says whether this turned it on.
 * 0, -EMEDIUMTYPE (not a veth), or -errno.
 */
int netdev_veth_peer_gro(struct netdev *n, uint32_t ifindex, bool *changed);

/*
 * The far end of the veth 'ifindex': its ifindex there and an fd of its
 * network namespace (*nsfd = -1 when it is this one; the caller closes it).
 * 0, -EMEDIUMTYPE (not a veth) or -errno.
 */
int netdev_veth_peer(struct netdev *n, uint32_t ifindex, uint32_t *peer, int *nsfd);

/* The device's XDP attach mode: "native", "generic", "offload" or "none". */
const char *netdev_xdp_mode_name(uint32_t xdp_attach_mode);

void netdev_close(struct netdev *n);

#endif /* TRESTLE_NETDEV_H */
