// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle_tls_handshakes_total{direction,outcome,reason}
 * trestle_tunnel_refusals_total{direction,reason}
 * trestle_tunnel_connections_total{direction,path}
 * trestle_tunnels_active{direction,path}
 * trestle_tunnel_bytes_total{direction,flow}
 * Labels come from fixed lists (no peer or connection label): bounded.
 */
#include <stdatomic.h>

#include "metrics_tls.h"

static _Atomic(struct tunnel_svc *) tunnels;

void metrics_set_tunnels(struct tunnel_svc *s)
{
	atomic_store(&tunnels, s);
}

static const char *const ways[2] = { "outbound", "inbound" };
static const char *const paths[2] = { "userspace", "ktls" };

void metrics_render_tls(struct prom_buf *b)
{
	struct tunnel_svc *s = atomic_load(&tunnels);
	struct tunnel_stats st = {};

	if (s)
		tunnel_stats(s, &st);
	prom_family(b, "trestle_tls_handshakes_total", "counter",
		    "mTLS handshakes of the agent's tunnels by outcome and, for failures, reason");
	for (int w = 0; w < 2; w++)
		for (int r = 0; r < TR_TLS_REASON_MAX; r++) {
			struct prom_label l[3] = {
				{ "direction", ways[w] },
				{ "outcome", r == TR_TLS_OK ? "success" : "failure" },
				{ "reason", r == TR_TLS_OK ? "" : tr_tls_reason_name(r) },
			};

			if (r == TR_TLS_OK || st.handshakes[w][r])
				prom_sample_u64(b, "trestle_tls_handshakes_total", l, 3,
						st.handshakes[w][r]);
		}
	prom_family(b, "trestle_tunnel_refusals_total", "counter",
		    "tunnel connections refused after or besides the handshake, by reason");
	for (int w = 0; w < 2; w++)
		for (int r = 0; r < TUN_REF_MAX; r++) {
			struct prom_label l[2] = { { "direction", ways[w] },
						   { "reason", tun_refusal_name(r) } };

			if (st.refused[w][r])
				prom_sample_u64(b, "trestle_tunnel_refusals_total", l, 2,
						st.refused[w][r]);
		}
	prom_family(b, "trestle_tunnel_connections_total", "counter",
		    "tunneled connections opened, by the path their records take (ktls, userspace)");
	for (int w = 0; w < 2; w++)
		for (int p = 0; p < 2; p++) {
			struct prom_label l[2] = { { "direction", ways[w] }, { "path", paths[p] } };

			prom_sample_u64(b, "trestle_tunnel_connections_total", l, 2,
					st.connections[w][p]);
		}
	prom_family(b, "trestle_tunnels_active", "gauge", "tunneled connections open now");
	for (int w = 0; w < 2; w++)
		for (int p = 0; p < 2; p++) {
			struct prom_label l[2] = { { "direction", ways[w] }, { "path", paths[p] } };

			prom_sample_u64(b, "trestle_tunnels_active", l, 2, st.active[w][p]);
		}
	prom_family(b, "trestle_tunnel_bytes_total", "counter",
		    "plaintext bytes relayed by the tunnels, toward the peer node or the workload");
	for (int w = 0; w < 2; w++) {
		struct prom_label l[2] = { { "direction", ways[w] }, { "flow", "to_peer" } };

		prom_sample_u64(b, "trestle_tunnel_bytes_total", l, 2, st.bytes_to_peer[w]);
		l[1].value = "to_workload";
		prom_sample_u64(b, "trestle_tunnel_bytes_total", l, 2, st.bytes_to_workload[w]);
	}
}
