#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The audit log: every reload that changes something leaves one record in
# <run_dir>/audit.jsonl: accepted with the objects added / removed /
# modified (field paths and values), refused with the reason and the
# errors; an unchanged reload leaves none; a change that only touches
# authorization is recorded without a new generation. The log is rotated
# (--audit-log-max-bytes) and `trestle audit` reads across the rotation,
# filters by result, and prints text and JSON.
source "$(dirname "$0")/lib.sh"

t_mesh2
t_sink
t_web "b1" | t_config web.yaml
topo_agent n1 --audit-log-max-bytes 1500 --audit-log-keep 10 ||
	t_abort agent-n1-start "agent on n1 did not start"
cfg=$(topo_config_dir n1)
audit="$TOPO_DIR/n1/run/audit.jsonl"

# all records, oldest first, across rotation (plain, .0, .N.gz)
records() {
	local f i
	for ((i = 10; i >= 1; i--)); do
		f="$audit.$i.gz"; [[ -e $f ]] && zcat "$f"
	done
	[[ -e $audit.0 ]] && cat "$audit.0"
	cat "$audit" 2>/dev/null
}
nrec() { records | grep -c . ; }
last() { records | tail -n 1; }
# wait_rec N: until there are N records (5 s)
wait_rec() {
	local i
	for ((i = 0; i < 50; i++)); do [[ $(nrec) -ge $1 ]] && return 0; sleep 0.1; done
	return 1
}

# --- start: one record, everything added -------------------------------------
wait_rec 1 || t_fail "start: a record" "no $audit"
t_eq "start: exactly one record" "$(nrec)" 1
t_jq "start: accepted, generation 1, every object added" "$(last)" \
	'.result == "accepted" and .generation == 1 and .trigger == "start" and .reason == null
	 and .errors == [] and ([.changes[].op] | unique) == ["added"]
	 and any(.changes[]; .kind == "Service" and .namespace == "default" and .name == "web"
	         and (.file | endswith("/web.yaml")) and .line >= 1)
	 and any(.changes[]; .kind == "Pod" and .name == "b1")'

# --- modified and added -------------------------------------------------------
g=$(t_gen n1)
t_web "b1 b2" | t_reconfig web.yaml || t_fail "add b2: new generation" "still $(t_gen n1)"
wait_rec 2 || t_fail "add b2: a record" "still $(nrec)"
t_jq "add b2: Pod b2 added, the slices modified field by field" "$(last)" \
	".result == \"accepted\" and .generation == $((g + 1)) and .trigger == \"files changed\"
	 and ([.changes[] | select(.op == \"added\") | .kind + \" \" + .name] == [\"Pod b2\"])
	 and any(.changes[]; .op == \"modified\" and .kind == \"EndpointSlice\" and .name == \"web-v4\"
	         and any(.fields[]; .path == \"endpoints[1].addresses[0]\" and .old == null
	                 and .new == \"${T_V4[b2]}\"))
	 and ([.changes[] | select(.op == \"removed\")] == [])"

# a changed value: the Service's targetPort (named ports resolve through
# the EndpointSlices, so the maps do not change: same generation, recorded)
g=$(t_gen n1)
t_web "b1 b2" | sed 's/targetPort: 8080/targetPort: 8081/' | t_config web.yaml
wait_rec 3 || t_fail "targetPort: a record" "still $(nrec)"
t_jq "targetPort 8080 -> 8081: one modified field, the generation kept" "$(last)" \
	"[.changes[] | select(.op == \"modified\" and .kind == \"Service\" and .name == \"web\") | .fields[]]
	 == [{\"path\": \"spec.ports[0].targetPort\", \"old\": \"8080\", \"new\": \"8081\"}]
	 and (.changes | length) == 1 and .generation == $g"
t_web "b1 b2" | t_config web.yaml
wait_rec 4 || t_fail "targetPort back: a record" "still $(nrec)"
t_jq "targetPort back to 8080" "$(last)" '.changes[0].fields[0].new == "8080"'

# --- refused: the reason and the errors, the generation that stays ----------
g=$(t_gen n1) n=$(nrec)
printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  clusterIP: 10.96.0.99\n  ports:\n    - port: 99999\n' > "$cfg/bad.yaml"
wait_rec $((n + 1)) || t_fail "bad manifest: a record" "still $n"
t_jq "bad manifest: refused, reason, errors with file and line, no changes" "$(last)" \
	".result == \"refused\" and .generation == $g and (.reason | test(\"^1 error in \"))
	 and (.errors | length) == 1 and (.errors[0] | test(\"/bad.yaml:8: error: .*port\"))
	 and .changes == []"
t_eq "bad manifest: the generation stays" "$(t_gen n1)" "$g"

# removing it brings back what runs: unchanged, no record
m=$(t_log_mark n1)
rm -f "$cfg/bad.yaml"
t_log_wait n1 "$m" 'configuration unchanged' || t_fail "bad removed: unchanged reload" "not logged"
sleep 0.3
t_eq "unchanged reload: no record" "$(nrec)" "$((n + 1))"

# SIGHUP with nothing changed: no record either
m=$(t_log_mark n1)
kill -HUP "$(topo_agent_pid n1)"
t_log_wait n1 "$m" 'configuration unchanged' || t_fail "SIGHUP: unchanged reload" "not logged"
sleep 0.3
t_eq "SIGHUP, nothing changed: no record" "$(nrec)" "$((n + 1))"

# --- authorization only: recorded, same generation -----------------------------
g=$(t_gen n1) n=$(nrec)
y_authz default deny-all DENY "app=web" '{from: [{source: {namespaces: ["other"]}}]}' |
	t_reconfig_policy pol.yaml || t_fail "policy: applied"
wait_rec $((n + 1)) || t_fail "policy: a record" "still $n"
t_jq "policy only: accepted, same generation, the policy added" "$(last)" \
	".result == \"accepted\" and .generation == $g
	 and .changes == [.changes[0]] and .changes[0].op == \"added\"
	 and .changes[0].kind == \"AuthorizationPolicy\" and .changes[0].name == \"deny-all\""
rm -f "$cfg/pol.yaml"
wait_rec $((n + 2)) || t_fail "policy removed: a record" "still $(nrec)"
t_jq "policy removed" "$(last)" '.changes | map(.op + " " + .kind) == ["removed AuthorizationPolicy"]'

# --- rotation ------------------------------------------------------------------
total=$(nrec)
t_check "audit log rotated (1500 bytes): audit.jsonl.1.gz exists" test -s "$audit.1.gz"
t_check "rotated audit log is gzip" gzip -t "$audit.1.gz"
t_eq "no record lost or repeated across rotation" "$(records | jq -r '.time' | sort -u | wc -l)" "$total"

# --- trestle audit ------------------------------------------------------------------
out=$(topo_trestle n1 -j audit -n 1000)
t_jq "trestle -j audit: every record, across rotation, oldest first" "$out" \
	"length == $total and .[0].trigger == \"start\" and .[-1].changes[0].op == \"removed\""
t_eq "trestle -j audit: the records as written" "$(jq -c '.[]' <<<"$out" | md5sum)" \
	"$(records | jq -c . | md5sum)"
out=$(topo_trestle n1 -j audit --result refused)
t_jq "trestle audit --result refused: the one refusal" "$out" \
	'length == 1 and .[0].result == "refused" and (.[0].errors | length) == 1'
out=$(topo_trestle n1 -j audit -n 2 --result accepted)
t_jq "trestle audit -n 2 --result accepted: the last two" "$out" \
	'length == 2 and all(.[]; .result == "accepted") and .[1].changes[0].op == "removed"'
out=$(topo_trestle n1 audit -n 1000)
t_check "text: the Service field change" grep -Eq '^  ~ Service default/web  spec\.ports\[0\]\.targetPort: 8080 -> 8081$' <<<"$out"
t_check "text: Pod b2 added" grep -Eq '^  \+ Pod default/b2$' <<<"$out"
t_check "text: policy removed" grep -Eq '^  - AuthorizationPolicy default/deny-all$' <<<"$out"
t_check "text: the refusal with its reason and error" \
	grep -Eq '^[0-9T:.-]+Z  generation [0-9]+  refused \(files changed\): 1 error in ' <<<"$out"
t_check "text: the error line" grep -Eq '^  ! .*/bad\.yaml:8: error: ' <<<"$out"
t_check "text: a field added shows (absent)" grep -Eq 'endpoints\[1\]\.addresses\[0\]: \(absent\) -> ' <<<"$out"
if topo_trestle n1 audit --result maybe >/dev/null 2>&1; then t_fail "bad --result refused"; else t_ok "bad --result refused"; fi

# --follow: a new record appears
fo="$TOPO_DIR/follow.out"
timeout 10 "$TRESTLE" --bpffs "$(topo_pin n1)" -j audit --follow -n 0 > "$fo" 2>/dev/null &
fpid=$!
sleep 0.5
t_web "b1" | t_reconfig web.yaml || t_fail "remove b2: new generation"
for ((i = 0; i < 30; i++)); do [[ -s $fo ]] && break; sleep 0.1; done
kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
t_jq "audit --follow: the new record, one JSON object per line" "$(head -n 1 "$fo")" \
	'.result == "accepted" and any(.changes[]; .op == "removed" and .kind == "Pod" and .name == "b2")'

t_finish
