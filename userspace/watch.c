// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"

#define DIR_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | \
		    IN_CREATE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

static int add_watch(struct tr_watch *w)
{
	w->wd = inotify_add_watch(w->fd, w->dir, DIR_EVENTS | IN_ONLYDIR);
	if (w->wd < 0)
		return -errno;
	return 0;
}

int watch_start(struct tr_watch *w, const char *dir)
{
	int err;

	w->wd = -1;
	w->dir = strdup(dir);
	if (!w->dir)
		return -ENOMEM;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	err = add_watch(w);
	if (err)
		log_warn("cannot watch %s: %s; will retry on SIGHUP and every reload",
			 dir, strerror(-err));
	return 0;
}

bool watch_drain(struct tr_watch *w)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t n;

	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				w->wd = -1;
			relevant = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (w->wd < 0 && add_watch(w) == 0)
		relevant = true;
	return relevant;
}

bool watch_retry(struct tr_watch *w)
{
	return w->wd < 0 && add_watch(w) == 0;
}

bool watch_active(const struct tr_watch *w)
{
	return w->wd >= 0;
}

void watch_stop(struct tr_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->dir);
	w->fd = -1;
	w->dir = NULL;
}
