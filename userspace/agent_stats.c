// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "agent_stats.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <trestle/maps.h>
#include <trestle/xdp.h>

static const char *const map_names[] = { TR_PINNED_MAPS };
_Static_assert(sizeof(map_names) / sizeof(map_names[0]) <= AGENT_STATS_MAPS,
	       "AGENT_STATS_MAPS is smaller than TR_PINNED_MAPS");

struct agent_stats agent_stats;

static pthread_mutex_t last_error_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[256];

void agent_stats_reload(enum reload_result r)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	atomic_fetch_add(&agent_stats.reloads[r], 1);
	atomic_store(&agent_stats.last_reload_ns,
		     (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec);
}

void agent_stats_map_failure(const char *name)
{
	atomic_fetch_add(&agent_stats.map_write_failures, 1);
	for (size_t i = 0; name && i < sizeof(map_names) / sizeof(map_names[0]); i++)
		if (!strcmp(map_names[i], name))
			atomic_fetch_add(&agent_stats.map_insert_failures[i], 1);
}

const char *agent_stats_map_name(size_t i)
{
	return i < sizeof(map_names) / sizeof(map_names[0]) ? map_names[i] : NULL;
}

const char *agent_stats_not_ready(char *buf, size_t len)
{
	if (!atomic_load(&agent_stats.programs_attached)) {
		snprintf(buf, len, "BPF programs are not attached");
		return buf;
	}
	if (!atomic_load(&agent_stats.config_loaded)) {
		char err[256];

		agent_stats_last_error(err, sizeof(err));
		snprintf(buf, len, "no configuration applied yet%s%s",
			 err[0] ? ": " : "", err);
		return buf;
	}
	return NULL;
}

void agent_stats_set_last_error(const char *msg)
{
	pthread_mutex_lock(&last_error_lock);
	snprintf(last_error, sizeof(last_error), "%s", msg ? msg : "");
	pthread_mutex_unlock(&last_error_lock);
}

void agent_stats_last_error(char *buf, size_t len)
{
	pthread_mutex_lock(&last_error_lock);
	snprintf(buf, len, "%s", last_error);
	pthread_mutex_unlock(&last_error_lock);
}
