// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Same-node socket redirection (sk_msg on the sockhash tr_redir_sk).
 *
 * Runs for every write of a socket sockops put in tr_redir_sk (both ends
 * of an allowed connection between two workloads of this node) and moves
 * it straight into the peer socket's receive queue. Only when the peer is
 * not in the map (not yet accepted, or gone) does the write take the
 * normal path: nothing is lost, and this socket stays on the normal path
 * for good (a redirected write must never overtake TCP bytes still unread).
 *
 * Auto mode watches for bulk: when one end has written more than
 * bulk_bytes while the other wrote nothing, the server endpoint of the
 * connection is recorded in tr_redir_bulk, so that sockops leaves the next
 * connections to it on the normal path. This connection stays redirected
 * (see include/trestle/redir.h for why an open connection never changes
 * path).
 */
#include "lib/common.h"
#include "lib/stats.h"
#include "lib/redir.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&tr_stats, &idx);

	if (v)
		*v += n;
}

/* A bulk transfer on this connection: keep its server endpoint off
 * redirection for a while (auto mode), once per socket. */
static __always_inline void bulk_seen(struct tr_redir_sock *st, const struct tr_redir_key *self)
{
	struct tr_redir_bulk b = { .until_ns = bpf_ktime_get_ns() + TR_REDIR_BULK_HOLD_NS };
	struct tr_redir_ep ep;

	st->flags |= TR_RS_F_BULK;
	redir_server_ep(self, st->flags & TR_RS_F_ACTIVE, &ep);
	bpf_map_update_elem(&tr_redir_bulk, &ep, &b, BPF_ANY);
	stat_inc(TR_STAT_REDIR_BULK);
}

SEC("sk_msg")
int tr_redir_msg(struct sk_msg_md *msg)
{
	struct tr_redir_sock *st, *ps;
	struct tr_redir_key self, peer;
	__u32 lip6[4], rip6[4];
	__u32 bulk = 0;
	__u64 size = msg->size;
	__u16 lport = bpf_htons((__u16)msg->local_port);
	__u16 rport = (__u16)(msg->remote_port >> 16);

	lip6[0] = msg->local_ip6[0];
	lip6[1] = msg->local_ip6[1];
	lip6[2] = msg->local_ip6[2];
	lip6[3] = msg->local_ip6[3];
	rip6[0] = msg->remote_ip6[0];
	rip6[1] = msg->remote_ip6[1];
	rip6[2] = msg->remote_ip6[2];
	rip6[3] = msg->remote_ip6[3];
	if (redir_key_fill(&self, msg->family, msg->local_ip4, msg->remote_ip4, lip6, rip6,
			   lport, rport, 0, bpf_htonl(0xffff)))
		return SK_PASS;
	st = bpf_map_lookup_elem(&tr_redir_st, &self);
	if (!st || (st->flags & TR_RS_F_PASS))
		return SK_PASS;
	redir_key_fill(&peer, msg->family, msg->local_ip4, msg->remote_ip4, lip6, rip6,
		       lport, rport, 1, bpf_htonl(0xffff));
	ps = bpf_map_lookup_elem(&tr_redir_st, &peer);
	/* bpf_msg_redirect_hash is SK_DROP when the peer left the sockhash
	 * meanwhile (it closed): returning SK_PASS then takes the normal path */
	if (!ps || bpf_msg_redirect_hash(msg, &tr_redir_sk, &peer, BPF_F_INGRESS) != SK_PASS) {
		st->flags |= TR_RS_F_PASS;
		stat_inc(TR_STAT_REDIR_NO_PEER);
		return SK_PASS;
	}
	__sync_fetch_and_add(&ps->rcvd, size);
	ps->run = 0;
	st->sent += size;
	st->run += size;
	stat_add(TR_STAT_REDIR_BYTES, size);
	if (!(st->flags & TR_RS_F_BULK) && redir_mode(&bulk) == TR_REDIR_AUTO &&
	    st->run > bulk)
		bulk_seen(st, &self);
	return SK_PASS;
}
