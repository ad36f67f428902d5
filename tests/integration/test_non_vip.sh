#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Addresses that are not service VIP:port pairs are left alone: direct
# connections to a backend reach exactly that backend and see its real
# address; a VIP on a port the service does not have, an unknown VIP, and
# a VIP with the wrong protocol are not translated: they arrive, unchanged,
# at a "sink" workload that holds the VIP addresses (t_sink), and the client
# sees the address it used.
source "$(dirname "$0")/lib.sh"

t_mesh2
t_sink
{
	y_service web "$T_VIP4 $T_VIP6" "http:TCP:80:8080"
	y_slice web-v4 web IPv4 "http:TCP:8080" "${T_V4[b1]}:true:n1:b1 ${T_V4[b2]}:true:n1:b2"
	y_slice web-v6 web IPv6 "http:TCP:8080" "${T_V6[b1]//:/_}:true:n1:b1 ${T_V6[b2]//:/_}:true:n1:b2"
} | t_config web.yaml
t_start_agents n1

t_client n1 client --connect "$T_VIP4:80" --tcp -n 20
t_jq "the service itself works" "$T_OUT" '.ok == 20'

t_client n1 client --connect "${T_V4[b2]}:8080" --tcp -n 50
t_jq "tcp4 direct to b2: only b2, peer is b2's address" "$T_OUT" '.names == {"b2": 50} and .peer_mismatch == 0'
t_client n1 client --connect "[${T_V6[b1]}]:8080" --tcp -n 50
t_jq "tcp6 direct to b1: only b1, peer is b1's address" "$T_OUT" '.names == {"b1": 50} and .peer_mismatch == 0'
t_client n1 client --connect "${T_V4[b3]}:5353" --udp -n 20
t_jq "udp4 direct to b3 (other node): only b3, source is b3's address" "$T_OUT" '.names == {"b3": 20} and .peer_mismatch == 0'
t_client n1 client --connect "[${T_V6[b3]}]:5353" --udp --udp-connected -n 20
t_jq "udp6 connected direct to b3: only b3" "$T_OUT" '.names == {"b3": 20} and .peer_mismatch == 0'

untouched() { # CASE ARGS...: the request reaches the sink, unchanged
	local c=$1; shift
	t_client n1 client "$@" -n 20 --timeout 1000
	t_jq "$c: not translated (reaches the sink, peer as addressed)" "$T_OUT" '.names == {"sink": 20} and .peer_mismatch == 0'
}
untouched "tcp4 VIP, port not in the service" --connect "$T_VIP4:81" --tcp
untouched "tcp6 VIP, target port instead of service port" --connect "[$T_VIP6]:8080" --tcp
untouched "tcp4 unknown VIP" --connect 10.96.0.99:80 --tcp
untouched "tcp6 unknown VIP" --connect "[fd00:96::99]:80" --tcp
untouched "udp4 VIP:80 (service has TCP only)" --connect "$T_VIP4:80" --udp
untouched "udp6 connected VIP:53 (service has TCP only)" --connect "[$T_VIP6]:53" --udp --udp-connected

# A process in the node's network namespace but outside the node's cgroup
# is not load-balanced either.
out=$(topo_node_run n1 "$TR_CLIENT" --json --connect "$T_VIP4:80" --tcp -n 20 --timeout 1000 2>&1)
t_jq "outside the node cgroup: VIP not translated (reaches the sink)" "$out" '.names == {"sink": 20} and .peer_mismatch == 0'

t_finish
