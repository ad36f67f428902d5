#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The mTLS tunnel paths leak nothing: both agents run under valgrind
# (memcheck) with --certs, carry tunneled connections both ways (handshakes,
# relays, a refused identity), and get SIGTERM while a tunneled connection
# is still open: each must exit with every heap block freed (OpenSSL's
# per-thread state of ended tunnel threads included) and no memory error.
source "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || t_abort setup "valgrind is not installed (scripts/setup installs it)"
t_mesh2
{ t_web "b1 b3"; t_nodes
  y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
  y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"; } | t_config mesh.yaml
for w in client b1 b2; do t_issue n1 "$w" || t_abort certs "cert issue for $w"; done
for w in b3 client2; do t_issue n2 "$w" || t_abort certs "cert issue for $w"; done

real_trestled=$TRESTLED
for n in n1 n2; do
	wrapper=$(t_valgrind_wrapper "$n")
	TRESTLED=$wrapper TOPO_AGENT_TIMEOUT=90 topo_agent "$n" --certs "$(t_certs_dir "$n")" ||
		t_abort "agent-$n" "agent under valgrind did not start"
done
TRESTLED=$real_trestled

t_client n1 client --connect "${T_V4[b3]}:8080" --tcp -n 10 --timeout 30000
t_jq "n1/client -> b3 (n2) through the tunnel under valgrind: 10/10" "$T_OUT" \
	'.ok == 10 and .names.b3 == 10'
t_client n2 client2 --connect "[${T_V6[b1]}]:8080" --tcp -n 5 --send 1000000 --half-close --timeout 60000
t_jq "n2/client2 -> b1 (n1), 5 x 1 MB with half-close: 5/5" "$T_OUT" '.ok == 5'

# a refusal: n2/client2 loses its certificate (the certificate store is watched)
rm -f "$(t_certs_dir n2)/default/client2.crt"
sleep 2
t_client n2 client2 --connect "${T_V4[b1]}:8080" --tcp -n 2 --timeout 20000
t_jq "without its certificate n2/client2 is refused (never sent in clear)" "$T_OUT" '.ok == 0'

# tunnels still open, and moving data, when the agents stop: 4 held
# connections echoing every 10 ms and 4 large transfers
holds=()
for i in 1 2 3 4; do
	topo_run n1 client "$TR_CLIENT" --connect "${T_V4[b3]}:8080" --tcp --hold 60 --interval 10 \
		--ready "$TOPO_DIR/held$i" >/dev/null 2>&1 &
	holds+=($!)
	topo_run n1 client "$TR_CLIENT" --connect "[${T_V6[b3]}]:8080" --tcp -n 1 --send 2000000000 \
		--timeout 120000 >/dev/null 2>&1 &
	holds+=($!)
done
for _ in $(seq 300); do [[ -e $TOPO_DIR/held4 ]] && break; sleep 0.1; done
sleep 2
open=$(t_tunnels n1 | jq length)
t_check "tunneled connections are open and busy when SIGTERM comes ($open on n1)" test "${open:-0}" -ge 8

for n in n1 n2; do
	# valgrind makes the exit slow: give it more than topo_agent_stop's 10 s
	pid=$(topo_agent_pid "$n")
	topo_agent_stop "$n" TERM || {
		for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		topo_agent_stop "$n" TERM
	}
	if [[ $TOPO_AGENT_RC == 0 ]]; then
		t_ok "$n: trestled with live tunnels under valgrind exits 0: no leak, no memory error"
	else
		t_fail "$n: trestled with live tunnels under valgrind exits 0: no leak, no memory error" \
			"exit ${TOPO_AGENT_RC:-none}; valgrind says: $(grep -v '^==[0-9]*== *$' "$TOPO_DIR/valgrind-$n.log" | head -40)"
	fi
done
kill "${holds[@]}" 2>/dev/null; wait "${holds[@]}" 2>/dev/null
t_finish
