#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Editing manifests in the config directory reloads the agent (inotify):
# backends are added and removed, with an atomic rename, with an in-place
# rewrite, and by deleting the file; each change is a new generation.
source "$(dirname "$0")/lib.sh"

t_mesh2
t_sink
t_web "b1" | t_config web.yaml
t_start_agents n1
cfg=$(topo_config_dir n1)

g0=$(t_gen n1)
t_client n1 client --connect "$T_VIP4:80" --tcp -n 50
t_jq "start: only b1 serves" "$T_OUT" '.names == {"b1": 50}'

# Add b2 (temp file + rename: IN_MOVED_TO).
if t_web "b1 b2" | t_reconfig web.yaml; then t_ok "add b2 (rename): new generation"
else t_fail "add b2 (rename): new generation" "still $(t_gen n1)"; fi
t_client n1 client --connect "$T_VIP4:80" --tcp -n 200
t_jq "add b2: b1 and b2 serve" "$T_OUT" '.names.b1 > 0 and .names.b2 > 0 and .ok == 200'
t_client n1 client --connect "[$T_VIP6]:80" --tcp -n 200
t_jq "add b2: b1 and b2 serve over IPv6" "$T_OUT" '.names.b1 > 0 and .names.b2 > 0 and .ok == 200'

# Remove b1 with an in-place rewrite (IN_CLOSE_WRITE).
g1=$(t_gen n1)
t_web "b2" > "$cfg/web.yaml"
if t_wait_gen n1 $((g1 + 1)); then t_ok "remove b1 (in-place write): new generation"
else t_fail "remove b1 (in-place write): new generation" "still $(t_gen n1)"; fi
t_client n1 client --connect "$T_VIP4:80" --tcp -n 200
t_jq "remove b1: only b2 serves" "$T_OUT" '.names == {"b2": 200}'

# A second file adds a second service; deleting it removes the service.
g2=$(t_gen n1)
{
	y_service api "10.96.0.20 fd00:96::20" "http:TCP:80:8080"
	y_slice api-v4 api IPv4 "http:TCP:8080" "${T_V4[b3]}:true:n2:b3"
} > "$cfg/api.yaml"
t_wait_gen n1 $((g2 + 1)) || t_fail "new file api.yaml: new generation" "still $(t_gen n1)"
t_client n1 client --connect 10.96.0.20:80 --tcp -n 20
t_jq "new file api.yaml: service api reaches b3" "$T_OUT" '.names == {"b3": 20}'
g3=$(t_gen n1)
rm -f "$cfg/api.yaml"
t_wait_gen n1 $((g3 + 1)) || t_fail "delete api.yaml: new generation" "still $(t_gen n1)"
t_client n1 client --connect 10.96.0.20:80 --tcp -n 20 --timeout 1000
t_jq "delete api.yaml: its VIP is no longer translated (reaches the sink)" "$T_OUT" '.names == {"sink": 20}'
t_client n1 client --connect "$T_VIP4:80" --tcp -n 20
t_jq "delete api.yaml: web still served by b2" "$T_OUT" '.names == {"b2": 20}'
t_info "generations: start $g0, end $(t_gen n1)"

t_finish
