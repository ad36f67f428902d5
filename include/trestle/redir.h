/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trestle ABI: same-node socket redirection.
 *
 * When both ends of a TCP connection are meshed workloads of this node and
 * the connect hook allowed the connection (and did not steer it into an
 * mTLS tunnel), sockops puts each end in the sockhash tr_redir_sk, keyed by
 * the 4-tuple as that socket sees it (local first). The sk_msg program on
 * that map sends what one end writes straight into the other end's receive
 * queue (bpf_msg_redirect_hash to the key with local and remote swapped):
 * no TCP segments, no veth, no routing.
 *
 * A socket stays on the path it started on for its whole life. The kernel
 * gives no safe way to move an open connection: a socket taken out of the
 * sockhash loses the data queued in it, and a socket left in it whose
 * writes are passed to TCP goes through the sk_msg send path (a copy per
 * write, no coalescing: slower than plain TCP), and its blocking reads may
 * return EAGAIN on a wake-up that brought no data (tcp_bpf_recvmsg).
 * The same kernel function makes a blocking read of a redirected socket
 * fail with EAGAIN when a wake-up brings no data (the ACK of our own FIN
 * after shutdown(SHUT_WR), send-buffer space): programs on non-blocking
 * sockets (event loops: nginx, Envoy, Go, Java NIO, Node) retry, programs
 * blocking in read() see an error. That is why the switch is off by
 * default.
 *
 * So a write whose peer is not (yet) in the map takes the normal path, and
 * that socket then never redirects (the redirected bytes would overtake
 * TCP bytes not yet read); this is rare (the accepting end enters before
 * the connecting end can write).
 *
 * tr_redir_cfg[0].mode is the node's switch; BPF reads it when a
 * connection is established, so changing it needs no program reload and
 * applies to new connections:
 *   off   (default) no connection is redirected
 *   on    every eligible connection is redirected
 *   auto  like on, except to a server endpoint (address, port)
 *         recently seen carrying a bulk transfer: one end wrote more than
 *         bulk_bytes while the other wrote nothing. The sk_msg program
 *         records such an endpoint in tr_redir_bulk for
 *         TR_REDIR_BULK_HOLD_NS; connections to it meanwhile take the normal
 *         path from the start (bulk is faster through TCP's segmentation
 *         offloads and batching than per-write redirection; README). The
 *         connection that showed it stays redirected.
 */
#ifndef TRESTLE_REDIR_H
#define TRESTLE_REDIR_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TR_REDIR_OFF 0
#define TR_REDIR_ON 1
#define TR_REDIR_AUTO 2

/* auto: bytes one end may send in a row (the peer sending nothing) */
#define TR_REDIR_BULK_BYTES_DEFAULT (256u * 1024u)
/* auto: how long a server endpoint seen carrying bulk stays off redirection */
#define TR_REDIR_BULK_HOLD_NS (60ull * 1000000000ull)

/* tr_redir_cfg[0]: written by the agent at start (--redirect) */
struct tr_redir_cfg {
	__u32 mode;       /* TR_REDIR_* */
	__u32 bulk_bytes; /* auto: see above; 0 = TR_REDIR_BULK_BYTES_DEFAULT */
};

/*
 * A socket as it sees itself. Zero it before filling. An IPv4 connection
 * of a dual-stack IPv6 socket (::ffff:a.b.c.d) is keyed as IPv4, so both
 * ends agree whatever their socket families.
 */
struct tr_redir_key {
	__be32 laddr[4]; /* local address; IPv4 in [0] */
	__be32 raddr[4]; /* remote address; IPv4 in [0] */
	__be16 lport;    /* local port */
	__be16 rport;    /* remote port */
	__u8 family;     /* TR_AF_* */
	__u8 pad[3];
};

/* tr_redir_sock.flags */
#define TR_RS_F_PASS 0x1   /* this socket's writes take the normal path, for good */
#define TR_RS_F_ACTIVE 0x2 /* the connecting end */
#define TR_RS_F_BULK 0x4   /* the auto rule saw this end write a bulk transfer */
#define TR_RS_F_COUNTED 0x8 /* sockops counts this end's close (L4 metrics) */

/*
 * Per-socket state (hash tr_redir_st, same key as tr_redir_sk), created by
 * sockops just before the socket enters tr_redir_sk and removed at its
 * TCP_CLOSE. The byte counts let sockops count the connection's payload at
 * close like any other (TCP's own counters never see redirected bytes).
 */
struct tr_redir_sock {
	__u64 sent;  /* bytes this socket wrote that were redirected */
	__u64 rcvd;  /* bytes the peer redirected into this socket */
	__u64 run;   /* bytes written since the peer last wrote (auto rule) */
	__u32 flags; /* TR_RS_F_* */
	__u32 pad;
};

/* tr_redir_bulk (LRU): a server endpoint seen carrying bulk. Zero it. */
struct tr_redir_ep {
	__be32 addr[4]; /* the accepting end's address; IPv4 in [0] */
	__be16 port;    /* its port */
	__u8 family;    /* TR_AF_* */
	__u8 pad;
};

struct tr_redir_bulk {
	__u64 until_ns; /* bpf_ktime_get_ns() after which it is forgotten */
};

#endif /* TRESTLE_REDIR_H */
