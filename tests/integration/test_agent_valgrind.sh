#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The agent's long-running paths leak nothing: trestled runs under valgrind
# (memcheck) through a first apply, a changed configuration, a refused one,
# a policy change, a SIGHUP, link changes, flow events and SIGTERM, and must
# exit with every heap block freed and no memory error.
source "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || t_abort setup "valgrind is not installed (scripts/setup installs it)"
t_init
topo_node n1 || t_abort setup "topo_node failed"
topo_workload n1 client 10.244.1.2 fd00:244:1::2 &&
topo_workload n1 b1 10.244.1.10 fd00:244:1::10 || t_abort setup "topo_workload failed"
topo_echo n1 b1 b1 --tcp '[::]:8080' || t_abort setup "tr-echo failed"

policy() { # PRINCIPAL
	cat <<Y
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: b1, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/$1"]}}]}]
Y
}
{ t_web b1; y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"; policy client; } | t_config mesh.yaml

VG_LOG="$TOPO_DIR/valgrind-n1.log"
wrapper=$(t_valgrind_wrapper n1)
real_trestled=$TRESTLED
TRESTLED=$wrapper TOPO_AGENT_TIMEOUT=60 topo_agent n1 || t_abort agent "agent under valgrind did not start"
TRESTLED=$real_trestled

t_client n1 client --connect "$T_VIP4:80" --tcp -n 5
t_jq "traffic flows with the agent under valgrind" "$T_OUT" '.names.b1 == 5'
{ t_web b1; y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"; policy nobody; } | t_config mesh.yaml
sleep 3
t_client n1 client --connect "$T_VIP4:80" --tcp -n 3
t_jq "changed policy applied: client now denied" "$T_OUT" '.errors.EPERM == 3'
echo "kind: Nope" | t_config bad.yaml
sleep 2
t_config_rm bad.yaml
kill -HUP "$(topo_agent_pid n1)"
topo_workload n1 late 10.244.1.20 fd00:244:1::20 || t_fail "a workload added while the agent runs" "topo_workload failed"
sleep 3
topo_agent_stop n1 TERM
if [[ $TOPO_AGENT_RC == 0 ]]; then
	t_ok "trestled under valgrind exits 0: no leak, no memory error"
else
	t_fail "trestled under valgrind exits 0: no leak, no memory error" \
		"exit $TOPO_AGENT_RC; valgrind says: $(grep -v '^==[0-9]*== *$' "$VG_LOG" | head -40)"
fi
t_finish
