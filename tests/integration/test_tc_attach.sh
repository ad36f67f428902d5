#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tc programs on workload devices the classic way (clsact qdisc + cls_bpf
# in direct-action mode), which the agent uses on kernels without tcx
# (before Linux 6.6); TRESTLE_TC_MODE=clsact forces it on newer ones, so
# this test runs the same everywhere. One filter per hook at the agent's
# handle (0x7472) and priority 2 (1 is the uplink load balancer's reply
# translation, test_xdp_lb), shown by trestle status; an agent restart
# replaces the programs in place while UDP keeps flowing (no request lost);
# so does a start over the filters an older agent left at priority 1,
# which it moves to 2;
# a workload that leaves the configuration loses its filters and its clsact
# qdisc; trestled --cleanup, run from outside the node's network namespace,
# removes every filter and qdisc. Where the kernel has tcx, an agent
# started in auto mode moves the devices to tcx links and drops the
# filters.
source "$(dirname "$0")/lib.sh"

export TRESTLE_TC_MODE=clsact
t_mesh2
t_web "b1 b2" | t_config web.yaml
root_qdiscs=$(tc -j qdisc show 2>&1)
t_start_agents n1
ns=$(topo_ns n1)

t_log_has n1 'tc attach mode: clsact' && t_ok "agent logs tc attach mode clsact" ||
	t_fail "agent logs tc attach mode clsact" "$(grep 'tc attach mode' "$(topo_agent_log n1)")"

ifindex() { ip -n "$ns" -j link show dev "w-$1" | jq '.[0].ifindex'; }
# filters WL DIR: our filters on one hook of the host-side device of WL, as
# "handle pref direct-action prog-name prog-id" lines; "-" when none.
filters() {
	tc -n "$ns" -j filter show dev "w-$1" "$2" 2>/dev/null |
		jq -r '[.[] | select(.options.handle) |
			"\(.options.handle) \(.pref) \(.options["direct-action"]) \(.options.prog.name) \(.options.prog.id)"] |
			if length == 0 then "-" else .[] end'
}
has_clsact() { tc -n "$ns" -j qdisc show dev "w-$1" 2>/dev/null | jq -e 'any(.[]; .kind == "clsact")' >/dev/null; }
# tc_took_over N: wait (up to 60 s) until the agent log has N more "tc
# programs on ifindex" lines than $tc_lines (set just before the start):
# topo_agent's readiness only sees the pins, which a restart finds in place.
tc_lines=0
tc_count() { grep -c 'tc programs on ifindex' "$(topo_agent_log n1)"; }
tc_took_over() {
	local i
	for ((i = 0; i < 600; i++)); do
		(($(tc_count) >= tc_lines + $1)) && return 0
		sleep 0.1
	done
	return 1
}
# prog_ids WL: "ingress-id egress-id" of WL's filters
prog_ids() { echo "$(filters "$1" ingress | awk '{print $5}') $(filters "$1" egress | awk '{print $5}')"; }

check_filters() {
	local when=$1 wl in eg
	for wl in b1 b2; do
		in=$(filters "$wl" ingress) eg=$(filters "$wl" egress)
		[[ $in =~ ^0x7472\ 2\ true\ tr_tc_from_wl\ [0-9]+$ ]] &&
			t_ok "$when: $wl ingress: one filter, handle 0x7472, priority 2, direct action, tr_tc_from_wl" ||
			t_fail "$when: $wl ingress: one filter, handle 0x7472, priority 2, direct action, tr_tc_from_wl" "got: $in"
		[[ $eg =~ ^0x7472\ 2\ true\ tr_tc_to_wl\ [0-9]+$ ]] &&
			t_ok "$when: $wl egress: one filter, handle 0x7472, priority 2, direct action, tr_tc_to_wl" ||
			t_fail "$when: $wl egress: one filter, handle 0x7472, priority 2, direct action, tr_tc_to_wl" "got: $eg"
	done
}
check_filters "start"

# trestle status shows each filter: attach type, device, the program id the
# kernel reports for the filter.
want=$(for wl in b1 b2; do
	read -r i e <<<"$(prog_ids "$wl")"
	echo "{\"attach_type\":\"tc_ingress\",\"ifindex\":$(ifindex "$wl"),\"prog_id\":$i}"
	echo "{\"attach_type\":\"tc_egress\",\"ifindex\":$(ifindex "$wl"),\"prog_id\":$e}"
done | jq -sc 'sort_by(.ifindex, .attach_type)')
st=$(topo_trestle n1 -j status 2>&1)
got=$(jq -c '[.programs[] | select(.attach_type | startswith("tc")) | {attach_type, ifindex, prog_id}] | sort_by(.ifindex, .attach_type)' <<<"$st" 2>&1)
t_eq "status: one tc_ingress and one tc_egress program per workload device, with the filters' program ids" "$got" "$want"
t_jq "status: tc programs have no link id" "$st" '[.programs[] | select(.attach_type | startswith("tc_")) | .link_id] | all(. == null)'

# restart_under_traffic WHEN SIGNAL [PREP]: UDP to b1 through its filters
# while the agent is stopped with SIGNAL (PREP runs while it is down) and
# started again; no request may be lost.
restart_under_traffic() {
	local when=$1 sig=$2 prep=${3:-} stop="$TOPO_DIR/udp.stop" out="$TOPO_DIR/udp.jsonl" loop sum
	rm -f "$stop"
	(
		while [[ ! -e $stop ]]; do
			(topo_run n1 client "$TR_CLIENT" --json --connect "${T_V4[b1]}:5353" --udp -n 50 --timeout 2000)
			echo
		done > "$out" 2>&1
	) &
	loop=$!
	sleep 0.5
	topo_agent_stop n1 "$sig"
	[[ -n $prep ]] && $prep
	tc_lines=$(tc_count)
	if topo_agent n1 && tc_took_over 2; then t_ok "$when: agent ready, devices taken over"
	else t_fail "$when: agent ready, devices taken over" "see log"; fi
	sleep 0.5
	touch "$stop"
	wait "$loop"
	sum=$(jq -s '{ok: (map(.ok) | add), errors: (map(.errors // {} | to_entries[] .value) | add // 0), batches: length}' "$out" 2>&1)
	t_info "UDP during the $when: $sum"
	t_jq "$when: every UDP request through the filters answered (none lost)" "$sum" '.ok > 0 and .errors == 0 and .ok == .batches * 50'
}

# --- restart under traffic: kill -9, start again; nothing lost ---------------
before=$(prog_ids b1)
restart_under_traffic "restart after kill -9" KILL
check_filters "after restart"
after=$(prog_ids b1)
[[ $before != "$after" && $after =~ ^[0-9]+\ [0-9]+$ ]] &&
	t_ok "restart: b1's filters run the new agent's programs ($before -> $after), replaced in place" ||
	t_fail "restart: b1's filters run the new agent's programs, replaced in place" "$before -> $after"

# --- upgrade: an older agent had its filters at priority 1 ---------------------
# as it left them: the same programs (the marker pins) at handle 0x7472,
# priority 1, and nothing at 2
old_layout() {
	local wl dir marker
	for wl in b1 b2; do
		for dir in ingress egress; do
			marker=("$(topo_pin n1)/links/tc_$(ifindex "$wl")_${dir}_ns"*)
			# not tc -n: it remounts /sys, and the pin with it
			nsenter --net="/run/netns/$ns" tc filter add dev "w-$wl" "$dir" pref 1 handle 0x7472 bpf \
				object-pinned "${marker[0]}" da &&
				tc -n "$ns" filter del dev "w-$wl" "$dir" pref 2 handle 0x7472 bpf ||
				t_fail "upgrade: the older agent's layout on $wl $dir" "tc failed"
		done
	done
	[[ $(filters b1 ingress) =~ ^0x7472\ 1\ true\ tr_tc_from_wl ]] &&
		t_ok "upgrade: b1's ingress filter put at priority 1, as an older agent had it" ||
		t_fail "upgrade: b1's ingress filter put at priority 1" "$(filters b1 ingress)"
}
moved0=$(grep -c 'moved from priority 1 to 2' "$(topo_agent_log n1)")
restart_under_traffic "start over an older agent's filters" TERM old_layout
check_filters "after the upgrade"
moved=$(($(grep -c 'moved from priority 1 to 2' "$(topo_agent_log n1)") - moved0))
t_eq "upgrade: the agent logged moving each of the 4 filters" "$moved" 4

# --- a workload leaves: its filters and its qdisc go -------------------------
t_web "b1" | t_reconfig web.yaml || t_info "reconfiguration not applied everywhere"
[[ $(filters b2 ingress) == - && $(filters b2 egress) == - ]] &&
	t_ok "b2 left: no filters on its device" ||
	t_fail "b2 left: no filters on its device" "ingress $(filters b2 ingress), egress $(filters b2 egress)"
has_clsact b2 && t_fail "b2 left: no clsact qdisc on its device" "still there" ||
	t_ok "b2 left: no clsact qdisc on its device"
[[ $(filters b1 ingress) != - && $(filters b1 egress) != - ]] &&
	t_ok "b1 stays: its filters stay" || t_fail "b1 stays: its filters stay" "gone"
st=$(topo_trestle n1 -j status 2>&1)
t_jq "status: only b1's device left" "$st" "[.programs[] | select(.attach_type | startswith(\"tc\")) | .ifindex] | unique == [$(ifindex b1)]"

# --- cleanup, run from the root network namespace ------------------------------
topo_agent_stop n1 TERM
pin=$(topo_pin n1)
out=$(timeout 60 "$TRESTLED" --cleanup --bpffs "$pin" --cgroup "$(topo_cgroup n1)" 2>&1); rc=$?
t_eq "trestled --cleanup exits 0" "$rc" 0
[[ $rc == 0 ]] || t_info "cleanup output: $out"
grep -q '1 tc filters removed\|2 tc filters removed' <<<"$out" && t_ok "cleanup: reports b1's filters removed" ||
	t_fail "cleanup: reports b1's filters removed" "$out"
[[ $(filters b1 ingress) == - && $(filters b1 egress) == - ]] && t_ok "cleanup: no filters left on b1's device" ||
	t_fail "cleanup: no filters left on b1's device" "ingress $(filters b1 ingress), egress $(filters b1 egress)"
has_clsact b1 && t_fail "cleanup: no clsact qdisc left on b1's device" "still there" ||
	t_ok "cleanup: no clsact qdisc left on b1's device"
[[ ! -e $pin ]] && t_ok "cleanup: pin directory gone" || t_fail "cleanup: pin directory gone" "$(ls -A "$pin" | tr '\n' ' ')"
t_eq "the root network namespace's qdiscs are untouched" "$(tc -j qdisc show 2>&1)" "$root_qdiscs"

# --- from clsact to tcx, where the kernel has tcx --------------------------------
t_web "b1 b2" | t_config web.yaml
t_start_agents n1
check_filters "fresh start"
topo_agent_stop n1 TERM
tc_lines=$(tc_count)
TRESTLE_TC_MODE=auto topo_agent n1 && tc_took_over 2 || t_abort "auto mode start" "agent not ready"
mode=$(grep 'tc attach mode' "$(topo_agent_log n1)" | tail -n 1)
if [[ $mode == *'tc attach mode: tcx'* ]]; then
	st=$(topo_trestle n1 -j status 2>&1)
	t_jq "auto on a kernel with tcx: tcx links on both devices" "$st" \
		"[.programs[] | select(.attach_type | startswith(\"tcx_\")) | .ifindex] | unique == ([$(ifindex b1), $(ifindex b2)] | sort)"
	t_jq "auto on a kernel with tcx: no tc_* programs listed" "$st" '[.programs[] | select(.attach_type | startswith("tc_"))] == []'
	[[ $(filters b1 ingress)$(filters b1 egress)$(filters b2 ingress)$(filters b2 egress) == ---- ]] &&
		t_ok "auto on a kernel with tcx: the clsact filters are gone" ||
		t_fail "auto on a kernel with tcx: the clsact filters are gone" "$(filters b1 ingress) $(filters b2 egress)"
	has_clsact b1 || has_clsact b2 && t_fail "auto on a kernel with tcx: no clsact qdiscs left" "still there" ||
		t_ok "auto on a kernel with tcx: no clsact qdiscs left"
else
	[[ $mode == *'tc attach mode: clsact'*'no tcx'* ]] && t_ok "auto on a kernel without tcx: clsact" ||
		t_fail "auto mode: a tc attach mode logged" "$mode"
	check_filters "auto without tcx"
fi
t_finish
