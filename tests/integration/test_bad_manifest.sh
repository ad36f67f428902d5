#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A bad manifest leaves the old configuration running: the generation does
# not change, traffic keeps flowing to the old backends, the agent keeps
# running, and its log says "configuration refused" and names the file and
# line of each problem. Fixing the file applies it.
source "$(dirname "$0")/lib.sh"

t_mesh2
t_web "b1" | t_config web.yaml
t_start_agents n1
cfg=$(topo_config_dir n1)
log=$(topo_agent_log n1)

refused_case() { # NAME FILE EXPECTED-LINE-REGEX
	local c=$1 f=$2 line_re=$3 g0 lines_before
	g0=$(t_gen n1)
	lines_before=$(wc -l < "$log")
	sleep 0.2
	mv -f "$cfg/.$f.tmp" "$cfg/$f"
	sleep 1.5
	t_eq "$c: generation unchanged" "$(t_gen n1)" "$g0"
	t_check "$c: agent still running" kill -0 "$(topo_agent_pid n1)"
	local new; new=$(tail -n +"$((lines_before + 1))" "$log")
	if grep -q 'configuration refused' <<<"$new"; then t_ok "$c: log says configuration refused"
	else t_fail "$c: log says configuration refused" "new log lines: $(head -c 600 <<<"$new" | tr '\n' '|')"; fi
	if grep -Eq -- "$f:$line_re: error" <<<"$new"; then t_ok "$c: log names $f and the line ($line_re)"
	else t_fail "$c: log names $f and the line ($line_re)" "new log lines: $(head -c 600 <<<"$new" | tr '\n' '|')"; fi
	t_client n1 client --connect "$T_VIP4:80" --tcp -n 50
	t_jq "$c: traffic still flows to the old backend" "$T_OUT" '.names == {"b1": 50}'
	rm -f "$cfg/$f"
	sleep 0.5
}

# 1. A semantic error: a second service whose port is out of range.
cat > "$cfg/.web2.yaml.tmp" <<Y
apiVersion: v1
kind: Service
metadata:
  name: web2
  namespace: default
spec:
  clusterIP: 10.96.0.30
  ports:
  - name: http
    protocol: TCP
    port: 70000
    targetPort: 8080
Y
bad_line=$(grep -n 'port: 70000' "$cfg/.web2.yaml.tmp" | cut -d: -f1)
refused_case "port 70000" web2.yaml "$bad_line"

# 2. A YAML syntax error (unterminated flow sequence).
cat > "$cfg/.broken.yaml.tmp" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: broken
spec:
  clusterIPs: [10.96.0.40, fd00:96::40
  ports:
  - port: 80
Y
refused_case "yaml syntax error" broken.yaml '[0-9]+'

# 3. Fixing the configuration applies it.
g0=$(t_gen n1)
if t_web "b1 b2" | t_reconfig web.yaml; then t_ok "fixed configuration: new generation"
else t_fail "fixed configuration: new generation" "generation $(t_gen n1), was $g0"; fi
t_client n1 client --connect "$T_VIP4:80" --tcp -n 100
t_jq "fixed configuration: b1 and b2 serve" "$T_OUT" '.names.b1 > 0 and .names.b2 > 0 and .ok == 100'

t_finish
