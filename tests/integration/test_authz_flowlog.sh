#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The flow log names the policy and the rule that decided, and the AUDIT
# policy and rule that matched. Every policy has several rules, so a wrong
# index shows. Node n1's agent runs with --flow-log-allow (allows are
# logged), n2's without (only denies and audited flows are).
#   default: client (n1), client2 (n2), b1 (n1, app=web), b2 (n1, app=api),
#            b3 (n2, app=db)
#   audit-web  AUDIT app=web  0: client2  1: client to 8080  2: 10.243.0.0/24
#   allow-api  ALLOW app=api  0: client2  1: client to 8080  2: 10.243.0.2/32 to 8080
#   deny-db    DENY  app=db   0: client2  1: client to 8080
#   audit-db   AUDIT app=db   0: client
# Connect-hook decisions are logged on the client's node, tc decisions on
# the destination's.
source "$(dirname "$0")/lib.sh"

C=$(y_principal client)
C2=$(y_principal client2)

t_mesh2
{
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
	y_pod b1 n1 "${T_V4[b1]} ${T_V6[b1]}" "app=web"
	y_pod b2 n1 "${T_V4[b2]} ${T_V6[b2]}" "app=api"
	y_pod b3 n2 "${T_V4[b3]} ${T_V6[b3]}" "app=db"
} | t_config pods.yaml
{
	y_authz default audit-web AUDIT "app=web" \
		"{from: [{source: {principals: [\"$C2\"]}}]}" \
		"{from: [{source: {principals: [\"$C\"]}}], to: [{operation: {ports: [\"8080\"]}}]}" \
		'{from: [{source: {ipBlocks: ["10.243.0.0/24"]}}]}'
	y_authz default allow-api ALLOW "app=api" \
		"{from: [{source: {principals: [\"$C2\"]}}]}" \
		"{from: [{source: {principals: [\"$C\"]}}], to: [{operation: {ports: [\"8080\"]}}]}" \
		'{from: [{source: {ipBlocks: ["10.243.0.2/32"]}}], to: [{operation: {ports: ["8080"]}}]}'
	y_authz default deny-db DENY "app=db" \
		"{from: [{source: {principals: [\"$C2\"]}}]}" \
		"{from: [{source: {principals: [\"$C\"]}}], to: [{operation: {ports: [\"8080\"]}}]}"
	y_authz default audit-db AUDIT "app=db" "{from: [{source: {principals: [\"$C\"]}}]}"
} | t_config pol.yaml
topo_agent n1 --flow-log-allow || t_abort agent-n1-start "agent on n1 (--flow-log-allow) did not start"
t_start_agents n2

audit1=$(t_stat n1 policy_audit) allow1=$(t_stat n1 policy_allow)
m1=$(t_flows_mark n1) m2=$(t_flows_mark n2)

# --- AUDIT: logged with audit_policy / audit_rule, verdict unchanged ---------
t_expect "client -> b1:8080 (audited) allowed" n1 client tcp "${T_V4[b1]}" 8080 b1 2
t_flow "flow: client -> b1:8080 allow, audit-web rule 1, no deciding policy" n1 "$m1" \
	'.verdict == "allow" and .hook == "connect" and .src.workload == "default/client"
	 and .dst.workload == "default/b1" and .dst.port == 8080 and .policy == null
	 and .audit_policy == "default/audit-web" and .audit_rule == 1'
t_expect "client -> b1:5353 UDP (not audited: rule 1 is port 8080) allowed" n1 client udp "${T_V4[b1]}" 5353 b1 2
t_flow "flow: client -> b1:5353 allow without audit (logged for --flow-log-allow)" n1 "$m1" \
	'.verdict == "allow" and .hook == "sendmsg" and .proto == "udp" and .dst.workload == "default/b1"
	 and .dst.port == 5353 and .audit_policy == null and .audit_rule == null'
t_expect "client2 -> b1:8080 (audited) allowed" n2 client2 tcp "${T_V4[b1]}" 8080 b1 2
t_flow "flow on n2 (no --flow-log-allow): the audited allow is logged, audit-web rule 0" n2 "$m2" \
	'.verdict == "allow" and .src.workload == "default/client2" and .dst.workload == "default/b1"
	 and .audit_policy == "default/audit-web" and .audit_rule == 0'
t_expect "unmanaged n2 -> b1:8080 (audited at tc) allowed" n2 - tcp "${T_V4[b1]}" 8080 b1 2
t_flow "flow on n1: tc allow of the unmanaged source, audit-web rule 2" n1 "$m1" \
	'.verdict == "allow" and .hook == "tc_to_workload" and .src.address == "10.243.0.2"
	 and .dst.workload == "default/b1" and .audit_policy == "default/audit-web" and .audit_rule == 2'

# --- ALLOW: the rule that allowed (logged on n1 only) ------------------------
t_expect "client -> b2:8080 allowed by allow-api rule 1" n1 client tcp "${T_V4[b2]}" 8080 b2 2
t_flow "flow: client -> b2:8080 allow, allow-api rule 1" n1 "$m1" \
	'.verdict == "allow" and .hook == "connect" and .dst.workload == "default/b2"
	 and .policy == "default/allow-api" and .rule == 1 and .reason == null'
t_expect "client -> b2:5353 UDP (no rule) refused" n1 client udp "${T_V4[b2]}" 5353 EPERM 2
t_flow "flow: client -> b2:5353 deny, policy_no_allow, no policy or rule" n1 "$m1" \
	'.verdict == "deny" and .hook == "sendmsg" and .reason == "policy_no_allow" and .default == "deny"
	 and .policy == null and .rule == null and .dst.workload == "default/b2" and .dst.port == 5353'
t_expect "unmanaged n2 -> b2:8080 allowed at tc by allow-api rule 2" n2 - tcp "${T_V4[b2]}" 8080 b2 2
t_flow "flow: tc allow of the unmanaged source, allow-api rule 2" n1 "$m1" \
	'.verdict == "allow" and .hook == "tc_to_workload" and .src.workload == null
	 and .dst.workload == "default/b2" and .policy == "default/allow-api" and .rule == 2'
t_expect "unmanaged n2 -> b2:5353 UDP dropped at tc" n2 - udp "${T_V4[b2]}" 5353 ETIMEDOUT 2
t_flow "flow: tc deny of the unmanaged UDP datagram, policy_no_allow" n1 "$m1" \
	'.verdict == "deny" and .hook == "tc_to_workload" and .proto == "udp" and .reason == "policy_no_allow"
	 and .dst.workload == "default/b2" and .dst.port == 5353'
t_expect "client2 -> b2:8080 allowed by allow-api rule 0" n2 client2 tcp "${T_V4[b2]}" 8080 b2 2
t_no_flow "n2 (no --flow-log-allow) logs no unaudited allow" n2 "$m2" \
	'.verdict == "allow" and .audit_policy == null'

# --- DENY: policy and rule index, with and without an AUDIT match -----------
t_expect "client -> b3:8080 refused by deny-db rule 1" n1 client tcp "${T_V4[b3]}" 8080 EPERM 2
t_flow "flow: client -> b3:8080 deny, deny-db rule 1, also audit-db rule 0" n1 "$m1" \
	'.verdict == "deny" and .reason == "policy_deny" and .hook == "connect"
	 and .policy == "default/deny-db" and .rule == 1
	 and .audit_policy == "default/audit-db" and .audit_rule == 0
	 and .src.identity == "spiffe://cluster.local/ns/default/sa/client"
	 and .dst.identity == "spiffe://cluster.local/ns/default/sa/b3"'
t_expect "client2 -> b3:8080 refused by deny-db rule 0" n2 client2 tcp "${T_V4[b3]}" 8080 EPERM 2
t_flow "flow on n2: client2 -> b3 deny, deny-db rule 0, no audit" n2 "$m2" \
	'.verdict == "deny" and .reason == "policy_deny" and .src.workload == "default/client2"
	 and .policy == "default/deny-db" and .rule == 0 and .audit_policy == null'
t_expect "client2 -> b3 over IPv6 refused" n2 client2 tcp "${T_V6[b3]}" 8080 EPERM 2
t_flow "flow on n2: the IPv6 deny carries the IPv6 addresses" n2 "$m2" \
	'.verdict == "deny" and .policy == "default/deny-db" and .rule == 0
	 and .src.address == "fd00:244:2::2" and .dst.address == "fd00:244:2::10"'
t_expect "client -> b3:5353 UDP (deny-db rule 1 is 8080 only) allowed" n1 client udp "${T_V4[b3]}" 5353 b3 2
t_flow "flow: client -> b3:5353 allow, audited by audit-db rule 0" n1 "$m1" \
	'.verdict == "allow" and .hook == "sendmsg" and .dst.workload == "default/b3"
	 and .policy == null and .audit_policy == "default/audit-db" and .audit_rule == 0'

# --- counters ---------------------------------------------------------------
audit2=$(t_stat n1 policy_audit) allow2=$(t_stat n1 policy_allow)
# audited on n1: client->b1:8080 x2, unmanaged->b1 x2, client->b3:8080 x2, client->b3:5353 x2
if ((audit2 - audit1 >= 8)); then t_ok "stats on n1: policy_audit counted the audited flows ($audit1 -> $audit2)"
else t_fail "stats on n1: policy_audit counted the audited flows" "$audit1 -> $audit2, want +8 or more"; fi
if ((allow2 > allow1)); then t_ok "stats on n1: policy_allow increased ($allow1 -> $allow2)"
else t_fail "stats on n1: policy_allow increased" "$allow1 -> $allow2"; fi

# --- the CLI, where it exists -----------------------------------------------
if topo_trestle n1 policy help >/dev/null 2>&1; then
	out=$(topo_trestle n1 -j policy list 2>&1)
	t_jq "trestle policy list on n1: per-policy counters" "$out" \
		'(map({key: .name, value: .}) | from_entries) as $p
		 | $p["deny-db"].denied >= 2 and $p["allow-api"].allowed >= 2 and $p["audit-web"].audited >= 4'
	out=$(topo_trestle n1 -j policy check default/client default/b3 8080 2>&1)
	t_jq "trestle policy check: client -> b3:8080 is deny-db rule 1" "$out" \
		'.verdict == "deny" and .policy == "default/deny-db" and .rule == 1'
fi
if topo_trestle n1 flows help >/dev/null 2>&1; then
	out=$(topo_trestle n1 -j flows --policy default/deny-db -n 100 2>&1)
	t_jq "trestle flows --policy default/deny-db on n1: only that policy's records" "$out" \
		'length >= 2 and all(.[]; .policy == "default/deny-db" or .audit_policy == "default/deny-db")'
	out=$(topo_trestle n1 -j flows --verdict audit -n 100 2>&1)
	t_jq "trestle flows --verdict audit on n1: audited records only, both AUDIT policies" "$out" \
		'length >= 4 and all(.[]; .audit_policy != null)
		 and ([.[].audit_policy] | unique) == ["default/audit-db", "default/audit-web"]'
fi

t_finish
