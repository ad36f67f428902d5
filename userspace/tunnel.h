/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's mTLS tunnels (see include/trestle/tunnel.h for the kernel
 * side).
 *
 * Outbound (TR_TUN_OUTBOUND_PORT): a local workload's connection that the
 * connect hook steered here. The kernel's record (tr_tun_orig, keyed by the
 * workload socket's address and port) names the real destination and the
 * source workload. The agent opens TLS 1.3 to the destination node's agent
 * presenting the source workload's SVID, with SNI naming the destination
 * (and the source address), checks that the peer presents the identity the
 * destination Pod has, waits for the peer's verdict and relays.
 *
 * Inbound (TR_TUN_INBOUND_PORT): SNI picks the local destination workload,
 * whose SVID is presented; the client's SVID must chain to the bundle and
 * be of the trust domain; the claimed source address must belong to a Pod
 * with exactly that identity; then the authorization policy is applied
 * (the same maps the kernel uses), the workload is connected with
 * TR_MARK_AGENT, the verdict is sent, and bytes are relayed.
 *
 * After the handshake and the one-record verdict, the keys go to the kernel
 * (ktls.h) where it has kTLS, and the relay uses splice; otherwise OpenSSL
 * relays in userspace. One thread per tunnel.
 */
#ifndef TRESTLE_AGENT_TUNNEL_H
#define TRESTLE_AGENT_TUNNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "certstore.h"
#include "polmaps.h"
#include "svid.h"
#include "tundir.h"

struct tunnel_svc;

struct tunnel_config {
	struct certstore *certs;
	const struct tr_pol_fds *pol; /* authorization maps */
	int tun_orig_fd, tun_peer_fd;
	uint16_t outbound_port, inbound_port;
	bool ktls;                    /* use kTLS when the kernel has it */
};

enum tun_way { TUN_OUTBOUND = 0, TUN_INBOUND = 1 };
enum tun_path { TUN_PATH_USERSPACE = 0, TUN_PATH_KTLS = 1 };

/* Why a tunnel was refused besides a TLS failure (trestle_tunnel_refused_total). */
#define TUN_REFUSALS(X)                                                     \
	X(NO_ORIGINAL_DST, "no_original_destination")                     \
	X(UNKNOWN_DESTINATION, "unknown_destination")                      \
	X(NO_NODE_ADDRESS, "no_node_address")                              \
	X(PEER_UNREACHABLE, "peer_unreachable")                            \
	X(SOURCE_MISMATCH, "source_mismatch")                              \
	X(POLICY_DENIED, "policy_denied")                                  \
	X(WORKLOAD_UNREACHABLE, "workload_unreachable")                    \
	X(PEER_REFUSED, "peer_refused")

enum tun_refusal {
#define TUN_REFUSAL_ENUM(n, s) TUN_REF_##n,
	TUN_REFUSALS(TUN_REFUSAL_ENUM)
#undef TUN_REFUSAL_ENUM
	TUN_REF_MAX
};

const char *tun_refusal_name(enum tun_refusal r);

struct tunnel_stats {
	/* [direction][reason]: TR_TLS_OK counts successes */
	uint64_t handshakes[2][TR_TLS_REASON_MAX];
	uint64_t refused[2][TUN_REF_MAX];
	uint64_t connections[2][2]; /* [direction][path] opened */
	uint64_t active[2][2];
	uint64_t bytes_to_peer[2], bytes_to_workload[2];
};

struct tunnel_svc *tunnel_start(const struct tunnel_config *cfg, char *err, size_t len);
/* Take a new snapshot (ownership passes; the old one is released when its
 * last tunnel ends). */
void tunnel_set_dir(struct tunnel_svc *s, struct tun_dir *d);
void tunnel_stats(struct tunnel_svc *s, struct tunnel_stats *out);
/*
 * Live tunnels, one line each, fields separated by tabs: id, direction,
 * peer node, local identity, remote identity, source, destination,
 * destination port, TLS version, cipher, path, bytes to the peer, bytes
 * to the workload, age in seconds (TUNNEL_LIST_FIELDS).
 */
#define TUNNEL_LIST_FIELDS 14
void tunnel_list(struct tunnel_svc *s, FILE *out);
/* Stop listening, end every tunnel, wait for the threads. */
void tunnel_stop(struct tunnel_svc *s);

#endif /* TRESTLE_AGENT_TUNNEL_H */
