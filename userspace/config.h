/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The mesh configuration model: what the manifests in the config directory
 * say, validated, before it is compiled into map entries (compile.h).
 *
 * config_load_dir() reads every *.yaml / *.yml file of a directory (sorted
 * by name, several documents per file), validates each object and the
 * whole set, and either returns a complete model or refuses with a list of
 * diagnostics that name file, line and reason. It never returns a partial
 * model: on error *out is left empty.
 */
#ifndef TRESTLE_CONFIG_H
#define TRESTLE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An IP address as the kernel sees it: network byte order bytes. */
struct tr_ip {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t bytes[16]; /* IPv4 uses bytes[0..3] */
};

struct tr_label {
	char *key;
	char *value;
};

struct tr_labels {
	struct tr_label *items;
	size_t n;
};

/* Where an object (or field) was written, for messages. */
struct tr_src {
	const char *file; /* points into tr_config.files */
	int line;         /* 1-based */
};

/* v1 Service, spec.ports[] */
struct tr_svc_port {
	char *name;             /* "" when unnamed */
	int proto;              /* IPPROTO_TCP or IPPROTO_UDP (default TCP) */
	uint16_t port;          /* 1..65535 */
	uint16_t target_port;   /* numeric targetPort; 0 if named or absent */
	char *target_port_name; /* named targetPort, NULL if numeric/absent */
	uint16_t node_port;     /* nodePort (type NodePort or LoadBalancer),
				 * TR_NODE_PORT_MIN..MAX; 0 = none */
	int node_port_line;
	struct tr_src src;
};

/* The range Kubernetes allocates node ports from (its default). */
#define TR_NODE_PORT_MIN 30000
#define TR_NODE_PORT_MAX 32767

enum tr_svc_type { TR_SVC_CLUSTER_IP = 0, TR_SVC_NODE_PORT, TR_SVC_LOAD_BALANCER };

/* v1 Service */
struct tr_service {
	char *ns;   /* metadata.namespace, "default" when absent */
	char *name; /* metadata.name */
	struct tr_labels selector; /* spec.selector */
	struct tr_ip *vips;        /* clusterIP + clusterIPs, deduplicated */
	size_t n_vips;             /* 0 for headless (clusterIP: None) */
	struct tr_svc_port *ports;
	size_t n_ports;
	enum tr_svc_type type;     /* spec.type */
	struct tr_ip *external_ips; /* spec.externalIPs, deduplicated */
	size_t n_external_ips;
	int external_ips_line;
	struct tr_ip *lb_ips;      /* status.loadBalancer.ingress[].ip (type
				    * LoadBalancer), deduplicated */
	size_t n_lb_ips;
	int lb_ips_line;
	struct tr_src src;
};

/* discovery.k8s.io/v1 EndpointSlice, ports[] */
struct tr_es_port {
	char *name;   /* "" when unnamed */
	int proto;    /* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t port;
	struct tr_src src;
};

/* discovery.k8s.io/v1 EndpointSlice, endpoints[] */
struct tr_es_endpoint {
	struct tr_ip *addrs;
	size_t n_addrs;
	bool ready;        /* conditions.ready; absent means ready (k8s) */
	char *node;        /* nodeName, "" when absent */
	char *zone;        /* zone, "" when absent */
	char *target_pod;  /* targetRef.name when targetRef.kind is Pod, else "" */
	struct tr_src src;
};

/* discovery.k8s.io/v1 EndpointSlice */
struct tr_endpointslice {
	char *ns;
	char *name;
	char *service;   /* label kubernetes.io/service-name */
	int family;      /* addressType: AF_INET or AF_INET6 (FQDN is refused) */
	struct tr_es_port *ports;
	size_t n_ports;
	struct tr_es_endpoint *endpoints;
	size_t n_endpoints;
	struct tr_src src;
};

/* v1 Pod (the fields Trestle uses) */
struct tr_pod {
	char *ns;
	char *name;
	struct tr_labels labels;
	char *service_account; /* spec.serviceAccountName, "default" when absent */
	char *node;            /* spec.nodeName, "" when absent */
	char *cgroup;          /* annotation trestle.io/cgroup, NULL when absent */
	struct tr_ip *ips;     /* status.podIP + status.podIPs, deduplicated */
	size_t n_ips;
	struct tr_src src;
};

/* v1 Node */
struct tr_node {
	char *name;
	struct tr_ip *internal_ips; /* status.addresses[type=InternalIP] */
	size_t n_internal_ips;
	struct tr_src src;
};

/* networking.istio.io DestinationRule, spec.subsets[] */
struct tr_subset {
	char *name;
	struct tr_labels labels;
	struct tr_src src;
};

/* networking.istio.io DestinationRule (L4 subset) */
struct tr_dest_rule {
	char *ns;
	char *name;
	char *host;  /* spec.host as written */
	struct tr_subset *subsets;
	size_t n_subsets;
	struct tr_src src;
};

/* networking.istio.io VirtualService, spec.tcp[].route[] */
struct tr_route_dest {
	char *host;     /* destination.host as written */
	char *subset;   /* destination.subset, NULL when absent */
	uint16_t port;  /* destination.port.number, 0 when absent */
	uint32_t weight;/* weight; when no route of the rule sets one, 100/n */
	struct tr_src src;
};

/* networking.istio.io VirtualService, spec.tcp[] */
struct tr_tcp_route {
	uint16_t *match_ports; /* match[].port; none = every port */
	size_t n_match_ports;
	struct tr_route_dest *routes;
	size_t n_routes;
	struct tr_src src;
};

/* networking.istio.io VirtualService (L4 subset) */
struct tr_virtual_service {
	char *ns;
	char *name;
	char **hosts;
	size_t n_hosts;
	struct tr_tcp_route *tcp;
	size_t n_tcp;
	struct tr_src src;
};

/* trestle.io/v1alpha1 Mesh */
struct tr_mesh {
	char *trust_domain;   /* spec.trustDomain, default "cluster.local" */
	char *root_namespace; /* spec.rootNamespace, default "istio-system" */
	bool present;
	struct tr_src src;
};

/* An address block: ipBlocks entries ("10.0.0.0/8" or a single address). */
struct tr_cidr {
	struct tr_ip ip;   /* host bits cleared */
	uint8_t prefixlen; /* 0..32 or 0..128 */
};

/* security.istio.io AuthorizationPolicy, rules[].from[].source */
struct tr_authz_source {
	char **principals;      /* as written: "cluster.local/ns/a/sa/b", "*", "p*", "*s" */
	size_t n_principals;
	char **not_principals;
	size_t n_not_principals;
	char **namespaces;      /* same wildcard forms */
	size_t n_namespaces;
	char **not_namespaces;
	size_t n_not_namespaces;
	struct tr_cidr *ip_blocks; /* ipBlocks and remoteIpBlocks: the same at L4 */
	size_t n_ip_blocks;
	struct tr_cidr *not_ip_blocks; /* notIpBlocks and notRemoteIpBlocks */
	size_t n_not_ip_blocks;
	struct tr_src src;
};

/* rules[].to[].operation */
struct tr_authz_operation {
	uint16_t *ports;
	size_t n_ports;
	uint16_t *not_ports;
	size_t n_not_ports;
	struct tr_src src;
};

struct tr_authz_rule {
	struct tr_authz_source *from; /* none = any source */
	size_t n_from;
	struct tr_authz_operation *to; /* none = any port */
	size_t n_to;
	struct tr_src src;
};

enum tr_authz_action { TR_AUTHZ_ALLOW = 1, TR_AUTHZ_DENY, TR_AUTHZ_AUDIT };

/* security.istio.io/v1 (v1beta1) AuthorizationPolicy, the L4 subset */
struct tr_authz_policy {
	char *ns;
	char *name;
	bool has_selector;          /* spec.selector present */
	struct tr_labels selector;  /* spec.selector.matchLabels */
	enum tr_authz_action action; /* default ALLOW */
	struct tr_authz_rule *rules; /* none = matches nothing */
	size_t n_rules;
	struct tr_src src;
};

/* security.istio.io PeerAuthentication mTLS modes (Istio's names). */
enum tr_mtls_mode { TR_PA_UNSET = 0, TR_PA_PERMISSIVE, TR_PA_STRICT, TR_PA_DISABLE };

/* PeerAuthentication spec.portLevelMtls entry */
struct tr_pa_port {
	uint16_t port;          /* the workload's port (targetPort), 1..65535 */
	enum tr_mtls_mode mode; /* UNSET: the policy's resolved mode */
	struct tr_src src;
};

/*
 * security.istio.io/v1 (v1beta1) PeerAuthentication. Without a selector it
 * is namespace-wide, in the Mesh's root namespace mesh-wide; with one it
 * is for the matching Pods of its namespace (one with a selector in the
 * root namespace is ignored, as in Istio). peerauth.h resolves them.
 */
struct tr_peer_authn {
	char *ns;
	char *name;
	bool has_selector;         /* spec.selector.matchLabels has a label;
				    * an empty selector is none (Istio) */
	struct tr_labels selector; /* spec.selector.matchLabels */
	enum tr_mtls_mode mode;    /* spec.mtls.mode; UNSET when absent */
	struct tr_pa_port *ports;  /* spec.portLevelMtls, sorted by port;
				    * only with a selector */
	size_t n_ports;
	struct tr_src src;
};

/*
 * What an object said, for the audit log's diff (audit.h): its identity and
 * every field as a flattened (path, value) pair taken from the YAML tree,
 * e.g. ("spec.ports[0].targetPort", "8080"). Strings only; fields sorted
 * with tr_digest_path_cmp(). Bookkeeping metadata (uid, resourceVersion,
 * managedFields, ...) is left out.
 */
struct tr_field_digest {
	char *path;  /* "spec.selector[\"app.kubernetes.io/name\"]" for odd keys */
	char *value; /* the scalar as written; "null", "[]", "{}" for empty;
		      * a quoted string that would read as another type keeps
		      * its quotes ("\"8080\"") */
};

struct tr_object_digest {
	const char *kind; /* "Service", ...: static */
	char *ns;         /* NULL for cluster-scoped kinds */
	char *name;
	struct tr_src src; /* the document's first line */
	struct tr_field_digest *fields;
	size_t n_fields;
	size_t n_fields_dropped; /* beyond TR_DIGEST_MAX_FIELDS */
};

/* Per object, fields beyond this are counted, not kept. */
#define TR_DIGEST_MAX_FIELDS 4096
/* Longer values are cut (and end in "..."). */
#define TR_DIGEST_MAX_VALUE 512

/* Field path order: like strcmp, but numbers inside [] compare as numbers. */
int tr_digest_path_cmp(const char *a, const char *b);

struct tr_config {
	char **files; /* every file read, owned here; tr_src.file points in */
	size_t n_files;
	struct tr_service *services;
	size_t n_services;
	struct tr_endpointslice *slices;
	size_t n_slices;
	struct tr_pod *pods;
	size_t n_pods;
	struct tr_node *nodes;
	size_t n_nodes;
	struct tr_dest_rule *dest_rules;
	size_t n_dest_rules;
	struct tr_virtual_service *virtual_services;
	size_t n_virtual_services;
	struct tr_authz_policy *authz_policies;
	size_t n_authz_policies;
	struct tr_peer_authn *peer_authns; /* sorted by (namespace, name) */
	size_t n_peer_authns;
	struct tr_mesh mesh; /* defaults filled in when no Mesh object exists */
	struct tr_object_digest *digests; /* every object, in document order */
	size_t n_digests;
};

enum tr_diag_level { TR_DIAG_ERROR, TR_DIAG_WARNING };

struct tr_diag {
	enum tr_diag_level level;
	char *file;    /* owned; may be NULL for set-wide problems */
	int line;      /* 0 when unknown */
	char *message; /* owned, one line, names the field; may contain a hint */
};

struct tr_diags {
	struct tr_diag *items;
	size_t n;
	size_t n_errors;
};

/*
 * Load and validate every manifest in dir. Returns 0 with *out filled, or
 * -EINVAL (bad manifests; *diags says why), or another -errno (directory
 * unreadable; *diags says which). Warnings may be present on success.
 */
int config_load_dir(const char *dir, struct tr_config *out, struct tr_diags *diags);

/* Parse one YAML buffer as if it were the file 'name' (for tests). */
int config_load_buffer(const char *name, const char *buf, size_t len,
		       struct tr_config *out, struct tr_diags *diags);

void config_free(struct tr_config *cfg);
void diags_free(struct tr_diags *diags);

/* "file:line: error: message" for logs; caller frees. */
char *diag_format(const struct tr_diag *d);

/* Parse "10.0.0.1" or "fd00::1" into ip. Returns 0 or -EINVAL. */
int tr_ip_parse(const char *s, struct tr_ip *ip);
/* Format ip into buf (INET6_ADDRSTRLEN at least). */
const char *tr_ip_str(const struct tr_ip *ip, char *buf, size_t len);
bool tr_ip_equal(const struct tr_ip *a, const struct tr_ip *b);

/* Labels: true when every selector pair is in labels. */
bool labels_match(const struct tr_labels *selector, const struct tr_labels *labels);
const char *labels_get(const struct tr_labels *labels, const char *key);

#endif /* TRESTLE_CONFIG_H */
