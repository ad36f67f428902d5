#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A service whose endpoints are all ready: false refuses connections with
# ECONNREFUSED (IPv4 and IPv6) -- it must not fall through to the VIP or to
# a not-ready backend. Marking one endpoint ready makes traffic flow again.
source "$(dirname "$0")/lib.sh"

t_mesh2
t_web "b1 b2" false | t_config web.yaml
t_start_agents n1

for fam in 4 6; do
	if [[ $fam == 4 ]]; then vip="$T_VIP4:80"; else vip="[$T_VIP6]:80"; fi
	t_client n1 client --connect "$vip" --tcp -n 20 --timeout 1000
	t_jq "tcp$fam: all 20 connects fail with ECONNREFUSED" "$T_OUT" \
		'.ok == 0 and .errors == {"ECONNREFUSED": 20}'
done

# The backends themselves are fine: only the mesh refuses.
t_client n1 client --connect "${T_V4[b1]}:8080" --tcp -n 5
t_jq "direct connection to the not-ready backend b1 works" "$T_OUT" '.names == {"b1": 5}'

# One endpoint becomes ready: only it gets traffic.
{
	y_service web "$T_VIP4 $T_VIP6" "http:TCP:80:8080 dns:UDP:53:5353"
	y_slice web-v4 web IPv4 "http:TCP:8080 dns:UDP:5353" "${T_V4[b1]}:false:n1:b1 ${T_V4[b2]}:true:n1:b2"
	y_slice web-v6 web IPv6 "http:TCP:8080 dns:UDP:5353" "${T_V6[b1]//:/_}:false:n1:b1 ${T_V6[b2]//:/_}:true:n1:b2"
} | t_reconfig web.yaml || t_fail "reload after marking b2 ready" "generation did not change"
for fam in 4 6; do
	if [[ $fam == 4 ]]; then vip="$T_VIP4:80"; else vip="[$T_VIP6]:80"; fi
	t_client n1 client --connect "$vip" --tcp -n 50
	t_jq "tcp$fam: with b2 ready, all 50 connections reach b2 only" "$T_OUT" '.names == {"b2": 50} and .peer_mismatch == 0'
done

t_finish
