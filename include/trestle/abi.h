/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trestle ABI: the structs that live in pinned BPF maps.
 *
 * Shared by the BPF programs, the agent, the CLI and the tests. Only types
 * and constants here. Every struct is naturally aligned with explicit
 * padding; a layout change means a new map name (see maps.h) and a bump of
 * TR_ABI_VERSION. tests/unit/test_abi.c asserts sizes and offsets.
 */
#ifndef TRESTLE_ABI_H
#define TRESTLE_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TR_META_MAGIC 0x54525354u /* "TRST" */
#define TR_ABI_VERSION 5u

/* Address families as stored in maps (the kernel's AF_INET / AF_INET6). */
#define TR_AF_INET 2
#define TR_AF_INET6 10

/* L4 protocols as stored in maps (IPPROTO_TCP / IPPROTO_UDP). */
#define TR_PROTO_TCP 6
#define TR_PROTO_UDP 17

/* Upper bound on the slots of one service's selection table. */
#define TR_MAX_SLOTS 4096u

/* String fields in informational (userspace-only) maps. */
#define TR_NAME_LEN 64
#define TR_SHORT_NAME_LEN 32

/* tr_meta: one element, written by the agent, read by everyone. */
struct tr_meta {
	__u32 magic;        /* TR_META_MAGIC */
	__u32 abi_version;  /* TR_ABI_VERSION of the agent that created the pins */
	__u64 generation;   /* configuration generation now applied (0 = none) */
	__u64 applied_ns;   /* CLOCK_REALTIME of the last apply, nanoseconds */
	__u32 next_table;   /* next free selection-table id */
	__u32 next_backend; /* next free backend id (ids start at 1) */
	__u32 services;     /* service ports applied */
	__u32 backends;     /* backends applied */
	__u64 config_hash;  /* FNV-1a of the applied compiled state */
	char run_dir[96];   /* agent's runtime directory (flow log, socket) */
};

/* Service key, IPv4: VIP, port and protocol. Zero it before filling. */
struct tr_lb4_key {
	__be32 addr;  /* service VIP */
	__be16 port;  /* service port */
	__u8 proto;   /* TR_PROTO_TCP or TR_PROTO_UDP */
	__u8 pad;
};

/* Service key, IPv6. Zero it before filling. */
struct tr_lb6_key {
	__be32 addr[4]; /* service VIP */
	__be16 port;    /* service port */
	__u8 proto;     /* TR_PROTO_TCP or TR_PROTO_UDP */
	__u8 pad;
};

/* Service flags. */
#define TR_SVC_F_NONE 0u

/*
 * Service value: which selection table a connect to this key uses.
 * Replacing this value is how a service changes atomically: the new table
 * is written completely under a fresh id first, then this value is swapped.
 */
struct tr_lb_svc {
	__u32 svc_id; /* index into tr_lb_svcinfo (names for the CLI) */
	__u32 table;  /* selection-table id in tr_lb_slot; 0 = no backends */
	__u32 slots;  /* number of slots in the table; 0 = no ready backend */
	__u32 flags;  /* TR_SVC_F_* */
};

/* Selection-table slot key. */
struct tr_lb_slot_key {
	__u32 table; /* tr_lb_svc.table */
	__u32 slot;  /* 0 .. slots-1 */
};

/*
 * Selection-table slot: a backend, inlined so a connect needs exactly two
 * lookups (service, slot). A backend of weight w appears in w slots.
 */
struct tr_lb_slot {
	__be32 addr[4];  /* backend address; IPv4 in addr[0] */
	__be16 port;     /* backend port */
	__u8 family;     /* TR_AF_INET or TR_AF_INET6 */
	__u8 pad;
	__u32 backend_id; /* index into tr_lb_be and tr_lb_bestat */
};

/* Backend state bits in tr_lb_backend.flags. */
#define TR_BE_F_READY 0x1u

/* Backend description, informational: written by the agent, read by the CLI. */
struct tr_lb_backend {
	__be32 addr[4];                  /* backend address; IPv4 in addr[0] */
	__be16 port;                     /* backend port */
	__u8 family;                     /* TR_AF_INET or TR_AF_INET6 */
	__u8 proto;                      /* TR_PROTO_* */
	__u32 svc_id;                    /* owning service port */
	__u32 flags;                     /* TR_BE_F_* */
	__u32 slots;                     /* slots it holds in its table */
	__u32 weight_ppm;                /* share of new connections, parts per million */
	__u32 pad;
	char subset[TR_SHORT_NAME_LEN];  /* DestinationRule subset, "" = none */
	char node[TR_NAME_LEN];          /* EndpointSlice nodeName */
	char zone[TR_SHORT_NAME_LEN];    /* EndpointSlice zone */
	char pod[TR_NAME_LEN];           /* pod name (targetRef or joined Pod) */
};

/* Service description, informational: written by the agent, read by the CLI. */
struct tr_lb_svcinfo {
	char ns[TR_NAME_LEN];              /* metadata.namespace */
	char name[TR_NAME_LEN];            /* metadata.name */
	char port_name[TR_SHORT_NAME_LEN]; /* ports[].name, "" if unnamed */
	__u16 port;                        /* ports[].port */
	__u8 proto;                        /* TR_PROTO_* */
	__u8 pad;
	__u32 pad2;
};

/* Reverse-translation key: a socket and the backend it was sent to. */
struct tr_revnat_key {
	__u64 cookie;    /* bpf_get_socket_cookie() */
	__be32 addr[4];  /* backend address; IPv4 in addr[0] */
	__be16 port;     /* backend port */
	__u8 family;     /* TR_AF_* */
	__u8 pad;
	__u32 pad2;
};

/* Reverse-translation value: what the application asked for. */
struct tr_revnat {
	__be32 addr[4];  /* service VIP; IPv4 in addr[0] */
	__be16 port;     /* service port */
	__u8 family;     /* TR_AF_* */
	__u8 pad;
	__u32 svc_id;
};

/*
 * Backend -> its service, for the accepting side of a connection (which
 * never saw the VIP): Istio's destination reporter names the service too.
 * A backend of several services maps to svc_id 0 (ambiguous: not named).
 */
struct tr_lb_rbe_key {
	__be32 addr[4]; /* backend address; IPv4 in [0] */
	__be16 port;    /* backend port */
	__u8 family;    /* TR_AF_* */
	__u8 proto;     /* TR_PROTO_* */
};

#endif /* TRESTLE_ABI_H */
