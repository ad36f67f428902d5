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
void netdev_close(struct netdev *n);

#endif /* TRESTLE_NETDEV_H */
