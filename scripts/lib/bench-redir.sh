#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# bench-redir.sh -- suite "redir" of scripts/bench: same-node traffic between
# two meshed workloads with socket redirection off, on and auto.
#
# Topology (scripts/lib/topo.sh, prefix --prefix): node n1 with workloads
# client (10.244.1.2) and server (10.244.1.10), each its own network
# namespace on a veth to the node, one trestled. The server runs
# `tr-stream serve` on port 9000 (request/response) and 9001 (bulk); the
# client runs tr-stream (tests/tools/tr-stream.c):
#
#   rr1      1-byte request, 1-byte answer, one outstanding, one connection
#   rr4k     4 KB request, 4 KB answer, the same
#   bulk4k   one connection writing 4 KB writes, the server discarding
#   bulk64k  the same with 64 KB writes
#
# Rows are the node's redirection switch, flipped between runs by writing
# the pinned tr_redir_cfg (what the agent's --redirect writes; BPF reads it
# for each new connection, no program is reloaded): off (the normal path:
# TCP over the two veths, the mesh's programs attached), on (every
# connection redirected), auto (the rule, include/trestle/redir.h: like on,
# except to a server endpoint seen carrying bulk in the last 60 s -- one end
# wrote more than 256 KB while the other wrote nothing -- which takes the
# normal path). Every run opens a fresh connection, so the switch applies
# to it whole. The first auto connection to the bulk port (and the first
# after the 60 s hold expired) is redirected and teaches the rule; those
# runs are counted like the others.
#
# Rounds: every round runs each test on every row in turn (row order
# rotating from test to test), so paired runs are seconds apart; figures
# are medians over the rounds, ratios the median of row/off in the same
# round. Goal: auto never slower than off (tps and Gbit/s ratio >= --goal).
#
# Usage: bench-redir.sh --build DIR --prefix PREFIX --out FILE [--rounds N]
#                       [--duration S] [--goal R]
# Needs root. Progress on stderr, the JSON document into FILE.
set -uo pipefail

BUILD= PREFIX= OUT= ROUNDS=5 DURATION=2 GOAL=0.95
while (($#)); do
	case $1 in
	--build) BUILD=${2:?}; shift ;;
	--prefix) PREFIX=${2:?}; shift ;;
	--out) OUT=${2:?}; shift ;;
	--rounds) ROUNDS=${2:?}; shift ;;
	--duration) DURATION=${2:?}; shift ;;
	--goal) GOAL=${2:?}; shift ;;
	*) echo "bench-redir: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done
[[ -n $BUILD && -n $PREFIX && -n $OUT ]] || { echo "bench-redir: --build, --prefix and --out are required" >&2; exit 2; }
export TRESTLE_BUILD=$BUILD
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=topo.sh
source "$REPO/scripts/lib/topo.sh"
TR_STREAM=$BUILD/tests/tools/tr-stream
[[ -x $TR_STREAM ]] || { echo "bench-redir: missing $TR_STREAM (meson compile -C $BUILD)" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "bench-redir: bpftool not found" >&2; exit 1; }

say() { echo "bench-redir: $*" >&2; }

topo_init "$PREFIX" || exit 1
topo_node n1 || exit 1
topo_workload n1 client 10.244.1.2 fd00:244:1::2 || exit 1
topo_workload n1 server 10.244.1.10 fd00:244:1::10 || exit 1
cat > "$(topo_config_dir n1)/bench.yaml" <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, annotations: {trestle.io/cgroup: client}, labels: {app: client}}
spec: {serviceAccountName: client, nodeName: n1}
status: {podIP: 10.244.1.2, podIPs: [{ip: 10.244.1.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: default, annotations: {trestle.io/cgroup: server}, labels: {app: server}}
spec: {serviceAccountName: server, nodeName: n1}
status: {podIP: 10.244.1.10, podIPs: [{ip: 10.244.1.10}]}
Y
topo_agent n1 || exit 1
for port in 9000 9001; do
	topo_run n1 server "$TR_STREAM" serve --listen "0.0.0.0:$port" --ready "$TOPO_DIR/ready.$port" \
		>>"$TOPO_DIR/server.log" 2>&1 &
	for ((i = 0; i < 100; i++)); do [[ -s $TOPO_DIR/ready.$port ]] && break; sleep 0.05; done
	[[ -s $TOPO_DIR/ready.$port ]] || { say "tr-stream serve :$port did not start"; exit 1; }
done

CFG=$(topo_pin n1)/tr_redir_cfg
declare -A MODE=([off]=0 [on]=1 [auto]=2)
set_mode() { # the u32 mode, little endian; bulk_bytes 0 = the default
	bpftool map update pinned "$CFG" key 0 0 0 0 value "${MODE[$1]}" 0 0 0 0 0 0 0
}
stat() { "$BUILD/tools/trestle" --bpffs "$(topo_pin n1)" -j stats | jq -r ".$1 // 0"; }

run() { # TEST -> tr-stream JSON
	case $1 in
	rr1) topo_run n1 client "$TR_STREAM" rr --connect 10.244.1.10:9000 --write 1 --duration "$DURATION" ;;
	rr4k) topo_run n1 client "$TR_STREAM" rr --connect 10.244.1.10:9000 --write 4096 --duration "$DURATION" ;;
	bulk4k) topo_run n1 client "$TR_STREAM" discard --connect 10.244.1.10:9001 --write 4096 --duration "$DURATION" ;;
	bulk64k) topo_run n1 client "$TR_STREAM" discard --connect 10.244.1.10:9001 --write 65536 --duration "$DURATION" ;;
	esac
}

TESTS=(rr1 rr4k bulk4k bulk64k)
ROWS=(off on auto)
: > "$TOPO_DIR/runs.jsonl"
say "rows ${ROWS[*]}; tests ${TESTS[*]}; $ROUNDS rounds of ${DURATION}s"
k=0
for ((r = 0; r < ROUNDS; r++)); do
	for t in "${TESTS[@]}"; do
		for ((j = 0; j < ${#ROWS[@]}; j++)); do
			row=${ROWS[$(((j + k) % ${#ROWS[@]}))]}
			set_mode "$row" || { say "cannot write $CFG"; exit 1; }
			c0=$(stat redirect_connections)
			out=$(run "$t") || say "round $r $t $row: $out"
			c1=$(stat redirect_connections)
			jq -c --arg t "$t" --arg row "$row" --argjson r "$r" --argjson redir $((c1 - c0)) \
				'{test: $t, row: $row, round: $r, redirected: $redir} + .' <<<"$out" >> "$TOPO_DIR/runs.jsonl" ||
				say "round $r $t $row: bad output: $out"
		done
		k=$((k + 1))
	done
	say "round $((r + 1))/$ROUNDS done"
done
set_mode auto

jq -s --argjson goal "$GOAL" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
	--argjson rounds "$ROUNDS" --argjson duration "$DURATION" '
	def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
		    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	def q(p): sort | if length == 0 then null else .[((length - 1) * p) | round] end;
	def metric: if (.test | startswith("rr")) then .tps else .gbit_s end;
	. as $runs
	| [$runs[] | select(.failed > 0 or .ok == 0)] as $bad
	| ($runs | map(.test) | unique) as $tests
	| {kernel: $kernel, cpus: $cpus, rounds: $rounds, duration_s: $duration, goal_ratio: $goal,
	   failed_runs: ($bad | length),
	   tests: [$tests[] as $t | {test: $t,
	     rows: [("off", "on", "auto") as $row
	       | [$runs[] | select(.test == $t and .row == $row and .failed == 0)] as $rs
	       | {row: $row, value: ($rs | map(metric) | median),
		  p50_us: ($rs | map(.p50_us // empty) | median),
		  p99_us: ($rs | map(.p99_us // empty) | median),
		  redirected_conns: ($rs | map(.redirected) | add),
		  vs_off: ([range(0; $rounds) as $r
			   | ([$runs[] | select(.test == $t and .round == $r and .failed == 0)]) as $p
			   | ($p | map(select(.row == $row)) | .[0]) as $a
			   | ($p | map(select(.row == "off")) | .[0]) as $b
			   | select($a and $b) | ($a | metric) / ($b | metric)]
			  | {median: median, p25: q(0.25), p75: q(0.75)})}]}]}
	| .auto_worst = ([.tests[] | .test as $t | .rows[] | select(.row == "auto")
			 | {test: $t, r: .vs_off.median}] | min_by(.r))
	| .goal_met = (if .failed_runs > 0 or .auto_worst.r == null then null else .auto_worst.r >= $goal end)
' "$TOPO_DIR/runs.jsonl" > "$OUT" || { say "summarising failed"; exit 1; }
exit 0
