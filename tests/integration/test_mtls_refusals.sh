#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Every refusal of the mTLS tunnels, each counted by reason, logged with the
# reason, and nothing reaching the workload: a peer certificate from another
# CA, expired, not yet valid, of another trust domain, with two URI SANs, no
# client certificate, a TLS 1.2-only peer (all presented to n2's inbound
# port with openssl s_client from n1), a destination presenting the wrong
# identity, and plaintext to a STRICT workload (dropped at tc). PERMISSIVE
# and DISABLE (portLevelMtls) take plaintext as Istio does.
source "$(dirname "$0")/lib.sh"

t_mesh2
{ t_web "b1 b3"; t_nodes
  y_pod client n1 "${T_V4[client]} ${T_V6[client]}" "app=client"
  y_pod client2 n2 "${T_V4[client2]} ${T_V6[client2]}" "app=client2"; } > "$TOPO_DIR/mesh.yaml"
t_config mesh.yaml < "$TOPO_DIR/mesh.yaml"
for w in client b1 b2; do t_issue n1 "$w" || t_abort certs "issue $w"; done
for w in b3 client2; do t_issue n2 "$w" || t_abort certs "issue $w"; done

# a second CA (trust domain other.local), also in n2's bundle: its SVIDs
# chain, but to the wrong trust domain; a third CA nobody trusts
"$TRESTLE" ca init --trust-domain other.local --out "$TOPO_DIR/ca2" >/dev/null &&
"$TRESTLE" ca init --trust-domain cluster.local --out "$TOPO_DIR/ca3" >/dev/null || t_abort certs "ca init"
cat "$TOPO_DIR/ca2/ca.crt" >> "$(t_certs_dir n2)/ca.crt"
X=$TOPO_DIR/x; mkdir -p "$X"
ID=spiffe://cluster.local/ns/default/sa/client
"$TRESTLE" cert issue --ca "$TOPO_DIR/ca3" --spiffe-id "$ID" --out "$X/otherca" >/dev/null &&
"$TRESTLE" cert issue --ca "$TOPO_DIR/ca" --spiffe-id "$ID" --out "$X/expired" --ttl 1h --not-before-offset -48h >/dev/null &&
"$TRESTLE" cert issue --ca "$TOPO_DIR/ca" --spiffe-id "$ID" --out "$X/future" --not-before-offset 48h >/dev/null &&
"$TRESTLE" cert issue --ca "$TOPO_DIR/ca2" --spiffe-id spiffe://other.local/ns/default/sa/client --out "$X/othertd" >/dev/null &&
"$TRESTLE" cert issue --ca "$TOPO_DIR/ca" --spiffe-id "$ID" --out "$X/good" >/dev/null || t_abort certs "cert issue"
# two URI SANs: minted with openssl and the trusted CA's key
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /O=Trestle \
	-keyout "$X/twosan.key" -out "$X/twosan.csr" 2>/dev/null &&
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=URI:%s,URI:spiffe://cluster.local/ns/default/sa/b1\n' "$ID" > "$X/twosan.ext" &&
openssl x509 -req -in "$X/twosan.csr" -CA "$TOPO_DIR/ca/ca.crt" -CAkey "$TOPO_DIR/ca/ca.key" \
	-CAcreateserial -days 1 -extfile "$X/twosan.ext" -out "$X/twosan.crt" 2>/dev/null || t_abort certs "two-SAN cert"

for n in n1 n2; do topo_agent "$n" --certs "$(t_certs_dir "$n")" || t_abort "agent-$n" "agent did not start"; done

# SNI naming b3:8080 from client (tunnel.c: dst hex . port hex . src hex)
hex4() { local IFS=.; set -- $1; printf '%02x%02x%02x%02x' "$1" "$2" "$3" "$4"; }
SNI="$(hex4 "${T_V4[b3]}").1f90.$(hex4 "${T_V4[client]}").t1.trestle"
N2=$(topo_node_v4 n2)

fails() { t_metric n2 "trestle_tls_handshakes_total\\{direction=\"inbound\",outcome=\"failure\",reason=\"$1\"\\}"; }
delivered() { t_metric n2 'trestle_tunnel_connections_total\{direction="inbound"'; }

# s_client CASE REASON ARGS...: the handshake must fail, counted and logged as REASON
refused_inbound() {
	local c=$1 reason=$2 before after d0 d1 out
	shift 2
	before=$(fails "$reason"); d0=$(delivered)
	out=$(echo | topo_node_run n1 timeout 10 openssl s_client -connect "$N2:15008" -servername "$SNI" \
		-CAfile "$TOPO_DIR/ca/ca.crt" "$@" 2>&1)
	after=$(fails "$reason"); d1=$(delivered)
	if [[ $after -gt $before && $d1 == "$d0" ]] && t_log_has n2 "TLS from .* refused: $reason"; then
		t_ok "$c: refused as $reason, counted, logged, nothing delivered"
	else
		t_fail "$c" "count $before -> $after, delivered $d0 -> $d1, log: $(grep -c "refused: $reason" "$(topo_agent_log n2)"); openssl: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
	fi
}

refused_inbound "certificate from another CA" unknown_ca -cert "$X/otherca.crt" -key "$X/otherca.key"
refused_inbound "expired certificate" expired -cert "$X/expired.crt" -key "$X/expired.key"
refused_inbound "not yet valid certificate" not_yet_valid -cert "$X/future.crt" -key "$X/future.key"
refused_inbound "wrong trust domain" wrong_trust_domain -cert "$X/othertd.crt" -key "$X/othertd.key"
refused_inbound "two URI SANs" multiple_uri_san -cert "$X/twosan.crt" -key "$X/twosan.key"
refused_inbound "no client certificate" no_peer_certificate
refused_inbound "TLS 1.2-only peer" protocol_version -cert "$X/good.crt" -key "$X/good.key" -tls1_2

# the good certificate gets through the handshake (the test's own control)
out=$(echo | topo_node_run n1 timeout 10 openssl s_client -connect "$N2:15008" -servername "$SNI" \
	-CAfile "$TOPO_DIR/ca/ca.crt" -cert "$X/good.crt" -key "$X/good.key" 2>&1)
t_check "control: a valid SVID completes the handshake (TLSv1.3)" grep -q "TLSv1.3" <<<"$out"

# a destination that presents the wrong identity: n1 believes b3 runs as sa/other
sed 's/serviceAccountName: b3/serviceAccountName: other/' "$TOPO_DIR/mesh.yaml" > "$(topo_config_dir n1)/.m.tmp" &&
	mv "$(topo_config_dir n1)/.m.tmp" "$(topo_config_dir n1)/mesh.yaml"
g=$(t_gen n1); t_wait_gen n1 $((g + 1)) 10 >/dev/null 2>&1 || sleep 2
w0=$(t_metric n1 'trestle_tls_handshakes_total\{direction="outbound",outcome="failure",reason="wrong_identity"\}')
t_client n1 client --connect "${T_V4[b3]}:8080" --tcp -n 3
w1=$(t_metric n1 'trestle_tls_handshakes_total\{direction="outbound",outcome="failure",reason="wrong_identity"\}')
t_jq "wrong identity: the client's connections fail (reset), none reaches b3" "$T_OUT" '.ok == 0 and (.names | length) == 0'
t_check "wrong identity counted ($w0 -> $w1) and logged" test "$w1" -ge $((w0 + 3))
t_check "wrong identity logged with the expected and presented identities" t_log_has n1 "presented spiffe://cluster.local/ns/default/sa/b3 .* which is spiffe://cluster.local/ns/default/sa/other"
t_config mesh.yaml < "$TOPO_DIR/mesh.yaml"; sleep 1.5

# plaintext to a STRICT workload: dropped at n2's tc; the mesh client still gets through (mTLS)
pa() { cat <<Y
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: $1
Y
}
pa STRICT | t_reconfig_peerauth pa.yaml || t_info "PeerAuthentication not applied everywhere"
d0=$(t_stat n2 mtls_required)
out=$(topo_node_run n1 "$TR_CLIENT" --connect "${T_V4[b3]}:8080" --tcp -n 2 --timeout 1500 --json 2>/dev/null)
d1=$(t_stat n2 mtls_required)
t_jq "STRICT: plaintext from n1's node (outside the mesh) to b3 gets nothing" "$out" '.ok == 0'
t_check "STRICT: dropped at tc and counted as mtls_required ($d0 -> $d1)" test "$d1" -gt "$d0"
t_client n1 client --connect "${T_V4[b3]}:8080" --tcp -n 5
t_jq "STRICT: the meshed client on n1 still reaches b3, through the tunnel" "$T_OUT" '.ok == 5 and .names.b3 == 5'
t_client n2 client2 --connect "${T_V4[b3]}:8080" --tcp -n 5
t_jq "STRICT: same-node client2 reaches b3 in clear (never leaves the node)" "$T_OUT" '.ok == 5'

pa PERMISSIVE | t_reconfig_peerauth pa.yaml || true
out=$(topo_node_run n1 "$TR_CLIENT" --connect "${T_V4[b3]}:8080" --tcp -n 2 --json 2>/dev/null)
t_jq "PERMISSIVE: plaintext from outside the mesh is accepted" "$out" '.ok == 2'

cat <<Y | t_reconfig_peerauth pa.yaml || true
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: web
  namespace: default
spec:
  selector:
    matchLabels:
      app: web
  mtls:
    mode: STRICT
  portLevelMtls:
    8080:
      mode: DISABLE
Y
s0=$(t_stat n1 tunnel_steered)
t_client n1 client --connect "${T_V4[b3]}:8080" --tcp -n 4
s1=$(t_stat n1 tunnel_steered)
t_jq "portLevelMtls DISABLE on 8080: the client reaches b3" "$T_OUT" '.ok == 4'
t_check "portLevelMtls DISABLE on 8080: not tunneled (steered $s0 -> $s1)" test "$s1" -eq "$s0"

# counting off (--no-l4-metrics) does not take the tunnel's hand-over away:
# sockops stays attached while mTLS is on
pa PERMISSIVE | t_reconfig_peerauth pa.yaml || true
topo_agent_stop n1 TERM
topo_agent n1 --certs "$(t_certs_dir n1)" --no-l4-metrics || t_abort agent-n1 "restart with --no-l4-metrics"
s0=$(t_stat n1 tunnel_steered)
t_client n1 client --connect "${T_V4[b3]}:8080" --tcp -n 4
s1=$(t_stat n1 tunnel_steered)
t_jq "--no-l4-metrics with mTLS: n1/client still reaches b3 through the tunnel" "$T_OUT" \
	'.ok == 4 and .names.b3 == 4'
t_check "--no-l4-metrics with mTLS: the connections were tunneled (steered $s0 -> $s1)" \
	test "$s1" -ge "$((s0 + 4))"

t_finish
