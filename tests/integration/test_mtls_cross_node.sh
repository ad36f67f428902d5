#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# mTLS between two nodes: a client on n1 reaches backends on n2 through the
# agents' tunnels (TLS 1.3, SVIDs both ways), unchanged: it still sees the
# address it connected to. Data integrity over large transfers with
# half-close, many concurrent connections, metrics that say mutual_tls,
# `trestle tunnel list`, certificate rotation during a transfer, and an
# agent restart. With TRESTLE_EXPECT_KTLS=1 (the kTLS VM tier) every tunnel
# must have its records in the kernel, both directions: the tunnel list
# says ktls, and the node namespaces' /proc/net/tls_stat counted TX and RX
# sessions for the transfer (figures also appended to $TRESTLE_TLS_STAT_OUT
# when that is set: the VM's result line shows them).
source "$(dirname "$0")/lib.sh"

t_mesh2
{ t_web "b1 b3"; t_nodes
  y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
  y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"; } | t_config mesh.yaml
for w in client b1 b2; do t_issue n1 "$w" || t_abort certs "cert issue for $w"; done
for w in b3 client2; do t_issue n2 "$w" || t_abort certs "cert issue for $w"; done
for n in n1 n2; do topo_agent "$n" --certs "$(t_certs_dir "$n")" || t_abort "agent-$n" "agent did not start"; done
want_path=userspace
[[ ${TRESTLE_EXPECT_KTLS:-0} == 1 ]] && want_path=ktls

B3_4="${T_V4[b3]}:8080"
B3_6="[${T_V6[b3]}]:8080"

# 1. reachability through the tunnel, address preserved
t_client n1 client --connect "$B3_4" --tcp -n 20
t_jq "tcp4 n1/client -> b3 (n2) directly: 20/20, b3 answers, its address as peer" "$T_OUT" \
	'.ok == 20 and .peer_mismatch == 0 and .names.b3 == 20'
t_client n1 client --connect "[${T_V6[b3]}]:8080" --tcp -n 20
t_jq "tcp6 n1/client -> b3 (n2) directly: 20/20" "$T_OUT" '.ok == 20 and .names.b3 == 20'
t_client n1 client --connect "$T_VIP4:80" --tcp -n 60
t_jq "tcp4 via the VIP: b1 (same node, plain) and b3 (tunneled) both answer, VIP as peer" "$T_OUT" \
	'.ok == 60 and .peer_mismatch == 0 and .names.b1 > 0 and .names.b3 > 0'
t_client n2 client2 --connect "${T_V4[b1]}:8080" --tcp -n 10
t_jq "the other way: n2/client2 -> b1 (n1): 10/10" "$T_OUT" '.ok == 10 and .names.b1 == 10'
t_check "n1 steered connections to its agent (tunnel_steered > 0)" \
	test "$(t_stat n1 tunnel_steered)" -gt 0
hs=$(t_metric n2 'trestle_tls_handshakes_total\{direction="inbound",outcome="success"')
t_check "n2 counted inbound handshakes ($hs >= 40)" test "$hs" -ge 40

# 2. a live tunnel in `trestle tunnel list`
topo_run n1 client "$TR_CLIENT" --connect "$B3_4" --tcp --hold 4 --ready "$TOPO_DIR/held" >/dev/null 2>&1 &
hold=$!
for _ in $(seq 50); do [[ -e $TOPO_DIR/held ]] && break; sleep 0.1; done
list=$(t_tunnels n1)
t_jq "tunnel list on n1: outbound to n2, identities, TLS 1.3, path $want_path" "$list" \
	"map(select(.direction == \"outbound\" and .peer_node == \"n2\" and
	  .local_identity == \"spiffe://cluster.local/ns/default/sa/client\" and
	  .remote_identity == \"spiffe://cluster.local/ns/default/sa/b3\" and
	  .tls_version == \"TLSv1.3\" and .path == \"$want_path\" and .destination_port == 8080)) | length == 1"
list2=$(t_tunnels n2)
t_jq "tunnel list on n2: the same tunnel inbound, from n1" "$list2" \
	"map(select(.direction == \"inbound\" and .peer_node == \"n1\" and
	  .remote_identity == \"spiffe://cluster.local/ns/default/sa/client\" and .path == \"$want_path\")) | length == 1"
wait "$hold"; t_check "the held connection stayed up 4 s with every echo right" test $? -eq 0

# tls_stat NODE: the node namespace's kernel TLS counters, "Name Value"
# per line (/proc/net/tls_stat is per network namespace: the root
# namespace's says nothing about the agents' sockets).
tls_stat() { nsenter --net="/run/netns/$(topo_ns "$1")" -- cat /proc/net/tls_stat 2>/dev/null; }
# tls_sessions BEFORE AFTER DIR: sessions set up in direction DIR (Tx, Rx)
# between two tls_stat readings, software and device offload together.
tls_sessions() {
	awk -v d="$3" 'NR == FNR { b[$1] = $2; next }
		$1 == "Tls" d "Sw" || $1 == "Tls" d "Device" { n += $2 - b[$1] }
		END { print n + 0 }' <(echo "$1") <(echo "$2")
}
tls_counter() { awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' <<<"$1"; }

# 3. integrity: large transfers both ways with half-close, and concurrency
declare -A stat0=()
if [[ $want_path == ktls ]]; then
	for n in n1 n2; do stat0[$n]=$(tls_stat "$n"); done
fi
t_client n1 client --connect "$B3_4" --tcp -n 3 --send 20000000 --half-close --timeout 60000
t_jq "3 x 20 MB echoed through the tunnel byte for byte, half-close carried both ways" "$T_OUT" '.ok == 3'
if [[ $want_path == ktls ]]; then
	# Each of the 3 tunnels has both directions in the kernel at both
	# ends: n1's agent and n2's agent each set up >= 3 TX and >= 3 RX
	# sessions, and nothing failed to decrypt.
	kt_ok=1 kt_fig=
	for n in n1 n2; do
		s1=$(tls_stat "$n")
		tx=$(tls_sessions "${stat0[$n]}" "$s1" Tx)
		rx=$(tls_sessions "${stat0[$n]}" "$s1" Rx)
		de=$(($(tls_counter "$s1" TlsDecryptError) - $(tls_counter "${stat0[$n]}" TlsDecryptError)))
		kt_fig+="$n: +$tx TX +$rx RX sessions, +$de decrypt errors; "
		[[ -n $s1 && $tx -ge 3 && $rx -ge 3 && $de -eq 0 ]] || kt_ok=0
		[[ -n ${TRESTLE_TLS_STAT_OUT:-} ]] &&
			echo "$n:$(awk '{ printf " %s=%s", $1, $2 }' <<<"$s1")" >> "$TRESTLE_TLS_STAT_OUT"
	done
	t_check "kernel TLS did both directions in the node namespaces (${kt_fig%; })" test "$kt_ok" -eq 1
fi
t_client n2 client2 --connect "[${T_V6[b1]}]:8080" --tcp -n 2 --send 8000000 --half-close --timeout 60000
t_jq "2 x 8 MB the other way over IPv6, half-close" "$T_OUT" '.ok == 2'
pids=()
for i in $(seq 8); do
	topo_run n1 client "$TR_CLIENT" --connect "$B3_4" --tcp -n 25 --send 20000 --json \
		> "$TOPO_DIR/conc.$i" 2>&1 &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
okc=$(cat "$TOPO_DIR"/conc.* | jq -s 'map(.ok) | add' 2>/dev/null)
t_check "8 clients x 25 connections at once: all 200 intact ($okc ok, $bad failed clients)" \
	test "${okc:-0}" -eq 200 -a "$bad" -eq 0

# 4. metrics: both reporters say mutual_tls with the workloads' names
src=$(t_metric n1 'istio_tcp_connections_opened_total\{reporter="source",source_workload="client",.*destination_principal="spiffe://cluster.local/ns/default/sa/b3",.*connection_security_policy="mutual_tls"')
dst=$(t_metric n2 'istio_tcp_connections_opened_total\{reporter="destination",source_workload="client",.*destination_principal="spiffe://cluster.local/ns/default/sa/b3",.*connection_security_policy="mutual_tls"')
t_check "istio metrics: client->b3 counted mutual_tls by both reporters (source $src, destination $dst)" \
	test "$src" -gt 0 -a "$dst" -gt 0
paths=$(t_metric n1 "trestle_tunnel_connections_total\\{direction=\"outbound\",path=\"$want_path\"")
t_check "trestle_tunnel_connections_total counts the $want_path path ($paths)" test "$paths" -gt 0

# 5. certificate rotation during a transfer
topo_run n1 client "$TR_CLIENT" --connect "$B3_4" --tcp --hold 5 --interval 50 >/dev/null 2>&1 &
hold=$!
sleep 1
old=$(openssl x509 -noout -serial -in "$(t_certs_dir n1)/default/client.crt")
t_issue n1 client default >/dev/null
new=$(openssl x509 -noout -serial -in "$(t_certs_dir n1)/default/client.crt")
t_check "the client's certificate was renewed ($old -> $new)" test "$old" != "$new"
sleep 1
t_client n1 client --connect "$B3_4" --tcp -n 5
t_jq "new connections after the renewal work" "$T_OUT" '.ok == 5'
wait "$hold"; t_check "a tunnel open across the renewal was not dropped" test $? -eq 0
t_check "n1 logged the renewal" t_log_has n1 "renew|reload"

# 6. agent restart: new tunnels work with the new agent
topo_agent_stop n1
topo_agent n1 --certs "$(t_certs_dir n1)" || t_abort agent-n1-restart "agent did not restart"
t_client n1 client --connect "$B3_4" --tcp -n 10
t_jq "after an agent restart, tunneled connections work again" "$T_OUT" '.ok == 10 and .names.b3 == 10'

t_finish
