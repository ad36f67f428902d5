/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the files of the trestle CLI share: global flags, keyword dispatch,
 * error reporting, access to the pinned maps, and one do_<object>() per
 * object (service.c, backend.c, map.c, status.c, stats.c).
 *
 * Commands return 0 or -1; whatever went wrong has been reported through
 * p_err() by then.
 */
#ifndef TRESTLE_CLI_H
#define TRESTLE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>

#include <trestle/abi.h>

#include "output.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

extern const char *bin_name;
extern const char *bpffs;   /* --bpffs, default TR_DEFAULT_BPFFS */
extern bool json_output;    /* -j or -p */

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

/*
 * Run the command argv[0] names from cmds (exact match only). With no
 * argument, or when argv[0] is an option ("trestle flows --follow"), run
 * cmds[0] with all the arguments. An unknown keyword is an error naming it
 * and the valid ones. 'object' is used in messages ("service").
 */
int cmd_select(const struct cmd *cmds, int argc, char **argv,
	       const char *object);
/*
 * "--name VALUE", "--name=VALUE" (or "-x VALUE" for a short name) at
 * argv[*i]: 1 with *val set and *i moved past it, 0 when argv[*i] is
 * another option, -1 (reported) when the value is missing.
 */
int cli_opt_value(int argc, char **argv, int *i, const char *name, const char **val);
/* Error for arguments left over after a complete command. */
int cli_extra_args(int argc, char **argv);

/* "Error: ..." on stderr, or {"error": "..."} on stdout in JSON mode. */
void p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "Warning: ..." on stderr in both modes. */
void p_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Check that something Trestle is pinned at bpffs and read tr_meta. With
 * strict, pins of a newer ABI than this CLI knows are refused. Reports
 * the problem and returns -1, or returns 0.
 */
int cli_pins_open(struct tr_meta *meta, bool strict);

/* A map Trestle pins, with the layout this CLI decodes. */
struct map_desc {
	const char *name;
	__u32 type;       /* BPF_MAP_TYPE_* */
	__u32 key_size;
	__u32 value_size; /* per CPU for per-CPU maps */
	void (*print_key)(const void *key);
	void (*print_value)(const void *value); /* NULL for per-CPU maps */
};

extern const struct map_desc map_descs[];
extern const size_t map_descs_cnt;
const struct map_desc *map_desc_find(const char *name);

/*
 * Open the pinned map 'name' (one of map_descs) and check its type and
 * sizes against the ABI. Fills info when not NULL. Reports errors (with
 * a hint for permissions) and returns -1, or returns the fd.
 */
int cli_map_open(const char *name, struct bpf_map_info *info);
/* Like cli_map_open() but returns -ENOENT quietly when not pinned. */
int cli_map_try_open(const char *name, struct bpf_map_info *info);
/* cli_map_open() with these flags. */
#define CLI_MAP_QUIET_ENOENT 0x1 /* return -ENOENT without a message */
#define CLI_MAP_NO_CHECK 0x2     /* do not check the layout */
int cli_map_open_flags(const char *name, struct bpf_map_info *info,
		       unsigned int flags);
/* Is fd this kind of BPF object ("bpf-map", "bpf-prog", "bpf-link", as
 * /proc/self/fd names them)? */
bool cli_fd_is(int fd, const char *kind);
/* Entries in use: counted for hash maps, max_entries for arrays. */
long cli_map_entries(int fd, const struct bpf_map_info *info);
/* Fill level in percent of max_entries. */
double cli_fill_pct(long entries, __u32 max_entries);

/* Possible CPUs (the per-CPU value count), or -1 after reporting. */
int cli_ncpus(void);
/* Read a per-CPU __u64 slot: the per-CPU values (ncpus of them, may be
 * NULL) and their sum. 0, or -errno (-ENOENT: no such index). */
int cli_percpu_u64(int fd, __u32 key, __u64 *per_cpu, __u64 *sum);

/* Copy a fixed-size char field of a map value, NUL-terminated. */
void cli_strfield(char *dst, size_t dst_len, const char *src, size_t src_len);
#define CLI_STRFIELD(dst, field) \
	cli_strfield(dst, sizeof(dst), field, sizeof(field))

/* Address of a map value ("10.0.0.1", "fd00::1"). */
const char *cli_addr(const __be32 addr[4], int family, char *buf, size_t len);
/* Address and port ("10.0.0.1:80", "[fd00::1]:80"); port in host order. */
const char *cli_addr_port(const __be32 addr[4], int family, unsigned int port,
			  char *buf, size_t len);
#define CLI_ADDR_LEN 64

/* Text only when non-empty, JSON always (as ""). */
void print_opt_string(const char *key, const char *fmt, const char *value);

/*
 * Walk a hash map: cb(key, value, ctx) for each entry; a non-zero return
 * stops the walk and is returned. Entries deleted meanwhile are skipped.
 * 0, the callback's value, or -errno.
 */
int cli_map_walk(int fd, size_t key_size, size_t value_size,
		 int (*cb)(const void *key, const void *value, void *ctx),
		 void *ctx);

/* Service names: tr_lb_svcinfo[svc_id]; false (and zeroed) if absent. */
bool svcinfo_lookup(int info_fd, __u32 svc_id, struct tr_lb_svcinfo *info);
/* "ns/name:port_name", "ns/name", or "?" without names. */
const char *svc_name_str(const struct tr_lb_svcinfo *info, bool have_info,
			 char *buf, size_t len);

/*
 * One backend's fields (backend.c), inside an object the caller opened.
 * With svc (from backend list), the protocol and the owning service's
 * names are included. slots: as counted or as tr_lb_be says.
 */
void backend_print(__u32 id, const struct tr_lb_backend *be, __u32 slots,
		   __u64 selections, const struct tr_lb_svcinfo *svc);

int do_service(int argc, char **argv);
int do_backend(int argc, char **argv);
int do_map(int argc, char **argv);
int do_status(int argc, char **argv);
int do_stats(int argc, char **argv);
int do_ca(int argc, char **argv);
int do_cert(int argc, char **argv);

/* cert.c, for ca.c too: --key-type (an enum svid_key_type into *kt) and
 * duration values ("-" allowed first with allow_negative), reported;
 * a time as RFC 3339 UTC (text fmt takes the string). */
int cli_key_type(const char *v, int *kt);
int cli_duration(const char *opt, const char *v, bool allow_negative, long long *secs);
void cli_print_time(const char *key, const char *fmt, long t);

#endif /* TRESTLE_CLI_H */
