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
 */
#include "lib/common.h"
#include "lib/stats.h"
#include "lib/lb.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
				     bool mapped, __u32 stat)
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
	lb_revnat_save(bpf_get_socket_cookie(ctx), slot, &vip, TR_AF_INET,
		       vport, svc->svc_id);
	stat_inc(stat);
	stat_backend(slot->backend_id);
	return SYS_PROCEED;
}

static __always_inline int lb6_xlate(struct bpf_sock_addr *ctx, __u32 stat)
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
		return lb4_xlate(ctx, vip[3], true, stat);

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
	lb_revnat_save(bpf_get_socket_cookie(ctx), slot, vip, TR_AF_INET6,
		       vport, svc->svc_id);
	stat_inc(stat);
	stat_backend(slot->backend_id);
	return SYS_PROCEED;
}

/* Show the VIP instead of the backend (getpeername, recvmsg source). */
static __always_inline void lb4_revert(struct bpf_sock_addr *ctx, bool mapped)
{
	const struct tr_revnat *rev;
	__be32 addr[4] = {};

	addr[0] = mapped ? ctx->user_ip6[3] : ctx->user_ip4;
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

SEC("cgroup/connect4")
int tr_connect4(struct bpf_sock_addr *ctx)
{
	return lb4_xlate(ctx, ctx->user_ip4, false, TR_STAT_LB_CONNECT);
}

SEC("cgroup/connect6")
int tr_connect6(struct bpf_sock_addr *ctx)
{
	return lb6_xlate(ctx, TR_STAT_LB_CONNECT);
}

SEC("cgroup/sendmsg4")
int tr_sendmsg4(struct bpf_sock_addr *ctx)
{
	return lb4_xlate(ctx, ctx->user_ip4, false, TR_STAT_LB_SENDMSG);
}

SEC("cgroup/sendmsg6")
int tr_sendmsg6(struct bpf_sock_addr *ctx)
{
	return lb6_xlate(ctx, TR_STAT_LB_SENDMSG);
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
