#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The metrics endpoint under abuse: malformed requests, a 2 MB header,
# clients that send one byte a second, an idle connection, 200 concurrent
# scrapes. Through all of it a normal scrape succeeds, the agent lives, and
# its RSS stays within RSS_BOUND_KB of what it was after warm-up.
source "$(dirname "$0")/lib.sh"

RSS_BOUND_KB=$((16 * 1024)) # 16 MiB over the warmed-up agent (measured: ~3.3 MiB)
ADDR=127.0.0.1:15020
URL=http://$ADDR/metrics

t_mesh2
{
	t_web "b1 b2 b3"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
} | t_config mesh.yaml
topo_agent n1 --metrics-addr "$ADDR" || t_abort agent-n1-start
pid=$(topo_agent_pid n1)
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
scrape_ok() { # a normal scrape: 200 and the last family is there
	topo_node_run n1 curl -sS --max-time 5 "$URL" 2>&1 | grep -q '^trestle_scrape_duration_seconds '
}
# raw NAME: send stdin to the endpoint over a bare TCP connection; print
# the status line of the answer ("" when the server just closed).
raw() {
	topo_node_run n1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/15020 || exit 1
		cat >&3 2>/dev/null
		timeout 5 head -n 1 <&3 | tr -d "\r"' 2>/dev/null
}

t_client n1 client --connect "$T_VIP4:80" --tcp -n 10
for i in 1 2 3 4 5 6 7 8; do scrape_ok; done # warm up the pool threads
rss0=$(rss)
t_info "agent RSS after warm-up: $rss0 kB"

# 1. Malformed requests: an error status or a closed connection, never a crash.
declare -A bad=(
	[garbage]='GARBAGE\r\n\r\n'
	[no-version]='GET /metrics\r\n\r\n'
	[bad-version]='GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n'
	[header-no-colon]='GET /metrics HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n'
	[negative-length]='GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'
	[huge-length]='POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n'
	[bad-chunked]='POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n'
	[nul-bytes]='GET /met\0rics HTTP/1.1\r\nHost: x\r\n\r\n'
	[bare-lf]='GET /metrics HTTP/1.1\nHost: x\n\n'
	[absolute-uri]='GET http://evil/metrics HTTP/1.1\r\nHost: x\r\n\r\n'
	[traversal]='GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
)
for k in "${!bad[@]}"; do
	st=$(printf "${bad[$k]}" | raw)
	if kill -0 "$pid" 2>/dev/null && [[ -z $st || $st =~ ^HTTP/1\.[01]\ [2-5][0-9][0-9] ]]; then
		t_ok "malformed '$k': ${st:-connection closed}"
	else
		t_fail "malformed '$k'" "answer '$st', agent alive: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
	fi
done
st=$(head -c 65536 /dev/urandom | raw)
kill -0 "$pid" 2>/dev/null && t_ok "64 KiB of random bytes: ${st:-connection closed}" || t_fail "64 KiB of random bytes" "agent died"
long=$(printf 'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' "$(head -c 200000 /dev/zero | tr '\0' a)")
st=$(printf '%s' "$long" | raw)
[[ -z $st || $st =~ ^HTTP/1\.1\ (4[0-9][0-9]) ]] && t_ok "200 KB URL: ${st:-connection closed}" || t_fail "200 KB URL" "$st"
scrape_ok && t_ok "normal scrape after malformed requests" || t_fail "normal scrape after malformed requests"

# 2. A 2 MB header: an error status, bounded memory.
{ printf 'X-Big: '; head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' b; echo; } > "$TOPO_DIR/bigheader"
code=$(topo_node_run n1 curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H @"$TOPO_DIR/bigheader" "$URL")
[[ $code =~ ^(4[0-9][0-9]|000)$ ]] && t_ok "2 MB header: refused ($code)" || t_fail "2 MB header: refused" "status $code"
st=$({ printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: '; head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' b; printf '\r\n\r\n'; } | raw)
[[ $st =~ ^HTTP/1\.1\ 4[0-9][0-9] ]] && t_ok "2 MB header over a raw socket: $st" || t_fail "2 MB header over a raw socket" "'$st'"
scrape_ok && t_ok "normal scrape after the 2 MB headers" || t_fail "normal scrape after the 2 MB headers"

# 3. Slow clients: 20 connections sending one byte a second for 12 s,
# while normal scrapes go on.
slow=()
for i in $(seq 20); do
	topo_node_run n1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/15020 || exit 1
		r="GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa"
		for ((i = 0; i < 12; i++)); do printf "%s" "${r:i:1}" >&3 || exit 0; sleep 1; done' \
		>/dev/null 2>&1 &
	slow+=($!)
done
fails=0 slowest=0
for i in $(seq 10); do
	t0=$(date +%s%N)
	scrape_ok || fails=$((fails + 1))
	ms=$((($(date +%s%N) - t0) / 1000000)); ((ms > slowest)) && slowest=$ms
	sleep 1
done
t_eq "normal scrapes during 20 one-byte-a-second clients (slowest ${slowest} ms)" "$fails" 0
((slowest < 2000)) && t_ok "no scrape waited on the slow clients (${slowest} ms)" ||
	t_fail "no scrape waited on the slow clients" "${slowest} ms"
wait "${slow[@]}" 2>/dev/null

# An idle connection is closed by the server (CONNECTION_TIMEOUT, 10 s).
t0=$(date +%s)
topo_node_run n1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/15020 || exit 1; timeout 30 cat <&3 >/dev/null'
idle=$(($(date +%s) - t0))
((idle >= 8 && idle <= 15)) && t_ok "idle connection closed by the server after ${idle} s" ||
	t_fail "idle connection closed by the server after 10 s" "${idle} s"

# 4. 200 concurrent scrapes.
res=$(topo_node_run n1 bash -c 'for i in $(seq 200); do
		curl -s -o /dev/null -w "%{http_code}\n" --max-time 30 "'"$URL"'" &
	done; wait' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
t_eq "200 concurrent scrapes all answered 200" "$res" " 200 200;"
scrape_ok && t_ok "normal scrape after 200 concurrent ones" || t_fail "normal scrape after 200 concurrent ones"

kill -0 "$pid" 2>/dev/null && t_ok "agent alive (pid $pid)" || t_fail "agent alive" "pid $pid is gone"
rss1=$(rss)
t_info "agent RSS after the abuse: $rss1 kB (warm-up $rss0 kB, bound +$RSS_BOUND_KB kB)"
((rss1 - rss0 <= RSS_BOUND_KB)) && t_ok "RSS grew by $((rss1 - rss0)) kB <= $RSS_BOUND_KB kB" ||
	t_fail "RSS bounded" "grew by $((rss1 - rss0)) kB"
# the data path was never disturbed
t_client n1 client --connect "$T_VIP4:80" --tcp -n 10
t_jq "connections through the VIP still work" "$T_OUT" '.ok == 10'

t_finish
