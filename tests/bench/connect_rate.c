// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * connect_rate: how long socket() + connect() + close() takes, on several
 * paths measured in turns by one process.
 *
 * A case is a destination plus, optionally, a network namespace and a cgroup
 * v2 directory. For every round, for every case in order, the process moves
 * itself into the case's cgroup (cgroup.procs) and network namespace
 * (setns), connects for a short warm-up, then connects for --duration
 * seconds in batches of BATCH connects. Per block it records the median
 * batch time per connect ("ns": a batch hit by preemption or an interrupt
 * storm does not move it) and the block's time over its connects
 * ("ns_mean"). Odd rounds run the cases in reverse order. The cases of one
 * round run within a second or two of each other, so drift and other load
 * on the machine hit them alike; the median over the rounds is the figure.
 * Sockets take their cgroup and namespace when created, so every connect of
 * a block runs with the case's programs and rules.
 *
 * --listen IP:PORT runs an accept+close listener in each namespace a case
 * uses (one thread each). A case's "lcgroup=DIR" creates its listener's
 * socket while the process is in cgroup DIR (then it moves back), so the
 * accepted sockets, which inherit the listener's cgroup, are that cgroup's:
 * the server side of the connection is a workload there too. Cases share
 * a listener when they share the namespace and the lcgroup; two lcgroups in
 * one namespace cannot both listen on the same IP:PORT. Every connect closes with SO_LINGER {1, 0}: the
 * client sends RST, so no socket on either side enters TIME_WAIT and the
 * ephemeral port is free again at once; a run never runs out of ports,
 * whatever its rate. The cost measured is socket + three-way handshake +
 * RST. The connecting thread waits while a listener lags more than
 * MAX_BEHIND connects behind (the wait counts as measured time), so a
 * descheduled listener never overflows the accept queue.
 *
 * Each connect has a one-second timeout (SO_SNDTIMEO). The first failed
 * connect ends the program with status 1, naming the case and the errno: a
 * benchmark whose connects fail measures the failure path.
 *
 * Every measurement stops by itself: rounds x cases x (warm-up + duration).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CASES 8
#define MAX_ROUNDS 200
#define MAX_PEERS 8     /* distinct local addresses a listener reports */
#define SAMPLE_EVERY 64 /* a listener looks at every 64th connection */
#define BATCH 16        /* connects between clock reads */
#define MAX_BEHIND 1024 /* connects a listener may lag behind */
#define MAX_BATCHES 65536 /* batch times kept per block */
#define STUCK_NS 5000000000ull

static double batch_ns[MAX_BATCHES];
static long nbatches;

struct peer_count {
	struct in_addr addr;
	unsigned long count;
};

/*
 * Which local addresses (backends) a case's connections reached, sampled by
 * the listener. Written by the listener thread only, read after the rounds.
 */
struct peer_stats {
	struct peer_count peers[MAX_PEERS];
	int npeers;
	unsigned long sampled;
};

/* One per network namespace; accepts and closes. */
struct listener {
	int fd;
	int cpu;
	struct stat ns;           /* the namespace's inode, to share listeners */
	const char *cgroup;       /* the cgroup its socket was created in, or NULL */
	atomic_ulong accepted;
	unsigned long sent;       /* connects made to it (connecting thread) */
	_Atomic(struct peer_stats *) stats; /* the case now measured */
};

struct bench_case {
	char name[32];
	struct sockaddr_in dst;
	const char *netns;   /* path or NULL: stay where started */
	const char *cgroup;  /* cgroup v2 directory or NULL */
	const char *lcgroup; /* cgroup v2 directory for its listener's socket, or NULL */
	int ns_fd;
	int procs_fd;        /* <cgroup>/cgroup.procs */
	struct listener *l;  /* NULL without --listen */
	struct peer_stats peers;
	double ns[MAX_ROUNDS];      /* per round: median batch, ns per connect */
	double ns_mean[MAX_ROUNDS]; /* per round: block time / connects */
	long count[MAX_ROUNDS];
};

static struct bench_case cases[MAX_CASES];
static int ncases;
static struct listener listeners[MAX_CASES];
static int nlisteners;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: connect_rate [options] --case NAME,IP:PORT[,netns=PATH][,cgroup=DIR][,lcgroup=DIR] ...\n"
		"       connect_rate [options] --connect IP:PORT\n"
		"  -C, --case SPEC          a path to measure (up to %d); in turns, in order\n"
		"  -c, --connect IP:PORT    shorthand for --case connect,IP:PORT\n"
		"  -l, --listen IP:PORT     run an accept+close listener per namespace\n"
		"  -d, --duration SEC       measured seconds per case and round (default 0.25)\n"
		"  -r, --rounds N           rounds (default 20, max %d)\n"
		"  -w, --warmup SEC         unmeasured seconds before each block (default 0.02)\n"
		"      --cpu N              pin the connecting thread to CPU N\n"
		"      --listen-cpu N       pin the listener threads to CPU N\n"
		"  -j, --json               JSON instead of one line per case\n",
		MAX_CASES, MAX_ROUNDS);
}

static int parse_addr(const char *s, struct sockaddr_in *sin)
{
	char buf[64];
	char *colon;
	char *end;
	long port;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 0 || port > 65535)
		return -EINVAL;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, buf, &sin->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

/* NAME,IP:PORT[,netns=PATH][,cgroup=DIR][,lcgroup=DIR]; the strings point
 * into spec. */
static int parse_case(char *spec, struct bench_case *c)
{
	char *tok, *save = NULL;
	int i = 0;

	memset(c, 0, sizeof(*c));
	c->ns_fd = -1;
	c->procs_fd = -1;
	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++) {
		if (i == 0) {
			if (!*tok || strlen(tok) >= sizeof(c->name))
				return -EINVAL;
			strcpy(c->name, tok);
		} else if (i == 1) {
			if (parse_addr(tok, &c->dst))
				return -EINVAL;
		} else if (!strncmp(tok, "netns=", 6)) {
			c->netns = tok + 6;
		} else if (!strncmp(tok, "cgroup=", 7)) {
			c->cgroup = tok + 7;
		} else if (!strncmp(tok, "lcgroup=", 8)) {
			c->lcgroup = tok + 8;
		} else {
			return -EINVAL;
		}
	}
	return i >= 2 ? 0 : -EINVAL;
}

static const char *addr_str(const struct sockaddr_in *sin)
{
	static char buf[INET_ADDRSTRLEN + 8];
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
	snprintf(buf, sizeof(buf), "%s:%u", a, ntohs(sin->sin_port));
	return buf;
}

static int pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void note_peer(struct peer_stats *ps, int fd)
{
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	int i;

	if (!ps || getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		return;
	ps->sampled++;
	for (i = 0; i < ps->npeers; i++) {
		if (ps->peers[i].addr.s_addr == local.sin_addr.s_addr) {
			ps->peers[i].count++;
			return;
		}
	}
	if (ps->npeers < MAX_PEERS) {
		ps->peers[ps->npeers].addr = local.sin_addr;
		ps->peers[ps->npeers].count = 1;
		ps->npeers++;
	}
}

static void *listener_main(void *arg)
{
	struct listener *l = arg;
	unsigned long n = 0;
	int fd;

	pin_self(l->cpu);
	for (;;) {
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNABORTED) {
				/* Reset before accept: it still left the queue. */
				atomic_fetch_add_explicit(&l->accepted, 1, memory_order_relaxed);
				continue;
			}
			perror("connect_rate: accept");
			exit(1);
		}
		if (n++ % SAMPLE_EVERY == 0)
			note_peer(atomic_load(&l->stats), fd);
		close(fd);
		atomic_fetch_add_explicit(&l->accepted, 1, memory_order_relaxed);
	}
	return NULL;
}

/* A listener in the current network namespace; 0 or -errno. */
static int start_listener(struct listener *l, const struct sockaddr_in *addr, int cpu)
{
	pthread_t tid;
	int one = 1;
	int err;

	l->cpu = cpu;
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(l->fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
		return -errno;
	/* The kernel caps the backlog at net.core.somaxconn. */
	if (listen(l->fd, 65535) < 0)
		return -errno;
	err = pthread_create(&tid, NULL, listener_main, l);
	if (err)
		return -err;
	pthread_detach(tid);
	return 0;
}

/* Move into c's namespace and cgroup; 0 or -errno. */
static int enter_case(const struct bench_case *c)
{
	char pid[32];
	int len;

	if (c->ns_fd >= 0 && setns(c->ns_fd, CLONE_NEWNET) < 0)
		return -errno;
	if (c->procs_fd >= 0) {
		len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (pwrite(c->procs_fd, pid, (size_t)len, 0) != len)
			return -errno;
	}
	return 0;
}

/* One socket + connect + close; 0 or -errno. */
static int connect_once(const struct sockaddr_in *dst)
{
	static const struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	static const struct timeval tmo = { .tv_sec = 1 };
	int fd;
	int err = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo)) < 0) {
		err = -errno;
		goto out;
	}
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
		/* A blocking connect that hit SO_SNDTIMEO says EINPROGRESS. */
		err = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		goto out;
	}
out:
	close(fd);
	return err;
}

/*
 * Connect to c for dur_ns; the number of connects (elapsed time in *elapsed),
 * or -errno on the first failure. The time of every batch of BATCH connects
 * goes to batch_ns[] (the first MAX_BATCHES of them).
 */
static long run_for(struct bench_case *c, uint64_t dur_ns, uint64_t *elapsed)
{
	struct listener *l = c->l;
	uint64_t start = now_ns();
	uint64_t t = start;
	uint64_t b0;
	long n = 0;
	int i;
	int err;

	nbatches = 0;
	do {
		b0 = t;
		for (i = 0; i < BATCH; i++) {
			err = connect_once(&c->dst);
			if (err)
				return err;
		}
		n += BATCH;
		t = now_ns();
		if (l) {
			l->sent += BATCH;
			while (l->sent - atomic_load_explicit(&l->accepted, memory_order_relaxed) >
			       MAX_BEHIND) {
				if (now_ns() - t > STUCK_NS)
					return -EDEADLK; /* listener stuck for 5 s */
				sched_yield();
			}
			t = now_ns();
		}
		if (nbatches < MAX_BATCHES)
			batch_ns[nbatches++] = (double)(t - b0) / BATCH;
	} while (t - start < dur_ns);
	*elapsed = t - start;
	return n;
}

/*
 * Wait until c's listener has accepted every connect made to it, so the
 * next case's connections are counted as the next case's; 0 or -EDEADLK.
 */
static int drain(struct bench_case *c)
{
	uint64_t t = now_ns();

	if (!c->l)
		return 0;
	while (atomic_load(&c->l->accepted) < c->l->sent) {
		if (now_ns() - t > STUCK_NS)
			return -EDEADLK;
		sched_yield();
	}
	atomic_store(&c->l->stats, NULL);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_of(const double *v, int n, double *min, double *max)
{
	static double s[MAX_BATCHES];

	memcpy(s, v, sizeof(s[0]) * (size_t)n);
	qsort(s, (size_t)n, sizeof(s[0]), cmp_double);
	*min = s[0];
	*max = s[n - 1];
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || *end || *out < 0 ? -EINVAL : 0;
}

/* Move the process into the cgroup v2 directory dir; 0 or -errno. */
static int move_to_cgroup(const char *dir)
{
	char path[4096], pid[32];
	int fd, len, err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (write(fd, pid, (size_t)len) != len)
		err = -errno;
	close(fd);
	return err;
}

/* The directory of the cgroup v2 the process is in now (from
 * /proc/self/cgroup and the cgroup2 mount in /proc/self/mountinfo). */
static int own_cgroup(char *buf, size_t len)
{
	char line[4096], rel[4096] = "", mnt[4096] = "";
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			snprintf(rel, sizeof(rel), "%s", line + 3);
			rel[strcspn(rel, "\n")] = '\0';
		}
	fclose(f);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - cgroup2 ");
		char *p = line;
		int field;

		if (!sep)
			continue;
		/* field 5 is the mount point */
		for (field = 1; field < 5 && p; field++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (p) {
			snprintf(mnt, sizeof(mnt), "%.*s", (int)strcspn(p, " "), p);
			break;
		}
	}
	fclose(f);
	if (!rel[0] || !mnt[0])
		return -ENOENT;
	snprintf(buf, len, "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Open namespaces and cgroups, share one listener per namespace (and
 * listener cgroup). */
static int prepare(bool listen_on, const struct sockaddr_in *laddr, int listen_cpu)
{
	char path[4096], home[4096] = "";
	struct stat st;
	int self_ns, i, j, err;

	self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self_ns < 0)
		return -errno;
	for (i = 0; i < ncases; i++) {
		struct bench_case *c = &cases[i];

		c->ns_fd = open(c->netns ? c->netns : "/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (c->ns_fd < 0) {
			err = -errno;
			fprintf(stderr, "connect_rate: case %s: cannot open netns %s: %s\n",
				c->name, c->netns ? c->netns : "(own)", strerror(-err));
			return err;
		}
		if (c->cgroup) {
			snprintf(path, sizeof(path), "%s/cgroup.procs", c->cgroup);
			c->procs_fd = open(path, O_WRONLY | O_CLOEXEC);
			if (c->procs_fd < 0) {
				err = -errno;
				fprintf(stderr, "connect_rate: case %s: cannot open %s: %s\n",
					c->name, path, strerror(-err));
				return err;
			}
		}
		if (!listen_on)
			continue;
		if (fstat(c->ns_fd, &st) < 0)
			return -errno;
		for (j = 0; j < nlisteners; j++)
			if (listeners[j].ns.st_ino == st.st_ino && listeners[j].ns.st_dev == st.st_dev &&
			    same_str(listeners[j].cgroup, c->lcgroup))
				break;
		if (j == nlisteners) {
			if (setns(c->ns_fd, CLONE_NEWNET) < 0)
				return -errno;
			listeners[j].ns = st;
			listeners[j].cgroup = c->lcgroup;
			if (c->lcgroup) {
				if (!home[0] && (err = own_cgroup(home, sizeof(home)))) {
					fprintf(stderr, "connect_rate: cannot tell the own cgroup: %s\n",
						strerror(-err));
					return err;
				}
				err = move_to_cgroup(c->lcgroup);
				if (err) {
					fprintf(stderr, "connect_rate: case %s: cannot enter lcgroup %s: %s\n",
						c->name, c->lcgroup, strerror(-err));
					return err;
				}
			}
			err = start_listener(&listeners[j], laddr, listen_cpu);
			if (c->lcgroup) {
				int back = move_to_cgroup(home);

				if (back) {
					fprintf(stderr, "connect_rate: cannot return to cgroup %s: %s\n",
						home, strerror(-back));
					return back;
				}
			}
			if (err) {
				fprintf(stderr, "connect_rate: case %s: cannot listen on %s: %s\n",
					c->name, addr_str(laddr), strerror(-err));
				return err;
			}
			nlisteners++;
		}
		c->l = &listeners[j];
	}
	if (setns(self_ns, CLONE_NEWNET) < 0)
		return -errno;
	close(self_ns);
	return 0;
}

static void print_json(int rounds, double duration)
{
	double med, min, max;
	int i, r, p;

	printf("{\"rounds\":%d,\"duration_s\":%.3f,\"cases\":[", rounds, duration);
	for (i = 0; i < ncases; i++) {
		struct bench_case *c = &cases[i];

		med = median_of(c->ns, rounds, &min, &max);
		printf("%s{\"name\":\"%s\",\"connect\":\"%s\",", i ? "," : "", c->name,
		       addr_str(&c->dst));
		printf("\"median_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,"
		       "\"connects_per_s\":%.0f,\"ns\":[",
		       med, min, max, 1e9 / med);
		for (r = 0; r < rounds; r++)
			printf("%s%.1f", r ? "," : "", c->ns[r]);
		printf("],\"ns_mean\":[");
		for (r = 0; r < rounds; r++)
			printf("%s%.1f", r ? "," : "", c->ns_mean[r]);
		printf("],\"connects\":[");
		for (r = 0; r < rounds; r++)
			printf("%s%ld", r ? "," : "", c->count[r]);
		printf("]");
		if (c->l && c->peers.sampled) {
			/* Shares of a 1-in-SAMPLE_EVERY sample of its connections. */
			printf(",\"backends\":{");
			for (p = 0; p < c->peers.npeers; p++) {
				char a[INET_ADDRSTRLEN];

				inet_ntop(AF_INET, &c->peers.peers[p].addr, a, sizeof(a));
				printf("%s\"%s\":%.3f", p ? "," : "", a,
				       (double)c->peers.peers[p].count / (double)c->peers.sampled);
			}
			printf("}");
		}
		printf("}");
	}
	printf("]}\n");
}

static void print_text(int rounds)
{
	double med, min, max;
	int i;

	for (i = 0; i < ncases; i++) {
		struct bench_case *c = &cases[i];

		med = median_of(c->ns, rounds, &min, &max);
		printf("%-16s %-21s median_ns=%.1f min_ns=%.1f max_ns=%.1f connects_per_s=%.0f\n",
		       c->name, addr_str(&c->dst), med, min, max, 1e9 / med);
	}
}

int main(int argc, char **argv)
{
	enum { OPT_CPU = 256, OPT_LISTEN_CPU };
	static const struct option opts[] = {
		{ "case", required_argument, NULL, 'C' },
		{ "connect", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "listen-cpu", required_argument, NULL, OPT_LISTEN_CPU },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct sockaddr_in laddr;
	bool listen_on = false, json = false;
	double duration = 0.25, warmup = 0.02;
	int rounds = 20, cpu = -1, listen_cpu = -1;
	char conn_spec[96];
	uint64_t elapsed;
	double lo, hi;
	long n;
	int c, r, err;

	while ((c = getopt_long(argc, argv, "C:c:l:d:r:w:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
		case 'c':
			if (ncases == MAX_CASES) {
				fprintf(stderr, "connect_rate: at most %d cases\n", MAX_CASES);
				return 2;
			}
			if (c == 'c') {
				snprintf(conn_spec, sizeof(conn_spec), "connect,%s", optarg);
				optarg = strdup(conn_spec);
			}
			if (!optarg || parse_case(optarg, &cases[ncases])) {
				fprintf(stderr, "connect_rate: bad case '%s' "
					"(want NAME,IP:PORT[,netns=PATH][,cgroup=DIR][,lcgroup=DIR])\n", optarg);
				return 2;
			}
			ncases++;
			break;
		case 'l':
			if (parse_addr(optarg, &laddr)) {
				fprintf(stderr, "connect_rate: bad --listen '%s' (want IPv4:PORT)\n", optarg);
				return 2;
			}
			listen_on = true;
			break;
		case 'd':
			if (parse_double(optarg, &duration) || duration <= 0 || duration > 600) {
				fprintf(stderr, "connect_rate: bad --duration '%s'\n", optarg);
				return 2;
			}
			break;
		case 'w':
			if (parse_double(optarg, &warmup) || warmup > 600) {
				fprintf(stderr, "connect_rate: bad --warmup '%s'\n", optarg);
				return 2;
			}
			break;
		case 'r':
			rounds = atoi(optarg);
			if (rounds < 1 || rounds > MAX_ROUNDS) {
				fprintf(stderr, "connect_rate: --rounds must be 1..%d\n", MAX_ROUNDS);
				return 2;
			}
			break;
		case OPT_CPU:
			cpu = atoi(optarg);
			break;
		case OPT_LISTEN_CPU:
			listen_cpu = atoi(optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!ncases || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (prepare(listen_on, &laddr, listen_cpu))
		return 1;
	err = pin_self(cpu);
	if (err) {
		fprintf(stderr, "connect_rate: cannot pin to CPU %d: %s\n", cpu, strerror(-err));
		return 1;
	}

	for (r = 0; r < rounds; r++) {
		for (int k = 0; k < ncases; k++) {
			/* Odd rounds in reverse order: drift within a round cancels. */
			struct bench_case *bc = &cases[r % 2 ? ncases - 1 - k : k];

			err = enter_case(bc);
			if (err) {
				fprintf(stderr, "connect_rate: case %s: cannot enter its netns/cgroup: %s\n",
					bc->name, strerror(-err));
				return 1;
			}
			if (bc->l)
				atomic_store(&bc->l->stats, &bc->peers);
			n = warmup > 0 ? run_for(bc, (uint64_t)(warmup * 1e9), &elapsed) : 0;
			if (n >= 0)
				n = run_for(bc, (uint64_t)(duration * 1e9), &elapsed);
			if (n >= 0 && drain(bc))
				n = -EDEADLK;
			if (n < 0) {
				fprintf(stderr, "connect_rate: case %s: connect to %s failed: %s\n",
					bc->name, addr_str(&bc->dst), strerror((int)-n));
				return 1;
			}
			bc->count[r] = n;
			bc->ns_mean[r] = (double)elapsed / (double)n;
			bc->ns[r] = median_of(batch_ns, (int)nbatches, &lo, &hi);
		}
	}

	if (json)
		print_json(rounds, duration);
	else
		print_text(rounds);
	return 0;
}
