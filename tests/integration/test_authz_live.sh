#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Policy changes at run time. A DENY on b1 (for client2, and for node n2's
# own addresses) applied live refuses new connections at once while two
# connections opened before it (client2's, decided at connect on n2, and an
# unmanaged one from n2, decided at tc on n1) keep working: only new
# connections are decided. Removing it lets new connections in again.
# A refused configuration (an L7 field; a bad CIDR) leaves the policy in
# force -- also the valid parts of the refused file are not applied -- and
# the agent log names file:line and the field. After kill -9 of both agents
# the data path keeps enforcing, and after their restart too; a change after
# the restart is applied.
source "$(dirname "$0")/lib.sh"

C2=$(y_principal client2)

t_mesh2
{
	t_web "b1 b2 b3"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"
} | t_config mesh.yaml
t_start_agents

deny_b1() {
	y_authz default deny-b1 DENY "version=v1" \
		"{from: [{source: {principals: [\"$C2\"]}}]}" \
		'{from: [{source: {ipBlocks: ["10.243.0.2/32", "fd00:243::2/128"]}}]}'
}

# policy_rm: remove pol.yaml and wait until both agents applied that.
policy_rm() {
	local node ok=0
	declare -A mark=()
	for node in n1 n2; do mark[$node]=$(t_log_mark $node); done
	t_config_rm pol.yaml
	for node in n1 n2; do t_log_wait $node "${mark[$node]}" 'authorization applied' 10 || ok=1; done
	return $ok
}

# is_denied PREFIX / is_open PREFIX: the state of b1 for client2 and n2.
is_denied() {
	t_expect "$1: client2 -> b1 refused" n2 client2 tcp "${T_V4[b1]}" 8080 EPERM
	t_expect "$1: client2 -> b1 UDP refused" n2 client2 udp "${T_V4[b1]}" 5353 EPERM
	t_expect "$1: unmanaged n2 -> b1 dropped at tc" n2 - tcp "${T_V4[b1]}" 8080 ETIMEDOUT 2
	t_expect "$1: client -> b1 (not named) allowed" n1 client tcp "${T_V4[b1]}" 8080 b1
	t_expect "$1: client2 -> b2 (version v2: not selected) allowed" n2 client2 tcp "${T_V4[b2]}" 8080 b2
}
is_open() {
	t_expect "$1: client2 -> b1 allowed" n2 client2 tcp "${T_V4[b1]}" 8080 b1
	t_expect "$1: client2 -> b1 UDP allowed" n2 client2 udp "${T_V4[b1]}" 5353 b1
	t_expect "$1: unmanaged n2 -> b1 allowed" n2 - tcp "${T_V4[b1]}" 8080 b1 2
}

is_open "no policy"

# --- established connections survive a later DENY --------------------------
r1="$TOPO_DIR/hold1.ready" r2="$TOPO_DIR/hold2.ready"
topo_run n2 client2 "$TR_CLIENT" --json --connect "${T_V4[b1]}:8080" --tcp --hold 6 --ready "$r1" \
	> "$TOPO_DIR/hold1.out" 2>&1 &
hold1=$!
topo_node_run n2 "$TR_CLIENT" --json --connect "${T_V4[b1]}:8080" --tcp --hold 6 --ready "$r2" \
	> "$TOPO_DIR/hold2.out" 2>&1 &
hold2=$!
for ((i = 0; i < 50; i++)); do [[ -s $r1 && -s $r2 ]] && break; sleep 0.1; done
[[ -s $r1 && -s $r2 ]] || t_abort "held connections established" "$(cat "$TOPO_DIR"/hold?.out)"

deny_b1 | t_reconfig_policy pol.yaml && t_ok "DENY applied live" || t_fail "DENY applied live"
if kill -0 "$hold1" 2>/dev/null && kill -0 "$hold2" 2>/dev/null; then
	t_ok "both held connections were still open when the DENY took effect"
else
	t_fail "both held connections were still open when the DENY took effect" "$(cat "$TOPO_DIR"/hold?.out)"
fi
is_denied "after DENY"
t_expect "after DENY: client2 -> b1 over IPv6 refused" n2 client2 tcp "${T_V6[b1]}" 8080 EPERM
t_expect "after DENY: unmanaged n2 -> b1 over IPv6 dropped" n2 - tcp "${T_V6[b1]}" 8080 ETIMEDOUT 2
wait "$hold1"; rc1=$?
wait "$hold2"; rc2=$?
out1=$(cat "$TOPO_DIR/hold1.out") out2=$(cat "$TOPO_DIR/hold2.out")
t_jq "client2's connection opened before the DENY kept working (6 s of pings)" "$out1" '.ok and .pings >= 40'
t_jq "the unmanaged connection opened before the DENY kept working (tc decides only SYNs)" "$out2" '.ok and .pings >= 40'
t_eq "held connections exited 0" "$rc1/$rc2" "0/0"

policy_rm && t_ok "DENY removed live" || t_fail "DENY removed live"
is_open "DENY removed"
deny_b1 | t_reconfig_policy pol.yaml && t_ok "DENY applied again" || t_fail "DENY applied again"
is_denied "DENY again"

# --- a refused configuration leaves the policy in force ----------------------
# refused NAME FIELD-REGEX: write stdin as pol.yaml, expect both agents to
# refuse it naming pol.yaml:LINE (LINE: the first line matching FIELD-REGEX
# in the file) and the field; generation and policy epoch stay.
refused() {
	local what=$1 field=$2 node line f ok=1 gen1 gen2
	declare -A mark=()
	for node in n1 n2; do mark[$node]=$(t_log_mark $node); done
	gen1=$(t_gen n1)
	t_config pol.yaml
	f="$(topo_config_dir n1)/pol.yaml"
	line=$(grep -n -E -- "$field" "$f" | head -n 1 | cut -d: -f1)
	for node in n1 n2; do
		if t_log_wait $node "${mark[$node]}" "configuration refused" 10; then
			t_ok "$what: refused on $node"
		else
			t_fail "$what: refused on $node" "no 'configuration refused' in the log"; ok=0
		fi
		if tail -n "+$((${mark[$node]} + 1))" "$(topo_agent_log $node)" |
			grep -Eq -- "pol\\.yaml:$line: .*$field"; then
			t_ok "$what: $node's log names pol.yaml:$line and the field"
		else
			t_fail "$what: $node's log names pol.yaml:$line and the field" \
				"$(tail -n "+$((${mark[$node]} + 1))" "$(topo_agent_log $node)" | grep -E 'error' | head -n 3 | tr '\n' ' ')"
		fi
		if tail -n "+$((${mark[$node]} + 1))" "$(topo_agent_log $node)" | grep -q 'authorization applied'; then
			t_fail "$what: $node applied no authorization" "$(grep 'authorization applied' "$(topo_agent_log $node)" | tail -n 1)"
		else
			t_ok "$what: $node applied no authorization"
		fi
	done
	gen2=$(t_gen n1)
	t_eq "$what: generation stays" "$gen2" "$gen1"
	return $ok
}

# The L7 field sits in a policy that would open b1 to client2; another,
# valid policy in the same file would close b2 (app=web) to client2.
{
	y_authz default deny-b1 ALLOW "version=v1" \
		"{from: [{source: {principals: [\"$C2\"]}}], to: [{operation: {methods: [\"GET\"]}}]}"
	y_authz default deny-web DENY "app=web" "{from: [{source: {principals: [\"$C2\"]}}]}"
} | refused "L7 field methods" "methods"
is_denied "after the refused L7 policy"

{
	deny_b1
	y_authz default deny-web DENY "app=web" "{from: [{source: {principals: [\"$C2\"]}}]}"
	y_authz default bad-cidr DENY "version=v2" '{from: [{source: {ipBlocks: ["10.243.0.0/33"]}}]}'
} | refused "bad CIDR 10.243.0.0/33" "ipBlocks|10\\.243\\.0\\.0/33"
is_denied "after the refused bad CIDR"

{
	deny_b1
	y_authz default notports DENY "version=v1" '{to: [{operation: {ports: ["8080"], paths: ["/admin"]}}]}'
} | refused "L7 field paths next to ports" "paths"
is_denied "after the refused paths"

# A valid file after the refusals is applied.
y_authz default b1-open ALLOW "version=v1" '{}' | t_reconfig_policy pol.yaml &&
	t_ok "a valid policy after the refusals is applied" || t_fail "a valid policy after the refusals is applied"
is_open "after the refusals, a valid ALLOW-all"
deny_b1 | t_reconfig_policy pol.yaml || t_fail "DENY applied before the restart"

# --- agent restart ------------------------------------------------------------
topo_agent_stop n1 KILL && topo_agent_stop n2 KILL || t_abort "kill -9 the agents"
t_eq "kill -9: both agents gone" "$(topo_agent_pid n1)$(topo_agent_pid n2)" ""
is_denied "agents down"
t_expect "agents down: client2 -> b1 over IPv6 refused" n2 client2 tcp "${T_V6[b1]}" 8080 EPERM
t_start_agents
t_ok "agents restarted after kill -9"
m=$(t_flows_mark n2)
is_denied "after restart"
t_flow "after restart: n2's flow log records client2's refusal" n2 "$m" \
	'.verdict == "deny" and .policy == "default/deny-b1" and .rule == 0 and .src.workload == "default/client2"'
policy_rm && t_ok "after restart: DENY removed live" || t_fail "after restart: DENY removed live"
is_open "after restart, DENY removed"

t_finish
