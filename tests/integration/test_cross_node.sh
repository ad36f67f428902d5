#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Backends on two nodes: each node runs its own agent with the same mesh
# configuration; clients on both nodes reach the backend on their own node
# and the one on the other node (routed through the node namespaces), over
# TCP and UDP, IPv4 and IPv6, and always see the VIP.
source "$(dirname "$0")/lib.sh"

t_mesh2
t_web "b1 b3" | t_config web.yaml
t_start_agents n1 n2

for who in n1/client n2/client2; do
	node=${who%/*} wl=${who#*/}
	for spec in "tcp4|$T_VIP4:80|--tcp" "tcp6|[$T_VIP6]:80|--tcp" "udp4|$T_VIP4:53|--udp" "udp6|[$T_VIP6]:53|--udp"; do
		IFS='|' read -r c target proto <<<"$spec"
		t_client "$node" "$wl" --connect "$target" "$proto" -n 200
		t_jq "$c from $node: both nodes' backends (b1 on n1, b3 on n2) answer, VIP as peer" "$T_OUT" \
			'.ok == 200 and .peer_mismatch == 0 and .names.b1 > 0 and .names.b3 > 0 and (.names | keys) == ["b1","b3"]'
	done
done

for node in n1 n2; do
	show=$(topo_trestle "$node" -j service show "$T_VIP4:80" 2>&1)
	t_jq "cli on $node: service show lists b1 (node n1) and b3 (node n2)" "$show" \
		"[.[].backends[] | select(.address | contains(\".\")) | {address, node}] | sort_by(.address) ==
		 [{\"address\": \"${T_V4[b1]}\", \"node\": \"n1\"}, {\"address\": \"${T_V4[b3]}\", \"node\": \"n2\"}]"
	t_jq "cli on $node: service show $T_VIP4:80 lists only IPv4 backends" "$show" \
		'[.[].backends[].address | select(contains(":"))] == []'
done

t_finish
