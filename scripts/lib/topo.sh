# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# topo.sh -- build a one-machine Trestle mesh out of network namespaces.
#
# Source it from bash (root). Everything it creates carries the prefix given
# to topo_init and is recorded, and topo_cleanup (installed as an EXIT trap)
# removes all of it, also when the caller fails half-way:
#
#   fabric   netns PREFIX-fab with bridge br0; every node plugs into it.
#   node     netns PREFIX-NODE, veth fab0 <-> fabric, underlay addresses
#            10.243.0.I/24 and fd00:243::I/64 (I = node index, 1..),
#            forwarding on (inside this netns only), cgroup
#            /sys/fs/cgroup/unified/PREFIX/NODE, pin dir /sys/fs/bpf/PREFIX/NODE,
#            config dir $TOPO_DIR/NODE/config.
#   workload netns PREFIX-NODE-WL, veth eth0 <-> node's w-WL, its own /32 and
#            /128, default routes via 169.254.1.1 / fe80::1 (held by the node
#            side of every workload veth); every node routes the workload's
#            addresses (directly on its own node, via the owner's underlay
#            address on the others); cgroup PREFIX/NODE/WL.
#   agent    trestled in the node's netns, in cgroup PREFIX/agent.NODE (a
#            sibling of the node's cgroup, so its own sockets are not
#            load-balanced), log $TOPO_DIR/NODE/agent.log.
#
# Address plan (test-only ranges, only ever inside our namespaces):
#   underlay 10.243.0.0/24, fd00:243::/64; workloads 10.244.N.M,
#   fd00:244:N::M (N = node index by convention); service VIPs 10.96.x.x,
#   fd00:96::x (never routed: the connect-time rewrite makes routes
#   unnecessary, so a VIP the agent does not know fails with ENETUNREACH).
#
# API:
#   topo_init PREFIX                 start; PREFIX: [a-z0-9-], <= 20 chars,
#                                    must not be in use
#   topo_node NAME                   add a node
#   topo_workload NODE NAME IPV4 IPV6
#   topo_workload_addr NODE WL ADDR  one more address for a workload
#   topo_run NODE WL CMD...          run CMD in the workload's netns and
#                                    cgroup; `topo_run ... &` works, $! is
#                                    CMD's pid
#   topo_node_run NODE CMD...        run CMD in the node's netns (no cgroup)
#   topo_echo NODE WL NAME --tcp|--udp ADDR:PORT...   start tr-echo there in
#                                    the background, wait until it listens
#   topo_agent NODE [ARGS...]        start trestled, wait for generation >= 1
#                                    and attached programs (TOPO_AGENT_TIMEOUT s)
#   topo_agent_stop NODE [SIG]       signal the agent (TERM), wait for exit
#   topo_agent_pid / topo_agent_log / topo_config_dir / topo_pin /
#   topo_cgroup NODE [WL] / topo_ns NODE [WL]     paths and names
#   topo_trestle NODE ARGS...        the CLI against NODE's pins
#   topo_status_field NODE JQ        jq over `trestle -j status`
#   topo_cleanup                     undo everything; idempotent; returns 1
#                                    and says what is left if anything is
#   topo_leftovers PREFIX            print what exists with PREFIX (for runners)
#
# Binaries: $TRESTLED, $TRESTLE, $TR_ECHO, $TR_CLIENT (defaults under
# $TRESTLE_BUILD, which defaults to REPO/build).

TOPO_REPO=${TOPO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TRESTLE_BUILD=${TRESTLE_BUILD:-$TOPO_REPO/build}
TRESTLED=${TRESTLED:-$TRESTLE_BUILD/userspace/trestled}
TRESTLE=${TRESTLE:-$TRESTLE_BUILD/tools/trestle}
TR_ECHO=${TR_ECHO:-$TRESTLE_BUILD/tests/tools/tr-echo}
TR_CLIENT=${TR_CLIENT:-$TRESTLE_BUILD/tests/tools/tr-client}
TOPO_CG_ROOT=${TOPO_CG_ROOT:-/sys/fs/cgroup/unified}
TOPO_BPF_ROOT=${TOPO_BPF_ROOT:-/sys/fs/bpf}
TOPO_AGENT_TIMEOUT=${TOPO_AGENT_TIMEOUT:-15}

TOPO_PREFIX=
TOPO_DIR=
TOPO_NODES=()
TOPO_WLS=()             # "NODE/WL"
declare -gA TOPO_NODE_IDX=() TOPO_WL_V4=() TOPO_WL_V6=() TOPO_AGENT_PIDS=()
TOPO_CLEANED=1

topo__log() { echo "topo: $*" >&2; }
topo__die() { topo__log "error: $*"; return 1; }

# Run a command quietly; on failure show what failed and its output.
topo__q() {
	local out
	if ! out=$("$@" 2>&1); then
		topo__log "failed: $* :: $out"
		return 1
	fi
}

topo_ns() { if [[ $# -ge 2 ]]; then echo "$TOPO_PREFIX-$1-$2"; else echo "$TOPO_PREFIX-$1"; fi; }
topo_cgroup() { if [[ $# -ge 2 ]]; then echo "$TOPO_CG_ROOT/$TOPO_PREFIX/$1/$2"; else echo "$TOPO_CG_ROOT/$TOPO_PREFIX/$1"; fi; }
topo_pin() { echo "$TOPO_BPF_ROOT/$TOPO_PREFIX/$1"; }
topo_config_dir() { echo "$TOPO_DIR/$1/config"; }
topo_agent_log() { echo "$TOPO_DIR/$1/agent.log"; }
topo_agent_pid() { echo "${TOPO_AGENT_PIDS[$1]:-}"; }
topo_node_v4() { echo "10.243.0.${TOPO_NODE_IDX[$1]}"; }
topo_node_v6() { echo "fd00:243::${TOPO_NODE_IDX[$1]}"; }

# Interface names are at most 15 characters.
topo__ifname() { local n="w-$1"; echo "${n:0:15}"; }

topo__is_bpffs() { [[ "$(stat -f -c %T "$1" 2>/dev/null)" == bpf_fs ]]; }

topo_leftovers() {
	local p=$1 left=0 ns
	while read -r ns _; do
		if [[ $ns == "$p" || $ns == "$p"-* ]]; then
			echo "netns $ns"; left=1
		fi
	done < <(ip netns list 2>/dev/null)
	[[ -e $TOPO_CG_ROOT/$p ]] && { echo "cgroup $TOPO_CG_ROOT/$p"; left=1; }
	[[ -e $TOPO_BPF_ROOT/$p ]] && { echo "pin dir $TOPO_BPF_ROOT/$p"; left=1; }
	return $left
}

topo__on_exit() {
	local rc=$?
	trap - EXIT
	# A caller hook (e.g. the test library dumps logs) runs before cleanup.
	if declare -F topo_on_exit_hook >/dev/null; then topo_on_exit_hook "$rc" || true; fi
	topo_cleanup || rc=${rc/#0/1}
	exit "$rc"
}

topo_init() {
	local p=${1:?topo_init PREFIX}
	[[ $p =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]] || topo__die "prefix '$p': want [a-z0-9-], at most 32 characters" || return 1
	[[ $EUID -eq 0 ]] || topo__die "must run as root" || return 1
	topo__is_bpffs "$TOPO_BPF_ROOT" || topo__die "$TOPO_BPF_ROOT is not a bpf filesystem (run scripts/setup)" || return 1
	[[ "$(stat -f -c %T "$TOPO_CG_ROOT" 2>/dev/null)" == cgroup2fs ]] || topo__die "$TOPO_CG_ROOT is not cgroup v2" || return 1
	if topo_leftovers "$p" >/dev/null; then :; else
		topo__die "prefix '$p' is in use: $(topo_leftovers "$p" | tr '\n' ' ')"; return 1
	fi
	TOPO_PREFIX=$p
	TOPO_DIR=$(mktemp -d "/tmp/$p.XXXXXX")
	TOPO_CLEANED=0
	trap topo__on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	mkdir "$TOPO_CG_ROOT/$p" "$TOPO_BPF_ROOT/$p" || return 1
	topo__q ip netns add "$p-fab" || return 1
	topo__q ip -n "$p-fab" link set lo up || return 1
	topo__q ip -n "$p-fab" link add br0 type bridge mcast_snooping 0 || return 1
	topo__q ip -n "$p-fab" link set br0 up || return 1
}

topo__sysctl() {
	local ns=$1; shift
	local kv
	for kv in "$@"; do
		ip netns exec "$ns" sysctl -qw "$kv" >/dev/null || { topo__log "sysctl $kv in $ns failed"; return 1; }
	done
}

topo_node() {
	local name=${1:?topo_node NAME} ns idx wl
	[[ $name =~ ^[a-z0-9][a-z0-9-]{0,11}$ ]] || topo__die "node name '$name': want [a-z0-9-], at most 12 characters" || return 1
	[[ -z ${TOPO_NODE_IDX[$name]:-} ]] || topo__die "node $name exists" || return 1
	idx=$(( ${#TOPO_NODES[@]} + 1 ))
	ns=$(topo_ns "$name")
	topo__q ip netns add "$ns" || return 1
	TOPO_NODES+=("$name")
	TOPO_NODE_IDX[$name]=$idx
	mkdir -p "$TOPO_DIR/$name/config" "$(topo_cgroup "$name")" "$(topo_pin "$name")" || return 1
	topo__sysctl "$ns" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 || return 1
	topo__q ip -n "$ns" link set lo up || return 1
	topo__q ip -n "$ns" link add fab0 type veth peer name "n$idx" netns "$TOPO_PREFIX-fab" || return 1
	topo__q ip -n "$TOPO_PREFIX-fab" link set "n$idx" master br0 up || return 1
	topo__q ip -n "$ns" addr add "10.243.0.$idx/24" dev fab0 || return 1
	topo__q ip -n "$ns" addr add "fd00:243::$idx/64" dev fab0 nodad || return 1
	topo__q ip -n "$ns" link set fab0 up || return 1
	# Routes to workloads that already exist on other nodes.
	for wl in "${TOPO_WLS[@]}"; do
		topo__route_remote "$name" "${wl%%/*}" "${TOPO_WL_V4[$wl]}" "${TOPO_WL_V6[$wl]}" || return 1
	done
}

# On node $1, route workload addresses $3/$4 that live on node $2.
topo__route_remote() {
	local on=$1 owner=$2 v4=$3 v6=$4 ns
	[[ $on == "$owner" ]] && return 0
	ns=$(topo_ns "$on")
	topo__q ip -n "$ns" route add "$v4/32" via "$(topo_node_v4 "$owner")" || return 1
	topo__q ip -n "$ns" -6 route add "$v6/128" via "$(topo_node_v6 "$owner")" || return 1
}

topo_workload() {
	local node=${1:?topo_workload NODE NAME IPV4 IPV6} name=${2:?} v4=${3:?} v6=${4:?}
	local nns wns dev other
	[[ -n ${TOPO_NODE_IDX[$node]:-} ]] || topo__die "no node $node" || return 1
	[[ $name =~ ^[a-z0-9][a-z0-9-]{0,11}$ ]] || topo__die "workload name '$name': want [a-z0-9-], at most 12 characters" || return 1
	[[ -z ${TOPO_WL_V4[$node/$name]:-} ]] || topo__die "workload $node/$name exists" || return 1
	nns=$(topo_ns "$node"); wns=$(topo_ns "$node" "$name"); dev=$(topo__ifname "$name")
	topo__q ip netns add "$wns" || return 1
	TOPO_WLS+=("$node/$name")
	TOPO_WL_V4[$node/$name]=$v4
	TOPO_WL_V6[$node/$name]=$v6
	mkdir -p "$(topo_cgroup "$node" "$name")" || return 1
	topo__sysctl "$wns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 || return 1
	topo__q ip -n "$wns" link set lo up || return 1
	topo__q ip -n "$nns" link add "$dev" type veth peer name eth0 netns "$wns" || return 1
	# Node side: the workloads' gateway addresses, and a route to the workload.
	topo__q ip -n "$nns" addr add 169.254.1.1/32 dev "$dev" || return 1
	topo__q ip -n "$nns" addr add fe80::1/64 dev "$dev" nodad || return 1
	topo__q ip -n "$nns" link set "$dev" up || return 1
	topo__q ip -n "$nns" route add "$v4/32" dev "$dev" || return 1
	topo__q ip -n "$nns" -6 route add "$v6/128" dev "$dev" || return 1
	# Workload side.
	topo__q ip -n "$wns" addr add "$v4/32" dev eth0 || return 1
	topo__q ip -n "$wns" addr add "$v6/128" dev eth0 nodad || return 1
	topo__q ip -n "$wns" link set eth0 up || return 1
	topo__q ip -n "$wns" route add 169.254.1.1/32 dev eth0 scope link || return 1
	topo__q ip -n "$wns" route add default via 169.254.1.1 dev eth0 || return 1
	topo__q ip -n "$wns" -6 route add default via fe80::1 dev eth0 || return 1
	for other in "${TOPO_NODES[@]}"; do
		topo__route_remote "$other" "$node" "$v4" "$v6" || return 1
	done
}

# topo_workload_addr NODE WL ADDR: one more address (IPv4 or IPv6) for a
# workload, routed like its own (e.g. a sink that holds service VIPs, to
# show that untranslated traffic arrives where it was addressed).
topo_workload_addr() {
	local node=${1:?topo_workload_addr NODE WL ADDR} wl=${2:?} a=${3:?} other
	local wns nns dev plen=32 via flags=()
	wns=$(topo_ns "$node" "$wl"); nns=$(topo_ns "$node"); dev=$(topo__ifname "$wl")
	[[ $a == *:* ]] && plen=128 flags=(nodad)
	topo__q ip -n "$wns" addr add "$a/$plen" dev eth0 "${flags[@]}" || return 1
	topo__q ip -n "$nns" route add "$a/$plen" dev "$dev" || return 1
	for other in "${TOPO_NODES[@]}"; do
		[[ $other == "$node" ]] && continue
		if [[ $a == *:* ]]; then via=$(topo_node_v6 "$node"); else via=$(topo_node_v4 "$node"); fi
		topo__q ip -n "$(topo_ns "$other")" route add "$a/$plen" via "$via" || return 1
	done
}

# Record a pid we started (cleanup also finds everything in our netns and
# cgroups, this list only makes the intent explicit).
topo__record_pid() { [[ -n $TOPO_DIR ]] && echo "$1" >> "$TOPO_DIR/pids"; }

topo_run() {
	local node=${1:?topo_run NODE WL CMD...} wl=${2:?}; shift 2
	local ns cg
	ns=$(topo_ns "$node" "$wl"); cg=$(topo_cgroup "$node" "$wl")
	[[ -e /run/netns/$ns && -d $cg ]] || { topo__log "no workload $node/$wl"; return 127; }
	if [[ $BASHPID != "$$" ]]; then
		# Already in a subshell (`topo_run ... &` or $(...)): become the
		# command, so $! is its pid.
		topo__record_pid "$BASHPID"
		exec nsenter --net="/run/netns/$ns" -- sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"
	fi
	nsenter --net="/run/netns/$ns" -- sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

topo_node_run() {
	local node=${1:?topo_node_run NODE CMD...}; shift
	local ns; ns=$(topo_ns "$node")
	if [[ $BASHPID != "$$" ]]; then
		topo__record_pid "$BASHPID"
		exec nsenter --net="/run/netns/$ns" -- "$@"
	fi
	nsenter --net="/run/netns/$ns" -- "$@"
}

# topo_echo NODE WL NAME --tcp|--udp LISTEN... : start a tr-echo, wait for it.
topo_echo() {
	local node=${1:?} wl=${2:?} name=${3:?} proto=${4:?}; shift 4
	local ready="$TOPO_DIR/ready.$node.$wl.$name.${proto#--}.$RANDOM" l args=() i pid
	for l in "$@"; do args+=(--listen "$l"); done
	topo_run "$node" "$wl" "$TR_ECHO" "$proto" --name "$name" --ready "$ready" --quiet "${args[@]}" \
		>>"$TOPO_DIR/echo.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $ready ]] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	topo__log "tr-echo $name on $node/$wl did not start: $(tail -n 3 "$TOPO_DIR/echo.log")"
	return 1
}

topo_trestle() {
	local node=${1:?topo_trestle NODE ARGS...}; shift
	"$TRESTLE" --bpffs "$(topo_pin "$node")" "$@"
}

topo_status_field() {
	local node=${1:?} filter=${2:?}
	topo_trestle "$node" -j status 2>/dev/null | jq -r "$filter" 2>/dev/null
}

# True when NODE's agent has applied a configuration and attached programs.
topo__agent_ready() {
	local out
	# the agent's control socket answers only after its first apply (the
	# pinned status alone may be a previous agent's)
	topo_trestle "$1" tunnel list >/dev/null 2>&1 || return 1
	out=$(topo_trestle "$1" -j status 2>/dev/null) || return 1
	jq -e '((.generation // 0) >= 1) and
	       ((.programs // []) | length > 0) and
	       all((.programs // [])[]; (.attached // true) != false)' \
		>/dev/null 2>&1 <<<"$out"
}

topo_agent() {
	local node=${1:?topo_agent NODE [ARGS...]}; shift
	local ns cg pin cfg log acg pid i
	[[ -n ${TOPO_NODE_IDX[$node]:-} ]] || topo__die "no node $node" || return 1
	[[ -x $TRESTLED ]] || topo__die "no agent binary $TRESTLED (run scripts/build)" || return 1
	pid=${TOPO_AGENT_PIDS[$node]:-}
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		topo__die "agent on $node already runs (pid $pid)"; return 1
	fi
	ns=$(topo_ns "$node"); cg=$(topo_cgroup "$node"); pin=$(topo_pin "$node")
	cfg=$(topo_config_dir "$node"); log=$(topo_agent_log "$node")
	acg="$TOPO_CG_ROOT/$TOPO_PREFIX/agent.$node"
	mkdir -p "$acg"
	echo "--- $(date +%T.%N) topo_agent $node $*" >> "$log"
	nsenter --net="/run/netns/$ns" -- sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$acg" \
		"$TRESTLED" --config "$cfg" --bpffs "$pin" --cgroup "$cg" --node "$node" \
		--run-dir "$TOPO_DIR/$node/run" "$@" \
		>>"$log" 2>&1 </dev/null &
	pid=$!
	TOPO_AGENT_PIDS[$node]=$pid
	topo__record_pid "$pid"
	for ((i = 0; i < TOPO_AGENT_TIMEOUT * 10; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			topo__log "agent on $node exited ($?) during start; log tail:"
			tail -n 20 "$log" | sed 's/^/    /' >&2
			return 1
		fi
		topo__agent_ready "$node" && return 0
		sleep 0.1
	done
	topo__log "agent on $node not ready after ${TOPO_AGENT_TIMEOUT}s; status: $(topo_trestle "$node" -j status 2>&1 | head -c 400); log tail:"
	tail -n 20 "$log" | sed 's/^/    /' >&2
	return 1
}

# topo_agent_stop NODE [SIGNAL]: signal the agent (TERM) and wait for it to
# exit; its exit status goes to $TOPO_AGENT_RC (call it directly, not in
# $(...): only the shell that started the agent can collect its status).
# Returns 1 if it did not exit within 10 s.
TOPO_AGENT_RC=
topo_agent_stop() {
	local node=${1:?} sig=${2:-TERM} pid i
	TOPO_AGENT_RC=
	pid=${TOPO_AGENT_PIDS[$node]:-}
	[[ -n $pid ]] || return 0
	# stderr off: bash would announce "Killed" for SIGKILL.
	{
		kill -s "$sig" "$pid"
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" || break
			sleep 0.1
		done
	} 2>/dev/null
	if kill -0 "$pid" 2>/dev/null; then
		topo__log "agent on $node (pid $pid) still runs 10 s after SIG$sig"
		return 1
	fi
	{ wait "$pid"; TOPO_AGENT_RC=$?; } 2>/dev/null
	TOPO_AGENT_PIDS[$node]=
	echo "--- $(date +%T.%N) agent stopped by SIG$sig: status $TOPO_AGENT_RC" >> "$(topo_agent_log "$node")"
}

# Kill every process that lives in one of our network namespaces or cgroups.
topo__kill_all() {
	local inodes=() ns f ino pid cg i left
	for f in /run/netns/"$TOPO_PREFIX"-*; do
		[[ -e $f ]] || continue
		ino=$(stat -L -c %i "$f" 2>/dev/null) && inodes+=("net:[$ino]")
	done
	# SIGTERM first (tr-echo and the agent exit cleanly), then SIGKILL.
	for i in TERM wait wait wait wait wait KILL wait wait KILL; do
		left=0
		for f in /proc/[0-9]*/ns/net; do
			pid=${f#/proc/}; pid=${pid%%/*}
			[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
			ns=$(readlink "$f" 2>/dev/null) || continue
			cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null)
			if [[ " ${inodes[*]} " == *" $ns "* || $cg == "/$TOPO_PREFIX/"* ]]; then
				left=1
				[[ $i == wait ]] || kill -s "$i" "$pid" 2>/dev/null
			fi
		done
		[[ $left == 0 ]] && break
		sleep 0.1
	done
	# Anything still in our cgroups (cgroup.kill: kernel >= 5.14).
	if [[ -d $TOPO_CG_ROOT/$TOPO_PREFIX ]]; then
		while read -r f; do
			[[ -e $f/cgroup.kill ]] && echo 1 > "$f/cgroup.kill" 2>/dev/null
		done < <(find "$TOPO_CG_ROOT/$TOPO_PREFIX" -type d)
		for ((i = 0; i < 50; i++)); do
			grep -qs '^populated 1' "$TOPO_CG_ROOT/$TOPO_PREFIX/cgroup.events" || break
			sleep 0.1
		done
	fi
	{ wait; } 2>/dev/null || true
}

topo_cleanup() {
	local node wl ns left
	[[ $TOPO_CLEANED == 1 || -z $TOPO_PREFIX ]] && return 0
	topo__kill_all
	for node in "${TOPO_NODES[@]}"; do
		if [[ -d $(topo_pin "$node") && -x $TRESTLED ]]; then
			timeout 20 "$TRESTLED" --cleanup --bpffs "$(topo_pin "$node")" \
				--cgroup "$(topo_cgroup "$node")" >>"$(topo_agent_log "$node")" 2>&1 ||
				topo__log "trestled --cleanup for $node failed (see $(topo_agent_log "$node"))"
		fi
	done
	for wl in "${TOPO_WLS[@]}"; do
		ip netns del "$(topo_ns "${wl%%/*}" "${wl#*/}")" 2>/dev/null
	done
	for node in "${TOPO_NODES[@]}"; do ip netns del "$(topo_ns "$node")" 2>/dev/null; done
	ip netns del "$TOPO_PREFIX-fab" 2>/dev/null
	# Namespaces we may not have recorded (failure half-way through a step).
	while read -r ns _; do
		[[ $ns == "$TOPO_PREFIX"-* ]] && ip netns del "$ns" 2>/dev/null
	done < <(ip netns list 2>/dev/null)
	if [[ -d $TOPO_CG_ROOT/$TOPO_PREFIX ]]; then
		find "$TOPO_CG_ROOT/$TOPO_PREFIX" -depth -type d -exec rmdir {} \; 2>/dev/null
	fi
	rm -rf "${TOPO_BPF_ROOT:?}/$TOPO_PREFIX" 2>/dev/null
	TOPO_CLEANED=1
	if left=$(topo_leftovers "$TOPO_PREFIX"); then
		[[ -n ${TOPO_KEEP_DIR:-} ]] || rm -rf "$TOPO_DIR"
		return 0
	fi
	topo__log "cleanup left behind: $(tr '\n' ' ' <<<"$left")"
	return 1
}
