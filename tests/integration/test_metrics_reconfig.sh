#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The L4 metrics follow a configuration change at once. sockops caches who
# the ends of a connection are per CPU (bpf/lib/ends.h); the agent makes
# that cache stale whenever it rewrites the workload addresses or the
# backends' services. Here both change between two rounds of connections
# from client (n1) straight to b1's address (the destination series then
# names the service b1's address and port belong to):
#   round 1: client's address is Pod client; b1:8080 backs service web;
#   round 2: the same address now belongs to Pod probe (client keeps its
#            name on an address nobody uses), and b1:8080 backs service
#            api (web moved to b2).
# Every round-2 connection must count under probe and api, none under the
# names of round 1, whose counts stay as they were.
source "$(dirname "$0")/lib.sh"

N1=7
N2=5

# probe_pod: Pod probe with client's addresses, in client's cgroup (the
# process that connects is the same; only the configuration changes).
probe_pod() {
	y_pod probe n1 "${T_V4[client]} ${T_V6[client]}" "app=probe" |
		sed 's|trestle.io/cgroup: probe|trestle.io/cgroup: client|'
}

# service NAME VIP B: Service NAME with backend B (a t_mesh2 workload) only.
service() {
	y_service "$1" "$2" "http:TCP:80:8080"
	y_slice "$1-v4" "$1" IPv4 "http:TCP:8080" "${T_V4[$3]}:true:${T_NODE[$3]}:$3"
}

t_mesh2
{
	service web "$T_VIP4" b1
	y_pod b1 n1 "${T_V4[b1]} ${T_V6[b1]}" "app=web"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
} | t_config mesh.yaml
t_start_agents n1

# edge REPORTER FROM TO: connections opened/active and the service of the
# edge FROM -> TO on n1's graph for REPORTER ("none" when there is none).
edge() {
	topo_trestle n1 -j graph --reporter "$1" 2>/dev/null |
		jq -r --arg f "$2" --arg t "$3" '
			[.edges[] | select(.from == $f and .to == $t)] as $e
			| if ($e | length) == 0 then "none"
			  else "\($e[0].connections_opened)/\($e[0].connections_active) \($e[0].service)" end'
}
# edge_wait REPORTER FROM TO WANT: wait (5 s) for edge to print WANT.
edge_wait() {
	local got= i
	for ((i = 0; i < 25; i++)); do
		got=$(edge "$1" "$2" "$3")
		[[ $got == "$4" ]] && break
		sleep 0.2
	done
	echo "$got"
}

# round NAME N FROM SVC: N connections from the client process to b1's
# address, then both series FROM -> web: the destination one through SVC,
# the source one with no service (a direct connect).
round() {
	local name=$1 n=$2 from=$3 svc=$4
	t_client n1 client --connect "${T_V4[b1]}:8080" --tcp -n "$n"
	t_jq "$name: $n connections from the client process to b1's address" "$T_OUT" ".names.b1 == $n"
	t_eq "$name: destination series $from -> web through $svc" \
		"$(edge_wait destination "$from" default/web "$n/0 $svc")" "$n/0 $svc"
	t_eq "$name: source series $from -> web, no service" \
		"$(edge_wait source "$from" default/web "$n/0 null")" "$n/0 null"
}

round "round 1" "$N1" default/client default/web:80

{
	service web "$T_VIP4" b2
	service api 10.96.0.40 b1
	y_pod b1 n1 "${T_V4[b1]} ${T_V6[b1]}" "app=web"
	y_pod b2 n1 "${T_V4[b2]} ${T_V6[b2]}" "app=web"
	y_pod client n1 "10.244.1.99 fd00:244:1::99" "app=client"
	probe_pod
} | t_reconfig_policy mesh.yaml || t_fail "round 2: the agent applied the new workloads" "no 'authorization applied'"
t_wait_gen n1 2 10 || t_fail "round 2: the agent applied the new services" "generation $(t_gen n1)"

round "round 2" "$N2" default/probe default/api:80
t_eq "round 1's destination series did not move" \
	"$(edge destination default/client default/web)" "$N1/0 default/web:80"
t_eq "round 1's source series did not move" \
	"$(edge source default/client default/web)" "$N1/0 null"
o=$(t_stat n1 l4_connections_opened) c=$(t_stat n1 l4_connections_closed)
t_eq "every connection opened and closed twice (both ends on n1), no more" "$o/$c" \
	"$((2 * (N1 + N2)))/$((2 * (N1 + N2)))"

t_finish
