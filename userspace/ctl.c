// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The agent's control socket (ctl.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"

struct ctl {
	int lfd, stop_fd;
	pthread_t th;
	struct tunnel_svc *tunnels;
	struct certstore *certs;
	char path[108];
};

/* namespace, service account, state, not_after (epoch s), file: a line each */
static void certs_list(struct certstore *cs, FILE *f)
{
	static struct certstore_entry e[1024]; /* the ctl thread's only */
	size_t n = cs ? certstore_list(cs, e, 1024) : 0;

	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\t%s\t%s\t%ld\t%s\n", e[i].ns, e[i].sa,
			e[i].state == TR_TLS_OK ? "ok" : tr_tls_reason_name(e[i].state),
			e[i].not_after, e[i].file);
}

static void serve(struct ctl *c, int fd)
{
	struct timeval tv = { .tv_sec = 1 };
	char req[64] = "";
	ssize_t n;
	FILE *f;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = recv(fd, req, sizeof(req) - 1, 0);
	if (n <= 0) {
		close(fd);
		return;
	}
	req[n] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return;
	}
	if (!strcmp(req, "tunnels")) {
		if (c->tunnels)
			tunnel_list(c->tunnels, f);
	} else if (!strcmp(req, "certs")) {
		certs_list(c->certs, f);
	} else {
		fprintf(f, "error\tunknown request '%s' (valid: tunnels, certs)\n", req);
	}
	fclose(f);
}

static void *ctl_thread(void *arg)
{
	struct ctl *c = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = c->lfd, .events = POLLIN },
				       { .fd = c->stop_fd, .events = POLLIN } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			serve(c, fd);
	}
	return NULL;
}

struct ctl *ctl_start(const char *run_dir, struct tunnel_svc *tunnels,
		      struct certstore *certs, char *err, size_t len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct ctl *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	c->tunnels = tunnels;
	c->certs = certs;
	c->lfd = c->stop_fd = -1;
	if ((size_t)snprintf(c->path, sizeof(c->path), "%s/%s", run_dir, CTL_SOCKET_NAME) >=
	    sizeof(c->path)) {
		snprintf(err, len, "control socket path under %s is too long", run_dir);
		goto fail;
	}
	memcpy(a.sun_path, c->path, strlen(c->path) + 1);
	unlink(c->path); /* a previous agent's */
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    chmod(c->path, 0600) || listen(c->lfd, 16)) {
		snprintf(err, len, "control socket %s: %s", c->path, strerror(errno));
		goto fail;
	}
	c->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (c->stop_fd < 0 || pthread_create(&c->th, NULL, ctl_thread, c)) {
		snprintf(err, len, "control socket thread: %s", strerror(errno));
		goto fail;
	}
	return c;
fail:
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	free(c);
	return NULL;
}

void ctl_stop(struct ctl *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	if (write(c->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(c->th, NULL);
	close(c->lfd);
	close(c->stop_fd);
	unlink(c->path);
	free(c);
}
