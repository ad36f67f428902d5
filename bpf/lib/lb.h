/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Service load balancing at the socket layer: the service maps, the
 * selection tables and the reverse translation that keeps the VIP visible.
 */
#ifndef TR_BPF_LB_H
#define TR_BPF_LB_H

#include "common.h"
#include "stats.h"

#include <trestle/metrics.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tr_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_SERVICES);
	__type(key, struct tr_lb4_key);
	__type(value, struct tr_lb_svc);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_lb4_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_SERVICES);
	__type(key, struct tr_lb6_key);
	__type(value, struct tr_lb_svc);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_lb6_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_SLOTS_TOTAL);
	__type(key, struct tr_lb_slot_key);
	__type(value, struct tr_lb_slot);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_lb_slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_BACKENDS);
	__type(key, struct tr_lb_rbe_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_lb_rbe SEC(".maps");

/* Informational maps: written by the agent, read by the CLI. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct tr_lb_backend);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_lb_be SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_SERVICES * 2);
	__type(key, __u32);
	__type(value, struct tr_lb_svcinfo);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_lb_svcinfo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_MAX_REVNAT);
	__type(key, struct tr_revnat_key);
	__type(value, struct tr_revnat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_revnat SEC(".maps");

/*
 * Per-socket state (metrics.h) in socket-local storage: it lives in the
 * socket itself, so a socket without state costs a NULL check (no hash
 * lookup of a table sized for every open socket), and it is freed with
 * the socket (no delete at release or close).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tr_sk);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_sk_store SEC(".maps");

/* The socket's state; with create, made (zeroed) when it has none. */
static __always_inline struct tr_sk *sk_state(struct bpf_sock *sk, bool create)
{
	if (!sk)
		return NULL;
	return bpf_sk_storage_get(&tr_sk_store, sk, NULL,
				  create ? BPF_SK_STORAGE_GET_F_CREATE : 0);
}

/*
 * Pick a slot of svc's selection table uniformly at random. Weights are
 * expressed by how many slots a backend holds, so this one lookup gives a
 * weighted choice. Returns NULL (counted) when the table is inconsistent.
 */
static __always_inline const struct tr_lb_slot *
lb_select(const struct tr_lb_svc *svc)
{
	struct tr_lb_slot_key key = {};
	const struct tr_lb_slot *slot;

	key.table = svc->table;
	key.slot = bpf_get_prandom_u32() % svc->slots;
	slot = bpf_map_lookup_elem(&tr_lb_slot, &key);
	if (!slot)
		stat_reason(TR_REASON_SLOT_MISSING);
	return slot;
}

/* Remember what the application asked for, keyed by socket and backend. */
static __always_inline void lb_revnat_save(__u64 cookie,
					   const struct tr_lb_slot *slot,
					   const __be32 *vip, __u8 vip_family,
					   __be16 vport, __u32 svc_id)
{
	struct tr_revnat_key key = {};
	struct tr_revnat val = {};

	key.cookie = cookie;
	key.addr[0] = slot->addr[0];
	key.addr[1] = slot->addr[1];
	key.addr[2] = slot->addr[2];
	key.addr[3] = slot->addr[3];
	key.port = slot->port;
	key.family = slot->family;
	val.addr[0] = vip[0];
	if (vip_family == TR_AF_INET6) {
		val.addr[1] = vip[1];
		val.addr[2] = vip[2];
		val.addr[3] = vip[3];
	}
	val.port = vport;
	val.family = vip_family;
	val.svc_id = svc_id;
	bpf_map_update_elem(&tr_revnat, &key, &val, BPF_ANY);
}

/* A connect: remember the VIP in the socket's storage. Falls back to the
 * LRU map when the storage cannot be allocated. */
static __always_inline void lb_sk_save(struct bpf_sock_addr *ctx,
				       const struct tr_lb_slot *slot,
				       const __be32 *vip, __u8 family,
				       __be16 vport, __u32 svc_id)
{
	struct tr_sk *m = sk_state(ctx->sk, true);

	if (!m) {
		stat_inc(TR_STAT_SK_FULL);
		lb_revnat_save(bpf_get_socket_cookie(ctx), slot, vip, family, vport, svc_id);
		return;
	}
	/* a socket may connect again: nothing of an earlier connect stays */
	__builtin_memset(m, 0, sizeof(*m));
	m->backend[0] = slot->addr[0];
	m->vip[0] = vip[0];
	if (family == TR_AF_INET6) {
		m->backend[1] = slot->addr[1];
		m->backend[2] = slot->addr[2];
		m->backend[3] = slot->addr[3];
		m->vip[1] = vip[1];
		m->vip[2] = vip[2];
		m->vip[3] = vip[3];
	}
	m->bport = slot->port;
	m->vport = vport;
	m->family = family;
	m->flags = TR_SK_F_LB;
	m->svc_id = svc_id;
}

static __always_inline const struct tr_revnat *
lb_revnat_find(__u64 cookie, const __be32 *addr, __u8 family, __be16 port)
{
	struct tr_revnat_key key = {};

	key.cookie = cookie;
	key.addr[0] = addr[0];
	if (family == TR_AF_INET6) {
		key.addr[1] = addr[1];
		key.addr[2] = addr[2];
		key.addr[3] = addr[3];
	}
	key.port = port;
	key.family = family;
	return bpf_map_lookup_elem(&tr_revnat, &key);
}

#endif /* TR_BPF_LB_H */
