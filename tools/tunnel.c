// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle tunnel { list | identities | help }
 *
 * What only the agent knows, asked over its control socket (the runtime
 * directory is recorded in the pinned tr_meta): the live mTLS tunnels with
 * peer node, identities, TLS version, cipher, path (ktls or userspace) and
 * bytes; and the workload identities the agent holds certificates for.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "pins.h"

#define CTL_SOCKET_NAME "trestled.sock" /* userspace/ctl.h */
#define MAX_FIELDS 16

/* Ask the agent; returns its answer (malloc'd) or NULL (reported). */
static char *ask(const char *req)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct tr_meta meta;
	size_t len = 0, cap = 4096;
	char *buf;
	int fd, err;

	err = pins_meta_read(bpffs, &meta);
	if (err || !meta.run_dir[0]) {
		p_err("no agent state under %s (is trestled running with this --bpffs?)", bpffs);
		return NULL;
	}
	if ((size_t)snprintf(a.sun_path, sizeof(a.sun_path), "%s/%s", meta.run_dir,
			     CTL_SOCKET_NAME) >= sizeof(a.sun_path)) {
		p_err("control socket path under %s is too long", meta.run_dir);
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		p_err("cannot reach the agent at %s: %s (hint: is trestled running?)", a.sun_path,
		      strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 || shutdown(fd, SHUT_WR)) {
		p_err("agent control socket: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!buf) {
		p_err("out of memory");
		return NULL;
	}
	buf[len] = '\0';
	if (!strncmp(buf, "error\t", 6)) {
		buf[strcspn(buf, "\n")] = '\0';
		p_err("agent: %s", buf + 6);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Split one line at tabs, in place. Returns the field count. */
static int split(char *line, char **f)
{
	int n = 0;

	while (n < MAX_FIELDS) {
		f[n++] = line;
		line = strchr(line, '\t');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

static int do_tunnel_list(int argc, char **argv)
{
	char *all, *line, *save = NULL;
	int shown = 0;

	if (cli_extra_args(argc, argv))
		return -1;
	all = ask("tunnels\n");
	if (!all)
		return -1;
	open_json_array(PRINT_JSON, NULL);
	if (!json_output)
		printf("%-5s %-8s %-10s %-9s %-24s %-6s %-8s %-12s %-12s %s\n", "ID", "DIR",
		       "PEER-NODE", "PATH", "DESTINATION", "TLS", "CIPHER", "SENT", "RECEIVED",
		       "LOCAL -> REMOTE IDENTITY");
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[MAX_FIELDS], dst[96];

		if (split(line, f) < 14)
			continue;
		snprintf(dst, sizeof(dst), strchr(f[6], ':') ? "[%s]:%s" : "%s:%s", f[6], f[7]);
		if (json_output) {
			open_json_object(NULL);
			print_uint(PRINT_JSON, "id", NULL, strtoull(f[0], NULL, 10));
			print_string(PRINT_JSON, "direction", NULL, f[1]);
			print_string(PRINT_JSON, "peer_node", NULL, f[2]);
			print_string(PRINT_JSON, "local_identity", NULL, f[3]);
			print_string(PRINT_JSON, "remote_identity", NULL, f[4]);
			print_string(PRINT_JSON, "source", NULL, f[5]);
			print_string(PRINT_JSON, "destination", NULL, f[6]);
			print_uint(PRINT_JSON, "destination_port", NULL, strtoull(f[7], NULL, 10));
			print_string(PRINT_JSON, "tls_version", NULL, f[8]);
			print_string(PRINT_JSON, "cipher", NULL, f[9]);
			print_string(PRINT_JSON, "path", NULL, f[10]);
			print_uint(PRINT_JSON, "bytes_sent", NULL, strtoull(f[11], NULL, 10));
			print_uint(PRINT_JSON, "bytes_received", NULL, strtoull(f[12], NULL, 10));
			print_uint(PRINT_JSON, "age_seconds", NULL, strtoull(f[13], NULL, 10));
			close_json_object();
		} else {
			printf("%-5s %-8s %-10s %-9s %-24s %-6s %-8.8s %-12s %-12s %s -> %s\n", f[0],
			       f[1], f[2], f[10], dst, f[8], f[9], f[11], f[12], f[3], f[4]);
		}
		shown++;
	}
	close_json_array(PRINT_JSON, NULL);
	if (!json_output && !shown)
		printf("(no live tunnels)\n");
	free(all);
	return 0;
}

static int do_tunnel_identities(int argc, char **argv)
{
	char *all, *line, *save = NULL;

	if (cli_extra_args(argc, argv))
		return -1;
	all = ask("certs\n");
	if (!all)
		return -1;
	open_json_array(PRINT_JSON, NULL);
	if (!json_output)
		printf("%-20s %-20s %-20s %-20s %s\n", "NAMESPACE", "SERVICE-ACCOUNT", "STATE",
		       "NOT-AFTER", "FILE");
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[MAX_FIELDS], when[32] = "-";
		time_t t;
		struct tm tm;

		if (split(line, f) < 5)
			continue;
		t = (time_t)strtoll(f[3], NULL, 10);
		if (t && gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (json_output) {
			open_json_object(NULL);
			print_string(PRINT_JSON, "namespace", NULL, f[0]);
			print_string(PRINT_JSON, "service_account", NULL, f[1]);
			print_string(PRINT_JSON, "state", NULL, f[2]);
			print_string(PRINT_JSON, "not_after", NULL, when);
			print_string(PRINT_JSON, "file", NULL, f[4]);
			close_json_object();
		} else {
			printf("%-20s %-20s %-20s %-20s %s\n", f[0], f[1], f[2], when, f[4]);
		}
	}
	close_json_array(PRINT_JSON, NULL);
	free(all);
	return 0;
}

static int do_tunnel_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr,
		"Usage: %s tunnel { list | identities | help }\n"
		"  list        live mTLS tunnels: direction, peer node, identities, TLS version,\n"
		"              cipher, path (ktls: records in the kernel; userspace: OpenSSL), bytes\n"
		"  identities  the workload identities the agent holds certificates for, and\n"
		"              whether each is usable (ok) or why not\n",
		bin_name);
	return 0;
}

int do_tunnel(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "list", do_tunnel_list },
		{ "identities", do_tunnel_identities },
		{ "help", do_tunnel_help },
		{ NULL, NULL },
	};

	return cmd_select(cmds, argc, argv, "tunnel");
}
