#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# AuthorizationPolicy semantics, one policy set at a time, each applied live
# and checked from a same-node client, an other-node client and a process
# outside the mesh (node n2's own namespace: no socket hook, so tc on the
# destination's device decides by source address, and a denied SYN is
# dropped: ETIMEDOUT). Workloads (t_mesh2's, in two namespaces):
#   default: client (n1), b1 (n1, app=web version=v1), b2 (n1, app=web version=v2)
#   shop:    b3 (n2, app=shop), client2 (n2, app=client2)
# Cases: DENY before ALLOW (at the socket hook and at tc), a namespace-wide
# policy (no selector), mesh-wide policies in istio-system (with and without
# a selector), ALLOW without rules, `spec: {}` (in a namespace and in the
# root namespace), ALLOW with an empty rule, notPrincipals, principals "*".
source "$(dirname "$0")/lib.sh"

C=$(y_principal client)
C2=$(y_principal client2 shop)
U4=10.243.0.2 U6=fd00:243::2 # n2's underlay addresses: the unmanaged source

t_mesh2
{
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod b1 n1 "${T_V4[b1]} ${T_V6[b1]}" "app=web version=v1"
	y_pod b2 n1 "${T_V4[b2]} ${T_V6[b2]}" "app=web version=v2"
	y_pod_in shop b3 n2 "${T_V4[b3]} ${T_V6[b3]}" "app=shop"
	y_pod_in shop client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
} | t_config pods.yaml
t_start_agents

# policies: stdin becomes pol.yaml on every node; wait until both applied it.
policies() {
	local what=$1
	if t_reconfig_policy pol.yaml; then
		t_info "--- $what"
	else
		t_fail "$what: policy set applied on every node"
	fi
}

# Before any policy: everything is open (the baseline the cases differ from).
t_expect "no policy: client -> b1" n1 client tcp "${T_V4[b1]}" 8080 b1
t_expect "no policy: client2 -> b1 (other node)" n2 client2 tcp "${T_V4[b1]}" 8080 b1
t_expect "no policy: unmanaged n2 -> b1" n2 - tcp "${T_V4[b1]}" 8080 b1 2

# --- DENY is evaluated before ALLOW ------------------------------------------
# The ALLOW admits client, client2 and the node block; the DENY takes client2
# and n2's own addresses out again. Without DENY precedence both would pass.
{
	y_authz default allow-b1 ALLOW "version=v1" \
		"{from: [{source: {principals: [\"$C\", \"$C2\"]}}, {source: {ipBlocks: [\"10.243.0.0/24\", \"fd00:243::/64\"]}}], to: [{operation: {ports: [\"8080\", \"5353\"]}}]}"
	y_authz default deny-b1 DENY "version=v1" \
		"{from: [{source: {principals: [\"$C2\"]}}]}" \
		"{from: [{source: {ipBlocks: [\"$U4/32\", \"$U6/128\"]}}]}"
} | policies "DENY before ALLOW"
m2=$(t_flows_mark n2) m1=$(t_flows_mark n1)
deny0=$(t_stat n2 policy_deny)
t_expect "deny>allow: client -> b1 allowed (only the ALLOW matches)" n1 client tcp "${T_V4[b1]}" 8080 b1
t_expect "deny>allow: client -> b1 over IPv6 allowed" n1 client tcp "${T_V6[b1]}" 8080 b1
t_expect "deny>allow: client -> b1 UDP allowed" n1 client udp "${T_V4[b1]}" 5353 b1
t_expect "deny>allow: client2 -> b1 (matched by both) refused at connect" n2 client2 tcp "${T_V4[b1]}" 8080 EPERM
t_expect "deny>allow: client2 -> b1 over IPv6 refused" n2 client2 tcp "${T_V6[b1]}" 8080 EPERM
t_expect "deny>allow: client2 -> b1 UDP refused at sendmsg" n2 client2 udp "${T_V4[b1]}" 5353 EPERM
deny1=$(t_stat n2 policy_deny)
t_eq "deny>allow: n2 counts the 9 refusals (3 cases x 3) as policy_deny" "$((deny1 - deny0))" 9
t_flow "deny>allow: n2's flow log names deny-b1 rule 0 for client2" n2 "$m2" \
	'.verdict == "deny" and .reason == "policy_deny" and .policy == "default/deny-b1" and .rule == 0
	 and .src.workload == "shop/client2" and .dst.workload == "default/b1" and .hook == "connect"'
t_expect "deny>allow: unmanaged n2 -> b1 (in both blocks) dropped at tc" n2 - tcp "${T_V4[b1]}" 8080 ETIMEDOUT 2
t_expect "deny>allow: unmanaged n2 -> b1 over IPv6 dropped at tc" n2 - tcp "${T_V6[b1]}" 8080 ETIMEDOUT 2
t_flow "deny>allow: n1's flow log names deny-b1 rule 1 for the tc drop" n1 "$m1" \
	'.verdict == "deny" and .hook == "tc_to_workload" and .policy == "default/deny-b1" and .rule == 1
	 and .src.address == "10.243.0.2" and .dst.port == 8080'
t_expect "deny>allow: unmanaged n2 -> b2 (no policy) allowed" n2 - tcp "${T_V4[b2]}" 8080 b2 2

# --- namespace-wide: no selector selects every workload of the namespace ---
y_authz default ns-default-only ALLOW "" '{from: [{source: {namespaces: ["default"]}}]}' |
	policies "namespace-wide ALLOW in default"
t_expect "ns-wide: client (default) -> b1 allowed" n1 client tcp "${T_V4[b1]}" 8080 b1
t_expect "ns-wide: client (default) -> b2 allowed" n1 client tcp "${T_V4[b2]}" 8080 b2
t_expect "ns-wide: client2 (shop) -> b1 refused" n2 client2 tcp "${T_V4[b1]}" 8080 EPERM
t_expect "ns-wide: client2 (shop) -> b2 refused (selected without a label)" n2 client2 tcp "${T_V4[b2]}" 8080 EPERM
t_expect "ns-wide: client2 (shop) -> b2 over IPv6 refused" n2 client2 tcp "${T_V6[b2]}" 8080 EPERM
t_expect "ns-wide: client2 -> b3 (namespace shop: not selected) allowed" n2 client2 tcp "${T_V4[b3]}" 8080 b3
t_expect "ns-wide: client -> b3 across nodes allowed" n1 client tcp "${T_V4[b3]}" 8080 b3
t_expect "ns-wide: unmanaged n2 -> b2 (no namespace) dropped at tc" n2 - tcp "${T_V4[b2]}" 8080 ETIMEDOUT 2

# --- mesh-wide: a policy in the root namespace applies to every namespace ---
y_authz istio-system no-shop-8080 DENY "" \
	'{from: [{source: {namespaces: ["shop"]}}], to: [{operation: {ports: ["8080"]}}]}' |
	policies "mesh-wide DENY in istio-system"
t_expect "mesh-wide deny: client2 -> b3 (its own namespace, same node) refused" n2 client2 tcp "${T_V4[b3]}" 8080 EPERM
t_expect "mesh-wide deny: client2 -> b1 (namespace default, other node) refused" n2 client2 tcp "${T_V4[b1]}" 8080 EPERM
t_expect "mesh-wide deny: client2 -> b3 over IPv6 refused" n2 client2 tcp "${T_V6[b3]}" 8080 EPERM
t_expect "mesh-wide deny: client2 -> b3 UDP 5353 (port not named) allowed" n2 client2 udp "${T_V4[b3]}" 5353 b3
t_expect "mesh-wide deny: client -> b3 allowed" n1 client tcp "${T_V4[b3]}" 8080 b3
t_expect "mesh-wide deny: client -> b1 allowed" n1 client tcp "${T_V4[b1]}" 8080 b1
t_expect "mesh-wide deny: unmanaged n2 -> b1 (no namespace) allowed" n2 - tcp "${T_V4[b1]}" 8080 b1 2

y_authz istio-system web-from-client ALLOW "app=web" "{from: [{source: {principals: [\"$C\"]}}]}" |
	policies "mesh-wide ALLOW with a selector"
t_expect "mesh-wide allow app=web: client -> b1 allowed" n1 client tcp "${T_V4[b1]}" 8080 b1
t_expect "mesh-wide allow app=web: client -> b2 allowed" n1 client tcp "${T_V4[b2]}" 8080 b2
t_expect "mesh-wide allow app=web: client2 -> b1 refused" n2 client2 tcp "${T_V4[b1]}" 8080 EPERM
t_expect "mesh-wide allow app=web: client2 -> b2 refused" n2 client2 tcp "${T_V4[b2]}" 8080 EPERM
t_expect "mesh-wide allow app=web: client2 -> b3 (app=shop) allowed" n2 client2 tcp "${T_V4[b3]}" 8080 b3

# --- ALLOW without rules allows nothing; with an empty rule, everything ------
y_authz default b1-nothing ALLOW "version=v1" | policies "ALLOW without rules"
m2=$(t_flows_mark n2)
t_expect "allow, no rules: client -> b1 refused" n1 client tcp "${T_V4[b1]}" 8080 EPERM
t_expect "allow, no rules: client -> b1 UDP refused" n1 client udp "${T_V4[b1]}" 5353 EPERM
t_expect "allow, no rules: client2 -> b1 refused" n2 client2 tcp "${T_V4[b1]}" 8080 EPERM
t_flow "allow, no rules: flow log says policy_no_allow, default deny" n2 "$m2" \
	'.verdict == "deny" and .reason == "policy_no_allow" and .default == "deny" and .dst.workload == "default/b1"'
t_expect "allow, no rules: unmanaged n2 -> b1 dropped at tc" n2 - tcp "${T_V4[b1]}" 8080 ETIMEDOUT 2
t_expect "allow, no rules: client -> b2 (not selected) allowed" n1 client tcp "${T_V4[b2]}" 8080 b2

y_authz default b1-anything ALLOW "version=v1" '{}' | policies "ALLOW with one empty rule"
t_expect "allow, empty rule: client -> b1 allowed" n1 client tcp "${T_V4[b1]}" 8080 b1
t_expect "allow, empty rule: client2 -> b1 allowed" n2 client2 tcp "${T_V4[b1]}" 8080 b1
t_expect "allow, empty rule: unmanaged n2 -> b1 allowed" n2 - tcp "${T_V4[b1]}" 8080 b1 2

# --- spec: {} --------------------------------------------------------------
y_authz default allow-nothing "{}" | policies "spec: {} in default"
t_expect "spec {} in default: client -> b1 refused" n1 client tcp "${T_V4[b1]}" 8080 EPERM
t_expect "spec {} in default: client -> b2 over IPv6 refused" n1 client tcp "${T_V6[b2]}" 8080 EPERM
t_expect "spec {} in default: client2 -> b2 refused" n2 client2 tcp "${T_V4[b2]}" 8080 EPERM
t_expect "spec {} in default: client -> b3 (namespace shop) allowed" n1 client tcp "${T_V4[b3]}" 8080 b3
t_expect "spec {} in default: unmanaged n2 -> b2 dropped at tc" n2 - tcp "${T_V4[b2]}" 8080 ETIMEDOUT 2

y_authz istio-system allow-nothing "{}" | policies "spec: {} in istio-system"
t_expect "spec {} mesh-wide: client2 -> b3 (same node, shop) refused" n2 client2 tcp "${T_V4[b3]}" 8080 EPERM
t_expect "spec {} mesh-wide: client -> b3 (other node) refused" n1 client tcp "${T_V4[b3]}" 8080 EPERM
t_expect "spec {} mesh-wide: client -> b1 refused" n1 client tcp "${T_V4[b1]}" 8080 EPERM
t_expect "spec {} mesh-wide: unmanaged n2 -> b1 dropped at tc" n2 - tcp "${T_V4[b1]}" 8080 ETIMEDOUT 2

# --- notPrincipals ------------------------------------------------------------
y_authz default b1-only-client DENY "version=v1" "{from: [{source: {notPrincipals: [\"$C\"]}}]}" |
	policies "DENY notPrincipals"
m1=$(t_flows_mark n1)
t_expect "notPrincipals: client -> b1 allowed" n1 client tcp "${T_V4[b1]}" 8080 b1
t_expect "notPrincipals: client -> b1 over IPv6 allowed" n1 client tcp "${T_V6[b1]}" 8080 b1
t_expect "notPrincipals: client2 -> b1 refused" n2 client2 tcp "${T_V4[b1]}" 8080 EPERM
t_expect "notPrincipals: client2 -> b1 UDP refused" n2 client2 udp "${T_V4[b1]}" 5353 EPERM
t_expect "notPrincipals: unmanaged n2 -> b1 (no principal at all) dropped at tc" n2 - tcp "${T_V4[b1]}" 8080 ETIMEDOUT 2
t_flow "notPrincipals: n1 logs the tc drop as policy_deny by b1-only-client" n1 "$m1" \
	'.hook == "tc_to_workload" and .reason == "policy_deny" and .policy == "default/b1-only-client" and .rule == 0'
t_expect "notPrincipals: client2 -> b2 (not selected) allowed" n2 client2 tcp "${T_V4[b2]}" 8080 b2

# --- principals ["*"]: any workload identity, but not the unmanaged process -
y_authz default b1-any-workload ALLOW "version=v1" '{from: [{source: {principals: ["*"]}}]}' |
	policies "ALLOW principals *"
t_expect "principals *: client -> b1 allowed" n1 client tcp "${T_V4[b1]}" 8080 b1
t_expect "principals *: client2 (other node, other namespace) -> b1 allowed" n2 client2 tcp "${T_V4[b1]}" 8080 b1
t_expect "principals *: client2 -> b1 over IPv6 allowed" n2 client2 tcp "${T_V6[b1]}" 8080 b1
t_expect "principals *: client2 -> b1 UDP allowed" n2 client2 udp "${T_V4[b1]}" 5353 b1
t_expect "principals *: unmanaged n2 -> b1 dropped at tc" n2 - tcp "${T_V4[b1]}" 8080 ETIMEDOUT 2
t_expect "principals *: unmanaged n2 -> b1 over IPv6 dropped at tc" n2 - tcp "${T_V6[b1]}" 8080 ETIMEDOUT 2
t_expect "principals *: unmanaged n2 -> b1 UDP dropped at tc" n2 - udp "${T_V4[b1]}" 5353 ETIMEDOUT 2
t_expect "principals *: unmanaged n2 -> b2 (not selected) allowed" n2 - tcp "${T_V4[b2]}" 8080 b2 2

t_finish
