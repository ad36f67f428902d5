#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `trestle graph` and `trestle top` on a two-node mesh with real traffic:
# client (n1) connects 30 times through the service web (backends b1, b2 on
# n1, b3 on n2); a process outside the mesh on n2 connects to b1 directly;
# client2 (n2) is denied web by a DENY policy. On n1 the graph has
# client -> web through default/web:80 exactly once per connection (the
# destination series of the same connections to b1/b2 are not counted
# again), unknown -> web from the destination side; on n2 the denies of
# client2 from the flow log, and the DOT form is a well-formed digraph.
# top -j shows the service with non-zero rates while traffic runs, and
# top ends with status 0 on SIGINT.
source "$(dirname "$0")/lib.sh"

t_mesh2
{
	t_web "b1 b2 b3"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
	y_authz default deny-client2 DENY "app=web" \
		"{from: [{source: {principals: [\"$(y_principal client2)\"]}}], to: [{operation: {ports: [\"8080\"]}}]}"
} | t_config mesh.yaml
t_start_agents

# --- traffic --------------------------------------------------------------------
# 100 request bytes each, echoed after the backend's name ("b1\n"): exact
# payload both ways
t_client n1 client --connect "$T_VIP4:80" --tcp -n 30 --send 100
t_jq "client -> web:80, 30 connections answered" "$T_OUT" '.ok == 30'
local_n=$(jq '(.names.b1 // 0) + (.names.b2 // 0)' <<<"$T_OUT")
remote_n=$(jq '.names.b3 // 0' <<<"$T_OUT")
t_info "client's connections: $local_n to n1's backends, $remote_n to b3 on n2"
t_try n2 - --connect "${T_V4[b1]}:8080" --tcp -n 4
t_jq "process outside the mesh on n2 -> b1 directly: answered" "$T_OUT" '.names.b1 == 4'
t_client n2 client2 --connect "$T_VIP4:80" --tcp -n 5 --timeout 400
t_jq "client2 -> web:80 denied at connect" "$T_OUT" '.errors.EPERM == 5'
sleep 0.5 # the closes are counted at TCP_CLOSE, a moment after the client's close
t_info "n1 sockops counters: opened $(t_stat n1 l4_connections_opened), closed $(t_stat n1 l4_connections_closed)"

# --- graph on n1 ------------------------------------------------------------------
G1=$(topo_trestle n1 -j graph 2>&1)
t_jq "n1: client -> web through default/web:80 counted once per connection" "$G1" '
	[.edges[] | select(.from == "default/client" and .to == "default/web")] as $e
	| ($e | length) == 1 and $e[0].service == "default/web:80"
	  and $e[0].connections_opened == 30 and $e[0].connections_active == 0
	  and $e[0].reporters == ["source"]'
t_jq "n1: bytes both ways on client -> web: 30 x 100 request, 30 x 103 response" "$G1" '
	.edges[] | select(.from == "default/client") | .bytes_received == 3000 and .bytes_sent == 3090'
# the accepting side names the service its address and port back (only web)
t_jq "n1: the process outside the mesh is unknown -> web, from the destination" "$G1" '
	[.edges[] | select(.from == "unknown")] as $e
	| ($e | length) == 1 and $e[0].to == "default/web" and $e[0].service == "default/web:80"
	  and $e[0].connections_opened == 4 and $e[0].connections_active == 0
	  and $e[0].denies == 0 and $e[0].reporters == ["destination"]'
t_jq "n1: nodes are the workloads, unknown, and the service" "$G1" '
	(.nodes | map(select(.kind == "workload")) | map(.id) | sort) == ["default/client", "default/web"]
	and (.nodes | map(select(.kind == "unknown")) | length) == 1
	and (.nodes | map(select(.kind == "service")) | map(.id)) == ["default/web:80"]
	and .reporter == "default" and .flow_log == null'

G=$(topo_trestle n1 -j graph --reporter both 2>&1)
t_jq "n1 --reporter both: the destination side of client -> b1/b2 too ($local_n)" "$G" "
	[.edges[] | select(.from == \"default/client\" and .reporters == [\"destination\"])] as \$e
	| (\$e | length) == 1 and \$e[0].connections_opened == $local_n
	  and \$e[0].service == \"default/web:80\""
G=$(topo_trestle n1 -j graph --reporter source 2>&1)
t_jq "n1 --reporter source: no unknown -> web" "$G" \
	'([.edges[] | select(.from == "unknown")] | length) == 0 and (.edges | length) == 1'

T1=$(topo_trestle n1 graph 2>&1)
if grep -Eq '^FROM +TO +SERVICE +OPENED +ACTIVE +SENT +RECEIVED +DENIES +REPORTER$' <<<"$T1" &&
   grep -Eq '^default/client +default/web +default/web:80 +30 +0 +[1-9][0-9]* +[1-9][0-9]* +0 +source$' <<<"$T1"; then
	t_ok "n1: text table with header and the client -> web row"
else
	t_fail "n1: text table with header and the client -> web row" "$(tr '\n' '|' <<<"$T1")"
fi

# --- graph on n2: denies, the remote connections, DOT --------------------------------
G2=$(topo_trestle n2 -j graph --include-denies 2>&1)
t_jq "n2: client2 -> web denied 5 times, through the service" "$G2" '
	[.edges[] | select(.from == "default/client2")] as $e
	| ($e | length) == 1 and $e[0].to == "default/web" and $e[0].service == "default/web:80"
	  and $e[0].denies == 5 and $e[0].connections_opened == 0 and $e[0].reporters == []
	  and .flow_log.present == true and .flow_log.deny_records >= 5'
t_jq "n2: client (n1) -> b3 seen from the destination ($remote_n)" "$G2" "
	[.edges[] | select(.from == \"default/client\")] as \$e
	| (\$e | length) == (if $remote_n > 0 then 1 else 0 end)
	  and (\$e | all(.service == \"default/web:80\" and .connections_opened == $remote_n))"

D2=$(topo_trestle n2 graph --format dot --include-denies 2>&1)
dot_ok=1 dot_why=
opens=$(tr -cd '{' <<<"$D2" | wc -c); closes=$(tr -cd '}' <<<"$D2" | wc -c)
[[ $opens -eq 1 && $closes -eq 1 ]] || { dot_ok=0; dot_why="braces $opens/$closes"; }
[[ $(head -n 1 <<<"$D2") == 'digraph "trestle" {' && $(tail -n 1 <<<"$D2") == '}' ]] ||
	{ dot_ok=0; dot_why+=" first/last line"; }
edge_re='^	"[^"\\]*" -> "[^"\\]*" \[label="[^"]*"(, style=dashed, color=red, fontcolor=red)?\];$'
node_re='^	"[^"\\]*"( \[style=dashed\])?;$'
attr_re='^	(graph|node|edge) \[[^]]*\];$'
n_edges=0
while IFS= read -r line; do
	[[ $line == 'digraph "trestle" {' || $line == '}' || $line == //* ]] && continue
	if [[ $line =~ $edge_re ]]; then
		n_edges=$((n_edges + 1))
	elif ! [[ $line =~ $node_re || $line =~ $attr_re ]]; then
		dot_ok=0; dot_why+=" bad line: $line"
	fi
done <<<"$D2"
[[ $n_edges -eq $(jq '.edges | length' <<<"$G2") ]] || { dot_ok=0; dot_why+=" $n_edges edge lines"; }
grep -q '^	"default/client2" -> "default/web" \[label="default/web:80\\nopened 0, active 0\\nsent 0 B, received 0 B\\ndenies 5", style=dashed, color=red, fontcolor=red\];$' <<<"$D2" ||
	{ dot_ok=0; dot_why+=" no dashed red client2 edge"; }
if ((dot_ok)); then t_ok "n2: DOT is a digraph of well-formed node and edge lines"
else t_fail "n2: DOT is a digraph of well-formed node and edge lines" "$dot_why: $(tr '\n' '|' <<<"$D2")"; fi
if command -v dot >/dev/null; then
	t_check "n2: dot -Tsvg accepts the graph" sh -c 'printf "%s\n" "$1" | dot -Tsvg >/dev/null' sh "$D2"
fi

# A missing flow log: no deny edges, and it says so.
F1=$(t_flows_file n1)
if [[ -e $F1 ]]; then
	mv "$F1" "$F1.moved" # the agent writes on through its open descriptor
	G=$(topo_trestle n1 -j graph --include-denies 2>/tmp/trt-graph-err.$$)
	E=$(cat /tmp/trt-graph-err.$$); rm -f /tmp/trt-graph-err.$$
	mv "$F1.moved" "$F1"
else
	G=$(topo_trestle n1 -j graph --include-denies 2>/tmp/trt-graph-err.$$)
	E=$(cat /tmp/trt-graph-err.$$); rm -f /tmp/trt-graph-err.$$
fi
t_jq "n1 without a flow log: present false, no denies" "$G" \
	'.flow_log.present == false and all(.edges[]; .denies == 0)'
t_eq "n1 without a flow log: a note says so" "$(grep -c 'no flow log at .*: no deny edges' <<<"$E")" 1

# Usage errors.
G=$(topo_trestle n1 -j graph --format svg 2>&1); rc=$?
t_jq "graph --format svg: JSON error, status 1" "$G" '.error | test("invalid --format")'
t_eq "graph --format svg: status" "$rc" 1
G=$(topo_trestle n1 -j graph --format dot 2>&1); rc=$?
t_jq "graph -j --format dot: refused" "$G" '.error | test("cannot be combined")'

# --- top --------------------------------------------------------------------------
# Traffic in the background while top samples: client -> web, and the
# denied client2 -> web on n2.
STOP="$TOPO_DIR/stop-traffic"
(
	while [[ ! -e $STOP ]]; do
		# a subshell of its own: topo_run in a subshell becomes the command
		(topo_run n1 client "$TR_CLIENT" --json --connect "$T_VIP4:80" --tcp -n 20 --send 100 >/dev/null 2>&1)
	done
) &
traffic1=$!
(
	while [[ ! -e $STOP ]]; do
		(topo_run n2 client2 "$TR_CLIENT" --json --connect "$T_VIP4:80" --tcp -n 5 --timeout 100 >/dev/null 2>&1)
		sleep 0.05
	done
) &
traffic2=$!
sleep 0.3
TOP1=$(topo_trestle n1 -j top --interval 500 --iterations 2 2>&1); rc1=$?
TOP2=$(topo_trestle n2 -j top --interval 500 --iterations 2 2>&1); rc2=$?
touch "$STOP"
wait "$traffic1" "$traffic2"

t_eq "top -j --iterations 2: status 0" "$rc1" 0
t_eq "top -j --iterations 2: two JSON lines" "$(jq -c . <<<"$TOP1" 2>/dev/null | wc -l)" 2
t_jq "n1 top: web:80 with new connections and selections in both refreshes, ranked first" "$(jq -s . <<<"$TOP1" 2>/dev/null)" '
	length == 2 and all(.[]; .services | map(select(.service == "default/web:80")) | length == 1
	  and (.[0] | .connections_per_s > 0 and .lb_selections_per_s > 0
	       and .backends_ready == 3 and .backends == 3 and .protocol == "tcp" and .port == 80))
	and (.[0].services[0].service == "default/web:80")'
t_jq "n1 top: request and response bytes/s of closed connections" "$(jq -s . <<<"$TOP1" 2>/dev/null)" '
	([.[].services[] | select(.service == "default/web:80") | .bytes_in_per_s] | max) > 0
	and ([.[].services[] | select(.service == "default/web:80") | .bytes_out_per_s] | max) > 0'
t_jq "n1 top: the UDP port is listed, idle" "$(tail -n 1 <<<"$TOP1")" '
	.services | map(select(.service == "default/web:53/udp")) | length == 1
	and .[0].connections_per_s == 0'
t_eq "n2 top: status 0" "$rc2" 0
t_jq "n2 top: denies/s toward web:80 from the flow log" "$(jq -s . <<<"$TOP2" 2>/dev/null)" '
	[.[].services[] | select(.service == "default/web:80") | .denies_per_s] | max > 0'

# Text, not a terminal: successive snapshots; SIGINT ends it with status 0.
OUT="$TOPO_DIR/top.txt"
"$TRESTLE" --bpffs "$(topo_pin n1)" top --interval 200 >"$OUT" 2>&1 &
top_pid=$!
sleep 0.9
kill -INT "$top_pid"
wait "$top_pid"; rc=$?
t_eq "top: SIGINT ends it with status 0" "$rc" 0
n_snap=$(grep -c '^SERVICE ' "$OUT")
if [[ $n_snap -ge 2 ]] && ! grep -q $'\e' "$OUT" && grep -Eq '^default/web:80 ' "$OUT"; then
	t_ok "top: plain successive snapshots when not a terminal ($n_snap)"
else
	t_fail "top: plain successive snapshots when not a terminal" "$(head -c 600 "$OUT" | tr '\n' '|')"
fi

t_finish
