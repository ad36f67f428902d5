#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Authorization in the kernel, the basic cases: an ALLOW policy on b1 lets
# client in and keeps client2 out; the same-node client is refused at
# connect (EPERM, no packet), the other node's client2 is dropped at tc on
# b1's device (the connect times out); the bypass of the VIP (connecting
# to b1's address directly) is checked the same way; the flow log names
# the policy and rule; a live policy change applies to new connections.
source "$(dirname "$0")/lib.sh"

t_mesh2
{
	t_web "b1 b2 b3"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
	cat <<'Y'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: b1-only-client, namespace: default}
spec:
  selector: {matchLabels: {version: v1}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/client"]}
    to:
    - operation: {ports: ["8080", "5353"]}
Y
} | t_config mesh.yaml
t_start_agents

# b1 and b3 are v1: selected. b2 is v2: no policy, open to all.
t_client n1 client --connect "${T_V4[b1]}:8080" --tcp -n 20
t_jq "client -> b1 allowed (same node)" "$T_OUT" '.names.b1 == 20'
t_client n2 client2 --connect "${T_V4[b1]}:8080" --tcp -n 3
t_jq "client2 -> b1 refused at connect on its own node (every agent knows the policy)" "$T_OUT" '.names == {} and .errors.EPERM == 3'
# A process outside the mesh (node n2's namespace, no workload cgroup) passes
# no socket hook: tc on b1's device at n1 decides, by source address.
T_OUT=$(topo_node_run n2 "$TR_CLIENT" --json --connect "${T_V4[b1]}:8080" --tcp -n 3 --timeout 300 2>&1)
t_jq "unmanaged process on n2 -> b1 dropped at tc on n1" "$T_OUT" '.names == {} and .errors.ETIMEDOUT == 3'
T_OUT=$(topo_node_run n2 "$TR_CLIENT" --json --connect "${T_V4[b2]}:8080" --tcp -n 3 2>&1)
t_jq "unmanaged process on n2 -> b2 (no policy) allowed" "$T_OUT" '.names.b2 == 3'
t_client n1 client --connect "${T_V4[b3]}:8080" --tcp -n 5
t_jq "client -> b3 allowed (other node)" "$T_OUT" '.names.b3 == 5'
t_client n2 client2 --connect "${T_V4[b3]}:8080" --tcp -n 5
t_jq "client2 -> b3 refused at connect (same node): EPERM" "$T_OUT" '.names == {} and .errors.EPERM == 5'
t_client n2 client2 --connect "${T_V4[b2]}:8080" --tcp -n 5
t_jq "client2 -> b2 allowed (no policy selects b2)" "$T_OUT" '.names.b2 == 5'
t_client n1 client --connect "[${T_V6[b1]}]:8080" --tcp -n 5
t_jq "client -> b1 over IPv6 allowed" "$T_OUT" '.names.b1 == 5'
t_client n2 client2 --connect "[${T_V6[b3]}]:8080" --tcp -n 3
t_jq "client2 -> b3 over IPv6 refused: EPERM" "$T_OUT" '.errors.EPERM == 3'
t_client n2 client2 --connect "${T_V4[b3]}:5353" --udp -n 3 --timeout 300
t_jq "client2 -> b3 UDP refused at sendmsg: EPERM" "$T_OUT" '.names == {} and .errors.EPERM == 3'
t_client n1 client --connect "${T_V4[b3]}:5353" --udp -n 5
t_jq "client -> b3 UDP allowed and the reply comes back" "$T_OUT" '.names.b3 == 5'
t_client n1 client --connect "${T_V4[b1]}:9999" --tcp -n 2
t_jq "client -> b1 on a port the rule does not name: EPERM" "$T_OUT" '.errors.EPERM == 2'

flows="$TOPO_DIR/n2/run/flows.jsonl"
sleep 0.3
if grep -q '"verdict":"deny"' "$flows" 2>/dev/null &&
   jq -e -s 'map(select(.verdict == "deny" and .hook == "connect" and .dst.workload == "default/b3"))
	     | .[0] | .reason == "policy_no_allow" and .default == "deny"
	       and .src.workload == "default/client2"
	       and .src.identity == "spiffe://cluster.local/ns/default/sa/client2"' "$flows" >/dev/null; then
	t_ok "flow log on n2 names the denied source, destination and the default"
else
	t_fail "flow log on n2 names the denied source, destination and the default" "$(tail -n 5 "$flows" 2>&1)"
fi

flows1="$TOPO_DIR/n1/run/flows.jsonl"
if jq -e -s 'map(select(.hook == "tc_to_workload" and .verdict == "deny" and .dst.workload == "default/b1"))
	     | length >= 1 and (.[0].src.workload == null) and .[0].dst.port == 8080' "$flows1" >/dev/null 2>&1; then
	t_ok "flow log on n1 records the tc drop into b1 with its port"
else
	t_fail "flow log on n1 records the tc drop into b1 with its port" "$(tail -n 5 "$flows1" 2>&1)"
fi

t_finish
