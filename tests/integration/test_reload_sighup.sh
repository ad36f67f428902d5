#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# SIGHUP reloads the configuration. The manifest is a symlink in the config
# directory to a file elsewhere; editing that file is invisible to the
# agent's inotify watch on the directory, so only SIGHUP can pick it up.
source "$(dirname "$0")/lib.sh"

t_mesh2
outside="$TOPO_DIR/outside"
mkdir -p "$outside"
t_web "b1" > "$outside/web.yaml"
ln -s "$outside/web.yaml" "$(topo_config_dir n1)/web.yaml"
t_start_agents n1

t_client n1 client --connect "$T_VIP4:80" --tcp -n 30
t_jq "start: only b1 serves" "$T_OUT" '.names == {"b1": 30}'

g0=$(t_gen n1)
t_web "b2" > "$outside/web.yaml.new" && mv -f "$outside/web.yaml.new" "$outside/web.yaml"
sleep 1.5
g1=$(t_gen n1)
if [[ $g1 != "$g0" ]]; then
	t_fail "edit outside the watched directory is not seen without SIGHUP" \
		"generation moved $g0 -> $g1 before SIGHUP; this test cannot tell SIGHUP apart"
else
	t_ok "edit outside the watched directory is not seen without SIGHUP"
fi

kill -HUP "$(topo_agent_pid n1)"
if t_wait_gen n1 $((g1 + 1)); then t_ok "SIGHUP: new generation"
else t_fail "SIGHUP: new generation" "still $(t_gen n1)"; fi
t_check "SIGHUP: agent still running" kill -0 "$(topo_agent_pid n1)"
t_client n1 client --connect "$T_VIP4:80" --tcp -n 50
t_jq "SIGHUP: now only b2 serves" "$T_OUT" '.names == {"b2": 50}'

# SIGHUP with nothing changed: the generation stays, traffic unaffected.
g2=$(t_gen n1)
kill -HUP "$(topo_agent_pid n1)"
sleep 1
t_eq "SIGHUP without changes keeps generation" "$(t_gen n1)" "$g2"
t_client n1 client --connect "$T_VIP4:80" --tcp -n 20
t_jq "SIGHUP without changes: b2 still serves" "$T_OUT" '.names == {"b2": 20}'

t_finish
