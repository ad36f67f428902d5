// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The uplink load balancer in the agent (uplink.h). */
#include "uplink.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xdp_compile.h"

/* Read a sysctl file into buf (trimmed). 0 or -errno. */
static int sysctl_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

/* Set a per-device sysctl, logging a change. */
static void sysctl_dev(const char *family, const char *dev, const char *key, const char *val)
{
	char path[256], cur[32];
	int fd, err;

	snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", family, dev, key);
	err = sysctl_read(path, cur, sizeof(cur));
	if (err) {
		log_warn("cannot read %s: %s", path, strerror(-err));
		return;
	}
	if (!strcmp(cur, val))
		return;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val)) {
		log_warn("cannot set %s to %s: %s", path, val, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	log_info("uplink load balancer: net.%s.conf.%s.%s %s -> %s", family, dev, key, cur, val);
}

/* Warn once about a namespace-wide setting we need but do not change. */
static void sysctl_expect(const char *path, const char *want, const char *why)
{
	char cur[32];

	if (!sysctl_read(path, cur, sizeof(cur)) && strcmp(cur, want))
		log_warn("%s is %s, the uplink load balancer needs %s (%s); not changed: it is the whole namespace's",
			 path, cur, want, why);
}

static void gro_peer(struct uplink *u, uint32_t ifindex, const char *what)
{
	bool changed = false;
	int err = netdev_veth_peer_gro(u->netdev, ifindex, &changed);

	if (err == -EMEDIUMTYPE)
		return; /* not a veth: its driver receives redirected frames */
	if (err)
		log_warn("%s (ifindex %u): cannot turn GRO on at its veth peer: %s; frames XDP redirects there may be lost",
			 what, ifindex, strerror(-err));
	else if (changed)
		log_info("%s (ifindex %u): GRO on at its veth peer, so that it receives XDP-redirected frames",
			 what, ifindex);
}

/* XDP_PASS at the far end of a veth uplink (loader_xdp_pass_peer()). */
static void pass_peer(struct uplink *u, uint32_t ifindex, const char *what)
{
	uint32_t peer;
	int nsfd, err = netdev_veth_peer(u->netdev, ifindex, &peer, &nsfd);

	if (err == -EMEDIUMTYPE)
		return; /* a NIC: its driver takes what XDP sends out */
	if (!err)
		err = loader_xdp_pass_peer(u->loader, ifindex, peer, nsfd);
	if (nsfd >= 0)
		close(nsfd);
	if (err)
		log_warn("%s (ifindex %u): no XDP program at its veth peer (%s); frames XDP sends out of it may be lost",
			 what, ifindex, strerror(-err));
	else
		log_info("%s (ifindex %u): veth peer runs tr_xdp_pass, so that it receives what XDP sends out",
			 what, ifindex);
}

int uplink_start(struct uplink *u, struct tr_loader *l, struct netdev *nd,
		 const char *const *names, size_t n)
{
	uint32_t keep[UPLINK_MAX];
	int err;

	memset(u, 0, sizeof(*u));
	u->loader = l;
	u->netdev = nd;
	err = xdpmaps_adopt(&l->xfds, &u->st);
	if (err) {
		log_error("cannot read the uplink load balancer's pinned state: %s", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < n && i < UPLINK_MAX; i++) {
		err = loader_xdp_attach(l, names[i], &u->devs[i]);
		if (err)
			return err;
		keep[i] = u->devs[i].ifindex;
		u->n_devs++;
		sysctl_dev("ipv4", names[i], "forwarding", "1");
		sysctl_dev("ipv4", names[i], "rp_filter", "0");
		/* an encapsulated packet XDP hands the stack to resolve its next
		 * hop has this node's address as source; so do NodePort replies
		 * another node sends back through this one */
		sysctl_dev("ipv4", names[i], "accept_local", "1");
		pass_peer(u, u->devs[i].ifindex, names[i]);
	}
	loader_xdp_prune(l, keep, u->n_devs);
	sysctl_expect("/proc/sys/net/ipv6/conf/all/forwarding", "1",
		      "replies of IPv6 flows are forwarded");
	sysctl_expect("/proc/sys/net/ipv4/conf/all/rp_filter", "0",
		      "the reverse path check takes the larger of all and the device");
	u->on = true;
	return 0;
}

static bool listed(const uint32_t *v, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

void uplink_workload_devs(struct uplink *u, const uint32_t *devs, size_t n)
{
	uint32_t *p;

	if (!u->on)
		return;
	loader_xdp_rnat_sync(u->loader, devs, n);
	p = calloc(n + 1, sizeof(*p));
	if (!p)
		return;
	for (size_t i = 0; i < n; i++) {
		char name[IF_NAMESIZE];

		p[i] = devs[i];
		if (listed(u->prepared, u->n_prepared, devs[i]) || !if_indextoname(devs[i], name))
			continue;
		sysctl_dev("ipv4", name, "forwarding", "1");
		sysctl_dev("ipv4", name, "rp_filter", "0");
		sysctl_dev("ipv4", name, "accept_local", "1");
		gro_peer(u, devs[i], name);
	}
	free(u->prepared);
	u->prepared = p;
	u->n_prepared = n;
}

/* xdp_local_fn: the device, the workload's MAC (the veth peer's) and the
 * device's own. */
static int local_dev(void *ctx, const struct tr_ip *ip, uint32_t *ifindex, uint8_t mac[6],
		     uint8_t dev_mac[6])
{
	struct uplink *u = ctx;
	struct netdev_link dev, peer;
	int err;

	err = netdev_workload_dev(u->netdev, ip, ifindex);
	if (!err)
		err = netdev_link_get(u->netdev, *ifindex, -1, &dev);
	if (!err && !dev.link)
		err = -ENOENT;
	if (!err)
		err = netdev_link_get(u->netdev, dev.link, dev.link_nsid, &peer);
	if (err) {
		char a[64];

		log_warn("uplink load balancer: local backend %s: no host-side veth found (%s); its external traffic is dropped until it appears",
			 tr_ip_str(ip, a, sizeof(a)), strerror(-err));
		*ifindex = 0;
		return err;
	}
	memcpy(dev_mac, dev.mac, 6);
	memcpy(mac, peer.mac, 6);
	return 0;
}

int uplink_apply(struct uplink *u, const struct tr_config *cfg, const struct tr_compiled *comp,
		 const struct tr_applied *applied, const char *node)
{
	struct xdp_compiled x = {};
	struct tr_diags diags = {};
	struct xdpmaps_result res;
	char msg[256];
	int err;

	if (!u->on)
		return 0;
	err = xdp_compile(cfg, comp, node, &x, &diags);
	for (size_t i = 0; i < diags.n; i++) {
		char *s = diag_format(&diags.items[i]);

		log_warn("%s", s ? s : diags.items[i].message);
		free(s);
	}
	diags_free(&diags);
	if (err) {
		log_error("uplink load balancer: %s; its previous state stays", strerror(-err));
		return err;
	}
	if (!x.node4.family && !x.node6.family && x.n_fronts)
		log_warn("uplink load balancer: no Node object named \"%s\" with an InternalIP: remote backends cannot be reached and NodePorts of this node are not served", node);
	err = xdpmaps_apply(&u->loader->xfds, &u->st, &x, comp, applied, cfg, local_dev, u,
			    &res, msg, sizeof(msg));
	if (err) {
		log_error("uplink load balancer: %s; its previous state stays", msg);
	} else {
		log_info("uplink load balancer applied: %zu external keys, %zu rings (%zu new), %zu backends (%zu local, %zu without a device), %zu draining",
			 res.fronts, res.rings_written + res.rings_kept, res.rings_written,
			 res.backends, res.local, res.local_missing, res.draining);
	}
	xdp_compiled_free(&x);
	return err;
}

void uplink_close(struct uplink *u)
{
	xdpmaps_free(&u->st);
	free(u->prepared);
	memset(u, 0, sizeof(*u));
}
