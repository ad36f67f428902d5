#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The uplink load balancer (trestled --uplink, XDP): a client outside the
# mesh, in its own namespace behind node n1's uplink up0, reaches Service
# web's LoadBalancer address, an externalIP and a NodePort (n1's
# InternalIP), over TCP and UDP, IPv4 and IPv6. Backends b1, b2 on n1
# (DNAT and redirect) and b3 on n2 (encapsulated to n2, decapsulated there;
# n2 replies straight to the client). The client always sees the address it
# connected to. Then: flows held open while b1 leaves the endpoints keep
# their backend and new flows avoid b1; a source denied mesh-wide by
# ipBlocks is dropped at XDP and counted; status shows each uplink's mode.
# n1's restart switches its tc attach mode (tcx <-> clsact, whichever it
# did not start with): local backends' replies are translated either way
# (clsact: tr_xdp_rnat as a cls_bpf filter at priority 1, ahead of the
# policy filter at 2, which still sees everything else: a spoofed source
# is dropped), and held flows survive the switch.
source "$(dirname "$0")/lib.sh"

LB4=10.250.100.10 LB6=fd00:250:100::10
EXT4=10.250.101.10 EXT6=fd00:250:101::10
NODEPORT=30080 NODEPORT_UDP=30053

t_mesh2
OUT="$TOPO_PREFIX-out" # the outside client: deleted by topo_cleanup (prefix)
OUT2="$TOPO_PREFIX-out2" # a second outside client, in a denied block

# outside clients on a link to n1's uplink up0
n1=$(topo_ns n1)
ip netns add "$OUT" && ip netns add "$OUT2" || t_abort setup "cannot create the outside namespaces"
ip -n "$n1" link add up0 type veth peer name eth0 netns "$OUT" &&
ip -n "$n1" link add up1 type veth peer name eth0 netns "$OUT2" &&
ip -n "$n1" addr add 10.250.0.1/24 dev up0 && ip -n "$n1" addr add fd00:250::1/64 dev up0 nodad &&
ip -n "$n1" addr add 10.251.0.1/24 dev up1 &&
ip -n "$n1" link set up0 up && ip -n "$n1" link set up1 up &&
ip -n "$OUT" link set lo up && ip -n "$OUT" link set eth0 up &&
ip -n "$OUT" addr add 10.250.0.2/24 dev eth0 && ip -n "$OUT" addr add fd00:250::2/64 dev eth0 nodad &&
ip -n "$OUT" route add default via 10.250.0.1 && ip -n "$OUT" -6 route add default via fd00:250::1 &&
ip -n "$OUT2" link set lo up && ip -n "$OUT2" link set eth0 up &&
ip -n "$OUT2" addr add 10.251.0.2/24 dev eth0 && ip -n "$OUT2" route add default via 10.251.0.1 &&
ip -n "$(topo_ns n2)" route add 10.250.0.0/16 via 10.243.0.1 &&
ip -n "$(topo_ns n2)" route add 10.251.0.0/24 via 10.243.0.1 &&
ip -n "$(topo_ns n2)" -6 route add fd00:250::/64 via fd00:243::1 ||
	t_abort setup "cannot build the outside link"
# A frame from a local stack over a veth carries a partial checksum (tx
# offload), which XDP_REDIRECT does not complete: a real NIC's frames are
# whole. The outside clients send whole checksums, as a host behind a NIC.
ip netns exec "$OUT" ethtool -K eth0 tx off >/dev/null &&
	ip netns exec "$OUT2" ethtool -K eth0 tx off >/dev/null || t_abort setup "ethtool -K eth0 tx off failed"

# Service web as a LoadBalancer with an externalIP and node ports
lb_web() {
	t_web "$1" | sed -e "/^  clusterIP: /i\\  type: LoadBalancer\\n  externalIPs: [$EXT4, $EXT6]" \
		-e "s/^    port: 80$/    port: 80\\n    nodePort: $NODEPORT/" \
		-e "s/^    port: 53$/    port: 53\\n    nodePort: $NODEPORT_UDP/" |
		awk -v lb4="$LB4" -v lb6="$LB6" '
			{ print }
			/^  name: web$/ { svc = 1 }
			svc && /^    targetPort: 5353$/ {
				print "status:\n  loadBalancer:\n    ingress:\n    - ip: " lb4 "\n    - ip: " lb6
				svc = 0
			}'
	t_nodes
}
lb_web "b1 b2 b3" | t_config web.yaml
# the mesh-wide deny of the second outside client's block
y_authz istio-system deny-out2 DENY "" "from: [{source: {ipBlocks: [\"10.251.0.0/24\"]}}]" | t_config deny.yaml
TOPO_AGENT_TIMEOUT=30
topo_agent n1 --uplink up0 --uplink up1 --uplink fab0 || t_abort agent-n1 "agent on n1 did not start"
topo_agent n2 --uplink fab0 || t_abort agent-n2 "agent on n2 did not start"

# outside: tr-client in the client namespace (no cgroup: not in the mesh)
o_client() { local ns=$1; shift; T_OUT=$(ip netns exec "$ns" "$TR_CLIENT" --json "$@" 2>&1); }

for spec in "lb tcp4|$LB4:80|--tcp" "lb tcp6|[$LB6]:80|--tcp" "lb udp4|$LB4:53|--udp" \
	"lb udp6|[$LB6]:53|--udp" "externalIP tcp4|$EXT4:80|--tcp" "externalIP tcp6|[$EXT6]:80|--tcp" \
	"nodePort tcp4|10.243.0.1:$NODEPORT|--tcp" "nodePort udp4|10.243.0.1:$NODEPORT_UDP|--udp"; do
	IFS='|' read -r c target proto <<<"$spec"
	o_client "$OUT" --connect "$target" "$proto" -n 150 --timeout 3000
	t_jq "$c from outside: b1, b2 (n1) and b3 (n2) answer, $target as the peer" "$T_OUT" \
		'.ok == 150 and .peer_mismatch == 0 and (.names | keys) == ["b1","b2","b3"]'
done
o_client "$OUT" --connect "$LB4:80" --tcp -n 24 --send 1000000 --timeout 5000
t_jq "lb tcp4: 1 MB per connection comes back intact, from every backend" "$T_OUT" \
	'.ok == 24 and (.errors // {} | length) == 0 and (.names | keys) == ["b1","b2","b3"]'
t_jq "full-size packets to b3 (n2) found the path MTU through XDP's ICMP too-big" \
	"$(topo_trestle n1 -j stats 2>/dev/null)" '.xdp_icmp_too_big > 0'

t_jq "n1 counted local redirects, encapsulations and reply translations" \
	"$(topo_trestle n1 -j stats 2>/dev/null)" '.xdp_local > 0 and .xdp_encap > 0 and .xdp_revnat > 0'
t_jq "n2 counted decapsulations and reply translations" \
	"$(topo_trestle n2 -j stats 2>/dev/null)" '.xdp_decap > 0 and .xdp_revnat > 0 and .xdp_local > 0'

# --- a backend leaves while flows are open ---
holds=() n_held=0
# hold_flows N: N more flows from outside, held open; waits until each has
# its backend's greeting (the name goes to $TOPO_DIR/hold.I)
hold_flows() {
	local i first=$((n_held + 1))
	for ((i = first; i < first + $1; i++)); do
		ip netns exec "$OUT" "$TR_CLIENT" --json --connect "$LB4:80" --tcp --hold 12 --interval 100 \
			--ready "$TOPO_DIR/hold.$i" >"$TOPO_DIR/hold.$i.json" 2>&1 &
		holds+=($!)
	done
	n_held=$((first + $1 - 1))
	for ((i = first; i <= n_held; i++)); do
		for _ in $(seq 1 50); do [[ -s $TOPO_DIR/hold.$i ]] && break; sleep 0.1; done
	done
}
# Maglev spreads them over b1, b2, b3; a few more rounds make sure that
# some are on b1 (16 flows miss one of three backends now and then)
hold_flows 16
for _ in 1 2; do
	on_b1=$(cat "$TOPO_DIR"/hold.[0-9] "$TOPO_DIR"/hold.[0-9][0-9] 2>/dev/null | grep -c '^b1$')
	((on_b1 > 0)) && break
	hold_flows 8
done
on_b1=$(cat "$TOPO_DIR"/hold.[0-9] "$TOPO_DIR"/hold.[0-9][0-9] 2>/dev/null | grep -c '^b1$')
t_info "$on_b1 of $n_held held flows are on b1"
# b1 leaves the endpoints; its Pod stays (a Pod finishing its connections)
m1=$(t_log_mark n1) m2=$(t_log_mark n2)
{ lb_web "b2 b3"; y_pod b1 n1 "${T_V4[b1]} ${T_V6[b1]}" "app=web version=v1"; } | t_reconfig web.yaml || t_fail "b1 removed" "an agent did not apply it"
# the uplink's maps follow the generation within the same reload
t_log_wait n1 "$m1" "uplink load balancer applied" && t_log_wait n2 "$m2" "uplink load balancer applied" ||
	t_fail "b1 removed" "an uplink did not apply it"
o_client "$OUT" --connect "$LB4:80" --tcp -n 150 --timeout 3000
t_jq "new flows after b1 left: b2 and b3 only" "$T_OUT" \
	'.ok == 150 and (.names | keys) == ["b2","b3"]'
wait "${holds[@]}"
held=$(cat "$TOPO_DIR"/hold.[0-9]*.json | jq -s -c '.')
t_jq "all $n_held held flows kept working on their backend, b1's too ($on_b1)" "$held" \
	"length == $n_held and all(.[]; .ok == true and .pings > 60)"
t_jq "some held flows were on b1 (the case was exercised)" "$held" \
	'map(select(.name == "b1")) | length > 0'


# --- an agent restart keeps the uplink's flows (pinned links and tables) ---
# and switches the tc attach mode
if [[ ${TRESTLE_TC_MODE:-auto} == clsact ]]; then mode2=tcx; else mode2=clsact; fi
holds=()
for i in 1 2 3 4 5 6; do
	ip netns exec "$OUT" "$TR_CLIENT" --json --connect "$LB4:80" --tcp --hold 5 --interval 100 \
		>"$TOPO_DIR/rhold.$i.json" 2>&1 &
	holds+=($!)
done
sleep 1
topo_agent_stop n1
TRESTLE_TC_MODE=$mode2 topo_agent n1 --uplink up0 --uplink up1 --uplink fab0 ||
	t_abort agent-n1-restart "agent on n1 did not restart"
t_log_has n1 "tc attach mode: $mode2" && t_ok "n1 restarted in tc attach mode $mode2" ||
	t_fail "n1 restarted in tc attach mode $mode2" "$(grep 'tc attach mode' "$(topo_agent_log n1)" | tail -n 1)"
wait "${holds[@]}"
t_jq "flows held across an agent restart (tc mode switched to $mode2) kept working" \
	"$(cat "$TOPO_DIR"/rhold.*.json | jq -s -c '.')" 'length == 6 and all(.[]; .ok == true and .pings > 35)'
t_check "the restarted agent took over the pinned XDP links" grep -q "adopting pinned state" "$(topo_agent_log n1)"
for spec in "tcp4|$LB4:80|--tcp" "tcp6|[$LB6]:80|--tcp" "udp4|$LB4:53|--udp" "udp6|[$LB6]:53|--udp"; do
	IFS='|' read -r c target proto <<<"$spec"
	o_client "$OUT" --connect "$target" "$proto" -n 60 --timeout 3000
	# A UDP socket's random source port may be one an earlier datagram
	# used: that is the same flow to the connection table (nothing marks
	# a UDP flow's start), and if it was b1's it stays on b1, which drains
	# while its Pod exists. (TCP connects take the next ports in turn.)
	want='(.names | keys) == ["b2","b3"]'
	[[ $proto == --udp ]] && want='.names.b2 > 0 and .names.b3 > 0 and ((.names | keys) - ["b1","b2","b3"]) == []'
	t_jq "$mode2: new $c flows: b2 (local, replies translated) and b3, $target as the peer" "$T_OUT" \
		".ok == 60 and .peer_mismatch == 0 and $want"
done
# rnat_filters: "handle pref prog-name" of the filters on b2's host-side
# device's ingress, sorted; "-" when none
n1ns=$(topo_ns n1)
rnat_filters() {
	tc -n "$n1ns" -j filter show dev w-b2 ingress 2>/dev/null |
		jq -r '[.[] | select(.options.handle) | "\(.options.handle) \(.pref) \(.options.prog.name)"] |
			sort | if length == 0 then "-" else join(", ") end'
}
if [[ $mode2 == clsact ]]; then
	t_eq "clsact: b2's ingress: tr_xdp_rnat at priority 1 (handle 0x7278), then the policy filter at 2" \
		"$(rnat_filters)" "0x7278 1 tr_xdp_rnat, 0x7472 2 tr_tc_from_wl"
	t_jq "clsact: status lists b2's reply translation filter" "$(topo_trestle n1 -j status 2>&1)" \
		"any(.programs[]; (.name | startswith(\"tcrnat_\")) and .attach_type == \"tc_ingress\")"
else
	t_eq "tcx: no cls_bpf filters left on b2's ingress" "$(rnat_filters)" "-"
	t_check "tcx: the reply translation is a tcx link again" \
		test -e "$(topo_pin n1)/links/xrnat_$(ip -n "$n1ns" -j link show dev w-b2 | jq '.[0].ifindex')"
fi
# what tr_xdp_rnat does not translate goes on to the policy filter: a
# spoofed source from the local backend b2 is dropped there and counted
F4=10.99.0.7
topo_workload_addr n1 b2 $F4 || t_abort setup "foreign address on b2"
s0=$(t_stat n1 spoofed_source)
t_expect "$mode2: from b2 with a foreign source $F4: dropped" n1 b2 tcp "${T_V4[b3]}" 8080 ETIMEDOUT 2 --bind $F4
s1=$(t_stat n1 spoofed_source)
if ((s1 > s0)); then t_ok "$mode2: the policy filter after tr_xdp_rnat counted it as spoofed ($s0 -> $s1)"
else t_fail "$mode2: the policy filter after tr_xdp_rnat counted it as spoofed" "spoofed_source $s0 -> $s1"; fi

# --- early deny ---
before=$(topo_trestle n1 -j stats 2>/dev/null | jq '.xdp_deny_source // 0')
o_client "$OUT2" --connect "$LB4:80" --tcp -n 3 --timeout 500
t_jq "a source in a mesh-wide DENY ipBlock is refused" "$T_OUT" '.ok == 0'
after=$(topo_trestle n1 -j stats 2>/dev/null | jq '.xdp_deny_source // 0')
if (( after > before )); then t_ok "dropped at XDP and counted ($before -> $after)"
else t_fail "dropped at XDP and counted" "xdp_deny_source $before -> $after"; fi

# --- STRICT mTLS: a client beyond the uplink speaks plaintext ---
cat <<Y | t_config pa.yaml
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: web-v2
  namespace: default
spec:
  selector:
    matchLabels:
      version: v2
  mtls:
    mode: STRICT
Y
sleep 1.5
fm=$(t_flows_mark n1)
m0=$(t_stat n1 mtls_required)
o_client "$OUT" --connect "$LB4:80" --tcp -n 40 --timeout 400
m1=$(t_stat n1 mtls_required)
t_jq "STRICT b2 refuses the outside client's plaintext, b3 (PERMISSIVE) serves it" "$T_OUT" \
	'.ok > 0 and .ok < 40 and (.names | keys) == ["b3"] and (.errors | keys) == ["ETIMEDOUT"]'
if (( m1 > m0 )); then t_ok "refused at XDP, counted as mtls_required ($m0 -> $m1)"
else t_fail "refused at XDP, counted as mtls_required" "$m0 -> $m1"; fi
t_flow "the refusal is in n1's flow log, decided at hook xdp_to_workload" n1 "$fm" \
	'.hook == "xdp_to_workload" and .verdict == "deny" and .reason == "mtls_required"'
t_config_rm pa.yaml

# --- status (in the node's network namespace: uplinks are its devices) ---
n_trestle() { nsenter --net="/run/netns/$(topo_ns n1)" -- "$TRESTLE" --bpffs "$(topo_pin n1)" "$@"; }
st=$(n_trestle -j status 2>&1)
t_jq "status -j on n1: up0, up1 and fab0 with their XDP mode" "$st" \
	'[.uplinks[] | .device] | sort == ["fab0","up0","up1"]'
t_jq "status -j: veth uplinks run native XDP" "$st" 'all(.uplinks[]; .xdp_mode == "native")'
txt=$(n_trestle status 2>&1)
if grep -Eq '^\s+up0 .*xdp native' <<<"$txt"; then t_ok "status text names up0's mode"
else t_fail "status text names up0's mode" "$(head -20 <<<"$txt" | tr '\n' ' ')"; fi

# --- an agent started without --uplink takes its XDP programs away ---
topo_agent_stop n2
# and an upgrade from ABI 3 removes the pins of the maps whose layout
# changed (a stand-in for the old backend table)
bpftool map create "$(topo_pin n2)/tr_xdp_be" type hash key 4 value 56 entries 4 name tr_xdp_be ||
	t_fail "a stand-in for ABI 3's tr_xdp_be pinned on n2"
topo_agent n2 || t_abort agent-n2-restart "agent on n2 did not restart"
if [[ -e "$(topo_pin n2)/tr_xdp_be" ]]; then t_fail "the restarted agent removed ABI 3's tr_xdp_be pin"
else t_ok "the restarted agent removed ABI 3's tr_xdp_be pin"; fi
if ip -n "$(topo_ns n2)" link show fab0 | grep -q 'prog/xdp' ||
	ip -n "$TOPO_PREFIX-fab" link show n2 | grep -q 'prog/xdp'; then
	t_fail "n2 restarted without --uplink: XDP gone from fab0 and its peer" "$(ip -n "$(topo_ns n2)" link show fab0 | tr '\n' ' ')"
else t_ok "n2 restarted without --uplink: XDP gone from fab0 and its peer"; fi
left=$(ls "$(topo_pin n2)/links" | grep 'rnat_' | tr '\n' ' ')
t_eq "n2 restarted without --uplink: no reply translation left (pins)" "$left" ""
t_eq "n2 restarted without --uplink: no tr_xdp_rnat on b3's device" \
	"$(tc -n "$(topo_ns n2)" -j filter show dev w-b3 ingress 2>/dev/null | jq -r '[.[] | select(.options.prog.name == "tr_xdp_rnat")] | length')" 0

# --- the XDP program outlives the agent; --cleanup removes it ---
topo_agent_stop n1
if ip -n "$(topo_ns n1)" link show up0 | grep -q 'prog/xdp'; then t_ok "XDP stays on up0 after the agent exits"
else t_fail "XDP stays on up0 after the agent exits"; fi
"$TRESTLED" --cleanup --bpffs "$(topo_pin n1)" --cgroup "$(topo_cgroup n1)" >>"$(topo_agent_log n1)" 2>&1
if ip -n "$(topo_ns n1)" link show | grep -q 'prog/xdp'; then
	t_fail "--cleanup detaches XDP from n1's uplinks" "$(ip -n "$(topo_ns n1)" link show | grep -B2 prog/xdp | tr '\n' ' ')"
else t_ok "--cleanup detaches XDP from n1's uplinks"; fi
t_eq "--cleanup: no tc filters and no clsact qdisc left on b2's device" \
	"$(rnat_filters) $(tc -n "$n1ns" -j qdisc show dev w-b2 | jq -r '[.[] | select(.kind == "clsact")] | length')" "- 0"

t_finish
