// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket-level service load balancing (cgroup sock_addr hooks).
 *
 * A connect() or sendmsg() to a service VIP:port is rewritten to one ready
 * backend, once, before the kernel routes anything: there is no per-packet
 * NAT. getpeername() and recvmsg() translate the backend back to the VIP so
 * the application sees the address it asked for. Addresses that are not
 * VIPs pass untouched. A VIP with no ready backend refuses the connect with
 * ECONNREFUSED, as a closed port would.
 *
 * After translation, the connect (or UDP send) is authorized: the source is
 * the workload that owns the socket's cgroup, the destination the workload
 * at the (translated) address, so connecting to a backend's address
 * directly is checked exactly like connecting through the VIP. A denied
 * connect fails with EPERM and no packet leaves.
 *
 * Last, a TCP connect to a workload on another node that takes mTLS is
 * steered to this node's agent (tunnel.h), which encrypts it; the
 * workload still sees the address it asked for (getpeername).
 *
 * An allowed TCP connect from one workload of this node to another is
 * marked for same-node redirection instead (redir.h): sockops then lets
 * both ends' data bypass TCP/IP.
 */
#include "lib/common.h"
#include "lib/stats.h"
#include "lib/lb.h"
#include "lib/policy.h"
#include "lib/tunnel.h"
#include "lib/redir.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Depth of the agent's --cgroup below the cgroup2 root, set before load:
 * workload cgroups are the few levels below it, so only those ancestors of
 * a task's cgroup are looked up.
 */
const volatile __u32 cgroup_base_level = 0;
#define WORKLOAD_CGROUP_DEPTH 4 /* e.g. kubepods/burstable/pod<uid>/<container> */

/* ::ffff:a.b.c.d, the IPv4-mapped IPv6 form a dual-stack socket uses. */
static __always_inline bool ip6_is_v4mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0x0000ffff);
}

/* Refuse a connect or send: the syscall fails with ECONNREFUSED. */
static __always_inline int refuse(enum tr_reason reason)
{
	stat_reason(reason);
	bpf_set_retval(-ECONNREFUSED);
	return SYS_REJECT;
}

/*
 * Translate ctx's IPv4 destination if it is a VIP. 'mapped' says the socket
 * is IPv6 and the address came as ::ffff:VIP, so the backend must be written
 * back in that form. Returns the sock_addr verdict.
 */
static __always_inline int lb4_xlate(struct bpf_sock_addr *ctx, __be32 vip,
				     bool mapped, __u32 stat, bool connect)
{
	struct tr_lb4_key key = {};
	const struct tr_lb_svc *svc;
	const struct tr_lb_slot *slot;
	__be16 vport = (__be16)ctx->user_port;

	key.addr = vip;
	key.port = vport;
	key.proto = (__u8)ctx->protocol;
	svc = bpf_map_lookup_elem(&tr_lb4_svc, &key);
	if (!svc)
		return SYS_PROCEED;
	if (!svc->slots)
		return refuse(TR_REASON_NO_BACKEND);
	slot = lb_select(svc);
	if (!slot)
		return refuse(TR_REASON_SLOT_MISSING);
	if (slot->family != TR_AF_INET)
		return refuse(TR_REASON_BAD_FAMILY);

	if (mapped)
		ctx->user_ip6[3] = slot->addr[0];
	else
		ctx->user_ip4 = slot->addr[0];
	ctx->user_port = slot->port;
	if (connect)
		lb_sk_save(ctx, slot, &vip, TR_AF_INET, vport, svc->svc_id);
	else
		lb_revnat_save(bpf_get_socket_cookie(ctx), slot, &vip, TR_AF_INET,
			       vport, svc->svc_id);
	stat_inc(stat);
	stat_backend(slot->backend_id);
	return SYS_PROCEED;
}

static __always_inline int lb6_xlate(struct bpf_sock_addr *ctx, __u32 stat, bool connect)
{
	struct tr_lb6_key key = {};
	const struct tr_lb_svc *svc;
	const struct tr_lb_slot *slot;
	__be16 vport = (__be16)ctx->user_port;
	__be32 vip[4];

	vip[0] = ctx->user_ip6[0];
	vip[1] = ctx->user_ip6[1];
	vip[2] = ctx->user_ip6[2];
	vip[3] = ctx->user_ip6[3];
	if (ip6_is_v4mapped(vip))
		return lb4_xlate(ctx, vip[3], true, stat, connect);

	key.addr[0] = vip[0];
	key.addr[1] = vip[1];
	key.addr[2] = vip[2];
	key.addr[3] = vip[3];
	key.port = vport;
	key.proto = (__u8)ctx->protocol;
	svc = bpf_map_lookup_elem(&tr_lb6_svc, &key);
	if (!svc)
		return SYS_PROCEED;
	if (!svc->slots)
		return refuse(TR_REASON_NO_BACKEND);
	slot = lb_select(svc);
	if (!slot)
		return refuse(TR_REASON_SLOT_MISSING);
	if (slot->family != TR_AF_INET6)
		return refuse(TR_REASON_BAD_FAMILY);

	ctx->user_ip6[0] = slot->addr[0];
	ctx->user_ip6[1] = slot->addr[1];
	ctx->user_ip6[2] = slot->addr[2];
	ctx->user_ip6[3] = slot->addr[3];
	ctx->user_port = slot->port;
	if (connect)
		lb_sk_save(ctx, slot, vip, TR_AF_INET6, vport, svc->svc_id);
	else
		lb_revnat_save(bpf_get_socket_cookie(ctx), slot, vip, TR_AF_INET6,
			       vport, svc->svc_id);
	stat_inc(stat);
	stat_backend(slot->backend_id);
	return SYS_PROCEED;
}

/* The socket's own record, if it connected to this backend. */
static __always_inline const struct tr_sk *sk_rev(struct bpf_sock_addr *ctx,
						  const __be32 *addr, __u8 family)
{
	const struct tr_sk *m = sk_state(ctx->sk, false);

	if (!m || !(m->flags & TR_SK_F_LB) || m->family != family ||
	    m->bport != (__be16)ctx->user_port || m->backend[0] != addr[0])
		return NULL;
	if (family == TR_AF_INET6 && (m->backend[1] != addr[1] ||
				      m->backend[2] != addr[2] ||
				      m->backend[3] != addr[3]))
		return NULL;
	return m;
}

/* Show the VIP instead of the backend (getpeername, recvmsg source). */
static __always_inline void lb4_revert(struct bpf_sock_addr *ctx, bool mapped)
{
	const struct tr_revnat *rev;
	const struct tr_sk *m;
	__be32 addr[4] = {};

	addr[0] = mapped ? ctx->user_ip6[3] : ctx->user_ip4;
	m = sk_rev(ctx, addr, TR_AF_INET);
	if (m) {
		if (mapped)
			ctx->user_ip6[3] = m->vip[0];
		else
			ctx->user_ip4 = m->vip[0];
		ctx->user_port = m->vport;
		stat_inc(TR_STAT_LB_REVNAT);
		return;
	}
	rev = lb_revnat_find(bpf_get_socket_cookie(ctx), addr, TR_AF_INET,
			     (__be16)ctx->user_port);
	if (!rev || rev->family != TR_AF_INET)
		return;
	if (mapped)
		ctx->user_ip6[3] = rev->addr[0];
	else
		ctx->user_ip4 = rev->addr[0];
	ctx->user_port = rev->port;
	stat_inc(TR_STAT_LB_REVNAT);
}

static __always_inline void lb6_revert(struct bpf_sock_addr *ctx)
{
	const struct tr_revnat *rev;
	__be32 addr[4];

	addr[0] = ctx->user_ip6[0];
	addr[1] = ctx->user_ip6[1];
	addr[2] = ctx->user_ip6[2];
	addr[3] = ctx->user_ip6[3];
	if (ip6_is_v4mapped(addr)) {
		lb4_revert(ctx, true);
		return;
	}
	{
		const struct tr_sk *m = sk_rev(ctx, addr, TR_AF_INET6);

		if (m) {
			ctx->user_ip6[0] = m->vip[0];
			ctx->user_ip6[1] = m->vip[1];
			ctx->user_ip6[2] = m->vip[2];
			ctx->user_ip6[3] = m->vip[3];
			ctx->user_port = m->vport;
			stat_inc(TR_STAT_LB_REVNAT);
			return;
		}
	}
	rev = lb_revnat_find(bpf_get_socket_cookie(ctx), addr, TR_AF_INET6,
			     (__be16)ctx->user_port);
	if (!rev || rev->family != TR_AF_INET6)
		return;
	ctx->user_ip6[0] = rev->addr[0];
	ctx->user_ip6[1] = rev->addr[1];
	ctx->user_ip6[2] = rev->addr[2];
	ctx->user_ip6[3] = rev->addr[3];
	ctx->user_port = rev->port;
	stat_inc(TR_STAT_LB_REVNAT);
}

/* The workload the current task belongs to: its cgroup or an ancestor. */
static __always_inline const struct tr_ipinfo *pol_self(const struct pol_ctx *pc,
						       __u64 *cgid)
{
	struct tr_cgroup_key k = {};
	const struct tr_ipinfo *hit = NULL;

	k.epoch = pc->epoch;
	k.cgroup_id = bpf_get_current_cgroup_id();
	*cgid = k.cgroup_id;
	hit = bpf_map_lookup_elem(&tr_cgroup, &k);
	if (hit)
		return hit;
	/* a container cgroup below the pod's: the deepest registered ancestor
	 * among the few levels below the agent's cgroup */
	for (int i = 1; i <= WORKLOAD_CGROUP_DEPTH; i++) {
		const struct tr_ipinfo *v;

		k.cgroup_id = bpf_get_current_ancestor_cgroup_id(cgroup_base_level + i);
		if (!k.cgroup_id || k.cgroup_id == *cgid)
			break;
		v = bpf_map_lookup_elem(&tr_cgroup, &k);
		if (v)
			hit = v;
	}
	return hit;
}

/*
 * Authorize a connect/send from this task to daddr:dport (network order;
 * daddr[0] for IPv4). Sources outside the mesh (no workload cgroup) are
 * not checked here: tc checks them at the destination. Returns the verdict
 * for the hook.
 */
/* Who a connect is from and to, for the steering after the verdict. */
struct sock_who {
	const struct tr_ipinfo *src; /* NULL: not a workload (or no policy state) */
	const struct tr_ipinfo *dst;
};

static __always_inline int pol_sock(struct bpf_sock_addr *ctx, const __be32 *daddr,
				    __u8 family, __be16 dport, __u8 hook,
				    struct sock_who *who)
{
	const struct tr_ipinfo *src, *dst;
	struct pol_decision d;
	struct tr_flow_event *e;
	struct pol_ctx pc;
	__u64 cgid = 0;

	who->src = NULL;
	who->dst = NULL;
	if (!pol_begin(&pc))
		return SYS_PROCEED;
	src = pol_self(&pc, &cgid);
	if (!src)
		return SYS_PROCEED;
	dst = family == TR_AF_INET ? pol_ip4(&pc, daddr[0]) : pol_ip6(&pc, daddr);
	who->src = src;
	who->dst = dst;
	if (!dst || !dst->dst_class)
		return SYS_PROCEED; /* no policy selects the destination */

	pol_decide(pol_verdict(dst->dst_class, src->src_class, bpf_ntohs(dport)), &d);
	if (pol_logged(&pc, &d)) {
		e = pol_event_start();
		if (e) {
			pol_event_fill(e, &d, src, dst, hook);
			e->family = family;
			e->proto = (__u8)ctx->protocol;
			e->daddr[0] = daddr[0];
			if (family == TR_AF_INET6) {
				e->daddr[1] = daddr[1];
				e->daddr[2] = daddr[2];
				e->daddr[3] = daddr[3];
			}
			e->dport = dport;
			e->cgroup_id = cgid;
			bpf_ringbuf_submit(e, 0);
		}
	}
	/* a plain 0 makes the syscall fail with EPERM */
	return d.action == TR_ACT_ALLOW ? SYS_PROCEED : SYS_REJECT;
}

static __always_inline int pol_sock4(struct bpf_sock_addr *ctx, __u8 hook,
				     struct sock_who *who)
{
	__be32 daddr[4] = { ctx->user_ip4 };

	return pol_sock(ctx, daddr, TR_AF_INET, (__be16)ctx->user_port, hook, who);
}

static __always_inline int pol_sock6(struct bpf_sock_addr *ctx, __u8 hook,
				     struct sock_who *who)
{
	__be32 daddr[4];

	daddr[0] = ctx->user_ip6[0];
	daddr[1] = ctx->user_ip6[1];
	daddr[2] = ctx->user_ip6[2];
	daddr[3] = ctx->user_ip6[3];
	if (ip6_is_v4mapped(daddr)) {
		daddr[0] = daddr[3];
		return pol_sock(ctx, daddr, TR_AF_INET, (__be16)ctx->user_port, hook, who);
	}
	return pol_sock(ctx, daddr, TR_AF_INET6, (__be16)ctx->user_port, hook, who);
}

/*
 * Steer an authorized TCP connect to the agent when its destination is a
 * workload on another node whose port takes mTLS. The socket's entry keeps
 * the real destination for sockops (which hands it to the agent) and the
 * address the application asked for, shown by getpeername as for a VIP.
 */
static __always_inline int tun_steer(struct bpf_sock_addr *ctx, const struct sock_who *who,
				     bool v6)
{
	const struct tr_tun_cfg *cfg;
	struct tr_sk *m;
	__be32 dst[4] = {};
	__be16 dport = (__be16)ctx->user_port;
	bool mapped = false;
	__u8 family = TR_AF_INET;

	if (ctx->protocol != IPPROTO_TCP || !who->src || !who->dst ||
	    (who->dst->flags & (TR_IP_F_WORKLOAD | TR_IP_F_LOCAL)) != TR_IP_F_WORKLOAD)
		return SYS_PROCEED;
	cfg = tun_cfg();
	if (!cfg || ((cfg->flags & TR_TUN_F_ANY_DISABLE) &&
		     tun_mode(who->dst->workload, bpf_ntohs(dport)) == TR_MTLS_DISABLE))
		return SYS_PROCEED;
	if (v6) {
		dst[0] = ctx->user_ip6[0];
		dst[1] = ctx->user_ip6[1];
		dst[2] = ctx->user_ip6[2];
		dst[3] = ctx->user_ip6[3];
		mapped = ip6_is_v4mapped(dst);
		if (mapped) {
			dst[0] = dst[3];
			dst[1] = dst[2] = dst[3] = 0;
		} else {
			family = TR_AF_INET6;
		}
	} else {
		dst[0] = ctx->user_ip4;
	}
	/* never in clear: no agent address of the family, no connection */
	if (family == TR_AF_INET ? !cfg->node4
				 : !(cfg->node6[0] | cfg->node6[1] | cfg->node6[2] | cfg->node6[3]))
		return refuse(TR_REASON_TUNNEL_UNAVAILABLE);

	m = sk_state(ctx->sk, true);
	if (!m) {
		stat_inc(TR_STAT_SK_FULL);
		return refuse(TR_REASON_TUNNEL_UNAVAILABLE);
	}
	if (!(m->flags & TR_SK_F_LB)) {
		/* a direct connect: the application asked for the backend */
		__builtin_memset(m, 0, sizeof(*m));
		m->vip[0] = dst[0];
		m->vip[1] = dst[1];
		m->vip[2] = dst[2];
		m->vip[3] = dst[3];
		m->vport = dport;
		m->family = family;
		m->flags = TR_SK_F_LB;
	}
	m->orig[0] = dst[0];
	m->orig[1] = dst[1];
	m->orig[2] = dst[2];
	m->orig[3] = dst[3];
	m->oport = dport;
	m->src_wl = who->src->workload;
	m->dst_wl = who->dst->workload;
	m->flags |= TR_SK_F_TUNNEL;
	m->bport = bpf_htons(TR_TUN_OUTBOUND_PORT);
	if (family == TR_AF_INET) {
		m->backend[0] = cfg->node4;
		if (mapped)
			ctx->user_ip6[3] = cfg->node4;
		else
			ctx->user_ip4 = cfg->node4;
	} else {
		m->backend[0] = cfg->node6[0];
		m->backend[1] = cfg->node6[1];
		m->backend[2] = cfg->node6[2];
		m->backend[3] = cfg->node6[3];
		ctx->user_ip6[0] = cfg->node6[0];
		ctx->user_ip6[1] = cfg->node6[1];
		ctx->user_ip6[2] = cfg->node6[2];
		ctx->user_ip6[3] = cfg->node6[3];
	}
	ctx->user_port = bpf_htons(TR_TUN_OUTBOUND_PORT);
	stat_inc(TR_STAT_TUN_STEERED);
	return SYS_PROCEED;
}

/*
 * The connect was allowed (policy said allow, or no policy selects the
 * destination) from a workload to a workload of this node: mark the
 * socket's entry so sockops may redirect it. Never for a tunnel (those go
 * to another node's workload, and tun_steer skips local ones).
 */
static __always_inline int redir_mark(struct bpf_sock_addr *ctx, const struct sock_who *who)
{
	struct tr_sk *m;

	if (ctx->protocol != IPPROTO_TCP || !who->src || !who->dst ||
	    (who->dst->flags & (TR_IP_F_WORKLOAD | TR_IP_F_LOCAL)) !=
		    (TR_IP_F_WORKLOAD | TR_IP_F_LOCAL) ||
	    redir_mode(NULL) == TR_REDIR_OFF)
		return SYS_PROCEED;
	m = sk_state(ctx->sk, true);
	if (m)
		m->flags |= TR_SK_F_REDIR;
	else
		stat_inc(TR_STAT_SK_FULL); /* not redirected, nothing else lost */
	return SYS_PROCEED;
}

SEC("cgroup/connect4")
int tr_connect4(struct bpf_sock_addr *ctx)
{
	struct sock_who who;

	if (lb4_xlate(ctx, ctx->user_ip4, false, TR_STAT_LB_CONNECT, true) != SYS_PROCEED)
		return SYS_REJECT;
	if (pol_sock4(ctx, TR_HOOK_CONNECT, &who) != SYS_PROCEED)
		return SYS_REJECT;
	if (tun_steer(ctx, &who, false) != SYS_PROCEED)
		return SYS_REJECT;
	return redir_mark(ctx, &who);
}

SEC("cgroup/connect6")
int tr_connect6(struct bpf_sock_addr *ctx)
{
	struct sock_who who;

	if (lb6_xlate(ctx, TR_STAT_LB_CONNECT, true) != SYS_PROCEED)
		return SYS_REJECT;
	if (pol_sock6(ctx, TR_HOOK_CONNECT, &who) != SYS_PROCEED)
		return SYS_REJECT;
	if (tun_steer(ctx, &who, true) != SYS_PROCEED)
		return SYS_REJECT;
	return redir_mark(ctx, &who);
}

SEC("cgroup/sendmsg4")
int tr_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct sock_who who;

	if (lb4_xlate(ctx, ctx->user_ip4, false, TR_STAT_LB_SENDMSG, false) != SYS_PROCEED)
		return SYS_REJECT;
	return pol_sock4(ctx, TR_HOOK_SENDMSG, &who);
}

SEC("cgroup/sendmsg6")
int tr_sendmsg6(struct bpf_sock_addr *ctx)
{
	struct sock_who who;

	if (lb6_xlate(ctx, TR_STAT_LB_SENDMSG, false) != SYS_PROCEED)
		return SYS_REJECT;
	return pol_sock6(ctx, TR_HOOK_SENDMSG, &who);
}

SEC("cgroup/recvmsg4")
int tr_recvmsg4(struct bpf_sock_addr *ctx)
{
	lb4_revert(ctx, false);
	return SYS_PROCEED;
}

SEC("cgroup/recvmsg6")
int tr_recvmsg6(struct bpf_sock_addr *ctx)
{
	lb6_revert(ctx);
	return SYS_PROCEED;
}

SEC("cgroup/getpeername4")
int tr_getpeername4(struct bpf_sock_addr *ctx)
{
	lb4_revert(ctx, false);
	return SYS_PROCEED;
}

SEC("cgroup/getpeername6")
int tr_getpeername6(struct bpf_sock_addr *ctx)
{
	lb6_revert(ctx);
	return SYS_PROCEED;
}
