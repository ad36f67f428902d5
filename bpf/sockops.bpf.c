// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * L4 connection metrics (cgroup sockops).
 *
 * When a TCP connection of a workload becomes established, its two ends
 * are identified by address (tr_wl_addr gives the workload id of each),
 * the service it was opened through comes from the socket's state the
 * connect hook left (a VIP connect), and the connection is counted as
 * opened. When the socket reaches TCP_CLOSE it is counted as closed with
 * its byte counts, once. Both go through a per-CPU slot of tr_l4_ends
 * (lib/ends.h) that holds the answer and the counts for connections of
 * the same endpoints, folded into tr_l4_stat when the slot changes hands.
 * Counting happens per connection event, never per packet.
 *
 * It also hands connections steered to the agent for mTLS (tunnel.h) over:
 * at establishment, the real destination goes into tr_tun_orig under the
 * workload socket's own address and port, where the agent finds it.
 *
 * And it puts both ends of an allowed connection between two workloads of
 * this node into the redirection sockhash (redir.h, bpf/redir.bpf.c).
 */
#include "lib/common.h"
#include "lib/stats.h"
#include "lib/lb.h"
#include "lib/policy.h"
#include "lib/tunnel.h"
#include "lib/redir.h"
#include "lib/ends.h"

#include <trestle/metrics.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set before load (--no-l4-metrics): lets the cost of counting be measured. */
const volatile bool l4_metrics = true;

#define AF_INET 2
#define AF_INET6 10
/* TCP states (include/net/tcp_states.h) */
#define TCP_FIN_WAIT1 4
#define TCP_FIN_WAIT2 5
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
#define TCP_LAST_ACK 9
#define TCP_CLOSING 11

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TR_MAX_L4_STAT);
	__type(key, struct tr_l4_key);
	__type(value, struct tr_l4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tr_l4_stat SEC(".maps");


/* Workload id at an address (0: outside the mesh); *local: on this node. */
static __always_inline __u32 wl_of(__u32 family, const __u32 *ip6, __u32 ip4, bool *local)
{
	struct tr_wl_addr_key k = {};
	const struct tr_wl_addr *w;

	if (family == AF_INET) {
		k.addr[0] = ip4;
		k.family = TR_AF_INET;
	} else {
		k.addr[0] = ip6[0];
		k.addr[1] = ip6[1];
		k.addr[2] = ip6[2];
		k.addr[3] = ip6[3];
		k.family = TR_AF_INET6;
	}
	w = bpf_map_lookup_elem(&tr_wl_addr, &k);
	*local = w && (w->flags & TR_WLA_F_LOCAL);
	return w ? w->workload : 0;
}

/* The service a backend address and port belong to (0: none or several). */
static __always_inline __u32 svc_of_backend(__u32 family, const __u32 *ip6, __u32 ip4,
					    __be16 port)
{
	struct tr_lb_rbe_key rk = {};
	const __u32 *svc;

	if (family == AF_INET) {
		rk.addr[0] = ip4;
		rk.family = TR_AF_INET;
	} else {
		rk.addr[0] = ip6[0];
		rk.addr[1] = ip6[1];
		rk.addr[2] = ip6[2];
		rk.addr[3] = ip6[3];
		rk.family = TR_AF_INET6;
	}
	rk.port = port;
	rk.proto = TR_PROTO_TCP;
	svc = bpf_map_lookup_elem(&tr_lb_rbe, &rk);
	return svc ? *svc : 0;
}

static __always_inline void count(const struct tr_l4_key *key, __u64 opened,
				  __u64 closed, __u64 sent, __u64 received)
{
	struct tr_l4_val *v = bpf_map_lookup_elem(&tr_l4_stat, key);

	if (!v) {
		struct tr_l4_val zero = {};

		if (bpf_map_update_elem(&tr_l4_stat, key, &zero, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&tr_l4_stat, key)) {
			stat_inc(TR_STAT_L4_STAT_FULL);
			return;
		}
		v = bpf_map_lookup_elem(&tr_l4_stat, key);
		if (!v)
			return;
	}
	v->opened += opened;
	v->closed += closed;
	v->sent_bytes += sent;
	v->received_bytes += received;
}

/*
 * Where one end's counts go: the slot of tr_l4_ends it holds (taken: give
 * it back by counting), or tr_l4_stat under key (and dst when nkeys is 2).
 * both: the connection is between two workloads of this node.
 */
struct l4_target {
	struct tr_l4_ends_slot *slot;
	struct tr_l4_key key, dst;
	__u8 nkeys;
	bool both;
};

/* Move a slot's counts to tr_l4_stat under its keys (ends.h). */
static __always_inline void ends_fold(struct tr_l4_ends_slot *s)
{
	__u64 o = s->val.opened, c = s->val.closed;
	__u64 sent = s->val.sent_bytes, rcvd = s->val.received_bytes;

	if (!(o | c | sent | rcvd))
		return;
	count(&s->key[0], o, c, sent, rcvd);
	if (s->nkeys > 1)
		count(&s->key[1], o, c, sent, rcvd);
	__builtin_memset(&s->val, 0, sizeof(s->val));
	s->folds++;
}

/* Count one event of this end; gives a taken slot back. */
static __always_inline void target_count(struct l4_target *t, __u64 opened, __u64 closed,
					 __u64 sent, __u64 rcvd, __u32 stat)
{
	if (t->slot) {
		ends_count(t->slot, opened, closed, sent, rcvd);
		ends_put(t->slot);
	} else {
		count(&t->key, opened, closed, sent, rcvd);
		if (t->nkeys > 1)
			count(&t->dst, opened, closed, sent, rcvd);
	}
	stat_inc(stat);
	if (t->nkeys > 1)
		stat_inc(stat);
}

/*
 * This end's series: who talks to whom, through which service. For the
 * connecting end of a connection between two workloads of this node, the
 * destination series too (its accepting socket counts no opening). From
 * the socket's slot of tr_l4_ends when it holds them (ends.h), else from
 * the maps, and then the slot holds them (after a fold of what it held).
 */
static __always_inline bool l4_target_of(struct bpf_sock_ops *ctx, bool active,
					 const struct tr_sk *m, struct l4_target *t)
{
	__u32 fam = ctx->family;
	__u32 lip6[4] = {}, rip6[4] = {};
	__u32 lip4 = 0, rip4 = 0;
	__u32 local, remote, gen;
	bool local_here, remote_here, cacheable = true;
	__u8 security = TR_SECURITY_NONE;
	struct tr_l4_ends_slot *s = NULL;
	struct tr_l4_ends_q q;
	__be16 server_port;

	if (fam == AF_INET) {
		lip4 = ctx->local_ip4;
		rip4 = ctx->remote_ip4;
	} else if (fam == AF_INET6) {
		lip6[0] = ctx->local_ip6[0];
		lip6[1] = ctx->local_ip6[1];
		lip6[2] = ctx->local_ip6[2];
		lip6[3] = ctx->local_ip6[3];
		rip6[0] = ctx->remote_ip6[0];
		rip6[1] = ctx->remote_ip6[1];
		rip6[2] = ctx->remote_ip6[2];
		rip6[3] = ctx->remote_ip6[3];
		/* a dual-stack socket talking IPv4 (::ffff:a.b.c.d) */
		if (!lip6[0] && !lip6[1] && lip6[2] == bpf_htonl(0xffff)) {
			fam = AF_INET;
			lip4 = lip6[3];
			rip4 = rip6[3];
		}
	} else {
		return false;
	}
	server_port = active ? (__be16)(ctx->remote_port >> 16) : bpf_htons((__u16)ctx->local_port);
	__builtin_memset(t, 0, sizeof(*t)); /* key padding takes part in hashing */

	if (m && (m->flags & TR_SK_F_TUNNEL)) {
		/* the peer is the agent; the connection is to m's workload */
		local = wl_of(fam, lip6, lip4, &local_here);
		remote = m->dst_wl;
		remote_here = false;
		security = TR_SECURITY_MUTUAL_TLS;
		cacheable = false;
	} else {
		if (fam == AF_INET) {
			q.laddr[0] = lip4;
			q.laddr[1] = q.laddr[2] = q.laddr[3] = 0;
			q.raddr[0] = rip4;
			q.raddr[1] = q.raddr[2] = q.raddr[3] = 0;
		} else {
			q.laddr[0] = lip6[0];
			q.laddr[1] = lip6[1];
			q.laddr[2] = lip6[2];
			q.laddr[3] = lip6[3];
			q.raddr[0] = rip6[0];
			q.raddr[1] = rip6[1];
			q.raddr[2] = rip6[2];
			q.raddr[3] = rip6[3];
		}
		q.meta = (__u32)server_port | (fam == AF_INET ? TR_AF_INET : TR_AF_INET6) << 16 |
			 (active ? 1u : 0u) << 24;
		q.vip_svc = active && m && (m->flags & TR_SK_F_LB) ? m->svc_id : 0;
		/* the generation before the lookups: an answer from maps the
		 * agent changes meanwhile is stored under one already gone */
		gen = ENDS_ONCE(ends_gen);
		ENDS_BARRIER();
		s = ends_take(&q);
		if (s && ends_holds(s, &q, gen)) {
			t->slot = s;
			t->nkeys = s->nkeys;
			t->both = s->both;
			return true;
		}
		local = wl_of(fam, lip6, lip4, &local_here);
		remote = wl_of(fam, rip6, rip4, &remote_here);
	}
	if (!active && !remote && local) {
		/* the agent delivering a tunnel: its peer proved who it is (a
		 * per-connection answer: never in a slot) */
		struct tr_tun_peer_key pk = {};
		const struct tr_tun_peer *tp;

		pk.waddr[0] = fam == AF_INET ? lip4 : lip6[0];
		if (fam != AF_INET) {
			pk.waddr[1] = lip6[1];
			pk.waddr[2] = lip6[2];
			pk.waddr[3] = lip6[3];
		}
		pk.agent_port = (__be16)(ctx->remote_port >> 16);
		pk.family = fam == AF_INET ? TR_AF_INET : TR_AF_INET6;
		tp = bpf_map_lookup_elem(&tr_tun_peer, &pk);
		if (tp) {
			remote = tp->src_workload;
			security = TR_SECURITY_MUTUAL_TLS;
		}
		cacheable = false;
	}
	/* a local workload's connection to a local workload: both ends here */
	t->both = local && remote && local_here && remote_here;
	t->nkeys = 1;
	t->key.reporter = active ? TR_REPORTER_SOURCE : TR_REPORTER_DESTINATION;
	t->key.security = security;
	t->key.src_workload = active ? local : remote;
	t->key.dst_workload = active ? remote : local;
	if (active) {
		/* a VIP connect left its service in the socket's state */
		if (m && (m->flags & TR_SK_F_LB))
			t->key.svc_id = m->svc_id;
		if (t->both) {
			t->nkeys = 2;
			t->dst = t->key;
			t->dst.reporter = TR_REPORTER_DESTINATION;
			/* as the accepting end would name it: the VIP's service, or
			 * the one its address and port are a backend of */
			if (!t->dst.svc_id)
				t->dst.svc_id = svc_of_backend(fam, rip6, rip4, server_port);
		}
	} else {
		/* the accepting side never saw the VIP: the service its own
		 * address and port are a backend of */
		t->key.svc_id = svc_of_backend(fam, lip6, lip4, server_port);
	}
	if (s && cacheable) {
		ends_fold(s);
		s->gen = gen;
		s->q = q;
		s->key[0] = t->key;
		s->key[1] = t->dst;
		s->nkeys = t->nkeys;
		s->both = t->both;
		t->slot = s;
	} else if (s) {
		ends_put(s);
	}
	return true;
}

/* A connection steered to the agent is up: tell the agent what it is for,
 * under this socket's own address and port (what the agent's accept sees). */
static __always_inline void tun_handover(struct bpf_sock_ops *ctx, const struct tr_sk *m)
{
	struct tr_tun_key k = {};
	struct tr_tun_orig o = {};

	if (ctx->family == AF_INET) {
		k.addr[0] = ctx->local_ip4;
		k.family = TR_AF_INET;
	} else {
		k.addr[0] = ctx->local_ip6[0];
		k.addr[1] = ctx->local_ip6[1];
		k.addr[2] = ctx->local_ip6[2];
		k.addr[3] = ctx->local_ip6[3];
		k.family = TR_AF_INET6;
		if (!k.addr[0] && !k.addr[1] && k.addr[2] == bpf_htonl(0xffff)) {
			k.addr[0] = k.addr[3];
			k.addr[2] = k.addr[3] = 0;
			k.family = TR_AF_INET;
		}
	}
	k.port = bpf_htons((__u16)ctx->local_port);
	o.daddr[0] = m->orig[0];
	o.daddr[1] = m->orig[1];
	o.daddr[2] = m->orig[2];
	o.daddr[3] = m->orig[3];
	o.vip[0] = m->vip[0];
	o.vip[1] = m->vip[1];
	o.vip[2] = m->vip[2];
	o.vip[3] = m->vip[3];
	o.dport = m->oport;
	o.vport = m->vport;
	o.family = m->family;
	o.src_workload = m->src_wl;
	o.dst_workload = m->dst_wl;
	o.svc_id = m->svc_id;
	bpf_map_update_elem(&tr_tun_orig, &k, &o, BPF_ANY);
}

/* This socket's redirection key, or the one its peer filed itself under. */
static __always_inline int redir_key_of(struct bpf_sock_ops *ctx, struct tr_redir_key *k,
					bool peer)
{
	__u32 lip6[4], rip6[4];

	lip6[0] = ctx->local_ip6[0];
	lip6[1] = ctx->local_ip6[1];
	lip6[2] = ctx->local_ip6[2];
	lip6[3] = ctx->local_ip6[3];
	rip6[0] = ctx->remote_ip6[0];
	rip6[1] = ctx->remote_ip6[1];
	rip6[2] = ctx->remote_ip6[2];
	rip6[3] = ctx->remote_ip6[3];
	return redir_key_fill(k, ctx->family, ctx->local_ip4, ctx->remote_ip4, lip6, rip6,
			      bpf_htons((__u16)ctx->local_port),
			      (__u16)(ctx->remote_port >> 16), peer, bpf_htonl(0xffff));
}

/*
 * Put an established socket into the redirection map. The connecting end
 * enters when the connect hook marked its connection (allowed, both ends
 * local workloads, not steered); the accepting end only when its peer is
 * already there, which proves all of that for it too. MPTCP subflows stay
 * out (the kernel would refuse them: their ULP), and in auto mode
 * connections to a server endpoint recently seen carrying bulk (redir.h).
 * Returns the socket's state,
 * or NULL when it did not enter.
 */
static __always_inline struct tr_redir_sock *redir_enter(struct bpf_sock_ops *ctx, bool active)
{
	struct tr_redir_sock fresh = {}, *st;
	struct tr_redir_key key, peer;
	struct bpf_sock *sk = ctx->sk;

	if (!sk || redir_key_of(ctx, &key, false))
		return NULL;
	if (!active && (redir_key_of(ctx, &peer, true) ||
			!bpf_map_lookup_elem(&tr_redir_st, &peer)))
		return NULL;
	if (active && redir_mode(NULL) == TR_REDIR_AUTO) {
		/* auto: not to a server endpoint recently seen carrying bulk */
		const struct tr_redir_bulk *b;
		struct tr_redir_ep ep;

		redir_server_ep(&key, true, &ep);
		b = bpf_map_lookup_elem(&tr_redir_bulk, &ep);
		if (b && b->until_ns > bpf_ktime_get_ns()) {
			stat_inc(TR_STAT_REDIR_BULK_SKIP);
			return NULL;
		}
	}
	if (bpf_skc_to_mptcp_sock(sk)) {
		stat_inc(TR_STAT_REDIR_UNSUITABLE);
		return NULL;
	}
	/* the state first: sk_msg takes a socket without state as not ours */
	fresh.flags = active ? TR_RS_F_ACTIVE : 0;
	if (bpf_map_update_elem(&tr_redir_st, &key, &fresh, BPF_NOEXIST)) {
		stat_inc(TR_STAT_REDIR_UNSUITABLE);
		return NULL;
	}
	if (bpf_sock_hash_update(ctx, &tr_redir_sk, &key, BPF_NOEXIST)) {
		bpf_map_delete_elem(&tr_redir_st, &key);
		stat_inc(TR_STAT_REDIR_UNSUITABLE);
		return NULL;
	}
	st = bpf_map_lookup_elem(&tr_redir_st, &key);
	if (!st)
		return NULL;
	/* its TCP_CLOSE removes the state; RETRANS_CB marks the socket as
	 * redirected (as RTO_CB marks a counted one active), so that closing
	 * sockets that never were pay no lookup. Its callback is rare here:
	 * redirected data does not go through TCP. */
	bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG |
				       BPF_SOCK_OPS_RETRANS_CB_FLAG);
	if (!active)
		stat_inc(TR_STAT_REDIR_CONN); /* both ends are in: one connection */
	return st;
}

/*
 * A redirected socket closes: its state goes, and its redirected bytes
 * are returned for the L4 metrics. *redirected says it was one; then
 * *counted says whether sockops counted it at establishment.
 */
static __always_inline void redir_leave(struct bpf_sock_ops *ctx, bool *redirected,
					bool *counted, __u64 *sent, __u64 *rcvd)
{
	struct tr_redir_key key;
	struct tr_redir_sock *st;

	*redirected = false;
	if (redir_key_of(ctx, &key, false))
		return;
	st = bpf_map_lookup_elem(&tr_redir_st, &key);
	if (!st)
		return;
	*redirected = true;
	*counted = st->flags & TR_RS_F_COUNTED;
	*sent = st->sent;
	*rcvd = st->rcvd;
	bpf_map_delete_elem(&tr_redir_st, &key);
}

/*
 * Established: count it opened, and ask for the state change to TCP_CLOSE.
 * No per-socket state is added: the key is derived again at TCP_CLOSE,
 * when the addresses are still set. The connecting side is marked by also
 * asking for RTO callbacks (rare, and ignored), so the close knows which
 * end it is. A VIP connect's state (its service) lives as long as the socket.
 */
static __always_inline void on_established(struct bpf_sock_ops *ctx, bool active)
{
	struct tr_redir_sock *rs = NULL;
	struct tr_sk *m = NULL;
	struct l4_target t;

	if (active) {
		m = sk_state(ctx->sk, false);
		if (m && (m->flags & TR_SK_F_TUNNEL))
			tun_handover(ctx, m);
		if (m && (m->flags & TR_SK_F_REDIR) && redir_mode(NULL) != TR_REDIR_OFF)
			rs = redir_enter(ctx, true);
	} else if (redir_mode(NULL) != TR_REDIR_OFF) {
		rs = redir_enter(ctx, false);
	}
	if (!l4_metrics)
		return;
	if (!l4_target_of(ctx, active, m, &t))
		return;
	if (!active && t.both) {
		/* the connecting end, on this node too, counts it */
		if (t.slot)
			ends_put(t.slot);
		return;
	}
	if (rs)
		rs->flags |= TR_RS_F_COUNTED;
	target_count(&t, 1, 0, 0, 0, TR_STAT_L4_OPENED);
	bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG |
				       (active ? BPF_SOCK_OPS_RTO_CB_FLAG : 0));
}

/*
 * Which FINs had taken a sequence number when the socket reached TCP_CLOSE,
 * from the state it left: a socket enters TIME_WAIT (and ends with
 * TCP_CLOSE) from FIN_WAIT2 once the peer's FIN arrived, from FIN_WAIT1
 * when the peer's FIN acknowledged ours, from CLOSING once ours was
 * acknowledged; from LAST_ACK ours was acknowledged after the peer's; a
 * reset in CLOSE_WAIT leaves only the peer's; a reset while ESTABLISHED
 * leaves none. Deciding at TCP_CLOSE alone keeps every other state change
 * down to a compare.
 */
static __always_inline __u8 fins_at_close(__u32 old)
{
	switch (old) {
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		return TR_SK_FIN_RECEIVED | TR_SK_FIN_SENT_ACKED;
	case TCP_CLOSE_WAIT:
		return TR_SK_FIN_RECEIVED;
	default:
		return 0;
	}
}

static __always_inline void on_state(struct bpf_sock_ops *ctx)
{
	struct l4_target t;
	struct tr_sk *m;
	__u64 out, in, rsent = 0, rrcvd = 0;
	bool active, redirected, counted = false;
	__u8 fins;

	/* only sockets counted at establishment, or redirected, ask for state
	 * changes, and each reaches TCP_CLOSE once: counted exactly once */
	if (ctx->args[1] != TCP_CLOSE)
		return;
	redirected = false;
	if (ctx->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_RETRANS_CB_FLAG)
		redir_leave(ctx, &redirected, &counted, &rsent, &rrcvd);
	if (redirected && !counted)
		return;
	active = ctx->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_RTO_CB_FLAG;
	m = active ? sk_state(ctx->sk, false) : NULL;
	if (!l4_target_of(ctx, active, m, &t))
		return;
	fins = fins_at_close(ctx->args[0]);
	/*
	 * Payload bytes: bytes_acked counts the sequence space the peer
	 * acknowledged (the client's SYN, which the kernel counts on the
	 * connecting side only, and our FIN), bytes_received what arrived
	 * (with the peer's FIN).
	 */
	out = ctx->bytes_acked;
	in = ctx->bytes_received;
	if (active && out)
		out--; /* our SYN */
	if ((fins & TR_SK_FIN_SENT_ACKED) && out)
		out--;
	if ((fins & TR_SK_FIN_RECEIVED) && in)
		in--;
	/* what went socket to socket never touched TCP's counters */
	out += rsent;
	in += rrcvd;
	/* the connecting end: response in, request out (for both ends'
	 * series when the accepting end is here too) */
	if (active)
		target_count(&t, 0, 1, in, out, TR_STAT_L4_CLOSED);
	else
		target_count(&t, 0, 1, out, in, TR_STAT_L4_CLOSED);
}

SEC("sockops")
int tr_sockops(struct bpf_sock_ops *ctx)
{
	switch (ctx->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		on_established(ctx, true);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		on_established(ctx, false);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		on_state(ctx);
		break;
	}
	return 1;
}
