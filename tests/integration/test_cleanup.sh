#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `trestled --cleanup` removes everything the agent left in the kernel: no
# cgroup attachments (bpftool cgroup show is empty), no pin directory; the
# VIP is no longer translated (the connection reaches the sink that holds
# the VIP address, see t_sink) while direct traffic keeps working. Running it
# again is harmless.
source "$(dirname "$0")/lib.sh"

t_mesh2
t_sink
t_web "b1 b2" | t_config web.yaml
t_start_agents n1
cg=$(topo_cgroup n1)
pin=$(topo_pin n1)

attached=$(bpftool -j cgroup show "$cg" 2>&1)
t_jq "before: programs attached to $cg" "$attached" 'length > 0'
t_info "attached: $(jq -c '[.[] | .attach_type]' <<<"$attached" 2>&1)"
t_client n1 client --connect "$T_VIP4:80" --tcp -n 20
t_jq "before: VIP translated to b1/b2" "$T_OUT" '.ok == 20 and (.names | keys - ["b1","b2"]) == []'

topo_agent_stop n1 TERM; rc=$TOPO_AGENT_RC
t_eq "agent exits on SIGTERM" "$rc" 0
out=$(timeout 20 "$TRESTLED" --cleanup --bpffs "$pin" --cgroup "$cg" 2>&1); rc=$?
t_eq "trestled --cleanup exits 0" "$rc" 0
[[ $rc == 0 ]] || t_info "cleanup output: $out"

attached=$(bpftool cgroup show "$cg" 2>&1)
t_eq "after: bpftool cgroup show $cg is empty" "$attached" ""
attached=$(bpftool -j cgroup tree "$(dirname "$cg")" 2>&1)
t_jq "after: nothing attached anywhere under the test's cgroup tree" "$attached" '[.[] | .programs // [] | length] | add // 0 | . == 0'
if [[ ! -e $pin ]]; then t_ok "after: pin directory $pin is gone"
else t_fail "after: pin directory $pin is gone" "left: $(ls -A "$pin" | tr '\n' ' ')"; fi

t_client n1 client --connect "$T_VIP4:80" --tcp -n 20 --timeout 1000
t_jq "after: VIP no longer translated (reaches the sink)" "$T_OUT" '.names == {"sink": 20}'
t_client n1 client --connect "${T_V4[b1]}:8080" --tcp -n 10
t_jq "after: direct traffic still works" "$T_OUT" '.names == {"b1": 10}'

out=$(timeout 20 "$TRESTLED" --cleanup --bpffs "$pin" --cgroup "$cg" 2>&1); rc=$?
t_eq "second --cleanup exits 0 (idempotent)" "$rc" 0
[[ $rc == 0 ]] || t_info "second cleanup output: $out"
[[ ! -e $pin ]] && t_ok "second --cleanup creates nothing" || t_fail "second --cleanup creates nothing" "$pin exists"

t_finish
