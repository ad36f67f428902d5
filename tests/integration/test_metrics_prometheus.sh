#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A real Prometheus server (Debian's, in node n1's namespace, on loopback,
# storage in the test's directory) scrapes both agents (gzip, as it always
# asks for it); PromQL through /api/v1/query returns the connection and
# byte counts of a known workload's traffic, from both reporters.
source "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null || t_abort setup "prometheus missing (scripts/setup installs it)"

N=23
B=500
PROM=127.0.0.1:19090
declare -A M_ADDR=([n1]=10.243.0.1:15020 [n2]=10.243.0.2:15020)

t_mesh2
{
	t_web "b1 b2 b3"
	y_service db "10.96.0.20" "tcp:TCP:80:8080"
	y_slice db-v4 db IPv4 "tcp:TCP:8080" "${T_V4[b3]}:true:n2:b3"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
} | t_config mesh.yaml
topo_agent n1 --metrics-addr "${M_ADDR[n1]}" || t_abort agent-n1-start
topo_agent n2 --metrics-addr "${M_ADDR[n2]}" || t_abort agent-n2-start

cat > "$TOPO_DIR/prometheus.yml" <<Y
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
- job_name: trestle
  static_configs:
  - targets: ['${M_ADDR[n1]}']
    labels: {node: n1}
  - targets: ['${M_ADDR[n2]}']
    labels: {node: n2}
Y
# Bounded: timeout ends it even if cleanup did not; cleanup kills it first
# (it runs in n1's namespace).
topo_node_run n1 timeout 300 prometheus --config.file="$TOPO_DIR/prometheus.yml" \
	--storage.tsdb.path="$TOPO_DIR/prometheus-data" --web.listen-address="$PROM" \
	>"$TOPO_DIR/prometheus.log" 2>&1 &

# q PROMQL: the value of the first result, or "none".
q() {
	topo_node_run n1 curl -sS --max-time 5 -G --data-urlencode "query=$1" \
		"http://$PROM/api/v1/query" 2>/dev/null |
		jq -r 'if .status == "success" and (.data.result | length) > 0
		       then .data.result[0].value[1] else "none" end' 2>/dev/null || echo none
}
# qwait PROMQL WANT [SECONDS]: poll until the value is WANT; prints the last.
qwait() {
	local got i
	for ((i = 0; i < ${3:-15} * 4; i++)); do
		got=$(q "$1")
		[[ $got == "$2" ]] && break
		sleep 0.25
	done
	echo "$got"
}

t_eq "both agents are up targets" "$(qwait 'sum(up{job="trestle"})' 2 40)" 2 ||
	t_info "prometheus log: $(tail -n 5 "$TOPO_DIR/prometheus.log")"
errs=$(topo_node_run n1 curl -sS --max-time 5 "http://$PROM/api/v1/targets" |
	jq -r '[.data.activeTargets[] | select(.labels.job == "trestle") | .lastError] | map(select(. != "")) | length' 2>&1)
t_eq "no scrape error on either target" "$errs" 0

t_client n1 client --connect 10.96.0.20:80 --tcp -n "$N" --send "$B"
t_jq "client -> db: $N connections" "$T_OUT" ".names.b3 == $N"

sel='source_workload="client",destination_service_name="db"'
t_eq "PromQL: connections opened, reporter=source (n1)" \
	"$(qwait "sum(istio_tcp_connections_opened_total{reporter=\"source\",$sel,node=\"n1\"})" "$N")" "$N"
t_eq "PromQL: request bytes, reporter=source (n1)" \
	"$(qwait "sum(istio_tcp_received_bytes_total{reporter=\"source\",$sel,node=\"n1\"})" $((N * B)))" $((N * B))
t_eq "PromQL: response bytes, reporter=source (n1)" \
	"$(qwait "sum(istio_tcp_sent_bytes_total{reporter=\"source\",$sel,node=\"n1\"})" $((N * (B + 3))))" $((N * (B + 3)))
dsel='source_workload="client",destination_principal="spiffe://cluster.local/ns/default/sa/b3"'
t_eq "PromQL: connections opened, reporter=destination (n2)" \
	"$(qwait "sum(istio_tcp_connections_opened_total{reporter=\"destination\",$dsel,node=\"n2\"})" "$N")" "$N"
t_eq "PromQL: connections closed, reporter=destination (n2)" \
	"$(qwait "sum(istio_tcp_connections_closed_total{reporter=\"destination\",$dsel,node=\"n2\"})" "$N")" "$N"
t_eq "PromQL: request bytes, reporter=destination (n2)" \
	"$(qwait "sum(istio_tcp_received_bytes_total{reporter=\"destination\",$dsel,node=\"n2\"})" $((N * B)))" $((N * B))
t_eq "PromQL: the load balancer sent them all to b3" \
	"$(qwait "sum(trestle_lb_selections_total{service=\"db\",node=\"n1\"})" "$N")" "$N"
t_eq "PromQL: both agents report build info" "$(q 'count(trestle_build_info)')" 2

t_finish
