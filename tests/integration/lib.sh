# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Shared pieces of the integration tests (tests/integration/test_*.sh).
#
# Reporting: every check prints one line, "ok - TEST: CASE" or
# "not ok - TEST: CASE: WHY"; scripts/test counts those lines. t_finish
# prints "# TEST: N passed, M failed" and exits 1 if anything failed. A
# script that dies before t_finish has failed as well (the runner counts it).
# On failure the agent logs are shown before cleanup.
#
# Topology: scripts/lib/topo.sh (sourced here); the prefix is "trt-" plus an
# abbreviation of the test name plus the pid, so the runner can check that
# nothing named trt-* is left afterwards.

set -uo pipefail

T_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib/topo.sh
source "$T_REPO/scripts/lib/topo.sh"

T_NAME=$(basename "$0" .sh)
T_NAME=${T_NAME#test_}
T_PASS=0
T_FAIL=0
T_OUT=          # the last t_client's JSON
T_FINISHED=0

t_ok() { echo "ok - $T_NAME: $1"; T_PASS=$((T_PASS + 1)); }
t_fail() {
	echo "not ok - $T_NAME: $1: ${2:-failed}"
	T_FAIL=$((T_FAIL + 1))
	return 1
}
t_info() { echo "# $*"; }

# t_check CASE CMD...: ok when CMD succeeds.
t_check() {
	local c=$1 out; shift
	if out=$("$@" 2>&1); then t_ok "$c"; else t_fail "$c" "'$*' failed: $(head -c 600 <<<"$out" | tr '\n' ' ')"; fi
}

# t_eq CASE GOT WANT
t_eq() {
	if [[ $2 == "$3" ]]; then t_ok "$1"; else t_fail "$1" "got '$2', want '$3'"; fi
}

# t_jq CASE JSON FILTER: ok when jq -e FILTER is true on JSON.
t_jq() {
	if jq -e "$3" >/dev/null 2>&1 <<<"$2"; then
		t_ok "$1"
	else
		t_fail "$1" "expected $3 in: $(head -c 800 <<<"$2" | tr '\n' ' ')"
	fi
}

# Stop the test here (setup failed): counts as a failure and exits.
t_abort() {
	t_fail "${1:-setup}" "${2:-aborted}"
	exit 1
}

t_need_binaries() {
	local b
	for b in "$TRESTLED" "$TRESTLE" "$TR_ECHO" "$TR_CLIENT"; do
		[[ -x $b ]] || t_abort setup "missing $b (run scripts/build)"
	done
}

t_finish() {
	T_FINISHED=1
	echo "# $T_NAME: $T_PASS passed, $T_FAIL failed"
	[[ $T_FAIL -eq 0 && $T_PASS -gt 0 ]]
	exit $?
}

# Called by topo's EXIT trap before cleanup: show the logs when we failed.
topo_on_exit_hook() {
	local rc=$1 node
	if [[ $T_FAIL -gt 0 || $rc -ne 0 || $T_FINISHED -eq 0 ]]; then
		[[ $T_FINISHED -eq 0 ]] && echo "not ok - $T_NAME: completed: script stopped early (status $rc)"
		for node in "${TOPO_NODES[@]}"; do
			[[ -s $(topo_agent_log "$node") ]] || continue
			echo "# --- agent log $node (last 40 lines) ---"
			tail -n 40 "$(topo_agent_log "$node")" | sed 's/^/#   /'
		done
	fi
}

# t_init: topo_init with a unique trt-* prefix for this test.
t_init() {
	local short=${T_NAME//_/}
	t_need_binaries
	# the run tag lets scripts/test tell its own leftovers from other runs'
	topo_init "trt-${short:0:8}-$$${TRESTLE_RUN_TAG:-}" || t_abort setup "topo_init failed"
}

# t_client NODE WL ARGS...: tr-client --json in a workload; JSON in $T_OUT.
# Returns tr-client's status.
t_client() {
	local node=$1 wl=$2 rc; shift 2
	T_OUT=$(topo_run "$node" "$wl" "$TR_CLIENT" --json "$@" 2>&1); rc=$?
	return $rc
}

# --- configuration ----------------------------------------------------------

# t_config FILE: write stdin as FILE into every node's config directory,
# atomically (temp file + rename, so the agent never reads half a file).
t_config() {
	local f=$1 node tmp content
	content=$(cat)
	for node in "${TOPO_NODES[@]}"; do
		tmp="$(topo_config_dir "$node")/.$f.tmp.$$"
		printf '%s\n' "$content" > "$tmp" && mv -f "$tmp" "$(topo_config_dir "$node")/$f"
	done
}

# t_config_rm FILE: delete FILE from every node's config directory.
t_config_rm() {
	local node
	for node in "${TOPO_NODES[@]}"; do rm -f "$(topo_config_dir "$node")/$1"; done
}

t_gen() { topo_status_field "$1" '.generation // 0'; }

# t_wait_gen NODE MIN [SECONDS]: wait until NODE's generation >= MIN.
t_wait_gen() {
	local node=$1 min=$2 secs=${3:-10} i g
	for ((i = 0; i < secs * 10; i++)); do
		g=$(t_gen "$node")
		[[ $g =~ ^[0-9]+$ && $g -ge $min ]] && return 0
		sleep 0.1
	done
	return 1
}

# YAML writers. Namespace "default" throughout.

# y_service NAME "VIP [VIP6]" "PNAME:PROTO:PORT:TARGET ..."
y_service() {
	local name=$1 vips=($2) p
	cat <<Y
---
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: default
spec:
  clusterIP: ${vips[0]}
  clusterIPs:
Y
	for p in "${vips[@]}"; do echo "  - $p"; done
	echo "  ports:"
	for p in $3; do
		IFS=: read -r pn pr po tp <<<"$p"
		printf '  - name: %s\n    protocol: %s\n    port: %s\n    targetPort: %s\n' "$pn" "$pr" "$po" "$tp"
	done
}

# y_slice NAME SERVICE IPv4|IPv6 "PNAME:PROTO:PORT ..." "ADDR:READY:NODE[:POD] ..."
# (IPv6 addresses in ENDPOINTS are written with '_' for ':', e.g. fd00_244_1__10)
y_slice() {
	local name=$1 svc=$2 fam=$3 p e addr ready node pod
	cat <<Y
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name
  namespace: default
  labels:
    kubernetes.io/service-name: $svc
addressType: $fam
ports:
Y
	for p in $4; do
		IFS=: read -r pn pr po <<<"$p"
		printf -- '- name: %s\n  protocol: %s\n  port: %s\n' "$pn" "$pr" "$po"
	done
	echo "endpoints:"
	for e in $5; do
		IFS=: read -r addr ready node pod <<<"$e"
		addr=${addr//_/:}
		printf -- '- addresses:\n  - "%s"\n  conditions:\n    ready: %s\n  nodeName: %s\n' "$addr" "$ready" "$node"
		[[ -n ${pod:-} ]] && printf '  targetRef:\n    kind: Pod\n    name: %s\n' "$pod"
	done
	return 0
}

# y_pod NAME NODE "IP [IP6]" "k=v ..." [SERVICEACCOUNT]: a Pod in namespace
# default whose cgroup (trestle.io/cgroup) is its workload cgroup NAME and whose
# service account is SERVICEACCOUNT (default: NAME).
y_pod() {
	local name=$1 node=$2 ips=($3) l
	cat <<Y
---
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: default
  annotations:
    trestle.io/cgroup: $name
  labels:
Y
	for l in $4; do echo "    ${l%%=*}: \"${l#*=}\""; done
	cat <<Y
spec:
  serviceAccountName: ${5:-$name}
  nodeName: $node
status:
  podIP: ${ips[0]}
  podIPs:
Y
	for l in "${ips[@]}"; do echo "  - ip: $l"; done
}

# y_split HOST "SUBSET:WEIGHT ..." (DestinationRule on label version + VirtualService)
y_split() {
	local host=$1 s
	cat <<Y
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: $host
  namespace: default
spec:
  host: $host
  subsets:
Y
	for s in $2; do printf '  - name: %s\n    labels:\n      version: %s\n' "${s%%:*}" "${s%%:*}"; done
	cat <<Y
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: $host
  namespace: default
spec:
  hosts:
  - $host
  tcp:
  - route:
Y
	for s in $2; do
		printf '    - destination:\n        host: %s\n        subset: %s\n      weight: %s\n' "$host" "${s%%:*}" "${s#*:}"
	done
}

# --- a standard two-node mesh -----------------------------------------------
#
# t_mesh2: nodes n1, n2; workloads
#   n1/client 10.244.1.2   fd00:244:1::2   (the client; runs no server)
#   n1/b1     10.244.1.10  fd00:244:1::10
#   n1/b2     10.244.1.11  fd00:244:1::11
#   n2/b3     10.244.2.10  fd00:244:2::10
#   n2/client2 10.244.2.2  fd00:244:2::2
# Every backend runs tr-echo named after itself: TCP on [::]:8080 (echo)
# and UDP on [::]:5353.
t_mesh2() {
	t_init
	topo_node n1 && topo_node n2 || t_abort setup "topo_node failed"
	topo_workload n1 client 10.244.1.2 fd00:244:1::2 &&
	topo_workload n1 b1 10.244.1.10 fd00:244:1::10 &&
	topo_workload n1 b2 10.244.1.11 fd00:244:1::11 &&
	topo_workload n2 b3 10.244.2.10 fd00:244:2::10 &&
	topo_workload n2 client2 10.244.2.2 fd00:244:2::2 || t_abort setup "topo_workload failed"
	local b
	for b in n1/b1 n1/b2 n2/b3; do
		topo_echo "${b%/*}" "${b#*/}" "${b#*/}" --tcp '[::]:8080' &&
		topo_echo "${b%/*}" "${b#*/}" "${b#*/}" --udp '[::]:5353' || t_abort setup "tr-echo ${b} failed"
	done
}

# The addresses of t_mesh2's backends.
declare -gA T_V4=([b1]=10.244.1.10 [b2]=10.244.1.11 [b3]=10.244.2.10 [client]=10.244.1.2 [client2]=10.244.2.2)
declare -gA T_V6=([b1]=fd00:244:1::10 [b2]=fd00:244:1::11 [b3]=fd00:244:2::10 [client]=fd00:244:1::2 [client2]=fd00:244:2::2)
declare -gA T_NODE=([b1]=n1 [b2]=n1 [b3]=n2 [client]=n1 [client2]=n2)

# t_start_agents [NODE...]: start agents (default: all nodes); abort if one fails.
t_start_agents() {
	local n nodes=("$@")
	((${#nodes[@]})) || nodes=("${TOPO_NODES[@]}")
	for n in "${nodes[@]}"; do
		topo_agent "$n" || t_abort "agent-$n-start" "agent on $n did not become ready"
	done
}

declare -gA T_VER=([b1]=v1 [b2]=v2 [b3]=v1)

# The standard service "web": VIPs 10.96.0.10 and fd00:96::10, ports
# http TCP 80 -> 8080 and dns UDP 53 -> 5353.
T_VIP4=10.96.0.10
T_VIP6=fd00:96::10

# t_web "b1 b2 ..." [READY]: YAML for Service web, EndpointSlices web-v4 and
# web-v6 (endpoints = the given t_mesh2 backends, conditions.ready = READY,
# default true) and their Pods (labels app=web, version=T_VER[b]).
t_web() {
	local bes=$1 ready=${2:-true} b eps4= eps6=
	y_service web "$T_VIP4 $T_VIP6" "http:TCP:80:8080 dns:UDP:53:5353"
	for b in $bes; do
		eps4+="${T_V4[$b]}:$ready:${T_NODE[$b]}:$b "
		eps6+="${T_V6[$b]//:/_}:$ready:${T_NODE[$b]}:$b "
	done
	y_slice web-v4 web IPv4 "http:TCP:8080 dns:UDP:5353" "$eps4"
	y_slice web-v6 web IPv6 "http:TCP:8080 dns:UDP:5353" "$eps6"
	for b in $bes; do
		y_pod "$b" "${T_NODE[$b]}" "${T_V4[$b]} ${T_V6[$b]}" "app=web version=${T_VER[$b]}"
	done
}

# t_reconfig FILE: like t_config, then wait until every running agent has
# applied a new generation. Returns 1 (and says where) if one did not.
t_reconfig() {
	local f=$1 node rc=0
	declare -A before=()
	for node in "${TOPO_NODES[@]}"; do
		[[ -n $(topo_agent_pid "$node") ]] && before[$node]=$(t_gen "$node")
	done
	t_config "$f"
	for node in "${!before[@]}"; do
		if ! t_wait_gen "$node" $((before[$node] + 1)) 10; then
			t_info "agent on $node did not apply $f: generation still $(t_gen "$node")"
			rc=1
		fi
	done
	return $rc
}

# t_names_json: the "names" object of the last t_client, compact.
t_names() { jq -c '.names' <<<"$T_OUT" 2>/dev/null; }

# t_log_has NODE REGEX: the agent log of NODE has a line matching REGEX.
t_log_has() { grep -Eq -- "$2" "$(topo_agent_log "$1")"; }

# t_sink: workload n1/sink (10.244.1.250, fd00:244:1::250) that also holds
# the service VIPs 10.96.0.10, fd00:96::10, 10.96.0.20, fd00:96::20 and the
# unused 10.96.0.99 / fd00:96::99, and answers as "sink" on TCP 80, 81, 8080
# and UDP 53, 80. Traffic the mesh does not translate arrives there, with
# the address the client used as its peer: proof that it was left alone.
T_SINK_ADDRS="10.96.0.10 fd00:96::10 10.96.0.20 fd00:96::20 10.96.0.99 fd00:96::99"
t_sink() {
	local a
	topo_workload n1 sink 10.244.1.250 fd00:244:1::250 || t_abort setup "sink workload"
	for a in $T_SINK_ADDRS; do topo_workload_addr n1 sink "$a" || t_abort setup "sink address $a"; done
	topo_echo n1 sink sink --tcp '[::]:80' '[::]:81' '[::]:8080' &&
	topo_echo n1 sink sink --udp '[::]:53' '[::]:80' || t_abort setup "sink tr-echo"
}

# --- authorization ------------------------------------------------------------

# y_pod_in NS NAME NODE "IP [IP6]" "k=v ..." [SERVICEACCOUNT]: like y_pod, in
# namespace NS (the workload cgroup is still NAME under the node's cgroup).
y_pod_in() {
	local ns=$1 name=$2 node=$3 ips=($4) l
	cat <<Y
---
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: $ns
  annotations:
    trestle.io/cgroup: $name
  labels:
Y
	for l in $5; do echo "    ${l%%=*}: \"${l#*=}\""; done
	cat <<Y
spec:
  serviceAccountName: ${6:-$name}
  nodeName: $node
status:
  podIP: ${ips[0]}
  podIPs:
Y
	for l in "${ips[@]}"; do echo "  - ip: $l"; done
}

# y_authz NS NAME ACTION "k=v ..." [RULE...]: a security.istio.io/v1
# AuthorizationPolicy.
#   ACTION   ALLOW, DENY or AUDIT; "" writes no action (Istio: ALLOW);
#            "{}" writes `spec: {}` (and ignores everything after it).
#   SELECTOR "k=v ..." for selector.matchLabels; "" for no selector (the
#            whole namespace; in istio-system the whole mesh).
#   RULE     one rules[] item as a YAML flow mapping, written as given, e.g.
#            '{from: [{source: {principals: ["cluster.local/ns/default/sa/client"]}}],
#              to: [{operation: {ports: ["8080"]}}]}'; "{}" is the empty rule
#            (matches everything). No RULE: no rules key at all.
y_authz() {
	local ns=$1 name=$2 action=$3 sel=${4:-} l r
	shift 4
	cat <<Y
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: $name
  namespace: $ns
Y
	if [[ $action == "{}" ]]; then
		echo "spec: {}"
		return 0
	fi
	echo "spec:"
	if [[ -n $sel ]]; then
		echo "  selector:"
		echo "    matchLabels:"
		for l in $sel; do echo "      ${l%%=*}: \"${l#*=}\""; done
	fi
	[[ -n $action ]] && echo "  action: $action"
	if (($#)); then
		echo "  rules:"
		for r in "$@"; do echo "  - $r"; done
	fi
	return 0
}

# y_principal SA [NS]: the principal of service account SA (namespace
# default) as AuthorizationPolicy writes it.
y_principal() { echo "cluster.local/ns/${2:-default}/sa/$1"; }

# t_ep ADDR PORT: "A.B.C.D:PORT" or "[V6]:PORT".
t_ep() { if [[ $1 == *:* ]]; then echo "[$1]:$2"; else echo "$1:$2"; fi; }

# t_try NODE WL|- ARGS...: tr-client --json from workload WL on NODE, or with
# WL "-" from NODE's own namespace (an unmanaged process: no workload
# cgroup, so no socket hook decides for it). JSON in $T_OUT.
t_try() {
	local node=$1 wl=$2 rc; shift 2
	if [[ $wl == - ]]; then
		T_OUT=$(topo_node_run "$node" "$TR_CLIENT" --json "$@" 2>&1); rc=$?
	else
		T_OUT=$(topo_run "$node" "$wl" "$TR_CLIENT" --json "$@" 2>&1); rc=$?
	fi
	return $rc
}

# t_expect CASE NODE WL|- tcp|udp ADDR PORT WANT [N] [CLIENT-ARGS...]:
# N (default 3) requests to ADDR:PORT; WANT is a backend name (all N must
# be answered by it), or an error name (all N must fail with it: EPERM for
# a socket-hook deny, ETIMEDOUT for a packet dropped on the way). Denied
# requests use a 400 ms timeout unless CLIENT-ARGS say otherwise.
t_expect() {
	local c=$1 node=$2 wl=$3 proto=$4 addr=$5 port=$6 want=$7 n=${8:-3} f
	shift 8 2>/dev/null || shift $#
	local args=(--connect "$(t_ep "$addr" "$port")" "--$proto" -n "$n")
	if [[ $want =~ ^E[A-Z0-9]+$ ]]; then
		[[ " $* " == *" --timeout "* ]] || args+=(--timeout 400)
		f=".names == {} and .errors.$want == $n"
	else
		f=".names == {\"$want\": $n} and .ok == $n"
	fi
	t_try "$node" "$wl" "${args[@]}" "$@"
	t_jq "$c" "$T_OUT" "$f"
}

# t_stat NODE NAME: the counter NAME of `trestle -j stats` on NODE (0 if
# absent).
t_stat() { topo_trestle "$1" -j stats 2>/dev/null | jq -r --arg k "$2" '.[$k] // 0' 2>/dev/null; }

# t_flows_file NODE: NODE's flow log.
t_flows_file() { echo "$TOPO_DIR/$1/run/flows.jsonl"; }

# t_flows_mark NODE: the number of records in NODE's flow log now; pass it
# to t_flows_wait to look only at records written after it.
t_flows_mark() {
	local f; f=$(t_flows_file "$1")
	if [[ -s $f ]]; then wc -l < "$f" | tr -d ' '; else echo 0; fi
}

# t_flows_wait NODE SKIP FILTER [SECONDS]: wait (default 3 s) until a flow
# record after the first SKIP lines of NODE's flow log makes the jq FILTER
# true; the matching records (a JSON array) go to $T_FLOWS. Returns 1 if
# none did; then $T_FLOWS holds the last few new records, for the message.
T_FLOWS=
t_flows_wait() {
	local node=$1 skip=$2 filter=$3 secs=${4:-3} f i
	f=$(t_flows_file "$node")
	for ((i = 0; i < secs * 10; i++)); do
		if [[ -s $f ]]; then
			T_FLOWS=$(tail -n "+$((skip + 1))" "$f" | jq -c -s "map(select($filter))" 2>/dev/null)
			[[ -n $T_FLOWS && $T_FLOWS != "[]" ]] && return 0
		fi
		sleep 0.1
	done
	T_FLOWS=$(tail -n "+$((skip + 1))" "$f" 2>/dev/null | tail -n 4)
	[[ -n $T_FLOWS ]] || T_FLOWS="(no new flow records)"
	return 1
}

# t_flow CASE NODE SKIP FILTER: ok when a new flow record matches FILTER.
t_flow() {
	if t_flows_wait "$2" "$3" "$4"; then t_ok "$1"
	else t_fail "$1" "no flow record with $4 among: $(tr '\n' ' ' <<<"$T_FLOWS" | head -c 1200)"; fi
}

# t_no_flow CASE NODE SKIP FILTER [SECONDS]: ok when, after SECONDS (1),
# no new flow record matches FILTER.
t_no_flow() {
	if t_flows_wait "$2" "$3" "$4" "${5:-1}"; then
		t_fail "$1" "unexpected flow record(s): $(head -c 1200 <<<"$T_FLOWS")"
	else
		t_ok "$1"
	fi
}

# t_log_mark NODE: the agent log's current line count, for t_log_wait.
t_log_mark() { wc -l 2>/dev/null < "$(topo_agent_log "$1")" | tr -d " " || echo 0; }

# t_log_wait NODE SKIP REGEX [SECONDS]: wait (default 10 s) until a line
# after the first SKIP lines of NODE's agent log matches REGEX.
t_log_wait() {
	local node=$1 skip=$2 re=$3 secs=${4:-10} i
	for ((i = 0; i < secs * 10; i++)); do
		tail -n "+$((skip + 1))" "$(topo_agent_log "$node")" 2>/dev/null | grep -Eq -- "$re" && return 0
		sleep 0.1
	done
	return 1
}

# t_reconfig_logged FILE REGEX: like t_config, then wait until every
# running agent has logged a new line matching REGEX. Returns 1 (and says
# where and the agent's last error) if one did not within 10 s.
t_reconfig_logged() {
	local f=$1 re=$2 node rc=0
	declare -A mark=()
	for node in "${TOPO_NODES[@]}"; do
		[[ -n $(topo_agent_pid "$node") ]] && mark[$node]=$(t_log_mark "$node")
	done
	t_config "$f"
	for node in "${!mark[@]}"; do
		if ! t_log_wait "$node" "${mark[$node]}" "$re" 10; then
			t_info "agent on $node did not apply $f ('$re' not logged): $(tail -n "+$((mark[$node] + 1))" \
				"$(topo_agent_log "$node")" | grep -E 'error|refused' | tail -n 2 | tr '\n' ' ')"
			rc=1
		fi
	done
	return $rc
}

# t_reconfig_policy FILE: t_config, then every agent's "authorization
# applied" (policy changes move the policy epoch, not the generation).
t_reconfig_policy() { t_reconfig_logged "$1" 'authorization applied'; }

# t_reconfig_peerauth FILE: t_config, then every agent's "PeerAuthentication
# applied" (mTLS modes move neither the generation nor the policy epoch).
t_reconfig_peerauth() { t_reconfig_logged "$1" 'PeerAuthentication applied'; }

# --- mTLS ---------------------------------------------------------------------

# y_node NAME V4 [V6]: a v1 Node with its InternalIPs.
y_node() {
	cat <<Y
---
apiVersion: v1
kind: Node
metadata:
  name: $1
status:
  addresses:
  - type: InternalIP
    address: $2
Y
	[[ -n ${3:-} ]] && printf '  - type: InternalIP\n    address: %s\n' "$3"
	return 0
}

# t_nodes: Node objects for every node of the topology (underlay addresses).
t_nodes() {
	local n
	for n in "${TOPO_NODES[@]}"; do y_node "$n" "$(topo_node_v4 "$n")" "$(topo_node_v6 "$n")"; done
}

# t_ca: a CA for cluster.local in $TOPO_DIR/ca (once).
t_ca() {
	[[ -f $TOPO_DIR/ca/ca.crt ]] && return 0
	"$TRESTLE" ca init --trust-domain cluster.local --out "$TOPO_DIR/ca" >/dev/null
}

# t_certs_dir NODE: the node's --certs directory.
t_certs_dir() { echo "$TOPO_DIR/$1/certs"; }

# t_issue NODE SA [NS] [ISSUE-ARGS...]: an SVID for spiffe://cluster.local/ns/NS/sa/SA
# into NODE's certs directory (the bundle is copied there too).
t_issue() {
	local node=$1 sa=$2 ns=${3:-default} dir
	shift 3 2>/dev/null || shift $#
	dir=$(t_certs_dir "$node")
	t_ca || return 1
	mkdir -p "$dir/$ns"
	[[ -f $dir/ca.crt ]] || cp "$TOPO_DIR/ca/ca.crt" "$dir/ca.crt"
	"$TRESTLE" cert issue --ca "$TOPO_DIR/ca" --spiffe-id "spiffe://cluster.local/ns/$ns/sa/$sa" \
		--out "$dir/$ns/$sa" "$@" >/dev/null
}

# t_tunnels NODE: `trestle -j tunnel list` on NODE.
t_tunnels() { topo_trestle "$1" -j tunnel list 2>/dev/null; }

# t_metric NODE PROMQL-LIKE-GREP: the sum of the samples of a family whose
# line matches the extended regex (on a scrape of NODE's agent).
t_metric() {
	local node=$1 re=$2
	topo_node_run "$node" curl -s "http://127.0.0.1:15020/metrics" 2>/dev/null |
		grep -E "$re" | awk '{s += $NF} END {print s + 0}'
}

# t_valgrind_wrapper NAME: writes a script that runs $TRESTLED under
# memcheck (a leak or memory error makes it exit 99), its log in
# $TOPO_DIR/valgrind-NAME.log; prints the script's path. Start an agent
# with it as TRESTLED=$(t_valgrind_wrapper n1) topo_agent n1 ...
t_valgrind_wrapper() {
	local w="$TOPO_DIR/trestled-valgrind-$1"

	cat > "$w" <<W
#!/bin/sh
exec valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \\
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \\
	--suppressions=$T_REPO/tests/valgrind/bpf.supp --log-file=$TOPO_DIR/valgrind-$1.log \\
	$TRESTLED "\$@"
W
	chmod +x "$w" && echo "$w"
}
