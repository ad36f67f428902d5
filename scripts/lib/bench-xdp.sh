#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# bench-xdp.sh -- the packets-per-second half of suite "xdp" of scripts/bench:
# UDP from a client outside the node to a LoadBalancer address, through the
# uplink load balancer (trestled --uplink, XDP) and through iptables DNAT
# (what kube-proxy does for the same service), to a backend on the node.
# scripts/bench runs it as a process of its own (topo.sh owns the EXIT trap
# here) and formats the JSON it writes; see tests/bench/README.md.
#
# Topology (scripts/lib/topo.sh, prefix --prefix), two nodes side by side,
# the same shape each:
#
#   PREFIX-out1 eth0 --veth-- up0 node x1 -- w-sink -- x1/sink 10.244.1.10
#   PREFIX-out2 eth0 --veth-- up0 node x2 -- w-sink -- x2/sink 10.244.2.10
#
#   x1  trestled --uplink up0: Service lb (type LoadBalancer, ingress
#       10.250.100.10, port 53/UDP -> 5353) with the one endpoint x1/sink;
#       XDP translates and redirects to the sink's device
#   x2  no agent: iptables -t nat PREROUTING DNAT 10.250.100.10:53/udp ->
#       10.244.2.10:5353 (conntrack, then routing and forwarding)
#
# The client (tests/bench/xdp_perf flood, on CPU 0) sends 18-byte UDP
# datagrams as fast as sendmmsg goes, one flow, without a UDP checksum (a
# frame from a local stack over a veth carries a partial checksum that
# XDP_REDIRECT does not complete; a NIC's frames are whole); the sink
# (xdp_perf sink, on CPU 1, outside any cgroup of the agent) counts what
# arrives. Rounds alternate the order of the two paths. The figure is
# datagrams per second delivered to the backend: its device's received
# packets over the flood's duration (what the path forwarded; one socket
# reading them cannot keep up with either path on this machine, so what
# the sink's socket got is reported beside, as is what the client sent:
# the client's CPU also runs the node's softirq work). Per path the median
# over the rounds, and the median of xdp/iptables paired per round.
#
# Usage: bench-xdp.sh --build DIR --prefix PREFIX --out FILE [--rounds N]
#                     [--duration S]
# Needs root. Progress on stderr, the JSON document into FILE.
set -uo pipefail

{
BUILD=
PREFIX=
OUT=
ROUNDS=6
DURATION=2

while (($#)); do
	case $1 in
	--build) BUILD=${2:?}; shift ;;
	--prefix) PREFIX=${2:?}; shift ;;
	--out) OUT=${2:?}; shift ;;
	--rounds) ROUNDS=${2:?}; shift ;;
	--duration) DURATION=${2:?}; shift ;;
	-h|--help) sed -n '/^# Usage:/,/^# Needs root/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-xdp: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done
say() { echo "bench-xdp: $*" >&2; }
die() { say "$*"; exit 1; }
[[ -n $BUILD && -n $PREFIX && -n $OUT ]] || die "--build, --prefix and --out are required"
XDP_PERF=$BUILD/tests/bench/xdp_perf
TRESTLE_BUILD=$BUILD
export TRESTLE_BUILD
[[ -x $XDP_PERF ]] || die "missing $XDP_PERF"
command -v iptables >/dev/null || die "command 'iptables' not found"

# shellcheck source-path=SCRIPTDIR source=topo.sh
source "$(dirname "${BASH_SOURCE[0]}")/topo.sh"

LB=10.250.100.10
topo_init "$PREFIX" || die "topo_init $PREFIX failed"
topo_node x1 && topo_node x2 || die "cannot create the nodes"
topo_workload x1 sink 10.244.1.10 fd00:244:1::10 &&
	topo_workload x2 sink 10.244.2.10 fd00:244:2::10 || die "cannot create the workloads"
for i in 1 2; do
	ns=$(topo_ns "x$i") out="$PREFIX-out$i"
	ip netns add "$out" &&
	ip -n "$ns" link add up0 type veth peer name eth0 netns "$out" &&
	ip -n "$ns" addr add "10.250.$i.1/24" dev up0 && ip -n "$ns" link set up0 up &&
	ip -n "$out" link set lo up && ip -n "$out" link set eth0 up &&
	ip -n "$out" addr add "10.250.$i.2/24" dev eth0 &&
	ip -n "$out" route add default via "10.250.$i.1" || die "cannot build the outside link of x$i"
done
# x2: kube-proxy's translation for the same service
ip netns exec "$(topo_ns x2)" iptables -t nat -A PREROUTING -d "$LB/32" -p udp --dport 53 \
	-j DNAT --to-destination 10.244.2.10:5353 || die "iptables DNAT on x2 failed"
# x1: the agent and the service
cat > "$(topo_config_dir x1)/lb.yaml" <<Y
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.53
  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 5353}]
status: {loadBalancer: {ingress: [{ip: $LB}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb, namespace: default, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
ports: [{name: dns, protocol: UDP, port: 5353}]
endpoints: [{addresses: [10.244.1.10], nodeName: x1}]
---
apiVersion: v1
kind: Pod
metadata: {name: sink, namespace: default}
spec: {nodeName: x1}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Node
metadata: {name: x1}
status: {addresses: [{type: InternalIP, address: $(topo_node_v4 x1)}]}
Y
TOPO_AGENT_TIMEOUT=30 topo_agent x1 --uplink up0 || die "the agent on x1 did not start"

xdp_local() {
	"$TRESTLE" --bpffs "$(topo_pin x1)" -j stats 2>/dev/null | jq '.xdp_local // 0'
}

rx_packets() { ip netns exec "$(topo_ns "$1" sink)" cat /sys/class/net/eth0/statistics/rx_packets; }

# one run: the flood's, the sink's and the device's figures as JSON
run_path() {
	local node=$1 out sink_json flood_json spid rx0 rx1
	out="$PREFIX-out${node#x}"
	ip netns exec "$(topo_ns "$node" sink)" taskset -c 1 "$XDP_PERF" sink \
		--listen 0.0.0.0:5353 --duration "$DURATION" > "$TOPO_DIR/sink.json" &
	spid=$!
	sleep 0.2
	rx0=$(rx_packets "$node")
	flood_json=$(ip netns exec "$out" taskset -c 0 "$XDP_PERF" flood --target "$LB:53" \
		--duration "$DURATION")
	sleep 0.1
	rx1=$(rx_packets "$node")
	wait "$spid"
	sink_json=$(cat "$TOPO_DIR/sink.json")
	jq -c -n --argjson s "${sink_json:-null}" --argjson f "${flood_json:-null}" \
		--argjson dev "$((rx1 - rx0))" \
		'{delivered: $dev, received: ($s.received // 0), rx_seconds: ($s.seconds // 0),
		  sent: ($f.sent // 0), tx_seconds: ($f.seconds // 0)}'
}

runs='[]'
l0=$(xdp_local)
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2)); then order="x2 x1"; else order="x1 x2"; fi
	for node in $order; do
		j=$(run_path "$node") || j='{}'
		runs=$(jq -c --argjson j "$j" --arg p "$node" --argjson r "$r" \
			'. + [$j + {path: $p, round: $r}]' <<<"$runs")
		say "round $((r + 1))/$ROUNDS $node: $(jq -r '"\(.sent) sent, \(.delivered) delivered to the backend, \(.received) read by the sink in \(.tx_seconds | . * 100 | round / 100)s"' <<<"$j")"
	done
done
l1=$(xdp_local)
ipt_pkts=$(ip netns exec "$(topo_ns x2)" iptables -t nat -L PREROUTING -v -x -n | awk '/DNAT/ { print $1; exit }')
jq -n --argjson runs "$runs" --argjson rounds "$ROUNDS" --argjson d "$DURATION" \
	--argjson xl "$((l1 - l0))" --argjson ipt "${ipt_pkts:-0}" \
	--arg kernel "$(uname -r)" --arg cpus "$(nproc)" --arg mode "$(nsenter --net="/run/netns/$(topo_ns x1)" -- "$TRESTLE" --bpffs "$(topo_pin x1)" -j status 2>/dev/null | jq -r '.uplinks[0].xdp_mode // "?"')" '
	def q($p): sort | if length == 0 then null else .[((length - 1) * $p | floor)] end;
	def stat: {median: q(0.5), p25: q(0.25), p75: q(0.75)};
	def pps: if .tx_seconds > 0 then .delivered / .tx_seconds else null end;
	def rpps: if .rx_seconds > 0 then .received / .rx_seconds else null end;
	($runs | map(select(.path == "x1") | pps) | map(select(. != null))) as $x
	| ($runs | map(select(.path == "x2") | pps) | map(select(. != null))) as $i
	| [range(0; $rounds) as $r
	   | ($runs | map(select(.round == $r))) as $rr
	   | ($rr | map(select(.path == "x1"))[0] | pps) as $a
	   | ($rr | map(select(.path == "x2"))[0] | pps) as $b
	   | select($a != null and $b != null and $b > 0) | $a / $b] as $ratios
	| {rounds: $rounds, duration_s: $d, payload_bytes: 18, kernel: $kernel, cpus: ($cpus | tonumber),
	   xdp_mode: $mode,
	   xdp: {pps: ($x | stat), sent_pps: ($runs | map(select(.path == "x1") | .sent / .tx_seconds) | stat),
		 sink_pps: ($runs | map(select(.path == "x1") | rpps) | map(select(. != null)) | stat)},
	   iptables: {pps: ($i | stat), sent_pps: ($runs | map(select(.path == "x2") | .sent / .tx_seconds) | stat),
		      sink_pps: ($runs | map(select(.path == "x2") | rpps) | map(select(. != null)) | stat)},
	   ratio: ($ratios | stat),
	   checks: {xdp_local_delta: $xl, xdp_delivered: ($runs | map(select(.path == "x1") | .delivered) | add),
		    iptables_dnat_rule_packets: $ipt,
		    iptables_delivered: ($runs | map(select(.path == "x2") | .delivered) | add)},
	   runs: $runs}' > "$OUT" || die "cannot write $OUT"
exit 0
}
