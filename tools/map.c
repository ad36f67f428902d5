// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trestle map { list | dump NAME | help }
 *
 * map_descs[] is the one table of the maps Trestle pins: the layout this
 * CLI expects (checked when a map is opened) and how to print its keys and
 * values with named fields.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trestle/maps.h>
#include <trestle/xdp.h>
#include <trestle/policy.h>
#include <trestle/reasons.h>
#include <trestle/redir.h>
#include <trestle/tunnel.h>

#include "abi_fmt.h"
#include "cli.h"
#include "pins.h"

/* Key and value printers: fields inside an object the caller opened; in
 * text each field starts with a space. */

static void print_u32_field(const char *key, __u32 v)
{
	char fmt[64];

	snprintf(fmt, sizeof(fmt), " %s %%llu", key);
	print_uint(PRINT_ANY, key, fmt, v);
}

static void print_addr_field(const char *key, const __be32 addr[4],
			     int family)
{
	char buf[CLI_ADDR_LEN], fmt[64];

	snprintf(fmt, sizeof(fmt), " %s %%s", key);
	print_string(PRINT_ANY, key, fmt, cli_addr(addr, family, buf,
						   sizeof(buf)));
}

static void print_port_field(const char *key, __be16 port)
{
	char fmt[64];

	snprintf(fmt, sizeof(fmt), " %s %%llu", key);
	print_uint(PRINT_ANY, key, fmt, ntohs(port));
}

static void print_family_field(int family)
{
	print_string(PRINT_ANY, "family", " family %s",
		     family == TR_AF_INET6 ? "ipv6" :
		     family == TR_AF_INET  ? "ipv4" : "?");
}

static void print_name_field(const char *key, const char *field, size_t len)
{
	char buf[TR_SPIFFE_LEN + 1], fmt[64];

	cli_strfield(buf, sizeof(buf), field, len);
	snprintf(fmt, sizeof(fmt), " %s %%s", key);
	print_string(*buf ? PRINT_ANY : PRINT_JSON, key, fmt, buf);
}

static void key_index(const void *key)
{
	print_u32_field("index", *(const __u32 *)key);
}

static void key_id(const void *key)
{
	print_u32_field("id", *(const __u32 *)key);
}

static void key_svc_id(const void *key)
{
	print_u32_field("svc_id", *(const __u32 *)key);
}

static void key_backend_id(const void *key)
{
	print_u32_field("backend_id", *(const __u32 *)key);
}

static void key_stat(const void *key)
{
	__u32 idx = *(const __u32 *)key;
	const char *name = abi_stat_name(idx);

	print_u32_field("index", idx);
	if (name)
		print_string(PRINT_ANY, "name", " (%s)", name);
	else
		print_null(PRINT_JSON, "name", NULL);
}

static void val_meta(const void *value)
{
	const struct tr_meta *m = value;

	print_uint(PRINT_ANY, "magic", " magic 0x%llx", m->magic);
	print_u32_field("abi_version", m->abi_version);
	print_uint(PRINT_ANY, "generation", " generation %llu", m->generation);
	print_uint(PRINT_ANY, "applied_ns", " applied_ns %llu", m->applied_ns);
	print_u32_field("next_table", m->next_table);
	print_u32_field("next_backend", m->next_backend);
	print_u32_field("services", m->services);
	print_u32_field("backends", m->backends);
	print_uint(PRINT_ANY, "config_hash", " config_hash 0x%016llx",
		   m->config_hash);
	print_name_field("run_dir", m->run_dir, sizeof(m->run_dir));
}

static void key_lb4(const void *key)
{
	const struct tr_lb4_key *k = key;
	__be32 addr[4] = { k->addr };

	print_addr_field("vip", addr, TR_AF_INET);
	print_port_field("port", k->port);
	print_string(PRINT_ANY, "protocol", " protocol %s",
		     abi_proto_str(k->proto));
}

static void key_lb6(const void *key)
{
	const struct tr_lb6_key *k = key;

	print_addr_field("vip", k->addr, TR_AF_INET6);
	print_port_field("port", k->port);
	print_string(PRINT_ANY, "protocol", " protocol %s",
		     abi_proto_str(k->proto));
}

static void val_svc(const void *value)
{
	const struct tr_lb_svc *v = value;

	print_u32_field("svc_id", v->svc_id);
	print_u32_field("table", v->table);
	print_u32_field("slots", v->slots);
	print_uint(PRINT_ANY, "flags", " flags 0x%llx", v->flags);
}

static void key_slot(const void *key)
{
	const struct tr_lb_slot_key *k = key;

	print_u32_field("table", k->table);
	print_u32_field("slot", k->slot);
}

static void val_slot(const void *value)
{
	const struct tr_lb_slot *v = value;

	print_addr_field("address", v->addr, v->family);
	print_port_field("port", v->port);
	print_family_field(v->family);
	print_u32_field("backend_id", v->backend_id);
}

static void val_backend(const void *value)
{
	const struct tr_lb_backend *v = value;

	print_addr_field("address", v->addr, v->family);
	print_port_field("port", v->port);
	print_family_field(v->family);
	print_string(PRINT_ANY, "protocol", " protocol %s",
		     abi_proto_str(v->proto));
	print_u32_field("svc_id", v->svc_id);
	print_uint(PRINT_ANY, "flags", " flags 0x%llx", v->flags);
	print_bool(PRINT_JSON, "ready", NULL, v->flags & TR_BE_F_READY);
	print_u32_field("slots", v->slots);
	print_u32_field("weight_ppm", v->weight_ppm);
	print_name_field("subset", v->subset, sizeof(v->subset));
	print_name_field("node", v->node, sizeof(v->node));
	print_name_field("zone", v->zone, sizeof(v->zone));
	print_name_field("pod", v->pod, sizeof(v->pod));
}

static void val_svcinfo(const void *value)
{
	const struct tr_lb_svcinfo *v = value;

	print_name_field("namespace", v->ns, sizeof(v->ns));
	print_name_field("name", v->name, sizeof(v->name));
	print_name_field("port_name", v->port_name, sizeof(v->port_name));
	print_uint(PRINT_ANY, "port", " port %llu", v->port);
	print_string(PRINT_ANY, "protocol", " protocol %s",
		     abi_proto_str(v->proto));
}

static void key_revnat(const void *key)
{
	const struct tr_revnat_key *k = key;

	print_uint(PRINT_ANY, "cookie", " cookie %llu", k->cookie);
	print_addr_field("address", k->addr, k->family);
	print_port_field("port", k->port);
	print_family_field(k->family);
}

static void val_revnat(const void *value)
{
	const struct tr_revnat *v = value;

	print_addr_field("vip", v->addr, v->family);
	print_port_field("port", v->port);
	print_family_field(v->family);
	print_u32_field("svc_id", v->svc_id);
}

static void val_pol_cfg(const void *value)
{
	const struct tr_pol_cfg *v = value;

	print_u32_field("epoch", v->epoch);
	print_uint(PRINT_ANY, "flags", " flags 0x%llx", v->flags);
	print_bool(PRINT_JSON, "log_allow", NULL,
		   v->flags & TR_POL_F_LOG_ALLOW);
}

/* LPM keys: the epoch, then the address prefix (prefixlen counts the 32
 * epoch bits too). */
static void print_lpm_key(__u32 prefixlen, __u32 epoch, const __be32 *addr,
			  int family)
{
	char buf[CLI_ADDR_LEN], prefix[CLI_ADDR_LEN + 32];
	int bits = (int)prefixlen - 32;

	print_u32_field("epoch", epoch);
	cli_addr(addr, family, buf, sizeof(buf));
	if (bits >= 0)
		snprintf(prefix, sizeof(prefix), "%s/%d", buf, bits);
	else /* shorter than the epoch: not a Trestle key */
		snprintf(prefix, sizeof(prefix), "%s (prefixlen %u)", buf,
			 prefixlen);
	print_string(PRINT_ANY, "prefix", " prefix %s", prefix);
	print_u32_field("prefixlen", prefixlen);
}

static void key_ip4_info(const void *key)
{
	const struct tr_ip4_lpm_key *k = key;
	__be32 addr[4] = { k->addr };

	print_lpm_key(k->prefixlen, k->epoch, addr, TR_AF_INET);
}

static void key_ip6_info(const void *key)
{
	const struct tr_ip6_lpm_key *k = key;

	print_lpm_key(k->prefixlen, k->epoch, k->addr, TR_AF_INET6);
}

static void val_ipinfo(const void *value)
{
	const struct tr_ipinfo *v = value;

	print_u32_field("src_class", v->src_class);
	print_u32_field("dst_class", v->dst_class);
	print_u32_field("identity", v->identity);
	print_u32_field("workload", v->workload);
	print_u32_field("ifindex", v->ifindex);
	print_uint(PRINT_ANY, "flags", " flags 0x%llx", v->flags);
	print_bool(PRINT_JSON, "is_workload", NULL,
		   v->flags & TR_IP_F_WORKLOAD);
	print_bool(PRINT_JSON, "local", NULL, v->flags & TR_IP_F_LOCAL);
}

static void key_cgroup(const void *key)
{
	const struct tr_cgroup_key *k = key;

	print_u32_field("epoch", k->epoch);
	print_uint(PRINT_ANY, "cgroup_id", " cgroup_id %llu", k->cgroup_id);
}

static void key_pol(const void *key)
{
	const struct tr_pol_key *k = key;

	print_u32_field("dst_class", k->dst_class);
	print_u32_field("src_class", k->src_class);
	print_uint(PRINT_ANY, "port", " port %llu", k->port);
}

static void key_dst_class(const void *key)
{
	print_u32_field("dst_class", *(const __u32 *)key);
}

static void print_rule_field(const char *key, __u16 rule)
{
	char fmt[64];

	snprintf(fmt, sizeof(fmt), " %s %%llu", key);
	if (rule == TR_RULE_NONE)
		print_null(PRINT_JSON, key, NULL);
	else
		print_uint(PRINT_ANY, key, fmt, rule);
}

static void val_verdict(const void *value)
{
	const struct tr_pol_verdict *v = value;

	print_string(PRINT_ANY, "action", " action %s",
		     v->action == TR_ACT_ALLOW ? "allow" :
		     v->action == TR_ACT_DENY  ? "deny" : "?");
	print_uint(PRINT_ANY, "flags", " flags 0x%llx", v->flags);
	print_bool(PRINT_JSON, "default", NULL, v->flags & TR_VERD_F_DEFAULT);
	print_bool(PRINT_JSON, "audit", NULL, v->flags & TR_VERD_F_AUDIT);
	print_u32_field("policy", v->policy);
	print_rule_field("rule", v->rule);
	print_u32_field("audit_policy", v->audit_policy);
	if (v->flags & TR_VERD_F_AUDIT)
		print_rule_field("audit_rule", v->audit_rule);
	else
		print_null(PRINT_JSON, "audit_rule", NULL);
}

static void key_pol_stat(const void *key)
{
	static const char *const what[TR_POL_STAT_N] = {
		[TR_POL_STAT_ALLOW] = "allowed",
		[TR_POL_STAT_DENY] = "denied",
		[TR_POL_STAT_AUDIT] = "audited",
	};
	__u32 idx = *(const __u32 *)key;
	const char *name = what[idx % TR_POL_STAT_N];

	print_u32_field("index", idx);
	print_u32_field("policy", idx / TR_POL_STAT_N);
	if (name)
		print_string(PRINT_ANY, "counter", " (%s)", name);
	else
		print_null(PRINT_JSON, "counter", NULL);
}

static void val_id_info(const void *value)
{
	const struct tr_id_info *v = value;

	print_name_field("spiffe", v->spiffe, sizeof(v->spiffe));
}

static void val_wl_info(const void *value)
{
	static const __be32 zero6[4];
	const struct tr_wl_info *v = value;
	__be32 a4[4] = { v->addr4 };

	print_name_field("namespace", v->ns, sizeof(v->ns));
	print_name_field("name", v->name, sizeof(v->name));
	print_name_field("node", v->node, sizeof(v->node));
	print_u32_field("identity", v->identity);
	print_u32_field("ifindex", v->ifindex);
	print_u32_field("src_class", v->src_class);
	print_u32_field("dst_class", v->dst_class);
	if (v->addr4)
		print_addr_field("address4", a4, TR_AF_INET);
	else
		print_null(PRINT_JSON, "address4", NULL);
	if (memcmp(v->addr6, zero6, sizeof(zero6)))
		print_addr_field("address6", v->addr6, TR_AF_INET6);
	else
		print_null(PRINT_JSON, "address6", NULL);
}

static void val_pol_info(const void *value)
{
	const struct tr_pol_info *v = value;

	print_name_field("namespace", v->ns, sizeof(v->ns));
	print_name_field("name", v->name, sizeof(v->name));
	print_string(PRINT_ANY, "action", " action %s",
		     v->action == TR_POLICY_ALLOW ? "ALLOW" :
		     v->action == TR_POLICY_DENY  ? "DENY" :
		     v->action == TR_POLICY_AUDIT ? "AUDIT" : "?");
	print_string(PRINT_ANY, "scope", " scope %s",
		     v->scope == 0 ? "workload" :
		     v->scope == 1 ? "namespace" :
		     v->scope == 2 ? "mesh" : "?");
	print_u32_field("rules", v->n_rules);
	print_u32_field("selected", v->n_selected);
	print_name_field("selector", v->selector, sizeof(v->selector));
}

static void val_tun_cfg(const void *value)
{
	const struct tr_tun_cfg *v = value;
	__be32 a4[4] = { v->node4 };

	print_bool(PRINT_ANY, "enabled", " enabled %s", v->enabled);
	print_addr_field("node4", a4, TR_AF_INET);
	print_addr_field("node6", v->node6, TR_AF_INET6);
}

static void val_redir_cfg(const void *value)
{
	const struct tr_redir_cfg *v = value;

	print_string(PRINT_ANY, "mode", " mode %s", abi_redir_mode_name(v->mode));
	print_u32_field("bulk_bytes", v->bulk_bytes);
}

static void key_peerauth(const void *key)
{
	const struct tr_peerauth_key *k = key;

	print_u32_field("workload", k->workload);
	print_u32_field("port", k->port);
}

static void val_peerauth(const void *value)
{
	const struct tr_peerauth *v = value;

	print_string(PRINT_ANY, "mode", " mode %s",
		     v->mode == TR_MTLS_STRICT     ? "STRICT" :
		     v->mode == TR_MTLS_PERMISSIVE ? "PERMISSIVE" :
		     v->mode == TR_MTLS_DISABLE    ? "DISABLE" : "UNSET");
}

/*
 * print_value NULL: a per-CPU array of __u64, dumped as sums. print_key
 * NULL too: a ring buffer (nothing to dump), or a map whose layout is not
 * in the ABI headers (key_size 0: sizes not checked, dumped as hex).
 */
const struct map_desc map_descs[] = {
	{ TR_MAP_META, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct tr_meta), key_index, val_meta },
	{ TR_MAP_LB4_SVC, BPF_MAP_TYPE_HASH, sizeof(struct tr_lb4_key),
	  sizeof(struct tr_lb_svc), key_lb4, val_svc },
	{ TR_MAP_LB6_SVC, BPF_MAP_TYPE_HASH, sizeof(struct tr_lb6_key),
	  sizeof(struct tr_lb_svc), key_lb6, val_svc },
	{ TR_MAP_LB_SLOT, BPF_MAP_TYPE_HASH, sizeof(struct tr_lb_slot_key),
	  sizeof(struct tr_lb_slot), key_slot, val_slot },
	{ TR_MAP_LB_BE, BPF_MAP_TYPE_HASH, sizeof(__u32),
	  sizeof(struct tr_lb_backend), key_id, val_backend },
	{ TR_MAP_LB_BESTAT, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
	  sizeof(__u64), key_backend_id, NULL },
	{ TR_MAP_LB_SVCINFO, BPF_MAP_TYPE_HASH, sizeof(__u32),
	  sizeof(struct tr_lb_svcinfo), key_svc_id, val_svcinfo },
	{ TR_MAP_REVNAT, BPF_MAP_TYPE_LRU_HASH, sizeof(struct tr_revnat_key),
	  sizeof(struct tr_revnat), key_revnat, val_revnat },
	{ TR_MAP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
	  sizeof(__u64), key_stat, NULL },
	{ TR_MAP_POL_CFG, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct tr_pol_cfg), key_index, val_pol_cfg },
	{ TR_MAP_IP4_INFO, BPF_MAP_TYPE_LPM_TRIE,
	  sizeof(struct tr_ip4_lpm_key), sizeof(struct tr_ipinfo),
	  key_ip4_info, val_ipinfo },
	{ TR_MAP_IP6_INFO, BPF_MAP_TYPE_LPM_TRIE,
	  sizeof(struct tr_ip6_lpm_key), sizeof(struct tr_ipinfo),
	  key_ip6_info, val_ipinfo },
	{ TR_MAP_CGROUP, BPF_MAP_TYPE_HASH, sizeof(struct tr_cgroup_key),
	  sizeof(struct tr_ipinfo), key_cgroup, val_ipinfo },
	{ TR_MAP_POL, BPF_MAP_TYPE_HASH, sizeof(struct tr_pol_key),
	  sizeof(struct tr_pol_verdict), key_pol, val_verdict },
	{ TR_MAP_POL_DST, BPF_MAP_TYPE_HASH, sizeof(__u32),
	  sizeof(struct tr_pol_verdict), key_dst_class, val_verdict },
	{ TR_MAP_POL_STAT, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
	  sizeof(__u64), key_pol_stat, NULL },
	{ TR_MAP_FLOW_RB, BPF_MAP_TYPE_RINGBUF, 0, 0, NULL, NULL },
	{ TR_MAP_ID_INFO, BPF_MAP_TYPE_HASH, sizeof(__u32),
	  sizeof(struct tr_id_info), key_id, val_id_info },
	{ TR_MAP_WL_INFO, BPF_MAP_TYPE_HASH, sizeof(__u32),
	  sizeof(struct tr_wl_info), key_id, val_wl_info },
	{ TR_MAP_POL_INFO, BPF_MAP_TYPE_HASH, sizeof(__u32),
	  sizeof(struct tr_pol_info), key_id, val_pol_info },
	/* key layout private to bpf/tc.bpf.c: not checked, dumped as hex */
	{ TR_MAP_CT_UDP, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_L4_STAT, BPF_MAP_TYPE_PERCPU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_L4_ENDS, BPF_MAP_TYPE_PERCPU_ARRAY, 0, 0, NULL, NULL },
	{ TR_MAP_SK, BPF_MAP_TYPE_SK_STORAGE, 0, 0, NULL, NULL },
	{ TR_MAP_LB_RBE, BPF_MAP_TYPE_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_WL_ADDR, BPF_MAP_TYPE_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_TUN_CFG, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct tr_tun_cfg), key_index, val_tun_cfg },
	{ TR_MAP_PEERAUTH, BPF_MAP_TYPE_HASH, sizeof(struct tr_peerauth_key),
	  sizeof(struct tr_peerauth), key_peerauth, val_peerauth },
	{ TR_MAP_TUN_ORIG, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_TUN_PEER, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_REDIR_CFG, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct tr_redir_cfg), key_index, val_redir_cfg },
	/* sockets: keys as hex, values are socket cookies */
	{ TR_MAP_REDIR_SK, BPF_MAP_TYPE_SOCKHASH, 0, 0, NULL, NULL },
	{ TR_MAP_REDIR_ST, BPF_MAP_TYPE_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_REDIR_BULK, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	/* the uplink load balancer (xdp.h): dumped as hex */
	{ TR_MAP_XDP_CFG, BPF_MAP_TYPE_ARRAY, 0, 0, NULL, NULL },
	{ TR_MAP_XDP4_VIP, BPF_MAP_TYPE_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_XDP6_VIP, BPF_MAP_TYPE_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_XDP_RING, BPF_MAP_TYPE_HASH_OF_MAPS, 0, 0, NULL, NULL },
	{ TR_MAP_XDP_BE, BPF_MAP_TYPE_ARRAY, 0, 0, NULL, NULL },
	{ TR_MAP_XDP4_CT, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_XDP6_CT, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_XDP4_RNAT, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_XDP6_RNAT, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_XDP4_FRAG, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_XDP6_FRAG, BPF_MAP_TYPE_LRU_HASH, 0, 0, NULL, NULL },
	{ TR_MAP_XDP4_DENY, BPF_MAP_TYPE_LPM_TRIE, 0, 0, NULL, NULL },
	{ TR_MAP_XDP6_DENY, BPF_MAP_TYPE_LPM_TRIE, 0, 0, NULL, NULL },
	{ TR_MAP_XDP_PORTS, BPF_MAP_TYPE_ARRAY, 0, 0, NULL, NULL },
};

const size_t map_descs_cnt = ARRAY_SIZE(map_descs);

/* Every map Trestle pins, in maps.h order: what `map list` shows. */
static const char *const pinned_maps[] = { TR_PINNED_MAPS };

_Static_assert(ARRAY_SIZE(pinned_maps) == ARRAY_SIZE(map_descs),
	       "every map in TR_PINNED_MAPS needs a map_descs entry");

static bool is_pinned_map(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(pinned_maps); i++)
		if (!strcmp(pinned_maps[i], name))
			return true;
	return false;
}

static const char *map_type_str(__u32 type)
{
	const char *s = libbpf_bpf_map_type_str(type);

	return s ? s : "unknown";
}

static void print_list_header(void)
{
	print_fp("%-15s %-13s %5s %6s %9s %9s %7s %6s\n", "NAME", "TYPE", "KEY",
		 "VALUE", "ENTRIES", "MAX", "FILL", "ID");
}

static void print_list_row(const char *name, int fd,
			   const struct bpf_map_info *info)
{
	long entries;

	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "%-15s ", name);
	if (fd < 0) {
		print_bool(PRINT_JSON, "pinned", NULL, false);
		print_null(PRINT_ANY, "type", "(not pinned)");
		print_null(PRINT_JSON, "key_size", NULL);
		print_null(PRINT_JSON, "value_size", NULL);
		print_null(PRINT_JSON, "entries", NULL);
		print_null(PRINT_JSON, "max_entries", NULL);
		print_null(PRINT_JSON, "fill_pct", NULL);
		print_null(PRINT_JSON, "map_id", NULL);
		close_json_object();
		print_nl();
		return;
	}
	entries = cli_map_entries(fd, info);
	print_bool(PRINT_JSON, "pinned", NULL, true);
	print_string(PRINT_ANY, "type", "%-13s ", map_type_str(info->type));
	print_uint(PRINT_ANY, "key_size", "%5llu ", info->key_size);
	print_uint(PRINT_ANY, "value_size", "%6llu ", info->value_size);
	if (entries >= 0)
		print_uint(PRINT_ANY, "entries", "%9llu ", (__u64)entries);
	else
		print_null(PRINT_ANY, "entries", "        ? ");
	print_uint(PRINT_ANY, "max_entries", "%9llu ", info->max_entries);
	if (entries >= 0)
		print_float(PRINT_ANY, "fill_pct", "%6.1f%% ",
			    cli_fill_pct(entries, info->max_entries));
	else
		print_null(PRINT_ANY, "fill_pct", "      - ");
	print_uint(PRINT_ANY, "map_id", "%6llu", info->id);
	close_json_object();
	print_nl();
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Maps pinned at bpffs that map_descs does not know (newer agent). */
static void list_other_maps(void)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(bpffs);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (de->d_type != DT_REG || map_desc_find(de->d_name) ||
		    is_pinned_map(de->d_name))
			continue;
		if (n == cap) {
			char **v;

			cap = cap ? cap * 2 : 16;
			v = realloc(names, cap * sizeof(*v));
			if (!v)
				break;
			names = v;
		}
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(dir);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int fd;

		if (!pins_path(path, sizeof(path), bpffs, names[i])) {
			fd = bpf_obj_get(path);
			if (fd >= 0) {
				if (cli_fd_is(fd, "bpf-map") &&
				    !bpf_obj_get_info_by_fd(fd, &info, &len))
					print_list_row(names[i], fd, &info);
				close(fd);
			}
		}
		free(names[i]);
	}
	free(names);
}

static int do_list(int argc, char **argv)
{
	struct tr_meta meta;

	if (cli_extra_args(argc, argv))
		return -1;
	if (cli_pins_open(&meta, false))
		return -1;
	print_list_header();
	open_json_array(PRINT_JSON, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(pinned_maps); i++) {
		struct bpf_map_info info = {};
		int fd;

		fd = cli_map_open_flags(pinned_maps[i], &info,
					CLI_MAP_QUIET_ENOENT |
					CLI_MAP_NO_CHECK);
		if (fd < 0 && fd != -ENOENT) {
			close_json_array(PRINT_JSON, NULL);
			return -1;
		}
		print_list_row(pinned_maps[i], fd, &info);
		if (fd >= 0)
			close(fd);
	}
	list_other_maps();
	close_json_array(PRINT_JSON, NULL);
	return 0;
}

struct dump_ctx {
	const struct map_desc *d;
	size_t count;
	__u32 key_size, value_size; /* for hex dumps */
};

static void print_hex_field(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *hex = malloc(len * 2 + 1);

	if (!hex)
		return;
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", p[i]);
	hex[len * 2] = '\0';
	print_string(PRINT_ANY, "hex", " %s", hex);
	free(hex);
}

static int dump_hex_entry(const void *key, const void *value, void *ctx)
{
	struct dump_ctx *c = ctx;

	open_json_object(NULL);
	open_json_object("key");
	print_fp("key:");
	print_hex_field(key, c->key_size);
	close_json_object();
	open_json_object("value");
	print_fp("  value:");
	print_hex_field(value, c->value_size);
	close_json_object();
	close_json_object();
	print_nl();
	c->count++;
	return 0;
}

static int dump_entry(const void *key, const void *value, void *ctx)
{
	struct dump_ctx *c = ctx;

	open_json_object(NULL);
	open_json_object("key");
	print_fp("key:");
	c->d->print_key(key);
	close_json_object();
	open_json_object("value");
	print_fp("  value:");
	c->d->print_value(value);
	close_json_object();
	close_json_object();
	print_nl();
	c->count++;
	return 0;
}

/* Per-CPU arrays: entries whose sum is not zero, with the per-CPU values
 * in JSON. */
static int dump_percpu(int fd, const struct bpf_map_info *info,
		       const struct map_desc *d, size_t *count)
{
	int ncpus = cli_ncpus();
	__u64 *vals, sum;
	int err = 0;

	if (ncpus < 0)
		return -EINVAL;
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 i = 0; i < info->max_entries; i++) {
		err = cli_percpu_u64(fd, i, vals, &sum);
		if (err)
			break;
		if (!sum)
			continue;
		open_json_object(NULL);
		open_json_object("key");
		print_fp("key:");
		d->print_key(&i);
		close_json_object();
		open_json_object("value");
		print_uint(PRINT_ANY, "sum", "  value: sum %llu", sum);
		open_json_array(PRINT_JSON, "per_cpu");
		for (int c = 0; c < ncpus; c++)
			print_uint(PRINT_JSON, NULL, NULL, vals[c]);
		close_json_array(PRINT_JSON, NULL);
		close_json_object();
		close_json_object();
		print_nl();
		(*count)++;
	}
	free(vals);
	return err;
}

static void known_maps(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < map_descs_cnt; i++) {
		int k = snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
				 map_descs[i].name);

		if (k < 0 || (size_t)k >= len - n)
			break;
		n += (size_t)k;
	}
}

static int do_dump(int argc, char **argv)
{
	struct dump_ctx ctx = {};
	struct bpf_map_info info;
	struct tr_meta meta;
	int fd, err;

	if (argc < 1) {
		char known[1024];

		known_maps(known, sizeof(known));
		p_err("map dump needs a map name (one of: %s)", known);
		return -1;
	}
	ctx.d = map_desc_find(argv[0]);
	if (!ctx.d) {
		char known[1024];

		known_maps(known, sizeof(known));
		p_err("unknown map '%s' (known: %s)", argv[0], known);
		return -1;
	}
	if (cli_extra_args(argc - 1, argv + 1))
		return -1;
	if (ctx.d->type == BPF_MAP_TYPE_RINGBUF) {
		p_err("%s is a ring buffer, it has no entries to dump (trestled turns its events into the flow log: trestle flows)",
		      ctx.d->name);
		return -1;
	}
	if (ctx.d->type == BPF_MAP_TYPE_SK_STORAGE) {
		p_err("%s is socket-local storage: its entries live in the sockets and cannot be listed (trestle stats counts failed allocations as sk_table_full)",
		      ctx.d->name);
		return -1;
	}
	if (cli_pins_open(&meta, true))
		return -1;
	fd = cli_map_open(ctx.d->name, &info);
	if (fd < 0)
		return -1;

	open_json_array(PRINT_JSON, NULL);
	if (!ctx.d->print_key) {
		ctx.key_size = info.key_size;
		ctx.value_size = info.value_size;
		if (info.type == BPF_MAP_TYPE_PERCPU_HASH || info.type == BPF_MAP_TYPE_PERCPU_ARRAY ||
		    info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH) {
			/* a lookup fills one value per possible CPU, each
			 * rounded up to 8 bytes: printed one after the other */
			int ncpus = cli_ncpus();

			if (ncpus < 0) {
				p_err("cannot count the possible CPUs");
				return -1;
			}
			ctx.value_size = ((info.value_size + 7) & ~7u) * (__u32)ncpus;
		}
		err = cli_map_walk(fd, info.key_size, ctx.value_size, dump_hex_entry, &ctx);
	} else if (!ctx.d->print_value) {
		err = dump_percpu(fd, &info, ctx.d, &ctx.count);
	} else {
		err = cli_map_walk(fd, ctx.d->key_size, ctx.d->value_size,
				   dump_entry, &ctx);
	}
	close_json_array(PRINT_JSON, NULL);
	close(fd);
	if (err) {
		p_err("cannot dump %s/%s: %s", bpffs, ctx.d->name,
		      strerror(-err));
		return -1;
	}
	if (!ctx.count)
		print_fp("(no entries%s)\n",
			 ctx.d->print_value || !ctx.d->print_key ?
				 "" : " with a non-zero sum");
	return 0;
}

static int do_help(int argc, char **argv)
{
	char known[1024];

	(void)argc;
	(void)argv;
	if (json_output) {
		print_null(PRINT_JSON, NULL, NULL);
		return 0;
	}
	known_maps(known, sizeof(known));
	fprintf(stdout,
		"Usage: %s map { list | dump NAME | help }\n"
		"\n"
		"  list         the pinned maps: type, sizes, entries, fill, id\n"
		"  dump NAME    the entries of a map, decoded; per-CPU maps show\n"
		"               entries with a non-zero sum\n"
		"\n"
		"NAME := { %s }\n",
		bin_name, known);
	return 0;
}

static const struct cmd cmds[] = {
	{ "list", do_list },
	{ "dump", do_dump },
	{ "help", do_help },
	{ NULL, NULL },
};

int do_map(int argc, char **argv)
{
	return cmd_select(cmds, argc, argv, "map");
}
