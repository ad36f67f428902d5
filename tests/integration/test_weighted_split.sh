#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A 90/10 canary split (DestinationRule subsets v1/v2 by pod label version,
# VirtualService tcp route weights 90/10) holds within a statistical bound.
#
# Bound: each connection independently picks v1 with p = 0.9, so the v1
# count over n connections is Binomial(n, 0.9): mean 0.9n, sigma =
# sqrt(n * 0.9 * 0.1). We accept |count - 0.9n| <= 4 sigma; a correct
# implementation fails this about 6 times in 100,000 runs.
#   n = 2000 (IPv4): sigma = 13.42, 4 sigma = 53.7 -> v1 in [1747, 1853]
#   n = 1000 (IPv6): sigma =  9.49, 4 sigma = 37.9 -> v1 in [ 863,  937]
source "$(dirname "$0")/lib.sh"

t_mesh2
{ t_web "b1 b2"; y_split web "v1:90 v2:10"; } | t_config web.yaml
t_start_agents n1

# within N COUNT: is COUNT within 4 sigma of 0.9 N?
within() { awk -v n="$1" -v k="$2" 'BEGIN { s = sqrt(n * 0.09); d = k - 0.9 * n; if (d < 0) d = -d; exit !(d <= 4 * s) }'; }

split_case() { # NAME N ARGS...
	local c=$1 n=$2 v1 v2; shift 2
	t_client n1 client "$@" -n "$n" || t_fail "$c: $n connections succeed" "$T_OUT" || return 1
	t_ok "$c: $n connections succeed"
	v1=$(jq '.names.b1 // 0' <<<"$T_OUT"); v2=$(jq '.names.b2 // 0' <<<"$T_OUT")
	t_info "$c: v1 (b1) $v1, v2 (b2) $v2 of $n; 4-sigma window for v1: $(awk -v n="$n" 'BEGIN { s = 4 * sqrt(n * 0.09); printf "[%d, %d]", 0.9 * n - s + 0.999, 0.9 * n + s }')"
	t_eq "$c: every connection went to b1 or b2" "$((v1 + v2))" "$n"
	if within "$n" "$v1"; then t_ok "$c: v1 share within 4 sigma of 90%"
	else t_fail "$c: v1 share within 4 sigma of 90%" "v1 got $v1 of $n"; fi
}

split_case "tcp4 90/10" 2000 --connect "$T_VIP4:80" --tcp
v1_client=$(jq '.names.b1 // 0' <<<"$T_OUT")

# The CLI shows the weights and counts the selections.
show=$(topo_trestle n1 -j service show "$T_VIP4:80" 2>&1)
t_jq "cli: service show $T_VIP4:80: b1 is subset v1 at 90%, b2 subset v2 at 10%" "$show" \
	"[.[].backends[] | select(.address == \"${T_V4[b1]}\" or .address == \"${T_V4[b2]}\") | {address, subset, w: (.weight_pct | round)}] | sort_by(.address) ==
	 [{\"address\": \"${T_V4[b1]}\", \"subset\": \"v1\", \"w\": 90}, {\"address\": \"${T_V4[b2]}\", \"subset\": \"v2\", \"w\": 10}]"
t_jq "cli: selections of b1 equal the connections that reached b1 ($v1_client)" "$show" \
	"[.[].backends[] | select(.address == \"${T_V4[b1]}\") | .selections] == [$v1_client]"
t_jq "cli: service show $T_VIP4:80 lists only IPv4 backends" "$show" \
	'[.[].backends[].address | select(contains(":"))] == []'

split_case "tcp6 90/10" 1000 --connect "[$T_VIP6]:80" --tcp

t_finish
