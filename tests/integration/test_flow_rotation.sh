#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The flow log rotates by size (--flow-log-max-bytes) into gzipped
# flows.jsonl.1.gz .. .N.gz (--flow-log-keep): no file grows past the limit,
# no record is lost or written twice across the rotations, `trestle flows`
# reads the current file, and `trestle flows --follow` keeps every record
# across a rotation.
source "$(dirname "$0")/lib.sh"

t_mesh2
t_sink
{
	t_web "b1"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_authz default allow-web ALLOW "app=web" "{from: [{source: {principals: [\"$(y_principal client)\"]}}]}"
} | t_config web.yaml
topo_agent n1 --flow-log-allow --flow-log-max-bytes 8K --flow-log-keep 30 ||
	t_abort agent-n1-start "agent on n1 did not start"
flows=$(t_flows_file n1)

# every record, oldest first: .30.gz .. .1.gz, .0 (while compressing), current
all_flows() {
	local i
	for ((i = 30; i >= 1; i--)); do [[ -e $flows.$i.gz ]] && zcat "$flows.$i.gz"; done
	[[ -e $flows.0 ]] && cat "$flows.0"
	cat "$flows" 2>/dev/null
}
# connect records of client -> b1:8080
nconn() { all_flows | jq -c 'select(.hook == "connect" and .src.workload == "default/client" and .dst.port == 8080)' | wc -l; }

N=150
t_client n1 client --connect "$T_VIP4:80" --tcp -n $N
t_jq "client -> web: $N connections" "$T_OUT" ".ok == $N"
for ((i = 0; i < 30; i++)); do [[ $(nconn) -ge $N ]] && break; sleep 0.1; done
sleep 0.5 # let the helper finish compressing

t_eq "every connection logged exactly once across the rotated files" "$(nconn)" "$N"
t_check "rotated: flows.jsonl.1.gz" test -s "$flows.1.gz"
t_check "rotated: flows.jsonl.2.gz" test -s "$flows.2.gz"
t_check "rotated files are gzip" gzip -t "$flows.1.gz" "$flows.2.gz"
size=$(stat -c %s "$flows")
if ((size <= 8192)); then t_ok "current file within the limit ($size bytes)"; else t_fail "current file within the limit" "$size bytes"; fi
big=0
for f in "$flows".*.gz; do (( $(zcat "$f" | wc -c) > 8192 )) && big=1; done
t_eq "no rotated file over the limit" "$big" 0
t_check "no uncompressed leftover (flows.jsonl.0)" test ! -e "$flows.0"
t_eq "every line a whole JSON record" "$(all_flows | jq -c . 2>/dev/null | wc -l)" "$(all_flows | wc -l)"
t_eq "records in time order across the files" \
	"$(all_flows | jq -r .time | sort -c && echo sorted)" sorted

# trestle flows reads the current file after rotation
cur=$(grep -c . "$flows")
out=$(topo_trestle n1 -j flows -n 1000 --verdict allow)
t_jq "trestle flows after rotation: the current file's records" "$out" "length == $cur and length > 0"

# --follow across rotations: every new record exactly once
fo="$TOPO_DIR/follow.out"
timeout 30 "$TRESTLE" --bpffs "$(topo_pin n1)" -j flows --follow -n 0 > "$fo" 2>/dev/null &
fpid=$!
sleep 0.5
r0=$(ls "$flows".*.gz | wc -l)
# in batches: a follower polls the path (200 ms), so a file that comes and
# goes between two polls could not be seen; 16 MiB files never do that
M=60
for ((b = 0; b < M / 5; b++)); do
	t_client n1 client --connect "$T_VIP4:80" --tcp -n 5 || t_fail "batch $b" "$T_OUT"
	sleep 0.3
done
for ((i = 0; i < 30; i++)); do
	[[ $(jq -c 'select(.hook == "connect" and .src.workload == "default/client")' "$fo" 2>/dev/null | wc -l) -ge $M ]] && break
	sleep 0.1
done
sleep 0.5
kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
r1=$(ls "$flows".*.gz | wc -l)
if ((r1 > r0)); then t_ok "rotated while following ($r0 -> $r1 files)"; else t_fail "rotated while following" "$r0 -> $r1 files"; fi
t_eq "flows --follow: every new connection exactly once across the rotation" \
	"$(jq -c 'select(.hook == "connect" and .src.workload == "default/client")' "$fo" | wc -l)" "$M"
t_eq "all files: every connection once" "$(nconn)" "$((N + M))"

t_finish
