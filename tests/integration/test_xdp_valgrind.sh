#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The uplink load balancer's long-running paths leak nothing: n1's agent
# runs under valgrind (memcheck) with --uplink, serves a LoadBalancer
# address to a client outside the node (local backends and one on n2),
# applies a changed backend set, a NodePort and a refused change, and
# gets SIGTERM with flows open: it must exit with every heap block freed
# and no memory error.
source "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || t_abort setup "valgrind is not installed (scripts/setup installs it)"
LB4=10.250.100.10

t_mesh2
OUT="$TOPO_PREFIX-out" # deleted by topo_cleanup (prefix)
n1=$(topo_ns n1)
ip netns add "$OUT" &&
ip -n "$n1" link add up0 type veth peer name eth0 netns "$OUT" &&
ip -n "$n1" addr add 10.250.0.1/24 dev up0 && ip -n "$n1" link set up0 up &&
ip -n "$OUT" link set lo up && ip -n "$OUT" link set eth0 up &&
ip -n "$OUT" addr add 10.250.0.2/24 dev eth0 && ip -n "$OUT" route add default via 10.250.0.1 &&
ip -n "$(topo_ns n2)" route add 10.250.0.0/16 via 10.243.0.1 &&
ip netns exec "$OUT" ethtool -K eth0 tx off >/dev/null || t_abort setup "cannot build the outside link"

# web as a LoadBalancer Service; $1: its backends; $2: extra port lines
lb_web() {
	t_web "$1" | sed -e "/^  clusterIP: /i\\  type: LoadBalancer" -e "s/^    port: 80$/    port: 80${2:-}/" |
		awk -v lb4="$LB4" '{ print } /^  name: web$/ { svc = 1 }
			svc && /^    targetPort: 5353$/ {
				print "status:\n  loadBalancer:\n    ingress:\n    - ip: " lb4; svc = 0 }'
	t_nodes
}
lb_web "b1 b2 b3" | t_config web.yaml

VG_LOG="$TOPO_DIR/valgrind-n1.log"
wrapper=$(t_valgrind_wrapper n1)
real_trestled=$TRESTLED
TRESTLED=$wrapper TOPO_AGENT_TIMEOUT=90 topo_agent n1 --uplink up0 --uplink fab0 ||
	t_abort agent-n1 "agent under valgrind did not start"
TRESTLED=$real_trestled
TOPO_AGENT_TIMEOUT=30 topo_agent n2 --uplink fab0 || t_abort agent-n2 "agent on n2 did not start"

o_client() { T_OUT=$(ip netns exec "$OUT" "$TR_CLIENT" --json "$@" 2>&1); }
o_client --connect "$LB4:80" --tcp -n 60 --timeout 5000
t_jq "LB address from outside, agent under valgrind: b1, b2 (n1) and b3 (n2) answer" "$T_OUT" \
	'.ok == 60 and .peer_mismatch == 0 and (.names | keys) == ["b1","b2","b3"]'
o_client --connect "$LB4:53" --udp -n 20 --timeout 5000
t_jq "UDP to the LB address: 20/20" "$T_OUT" '.ok == 20'

# flows held open across the changes and the SIGTERM
holds=()
for i in 1 2 3 4; do
	ip netns exec "$OUT" "$TR_CLIENT" --connect "$LB4:80" --tcp --hold 60 --interval 100 \
		--ready "$TOPO_DIR/hold.$i" >/dev/null 2>&1 &
	holds+=($!)
done

# b1 leaves (its Pod stays: drains), a node port appears
m1=$(t_log_mark n1)
{ lb_web "b2 b3" "\\n    nodePort: 30080"; y_pod b1 n1 "${T_V4[b1]} ${T_V6[b1]}" "app=web version=v1"; } |
	t_config web.yaml
if t_log_wait n1 "$m1" "uplink load balancer applied"; then t_ok "the uplink applied the changed backends"
else t_fail "the uplink applied the changed backends" "no log line"; fi
o_client --connect "$LB4:80" --tcp -n 40 --timeout 5000
t_jq "after the change new flows go to b2 and b3 only" "$T_OUT" \
	'.ok == 40 and (.names | keys) == ["b2","b3"]'
o_client --connect "10.243.0.1:30080" --tcp -n 20 --timeout 5000
t_jq "the node port answers through XDP" "$T_OUT" '.ok == 20'
# a refused change (a node port out of range) keeps the running state
web_b1_pod() { y_pod b1 n1 "${T_V4[b1]} ${T_V6[b1]}" "app=web version=v1"; }
m1=$(t_log_mark n1)
{ lb_web "b2 b3" "\\n    nodePort: 80"; web_b1_pod; } | t_config web.yaml
if t_log_wait n1 "$m1" "nodePort: 80 is outside the node port range"; then
	t_ok "a node port out of range is refused, named"
else t_fail "a node port out of range is refused, named" "no log line"; fi
{ lb_web "b2 b3" "\\n    nodePort: 30080"; web_b1_pod; } | t_config web.yaml
o_client --connect "10.243.0.1:30080" --tcp -n 10 --timeout 5000
t_jq "after the refused change the node port still answers" "$T_OUT" '.ok == 10'

for _ in $(seq 100); do [[ -e $TOPO_DIR/hold.4 ]] && break; sleep 0.1; done
t_check "flows are held open through the uplink when SIGTERM comes" test -e "$TOPO_DIR/hold.4"
pid=$(topo_agent_pid n1)
topo_agent_stop n1 TERM || {
	for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	topo_agent_stop n1 TERM
}
if [[ $TOPO_AGENT_RC == 0 ]]; then
	t_ok "trestled --uplink under valgrind exits 0: no leak, no memory error"
else
	t_fail "trestled --uplink under valgrind exits 0: no leak, no memory error" \
		"exit ${TOPO_AGENT_RC:-none}; valgrind says: $(grep -v '^==[0-9]*== *$' "$VG_LOG" | head -40)"
fi
kill "${holds[@]}" 2>/dev/null; wait "${holds[@]}" 2>/dev/null
t_finish
