/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's control socket, RUN_DIR/trestled.sock (mode 0600): the CLI
 * asks for what only the agent knows, one request line per connection,
 * and gets tab-separated lines back:
 *   "tunnels\n"   live mTLS tunnels (tunnel_list)
 *   "certs\n"     the workload identities the agent holds and their state
 * Served by its own thread; a slow client times out after a second.
 */
#ifndef TRESTLE_CTL_H
#define TRESTLE_CTL_H

#include "certstore.h"
#include "tunnel.h"

#define CTL_SOCKET_NAME "trestled.sock"

struct ctl;

struct ctl *ctl_start(const char *run_dir, struct tunnel_svc *tunnels,
		      struct certstore *certs, char *err, size_t len);
void ctl_stop(struct ctl *c);

#endif /* TRESTLE_CTL_H */
