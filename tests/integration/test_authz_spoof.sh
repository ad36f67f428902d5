#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Anti-spoofing: a workload's packets must carry one of its own addresses.
# n1/client gets a foreign address (10.99.0.7, fd00:99::7) routed back to
# its device, so without the agent a connection from it works (checked
# first: the later timeouts are drops, not a missing route). With the
# agents running, TCP SYNs and UDP datagrams from it, to the same node and
# across nodes, IPv4 and IPv6, are dropped on client's device: counted as
# spoofed_source and logged (hook tc_from_workload). So are packets that
# claim another workload's address (b2 on the same node, client2 on the
# other). Traffic from client's own addresses keeps working throughout.
source "$(dirname "$0")/lib.sh"

F4=10.99.0.7 F6=fd00:99::7

t_mesh2
{
	t_web "b1 b2 b3"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
} | t_config mesh.yaml
topo_workload_addr n1 client $F4 && topo_workload_addr n1 client $F6 ||
	t_abort setup "foreign addresses on client"

# Without the agents the foreign source is a working path.
t_expect "no agent: from $F4 to b3 (TCP) works (replies are routed back)" n1 client tcp "${T_V4[b3]}" 8080 b3 2 --bind $F4
t_expect "no agent: from $F4 to b3 (UDP) works" n1 client udp "${T_V4[b3]}" 5353 b3 2 --bind $F4
t_expect "no agent: from $F6 to b3 (TCP, IPv6) works" n1 client tcp "${T_V6[b3]}" 8080 b3 2 --bind $F6

t_start_agents
t_expect "own address: client -> b3 (TCP)" n1 client tcp "${T_V4[b3]}" 8080 b3 3 --bind "${T_V4[client]}"

s0=$(t_stat n1 spoofed_source)
m=$(t_flows_mark n1)
t_expect "from $F4 to b3 (other node, TCP): SYN dropped" n1 client tcp "${T_V4[b3]}" 8080 ETIMEDOUT 2 --bind $F4
t_expect "from $F4 to b3 (other node, UDP): datagram dropped" n1 client udp "${T_V4[b3]}" 5353 ETIMEDOUT 2 --bind $F4
t_expect "from $F6 to b3 (other node, TCP, IPv6): SYN dropped" n1 client tcp "${T_V6[b3]}" 8080 ETIMEDOUT 2 --bind $F6
t_expect "from $F6 to b3 (other node, UDP, IPv6): datagram dropped" n1 client udp "${T_V6[b3]}" 5353 ETIMEDOUT 2 --bind $F6
t_expect "from $F4 to b1 (same node, TCP): SYN dropped" n1 client tcp "${T_V4[b1]}" 8080 ETIMEDOUT 2 --bind $F4
t_expect "from $F4 via the VIP (TCP): SYN dropped" n1 client tcp "$T_VIP4" 80 ETIMEDOUT 2 --bind $F4
s1=$(t_stat n1 spoofed_source)
if ((s1 - s0 >= 12)); then t_ok "spoofed_source counted every dropped packet ($s0 -> $s1, >= 12)"
else t_fail "spoofed_source counted every dropped packet" "$s0 -> $s1, want an increase of at least 12"; fi
s2=$(t_stat n2 spoofed_source)
t_eq "n2 counted no spoofing (the packets never left n1)" "$s2" 0

t_flow "flow log: TCP from $F4 dropped as spoofed_source at tc_from_workload" n1 "$m" \
	".verdict == \"deny\" and .reason == \"spoofed_source\" and .hook == \"tc_from_workload\"
	 and .proto == \"tcp\" and .src.address == \"$F4\" and .dst.address == \"${T_V4[b3]}\" and .dst.port == 8080"
t_flow "flow log: UDP from $F4 dropped as spoofed_source" n1 "$m" \
	".reason == \"spoofed_source\" and .hook == \"tc_from_workload\" and .proto == \"udp\"
	 and .src.address == \"$F4\" and .dst.port == 5353"
t_flow "flow log: IPv6 from $F6 dropped as spoofed_source" n1 "$m" \
	".reason == \"spoofed_source\" and .src.address == \"$F6\" and .dst.address == \"${T_V6[b3]}\""
# The device the packet came from is client's: the record should say who sent it.
t_flow "flow log: the spoofing record names the sending workload (default/client)" n1 "$m" \
	".reason == \"spoofed_source\" and .src.address == \"$F4\" and .src.workload == \"default/client\""

# Claiming another workload's address: b2's (same node, own device) and
# client2's (other node). Added to client's eth0 without routes.
ip -n "$(topo_ns n1 client)" addr add "${T_V4[b2]}/32" dev eth0 &&
	ip -n "$(topo_ns n1 client)" addr add "${T_V4[client2]}/32" dev eth0 ||
	t_abort setup "other workloads' addresses on client"
s0=$(t_stat n1 spoofed_source)
m=$(t_flows_mark n1)
t_expect "as b2 (same node) to b3: SYN dropped" n1 client tcp "${T_V4[b3]}" 8080 ETIMEDOUT 2 --bind "${T_V4[b2]}"
t_expect "as client2 (other node) to b3: SYN dropped" n1 client tcp "${T_V4[b3]}" 8080 ETIMEDOUT 2 --bind "${T_V4[client2]}"
t_expect "as client2 (other node) to b3, UDP: dropped" n1 client udp "${T_V4[b3]}" 5353 ETIMEDOUT 2 --bind "${T_V4[client2]}"
s1=$(t_stat n1 spoofed_source)
if ((s1 - s0 >= 6)); then t_ok "impersonation counted as spoofed_source ($s0 -> $s1)"
else t_fail "impersonation counted as spoofed_source" "$s0 -> $s1, want an increase of at least 6"; fi
t_flow "flow log: posing as b2 logged as spoofed_source" n1 "$m" \
	".reason == \"spoofed_source\" and .hook == \"tc_from_workload\" and .src.address == \"${T_V4[b2]}\""
t_flow "flow log: posing as client2 logged as spoofed_source" n1 "$m" \
	".reason == \"spoofed_source\" and .src.address == \"${T_V4[client2]}\""
t_expect "b2 itself still reaches b3 from its own address" n1 b2 tcp "${T_V4[b3]}" 8080 b3 2
# (b2's address in client's namespace would make b2 local to client)
ip -n "$(topo_ns n1 client)" addr del "${T_V4[b2]}/32" dev eth0 &&
	ip -n "$(topo_ns n1 client)" addr del "${T_V4[client2]}/32" dev eth0 ||
	t_abort setup "removing the other workloads' addresses from client"

# client's own addresses were never affected.
t_expect "own address: client -> b3 (TCP)" n1 client tcp "${T_V4[b3]}" 8080 b3
t_expect "own address: client -> b3 (UDP)" n1 client udp "${T_V4[b3]}" 5353 b3
t_expect "own address: client -> b3 (TCP, IPv6)" n1 client tcp "${T_V6[b3]}" 8080 b3
t_expect "own address: client -> b3 (UDP, IPv6, bound to fd00:244:1::2)" n1 client udp "${T_V6[b3]}" 5353 b3 3 --bind "${T_V6[client]}"
t_expect "own address: client -> b1 (same node)" n1 client tcp "${T_V4[b1]}" 8080 b1
t_client n1 client --connect "$T_VIP4:80" --tcp -n 20
t_jq "own address: client -> VIP balanced and answered" "$T_OUT" '.ok == 20 and .peer_mismatch == 0'

t_finish
