/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trestle ABI: the north-south load balancer on the node's uplink (XDP).
 *
 * Traffic from outside the node to a service's external address (a
 * LoadBalancer ingress IP, an externalIP, or the node's InternalIP with a
 * NodePort) is found by (address, port, protocol) in tr_xdp4_vip or
 * tr_xdp6_vip. A new flow takes the backend at slot (flow hash % ring size)
 * of the service's Maglev ring (tr_xdp_ring, built by userspace/maglev.c),
 * and is remembered in the LRU connection table tr_xdp4_ct / tr_xdp6_ct so
 * that it keeps its backend when the ring changes.
 *
 * Local backend: destination NAT to the backend's address and port, TTL
 * decremented, MACs rewritten, XDP_REDIRECT to its host-side device. The
 * reverse entry (tr_xdp4_rnat / tr_xdp6_rnat, keyed by the reply's tuple)
 * lets the tc program tr_xdp_rnat, on that device's ingress, put the
 * service address and port back as the reply's source: the reply leaves
 * the node straight to the client (direct server return). The redirect
 * skips that device's tc egress, so a new flow to a local backend is
 * authorized here, by the same policy maps and verdict as tr_tc_to_wl.
 * The reply is translated before the stack routes it: the host-side
 * device needs rp_filter 0, and accept_local 1 for NodePort replies (their
 * new source is the node's own address); tr_xdp_rnat goes before the
 * anti-spoofing check, which would take the service address for a spoof.
 *
 * Remote backend: the packet, unchanged, is encapsulated (IPIP or IP6IP6;
 * the outer family is the backend node's) toward the backend's node, with
 * the next hop from bpf_fib_lookup. That node's XDP decapsulates a packet
 * addressed to its own address whose inner packet is service traffic, and
 * runs the same decision: Maglev and the flow hash are identical on every
 * node (same backends, same seeds), so it finds the same backend, now
 * local; its own connection table keeps the flow there afterwards. A
 * decapsulated packet is never encapsulated again.
 *
 * Fragments: the first fragment is balanced by its ports and records
 * (source, destination, IP id, protocol) -> backend in tr_xdp4_frag /
 * tr_xdp6_frag; later fragments follow that record. A later fragment that
 * arrives before its first one is passed to the stack (counted).
 *
 * ICMP errors about a flow (an error addressed to the service about a
 * reply it sent; an error a backend sends about a request it got) are
 * translated with the flow: outer address, embedded address and port, and
 * every checksum involved.
 *
 * The flow hash is part of this contract (below), so that every node and
 * the CLI agree on which ring slot a flow takes.
 */
#ifndef TRESTLE_XDP_H
#define TRESTLE_XDP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include <trestle/abi.h>
#include <trestle/policy.h>

/* Map names (tr_<subsystem>[4|6]_<what>, at most 15 characters). */
#define TR_MAP_XDP_CFG "tr_xdp_cfg"
#define TR_MAP_XDP4_VIP "tr_xdp4_vip"
#define TR_MAP_XDP6_VIP "tr_xdp6_vip"
#define TR_MAP_XDP_RING "tr_xdp_ring"
#define TR_MAP_XDP_BE "tr_xdp_backend"
#define TR_MAP_XDP4_CT "tr_xdp4_conn"
#define TR_MAP_XDP6_CT "tr_xdp6_conn"
#define TR_MAP_XDP4_RNAT "tr_xdp4_rnat"
#define TR_MAP_XDP6_RNAT "tr_xdp6_rnat"
#define TR_MAP_XDP4_FRAG "tr_xdp4_frag"
#define TR_MAP_XDP6_FRAG "tr_xdp6_frag"
#define TR_MAP_XDP4_DENY "tr_xdp4_deny"
#define TR_MAP_XDP6_DENY "tr_xdp6_deny"
#define TR_MAP_XDP_PORTS "tr_xdp_ports"

#define TR_XDP_MAPS                                                          \
	TR_MAP_XDP_CFG, TR_MAP_XDP4_VIP, TR_MAP_XDP6_VIP, TR_MAP_XDP_RING,   \
	TR_MAP_XDP_BE, TR_MAP_XDP4_CT, TR_MAP_XDP6_CT, TR_MAP_XDP4_RNAT,     \
	TR_MAP_XDP6_RNAT, TR_MAP_XDP4_FRAG, TR_MAP_XDP6_FRAG,                \
	TR_MAP_XDP4_DENY, TR_MAP_XDP6_DENY, TR_MAP_XDP_PORTS

/*
 * Pins of maps whose layout changed (ABI 3: the backend table was a hash,
 * connection entries had no generation). Nothing reads them any more; the
 * loader and --cleanup remove them.
 */
#define TR_XDP_FORMER_MAPS "tr_xdp_be", "tr_xdp4_ct", "tr_xdp6_ct"

/* Capacities. */
#define TR_XDP_MAX_VIPS 65536      /* per family: (external address, port, proto) */
#define TR_XDP_MAX_RINGS 65536     /* rings of all services, both generations */
#define TR_XDP_MAX_BACKENDS 65536  /* ids 1 .. TR_XDP_MAX_BACKENDS-1 */
#define TR_XDP_MAX_CT 131072       /* per family, LRU */
#define TR_XDP_MAX_RNAT 131072     /* per family, LRU: flows to local backends */
#define TR_XDP_MAX_FRAG 8192       /* per family, LRU: fragmented datagrams in flight */
#define TR_XDP_MAX_DENY 65536      /* per family, both epochs during a switch */
#define TR_XDP_PORT_WORDS 1024     /* tr_xdp_ports: 65536 bits */

/* Largest Maglev ring (userspace/maglev.h explains the sizes). */
#define TR_XDP_RING_MAX 131071u

/* Where a flow event was decided (tr_flow_event.hook, after policy.h's):
 * the uplink's XDP authorizing a new flow to a local backend, which the
 * redirect delivers without passing the workload device's tc egress. */
#define TR_HOOK_XDP_TO_WORKLOAD 5

/* tr_xdp_cfg: one element, written by the agent. */
struct tr_xdp_cfg {
	__be32 node4;     /* this node's underlay IPv4 address: outer source of
			   * IPIP, and the destination it decapsulates; 0 = none */
	__be32 node6[4];  /* the same for IPv6 (IP6IP6); zero = none */
	__u32 hash_seed;  /* flow hash seed: the same on every node */
	__u32 flags;      /* none yet */
	__u32 gen;        /* external-key generation: moved by every apply,
			   * and again once removed keys are gone */
};

/*
 * The established fast path. A connection entry made under the current
 * tr_xdp_cfg.gen is trusted without looking the service up: nothing
 * about the external keys has changed since it was made or last checked.
 * Under another generation, the packet's service is looked up once
 * (gone: the packet passes untouched; another service at that address:
 * balanced anew) and the entry takes the current generation. The program
 * reads gen before the service, and the agent moves gen after it wrote
 * new keys and again after it deleted old ones, so an entry never carries
 * the generation of a state in which its key had been deleted.
 *
 * tr_xdp_ports: ARRAY of TR_XDP_PORT_WORDS __u64, bit (port % 64) of word
 * (port / 64), port in host order: some external key has that destination
 * port (TCP or UDP). A packet to any other port is not service traffic and
 * passes with no hash lookup; the agent sets a port's bit before its keys
 * are written and clears it after they are deleted.
 */

/* External service key: struct tr_lb4_key / tr_lb6_key (abi.h). */

/* tr_xdp_svc.flags */
#define TR_XDP_SVC_F_CLIENT_IP 0x1u /* sessionAffinity ClientIP: hash the
				     * addresses only, not the ports */

struct tr_xdp_svc {
	__u32 svc_id;    /* tr_lb_svcinfo id (names for the CLI); connection
			  * entries remember it */
	__u32 ring;      /* ring id in tr_xdp_ring; replaced, never edited in place;
			  * the VIPs of one service port may share it */
	__u32 ring_size; /* prime; 0 = no ready backend: dropped, counted */
	__u32 flags;     /* TR_XDP_SVC_F_* */
};

/*
 * tr_xdp_ring: hash of maps, ring id (__u32) -> an array map, slot (__u32,
 * 0 .. ring_size-1) -> backend id (__u32, key of tr_xdp_be). Each ring is
 * its own array of exactly ring_size entries (created with
 * BPF_F_INNER_MAP, so sizes may differ): 4 bytes a slot. A new ring is
 * filled completely under a fresh id before tr_xdp_svc points to it.
 */

/*
 * tr_xdp_backend: ARRAY, backend id -> struct tr_xdp_be; an id is in use
 * when its family is not 0 (an array lookup costs no hash, and the
 * established path makes one per packet). The agent rewrites an entry in
 * place only when its backend's device changes or it is removed (zeroed):
 * a packet read half before, half after such a write may be misdelivered
 * and dropped, as a packet in flight to a vanishing device would be.
 */

/* tr_xdp_be.flags */
#define TR_XDP_BE_F_LOCAL 0x1u /* runs on this node: DNAT and redirect */

struct tr_xdp_be {
	__be32 addr[4];    /* backend address; IPv4 in [0] */
	__be32 node[4];    /* remote: its node's underlay address; IPv4 in [0] */
	__be16 port;       /* backend port */
	__u8 family;       /* TR_AF_* of addr: the service's family */
	__u8 node_family;  /* remote: TR_AF_* of node (the outer header) */
	__u32 flags;       /* TR_XDP_BE_F_* */
	__u32 ifindex;     /* local: the workload's host-side device */
	__u8 mac[6];       /* local: the workload's MAC (frame destination) */
	__u8 dev_mac[6];   /* local: the host-side device's MAC (frame source) */
};

/*
 * A flow as its packets carry it, in one direction. tr_xdp4_ct is keyed by
 * the client's packets (client -> service address); tr_xdp4_rnat by the
 * backend's replies (backend -> client). Zero it before filling.
 */
struct tr_xdp4_flow {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;   /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad[3];
};

struct tr_xdp6_flow {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* Connection table value. */
struct tr_xdp_ct {
	__u32 backend_id; /* index of tr_xdp_backend */
	__u32 svc_id;     /* the service whose external key the flow used */
	__u64 created_ns; /* bpf_ktime_get_ns() when the flow was first seen */
	__u32 gen;        /* tr_xdp_cfg.gen when made or last checked */
	__u32 pad;
};

/* Reverse translation: a local backend's reply -> what the client asked for. */
struct tr_xdp_rnat {
	__be32 addr[4];   /* service address; IPv4 in [0] */
	__be16 port;      /* service port */
	__u8 family;      /* TR_AF_* */
	__u8 pad;
	__u32 ifindex;    /* the backend's host-side device: replies seen
			   * elsewhere are not translated (anti-spoofing) */
	__u32 backend_id;
};

/* Fragmented datagram key: what every fragment carries. */
struct tr_xdp4_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;     /* IPv4 identification */
	__u8 proto;
	__u8 pad;
};

struct tr_xdp6_frag_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be32 id;     /* fragment header identification */
	__u8 proto;
	__u8 pad[3];
};

/* tr_xdp_frag.flags */
#define TR_XDP_FRAG_F_REPLY 0x1u /* a backend's reply (tc): rewrite the source */

struct tr_xdp_frag {
	__be32 addr[4];   /* reply: the service address to write as source */
	__u32 backend_id; /* request: the backend of the first fragment */
	__u32 flags;      /* TR_XDP_FRAG_F_* */
};

/*
 * Early deny: sources every workload's policy denies on every port (an
 * ipBlocks DENY), dropped at the uplink before any other work. Keyed like
 * tr_ip4_info (epoch-versioned LPM, struct tr_ip4_lpm_key / tr_ip6_lpm_key
 * in policy.h) and read under tr_pol_cfg's epoch, so it switches with the
 * rest of the policy state; only when that epoch has entries
 * (TR_POL_F_XDP_DENY), so that a mesh without any pays no lookup. Applies to service traffic only: the node's own
 * services (ssh, kubelet) are not the mesh's to deny.
 */
struct tr_xdp_deny {
	__u32 policy; /* deciding policy (tr_pol_info), counted in tr_pol_stat */
	__u16 rule;   /* rule index in that policy */
	__u16 pad;
};

/*
 * The flow hash: Bob Jenkins' lookup3 final mix over host-order words, so
 * that nodes of either byte order agree. Ports are (sport << 16 | dport);
 * with TR_XDP_SVC_F_CLIENT_IP they are 0. The ring slot is
 * hash % ring_size.
 */
static inline __u32 tr_xdp_rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

static inline __u32 tr_xdp_hash3(__u32 a, __u32 b, __u32 c, __u32 seed)
{
	a += 0xdeadbeef + seed + 12;
	b += 0xdeadbeef + seed + 12;
	c += 0xdeadbeef + seed + 12;
	c ^= b; c -= tr_xdp_rol32(b, 14);
	a ^= c; a -= tr_xdp_rol32(c, 11);
	b ^= a; b -= tr_xdp_rol32(a, 25);
	c ^= b; c -= tr_xdp_rol32(b, 16);
	a ^= c; a -= tr_xdp_rol32(c, 4);
	b ^= a; b -= tr_xdp_rol32(a, 14);
	c ^= b; c -= tr_xdp_rol32(b, 24);
	return c;
}

static inline __u32 tr_xdp_hash4(__u32 saddr, __u32 daddr, __u32 ports, __u8 proto,
				 __u32 seed)
{
	return tr_xdp_hash3(saddr, daddr, ports, seed ^ proto);
}

/* IPv6: addresses as four host-order words each. */
static inline __u32 tr_xdp_hash6(const __u32 *saddr, const __u32 *daddr, __u32 ports,
				 __u8 proto, __u32 seed)
{
	__u32 h = tr_xdp_hash3(saddr[0], saddr[1], saddr[2], seed ^ proto);

	h = tr_xdp_hash3(saddr[3], daddr[0], daddr[1], h);
	return tr_xdp_hash3(daddr[2], daddr[3], ports, h);
}

#endif /* TRESTLE_XDP_H */
