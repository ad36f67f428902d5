/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The mTLS tunnels' metric families (trestle_tls_*, trestle_tunnel_*). */
#ifndef TRESTLE_METRICS_TLS_H
#define TRESTLE_METRICS_TLS_H

#include "prom.h"
#include "tunnel.h"

/* Tunnels to report on (NULL: mTLS off; the families are still written,
 * with zero samples where the label set is fixed). */
void metrics_set_tunnels(struct tunnel_svc *s);
void metrics_render_tls(struct prom_buf *b);

#endif /* TRESTLE_METRICS_TLS_H */
