// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gen_services: N synthetic services, as Trestle manifests or as the
 * iptables-restore input kube-proxy's iptables mode would write for them.
 *
 *   gen_services yaml     --count N [--endpoints E] --out DIR [--per-file K]
 *   gen_services iptables --count N [--endpoints E] [--target T]
 *   gen_services vip      --index I
 *   gen_services policy   --count N [--endpoints E] --out DIR [--no-policy]
 *                         [--node NODE]
 *   gen_services local    [--endpoints E] --out DIR [--node NODE]
 *
 * Service i (1-based) is bench/svc-<i>, ClusterIP 10.96.0.0 + i, TCP port
 * 80 -> targetPort 8080; its E endpoints are 10.244.0.2 .. 10.244.0.(E+1),
 * the same for every service (the benchmark has one listener on *:8080).
 *
 * The iptables output follows kube-proxy (pkg/proxy/iptables/proxier.go):
 * nat OUTPUT and PREROUTING jump to KUBE-SERVICES, which holds one
 * "-d VIP/32 -p tcp --dport 80 -j KUBE-SVC-<hash>" rule per service in one
 * linear chain, then the KUBE-NODEPORTS rule last. KUBE-SVC-<hash> marks
 * for masquerade traffic from outside the cluster CIDR and picks an
 * endpoint with "-m statistic --mode random --probability 1/(E-k)";
 * KUBE-SEP-<hash> marks hairpin traffic and DNATs. The filter table gets
 * kube-proxy's fixed chains. Chain names are 16 base32 characters of a hash
 * of the service (and endpoint), like kube-proxy's, so iptables-restore
 * sees names of the real length.
 *
 * --target T puts service T's KUBE-SERVICES rule last among the service
 * rules (position N of N), the worst case for a linear chain; the other
 * services keep their order.
 *
 * policy: a meshed client, its backends and one AuthorizationPolicy of N
 * rules the compiler cannot collapse (N named source classes), for the policy
 * suite of scripts/bench. Into DIR it writes service 1 (as `yaml`) and:
 *   Pod bench/client    SA client, trestle.io/cgroup "client" (relative to
 *                       the agent's --cgroup), node NODE (default "bench",
 *                       so it is local), 10.244.0.1, app=bench-client
 *   Pod bench/outsider  SA outsider, cgroup "outsider", node NODE,
 *                       10.244.1.1: a local workload no rule names
 *   Pod bench/backend-K K = 1..E, SA backend, node "bench-peer",
 *                       10.244.0.(K+1) (service 1's endpoints),
 *                       app=bench-backend
 *   Pod bench/peer-I    I = 1..N-1, SA peer-I (one principal each), node
 *                       "bench-peer", 10.245.0.0 + I, app=bench-peer
 *   AuthorizationPolicy bench/backend-allow (unless --no-policy): selector
 *                       app=bench-backend, ALLOW, N rules, rule i naming
 *                       one principal (cluster.local/ns/bench/sa/peer-I);
 *                       the client's own rule is rule (N+1)/2, in the
 *                       middle. No rule names a port: the client's verdict
 *                       is the (dst, src, 0) entry, the second of the three
 *                       lookups.
 * --no-policy writes the same Pods and service without the policy (the
 * baseline).
 *
 * local: both ends of a connection are workloads of this node, for the
 * metrics suite of scripts/bench (counters on against off). Into DIR it
 * writes service 1 (as `yaml`, E endpoints) and:
 *   Pod bench/client    SA client, trestle.io/cgroup "client", node NODE,
 *                       10.244.0.1, app=bench-client
 *   Pod bench/server-K  K = 1..E, SA server, trestle.io/cgroup "server"
 *                       (E = 1) or "server-K", node NODE, 10.244.0.(K+1)
 *                       (service 1's endpoints), app=bench-server
 * No AuthorizationPolicy.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CLUSTER_CIDR "10.244.0.0/16"
#define SVC_PORT 80
#define TARGET_PORT 8080
#define MAX_ENDPOINTS 250
#define MAX_COUNT 1000000 /* 10.96.0.0/12 holds 2^20 addresses */
#define MAX_RULES 65000   /* peer Pods live in 10.245.0.0/16; rule ids are u16 */
#define PODS_PER_FILE 1000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gen_services yaml --count N [--endpoints E] --out DIR [--per-file K]\n"
		"       gen_services iptables --count N [--endpoints E] [--target T]\n"
		"       gen_services vip --index I\n"
		"       gen_services policy --count N [--endpoints E] --out DIR [--no-policy] [--node NODE]\n"
		"       gen_services local [--endpoints E] --out DIR [--node NODE]\n");
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* 16 base32 characters (80 bits) naming a chain, like kube-proxy's. */
static void chain_hash(const char *what, char out[17])
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint64_t a = fnv1a(what, 0xcbf29ce484222325ull);
	uint64_t b = fnv1a(what, a ^ 0x9e3779b97f4a7c15ull);
	int i;

	for (i = 0; i < 12; i++, a >>= 5)
		out[i] = b32[a & 31];
	for (; i < 16; i++, b >>= 5)
		out[i] = b32[b & 31];
	out[16] = '\0';
}

static void vip_of(long i, char *buf, size_t len)
{
	uint32_t a = (10u << 24) | (96u << 16);

	a += (uint32_t)i;
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static void svc_name(long i, char *buf, size_t len)
{
	snprintf(buf, len, "svc-%06ld", i);
}

static int gen_yaml(long count, int endpoints, const char *dir, long per_file)
{
	char path[4096], vip[32], name[32];
	FILE *f = NULL;
	long i;
	int e;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "gen_services: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	for (i = 1; i <= count; i++) {
		if ((i - 1) % per_file == 0) {
			if (f && fclose(f)) {
				fprintf(stderr, "gen_services: cannot write %s: %s\n", path, strerror(errno));
				return 1;
			}
			snprintf(path, sizeof(path), "%s/bench-%06ld.yaml", dir, (i - 1) / per_file);
			f = fopen(path, "w");
			if (!f) {
				fprintf(stderr, "gen_services: cannot create %s: %s\n", path, strerror(errno));
				return 1;
			}
		} else {
			fputs("---\n", f);
		}
		vip_of(i, vip, sizeof(vip));
		svc_name(i, name, sizeof(name));
		fprintf(f,
			"apiVersion: v1\n"
			"kind: Service\n"
			"metadata: {name: %s, namespace: bench}\n"
			"spec:\n"
			"  clusterIP: %s\n"
			"  ports: [{name: http, protocol: TCP, port: %d, targetPort: %d}]\n"
			"---\n"
			"apiVersion: discovery.k8s.io/v1\n"
			"kind: EndpointSlice\n"
			"metadata: {name: %s-abcde, namespace: bench, "
			"labels: {kubernetes.io/service-name: %s}}\n"
			"addressType: IPv4\n"
			"ports: [{name: http, protocol: TCP, port: %d}]\n"
			"endpoints:\n",
			name, vip, SVC_PORT, TARGET_PORT, name, name, TARGET_PORT);
		for (e = 0; e < endpoints; e++)
			fprintf(f, "- {addresses: [10.244.0.%d], conditions: {ready: true}}\n", e + 2);
	}
	if (f && fclose(f)) {
		fprintf(stderr, "gen_services: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

static void svc_chain(long i, char out[17])
{
	char key[64];

	snprintf(key, sizeof(key), "bench/svc-%06ld:http/tcp", i);
	chain_hash(key, out);
}

static void sep_chain(long i, int e, char out[17])
{
	char key[96];

	snprintf(key, sizeof(key), "bench/svc-%06ld:http/tcp/10.244.0.%d:%d", i, e + 2, TARGET_PORT);
	chain_hash(key, out);
}

static void services_rule(long i)
{
	char vip[32], name[32], h[17];

	vip_of(i, vip, sizeof(vip));
	svc_name(i, name, sizeof(name));
	svc_chain(i, h);
	printf("-A KUBE-SERVICES -m comment --comment \"bench/%s:http cluster IP\" "
	       "-m tcp -p tcp -d %s/32 --dport %d -j KUBE-SVC-%s\n",
	       name, vip, SVC_PORT, h);
}

static int gen_iptables(long count, int endpoints, long target)
{
	char vip[32], name[32], h[17], sh[17];
	long i;
	int e;

	/* filter: kube-proxy's fixed chains (no service here lacks endpoints). */
	printf("*filter\n"
	       ":KUBE-SERVICES - [0:0]\n"
	       ":KUBE-EXTERNAL-SERVICES - [0:0]\n"
	       ":KUBE-FORWARD - [0:0]\n"
	       ":KUBE-NODEPORTS - [0:0]\n"
	       ":KUBE-PROXY-FIREWALL - [0:0]\n"
	       ":KUBE-FIREWALL - [0:0]\n"
	       "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
	       "-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS\n"
	       "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n"
	       "-A INPUT -j KUBE-FIREWALL\n"
	       "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
	       "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n"
	       "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
	       "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n"
	       "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
	       "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
	       "-A OUTPUT -j KUBE-FIREWALL\n"
	       "-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n"
	       "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
	       "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
	       "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
	       "COMMIT\n");

	printf("*nat\n"
	       ":KUBE-SERVICES - [0:0]\n"
	       ":KUBE-POSTROUTING - [0:0]\n"
	       ":KUBE-NODEPORTS - [0:0]\n"
	       ":KUBE-MARK-MASQ - [0:0]\n");
	for (i = 1; i <= count; i++) {
		svc_chain(i, h);
		printf(":KUBE-SVC-%s - [0:0]\n", h);
		for (e = 0; e < endpoints; e++) {
			sep_chain(i, e, h);
			printf(":KUBE-SEP-%s - [0:0]\n", h);
		}
	}
	printf("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
	       "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
	       "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
	       "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
	       "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
	       "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"
	       "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n");
	for (i = 1; i <= count; i++) {
		vip_of(i, vip, sizeof(vip));
		svc_name(i, name, sizeof(name));
		svc_chain(i, h);
		printf("-A KUBE-SVC-%s -m comment --comment \"bench/%s:http cluster IP\" "
		       "-m tcp -p tcp -d %s/32 --dport %d ! -s %s -j KUBE-MARK-MASQ\n",
		       h, name, vip, SVC_PORT, CLUSTER_CIDR);
		for (e = 0; e < endpoints; e++) {
			sep_chain(i, e, sh);
			printf("-A KUBE-SVC-%s -m comment --comment \"bench/%s:http -> 10.244.0.%d:%d\"",
			       h, name, e + 2, TARGET_PORT);
			if (e < endpoints - 1)
				printf(" -m statistic --mode random --probability %.10f",
				       1.0 / (double)(endpoints - e));
			printf(" -j KUBE-SEP-%s\n", sh);
		}
		for (e = 0; e < endpoints; e++) {
			sep_chain(i, e, sh);
			printf("-A KUBE-SEP-%s -m comment --comment bench/%s:http -s 10.244.0.%d/32 -j KUBE-MARK-MASQ\n",
			       sh, name, e + 2);
			printf("-A KUBE-SEP-%s -m comment --comment bench/%s:http -m tcp -p tcp "
			       "-j DNAT --to-destination 10.244.0.%d:%d\n",
			       sh, name, e + 2, TARGET_PORT);
		}
	}
	for (i = 1; i <= count; i++)
		if (i != target)
			services_rule(i);
	if (target >= 1 && target <= count)
		services_rule(target);
	printf("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" "
	       "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"
	       "COMMIT\n");
	return ferror(stdout) ? 1 : 0;
}

static void pod_yaml(FILE *f, const char *name, const char *sa, const char *cgroup,
		     const char *app, const char *node, const char *ip)
{
	fprintf(f,
		"---\n"
		"apiVersion: v1\n"
		"kind: Pod\n"
		"metadata:\n"
		"  name: %s\n"
		"  namespace: bench\n",
		name);
	if (cgroup)
		fprintf(f, "  annotations: {trestle.io/cgroup: %s}\n", cgroup);
	fprintf(f,
		"  labels: {app: %s}\n"
		"spec: {serviceAccountName: %s, nodeName: %s}\n"
		"status: {podIP: %s, podIPs: [{ip: %s}]}\n",
		app, sa, node, ip, ip);
}

static FILE *open_in(const char *dir, const char *name, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "gen_services: cannot create %s: %s\n", path, strerror(errno));
	return f;
}

static int close_checked(FILE *f, const char *path)
{
	if (ferror(f) | fclose(f)) {
		fprintf(stderr, "gen_services: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

static void peer_name(long i, char *buf, size_t len)
{
	snprintf(buf, len, "peer-%06ld", i);
}

/* See the header comment: `policy` mode. */
static int gen_policy(long rules, int endpoints, const char *dir, bool with_policy,
		      const char *node)
{
	char path[4096], name[64], ip[32], fname[64];
	long client_rule = (rules + 1) / 2, i, r;
	FILE *f;
	int e;

	if (gen_yaml(1, endpoints, dir, 1000))
		return 1;
	f = open_in(dir, "pods-local.yaml", path, sizeof(path));
	if (!f)
		return 1;
	pod_yaml(f, "client", "client", "client", "bench-client", node, "10.244.0.1");
	pod_yaml(f, "outsider", "outsider", "outsider", "bench-outsider", node, "10.244.1.1");
	for (e = 0; e < endpoints; e++) {
		snprintf(name, sizeof(name), "backend-%d", e + 1);
		snprintf(ip, sizeof(ip), "10.244.0.%d", e + 2);
		pod_yaml(f, name, "backend", NULL, "bench-backend", "bench-peer", ip);
	}
	if (close_checked(f, path))
		return 1;
	f = NULL;
	for (i = 1; i < rules; i++) {
		if ((i - 1) % PODS_PER_FILE == 0) {
			if (f && close_checked(f, path))
				return 1;
			snprintf(fname, sizeof(fname), "pods-peer-%03ld.yaml", (i - 1) / PODS_PER_FILE);
			f = open_in(dir, fname, path, sizeof(path));
			if (!f)
				return 1;
		}
		peer_name(i, name, sizeof(name));
		snprintf(ip, sizeof(ip), "10.245.%ld.%ld", i / 256, i % 256);
		pod_yaml(f, name, name, NULL, "bench-peer", "bench-peer", ip);
	}
	if (f && close_checked(f, path))
		return 1;
	if (!with_policy)
		return 0;
	f = open_in(dir, "authz.yaml", path, sizeof(path));
	if (!f)
		return 1;
	fprintf(f,
		"apiVersion: security.istio.io/v1\n"
		"kind: AuthorizationPolicy\n"
		"metadata: {name: backend-allow, namespace: bench}\n"
		"spec:\n"
		"  selector: {matchLabels: {app: bench-backend}}\n"
		"  action: ALLOW\n"
		"  rules:\n");
	/* rule r (1-based) names peer r, or peer r-1 after the client's rule */
	for (r = 1, i = 1; r <= rules; r++) {
		if (r == client_rule) {
			snprintf(name, sizeof(name), "client");
		} else {
			peer_name(i++, name, sizeof(name));
		}
		fprintf(f, "  - from: [{source: {principals: [\"cluster.local/ns/bench/sa/%s\"]}}]\n",
			name);
	}
	return close_checked(f, path);
}

/* See the header comment: `local` mode. */
static int gen_local(int endpoints, const char *dir, const char *node)
{
	char path[4096], name[64], ip[32], cg[64];
	FILE *f;
	int e;

	if (gen_yaml(1, endpoints, dir, 1000))
		return 1;
	f = open_in(dir, "pods-local.yaml", path, sizeof(path));
	if (!f)
		return 1;
	pod_yaml(f, "client", "client", "client", "bench-client", node, "10.244.0.1");
	for (e = 0; e < endpoints; e++) {
		snprintf(name, sizeof(name), "server-%d", e + 1);
		if (endpoints == 1)
			snprintf(cg, sizeof(cg), "server");
		else
			snprintf(cg, sizeof(cg), "server-%d", e + 1);
		snprintf(ip, sizeof(ip), "10.244.0.%d", e + 2);
		pod_yaml(f, name, "server", cg, "bench-server", node, ip);
	}
	return close_checked(f, path);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "endpoints", required_argument, NULL, 'e' },
		{ "out", required_argument, NULL, 'o' },
		{ "per-file", required_argument, NULL, 'p' },
		{ "target", required_argument, NULL, 't' },
		{ "index", required_argument, NULL, 'i' },
		{ "no-policy", no_argument, NULL, 'P' },
		{ "node", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	long count = -1, per_file = 1000, target = 0, index = 0;
	int endpoints = 2;
	const char *out = NULL, *mode, *node = "bench";
	bool with_policy = true;
	char vip[32];
	int c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "n:e:o:p:t:i:PN:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			count = atol(optarg);
			break;
		case 'e':
			endpoints = atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		case 'p':
			per_file = atol(optarg);
			break;
		case 't':
			target = atol(optarg);
			break;
		case 'i':
			index = atol(optarg);
			break;
		case 'P':
			with_policy = false;
			break;
		case 'N':
			node = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || endpoints < 1 || endpoints > MAX_ENDPOINTS || per_file < 1) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(mode, "vip")) {
		if (index < 1 || index > MAX_COUNT) {
			fprintf(stderr, "gen_services: --index must be 1..%d\n", MAX_COUNT);
			return 2;
		}
		vip_of(index, vip, sizeof(vip));
		printf("%s\n", vip);
		return 0;
	}
	if (!strcmp(mode, "local")) {
		if (!out) {
			fprintf(stderr, "gen_services: local needs --out DIR\n");
			return 2;
		}
		return gen_local(endpoints, out, node);
	}
	if (!strcmp(mode, "policy")) {
		if (count < 1 || count > MAX_RULES || !out) {
			fprintf(stderr, "gen_services: policy needs --count 1..%d and --out DIR\n",
				MAX_RULES);
			return 2;
		}
		return gen_policy(count, endpoints, out, with_policy, node);
	}
	if (count < 1 || count > MAX_COUNT) {
		fprintf(stderr, "gen_services: --count must be 1..%d\n", MAX_COUNT);
		return 2;
	}
	if (!strcmp(mode, "yaml")) {
		if (!out) {
			usage(stderr);
			return 2;
		}
		return gen_yaml(count, endpoints, out, per_file);
	}
	if (!strcmp(mode, "iptables"))
		return gen_iptables(count, endpoints, target);
	usage(stderr);
	return 2;
}
