/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* mTLS tunnel steering: maps and lookups (include/trestle/tunnel.h). */
#ifndef TR_BPF_TUNNEL_H
#define TR_BPF_TUNNEL_H

#include "common.h"
#include <trestle/tunnel.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tr_tun_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_tun_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_PEERAUTH);
	__type(key, struct tr_peerauth_key);
	__type(value, struct tr_peerauth);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_peerauth SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_MAX_TUN_ORIG);
	__type(key, struct tr_tun_key);
	__type(value, struct tr_tun_orig);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_tun_orig SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_MAX_TUN_PEER);
	__type(key, struct tr_tun_peer_key);
	__type(value, struct tr_tun_peer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_tun_peer SEC(".maps");

/* The mTLS mode of a workload's port: its own entry, else the workload's,
 * else TR_MTLS_UNSET (PERMISSIVE). */
static __always_inline __u32 tun_mode(__u32 workload, __u16 port)
{
	struct tr_peerauth_key k = {};
	const struct tr_peerauth *v;

	if (!workload)
		return TR_MTLS_UNSET;
	k.workload = workload;
	k.port = port;
	v = bpf_map_lookup_elem(&tr_peerauth, &k);
	if (v)
		return v->mode;
	k.port = 0;
	v = bpf_map_lookup_elem(&tr_peerauth, &k);
	return v ? v->mode : TR_MTLS_UNSET;
}

static __always_inline const struct tr_tun_cfg *tun_cfg_any(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tr_tun_cfg, &zero);
}

/* The configuration when steering is on, else NULL. */
static __always_inline const struct tr_tun_cfg *tun_cfg(void)
{
	const struct tr_tun_cfg *c = tun_cfg_any();

	return c && c->enabled ? c : NULL;
}

/* Does a new connection to workload:port need mTLS (STRICT)? */
static __always_inline bool tun_strict(__u32 workload, __u16 port)
{
	const struct tr_tun_cfg *c = tun_cfg_any();

	return c && (c->flags & TR_TUN_F_ANY_STRICT) &&
	       tun_mode(workload, port) == TR_MTLS_STRICT;
}

#endif /* TR_BPF_TUNNEL_H */
