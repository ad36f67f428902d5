// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle: inspect a node's Trestle dataplane from its pinned maps.
 *
 *   trestle [-j|-p] [--bpffs DIR] OBJECT COMMAND [ARGS]
 *
 * Option parsing, top-level dispatch, and the helpers every object uses.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>

#include "abi_fmt.h"
#include "cli.h"
#include "pins.h"
#include "trestle_version.h"

const char *bin_name = "trestle";
const char *bpffs = TR_DEFAULT_BPFFS;
bool json_output;

static char bpffs_buf[4096];

/* Objects without a declaration in cli.h yet (policy.c, flows.c). */
int do_policy(int argc, char **argv);
int do_flows(int argc, char **argv);
int do_audit(int argc, char **argv);
int do_graph(int argc, char **argv);
int do_top(int argc, char **argv);
int do_tunnel(int argc, char **argv);

static const char perm_hint[] =
	" (run as root: reading pinned maps needs CAP_BPF or CAP_SYS_ADMIN)";

__attribute__((format(printf, 1, 0)))
static void vp_err(const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (json_output)
		output_error(msg);
	else
		fprintf(stderr, "Error: %s\n", msg);
}

void p_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vp_err(fmt, ap);
	va_end(ap);
}

void p_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("Warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int cli_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n))
		return 0;
	if (a[n] == '=' && name[1] == '-') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n])
		return 0;
	if (*i + 1 >= argc) {
		p_err("option '%s' needs an argument", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

int cmd_select(const struct cmd *cmds, int argc, char **argv,
	       const char *object)
{
	char valid[256] = "";
	size_t n = 0;
	int i;

	if (argc < 1 || (argv[0][0] == '-' && cmds[0].name))
		return cmds[0].func(argc, argv);
	for (i = 0; cmds[i].name; i++)
		if (!strcmp(argv[0], cmds[i].name))
			return cmds[i].func(argc - 1, argv + 1);
	for (i = 0; cmds[i].name; i++) {
		int k = snprintf(valid + n, sizeof(valid) - n, "%s%s",
				 i ? ", " : "", cmds[i].name);

		if (k < 0 || (size_t)k >= sizeof(valid) - n)
			break;
		n += (size_t)k;
	}
	if (object)
		p_err("unknown command '%s' for %s (valid: %s)", argv[0],
		      object, valid);
	else
		p_err("unknown object '%s' (valid: %s)", argv[0], valid);
	return -1;
}

int cli_extra_args(int argc, char **argv)
{
	if (argc < 1)
		return 0;
	p_err("unexpected argument '%s'", argv[0]);
	return -1;
}

static const char *nothing_pinned(void)
{
	static char msg[4200];

	snprintf(msg, sizeof(msg),
		 "nothing pinned at %s (is trestled running? start it with --bpffs %s)",
		 bpffs, bpffs);
	return msg;
}

int cli_pins_open(struct tr_meta *meta, bool strict)
{
	int err;

	err = pins_check_bpffs(bpffs);
	if (err == -ENOENT) {
		p_err("%s", nothing_pinned());
		return -1;
	}
	if (err == -EXDEV) {
		p_err("%s is not on a bpf filesystem (mount one: mount -t bpf bpf %s)",
		      bpffs, bpffs);
		return -1;
	}
	if (err) {
		p_err("cannot use %s: %s%s", bpffs, strerror(-err),
		      err == -EACCES || err == -EPERM ? perm_hint : "");
		return -1;
	}
	err = pins_meta_read(bpffs, meta);
	if (err == -ENOENT) {
		p_err("%s", nothing_pinned());
		return -1;
	}
	if (err == -EPROTO) {
		p_err("%s/%s is not Trestle metadata (bad magic)", bpffs,
		      TR_MAP_META);
		return -1;
	}
	if (err) {
		p_err("cannot read %s/%s: %s%s", bpffs, TR_MAP_META,
		      strerror(-err),
		      err == -EACCES || err == -EPERM ? perm_hint : "");
		return -1;
	}
	if (strict && meta->abi_version > TR_ABI_VERSION) {
		p_err("pins at %s use ABI version %u, this trestle knows version %u (use the trestle of the running trestled)",
		      bpffs, meta->abi_version, TR_ABI_VERSION);
		return -1;
	}
	return 0;
}

const struct map_desc *map_desc_find(const char *name)
{
	for (size_t i = 0; i < map_descs_cnt; i++)
		if (!strcmp(map_descs[i].name, name))
			return &map_descs[i];
	return NULL;
}

int cli_map_open_flags(const char *name, struct bpf_map_info *info,
		       unsigned int flags)
{
	bool quiet = flags & CLI_MAP_QUIET_ENOENT;
	const struct map_desc *d = map_desc_find(name);
	struct bpf_map_info mi = {};
	__u32 len = sizeof(mi);
	int fd, err;

	fd = pins_map_open(bpffs, name);
	if (fd < 0) {
		if (quiet && fd == -ENOENT)
			return fd;
		if (fd == -ENOENT)
			p_err("map %s is not pinned at %s (is trestled running? start it with --bpffs %s)",
			      name, bpffs, bpffs);
		else
			p_err("cannot open %s/%s: %s%s", bpffs, name,
			      strerror(-fd),
			      fd == -EACCES || fd == -EPERM ? perm_hint : "");
		return -1;
	}
	if (bpf_obj_get_info_by_fd(fd, &mi, &len)) {
		err = -errno;
		p_err("cannot get info of map %s: %s", name, strerror(-err));
		close(fd);
		return -1;
	}
	/* key_size 0: a layout the ABI headers do not describe (or none) */
	if (d && !(flags & CLI_MAP_NO_CHECK) &&
	    (mi.type != d->type ||
	     (d->key_size && (mi.key_size != d->key_size ||
			      mi.value_size != d->value_size)))) {
		p_err("map %s/%s is a %s with key %u B and value %u B, this trestle expects a %s with key %u B and value %u B (ABI mismatch)",
		      bpffs, name, libbpf_bpf_map_type_str(mi.type),
		      mi.key_size, mi.value_size,
		      libbpf_bpf_map_type_str(d->type), d->key_size,
		      d->value_size);
		close(fd);
		return -1;
	}
	if (info)
		*info = mi;
	return fd;
}

int cli_map_open(const char *name, struct bpf_map_info *info)
{
	return cli_map_open_flags(name, info, 0);
}

int cli_map_try_open(const char *name, struct bpf_map_info *info)
{
	return cli_map_open_flags(name, info, CLI_MAP_QUIET_ENOENT);
}

bool cli_fd_is(int fd, const char *kind)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strncmp(target, "anon_inode:", 11) &&
	       !strcmp(target + 11, kind);
}

long cli_map_entries(int fd, const struct bpf_map_info *info)
{
	switch (info->type) {
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
		return info->max_entries;
	case BPF_MAP_TYPE_RINGBUF:
		return -EOPNOTSUPP; /* no entries: max_entries is bytes */
	case BPF_MAP_TYPE_SK_STORAGE:
		return -EOPNOTSUPP; /* entries live in the sockets: not listed */
	default:
		return pins_map_count(fd, info->key_size);
	}
}

double cli_fill_pct(long entries, __u32 max_entries)
{
	if (!max_entries || entries < 0)
		return 0.0;
	return 100.0 * (double)entries / (double)max_entries;
}

int cli_ncpus(void)
{
	static int n;

	if (!n) {
		n = libbpf_num_possible_cpus();
		if (n <= 0) {
			p_err("cannot get the number of possible CPUs: %s",
			      strerror(n < 0 ? -n : EINVAL));
			n = 0;
			return -1;
		}
	}
	return n;
}

int cli_percpu_u64(int fd, __u32 key, __u64 *per_cpu, __u64 *sum)
{
	int ncpus = cli_ncpus();
	__u64 *vals;
	int err = 0;

	*sum = 0;
	if (ncpus < 0)
		return -EINVAL;
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, vals)) {
		err = -errno;
		goto out;
	}
	for (int i = 0; i < ncpus; i++) {
		*sum += vals[i];
		if (per_cpu)
			per_cpu[i] = vals[i];
	}
out:
	free(vals);
	return err;
}

void cli_strfield(char *dst, size_t dst_len, const char *src, size_t src_len)
{
	size_t n = strnlen(src, src_len);

	if (!dst_len)
		return;
	if (n >= dst_len)
		n = dst_len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

const char *cli_addr(const __be32 addr[4], int family, char *buf, size_t len)
{
	return abi_addr_str(addr, family, buf, len);
}

const char *cli_addr_port(const __be32 addr[4], int family, unsigned int port,
			  char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	abi_addr_str(addr, family, a, sizeof(a));
	if (family == TR_AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, port);
	else
		snprintf(buf, len, "%s:%u", a, port);
	return buf;
}

void print_opt_string(const char *key, const char *fmt, const char *value)
{
	print_string(value && *value ? PRINT_ANY : PRINT_JSON, key, fmt, value);
}

int cli_map_walk(int fd, size_t key_size, size_t value_size,
		 int (*cb)(const void *key, const void *value, void *ctx),
		 void *ctx)
{
	unsigned char *cur, *next, *val;
	int err, ret = 0;

	cur = calloc(1, key_size);
	next = calloc(1, key_size);
	val = calloc(1, value_size);
	if (!cur || !next || !val) {
		ret = -ENOMEM;
		goto out;
	}
	err = bpf_map_get_next_key(fd, NULL, next);
	while (!err) {
		memcpy(cur, next, key_size);
		if (!bpf_map_lookup_elem(fd, cur, val)) {
			ret = cb(cur, val, ctx);
			if (ret)
				goto out;
		} else if (errno != ENOENT) {
			ret = -errno;
			goto out;
		}
		err = bpf_map_get_next_key(fd, cur, next);
	}
	if (errno != ENOENT)
		ret = -errno;
out:
	free(cur);
	free(next);
	free(val);
	return ret;
}

bool svcinfo_lookup(int info_fd, __u32 svc_id, struct tr_lb_svcinfo *info)
{
	memset(info, 0, sizeof(*info));
	if (info_fd < 0 || bpf_map_lookup_elem(info_fd, &svc_id, info)) {
		memset(info, 0, sizeof(*info));
		return false;
	}
	return true;
}

const char *svc_name_str(const struct tr_lb_svcinfo *info, bool have_info,
			 char *buf, size_t len)
{
	char ns[TR_NAME_LEN + 1], name[TR_NAME_LEN + 1];
	char port[TR_SHORT_NAME_LEN + 1];

	if (!have_info) {
		snprintf(buf, len, "?");
		return buf;
	}
	CLI_STRFIELD(ns, info->ns);
	CLI_STRFIELD(name, info->name);
	CLI_STRFIELD(port, info->port_name);
	snprintf(buf, len, "%s/%s%s%s", ns, name, *port ? ":" : "", port);
	return buf;
}

static int do_version(int argc, char **argv)
{
	const char *lib = libbpf_version_string();

	if (cli_extra_args(argc, argv))
		return -1;
	open_json_object(NULL);
	print_string(PRINT_ANY, "version", "trestle %s ", TRESTLE_VERSION);
	print_uint(PRINT_ANY, "abi_version", "(abi %llu, ", TR_ABI_VERSION);
	print_string(PRINT_ANY, "libbpf", "libbpf %s)\n",
		     lib[0] == 'v' ? lib + 1 : lib);
	close_json_object();
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] OBJECT { COMMAND | help }\n"
		"       %s version\n"
		"\n"
		"OBJECT := { service | backend | map | status | stats | policy | flows | audit |\n"
		"           graph | top | tunnel | ca | cert }\n"
		"\n"
		"  service list                 services with their VIPs and backend counts\n"
		"  service show VIP[:PORT]      one VIP's services and their backends\n"
		"  backend list                 every backend with its service and selections\n"
		"  map list                     the pinned maps and how full they are\n"
		"  map dump NAME                a map's entries, decoded\n"
		"  status                       ABI, configuration, attached programs, map fill\n"
		"  stats                        event and drop counters\n"
		"  policy list                  authorization policies with their counters\n"
		"  policy show NS/NAME          one policy and the workloads it selects\n"
		"  policy check FROM TO PORT    the verdict the dataplane gives, explained\n"
		"  flows [--follow] [FILTERS]   the flow log: denied and audited flows\n"
		"  audit [--follow] [--result accepted|refused] [-n N]\n"
		"                               configuration changes, accepted and refused\n"
		"  graph [--format text|json|dot] [--reporter R] [--include-denies]\n"
		"                               the observed service graph: who talks to whom\n"
		"  top [--interval MS] [--iterations N]\n"
		"                               live per-service connection and byte rates\n"
		"  ca init --trust-domain TD --out DIR\n"
		"                               a root CA for a trust domain's SVIDs\n"
		"  cert issue|show|verify       X.509 SVIDs: issue, inspect, check\n"
		"  tunnel list                  live mTLS tunnels: peer, identities, TLS, path, bytes\n"
		"  tunnel identities            workload certificates the agent holds\n"
		"\n"
		"OPTIONS := { -j|--json | -p|--pretty | --bpffs DIR | -h|--help | -V|--version }\n"
		"  -j, --json      JSON output\n"
		"  -p, --pretty    indented JSON output (implies -j)\n"
		"  --bpffs DIR     where trestled pins (default %s)\n"
		"OPTIONS may also follow OBJECT and COMMAND; after \"--\" every word\n"
		"is the command's own.\n",
		bin_name, bin_name, TR_DEFAULT_BPFFS);
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (json_output) {
		print_null(PRINT_JSON, NULL, NULL);
		return 0;
	}
	usage(stdout);
	return 0;
}

static const struct cmd top_cmds[] = {
	{ "help", do_help },
	{ "service", do_service },
	{ "backend", do_backend },
	{ "map", do_map },
	{ "status", do_status },
	{ "stats", do_stats },
	{ "policy", do_policy },
	{ "flows", do_flows },
	{ "audit", do_audit },
	{ "graph", do_graph },
	{ "top", do_top },
	{ "ca", do_ca },
	{ "cert", do_cert },
	{ "tunnel", do_tunnel },
	{ "version", do_version },
	{ NULL, NULL },
};

static int set_bpffs(const char *arg)
{
	size_t len = strlen(arg);

	while (len > 1 && arg[len - 1] == '/')
		len--;
	if (!len || len >= sizeof(bpffs_buf)) {
		fprintf(stderr, "Error: invalid --bpffs '%s'\n", arg);
		return -1;
	}
	memcpy(bpffs_buf, arg, len);
	bpffs_buf[len] = '\0';
	bpffs = bpffs_buf;
	return 0;
}

struct global_opts {
	bool pretty;
	bool version;
	bool help;
};

/* "-j", "-jp", ...: only letters of global short options. */
static bool global_short_opts(const char *a, struct global_opts *g)
{
	if (a[0] != '-' || !a[1] || a[1] == '-' || strspn(a + 1, "jphV") !=
	    strlen(a + 1))
		return false;
	for (a++; *a; a++) {
		if (*a == 'j')
			json_output = true;
		else if (*a == 'p')
			json_output = g->pretty = true;
		else if (*a == 'h')
			g->help = true;
		else if (*a == 'V')
			g->version = true;
	}
	return true;
}

/*
 * Global options after OBJECT ("trestle service list -j"): take them out
 * of argv, leaving the command its words and its own options ("flows
 * --follow"). "--" ends them and is removed. Returns 0, or -1 after an
 * error message.
 */
static int take_global_opts(int *argc, char **argv, struct global_opts *g)
{
	int i, n = 0;

	for (i = 0; i < *argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--json")) {
			json_output = true;
		} else if (!strcmp(a, "--pretty")) {
			json_output = g->pretty = true;
		} else if (!strcmp(a, "--help")) {
			g->help = true;
		} else if (!strcmp(a, "--version")) {
			g->version = true;
		} else if (!strcmp(a, "--bpffs")) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "Error: option '--bpffs' needs an argument\n");
				return -1;
			}
			if (set_bpffs(argv[++i]))
				return -1;
		} else if (!strncmp(a, "--bpffs=", 8)) {
			if (set_bpffs(a + 8))
				return -1;
		} else if (!global_short_opts(a, g)) {
			argv[n++] = argv[i];
		}
	}
	for (; i < *argc; i++)
		argv[n++] = argv[i];
	*argc = n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "bpffs", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct global_opts g = {};
	int opt, ret;

	/* '+': stop at OBJECT; what follows is sorted by take_global_opts() */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+jphV", opts, NULL)) >= 0) {
		switch (opt) {
		case 'j':
			json_output = true;
			break;
		case 'p':
			json_output = true;
			g.pretty = true;
			break;
		case 'B':
			if (set_bpffs(optarg))
				return 1;
			break;
		case 'h':
			g.help = true;
			break;
		case 'V':
			g.version = true;
			break;
		default:
			if (opt == ':' || (optopt && strchr("B", optopt)))
				fprintf(stderr, "Error: option '%s' needs an argument\n",
					argv[optind - 1]);
			else if (optopt)
				fprintf(stderr, "Error: unknown option '-%c'\n",
					optopt);
			else
				fprintf(stderr, "Error: unknown option '%s'\n",
					argv[optind - 1]);
			fprintf(stderr, "Try '%s help'.\n", bin_name);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (take_global_opts(&argc, argv, &g))
		return 1;
	if (g.help) {
		usage(stdout);
		return 0;
	}

	/* libbpf's own messages would duplicate ours. */
	libbpf_set_print(NULL);

	if (output_init(stdout, json_output, g.pretty)) {
		fprintf(stderr, "Error: cannot set up output: %s\n",
			strerror(errno));
		return 1;
	}
	if (g.version) {
		ret = do_version(0, argv);
	} else if (argc < 1) {
		if (!json_output) {
			usage(stderr);
			return 1;
		}
		p_err("missing OBJECT (one of: service, backend, map, status, stats, policy, flows, audit, graph, top, ca, cert, version, help)");
		ret = -1;
	} else {
		ret = cmd_select(top_cmds, argc, argv, NULL);
	}
	if (ret) {
		output_finish();
		return 1;
	}
	if (output_finish()) {
		fprintf(stderr, "Error: cannot write output: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}
