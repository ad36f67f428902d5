/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trestle ABI: identities and L4 authorization.
 *
 * The agent compiles every AuthorizationPolicy into classes: sources that
 * all policies treat alike share a source class (same principal, namespace
 * and ipBlocks membership), destinations selected by the same policies share
 * a destination class. A verdict is then at most three hash lookups,
 * whatever the number of policies and rules:
 *   (dst class, src class, port) -> (dst class, src class, 0) -> dst default.
 *
 * Policy state is versioned by epoch: the address and cgroup maps carry the
 * epoch in their keys and class ids are never reused across epochs, so the
 * agent writes a complete new epoch, flips tr_pol_cfg.epoch with one update,
 * and only then removes the old one. A program reads the epoch once and
 * sees one consistent policy.
 */
#ifndef TRESTLE_POLICY_H
#define TRESTLE_POLICY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* tr_pol_cfg: one element. */
struct tr_pol_cfg {
	__u32 epoch;  /* active epoch; 0 = no policy state: everything allowed */
	__u32 flags;  /* TR_POL_F_* */
};

#define TR_POL_F_LOG_ALLOW 0x1u /* also send allowed flows to the flow log */
#define TR_POL_F_XDP_DENY 0x2u  /* this epoch has early-deny entries (xdp.h): the
				 * uplink looks sources up only when set */

/* Address -> who. LPM key; prefixlen counts the 32 epoch bits too. */
struct tr_ip4_lpm_key {
	__u32 prefixlen; /* 32 + address prefix length */
	__u32 epoch;
	__be32 addr;
};

struct tr_ip6_lpm_key {
	__u32 prefixlen; /* 32 + address prefix length */
	__u32 epoch;
	__be32 addr[4];
};

/* tr_ipinfo.flags */
#define TR_IP_F_WORKLOAD 0x1u /* the address of a meshed workload (a Pod) */
#define TR_IP_F_LOCAL 0x2u    /* that workload runs on this node */

/* What an address (or a cgroup) is, for policy. */
struct tr_ipinfo {
	__u32 src_class; /* source class when it sends */
	__u32 dst_class; /* destination class when it receives; 0 = no policy */
	__u32 identity;  /* identity id (tr_id_info); 0 = none */
	__u32 workload;  /* workload id (tr_wl_info); 0 = not a workload */
	__u32 ifindex;   /* host-side device of a local workload, else 0 */
	__u32 flags;     /* TR_IP_F_* */
};

/* cgroup -> who (socket hooks). */
struct tr_cgroup_key {
	__u32 epoch;
	__u32 pad;
	__u64 cgroup_id;
};

/* Verdict key. port 0 = every port without an entry of its own. */
struct tr_pol_key {
	__u32 dst_class;
	__u32 src_class;
	__u16 port;  /* destination port, host order */
	__u16 pad;
};

/* tr_pol_verdict.action */
#define TR_ACT_ALLOW 1
#define TR_ACT_DENY 2

/* tr_pol_verdict.flags */
#define TR_VERD_F_AUDIT 0x1u   /* an AUDIT policy matched: log it */
#define TR_VERD_F_DEFAULT 0x2u /* no rule decided: the default applied */

#define TR_RULE_NONE 0xffffu

struct tr_pol_verdict {
	__u8 action;        /* TR_ACT_* */
	__u8 flags;         /* TR_VERD_F_* */
	__u16 rule;         /* rule index in the deciding policy, or TR_RULE_NONE */
	__u32 policy;       /* deciding policy id (tr_pol_info), 0 = default */
	__u32 audit_policy; /* AUDIT policy that matched, 0 = none */
	__u16 audit_rule;
	__u16 pad;
};

/* Where a flow event was decided. */
#define TR_HOOK_CONNECT 1
#define TR_HOOK_SENDMSG 2
#define TR_HOOK_TC_TO_WORKLOAD 3   /* tc on the way into a workload */
#define TR_HOOK_TC_FROM_WORKLOAD 4 /* tc on the way out of a workload */

/* Flow event, through the ring buffer tr_flow_rb. */
struct tr_flow_event {
	__u64 ts_ns;        /* bpf_ktime_get_boot_ns() */
	__be32 saddr[4];    /* IPv4 in [0] */
	__be32 daddr[4];
	__be16 sport;       /* 0 at connect time (not yet bound) */
	__be16 dport;
	__u8 family;        /* TR_AF_* */
	__u8 proto;         /* TR_PROTO_* */
	__u8 action;        /* TR_ACT_* */
	__u8 hook;          /* TR_HOOK_* */
	__s32 reason;       /* TR_REASON_* (0 for an allow) */
	__u32 src_identity;
	__u32 dst_identity;
	__u32 src_workload;
	__u32 dst_workload;
	__u32 policy;
	__u16 rule;
	__u16 flags;        /* TR_VERD_F_* */
	__u32 audit_policy;
	__u16 audit_rule;
	__u16 pad;
	__u32 ifindex;      /* tc hooks: the workload device it was seen on */
	__u64 cgroup_id;    /* socket hooks: the sender's cgroup */
};

/* Userspace-only descriptions, for the CLI and the flow log. */
#define TR_SPIFFE_LEN 192

struct tr_id_info {
	char spiffe[TR_SPIFFE_LEN]; /* spiffe://TD/ns/NS/sa/SA */
};

struct tr_wl_info {
	char ns[64];
	char name[64];     /* the Pod */
	char workload[64]; /* canonical workload name: label
			    * service.istio.io/canonical-name, app.kubernetes.io/name
			    * or app, else the Pod name (Istio's *_workload labels) */
	char node[64];
	__u32 identity;
	__u32 ifindex;   /* local workloads: host-side device */
	__u32 src_class; /* in the active epoch */
	__u32 dst_class; /* in the active epoch */
	__be32 addr4;    /* first IPv4 address, 0 if none */
	__be32 addr6[4]; /* first IPv6 address, zero if none */
};

/* tr_pol_info.action */
#define TR_POLICY_ALLOW 1
#define TR_POLICY_DENY 2
#define TR_POLICY_AUDIT 3

struct tr_pol_info {
	char ns[64];
	char name[64];
	__u8 action;     /* TR_POLICY_* */
	__u8 scope;      /* 0 workload selector, 1 namespace, 2 mesh-wide */
	__u16 n_rules;
	__u32 n_selected; /* workloads it selects */
	char selector[128]; /* "app=web,version=v1", "" = whole scope */
};

/* tr_pol_stat: per-CPU counters at policy id * TR_POL_STAT_N + TR_POL_STAT_* */
#define TR_POL_STAT_ALLOW 0
#define TR_POL_STAT_DENY 1
#define TR_POL_STAT_AUDIT 2
#define TR_POL_STAT_N 4

#endif /* TRESTLE_POLICY_H */
