#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# TCP and UDP through a service VIP, IPv4 and IPv6: every request reaches a
# backend of the service, both backends get traffic, and the application
# sees the VIP -- getpeername() for TCP and connected UDP, the recvfrom()
# source for UDP (unconnected sendto and connected).
source "$(dirname "$0")/lib.sh"

t_mesh2
t_web "b1 b2" | t_config web.yaml
t_start_agents n1

N=200
check() { # CASE-PREFIX ARGS...
	local c=$1; shift
	if t_client n1 client "$@" -n $N; then
		t_ok "$c: $N requests succeed"
	else
		t_fail "$c: $N requests succeed" "$T_OUT"
	fi
	t_jq "$c: application sees the VIP as peer" "$T_OUT" '.peer_mismatch == 0 and .requests > 0'
	t_jq "$c: only backends b1/b2 answer" "$T_OUT" '(.names | keys - ["b1","b2"]) == [] and (.names | length) > 0'
	# P(one of two equal backends gets none of 200) = 2^-199.
	t_jq "$c: both backends get traffic" "$T_OUT" '.names.b1 > 0 and .names.b2 > 0'
}

check "tcp4" --connect "$T_VIP4:80" --tcp
check "tcp6" --connect "[$T_VIP6]:80" --tcp
check "udp4 sendto" --connect "$T_VIP4:53" --udp
check "udp4 connected" --connect "$T_VIP4:53" --udp --udp-connected
check "udp6 sendto" --connect "[$T_VIP6]:53" --udp
check "udp6 connected" --connect "[$T_VIP6]:53" --udp --udp-connected

t_finish
