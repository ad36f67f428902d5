#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Same-node socket redirection (include/trestle/redir.h): between two
# workloads of one node, byte streams arrive whole and in order -- large
# and small writes, both directions, direct and through a service VIP,
# IPv4 and IPv6, 200 connections at once, half-close, a close right after
# a big write, many short connections closing at once, a workload talking
# to its own listener and a socket connected to itself -- while the
# counters say they were redirected, by exactly the bytes written. The
# Istio byte metrics still count redirected bytes. A connection policy
# denies stays denied and is never redirected; the switch off leaves new
# connections on the normal path; auto keeps a server endpoint that
# carried bulk off redirection; MPTCP sockets are left alone and still
# work; an agent restart keeps an open redirected connection working.
source "$(dirname "$0")/lib.sh"

TR_STREAM=${TR_STREAM:-$TRESTLE_BUILD/tests/tools/tr-stream}
[[ -x $TR_STREAM ]] || t_abort setup "missing $TR_STREAM (run scripts/build)"
command -v bpftool >/dev/null || t_abort setup "bpftool missing"

VIP=10.96.0.30
t_mesh2
topo_workload n1 bad 10.244.1.20 fd00:244:1::20 || t_abort setup "workload bad"
{
	y_service stream "$VIP" "s:TCP:90:9000"
	y_slice stream-v4 stream IPv4 "s:TCP:9000" "${T_V4[b1]}:true:n1:b1"
	y_pod b1 n1 "${T_V4[b1]} ${T_V6[b1]}" "app=stream"
	y_pod b2 n1 "${T_V4[b2]} ${T_V6[b2]}" "app=other"
	y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
	y_pod bad n1 "10.244.1.20 fd00:244:1::20" "app=bad"
	y_authz default deny-bad DENY "app=stream" \
		"from: [{source: {principals: [\"$(y_principal bad)\"]}}]"
} | t_config mesh.yaml
topo_agent n1 --redirect on || t_abort agent-start

for wl in b1 b2; do
	topo_run n1 "$wl" "$TR_STREAM" serve --listen '[::]:9000' --ready "$TOPO_DIR/ready.$wl" \
		>>"$TOPO_DIR/stream.log" 2>&1 &
done
for ((i = 0; i < 100; i++)); do [[ -s $TOPO_DIR/ready.b1 && -s $TOPO_DIR/ready.b2 ]] && break; sleep 0.05; done
[[ -s $TOPO_DIR/ready.b1 && -s $TOPO_DIR/ready.b2 ]] || t_abort setup "tr-stream serve did not start"

CFG=$(topo_pin n1)/tr_redir_cfg
set_mode() { bpftool map update pinned "$CFG" key 0 0 0 0 value "$1" 0 0 0 0 0 0 0; }
snap() { S_CONN=$(t_stat n1 redirect_connections); S_BYTES=$(t_stat n1 redirect_bytes); }
moved() { # CASE CONNS [BYTES]: the counters moved by exactly that since snap
	local c b
	c=$(($(t_stat n1 redirect_connections) - S_CONN)); b=$(($(t_stat n1 redirect_bytes) - S_BYTES))
	if [[ $c == "$2" && ( -z ${3:-} || $b == "$3" ) ]]; then
		t_ok "$1: counters moved by $c connections${3:+, $b bytes}"
	else
		t_fail "$1: counters moved by $c connections${3:+, $b bytes}" "want $2${3:+ and $3}"
	fi
}
# stream WL CASE ARGS...: tr-stream in workload WL must check out.
stream() {
	local wl=$1 c=$2; shift 2
	T_OUT=$(topo_run n1 "$wl" "$TR_STREAM" "$@" 2>&1)
	t_jq "$c" "$T_OUT" '.failed == 0 and .ok > 0'
}
HDR=32 RES=16 # tr-stream's header (client -> server) and result (server -> client)

# --- integrity ------------------------------------------------------------
snap
stream client "sink 8 MB in 1 MB writes, client -> b1" sink --connect "${T_V4[b1]}:9000" --bytes 8388608 --write 1048576
moved "sink 8 MB" 1 $((8388608 + HDR + RES))
snap
stream client "source 16 MB in 256 KB writes, b1 -> client, b1 closes right after" source --connect "${T_V4[b1]}:9000" --bytes 16777216 --write 262144
moved "source 16 MB" 1 $((16777216 + HDR))
snap
stream client "sink 64 KB in 1-byte writes (half-close, then the answer)" sink --connect "${T_V4[b1]}:9000" --bytes 65536 --write 1
moved "sink 1-byte writes" 1 $((65536 + HDR + RES))
snap
stream client "source 64 KB in 1-byte writes" source --connect "${T_V4[b1]}:9000" --bytes 65536 --write 1
moved "source 1-byte writes" 1 $((65536 + HDR))
stream client "rr 1-byte, 2000 transactions" rr --connect "${T_V4[b1]}:9000" --bytes 2000 --write 1
stream client "rr 64 KB messages, 100 transactions" rr --connect "${T_V4[b1]}:9000" --bytes $((100 * 65536)) --write 65536
snap
stream client "IPv6 sink 4 MB" sink --connect "[${T_V6[b1]}]:9000" --bytes 4194304 --write 65536
moved "IPv6" 1 $((4194304 + HDR + RES))
snap
stream client "through the VIP, sink 4 MB" sink --connect "$VIP:90" --bytes 4194304 --write 4096
moved "VIP" 1 $((4194304 + HDR + RES))

# --- many connections and close races --------------------------------------
snap
stream client "200 concurrent connections, 100 KB each" sink --connect "${T_V4[b1]}:9000" --parallel 200 --bytes 102400 --write 1000
moved "200 concurrent" 200 $((200 * (102400 + HDR + RES)))
stream client "1000 short connections, 50 at once, server closing right after writing" source --connect "${T_V4[b1]}:9000" --parallel 50 --conns 20 --bytes 10000 --write 100
stream client "500 short connections, 50 at once, client half-closing" sink --connect "${T_V4[b2]}:9000" --parallel 50 --conns 10 --bytes 5000 --write 5000

# --- a workload talking to itself --------------------------------------------
snap
stream b1 "b1 connects to its own listener, 4 MB each way at once" self --listen "${T_V4[b1]}:9100" --bytes 4194304 --write 65536
moved "self through the listener" 1 $((2 * 4194304))
stream b1 "a socket connected to itself (simultaneous open)" selfconnect --bind "${T_V4[b1]}:9200" --bytes 1048576 --write 4096

# --- Istio metrics count redirected bytes --------------------------------------
m_sum() { topo_node_run n1 curl -s "http://127.0.0.1:15020/metrics" | grep -E "^$1\{" | grep 'reporter="source"' |
	grep 'source_workload="client"' | grep 'destination_workload="other"' | awk '{s += $NF} END {print s + 0}'; }
r0=$(m_sum istio_tcp_received_bytes_total); s0=$(m_sum istio_tcp_sent_bytes_total)
stream client "sink 123456 bytes to b2 (metrics)" sink --connect "${T_V4[b2]}:9000" --bytes 123456 --write 1000
sleep 0.3
t_eq "istio received bytes count the redirected request" $(($(m_sum istio_tcp_received_bytes_total) - r0)) $((123456 + HDR)) ||
	t_info "$(topo_node_run n1 curl -s http://127.0.0.1:15020/metrics | grep -E '^istio_tcp_received_bytes_total' | head -5)"
t_eq "istio sent bytes count the redirected answer" $(($(m_sum istio_tcp_sent_bytes_total) - s0)) $RES

# --- policy ------------------------------------------------------------------
snap
T_OUT=$(topo_run n1 bad "$TR_STREAM" sink --connect "${T_V4[b1]}:9000" --bytes 1000 2>&1)
t_jq "bad -> b1 is still denied (EPERM)" "$T_OUT" '.failed == 1 and (.error | test("connect: Operation not permitted"))'
stream bad "bad -> b2 (no policy) is allowed" sink --connect "${T_V4[b2]}:9000" --bytes 1000 --write 100
moved "only the allowed connection" 1 $((1000 + HDR + RES))

# --- the switch ------------------------------------------------------------------
set_mode 0 || t_fail "switch off" "cannot write $CFG"
snap
stream client "switch off: sink 1 MB" sink --connect "${T_V4[b1]}:9000" --bytes 1048576 --write 4096
moved "switch off" 0 0
t_jq "status shows the switch off" "$(topo_trestle n1 -j status)" '.redirect.mode == "off"'
set_mode 1
snap
stream client "switch on again: sink 1 MB" sink --connect "${T_V4[b1]}:9000" --bytes 1048576 --write 4096
moved "switch on again" 1 $((1048576 + HDR + RES))

# --- auto: bulk endpoints leave redirection ---------------------------------------
set_mode 2
b0=$(t_stat n1 redirect_bulk_seen); k0=$(t_stat n1 redirect_bulk_skipped)
stream client "auto: 4 MB bulk to b2" sink --connect "${T_V4[b2]}:9000" --bytes 4194304 --write 4096
t_eq "auto: the bulk transfer was seen" $(($(t_stat n1 redirect_bulk_seen) - b0)) 1
snap
stream client "auto: the next connection to b2" rr --connect "${T_V4[b2]}:9000" --bytes 100 --write 1
moved "auto: b2 now takes the normal path" 0 0
t_eq "auto: counted as skipped" $(($(t_stat n1 redirect_bulk_skipped) - k0)) 1
snap
stream client "auto: request/response to b1" rr --connect "${T_V4[b1]}:9000" --bytes 100 --write 1
moved "auto: b1 stays redirected" 1 $((HDR + 200))
set_mode 1

# --- MPTCP -------------------------------------------------------------------------
if [[ $(cat /proc/sys/net/mptcp/enabled 2>/dev/null) == 1 ]]; then
	topo_run n1 b2 "$TR_STREAM" serve --mptcp --listen '0.0.0.0:9300' --ready "$TOPO_DIR/ready.mptcp" \
		>>"$TOPO_DIR/stream.log" 2>&1 &
	for ((i = 0; i < 100; i++)); do [[ -s $TOPO_DIR/ready.mptcp ]] && break; sleep 0.05; done
	snap; u0=$(t_stat n1 redirect_unsuitable)
	stream client "MPTCP sink 4 MB works" sink --mptcp --connect "${T_V4[b2]}:9300" --bytes 4194304 --write 4096
	moved "MPTCP is not redirected" 0 0
	t_info "MPTCP subflows refused by the redirection: $(($(t_stat n1 redirect_unsuitable) - u0))"
else
	t_info "skipped MPTCP: net.mptcp.enabled is not 1 on this kernel"
fi

# --- agent restart ----------------------------------------------------------------------
snap
topo_run n1 client "$TR_STREAM" rr --connect "${T_V4[b1]}:9000" --write 1 --duration 4 \
	> "$TOPO_DIR/rr.json" 2>&1 &
rr=$!
sleep 1
topo_agent_stop n1 && topo_agent n1 --redirect on || t_fail "agent restart" "agent did not come back"
wait "$rr"
t_jq "an open redirected connection keeps working across an agent restart" "$(cat "$TOPO_DIR/rr.json")" '.failed == 0 and .transactions > 1000'
moved "it was redirected" 1

t_finish
