/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Finding a network namespace this process can open. */
#ifndef TRESTLE_NETNS_H
#define TRESTLE_NETNS_H

/*
 * Walk the network namespaces this process can name: the named ones
 * (/run/netns/NAME) first, then those of running processes
 * (/proc/PID/ns/net). open_if(path, ctx) returns an open fd when path is
 * the namespace looked for (the walk stops and returns it), or -1 to go
 * on. Returns -ENOENT when none was.
 */
int netns_find(int (*open_if)(const char *path, void *ctx), void *ctx);

#endif /* TRESTLE_NETNS_H */
