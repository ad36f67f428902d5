#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Connecting to a backend's own address instead of the service VIP must not
# change the verdict: the policy is about the backend workload and its port
# (the targetPort), whatever address the client used. Service web has one
# backend, b1, so the VIP always leads to it (VIP:80 -> 8080 TCP, VIP:53 ->
# 5353 UDP). For an allowed and a denied client, on the same node (b2 acting
# as a client) and on the other node (client2), over TCP, UDP (sendto and
# connected) and IPv4 and IPv6, the VIP and the direct address give the
# same answer; a process outside the mesh cannot use the VIP at all and is
# dropped at tc when it goes to b1 directly. Then the same with a DENY
# policy that names only the UDP port, and with one that names the service
# port (80) instead of the target port (matches nothing).
source "$(dirname "$0")/lib.sh"

C=$(y_principal client)
C2=$(y_principal client2)

t_mesh2
{
	t_web "b1"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod b2 n1 "${T_V4[b2]} ${T_V6[b2]}" "app=other"
	y_pod b3 n2 "${T_V4[b3]} ${T_V6[b3]}" "app=other"
	y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
} | t_config mesh.yaml
y_authz default b1-from-client ALLOW "version=v1" \
	"{from: [{source: {principals: [\"$C\"]}}], to: [{operation: {ports: [\"8080\", \"5353\"]}}]}" |
	t_config pol.yaml
t_start_agents

# same CASE NODE WL PROTO FAMILY WANT: the VIP and b1's address, same answer.
same() {
	local c=$1 node=$2 wl=$3 proto=$4 fam=$5 want=$6 vip dst vport dport
	if [[ $fam == 4 ]]; then vip=$T_VIP4 dst=${T_V4[b1]}; else vip=$T_VIP6 dst=${T_V6[b1]}; fi
	if [[ $proto == tcp ]]; then vport=80 dport=8080; else vport=53 dport=5353; fi
	t_expect "$c via the VIP ($proto, IPv$fam): $want" "$node" "$wl" "$proto" "$vip" "$vport" "$want"
	t_expect "$c direct to b1 ($proto, IPv$fam): $want" "$node" "$wl" "$proto" "$dst" "$dport" "$want"
}

t_info "--- ALLOW b1 from client only"
for fam in 4 6; do
	for proto in tcp udp; do
		same "allowed client (same node)" n1 client $proto $fam b1
		same "denied b2 (same node)" n1 b2 $proto $fam EPERM
		same "denied client2 (other node)" n2 client2 $proto $fam EPERM
	done
done
t_expect "denied client2, connected UDP via the VIP: EPERM" n2 client2 udp "$T_VIP4" 53 EPERM 3 --udp-connected
t_expect "denied client2, connected UDP direct: EPERM" n2 client2 udp "${T_V4[b1]}" 5353 EPERM 3 --udp-connected
t_expect "allowed client, connected UDP via the VIP" n1 client udp "$T_VIP4" 53 b1 3 --udp-connected
t_expect "unmanaged n2 -> b1 direct (TCP): dropped at tc" n2 - tcp "${T_V4[b1]}" 8080 ETIMEDOUT 2
t_expect "unmanaged n2 -> b1 direct (UDP): dropped at tc" n2 - udp "${T_V4[b1]}" 5353 ETIMEDOUT 2
t_expect "unmanaged n2 -> b1 direct (TCP, IPv6): dropped at tc" n2 - tcp "${T_V6[b1]}" 8080 ETIMEDOUT 2
t_expect "unmanaged n2 -> b3 direct (no policy): allowed" n2 - tcp "${T_V4[b3]}" 8080 b3 2

# The flow log shows the VIP attempt as what it is: a flow to b1's port.
m=$(t_flows_mark n2)
t_expect "denied client2 via the VIP once more" n2 client2 tcp "$T_VIP4" 80 EPERM 1
t_flow "flow log: a VIP connect is logged with b1 and port 8080" n2 "$m" \
	'.hook == "connect" and .verdict == "deny" and .src.workload == "default/client2"
	 and .dst.workload == "default/b1" and .dst.port == 8080 and .dst.address == "10.244.1.10"'
m=$(t_flows_mark n2)
t_expect "denied client2 via the UDP VIP once more" n2 client2 udp "$T_VIP6" 53 EPERM 1
t_flow "flow log: a VIP datagram is logged with b1 and port 5353" n2 "$m" \
	'.hook == "sendmsg" and .verdict == "deny" and .proto == "udp" and .dst.workload == "default/b1"
	 and .dst.port == 5353 and .dst.address == "fd00:244:1::10"'

# DENY client2 on UDP 5353 only: TCP allowed both ways, UDP denied both ways.
if y_authz default b1-no-udp-for-client2 DENY "version=v1" \
	"{from: [{source: {principals: [\"$C2\"]}}], to: [{operation: {ports: [\"5353\"]}}]}" |
	t_reconfig_policy pol.yaml; then
	t_info "--- DENY client2 -> b1 UDP 5353"
else
	t_fail "DENY client2 -> b1:5353 applied"
fi
for fam in 4 6; do
	same "client2 (other node), TCP not denied" n2 client2 tcp $fam b1
	same "client2 (other node), UDP denied" n2 client2 udp $fam EPERM
	same "client (same node), UDP not denied" n1 client udp $fam b1
done
same "b2 (same node) TCP allowed" n1 b2 tcp 4 b1
t_expect "unmanaged n2 -> b1 direct (UDP): allowed (the DENY names client2)" n2 - udp "${T_V4[b1]}" 5353 b1 2

# A DENY that names the service port (80), not the port the backend
# listens on: the decision is about the backend's port, so it matches
# nothing and client2 still gets through the VIP and directly.
if y_authz default b1-port-80 DENY "version=v1" \
	"{from: [{source: {principals: [\"$C2\"]}}], to: [{operation: {ports: [\"80\"]}}]}" |
	t_reconfig_policy pol.yaml; then
	t_info "--- DENY client2 -> b1 port 80 (the service port)"
else
	t_fail "DENY client2 -> b1:80 applied"
fi
same "client2, DENY on the service port 80" n2 client2 tcp 4 b1

t_finish
