#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# /metrics of a two-node mesh with traffic passes `promtool check metrics`
# (plain and gzip), carries every documented family with HELP and TYPE and
# only the documented labels (bounded cardinality: nothing per connection
# or per client port); /healthz and /readyz answer; /readyz is 503 with a
# reason while no configuration is applied, 200 once one is; --metrics-addr
# none serves nothing.
source "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null || t_abort setup "promtool missing (scripts/setup installs prometheus)"

declare -A M_ADDR=([n1]=10.243.0.1:15020 [n2]='[fd00:243::2]:15020' [n3]=127.0.0.1:15020)
m_get() { topo_node_run "$1" curl -sS --max-time 10 "${@:3}" "http://${M_ADDR[$1]}$2"; }

t_mesh2
{
	t_web "b1 b2 b3"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
	cat <<'Y'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: "b2-deny-client2", namespace: default}
spec:
  selector: {matchLabels: {version: v2}}
  action: DENY
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/client2"]}
Y
} | t_config mesh.yaml
topo_agent n1 --metrics-addr "${M_ADDR[n1]}" || t_abort agent-n1-start
topo_agent n2 --metrics-addr "${M_ADDR[n2]}" || t_abort agent-n2-start

t_client n1 client --connect "$T_VIP4:80" --tcp -n 20 --send 100
t_client n2 client2 --connect "[${T_V6[b3]}]:8080" --tcp -n 10
t_client n2 client2 --connect "${T_V4[b2]}:8080" --tcp -n 3
t_jq "client2 -> b2 denied by the DENY policy" "$T_OUT" '.errors.EPERM == 3'
t_client n1 client --connect "$T_VIP4:53" --udp -n 5
sleep 0.5

for n in n1 n2; do
	out=$(m_get "$n" /metrics 2>&1) || t_fail "$n: scrape" "$out"
	echo "$out" > "$TOPO_DIR/metrics.$n.txt"
	if pt=$(promtool check metrics < "$TOPO_DIR/metrics.$n.txt" 2>&1); then
		t_ok "$n: promtool check metrics passes ($(grep -vc '^#' "$TOPO_DIR/metrics.$n.txt") samples)"
	else
		t_fail "$n: promtool check metrics passes" "$(head -c 600 <<<"$pt")"
	fi
	# gzip, as Prometheus asks for it
	hdr=$(m_get "$n" /metrics -H 'Accept-Encoding: gzip' -D - -o "$TOPO_DIR/metrics.$n.gz")
	if grep -qi '^Content-Encoding: gzip' <<<"$hdr" &&
	   gzip -dc "$TOPO_DIR/metrics.$n.gz" | promtool check metrics >/dev/null 2>&1; then
		t_ok "$n: gzip body decompresses and passes promtool"
	else
		t_fail "$n: gzip body decompresses and passes promtool" "$(head -c 300 <<<"$hdr")"
	fi
	t_eq "$n: /healthz" "$(m_get "$n" /healthz -w ' %{http_code}')" "ok 200"
	t_eq "$n: /readyz" "$(m_get "$n" /readyz -w ' %{http_code}')" "ready 200"
	t_eq "$n: unknown path is 404" "$(m_get "$n" /nope -o /dev/null -w '%{http_code}')" 404
	t_eq "$n: POST is 405" "$(m_get "$n" /metrics -X POST -d x -o /dev/null -w '%{http_code}')" 405
	t_eq "$n: HEAD /metrics is 200" "$(m_get "$n" /metrics -I -o /dev/null -w '%{http_code}')" 200
done

m=$(cat "$TOPO_DIR/metrics.n1.txt")
families="istio_tcp_connections_opened_total istio_tcp_connections_closed_total
	istio_tcp_sent_bytes_total istio_tcp_received_bytes_total trestle_datapath_drops_total
	trestle_datapath_events_total trestle_policy_verdicts_total trestle_lb_selections_total
	trestle_lb_backend_ready trestle_bpf_map_entries trestle_bpf_map_capacity_entries
	trestle_bpf_ringbuf_size_bytes trestle_map_write_failures_total
	trestle_bpf_map_insert_failures_total trestle_config_reloads_total
	trestle_config_generation trestle_policy_epoch trestle_config_service_ports
	trestle_config_backends trestle_config_last_reload_timestamp_seconds
	trestle_agent_start_time_seconds trestle_agent_ready trestle_build_info
	trestle_metrics_read_errors_total trestle_scrape_duration_seconds
	trestle_tls_handshakes_total trestle_tunnel_refusals_total trestle_tunnel_connections_total
	trestle_tunnels_active trestle_tunnel_bytes_total
	trestle_redirect_connections_total trestle_redirect_bytes_total"
missing=
for f in $families; do
	grep -q "^# HELP $f " <<<"$m" && grep -q "^# TYPE $f " <<<"$m" || missing+=" $f"
done
t_eq "every documented family has HELP and TYPE" "${missing:-none}" none
undoc=$(grep '^# TYPE' <<<"$m" | awk '{print $3}' | while read -r f; do
	grep -qw "$f" <<<"$families" || echo -n " $f"; done)
t_eq "no undocumented family" "${undoc:-none}" none
# map pressure by map: one series per pinned map, labelled with its name
t_eq "trestle_bpf_map_insert_failures_total has a series for tr_lb4_svc and tr_l4_stat" \
	"$(grep -cE '^trestle_bpf_map_insert_failures_total\{map="(tr_lb4_svc|tr_l4_stat)"\} 0$' <<<"$m")" 2

# Label names, all families: the documented set, nothing per connection.
labels=$(grep -v '^#' <<<"$m" | grep -o '[{,][a-z_]*="' | tr -d '{,="' | LC_ALL=C sort -u | tr '\n' ' ')
t_eq "label names are the documented ones" "$labels" \
	"backend connection_security_policy destination_principal destination_service destination_service_name destination_service_namespace destination_workload destination_workload_namespace direction event flow kernel libbpf map outcome path policy_name policy_namespace protocol reason reporter result service service_namespace service_port source_principal source_workload source_workload_namespace verdict version "
# no client port anywhere: the client's source ports are ephemeral (>= 32768)
if grep -v '^#' <<<"$m" | grep -Eq '"[^"]*:(3[2-9][0-9]{3}|[4-6][0-9]{4})"'; then
	t_fail "no client port in any label value" "$(grep -E ':(3[2-9][0-9]{3}|[4-6][0-9]{4})"' <<<"$m" | head -3)"
else
	t_ok "no client port in any label value"
fi

t_eq "n1: 20 connections to web from client, reporter=source" \
	"$(grep -E '^istio_tcp_connections_opened_total\{reporter="source",source_workload="client",.*,destination_service="web.default.svc.cluster.local",' <<<"$m" |
	   awk '{ s += $NF } END { print s + 0 }')" 20
m2=$(cat "$TOPO_DIR/metrics.n2.txt")
grep -q '^trestle_policy_verdicts_total{policy_namespace="default",policy_name="b2-deny-client2",verdict="deny"} 3$' <<<"$m2" &&
	t_ok "n2: the DENY policy's 3 denies by name" ||
	t_fail "n2: the DENY policy's 3 denies by name" "$(grep '^trestle_policy_verdicts' <<<"$m2" | head -5)"
grep -q '^trestle_datapath_drops_total{reason="policy_deny"} 3$' <<<"$m2" &&
	t_ok "n2: 3 drops with reason policy_deny" ||
	t_fail "n2: 3 drops with reason policy_deny" "$(grep '^trestle_datapath_drops' <<<"$m2" | head -8)"
grep -q '^trestle_bpf_map_entries{map="tr_lb_be"} [1-9]' <<<"$m" &&
	grep -q '^trestle_bpf_map_capacity_entries{map="tr_lb_be"} 262144$' <<<"$m" &&
	grep -q '^trestle_bpf_ringbuf_size_bytes{map="tr_flow_rb"} [1-9]' <<<"$m" &&
	t_ok "map pressure: entries and capacity of tr_lb_be, ring buffer size" ||
	t_fail "map pressure: entries and capacity of tr_lb_be, ring buffer size" "$(grep '^trestle_bpf' <<<"$m" | head -8)"
grep -q '^trestle_config_reloads_total{result="applied"} [1-9]' <<<"$m" &&
	grep -q '^trestle_config_generation [1-9]' <<<"$m" &&
	grep -q '^trestle_policy_epoch [1-9]' <<<"$m" &&
	grep -q "^trestle_build_info{version=\"[0-9.]*\",kernel=\"$(uname -r)\",libbpf=\"" <<<"$m" &&
	grep -q '^trestle_agent_ready 1$' <<<"$m" &&
	t_ok "reloads, generation, epoch, build info, ready" ||
	t_fail "reloads, generation, epoch, build info, ready" "$(grep -E '^trestle_(config|policy_epoch|build|agent)' <<<"$m" | head)"
grep -Eq '^trestle_lb_selections_total\{service_namespace="default",service="web",protocol="udp",service_port="53",backend="[0-9.]+:5353"\} [1-9]' <<<"$m" &&
	t_ok "UDP selections by service port and backend" ||
	t_fail "UDP selections by service port and backend" "$(grep '^trestle_lb_selections' <<<"$m" | head -4)"

# Readiness: node n3 starts with a manifest that is refused.
topo_node n3 || t_abort setup "node n3"
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 99999}]}\n' > "$(topo_config_dir n3)/bad.yaml"
TOPO_AGENT_TIMEOUT=3 topo_agent n3 --metrics-addr "${M_ADDR[n3]}" 2>/dev/null # not ready: expected
ready=
for ((i = 0; i < 50; i++)); do
	ready=$(m_get n3 /readyz -w ' %{http_code}' 2>&1) && [[ $ready == *" 503" ]] && break
	sleep 0.1
done
[[ $ready == "not ready: no configuration applied yet"*" 503" && $(wc -l <<<"$ready") -eq 1 ]] &&
	t_ok "refused configuration: /readyz 503 with a one-line reason ($ready)" ||
	t_fail "refused configuration: /readyz 503 with a one-line reason" "$ready"
t_eq "not ready: /healthz still 200" "$(m_get n3 /healthz -o /dev/null -w '%{http_code}')" 200
t_eq "not ready: trestle_agent_ready 0" "$(m_get n3 /metrics | grep '^trestle_agent_ready ')" "trestle_agent_ready 0"
y_service good 10.96.0.99 "p:TCP:80:80" > "$(topo_config_dir n3)/.good.tmp"
mv "$(topo_config_dir n3)/.good.tmp" "$(topo_config_dir n3)/good.yaml"
rm -f "$(topo_config_dir n3)/bad.yaml"
for ((i = 0; i < 50; i++)); do
	ready=$(m_get n3 /readyz -w ' %{http_code}' 2>&1) && [[ $ready == "ready 200" ]] && break
	sleep 0.2
done
t_eq "fixed configuration: /readyz 200" "$ready" "ready 200"

# --metrics-addr none: nothing listens.
topo_agent_stop n3 || t_fail "n3 agent stop"
topo_agent n3 --metrics-addr none || t_abort agent-n3-restart
code=$(m_get n3 /healthz -o /dev/null -w '%{http_code}' 2>/dev/null)
t_eq "--metrics-addr none: connection refused" "${code:-000}" 000
t_log_has n3 'metrics: not serving \(--metrics-addr none\)' && t_ok "--metrics-addr none is logged" ||
	t_fail "--metrics-addr none is logged"
# A bad address is a usage error.
out=$("$TRESTLED" --metrics-addr 1.2.3.4 2>&1); rc=$?
[[ $rc == 2 && $out == *"--metrics-addr takes"* ]] && t_ok "bad --metrics-addr: usage error" ||
	t_fail "bad --metrics-addr: usage error" "rc $rc: $out"

t_finish
