// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestled: the Trestle node agent.
 *
 * Loads and attaches the BPF programs, turns the manifests of the config
 * directory into map entries and keeps them current: inotify and SIGHUP
 * trigger a reload; a refused configuration leaves the running one active.
 * SIGTERM exits and leaves the data path working on the last configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/vfs.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/redir.h>
#include <trestle/tunnel.h>

#include "abi_fmt.h"
#include "agent_stats.h"
#include "audit.h"
#include "certstore.h"
#include "compile.h"
#include "config.h"
#include "ctl.h"
#include "flowlog.h"
#include "loader.h"
#include "log.h"
#include "maps.h"
#include "metrics.h"
#include "metrics_tls.h"
#include "netdev.h"
#include "policy.h"
#include "polmaps.h"
#include "tls_ctx.h"
#include "trestle_version.h"
#include "tundir.h"
#include "tunmaps.h"
#include "tunnel.h"
#include "watch.h"
#include "uplink.h"

#define DEFAULT_CONFIG_DIR "/etc/trestle/mesh.d"
#define DEFAULT_RUN_DIR "/run/trestle"
#define DEFAULT_CERTS_DIR "/etc/trestle/certs"
#define DEBOUNCE_MS 200
#define MAX_UPLINKS 8
#define WATCH_RETRY_MS 2000

struct options {
	const char *config_dir;
	const char *bpffs;
	const char *cgroup;
	const char *run_dir;
	char node[256];
	bool flow_log_allow;
	struct rotlog_limits flow_log;  /* --flow-log-max-bytes, --flow-log-keep */
	struct rotlog_limits audit_log; /* --audit-log-max-bytes, --audit-log-keep */
	bool no_l4_metrics;
	const char *metrics_addr; /* --metrics-addr, "none" = no HTTP endpoint */
	enum log_format log_format;
	bool verbose;
	bool cleanup;
	const char *certs_dir;   /* --certs */
	struct tls_opts tls;     /* --fips[=require] */
	bool no_ktls;            /* --no-ktls: records in userspace even with kTLS */
	unsigned int redirect;   /* --redirect: TR_REDIR_* */
	unsigned int redirect_bulk; /* --redirect-bulk-bytes, 0 = default */
	const char *uplinks[MAX_UPLINKS]; /* --uplink: XDP load balancer devices */
	size_t n_uplinks;
	uint32_t xdp_flows;      /* --xdp-flows: LRU entries per table, 0 = default */
};

struct agent {
	struct options opt;
	struct tr_loader loader;
	struct tr_applied state;
	struct polmaps_state pstate;
	struct tr_watch watch;
	struct netdev netdev;
	struct flowlog flows;
	struct audit audit;
	struct tr_config running; /* the last accepted configuration */
	bool have_running;
	int sig_fd, timer_fd, epoll_fd;
	/* mTLS: NULL certs = off (no certificate directory) */
	struct certstore *certs;
	struct tunnel_svc *tunnels;
	struct tunmaps tmaps;
	struct ctl *ctl;
	char trust_domain[128];
	struct uplink uplink; /* the uplink load balancer (--uplink) */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: trestled [OPTIONS]\n"
		"       trestled --cleanup [--bpffs DIR] [--cgroup DIR]\n"
		"\n"
		"The Trestle node agent: loads the eBPF data path, fills its maps from the\n"
		"mesh manifests in the config directory, and keeps them current.\n"
		"\n"
		"Options:\n"
		"  -c, --config DIR       manifests directory (default " DEFAULT_CONFIG_DIR ")\n"
		"  -b, --bpffs DIR        pin directory on a bpf filesystem (default " TR_DEFAULT_BPFFS ")\n"
		"  -g, --cgroup DIR       cgroup v2 directory to attach to (default: the cgroup v2 root)\n"
		"  -n, --node NAME        this node's name (default: the host name)\n"
		"  -r, --run-dir DIR      runtime directory: flow log, audit log (default " DEFAULT_RUN_DIR ")\n"
		"      --certs DIR        mTLS certificates: DIR/ca.crt (trust bundle) and\n"
		"                         DIR/NAMESPACE/SERVICEACCOUNT.{crt,key} (default " DEFAULT_CERTS_DIR ";\n"
		"                         no such directory: mTLS off)\n"
		"      --fips[=require]   FIPS-approved TLS only (TLS 1.3, AES-GCM, P-256/P-384); the OpenSSL\n"
		"                         FIPS provider is used where installed, =require refuses to start without it\n"
		"      --no-ktls          seal tunnel records with OpenSSL even where the kernel has kTLS\n"
		"      --flow-log-allow   also log allowed connections (denies and audits always are)\n"
		"      --flow-log-max-bytes SIZE  rotate flows.jsonl at SIZE (K, M, G suffixes; default 16M; 0: never)\n"
		"      --flow-log-keep N  rotated flow logs kept, gzipped (default 5)\n"
		"      --audit-log-max-bytes SIZE  rotate audit.jsonl at SIZE (default 16M; 0: never)\n"
		"      --audit-log-keep N rotated audit logs kept, gzipped (default 5)\n"
		"      --no-l4-metrics    do not count connections and bytes in the kernel\n"
		"      --redirect MODE    same-node socket redirection: off (default), on, auto (on, except\n"
		"                         to server endpoints recently seen carrying bulk); see README\n"
		"      --redirect-bulk-bytes SIZE  auto: bytes one end may send while the other sends\n"
		"                         nothing before the connection leaves redirection (default 256K)\n"
		"      --uplink DEV       balance traffic from outside the node to LoadBalancer, externalIPs and\n"
		"                         NodePort addresses with XDP on DEV (repeatable, at most 8)\n"
		"      --xdp-flows N      flows each of the uplink's connection tables holds, per family\n"
		"                         (default 131072; 1024..16777216)\n"
		"      --metrics-addr A:P serve /metrics, /healthz, /readyz on A:P ([V6]:P; default " METRICS_DEFAULT_ADDR "; none: off)\n"
		"      --log-format FMT   text or json (default text)\n"
		"  -v, --verbose          debug logging, including libbpf's\n"
		"      --cleanup          detach and remove everything pinned under --bpffs, then exit\n"
		"  -h, --help             this help\n"
		"  -V, --version          print the version\n"
		"\n"
		"Signals: SIGHUP reloads the configuration; SIGTERM/SIGINT exit and leave the\n"
		"data path running on the last configuration (a restarted agent adopts it).\n");
}

static const char *default_cgroup(void)
{
	struct statfs st;

	if (!statfs("/sys/fs/cgroup/unified", &st) &&
	    (unsigned long)st.f_type == CGROUP2_SUPER_MAGIC)
		return "/sys/fs/cgroup/unified";
	return "/sys/fs/cgroup";
}

/* "1048576", "512K", "16M", "1G" (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (*end || v > (~0ULL >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* A decimal number from min to max. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned int *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_LOG_FORMAT = 256, OPT_CLEANUP, OPT_FLOW_ALLOW, OPT_NO_L4,
	       OPT_FLOW_MAX, OPT_FLOW_KEEP, OPT_AUDIT_MAX, OPT_AUDIT_KEEP, OPT_METRICS_ADDR,
	       OPT_CERTS, OPT_FIPS, OPT_NO_KTLS, OPT_REDIRECT, OPT_REDIRECT_BULK, OPT_UPLINK,
	       OPT_XDP_FLOWS };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "bpffs", required_argument, NULL, 'b' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "node", required_argument, NULL, 'n' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "flow-log-allow", no_argument, NULL, OPT_FLOW_ALLOW },
		{ "flow-log-max-bytes", required_argument, NULL, OPT_FLOW_MAX },
		{ "flow-log-keep", required_argument, NULL, OPT_FLOW_KEEP },
		{ "audit-log-max-bytes", required_argument, NULL, OPT_AUDIT_MAX },
		{ "audit-log-keep", required_argument, NULL, OPT_AUDIT_KEEP },
		{ "no-l4-metrics", no_argument, NULL, OPT_NO_L4 },
		{ "metrics-addr", required_argument, NULL, OPT_METRICS_ADDR },
		{ "certs", required_argument, NULL, OPT_CERTS },
		{ "fips", optional_argument, NULL, OPT_FIPS },
		{ "no-ktls", no_argument, NULL, OPT_NO_KTLS },
		{ "redirect", required_argument, NULL, OPT_REDIRECT },
		{ "redirect-bulk-bytes", required_argument, NULL, OPT_REDIRECT_BULK },
		{ "uplink", required_argument, NULL, OPT_UPLINK },
		{ "xdp-flows", required_argument, NULL, OPT_XDP_FLOWS },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "cleanup", no_argument, NULL, OPT_CLEANUP },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	int c;

	o->config_dir = DEFAULT_CONFIG_DIR;
	o->bpffs = TR_DEFAULT_BPFFS;
	o->run_dir = DEFAULT_RUN_DIR;
	o->cgroup = NULL;
	o->log_format = LOG_FORMAT_TEXT;
	o->metrics_addr = METRICS_DEFAULT_ADDR;
	o->certs_dir = DEFAULT_CERTS_DIR;
	o->redirect = TR_REDIR_OFF;
	o->flow_log = o->audit_log = (struct rotlog_limits){ ROTLOG_DEFAULT_MAX_BYTES,
							     ROTLOG_DEFAULT_KEEP };
	if (gethostname(o->node, sizeof(o->node)))
		snprintf(o->node, sizeof(o->node), "localhost");

	while ((c = getopt_long(argc, argv, "c:b:g:n:r:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config_dir = optarg;
			break;
		case 'b':
			o->bpffs = optarg;
			break;
		case 'g':
			o->cgroup = optarg;
			break;
		case 'n':
			snprintf(o->node, sizeof(o->node), "%s", optarg);
			break;
		case 'r':
			o->run_dir = optarg;
			break;
		case OPT_FLOW_ALLOW:
			o->flow_log_allow = true;
			break;
		case OPT_NO_L4:
			o->no_l4_metrics = true;
			break;
		case OPT_CERTS:
			o->certs_dir = optarg;
			break;
		case OPT_FIPS:
			o->tls.fips = true;
			if (optarg && !strcmp(optarg, "require")) {
				o->tls.fips_require = true;
			} else if (optarg) {
				fprintf(stderr, "trestled: --fips takes no value or '=require', not '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_NO_KTLS:
			o->no_ktls = true;
			break;
		case OPT_REDIRECT: {
			int mode = abi_redir_mode_parse(optarg);

			if (mode < 0) {
				fprintf(stderr, "trestled: --redirect takes auto, on or off, not '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->redirect = (unsigned int)mode;
			break;
		}
		case OPT_REDIRECT_BULK: {
			uint64_t v;

			if (parse_size(optarg, &v) || !v || v > UINT32_MAX) {
				fprintf(stderr, "trestled: --redirect-bulk-bytes takes a size from 1 to 4G-1 like 65536, 64K or 1M, not '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->redirect_bulk = (unsigned int)v;
			break;
		}
		case OPT_UPLINK:
			if (!*optarg || strlen(optarg) >= 16 || strchr(optarg, '/')) {
				fprintf(stderr, "trestled: --uplink takes a device name, not '%s'\n",
					optarg);
				return -EINVAL;
			}
			if (o->n_uplinks == MAX_UPLINKS) {
				fprintf(stderr, "trestled: at most %d --uplink devices\n", MAX_UPLINKS);
				return -EINVAL;
			}
			for (size_t i = 0; i < o->n_uplinks; i++)
				if (!strcmp(o->uplinks[i], optarg)) {
					fprintf(stderr, "trestled: --uplink %s given twice\n", optarg);
					return -EINVAL;
				}
			o->uplinks[o->n_uplinks++] = optarg;
			break;
		case OPT_XDP_FLOWS: {
			unsigned int v;

			if (parse_uint(optarg, 1024, 16777216, &v)) {
				fprintf(stderr, "trestled: --xdp-flows takes 1024 .. 16777216, not '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->xdp_flows = v;
			break;
		}
		case OPT_METRICS_ADDR: {
			struct sockaddr_storage ss;
			socklen_t len;

			if (metrics_parse_addr(optarg, &ss, &len) < 0) {
				fprintf(stderr, "trestled: --metrics-addr takes A.B.C.D:PORT, [V6]:PORT or none, not '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->metrics_addr = optarg;
			break;
		}
		case OPT_FLOW_MAX:
		case OPT_AUDIT_MAX:
			if (parse_size(optarg, c == OPT_FLOW_MAX ? &o->flow_log.max_bytes :
						      &o->audit_log.max_bytes)) {
				fprintf(stderr, "trestled: --%s-log-max-bytes takes a size like 1048576, 512K or 16M, not '%s'\n",
					c == OPT_FLOW_MAX ? "flow" : "audit", optarg);
				return -EINVAL;
			}
			break;
		case OPT_FLOW_KEEP:
		case OPT_AUDIT_KEEP:
			if (parse_uint(optarg, 0, ROTLOG_MAX_KEEP,
				       c == OPT_FLOW_KEEP ? &o->flow_log.keep : &o->audit_log.keep)) {
				fprintf(stderr, "trestled: --%s-log-keep takes 0 .. %d, not '%s'\n",
					c == OPT_FLOW_KEEP ? "flow" : "audit", ROTLOG_MAX_KEEP, optarg);
				return -EINVAL;
			}
			break;
		case OPT_LOG_FORMAT:
			if (!strcmp(optarg, "text"))
				o->log_format = LOG_FORMAT_TEXT;
			else if (!strcmp(optarg, "json"))
				o->log_format = LOG_FORMAT_JSON;
			else {
				fprintf(stderr, "trestled: --log-format takes 'text' or 'json', not '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'v':
			o->verbose = true;
			break;
		case OPT_CLEANUP:
			o->cleanup = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("trestled %s (libbpf %s)\n", TRESTLE_VERSION, libbpf_version_string());
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "trestled: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->cgroup)
		o->cgroup = default_cgroup();
	return 0;
}

static void log_diags(const struct tr_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->items[i]);

		log_msg(d->items[i].level == TR_DIAG_ERROR ? LOG_ERROR : LOG_WARN, "%s",
			s ? s : d->items[i].message);
		free(s);
	}
}

/*
 * What this node knows of its workloads beyond the manifests: the host-side
 * device (a route lookup of the workload's address) and the cgroup id of
 * its trestle.io/cgroup directory. Also collects the devices for tc.
 */
static int policy_runtime(struct agent *a, const struct tr_policy_compiled *pc,
			  struct pol_runtime **rt_out, uint32_t **devs, size_t *n_devs,
			  uint64_t *hash)
{
	struct pol_runtime *rt = calloc(pc->n_workloads + 1, sizeof(*rt));
	uint32_t *d = calloc(pc->n_workloads + 1, sizeof(*d));
	size_t nd = 0;

	if (!rt || !d) {
		free(rt);
		free(d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pc->n_workloads; i++) {
		const struct tr_pod *pod = pc->workloads[i].pod;
		int err;

		if (!pc->workloads[i].local)
			continue;
		if (pod->n_ips) {
			err = netdev_workload_dev(&a->netdev, &pod->ips[0], &rt[i].ifindex);
			if (err) {
				char ip[64];

				log_warn("Pod %s/%s: %s %s on this node; its traffic is checked at the socket hooks only",
					 pod->ns, pod->name,
					 err == -EMEDIUMTYPE ? "the device routing to" :
					 "no direct route to",
					 tr_ip_str(&pod->ips[0], ip, sizeof(ip)));
				if (err == -EMEDIUMTYPE)
					log_warn("  (hint: a workload's host-side device must be a veth or netkit; tc is never attached to other devices)");
				rt[i].ifindex = 0;
			} else {
				d[nd++] = rt[i].ifindex;
			}
		}
		if (pod->cgroup) {
			char path[4096];
			struct stat st;

			snprintf(path, sizeof(path), "%s/%s", a->opt.cgroup, pod->cgroup);
			if (stat(path, &st))
				log_warn("Pod %s/%s: cgroup %s: %s; its connects are checked at the destination only",
					 pod->ns, pod->name, path, strerror(errno));
			else
				rt[i].cgroup_id = (uint64_t)st.st_ino; /* cgroup v2 id */
		}
		*hash = (*hash ^ rt[i].ifindex) * 0x100000001b3ULL;
		*hash = (*hash ^ rt[i].cgroup_id) * 0x100000001b3ULL;
	}
	*rt_out = rt;
	*devs = d;
	*n_devs = nd;
	return 0;
}

/* Apply identities and authorization; returns 0 or -errno (logged). */
static int apply_policy(struct agent *a, const struct tr_config *cfg,
			const struct tr_policy_compiled *pc)
{
	struct pol_runtime *rt = NULL;
	uint32_t *devs = NULL;
	size_t n_devs = 0;
	uint64_t hash = pc->hash ^ (a->opt.flow_log_allow ? 0x5bd1e995ULL : 0);
	struct polmaps_result res;
	char msg[512];
	int err;

	err = policy_runtime(a, pc, &rt, &devs, &n_devs, &hash);
	if (err)
		return err;
	/* tc on the devices first, so no new workload runs a moment unchecked */
	loader_tc_sync(&a->loader, devs, n_devs);
	uplink_workload_devs(&a->uplink, devs, n_devs);
	if (hash == a->pstate.hash) {
		err = 0;
		goto out;
	}
	err = polmaps_apply(&a->loader.pfds, &a->pstate, cfg, pc, rt,
			    a->opt.flow_log_allow ? TR_POL_F_LOG_ALLOW : 0, &res, msg,
			    sizeof(msg));
	loader_ends_changed(&a->loader); /* workload addresses (tr_wl_addr) */
	if (err) {
		log_error("authorization refused: %s; policy epoch %u stays active", msg,
			  a->pstate.epoch);
		agent_stats_map_failure(res.failed_map);
		goto out;
	}
	a->pstate.hash = hash;
	atomic_store(&agent_stats.policy_epoch, a->pstate.epoch);
	log_info("authorization applied: epoch %u (%zu workloads, %zu policies, %zu+%zu classes, %zu verdicts, %zu addresses, %zu cgroups, tc on %zu devices)",
		 res.epoch, pc->n_workloads, pc->n_policies, res.classes_src, res.classes_dst,
		 res.verdicts, res.addresses, res.cgroups, n_devs);
out:
	free(rt);
	free(devs);
	return err;
}

/* The audit record of one reload attempt (nothing for an accepted one that
 * changes no object). cfg: the new configuration, NULL if it did not load. */
static void audit_reload(struct agent *a, const struct tr_config *cfg,
			 unsigned long long gen, bool accepted, const char *reason,
			 const struct tr_diags *diags, const char *why)
{
	struct audit_event ev = {
		.generation = gen,
		.accepted = accepted,
		.reason = reason,
		.trigger = why,
		.diags = diags,
	};

	audit_record(&a->audit, a->have_running ? &a->running : NULL, cfg, &ev);
}

/*
 * The tunnels' view of an accepted configuration: trust domain, the
 * snapshot of Pods and Nodes, steering with this node's addresses, and the
 * PeerAuthentication modes (written even with mTLS off: STRICT then drops
 * what arrives in clear from other nodes, as it should).
 */
static void apply_tunnels(struct agent *a, const struct tr_config *cfg)
{
	size_t changed = 0;
	char msg[256];

	if (a->tmaps.cfg < 0)
		return;
	if (tunmaps_sync_peerauth(&a->tmaps, cfg, &a->pstate.workloads, &changed, msg,
				  sizeof(msg)))
		log_error("PeerAuthentication not fully applied: %s", msg);
	if (!a->certs) {
		tunmaps_set_cfg(&a->tmaps, cfg, a->opt.node, false);
		goto out;
	}
	if (strcmp(a->trust_domain, cfg->mesh.trust_domain)) {
		snprintf(a->trust_domain, sizeof(a->trust_domain), "%s", cfg->mesh.trust_domain);
		certstore_set_trust_domain(a->certs, a->trust_domain);
	}
	if (a->tunnels) {
		struct tun_dir *d = tun_dir_build(cfg, &a->pstate.workloads, a->opt.node);

		if (d)
			tunnel_set_dir(a->tunnels, d);
		else
			log_error("out of memory building the tunnels' view of the mesh");
	}
	tunmaps_set_cfg(&a->tmaps, cfg, a->opt.node, a->tunnels != NULL);
out:
	/* said once the modes are live: they move neither the generation
	 * nor the policy epoch, so this line is how a change is seen */
	if (changed)
		log_info("PeerAuthentication applied: %zu (workload, port) modes other than PERMISSIVE, %zu changed",
			 a->tmaps.n_pa, changed);
}

/* Read, validate, compile and apply the configuration. Never fatal. */
static void reload(struct agent *a, const char *why)
{
	struct tr_policy_compiled pcomp = {};
	unsigned long long gen = (unsigned long long)a->state.meta.generation;
	struct tr_config cfg = {};
	struct tr_diags diags = {};
	struct tr_compiled comp = {};
	struct apply_result res;
	struct timespec t0, t1;
	bool loaded, accepted = false;
	char msg[512];
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	log_debug("reloading %s (%s)", a->opt.config_dir, why);
	err = config_load_dir(a->opt.config_dir, &cfg, &diags);
	loaded = !err;
	if (!err)
		err = compile_config(&cfg, &comp, &diags);
	if (!err)
		err = policy_compile(&cfg, a->opt.node, &pcomp, &diags);
	log_diags(&diags);
	if (err) {
		log_error("configuration refused: %zu error%s in %s; generation %llu stays active",
			  diags.n_errors, diags.n_errors == 1 ? "" : "s", a->opt.config_dir, gen);
		snprintf(msg, sizeof(msg), "%zu error%s in %s", diags.n_errors,
			 diags.n_errors == 1 ? "" : "s", a->opt.config_dir);
		agent_stats_set_last_error(msg);
		agent_stats_reload(RELOAD_REFUSED);
		audit_reload(a, loaded ? &cfg : NULL, gen, false, msg, &diags, why);
		goto out;
	}
	/* authorization first: a new workload is never reachable unchecked */
	apply_policy(a, &cfg, &pcomp);
	if (gen && comp.hash == a->state.meta.config_hash) {
		log_info("configuration unchanged: generation %llu (%zu service ports, %zu backends)",
			 gen, comp.n_services, comp.n_backends);
		/* devices may have changed (netlink): local backends follow */
		uplink_apply(&a->uplink, &cfg, &comp, &a->state, a->opt.node);
		atomic_store(&agent_stats.config_loaded, true);
		agent_stats_reload(RELOAD_UNCHANGED);
		/* recorded when an object changed (authorization, say) */
		audit_reload(a, &cfg, gen, true, NULL, &diags, why);
		accepted = true;
		goto out;
	}
	err = maps_apply(&a->loader.fds, &a->state, &comp, &res, msg, sizeof(msg));
	loader_ends_changed(&a->loader); /* backends' services (tr_lb_rbe) */
	if (err) {
		log_error("configuration refused: %s; generation %llu stays active", msg, gen);
		agent_stats_set_last_error(msg);
		agent_stats_map_failure(res.failed_map);
		agent_stats_reload(RELOAD_REFUSED);
		audit_reload(a, &cfg, gen, false, msg, &diags, why);
		goto out;
	}
	uplink_apply(&a->uplink, &cfg, &comp, &a->state, a->opt.node);
	atomic_store(&agent_stats.generation, a->state.meta.generation);
	atomic_store(&agent_stats.config_loaded, true);
	agent_stats_set_last_error(NULL);
	agent_stats_reload(RELOAD_APPLIED);
	audit_reload(a, &cfg, a->state.meta.generation, true, NULL, &diags, why);
	accepted = true;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("configuration applied: generation %llu (%zu service ports, %zu backends; services +%zu -%zu ~%zu; %zu slots written) in %.1f ms",
		 (unsigned long long)a->state.meta.generation, comp.n_services,
		 comp.n_backends, res.svc_added, res.svc_removed, res.svc_changed,
		 res.slots_written,
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
out:
	policy_compiled_free(&pcomp);
	compiled_free(&comp);
	if (accepted)
		apply_tunnels(a, &cfg);
	if (accepted) {
		/* the audit log's "before" for the next attempt */
		config_free(&a->running);
		a->running = cfg;
		a->have_running = true;
		memset(&cfg, 0, sizeof(cfg));
	}
	config_free(&cfg);
	diags_free(&diags);
}

static void arm_timer(int fd, long ms)
{
	struct itimerspec its = {};

	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (ms % 1000) * 1000000L;
	timerfd_settime(fd, 0, &its, NULL);
}

static int setup_loop(struct agent *a)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	a->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	a->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	a->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (a->sig_fd < 0 || a->timer_fd < 0 || a->epoll_fd < 0)
		return -errno;
	ev.data.fd = a->sig_fd;
	if (epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, a->sig_fd, &ev))
		return -errno;
	ev.data.fd = a->timer_fd;
	if (epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, a->timer_fd, &ev))
		return -errno;
	ev.data.fd = a->watch.fd;
	if (epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, a->watch.fd, &ev))
		return -errno;
	ev.data.fd = netdev_fd(&a->netdev);
	if (epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, ev.data.fd, &ev))
		return -errno;
	ev.data.fd = flowlog_fd(&a->flows);
	if (ev.data.fd >= 0 && epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, ev.data.fd, &ev))
		return -errno;
	if (a->certs) {
		ev.data.fd = certstore_watch_fd(a->certs);
		if (ev.data.fd >= 0 && epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, ev.data.fd, &ev))
			return -errno;
	}
	return 0;
}

static int run(struct agent *a)
{
	for (;;) {
		struct epoll_event evs[8];
		int n = epoll_wait(a->epoll_fd, evs, 8,
				   watch_active(&a->watch) ? -1 : WATCH_RETRY_MS);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		if (n == 0 && watch_retry(&a->watch)) {
			log_info("now watching %s", a->opt.config_dir);
			reload(a, "directory appeared");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == a->sig_fd) {
				struct signalfd_siginfo si;

				while (read(a->sig_fd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						reload(a, "SIGHUP");
						continue;
					}
					log_info("%s: exiting; the data path keeps running on generation %llu",
						 strsignal((int)si.ssi_signo),
						 (unsigned long long)a->state.meta.generation);
					return 0;
				}
			} else if (fd == a->watch.fd) {
				if (watch_drain(&a->watch))
					arm_timer(a->timer_fd, DEBOUNCE_MS);
			} else if (fd == netdev_fd(&a->netdev)) {
				/* devices or routes changed: workloads may have moved */
				if (netdev_drain(&a->netdev))
					arm_timer(a->timer_fd, DEBOUNCE_MS);
			} else if (fd == flowlog_fd(&a->flows)) {
				flowlog_consume(&a->flows);
			} else if (a->certs && fd == certstore_watch_fd(a->certs)) {
				certstore_on_watch(a->certs);
			} else if (fd == a->timer_fd) {
				uint64_t ticks;

				if (read(a->timer_fd, &ticks, sizeof(ticks)) > 0)
					reload(a, "files changed");
			}
		}
	}
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Runtime directory, flow log, netlink; the run dir goes into tr_meta so
 * the CLI finds the flow log. */
static int start_runtime(struct agent *a)
{
	char path[4096];
	__u32 zero = 0;
	int err;

	err = mkdir_p(a->opt.run_dir);
	if (err) {
		log_error("cannot create the runtime directory %s: %s", a->opt.run_dir,
			  strerror(-err));
		return err;
	}
	if (strlen(a->opt.run_dir) >= sizeof(a->state.meta.run_dir)) {
		log_error("--run-dir %s is too long (at most %zu characters)", a->opt.run_dir,
			  sizeof(a->state.meta.run_dir) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(a->state.meta.run_dir, sizeof(a->state.meta.run_dir), "%s", a->opt.run_dir);
	if (bpf_map_update_elem(a->loader.fds.meta, &zero, &a->state.meta, BPF_ANY))
		log_warn("cannot record the runtime directory in %s: %s", TR_MAP_META,
			 strerror(errno));
	snprintf(path, sizeof(path), "%s/flows.jsonl", a->opt.run_dir);
	err = flowlog_open(&a->flows, a->loader.flow_rb_fd, a->loader.pfds.wl_info, path,
			   &a->opt.flow_log, &a->pstate);
	if (err)
		return err;
	/* not fatal: the agent works without its audit log (logged) */
	snprintf(path, sizeof(path), "%s/audit.jsonl", a->opt.run_dir);
	audit_open(&a->audit, path, &a->opt.audit_log);
	err = netdev_open(&a->netdev);
	if (err)
		log_error("cannot open rtnetlink: %s", strerror(-err));
	return err;
}

/*
 * mTLS: the certificate store and the tunnels, when --certs names a
 * directory that exists; without it, traffic between nodes stays plaintext
 * (said in the log). A FIPS requirement that cannot be met is fatal.
 */
static int start_mtls(struct agent *a)
{
	struct tunnel_config tc = {
		.pol = &a->loader.pfds,
		.outbound_port = TR_TUN_OUTBOUND_PORT,
		.inbound_port = TR_TUN_INBOUND_PORT,
		.ktls = !a->opt.no_ktls,
	};
	char err[512];
	bool fips_provider = false;
	struct stat st;

	a->tmaps.cfg = -1;
	if (tunmaps_open(&a->tmaps, a->opt.bpffs)) {
		log_error("cannot open the tunnel maps under %s", a->opt.bpffs);
		return -ENOENT;
	}
	if (tls_global_init(&a->opt.tls, &fips_provider, err, sizeof(err))) {
		log_error("%s", err);
		return -EINVAL;
	}
	if (a->opt.tls.fips)
		log_info("FIPS mode: TLS 1.3 with AES-GCM and P-256/P-384 only; OpenSSL FIPS provider %s",
			 fips_provider ? "loaded" : "not installed (algorithms restricted only)");
	if (stat(a->opt.certs_dir, &st) || !S_ISDIR(st.st_mode)) {
		log_warn("no certificate directory %s: mTLS is off, traffic between nodes is not encrypted (hint: --certs DIR with ca.crt and NAMESPACE/SA.crt/.key)",
			 a->opt.certs_dir);
	} else {
		snprintf(a->trust_domain, sizeof(a->trust_domain), "cluster.local");
		a->certs = certstore_open(a->opt.certs_dir, a->trust_domain, &a->opt.tls, err,
					  sizeof(err));
		if (!a->certs) {
			log_error("certificates: %s", err);
			return -EINVAL;
		}
		tc.certs = a->certs;
		tc.tun_orig_fd = a->tmaps.orig;
		tc.tun_peer_fd = a->tmaps.peer;
		a->tunnels = tunnel_start(&tc, err, sizeof(err));
		if (!a->tunnels) {
			log_error("mTLS tunnels: %s", err);
			return -EADDRINUSE;
		}
		metrics_set_tunnels(a->tunnels);
	}
	return 0;
}

/* The control socket answers once the first configuration is applied and
 * the tunnels listen: a client that reaches it talks to a ready agent. */
static void start_ctl(struct agent *a)
{
	char err[256];

	a->ctl = ctl_start(a->opt.run_dir, a->tunnels, a->certs, err, sizeof(err));
	if (!a->ctl)
		log_warn("%s: `trestle tunnel list` will not work", err);
}

int main(int argc, char **argv)
{
	struct agent a = { .sig_fd = -1, .timer_fd = -1, .epoll_fd = -1,
			   .tmaps = { .cfg = -1, .peerauth = -1, .orig = -1, .peer = -1 } };
	int err;

	if (parse_args(argc, argv, &a.opt))
		return 2;
	{
		/* before any thread starts (metrics, tunnels, control socket):
		 * they inherit the mask, so these signals reach the event loop's
		 * signalfd and never a default action in another thread */
		sigset_t mask;

		sigemptyset(&mask);
		sigaddset(&mask, SIGHUP);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
		sigprocmask(SIG_BLOCK, &mask, NULL);
		signal(SIGPIPE, SIG_IGN);
	}
	/* one malloc arena: the metrics threads would otherwise each keep
	 * the high-water mark of a large scrape (hundreds of MB) */
	mallopt(M_ARENA_MAX, 1);
	log_setup(a.opt.log_format, a.opt.verbose ? LOG_DEBUG : LOG_INFO);
	log_capture_libbpf();

	if (a.opt.cleanup)
		return loader_cleanup(a.opt.bpffs, a.opt.cgroup) ? 1 : 0;

	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		atomic_store(&agent_stats.start_ns,
			     (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec);
	}
	log_info("trestled %s starting: node %s, config %s, pins %s, cgroup %s",
		 TRESTLE_VERSION, a.opt.node, a.opt.config_dir, a.opt.bpffs, a.opt.cgroup);
	/* not fatal: the data path matters more than its metrics (logged) */
	metrics_start(a.opt.metrics_addr, a.opt.bpffs);
	{
		struct stat cst;
		struct loader_opts lo = { .l4_metrics = !a.opt.no_l4_metrics,
					  /* as start_mtls decides: the directory exists */
					  .tunnels = !stat(a.opt.certs_dir, &cst) && S_ISDIR(cst.st_mode),
					  .redirect = a.opt.redirect,
					  .redirect_bulk_bytes = a.opt.redirect_bulk };

		err = loader_start(&a.loader, a.opt.bpffs, a.opt.cgroup, &lo);
	}
	if (!err && a.opt.n_uplinks)
		err = loader_xdp_start(&a.loader, a.opt.xdp_flows);
	else if (!err)
		loader_xdp_prune(&a.loader, NULL, 0); /* --uplink no longer given */
	if (err)
		goto out;
	atomic_store(&agent_stats.programs_attached, true);
	err = maps_adopt(&a.loader.fds, &a.state);
	if (err) {
		log_error("cannot read the pinned state under %s: %s", a.opt.bpffs, strerror(-err));
		goto out;
	}
	err = polmaps_adopt(&a.loader.pfds, &a.pstate);
	if (err) {
		log_error("cannot read the pinned policy state under %s: %s", a.opt.bpffs,
			  strerror(-err));
		goto out;
	}
	err = start_runtime(&a);
	if (err)
		goto out;
	if (a.opt.n_uplinks) {
		err = uplink_start(&a.uplink, &a.loader, &a.netdev, a.opt.uplinks, a.opt.n_uplinks);
		if (err)
			goto out;
	}
	err = start_mtls(&a);
	if (err)
		goto out;
	err = watch_start(&a.watch, a.opt.config_dir);
	if (!err)
		err = setup_loop(&a);
	if (err) {
		log_error("cannot set up the event loop: %s", strerror(-err));
		goto out;
	}
	reload(&a, "start");
	start_ctl(&a);
	err = run(&a);
out:
	metrics_set_tunnels(NULL);
	metrics_stop();
	ctl_stop(a.ctl);
	tunnel_stop(a.tunnels);
	certstore_close(a.certs);
	if (a.tmaps.cfg >= 0)
		tunmaps_close(&a.tmaps);
	if (a.flows.rb)
		flowlog_consume(&a.flows);
	flowlog_close(&a.flows);
	audit_close(&a.audit);
	config_free(&a.running);
	netdev_close(&a.netdev);
	watch_stop(&a.watch);
	polmaps_free(&a.pstate);
	uplink_close(&a.uplink);
	applied_free(&a.state);
	loader_close(&a.loader);
	if (a.sig_fd >= 0)
		close(a.sig_fd);
	if (a.timer_fd >= 0)
		close(a.timer_fd);
	if (a.epoll_fd >= 0)
		close(a.epoll_fd);
	return err ? 1 : 0;
}
