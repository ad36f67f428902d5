/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Watches the configuration directory with inotify. Editors and Kubernetes
 * ConfigMap volumes change files in several steps (temp file + rename,
 * symlink swaps), so the caller waits for a quiet moment (debounce) before
 * reloading; this module only says "something changed".
 */
#ifndef TRESTLE_WATCH_H
#define TRESTLE_WATCH_H

#include <stdbool.h>

struct tr_watch {
	int fd;   /* inotify fd, for the event loop; -1 when not watching */
	int wd;
	char *dir;
};

/* Start watching dir (which may not exist yet: then its parent is watched
 * for it to appear). Returns 0 or -errno. */
int watch_start(struct tr_watch *w, const char *dir);
/* Drain pending events; true if any concerns the configuration. */
bool watch_drain(struct tr_watch *w);
/* Try again to watch a directory that was missing; true when it now is. */
bool watch_retry(struct tr_watch *w);
bool watch_active(const struct tr_watch *w);
void watch_stop(struct tr_watch *w);

#endif /* TRESTLE_WATCH_H */
