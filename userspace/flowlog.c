// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "flowlog.h"

#include <trestle/xdp.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <trestle/abi.h>

#include "abi_fmt.h"
#include "log.h"

static int on_event(void *ctx, void *data, size_t size)
{
	struct flowlog *f = ctx;
	char line[2048];
	int n, err;

	if (size < sizeof(struct tr_flow_event))
		return 0;
	n = flowlog_format(f, data, line, sizeof(line));
	if (n <= 0 || !f->log_open)
		return 0;
	err = rotlog_write(&f->log, line, (size_t)n);
	if (err && !f->write_failed)
		log_error("cannot write the flow log %s: %s", f->log.path, strerror(-err));
	f->write_failed = err != 0;
	if (!err)
		f->written++;
	return 0;
}

int flowlog_open(struct flowlog *f, int rb_fd, int wl_info_fd, const char *path,
		 const struct rotlog_limits *lim, const struct polmaps_state *names)
{
	struct timespec boot, real;
	int err;

	memset(f, 0, sizeof(*f));
	f->wl_info_fd = wl_info_fd;
	f->names = names;
	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_REALTIME, &real);
	f->boot_to_real_ns = ((int64_t)real.tv_sec - boot.tv_sec) * 1000000000LL +
			     (real.tv_nsec - boot.tv_nsec);
	err = rotlog_open(&f->log, path, lim);
	if (err) {
		log_error("cannot open the flow log %s: %s", path, strerror(-err));
		return err;
	}
	f->log_open = true;
	f->rb = ring_buffer__new(rb_fd, on_event, f, NULL);
	if (!f->rb) {
		err = -errno;
		log_error("cannot read the flow ring buffer: %s", strerror(-err));
		return err;
	}
	return 0;
}

int flowlog_fd(const struct flowlog *f)
{
	return f->rb ? ring_buffer__epoll_fd(f->rb) : -1;
}

int flowlog_consume(struct flowlog *f)
{
	return f->rb ? ring_buffer__consume(f->rb) : 0;
}

/* The local workload whose host-side device is ifindex (rare: spoofing). */
static void workload_by_ifindex(const struct flowlog *f, uint32_t ifindex,
				uint32_t *workload, uint32_t *identity)
{
	uint32_t key, next;
	int err;

	if (f->wl_info_fd < 0)
		return;
	err = bpf_map_get_next_key(f->wl_info_fd, NULL, &next);
	while (!err) {
		struct tr_wl_info wi;

		key = next;
		if (!bpf_map_lookup_elem(f->wl_info_fd, &key, &wi) && wi.ifindex == ifindex) {
			*workload = key;
			*identity = wi.identity;
			return;
		}
		err = bpf_map_get_next_key(f->wl_info_fd, &key, &next);
	}
}

static const char *hook_name(int hook)
{
	switch (hook) {
	case TR_HOOK_CONNECT:
		return "connect";
	case TR_HOOK_SENDMSG:
		return "sendmsg";
	case TR_HOOK_TC_TO_WORKLOAD:
		return "tc_to_workload";
	case TR_HOOK_TC_FROM_WORKLOAD:
		return "tc_from_workload";
	case TR_HOOK_XDP_TO_WORKLOAD:
		return "xdp_to_workload";
	default:
		return "unknown";
	}
}

/* Append a JSON string or null. Names here come from manifests (DNS-1123)
 * and SPIFFE IDs, which hold no characters that need escaping, but quote
 * and backslash are escaped anyway. */
static size_t put_str(char *buf, size_t len, size_t off, const char *s)
{
	if (off >= len)
		return off;
	if (!s)
		return off + (size_t)snprintf(buf + off, len - off, "null");
	off += (size_t)snprintf(buf + off, len - off, "\"");
	for (; *s && off + 2 < len; s++) {
		if (*s == '"' || *s == '\\')
			buf[off++] = '\\';
		buf[off++] = (unsigned char)*s < 0x20 ? '?' : *s;
	}
	buf[off] = '\0';
	return off + (size_t)snprintf(buf + off, len - off, "\"");
}

static bool addr_zero(const __be32 a[4])
{
	return !(a[0] | a[1] | a[2] | a[3]);
}

static size_t put_end(char *buf, size_t len, size_t off, const char *label,
		      const __be32 addr[4], int family, uint16_t port,
		      uint32_t workload, uint32_t identity, const struct flowlog *f)
{
	char ip[INET6_ADDRSTRLEN];
	__be32 a[4];

	memcpy(a, addr, sizeof(a));
	/* a connect is decided before the source address is bound: use the
	 * workload's own address */
	if (addr_zero(a) && workload && f->wl_info_fd >= 0) {
		struct tr_wl_info wi;

		if (!bpf_map_lookup_elem(f->wl_info_fd, &workload, &wi)) {
			if (family == TR_AF_INET)
				a[0] = wi.addr4;
			else
				memcpy(a, wi.addr6, 16);
		}
	}
	if (off >= len)
		return off;
	off += (size_t)snprintf(buf + off, len - off, "\"%s\":{\"address\":", label);
	off = put_str(buf, len, off, addr_zero(a) ? NULL : abi_addr_str(a, family, ip, sizeof(ip)));
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, ",\"port\":%u,\"workload\":", port);
	off = put_str(buf, len, off, workload ? idtable_name(&f->names->workloads, workload) : NULL);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, ",\"identity\":");
	off = put_str(buf, len, off, identity ? idtable_name(&f->names->identities, identity) : NULL);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, "}");
	return off;
}

int flowlog_format(const struct flowlog *f, const struct tr_flow_event *e,
		   char *buf, size_t len)
{
	int64_t ns = (int64_t)e->ts_ns + f->boot_to_real_ns;
	time_t sec = (time_t)(ns / 1000000000LL);
	const char *reason = e->reason ? abi_reason_name(e->reason) : NULL;
	struct tm tm;
	size_t off;

	gmtime_r(&sec, &tm);
	off = strftime(buf, len, "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
	off += (size_t)snprintf(buf + off, len - off,
				".%06ldZ\",\"verdict\":\"%s\",\"reason\":",
				(long)((ns % 1000000000LL) / 1000),
				e->action == TR_ACT_ALLOW ? "allow" : "deny");
	off = put_str(buf, len, off, reason);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, ",\"hook\":\"%s\",\"proto\":\"%s\",",
					hook_name(e->hook), abi_proto_str(e->proto));
	{
		uint32_t src_wl = e->src_workload, src_id = e->src_identity;

		/* a packet dropped leaving a workload names no sender: it is
		 * the workload behind the device it was seen on */
		if (!src_wl && e->hook == TR_HOOK_TC_FROM_WORKLOAD && e->ifindex)
			workload_by_ifindex(f, e->ifindex, &src_wl, &src_id);
		off = put_end(buf, len, off, "src", e->saddr, e->family, ntohs(e->sport),
			      src_wl, src_id, f);
	}
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, ",");
	off = put_end(buf, len, off, "dst", e->daddr, e->family, ntohs(e->dport),
		      e->dst_workload, e->dst_identity, f);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, ",\"policy\":");
	off = put_str(buf, len, off, e->policy ? idtable_name(&f->names->policies, e->policy) : NULL);
	if (off < len) {
		if (e->policy && e->rule != TR_RULE_NONE)
			off += (size_t)snprintf(buf + off, len - off, ",\"rule\":%u", e->rule);
		else
			off += (size_t)snprintf(buf + off, len - off, ",\"rule\":null");
	}
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, ",\"default\":%s",
					!(e->flags & TR_VERD_F_DEFAULT) ? "null" :
					e->action == TR_ACT_ALLOW ? "\"allow\"" : "\"deny\"");
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, ",\"audit_policy\":");
	off = put_str(buf, len, off, e->audit_policy ?
			     idtable_name(&f->names->policies, e->audit_policy) : NULL);
	if (off < len) {
		if (e->audit_policy)
			off += (size_t)snprintf(buf + off, len - off,
						",\"audit_rule\":%u,\"audit\":true}\n", e->audit_rule);
		else
			off += (size_t)snprintf(buf + off, len - off, ",\"audit_rule\":null}\n");
	}
	if (off >= len)
		return -ENOSPC;
	return (int)off;
}

void flowlog_close(struct flowlog *f)
{
	if (f->rb)
		ring_buffer__free(f->rb);
	if (f->log_open)
		rotlog_close(&f->log);
	memset(f, 0, sizeof(*f));
}
