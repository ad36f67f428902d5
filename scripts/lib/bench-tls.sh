#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# bench-tls.sh -- suite "tls" of scripts/bench: throughput and
# request/response latency between two nodes, in clear, through Trestle's
# mTLS tunnel, through a stunnel4 pair and through an nginx stream TLS proxy
# pair. scripts/bench runs it (as a process of its own: topo.sh owns the EXIT
# trap here) and formats the JSON it writes; see tests/bench/README.md.
#
# Topology (scripts/lib/topo.sh, prefix --prefix): nodes n1 (underlay
# 10.243.0.1) and n2 (10.243.0.2) on one fabric bridge; workload n1/client
# (10.244.1.2) runs the load (tests/bench/tls_perf stream|rr), workload
# n2/server (10.244.2.10) runs `tls_perf server` on :5201. Rows:
#
#   plain    client -> 10.244.2.10:5201, routed n1 -> n2; no agent runs
#            (nothing attached, no BPF program on the path)
#   stunnel  client -> stunnel4 client mode on n1 (10.243.0.1:7001) -TLS->
#            stunnel4 server on n2 (10.243.0.2:7443) -> server; no agent
#   nginx    client -> nginx stream proxy_ssl on n1 (10.243.0.1:7002) -TLS->
#            nginx stream `listen ssl` on n2 (10.243.0.2:7444) -> server; no agent
#   trestle  client -> 10.244.2.10:5201 with trestled --certs on both nodes:
#            n1's agent captures the connect (outbound 15001) and tunnels it
#            over mTLS to n2's agent (inbound 15008), which connects to the
#            server; kTLS where the kernel has it
#   trestle_user  the same with trestled --no-ktls (records sealed by
#            OpenSSL in the agent); added by itself when the kernel has kTLS,
#            so that one run measures both paths
#
# TLS everywhere: TLS 1.3 only, TLS_AES_128_GCM_SHA256 (the agent's first
# preference; stunnel and nginx are pinned to it), ECDSA P-256 leaves signed
# by a P-256 root (one for the proxies, one for the mesh), both sides verify
# the other's chain (mutual authentication), no session resumption.
# stunnel and nginx run as the runner's own instances in the node
# namespaces, bound to the underlay addresses only, with config, pid and
# log files in the work directory; no system service is touched.
#
# Rounds: a round runs the three tests (1 stream, --streams streams,
# request/response), and each test on every row in turn, so the runs a
# ratio pairs are seconds apart; the row order flips from one test to the
# next, the test order in odd rounds. The agents run only around the
# trestle rows: they start before one and are stopped and cleaned up
# (trestled --cleanup) before the next other row (or the other trestle
# variant), so plain/stunnel/nginx always run with no Trestle program
# attached. Trestle comes last in the row order, so the agents start and
# stop once per two tests.
#
# Usage: bench-tls.sh --build DIR --prefix PREFIX --out FILE [--rounds N]
#                     [--duration S] [--warmup S] [--streams N] [--rr-conns N]
#                     [--rr-size BYTES] [--rows plain,stunnel,nginx,trestle[,trestle_user]]
# Needs root. Progress on stderr, the JSON document into FILE.
set -uo pipefail

# The whole script is one brace group, read before any of it runs: editing
# this file while a run is going does not change that run.
{

BUILD=
PREFIX=
OUT=
ROUNDS=6
DURATION=1.5
WARMUP=0.5
STREAMS=16
RR_CONNS=4
RR_SIZE=1024
ROWS="plain stunnel nginx trestle"

while (($#)); do
	case $1 in
	--build) BUILD=${2:?}; shift ;;
	--prefix) PREFIX=${2:?}; shift ;;
	--out) OUT=${2:?}; shift ;;
	--rounds) ROUNDS=${2:?}; shift ;;
	--duration) DURATION=${2:?}; shift ;;
	--warmup) WARMUP=${2:?}; shift ;;
	--streams) STREAMS=${2:?}; shift ;;
	--rr-conns) RR_CONNS=${2:?}; shift ;;
	--rr-size) RR_SIZE=${2:?}; shift ;;
	--rows) ROWS=${2:?}; ROWS=${ROWS//,/ }; shift ;;
	-h|--help) sed -n '/^# Usage:/,/^# Needs root/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-tls: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done
[[ -n $BUILD && -n $PREFIX && -n $OUT ]] || { echo "bench-tls: --build, --prefix and --out are required" >&2; exit 2; }

say() { echo "bench: tls: $*" >&2; }
die() { say "$*"; exit 1; }

# shellcheck disable=SC2034 # read by topo.sh
TRESTLE_BUILD=$BUILD
# shellcheck source-path=SCRIPTDIR source=topo.sh
source "$(dirname "${BASH_SOURCE[0]}")/topo.sh"
TLS_PERF=$BUILD/tests/bench/tls_perf
[[ -x $TLS_PERF ]] || die "missing $TLS_PERF (meson compile -C $BUILD)"
for t in ip nsenter jq timeout openssl ss; do
	command -v "$t" >/dev/null || die "command '$t' not found"
done

# Addresses and ports (only ever inside the namespaces of this run).
N1=10.243.0.1
N2=10.243.0.2
CLIENT_IP=10.244.1.2
SERVER_IP=10.244.2.10
SERVER_PORT=5201
ST_PORT_C=7001      # stunnel client mode, n1
ST_PORT_S=7443      # stunnel server mode, n2
NG_PORT_C=7002      # nginx proxy_ssl, n1
NG_PORT_S=7444      # nginx listen ssl, n2
TRUST_DOMAIN=cluster.local
CIPHER=TLS_AES_128_GCM_SHA256

# Which rows can run here, and why not.
declare -A AVAIL=() REASON=() ROW_ERR=() ROW_PATH=()
for r in $ROWS; do
	case $r in plain|stunnel|nginx|trestle|trestle_user) ;; *) die "unknown row '$r' (plain, stunnel, nginx, trestle, trestle_user)" ;; esac
	AVAIL[$r]=1
done
[[ -n ${AVAIL[plain]:-} ]] || die "the plain row is the baseline; --rows must include it"
STUNNEL=$(command -v stunnel4 || command -v stunnel || true)
NGINX=$(command -v nginx || true)
[[ -x /usr/sbin/nginx && -z $NGINX ]] && NGINX=/usr/sbin/nginx
NGINX_STREAM_SO=
for f in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
	[[ -f $f ]] && { NGINX_STREAM_SO=$f; break; }
done
if [[ -n ${AVAIL[stunnel]:-} && -z $STUNNEL ]]; then
	AVAIL[stunnel]=0; REASON[stunnel]="stunnel4 is not installed (scripts/setup)"
fi
if [[ -n ${AVAIL[nginx]:-} ]]; then
	if [[ -z $NGINX ]]; then
		AVAIL[nginx]=0; REASON[nginx]="nginx is not installed (scripts/setup)"
	elif [[ -z $NGINX_STREAM_SO ]] && ! "$NGINX" -V 2>&1 | grep -q -- '--with-stream\b'; then
		AVAIL[nginx]=0; REASON[nginx]="nginx has no stream module (libnginx-mod-stream, scripts/setup)"
	fi
fi
# Kernel TLS here? (the module may be loadable and not loaded yet)
KTLS_KERNEL=0
if grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || modinfo tls >/dev/null 2>&1; then
	KTLS_KERNEL=1
fi
# trestle_user (--no-ktls) comes with trestle on a kernel with kTLS.
if [[ -n ${AVAIL[trestle]:-} && -z ${AVAIL[trestle_user]:-} ]] && ((KTLS_KERNEL)); then
	AVAIL[trestle_user]=1
	ROWS="$ROWS trestle_user"
fi
for r in trestle trestle_user; do
	[[ -n ${AVAIL[$r]:-} ]] || continue
	if [[ ! -x $TRESTLED || ! -x $TRESTLE ]]; then
		AVAIL[$r]=0; REASON[$r]="agent not built ($TRESTLED, $TRESTLE)"
	elif ! "$TRESTLED" --help 2>/dev/null | grep -q -- '--certs'; then
		AVAIL[$r]=0; REASON[$r]="trestled has no --certs"
	elif [[ $r == trestle_user ]] && ! "$TRESTLED" --help 2>/dev/null | grep -q -- '--no-ktls'; then
		AVAIL[$r]=0; REASON[$r]="trestled has no --no-ktls"
	fi
done
for r in $ROWS; do
	[[ ${AVAIL[$r]} == 1 ]] || say "row $r: not available: ${REASON[$r]}"
done

# --- topology -------------------------------------------------------------------

topo_init "$PREFIX" || die "topo_init $PREFIX failed"
WORK=$TOPO_DIR
topo_node n1 && topo_node n2 || die "cannot create the nodes"
topo_workload n1 client "$CLIENT_IP" fd00:244:1::2 &&
	topo_workload n2 server "$SERVER_IP" fd00:244:2::10 || die "cannot create the workloads"

# wait_listen NETNS PORT: until something listens on PORT in NETNS (5 s).
wait_listen() {
	local i
	for ((i = 0; i < 100; i++)); do
		nsenter "--net=/run/netns/$1" -- ss -Hltn "sport = :$2" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

topo_run n2 server "$TLS_PERF" server --listen "0.0.0.0:$SERVER_PORT" \
	>>"$WORK/server.log" 2>&1 &
wait_listen "$(topo_ns n2 server)" "$SERVER_PORT" ||
	die "tls_perf server did not start: $(tail -n 3 "$WORK/server.log")"

# --- certificates -----------------------------------------------------------------

# openssl_ca DIR: a self-signed ECDSA P-256 root CA in DIR/ca.{crt,key}.
openssl_ca() {
	mkdir -p "$1"
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/ca.key" -out "$1/ca.crt" -days 2 -subj "/O=Trestle bench/CN=$TRUST_DOMAIN" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectAltName=URI:spiffe://$TRUST_DOMAIN" >>"$WORK/openssl.log" 2>&1
}

# openssl_leaf CADIR PREFIX SAN: an ECDSA P-256 leaf signed by CADIR, CA:FALSE,
# digitalSignature, serverAuth+clientAuth, subjectAltName SAN; PREFIX.{crt,key}.
openssl_leaf() {
	local ca=$1 p=$2 san=$3
	mkdir -p "$(dirname "$p")"
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
		"$san" > "$p.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p.key" \
		-out "$p.csr" -subj "/O=Trestle bench/CN=$(basename "$p")" >>"$WORK/openssl.log" 2>&1 &&
	openssl x509 -req -in "$p.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
		-days 1 -extfile "$p.ext" -out "$p.crt" >>"$WORK/openssl.log" 2>&1 &&
	chmod 600 "$p.key" && rm -f "$p.csr" "$p.ext"
}

# The proxies' certificates: the SPIFFE ID of the workload they stand for
# and a DNS name, which the client side checks in the server's certificate
# (stunnel checkHost, nginx proxy_ssl_name).
PX=$WORK/pki-proxy
openssl_ca "$PX" &&
	openssl_leaf "$PX" "$PX/client" "URI:spiffe://$TRUST_DOMAIN/ns/default/sa/client,DNS:client.bench.test" &&
	openssl_leaf "$PX" "$PX/server" "URI:spiffe://$TRUST_DOMAIN/ns/default/sa/server,DNS:server.bench.test" ||
	die "openssl failed to make the proxies' certificates: $(tail -n 5 "$WORK/openssl.log")"

# Trestle's: `trestle ca init` / `trestle cert issue` when the CLI has them,
# else openssl with exactly one URI SAN (an SVID). Per node: DIR/ca.crt and
# DIR/default/SA.{crt,key} for the workloads of that node.
CERTS_HOW=
trestle_certs() {
	local ca=$WORK/pki-mesh/ca n
	mkdir -p "$WORK/pki-mesh"
	if "$TRESTLE" help 2>&1 | grep -q 'cert issue'; then
		CERTS_HOW="trestle ca init / trestle cert issue"
		"$TRESTLE" ca init --trust-domain "$TRUST_DOMAIN" --out "$ca" >>"$WORK/openssl.log" 2>&1 &&
		"$TRESTLE" cert issue --ca "$ca" --spiffe-id "spiffe://$TRUST_DOMAIN/ns/default/sa/client" \
			--out "$WORK/pki-mesh/n1/default/client" >>"$WORK/openssl.log" 2>&1 &&
		"$TRESTLE" cert issue --ca "$ca" --spiffe-id "spiffe://$TRUST_DOMAIN/ns/default/sa/server" \
			--out "$WORK/pki-mesh/n2/default/server" >>"$WORK/openssl.log" 2>&1 || return 1
	else
		CERTS_HOW="openssl (one URI SAN each)"
		openssl_ca "$ca" &&
		openssl_leaf "$ca" "$WORK/pki-mesh/n1/default/client" "URI:spiffe://$TRUST_DOMAIN/ns/default/sa/client" &&
		openssl_leaf "$ca" "$WORK/pki-mesh/n2/default/server" "URI:spiffe://$TRUST_DOMAIN/ns/default/sa/server" ||
			return 1
	fi
	for n in n1 n2; do cp "$ca/ca.crt" "$WORK/pki-mesh/$n/ca.crt" || return 1; done
}

# --- stunnel4 ----------------------------------------------------------------------

# stunnel_conf NODE SIDE: the configuration of NODE's instance, with the
# certificate of SIDE (client or server).
stunnel_conf() {
	local common
	common="cert = $PX/$2.crt
key = $PX/$2.key
CAfile = $PX/ca.crt
verifyChain = yes
sessionResume = no
options = NO_TICKET
sslVersionMin = TLSv1.3
ciphersuites = $CIPHER
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1"
	printf 'foreground = yes\npid =\nsyslog = no\noutput = %s\ndebug = notice\n\n[bench]\n' "$WORK/stunnel-$1.log"
	if [[ $1 == n1 ]]; then
		printf 'client = yes\naccept = %s:%s\nconnect = %s:%s\ncheckHost = server.bench.test\n%s\n' \
			"$N1" "$ST_PORT_C" "$N2" "$ST_PORT_S" "$common"
	else
		printf 'accept = %s:%s\nconnect = %s:%s\n%s\n' "$N2" "$ST_PORT_S" "$SERVER_IP" "$SERVER_PORT" "$common"
	fi
}

start_stunnel() {
	local node side port
	for node in n1 n2; do
		[[ $node == n1 ]] && side=client port=$ST_PORT_C || side=server port=$ST_PORT_S
		stunnel_conf "$node" "$side" > "$WORK/stunnel-$node.conf"
		topo_node_run "$node" "$STUNNEL" "$WORK/stunnel-$node.conf" >>"$WORK/stunnel-$node.out" 2>&1 &
		wait_listen "$(topo_ns "$node")" "$port" ||
			{ REASON[stunnel]="stunnel4 on $node did not start: $(tail -n 3 "$WORK/stunnel-$node.out" "$WORK/stunnel-$node.log" 2>/dev/null | tr '\n' ' ')"; return 1; }
	done
}

# --- nginx -------------------------------------------------------------------------

nginx_conf() {
	local node=$1 d=$WORK/nginx-$1
	[[ -n $NGINX_STREAM_SO ]] && echo "load_module $NGINX_STREAM_SO;"
	cat <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $d/nginx.pid;
error_log $d/error.log notice;
events { worker_connections 1024; }
stream {
    log_format bench '\$remote_addr \$upstream_addr \$ssl_protocol \$ssl_cipher \$ssl_client_verify \$bytes_received \$bytes_sent';
    access_log $d/access.log bench;
EOF
	if [[ $node == n1 ]]; then
		cat <<EOF
    server {
        listen $N1:$NG_PORT_C;
        proxy_pass $N2:$NG_PORT_S;
        proxy_ssl on;
        proxy_ssl_protocols TLSv1.3;
        proxy_ssl_conf_command Ciphersuites $CIPHER;
        proxy_ssl_certificate $PX/client.crt;
        proxy_ssl_certificate_key $PX/client.key;
        proxy_ssl_trusted_certificate $PX/ca.crt;
        proxy_ssl_verify on;
        proxy_ssl_verify_depth 2;
        proxy_ssl_name server.bench.test;
        proxy_ssl_server_name on;
        proxy_ssl_session_reuse off;
    }
}
EOF
	else
		cat <<EOF
    server {
        listen $N2:$NG_PORT_S ssl;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites $CIPHER;
        ssl_certificate $PX/server.crt;
        ssl_certificate_key $PX/server.key;
        ssl_client_certificate $PX/ca.crt;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_session_tickets off;
        ssl_session_cache off;
        proxy_pass $SERVER_IP:$SERVER_PORT;
    }
}
EOF
	fi
}

start_nginx() {
	local node d port
	for node in n1 n2; do
		[[ $node == n1 ]] && port=$NG_PORT_C || port=$NG_PORT_S
		d=$WORK/nginx-$node
		mkdir -p "$d"
		nginx_conf "$node" > "$d/nginx.conf"
		# -e: the error log before the configuration is read (not /var/log).
		topo_node_run "$node" "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >>"$d/out.log" 2>&1 &
		wait_listen "$(topo_ns "$node")" "$port" ||
			{ REASON[nginx]="nginx on $node did not start: $(tail -n 3 "$d/out.log" "$d/error.log" 2>/dev/null | tr '\n' ' ')"; return 1; }
	done
}

# --- Trestle -----------------------------------------------------------------------

trestle_config() {
	local n i
	for n in n1 n2; do
		i=${n#n}
		cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $n
status:
  addresses:
  - type: InternalIP
    address: 10.243.0.$i
EOF
	done
	cat <<EOF
---
apiVersion: trestle.io/v1alpha1
kind: Mesh
metadata:
  name: mesh
spec:
  trustDomain: $TRUST_DOMAIN
EOF
	# y_pod of tests/integration/lib.sh: trestle.io/cgroup is the workload
	# cgroup under the node's.
	local name node ip p
	for p in "client n1 $CLIENT_IP" "server n2 $SERVER_IP"; do
		read -r name node ip <<<"$p"
		cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: default
  annotations:
    trestle.io/cgroup: $name
  labels:
    app: "$name"
spec:
  serviceAccountName: $name
  nodeName: $node
status:
  podIP: $ip
  podIPs:
  - ip: $ip
EOF
	done
}

# agents_up ROW: agents on both nodes for row trestle or trestle_user
# (--no-ktls); AGENTS_UP says which runs.
AGENTS_UP=
agents_up() {
	local row=$1 n i out args
	for n in n1 n2; do
		args=(--certs "$WORK/pki-mesh/$n" --metrics-addr none)
		[[ $row == trestle_user ]] && args+=(--no-ktls)
		mkdir -p "$(topo_pin "$n")"
		AGENTS_UP=$row
		topo_agent "$n" "${args[@]}" ||
			{ ROW_ERR[$row]="agent on $n did not start: $(tail -n 3 "$(topo_agent_log "$n")" | tr '\n' ' ')"; return 1; }
	done
	# Ready when a request/response through the tunnel works (the agents
	# may still be loading certificates).
	for ((i = 0; i < 25; i++)); do
		out=$(topo_run n1 client timeout 10 "$TLS_PERF" rr --connect "$SERVER_IP:$SERVER_PORT" \
			--conns 1 --duration 0.1 --warmup 0 --json 2>&1) && return 0
		sleep 0.2
	done
	ROW_ERR[$row]="no request/response through the agents: $out"
	return 1
}

agents_down() {
	local n
	[[ -n $AGENTS_UP ]] || return 0
	for n in n1 n2; do
		topo_agent_stop "$n" || say "agent on $n did not stop"
		timeout 30 "$TRESTLED" --cleanup --bpffs "$(topo_pin "$n")" --cgroup "$(topo_cgroup "$n")" \
			>>"$(topo_agent_log "$n")" 2>&1 || say "trestled --cleanup on $n failed (see $(topo_agent_log "$n"))"
	done
	AGENTS_UP=
}

# tunnel_snapshot FILE: n1's `trestle -j tunnel list` into FILE, taken in the
# middle of a measured run (tunnels may live as long as their connection).
tunnel_snapshot() {
	sleep "$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { print w + d / 2 }')"
	topo_trestle n1 -j tunnel list > "$1" 2>&1
}

# tunnel_info FILE: what a snapshot says, as JSON: the distinct paths
# ("userspace", "ktls"), TLS versions and ciphers, and the number of n1's
# outbound tunnels; null if it is not JSON (no such command).
tunnel_info() {
	jq -c '[.. | objects | select(has("path"))] as $t
		| {tunnels: ($t | map(select((.direction // "outbound") == "outbound")) | length),
		   paths: ($t | map(.path) | unique), tls_versions: ($t | map(.tls_version) | unique),
		   ciphers: ($t | map(.cipher) | unique)}' "$1" 2>/dev/null || echo null
}

# --- set up the rows ---------------------------------------------------------------

if [[ ${AVAIL[stunnel]:-0} == 1 ]]; then
	start_stunnel || { AVAIL[stunnel]=0; say "row stunnel: ${REASON[stunnel]}"; }
fi
if [[ ${AVAIL[nginx]:-0} == 1 ]]; then
	start_nginx || { AVAIL[nginx]=0; say "row nginx: ${REASON[nginx]}"; }
fi
if [[ ${AVAIL[trestle]:-0} == 1 || ${AVAIL[trestle_user]:-0} == 1 ]]; then
	if ! trestle_certs; then
		for r in trestle trestle_user; do
			[[ ${AVAIL[$r]:-0} == 1 ]] || continue
			AVAIL[$r]=0; REASON[$r]="cannot make the certificates: $(tail -n 3 "$WORK/openssl.log" | tr '\n' ' ')"
		done
	else
		for n in n1 n2; do trestle_config > "$(topo_config_dir "$n")/mesh.yaml"; done
	fi
fi

target() {
	case $1 in
	plain|trestle|trestle_user) echo "$SERVER_IP:$SERVER_PORT" ;;
	stunnel) echo "$N1:$ST_PORT_C" ;;
	nginx) echo "$N1:$NG_PORT_C" ;;
	esac
}

# run_test ROW TEST ROUND: one tls_perf run from the client workload; its
# JSON, with row, test and round, appended to runs.jsonl.
: > "$WORK/runs.jsonl"
run_test() {
	local row=$1 test=$2 round=$3 args out secs snap rc
	case $test in
	stream1) args=(stream --streams 1) ;;
	streamN) args=(stream --streams "$STREAMS") ;;
	rr) args=(rr --conns "$RR_CONNS" --size "$RR_SIZE") ;;
	esac
	secs=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 30 }')
	snap=
	if [[ $row == trestle* && $test == streamN ]]; then
		tunnel_snapshot "$WORK/tunnels.$round.$row.json" &
		snap=$!
	fi
	out=$(topo_run n1 client timeout "$secs" "$TLS_PERF" "${args[@]}" --connect "$(target "$row")" \
		--duration "$DURATION" --warmup "$WARMUP" --json 2>&1)
	rc=$?
	if [[ -n $snap ]]; then
		wait "$snap"
		ROW_PATH[$row]=$(tunnel_info "$WORK/tunnels.$round.$row.json")
		if [[ $(jq -r '.tunnels // "?"' <<<"${ROW_PATH[$row]}") == 0 ]]; then
			ROW_ERR[$row]="n1's tunnel list shows no tunnel during the run: the traffic was not tunneled"
			return 1
		fi
	fi
	if ((rc != 0)); then
		ROW_ERR[$row]="$test failed in round $((round + 1)): $(tail -n 2 <<<"$out" | tr '\n' ' ')"
		return 1
	fi
	jq -c --arg row "$row" --arg test "$test" --argjson round "$round" \
		'{row: $row, test: $test, round: $round} + .' <<<"$out" >> "$WORK/runs.jsonl"
}

# Row order: trestle last, so the agents start and stop once per two rounds.
ORDER=()
for r in plain stunnel nginx trestle_user trestle; do
	[[ ${AVAIL[$r]:-0} == 1 ]] && ORDER+=("$r")
done
say "rows ${ORDER[*]}; $ROUNDS rounds of 1 stream, $STREAMS streams, rr ($RR_CONNS conns x $RR_SIZE B), ${DURATION}s each after ${WARMUP}s warm-up"
# A round: for each test, every row once, so the runs a ratio pairs are
# seconds apart. Row order flips from one test to the next (plain .. trestle,
# trestle .. plain, ...), so the agents start and stop once per two tests;
# the tests run in reverse order in odd rounds.
seq=0
for ((round = 0; round < ROUNDS; round++)); do
	tests=(stream1 streamN rr)
	((round % 2)) && tests=(rr streamN stream1)
	for t in "${tests[@]}"; do
		rows=("${ORDER[@]}")
		if ((seq++ % 2)); then
			rows=(); for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do rows+=("${ORDER[i]}"); done
		fi
		for row in "${rows[@]}"; do
			[[ -z ${ROW_ERR[$row]:-} ]] || continue
			if [[ $AGENTS_UP != "$row" ]]; then
				agents_down
				if [[ $row == trestle* ]] && ! agents_up "$row"; then
					say "row $row: ${ROW_ERR[$row]}"
					agents_down
					continue
				fi
			fi
			run_test "$row" "$t" "$round" || say "row $row: ${ROW_ERR[$row]}"
			[[ $row == plain && -n ${ROW_ERR[plain]:-} ]] && die "the plain row fails: ${ROW_ERR[plain]}"
		done
	done
	say "round $((round + 1))/$ROUNDS done"
done
agents_down

# Checks that the TLS rows did TLS 1.3 with the client verified.
CHECKS='{}'
if [[ ${AVAIL[nginx]:-0} == 1 && -s $WORK/nginx-n2/access.log ]]; then
	CHECKS=$(jq -c --arg l "$(awk '{ print $3, $4, $5 }' "$WORK/nginx-n2/access.log" | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')" \
		'. + {nginx_n2_sessions: $l}' <<<"$CHECKS")
fi
if [[ ${AVAIL[stunnel]:-0} == 1 ]]; then
	ok=$(grep -c 'Certificate accepted' "$WORK/stunnel-n2.log" 2>/dev/null)
	conns=$(grep -c 'accepted connection' "$WORK/stunnel-n2.log" 2>/dev/null)
	CHECKS=$(jq -c --argjson ok "${ok:-0}" --argjson conns "${conns:-0}" \
		'. + {stunnel_n2_connections: $conns, stunnel_n2_peer_certs_accepted: $ok}' <<<"$CHECKS")
fi

# --- the document ------------------------------------------------------------------

rowinfo='[]'
for r in plain stunnel nginx trestle trestle_user; do
	[[ -n ${AVAIL[$r]:-} ]] || continue
	rowinfo=$(jq -c --arg r "$r" --argjson a "${AVAIL[$r]}" --arg why "${REASON[$r]:-}" \
		--arg err "${ROW_ERR[$r]:-}" --argjson tun "${ROW_PATH[$r]:-null}" '
		. + [{name: $r, available: ($a == 1), reason: (if $why == "" then null else $why end),
		      error: (if $err == "" then null else $err end),
		      paths: (if $tun then $tun.paths else null end), tunnels: $tun}]' <<<"$rowinfo")
done
KTLS_ULP=false
((KTLS_KERNEL)) && KTLS_ULP=true
VERSIONS=$(jq -n -c --arg st "$([[ -n $STUNNEL ]] && "$STUNNEL" -version 2>&1 | sed -n 's/^stunnel \([0-9.]*\) .*/\1/p' | head -n 1)" \
	--arg ng "$([[ -n $NGINX ]] && "$NGINX" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p' | head -n 1)" \
	--arg ossl "$(openssl version | awk '{ print $2 }')" \
	'{stunnel: $st, nginx: $ng, openssl: $ossl} | with_entries(select(.value != ""))')
jq -s -c --argjson rows "$rowinfo" --argjson checks "$CHECKS" --argjson rounds "$ROUNDS" \
	--argjson d "$DURATION" --argjson w "$WARMUP" --argjson streams "$STREAMS" \
	--argjson rrc "$RR_CONNS" --argjson rrs "$RR_SIZE" --arg cipher "$CIPHER" \
	--arg certs "$CERTS_HOW" --argjson ulp "$KTLS_ULP" --arg kernel "$(uname -r)" --argjson ver "$VERSIONS" \
	--argjson cpus "$(nproc)" '
	def q(p): sort | ((length - 1) * p) as $i | ($i | floor) as $lo
		| .[$lo] + (.[[$lo + 1, length - 1] | min] - .[$lo]) * ($i - $lo);
	def stat: if length == 0 then null else {median: q(0.5), p25: q(0.25), p75: q(0.75), n: length} end;
	. as $runs
	# value of metric m for row r, test t, per round (null where missing)
	| def v($r; $t; $m): [range(0; $rounds) as $k
		| ($runs | map(select(.row == $r and .test == $t and .round == $k)) | .[0] | if . then .[$m] else null end)];
	  # per-round ratio a/b of metric m, rounds where both exist
	  def pr($a; $b; $t; $m): [v($a; $t; $m), v($b; $t; $m)] | transpose
		| map(select(.[0] != null and .[1] != null and .[1] != 0) | .[0] / .[1]) | stat;
	  def fig($r; $t; $m): v($r; $t; $m) | map(select(. != null)) | stat;
	  def row($r): {stream1_gbit_s: fig($r; "stream1"; "gbit_s"),
		       streamN_gbit_s: fig($r; "streamN"; "gbit_s"),
		       rr_tps: fig($r; "rr"; "tps"), rr_p50_us: fig($r; "rr"; "p50_us"),
		       rr_p99_us: fig($r; "rr"; "p99_us")};
	  def vs($a; $b): {stream1: pr($a; $b; "stream1"; "gbit_s"), streamN: pr($a; $b; "streamN"; "gbit_s"),
		       rr_tps: pr($a; $b; "rr"; "tps"), rr_p50: pr($a; $b; "rr"; "p50_us"),
		       rr_p99: pr($a; $b; "rr"; "p99_us")};
	{kernel: $kernel, cpus: $cpus, rounds: $rounds, duration_s: $d, warmup_s: $w,
	 streams: $streams, rr_conns: $rrc, rr_size: $rrs, cipher: $cipher,
	 trestle_certs: (if $certs == "" then null else $certs end),
	 kernel_tls: $ulp, versions: $ver, checks: $checks,
	 rows: ($rows | map(. + (if .available then row(.name) + {vs_plain: vs(.name; "plain")} else {} end))),
	 trestle_vs: {stunnel: vs("trestle"; "stunnel"), nginx: vs("trestle"; "nginx"),
		      trestle_user: vs("trestle"; "trestle_user")},
	 trestle_user_vs: {stunnel: vs("trestle_user"; "stunnel"), nginx: vs("trestle_user"; "nginx")},
	 runs: $runs}' "$WORK/runs.jsonl" > "$OUT" || die "cannot write the report"
say "done"
exit 0
}
