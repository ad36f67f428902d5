#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The data path does not depend on the agent process: with a long-lived
# connection open (tr-client --hold, a ping every 100 ms), kill -9 the
# agent, make new connections, restart it (it adopts the pinned state), make
# more; the held connection must survive all of it. Then the same with
# SIGTERM (documented: exits leaving the data path working), and an
# upgrade over an older ABI's pins.
source "$(dirname "$0")/lib.sh"

t_mesh2
t_web "b1 b2" | t_config web.yaml
t_start_agents n1
cg=$(topo_cgroup n1)
progs_before=$(bpftool -j cgroup show "$cg" 2>/dev/null | jq length)
gen_before=$(t_gen n1)

ready="$TOPO_DIR/hold.ready"
topo_run n1 client "$TR_CLIENT" --json --connect "$T_VIP4:80" --tcp --hold 8 --ready "$ready" \
	> "$TOPO_DIR/hold.out" 2>&1 &
hold=$!
for ((i = 0; i < 50; i++)); do [[ -s $ready ]] && break; sleep 0.1; done
[[ -s $ready ]] || t_abort "held connection established" "$(cat "$TOPO_DIR/hold.out")"
t_ok "held connection established (to $(cat "$ready"))"

topo_agent_stop n1 KILL; rc=$TOPO_AGENT_RC
t_eq "kill -9: agent is gone" "$rc" 137
t_client n1 client --connect "$T_VIP4:80" --tcp -n 100
t_jq "agent dead: new connections still balanced" "$T_OUT" '.ok == 100 and .names.b1 > 0 and .names.b2 > 0 and .peer_mismatch == 0'
t_client n1 client --connect "[$T_VIP6]:53" --udp -n 50
t_jq "agent dead: UDP over IPv6 still works" "$T_OUT" '.ok == 50 and .peer_mismatch == 0'

if topo_agent n1; then t_ok "restart after kill -9: agent ready"
else t_fail "restart after kill -9: agent ready" "see log"; fi
t_log_has n1 'configuration (applied|unchanged)' && t_ok "restart: agent logged its configuration state" ||
	t_fail "restart: agent logged its configuration state" "no 'configuration applied/unchanged' line"
gen_after=$(t_gen n1)
if [[ $gen_after =~ ^[0-9]+$ && $gen_after -ge $gen_before ]]; then t_ok "restart: generation kept or advanced ($gen_before -> $gen_after)"
else t_fail "restart: generation kept or advanced" "$gen_before -> $gen_after"; fi
progs_after=$(bpftool -j cgroup show "$cg" 2>/dev/null | jq length)
t_eq "restart: same number of cgroup attachments (no duplicates)" "$progs_after" "$progs_before"
t_client n1 client --connect "$T_VIP4:80" --tcp -n 100
t_jq "after restart: new connections balanced" "$T_OUT" '.ok == 100 and .names.b1 > 0 and .names.b2 > 0'

# SIGTERM: exits cleanly and leaves the data path working.
topo_agent_stop n1 TERM; rc=$TOPO_AGENT_RC
t_eq "SIGTERM: agent exits with status 0" "$rc" 0
t_client n1 client --connect "$T_VIP4:80" --tcp -n 50
t_jq "after SIGTERM: new connections still work" "$T_OUT" '.ok == 50'
if topo_agent n1; then t_ok "restart after SIGTERM: agent ready"
else t_fail "restart after SIGTERM: agent ready" "see log"; fi

# An upgrade from ABI 4, whose agent kept per-socket state in a hash
# (tr_sk) emptied by a cgroup/sock_release program: the new agent detaches
# that program's link and removes the map's pin once its own programs run.
# Stand-ins: a hash pinned as tr_sk, and the live recvmsg6 link renamed to
# links/tr_sock_release (so the restart attaches recvmsg6 anew, and must
# detach the renamed one for the attachments not to grow).
topo_agent_stop n1 TERM
pin=$(topo_pin n1)
bpftool map create "$pin/tr_sk" type hash key 8 value 88 entries 16 name tr_sk ||
	t_fail "a stand-in for ABI 4's tr_sk pinned on n1"
mv "$pin/links/tr_recvmsg6" "$pin/links/tr_sock_release" ||
	t_fail "a stand-in for ABI 4's tr_sock_release link pinned on n1"
if topo_agent n1; then t_ok "restart over ABI 4's pins: agent ready"
else t_fail "restart over ABI 4's pins: agent ready" "see log"; fi
if [[ -e $pin/tr_sk || -e $pin/links/tr_sock_release ]]; then
	t_fail "the upgraded agent removed ABI 4's tr_sk and tr_sock_release pins" "$(ls "$pin" "$pin/links" | tr '\n' ' ')"
else t_ok "the upgraded agent removed ABI 4's tr_sk and tr_sock_release pins"; fi
t_eq "upgrade: the former program's link is detached (attachments as before)" \
	"$(bpftool -j cgroup show "$cg" 2>/dev/null | jq length)" "$progs_before"
t_client n1 client --connect "$T_VIP4:80" --tcp -n 50
t_jq "upgrade: new connections balanced" "$T_OUT" '.ok == 50 and .names.b1 > 0 and .names.b2 > 0 and .peer_mismatch == 0'

wait "$hold"; hold_rc=$?
hold_out=$(cat "$TOPO_DIR/hold.out")
t_info "held connection: $hold_out"
t_eq "held connection survived kill -9, restart, SIGTERM and restart" "$hold_rc" 0
t_jq "held connection: at least 60 pings echoed in 8 s" "$hold_out" '.ok and .pings >= 60 and .peer_ok'

t_finish
