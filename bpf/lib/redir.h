/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Same-node socket redirection: maps (include/trestle/redir.h). */
#ifndef TR_BPF_REDIR_H
#define TR_BPF_REDIR_H

#include "common.h"
#include "redir_key.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tr_redir_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_redir_cfg SEC(".maps");

/* Both ends of every redirected connection; the sk_msg program hangs here. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, TR_MAX_REDIR_SOCKS);
	__type(key, struct tr_redir_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_redir_sk SEC(".maps");

/*
 * Each redirected socket's state under the same key as in tr_redir_sk: a
 * plain hash, so one end reaches the other's state by key (sockhash
 * lookups would hand out socket references that neither sockops nor sk_msg
 * may release). sockops removes the entry when the socket reaches TCP_CLOSE.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TR_MAX_REDIR_SOCKS);
	__type(key, struct tr_redir_key);
	__type(value, struct tr_redir_sock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_redir_st SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TR_MAX_REDIR_BULK);
	__type(key, struct tr_redir_ep);
	__type(value, struct tr_redir_bulk);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_redir_bulk SEC(".maps");

/* The server end of a connection from one end's key: the remote end for
 * the connecting socket, its own for the accepting one. */
static __always_inline void redir_server_ep(const struct tr_redir_key *k, bool active,
					    struct tr_redir_ep *ep)
{
	const __be32 *a = active ? k->raddr : k->laddr;

	__builtin_memset(ep, 0, sizeof(*ep));
	ep->addr[0] = a[0];
	ep->addr[1] = a[1];
	ep->addr[2] = a[2];
	ep->addr[3] = a[3];
	ep->port = active ? k->rport : k->lport;
	ep->family = k->family;
}

/* The node's switch (TR_REDIR_*); no entry reads as off. */
static __always_inline __u32 redir_mode(__u32 *bulk_bytes)
{
	__u32 zero = 0;
	const struct tr_redir_cfg *c = bpf_map_lookup_elem(&tr_redir_cfg, &zero);

	if (!c)
		return TR_REDIR_OFF;
	if (bulk_bytes)
		*bulk_bytes = c->bulk_bytes ? c->bulk_bytes : TR_REDIR_BULK_BYTES_DEFAULT;
	return c->mode;
}

#endif /* TR_BPF_REDIR_H */
