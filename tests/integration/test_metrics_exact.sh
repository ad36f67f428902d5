#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Istio's TCP metrics are exact: N connections of B request bytes each (and
# "NAME\n" + B echoed back) show up as exactly N opened, N closed, N*B
# received and N*(B+len(NAME\n)) sent bytes, once with reporter="source" on
# the client's node and once with reporter="destination" on the server's
# node: across nodes (client on n1 -> service db = b3 on n2) and on one
# node (client -> service solo = b1, both on n1). Labels name the workloads,
# their principals and the service.
source "$(dirname "$0")/lib.sh"

N=37       # connections
B=1000     # request bytes per connection (tr-client --send)

declare -A M_ADDR=([n1]=10.243.0.1:15020 [n2]='[fd00:243::2]:15020')

# m_scrape NODE: the agent's /metrics, from inside the node's namespace.
m_scrape() { topo_node_run "$1" curl -sS --max-time 10 "http://${M_ADDR[$1]}/metrics"; }

# m_sum TEXT METRIC [LABEL=VALUE...]: the sum of METRIC's samples that carry
# every given label value ("%.0f": exact below 2^53).
m_sum() {
	local text=$1 metric=$2; shift 2
	awk -v m="$metric" -v want="$*" '
		BEGIN { n = split(want, w, " ") }
		/^#/ { next }
		{
			name = $1; sub(/\{.*/, "", name)
			if (name != m) next
			for (i = 1; i <= n; i++) {
				k = substr(w[i], 1, index(w[i], "=") - 1)
				v = substr(w[i], index(w[i], "=") + 1)
				if (index($0, "{" k "=\"" v "\"") == 0 && index($0, "," k "=\"" v "\"") == 0) next
			}
			s += $NF
		}
		END { printf "%.0f\n", s }' <<<"$text"
}

# m_wait NODE METRIC WANT LABEL=VALUE...: wait (10 s) until the sum is WANT;
# prints the last value.
m_wait() {
	local node=$1 metric=$2 want=$3 got= i; shift 3
	for ((i = 0; i < 50; i++)); do
		got=$(m_sum "$(m_scrape "$node")" "$metric" "$@")
		[[ $got == "$want" ]] && break
		sleep 0.2
	done
	echo "$got"
}

t_mesh2
{
	# b3 backs only db (its Pod still labelled app=web): the accepting side
	# on n2 names db by b3's address; b1 (n1) backs web and solo: on one
	# node the connecting end counts both series, with the service used
	t_web "b1 b2"
	y_pod b3 n2 "${T_V4[b3]} ${T_V6[b3]}" "app=web version=v1"
	y_service db "10.96.0.20" "tcp:TCP:80:8080"
	y_slice db-v4 db IPv4 "tcp:TCP:8080" "${T_V4[b3]}:true:n2:b3"
	y_service solo "10.96.0.30" "tcp:TCP:80:8080"
	y_slice solo-v4 solo IPv4 "tcp:TCP:8080" "${T_V4[b1]}:true:n1:b1"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
} | t_config mesh.yaml
topo_agent n1 --metrics-addr "${M_ADDR[n1]}" || t_abort agent-n1-start
topo_agent n2 --metrics-addr "${M_ADDR[n2]}" || t_abort agent-n2-start

P=spiffe://cluster.local/ns/default/sa
SRC_DB=(reporter=source source_workload=client source_workload_namespace=default
	source_principal=$P/client destination_workload=web
	destination_workload_namespace=default destination_principal=$P/b3
	destination_service=db.default.svc.cluster.local destination_service_name=db
	destination_service_namespace=default connection_security_policy=none)
DST_DB=(reporter=destination source_workload=client source_principal=$P/client
	destination_workload=web destination_principal=$P/b3
	destination_service=db.default.svc.cluster.local destination_service_name=db
	destination_service_namespace=default)
SRC_SOLO=(reporter=source source_workload=client destination_principal=$P/b1
	destination_service_name=solo)
DST_SOLO=(reporter=destination source_workload=client destination_principal=$P/b1
	destination_service=solo.default.svc.cluster.local)

# Nothing counted before the traffic (a fresh agent: the counters start at 0).
before1=$(m_scrape n1) && before2=$(m_scrape n2) || t_abort scrape "no /metrics"
t_eq "no db connections counted before" \
	"$(m_sum "$before1" istio_tcp_connections_opened_total "${SRC_DB[@]}")/$(m_sum "$before2" istio_tcp_connections_opened_total "${DST_DB[@]}")" 0/0

t_client n1 client --connect 10.96.0.20:80 --tcp -n "$N" --send "$B"
t_jq "client -> db: $N connections, $B bytes echoed each" "$T_OUT" ".names.b3 == $N and .failed == 0"
t_client n1 client --connect 10.96.0.30:80 --tcp -n "$N" --send "$B"
t_jq "client -> solo: $N connections, $B bytes echoed each" "$T_OUT" ".names.b1 == $N and .failed == 0"

req=$((N * B))
resp=$((N * (B + 3))) # "b3\n" / "b1\n" first, then the echo
check() { # CASE NODE "LABELS" OPENED CLOSED RECEIVED SENT
	local c=$1 node=$2 labels=($3) o c2 r s
	o=$(m_wait "$node" istio_tcp_connections_opened_total "$4" "${labels[@]}")
	c2=$(m_wait "$node" istio_tcp_connections_closed_total "$5" "${labels[@]}")
	r=$(m_wait "$node" istio_tcp_received_bytes_total "$6" "${labels[@]}")
	s=$(m_wait "$node" istio_tcp_sent_bytes_total "$7" "${labels[@]}")
	t_eq "$c: opened/closed/received/sent" "$o/$c2/$r/$s" "$4/$5/$6/$7"
}
check "cross-node, reporter=source on n1 (all 11 labels)" n1 "${SRC_DB[*]}" "$N" "$N" "$req" "$resp"
check "cross-node, reporter=destination on n2" n2 "${DST_DB[*]}" "$N" "$N" "$req" "$resp"
check "same node, reporter=source on n1" n1 "${SRC_SOLO[*]}" "$N" "$N" "$req" "$resp"
check "same node, reporter=destination on n1" n1 "${DST_SOLO[*]}" "$N" "$N" "$req" "$resp"

# Each side reports only what it saw: n2 has no reporter=source series for
# this traffic, n1 no reporter=destination series for db.
after1=$(m_scrape n1); after2=$(m_scrape n2)
t_eq "n2 reports no source side of client's traffic" \
	"$(m_sum "$after2" istio_tcp_connections_opened_total reporter=source source_workload=client)" 0
t_eq "n1 reports no destination side of the db traffic" \
	"$(m_sum "$after1" istio_tcp_connections_opened_total "${DST_DB[@]}")" 0
# The load balancer's own view agrees: every db connection went to b3.
t_eq "trestle_lb_selections_total for db's backend b3 on n1" \
	"$(m_sum "$after1" trestle_lb_selections_total service=db backend="${T_V4[b3]}:8080")" "$N"
t_eq "b3 is ready in trestle_lb_backend_ready" \
	"$(m_sum "$after1" trestle_lb_backend_ready service=db backend="${T_V4[b3]}:8080")" 1

# A second round adds exactly as much (counters, not gauges).
t_client n1 client --connect 10.96.0.20:80 --tcp -n "$N" --send "$B"
check "second round adds up, reporter=source" n1 "${SRC_DB[*]}" $((2 * N)) $((2 * N)) $((2 * req)) $((2 * resp))
check "second round adds up, reporter=destination" n2 "${DST_DB[*]}" $((2 * N)) $((2 * N)) $((2 * req)) $((2 * resp))

t_finish
